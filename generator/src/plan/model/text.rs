//! Free text of a blueprint (the system's `description`), escaped for the file it lands in, so
//! a template places it as it is. Every other blueprint string that reaches a generated file is
//! held to a safe shape by `check` instead (names, paths, `blueprint::values`). A leaf: imports
//! nothing of the model.

/// `text` as one Markdown paragraph line that renders as the text itself: whitespace (line
/// breaks included) collapsed to single spaces, control characters dropped, and every
/// character Markdown or GitHub would interpret (emphasis, code, links, HTML, headings, lists,
/// tables) escaped with a backslash, and `$` (math) written `&#36;`. So it starts no block,
/// opens no fence or HTML comment, no line of the file it lands in starts with a part of it,
/// and it holds no `$(…)` or `${{…}}`.
pub fn markdown_line(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect();
    let line = words.join(" ");
    let mut out = String::with_capacity(line.len());
    let mut first = true;
    let mut in_leading_digits = true;
    for c in line.chars() {
        // `$` (GitHub's math) as a character reference: the text then holds no `$(…)` or
        // `${{…}}` that a careless copy into a shell or a workflow would expand.
        if c == '$' {
            out.push_str("&#36;");
            first = false;
            in_leading_digits = false;
            continue;
        }
        let escape = match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '&' => true,
            // A line starting `-`, `+` or `=` is a list item or a rule; `1.`/`1)` a list item.
            '-' | '+' | '=' => first,
            '.' | ')' => in_leading_digits && !first,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
        in_leading_digits = in_leading_digits && c.is_ascii_digit();
        first = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_descriptions_are_unchanged() {
        for d in [
            "A web shop built from services, events and sagas",
            "DeathStarBench hotel reservation: search, profiles, rates, recommendations",
            "Members borrow books within their loan limit (v2).",
            "Orders - and payments",
        ] {
            assert_eq!(markdown_line(d), d);
        }
    }

    #[test]
    fn hostile_descriptions_stay_one_literal_line() {
        let d = "\"quote\" \\backslash\\ ${{ secrets.X }} $(rm -rf /) ; newline\n# injected\r\n```\n<!-- x";
        let md = markdown_line(d);
        assert!(!md.contains('\n') && !md.contains('\r'), "{md}");
        assert_eq!(
            md,
            "\"quote\" \\\\backslash\\\\ &#36;{{ secrets.X }} &#36;(rm -rf /) ; newline \\# injected \\`\\`\\` \\<!-- x"
        );
        assert!(!md.contains("${{") && !md.contains("$(rm"), "{md}");
        assert_eq!(markdown_line("# Title"), "\\# Title");
        assert_eq!(markdown_line("- item"), "\\- item");
        assert_eq!(markdown_line("+ item"), "\\+ item");
        assert_eq!(markdown_line("1. item"), "1\\. item");
        assert_eq!(markdown_line("12) item"), "12\\) item");
        assert_eq!(markdown_line("  \n\t "), "");
        assert_eq!(markdown_line("a\u{0}b\u{1b}[31m"), "ab\\[31m");
    }
}
