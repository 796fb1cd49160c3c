//! Located diagnostics: every problem found in a blueprint, with the byte span that caused it,
//! rendered as `file:line:col`, the source line, a caret and a hint.
//!
//! Owns: [`Diagnostic`], [`Severity`], [`Diagnostics`] (an ordered collection) and the renderer.
//! Spans are byte ranges into the blueprint source; line and column are 1-based and counted in
//! characters, so a caret lines up under non-ASCII text as well.

use std::fmt::Write as _;
use std::ops::Range;

/// How bad a finding is: errors stop generation, warnings are printed and generation goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Range<usize>,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn warning(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            message: message.into(),
            span,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 1-based line and column (in characters) of the start of the span.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = source[line_start..offset].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The findings of one run, in the order they were found.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.push(Diagnostic::error(span, message));
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Sorts by position (stable for equal positions), so output follows the file.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| (d.span.start, d.severity));
    }

    /// Renders every finding against `source`, followed by a one-line summary.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render_one(d, file, source));
            out.push('\n');
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors > 0 {
            let _ = writeln!(out, "{file}: {errors} error(s), {warnings} warning(s)");
        } else if warnings > 0 {
            let _ = writeln!(out, "{file}: {warnings} warning(s)");
        }
        out
    }
}

/// Renders one finding in the familiar compiler style:
///
/// ```text
/// error: unknown key `nmae` in [[services]]
///   --> shop.toml:12:3
///    |
/// 12 |   nmae = "orders"
///    |   ^^^^
///    = hint: did you mean `name`?
/// ```
pub fn render_one(d: &Diagnostic, file: &str, source: &str) -> String {
    let (line, col) = d.line_col(source);
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let text = source.lines().nth(line - 1).unwrap_or("");
    let width = line.to_string().len();
    let pad = " ".repeat(width);
    let start = floor_char_boundary(source, d.span.start.min(source.len()));
    let end = floor_char_boundary(source, d.span.end.min(source.len())).max(start);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let carets = source[start..end.min(line_end)].chars().count().max(1);
    let mut out = String::new();
    let _ = writeln!(out, "{kind}: {}", d.message);
    let _ = writeln!(out, "{pad}--> {file}:{line}:{col}");
    let _ = writeln!(out, "{pad} |");
    let _ = writeln!(out, "{line} | {text}");
    let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col - 1), "^".repeat(carets));
    if let Some(h) = &d.hint {
        let _ = writeln!(out, "{pad} = hint: {h}");
    }
    out
}

/// The candidate closest to `word` (Jaro-Winkler), if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// A hint naming the nearest candidate, or listing the valid ones when none is close.
pub fn suggestion(word: &str, candidates: &[&str]) -> String {
    match nearest(word, candidates.iter().copied()) {
        Some(n) => format!("did you mean `{n}`?"),
        None if candidates.is_empty() => "nothing of that kind is declared".to_string(),
        None => format!(
            "expected one of: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let src = "a = 1\nnämé = 2\n";
        let at = src.find('=').unwrap();
        assert_eq!(line_col(src, at), (1, 3));
        let second = src.rfind('=').unwrap();
        assert_eq!(line_col(src, second), (2, 6));
    }

    #[test]
    fn renders_caret_under_span() {
        let src = "[system]\nnmae = \"x\"\n";
        let d = Diagnostic::error(9..13, "unknown key `nmae`").with_hint("did you mean `name`?");
        let out = render_one(&d, "b.toml", src);
        assert!(out.contains("--> b.toml:2:1"), "{out}");
        assert!(out.contains("2 | nmae = \"x\""), "{out}");
        assert!(out.contains("  | ^^^^\n"), "{out}");
        assert!(out.contains("= hint: did you mean `name`?"), "{out}");
    }

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(nearest("nmae", ["name", "style", "port"]), Some("name"));
        assert_eq!(nearest("zzzz", ["name", "style"]), None);
    }
}
