//! Name cases: blueprint names are kebab-case (services, fields) or PascalCase (events,
//! entities); generated code needs snake_case, PascalCase and SCREAMING_SNAKE_CASE forms.

/// `order-id` → `order_id`; `OrderCreated` → `order_created`.
pub fn to_snake(name: &str) -> String {
    words(name).join("_")
}

/// `order-history` → `OrderHistory`; `OrderCreated` stays.
pub fn to_pascal(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `OrderCreated` → `order-created`.
pub fn to_kebab(name: &str) -> String {
    words(name).join("-")
}

/// `order-id` → `ORDER_ID`.
pub fn to_screaming(name: &str) -> String {
    to_snake(name).to_uppercase()
}

/// Lowercase words of a name in any of the cases above.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower_or_digit = false;
    for ch in name.chars() {
        if ch == '-' || ch == '_' || ch == ' ' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower_or_digit = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower_or_digit && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower_or_digit = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `order-id`, `a1-b`: lowercase ASCII words joined by single dashes, starting with a letter.
pub fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `OrderCreated`: starts uppercase, ASCII letters and digits only.
pub fn is_pascal(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Rust keywords that need a raw identifier (`r#type`) when used as a field name.
pub const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Names that cannot be raw identifiers at all.
pub const RUST_RESERVED: &[&str] = &["self", "super", "crate", "Self", "_"];

/// A word Rust does not accept as a plain identifier: a keyword (`type`, `match`, `gen`) or a
/// name that cannot even be raw (`self`, `crate`).
pub fn is_rust_keyword(snake: &str) -> bool {
    RUST_KEYWORDS.contains(&snake) || RUST_RESERVED.contains(&snake)
}

/// Usable as a plain Rust identifier: ASCII letters, digits and `_`, not starting with a
/// digit, and not a keyword.
pub fn is_plain_ident(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_"
        && !is_rust_keyword(name)
}

/// A snake_case name usable as a Rust identifier (`type` → `r#type`).
pub fn rust_ident(snake: &str) -> String {
    if RUST_KEYWORDS.contains(&snake) {
        format!("r#{snake}")
    } else {
        snake.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_cases() {
        assert_eq!(to_snake("order-id"), "order_id");
        assert_eq!(to_snake("OrderCreated"), "order_created");
        assert_eq!(to_pascal("order-history"), "OrderHistory");
        assert_eq!(to_pascal("OrderCreated"), "OrderCreated");
        assert_eq!(to_kebab("OrderCreated"), "order-created");
        assert_eq!(to_screaming("credit-limit"), "CREDIT_LIMIT");
        assert_eq!(to_snake("web-bff"), "web_bff");
    }

    #[test]
    fn checks_cases() {
        assert!(is_kebab("order-history"));
        assert!(!is_kebab("Order"));
        assert!(!is_kebab("a--b"));
        assert!(!is_kebab("-a"));
        assert!(is_pascal("OrderCreated"));
        assert!(!is_pascal("order_created"));
        assert_eq!(rust_ident("type"), "r#type");
        assert!(is_rust_keyword("self") && is_rust_keyword("gen") && !is_rust_keyword("order"));
        assert!(is_plain_ident("v1") && is_plain_ident("payment_auth"));
        assert!(!is_plain_ident("2fa") && !is_plain_ident("v1.0") && !is_plain_ident("type"));
    }
}
