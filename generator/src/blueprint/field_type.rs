//! Field types of the v1 format (`string`, `decimal?`, `enum(a, b)`, `list<uuid>` …): the typed
//! form and its parser. Mapping a type to Rust or SQL belongs to the plan, not here.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    String,
    Text,
    Bool,
    I32,
    I64,
    F64,
    Decimal,
    Uuid,
    Date,
    Datetime,
    Json,
    /// Variants as written (kebab-case words).
    Enum(Vec<String>),
    /// Element type; never optional itself.
    List(Box<Kind>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldType {
    pub kind: Kind,
    pub optional: bool,
}

/// The scalar type names, for hints.
pub const SCALARS: &[&str] = &[
    "string", "text", "bool", "i32", "i64", "f64", "decimal", "uuid", "date", "datetime", "json",
];

/// Why a type string is not a valid field type; `hint` names the nearest valid spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::String => f.write_str("string"),
            Kind::Text => f.write_str("text"),
            Kind::Bool => f.write_str("bool"),
            Kind::I32 => f.write_str("i32"),
            Kind::I64 => f.write_str("i64"),
            Kind::F64 => f.write_str("f64"),
            Kind::Decimal => f.write_str("decimal"),
            Kind::Uuid => f.write_str("uuid"),
            Kind::Date => f.write_str("date"),
            Kind::Datetime => f.write_str("datetime"),
            Kind::Json => f.write_str("json"),
            Kind::Enum(v) => write!(f, "enum({})", v.join(", ")),
            Kind::List(k) => write!(f, "list<{k}>"),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind, if self.optional { "?" } else { "" })
    }
}

impl FieldType {
    /// Parses a type as written in a blueprint.
    pub fn parse(input: &str) -> Result<FieldType, TypeError> {
        let text = input.trim();
        let (text, optional) = match text.strip_suffix('?') {
            Some(rest) => (rest.trim_end(), true),
            None => (text, false),
        };
        let kind = parse_kind(text)?;
        Ok(FieldType { kind, optional })
    }
}

fn err(message: impl Into<String>, hint: Option<String>) -> TypeError {
    TypeError {
        message: message.into(),
        hint,
    }
}

fn parse_kind(text: &str) -> Result<Kind, TypeError> {
    if let Some(inner) = text.strip_prefix("list<") {
        let Some(inner) = inner.strip_suffix('>') else {
            return Err(err(
                format!("`{text}` is missing the closing `>`"),
                Some("write `list<T>`".into()),
            ));
        };
        let inner = inner.trim();
        if inner.ends_with('?') {
            return Err(err(
                format!("list elements cannot be optional (`{inner}`)"),
                Some("make the list itself optional: `list<T>?`".into()),
            ));
        }
        let element = parse_kind(inner)?;
        if matches!(element, Kind::List(_)) {
            return Err(err(
                "lists of lists are not supported",
                Some("use `json` for nested data".into()),
            ));
        }
        return Ok(Kind::List(Box::new(element)));
    }
    if let Some(inner) = text.strip_prefix("enum(") {
        let Some(inner) = inner.strip_suffix(')') else {
            return Err(err(
                format!("`{text}` is missing the closing `)`"),
                Some("write `enum(a, b)`".into()),
            ));
        };
        let mut variants: Vec<String> = Vec::new();
        for raw in inner.split(',') {
            let v = raw.trim();
            if v.is_empty() {
                return Err(err(
                    "an enum variant is empty",
                    Some("write `enum(a, b, c)`".into()),
                ));
            }
            if !crate::names::is_kebab(v) {
                return Err(err(
                    format!("enum variant `{v}` is not a lowercase kebab-case word"),
                    Some(format!("write `{}`", crate::names::to_kebab(v))),
                ));
            }
            if variants.iter().any(|x| x == v) {
                return Err(err(format!("enum variant `{v}` is listed twice"), None));
            }
            variants.push(v.to_string());
        }
        return Ok(Kind::Enum(variants));
    }
    Ok(match text {
        "string" => Kind::String,
        "text" => Kind::Text,
        "bool" => Kind::Bool,
        "i32" => Kind::I32,
        "i64" => Kind::I64,
        "f64" => Kind::F64,
        "decimal" => Kind::Decimal,
        "uuid" => Kind::Uuid,
        "date" => Kind::Date,
        "datetime" => Kind::Datetime,
        "json" => Kind::Json,
        other => {
            let mut candidates: Vec<&str> = SCALARS.to_vec();
            candidates.extend(["enum(...)", "list<...>"]);
            let hint = crate::diagnostics::suggestion(other, &candidates);
            return Err(err(format!("unknown field type `{other}`"), Some(hint)));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            FieldType::parse("decimal").unwrap(),
            FieldType {
                kind: Kind::Decimal,
                optional: false
            }
        );
        assert_eq!(
            FieldType::parse("text?").unwrap(),
            FieldType {
                kind: Kind::Text,
                optional: true
            }
        );
        assert_eq!(
            FieldType::parse("enum(pending, approved)").unwrap().kind,
            Kind::Enum(vec!["pending".into(), "approved".into()])
        );
        assert_eq!(
            FieldType::parse("list<uuid>?").unwrap().kind,
            Kind::List(Box::new(Kind::Uuid))
        );
        assert_eq!(
            FieldType::parse("list<enum(a, b)>").unwrap().to_string(),
            "list<enum(a, b)>"
        );
    }

    #[test]
    fn rejects_with_hints() {
        let e = FieldType::parse("strng").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `string`?"));
        assert!(FieldType::parse("list<list<i32>>").is_err());
        assert!(FieldType::parse("list<i32?>").is_err());
        assert!(FieldType::parse("enum(a, a)").is_err());
        assert!(FieldType::parse("enum()").is_err());
        assert!(FieldType::parse("enum(Big)").is_err());
        assert!(FieldType::parse("list<i32").is_err());
    }
}
