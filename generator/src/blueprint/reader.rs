//! A typed, error-collecting view of one TOML table. Every `take_*` records the key as known;
//! `finish` reports every key nobody asked for as unknown, with the nearest known key as hint.
//! Wrong types and missing keys become located diagnostics instead of aborting, so one run
//! reports every problem of a file.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::model::{Duration, Sp};
use crate::diagnostics::{Diagnostic, Diagnostics, suggestion};

/// One table (standard or inline) being read.
pub struct Reader<'a, 'i> {
    table: &'a DeTable<'i>,
    pub span: Range<usize>,
    /// Where this table is, for messages: `[system]`, `[[services]] "orders"`.
    pub context: String,
    known: Vec<&'static str>,
}

pub fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn wrong_type(d: &mut Diagnostics, v: &Spanned<DeValue<'_>>, key: &str, ctx: &str, expected: &str) {
    d.error(
        v.span(),
        format!(
            "`{key}` in {ctx} must be {expected}, found {}",
            type_name(v.get_ref())
        ),
    );
}

impl<'a, 'i> Reader<'a, 'i> {
    pub fn new(table: &'a DeTable<'i>, span: Range<usize>, context: impl Into<String>) -> Self {
        Self {
            table,
            span,
            context: context.into(),
            known: Vec::new(),
        }
    }

    /// Wraps a value that must be a table (inline or not).
    pub fn of_value(
        v: &'a Spanned<DeValue<'i>>,
        key: &str,
        parent_ctx: &str,
        context: impl Into<String>,
        d: &mut Diagnostics,
    ) -> Option<Self> {
        match v.get_ref() {
            DeValue::Table(t) => Some(Reader::new(t, v.span(), context)),
            _ => {
                wrong_type(d, v, key, parent_ctx, "a table");
                None
            }
        }
    }

    fn get(&mut self, key: &'static str) -> Option<&'a Spanned<DeValue<'i>>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        self.table.get(key)
    }

    /// Span of the key itself (for "unknown key" carets), falling back to the table.
    fn key_span(&self, key: &str) -> Range<usize> {
        self.table
            .get_key_value(key)
            .map(|(k, _)| k.span())
            .unwrap_or(self.span.clone())
    }

    pub fn missing(&self, key: &str, d: &mut Diagnostics) {
        d.error(
            self.span.clone(),
            format!("missing required key `{key}` in {}", self.context),
        );
    }

    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// `key` holds a table with no entries.
    pub fn is_empty_table(&self, key: &str) -> bool {
        matches!(self.table.get(key).map(|v| v.get_ref()), Some(DeValue::Table(t)) if t.is_empty())
    }

    pub fn string(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<Sp<String>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some(Sp::new(s.to_string(), v.span())),
            _ => {
                wrong_type(d, v, key, &self.context, "a string");
                None
            }
        }
    }

    pub fn required_string(
        &mut self,
        key: &'static str,
        d: &mut Diagnostics,
    ) -> Option<Sp<String>> {
        if !self.has(key) {
            self.get(key);
            self.missing(key, d);
            return None;
        }
        self.string(key, d)
    }

    /// An integer within `min..=max`.
    pub fn int(
        &mut self,
        key: &'static str,
        min: i64,
        max: i64,
        d: &mut Diagnostics,
    ) -> Option<Sp<i64>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) if (min..=max).contains(&n) => Some(Sp::new(n, v.span())),
                _ => {
                    d.error(
                        v.span(),
                        format!(
                            "`{key}` in {} must be between {min} and {max}, found {i}",
                            self.context
                        ),
                    );
                    None
                }
            },
            _ => {
                wrong_type(d, v, key, &self.context, "an integer");
                None
            }
        }
    }

    /// A number (integer or float) within `min..=max`.
    pub fn number(
        &mut self,
        key: &'static str,
        min: f64,
        max: f64,
        d: &mut Diagnostics,
    ) -> Option<Sp<f64>> {
        let v = self.get(key)?;
        let n = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            _ => {
                wrong_type(d, v, key, &self.context, "a number");
                return None;
            }
        };
        match n {
            Some(n) if n >= min && n <= max => Some(Sp::new(n, v.span())),
            _ => {
                d.error(
                    v.span(),
                    format!(
                        "`{key}` in {} must be between {min} and {max}",
                        self.context
                    ),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                wrong_type(d, v, key, &self.context, "true or false");
                None
            }
        }
    }

    /// An array of strings.
    pub fn strings(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<Vec<Sp<String>>> {
        let v = self.get(key)?;
        let DeValue::Array(items) = v.get_ref() else {
            wrong_type(d, v, key, &self.context, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push(Sp::new(s.to_string(), item.span())),
                other => d.error(
                    item.span(),
                    format!(
                        "`{key}` in {} must contain only strings, found {}",
                        self.context,
                        type_name(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    /// One of a fixed set of words; the hint names the nearest one.
    pub fn choice<T: Copy>(
        &mut self,
        key: &'static str,
        options: &[(&'static str, T)],
        d: &mut Diagnostics,
    ) -> Option<Sp<T>> {
        let s = self.string(key, d)?;
        match options.iter().find(|(name, _)| *name == s.value) {
            Some((_, t)) => Some(Sp::new(*t, s.span)),
            None => {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                d.push(
                    Diagnostic::error(
                        s.span.clone(),
                        format!("`{}` is not a valid `{key}` in {}", s.value, self.context),
                    )
                    .with_hint(suggestion(&s.value, &names)),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<Sp<Duration>> {
        let s = self.string(key, d)?;
        match parse_duration(&s.value) {
            Some(dur) => Some(Sp::new(dur, s.span)),
            None => {
                d.push(
                    Diagnostic::error(
                        s.span.clone(),
                        format!(
                            "`{}` is not a duration (`{key}` in {})",
                            s.value, self.context
                        ),
                    )
                    .with_hint("write a whole number and a unit: 500ms, 30s, 15m, 2h or 7d"),
                );
                None
            }
        }
    }

    /// A sub-table (inline or standard).
    pub fn table(
        &mut self,
        key: &'static str,
        context: impl Into<String>,
        d: &mut Diagnostics,
    ) -> Option<Reader<'a, 'i>> {
        let v = self.get(key)?;
        Reader::of_value(v, key, &self.context.clone(), context, d)
    }

    /// An array of tables (`[[x]]` or `x = [{...}]`).
    pub fn tables(&mut self, key: &'static str, d: &mut Diagnostics) -> Vec<Reader<'a, 'i>> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let DeValue::Array(items) = v.get_ref() else {
            wrong_type(d, v, key, &self.context, "an array of tables");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ctx = format!("{key}[{i}] of {}", self.context);
            if let Some(r) = Reader::of_value(item, key, &self.context.clone(), ctx, d) {
                out.push(r);
            }
        }
        out
    }

    /// A table whose keys are names and whose values are strings, in source order
    /// (`[services.entities.fields]`, `[services.aggregates.commands]`).
    pub fn string_map(
        &mut self,
        key: &'static str,
        d: &mut Diagnostics,
    ) -> Option<Vec<(Sp<String>, Sp<String>)>> {
        let v = self.get(key)?;
        let DeValue::Table(t) = v.get_ref() else {
            wrong_type(d, v, key, &self.context, "a table");
            return None;
        };
        let mut out = Vec::new();
        for (k, val) in t.iter() {
            match val.get_ref() {
                DeValue::String(s) => out.push((
                    Sp::new(k.get_ref().to_string(), k.span()),
                    Sp::new(s.to_string(), val.span()),
                )),
                other => d.error(
                    val.span(),
                    format!(
                        "`{}` in `{key}` of {} must be a string, found {}",
                        k.get_ref(),
                        self.context,
                        type_name(other)
                    ),
                ),
            }
        }
        Some(out)
    }

    /// Reports every key that no `take_*` asked for.
    pub fn finish(self, d: &mut Diagnostics) {
        for (k, _) in self.table.iter() {
            let name = k.get_ref().as_ref();
            if !self.known.contains(&name) {
                d.push(
                    Diagnostic::error(
                        self.key_span(name),
                        format!("unknown key `{name}` in {}", self.context),
                    )
                    .with_hint(suggestion(name, &self.known)),
                );
            }
        }
    }
}

/// `500ms`, `30s`, `15m`, `2h`, `7d` → milliseconds. Zero is allowed only where a check says so.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    if digits_end == 0 {
        return None;
    }
    let n: u64 = text[..digits_end].parse().ok()?;
    let factor = match &text[digits_end..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration {
        millis: n.checked_mul(factor)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration { millis: 500 }));
        assert_eq!(
            parse_duration("7d"),
            Some(Duration {
                millis: 7 * 86_400_000
            })
        );
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn unknown_keys_get_nearest_hint() {
        let src = "nmae = 1\nstyle = \"x\"\n";
        let t = DeTable::parse(src).unwrap();
        let mut d = Diagnostics::default();
        let mut r = Reader::new(t.get_ref(), t.span(), "[[services]]");
        let _ = r.string("name", &mut d);
        let _ = r.string("style", &mut d);
        r.finish(&mut d);
        let e: Vec<_> = d.errors().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, "unknown key `nmae` in [[services]]");
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `name`?"));
        assert_eq!(e[0].span, 0..4);
    }
}
