//! Free-form values of a blueprint that land in generated files as they are: the system's
//! `version` (Cargo manifests, Rust string literals, image tags), `image-registry` (image names
//! in Dockerfiles, compose, Kubernetes and CI: YAML scalars and shell words), the gateway's
//! `cors` origins (Rust string literals) and a BFF's `client` label (TOML strings, Rust
//! comments, the Mermaid graph). Each is held to a shape whose every character is safe in all
//! of these targets, so no quote, newline, `$`, `;` or `{{` reaches them; anything else would
//! have made a broken file. The checks return the hint of the error, `None` when the value is
//! fine; `parse` reports them where it reads the value. (`description` is free text: the plan
//! escapes it for its target instead, `plan::model::text`.)

/// A character as an error names it: visible ones in backticks, the others by code point.
fn shown(c: char) -> String {
    if c.is_ascii() || c.is_alphanumeric() {
        super::paths::shown(c)
    } else {
        format!("the character U+{:04X}", c as u32)
    }
}

/// Semantic versioning 2.0, as Cargo requires it: `MAJOR.MINOR.PATCH` without leading zeros,
/// then an optional `-pre.release` and `+build.metadata`, each dot-separated identifiers of
/// ASCII letters, digits and `-` (numeric pre-release identifiers without leading zeros).
pub fn version_problem(v: &str) -> Option<String> {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Some("write MAJOR.MINOR.PATCH, for example \"0.1.0\"".into());
    }
    if parts.iter().any(|p| p.len() > 1 && p.starts_with('0')) {
        let fixed: Vec<&str> = parts
            .iter()
            .map(|p| match p.trim_start_matches('0') {
                "" => "0",
                t => t,
            })
            .collect();
        return Some(format!(
            "numbers of a version have no leading zero: write \"{}\"",
            fixed.join(".")
        ));
    }
    let identifiers = |s: &str, numeric_rule: bool| {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !(numeric_rule
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.chars().all(|c| c.is_ascii_digit()))
        })
    };
    if pre.is_some_and(|p| !identifiers(p, true)) || build.is_some_and(|b| !identifiers(b, false)) {
        return Some(
            "after MAJOR.MINOR.PATCH, a pre-release (`-rc.1`) or build (`+build.5`) is dot-separated words of ASCII letters, digits and `-`".into(),
        );
    }
    None
}

const REGISTRY_FORM: &str = "write a registry host with an optional port and path, such as \"ghcr.io/acme\" or \"localhost:5000/shop\": the host holds letters, digits, `-` and `.`, the path lowercase letters and digits joined by `.`, `_` or `-`";

/// An image name prefix, as Docker parses one: a host (DNS labels or an IPv4 address; not an
/// IPv6 one, whose `[` would start a YAML sequence and a shell pattern) with an optional port,
/// then path components of lowercase letters and digits joined by `.`, `_`, `__` or dashes.
/// Trailing slashes are allowed (the plan drops them).
pub fn registry_problem(v: &str) -> Option<String> {
    let v = v.trim_end_matches('/');
    if v.is_empty() {
        return Some(REGISTRY_FORM.into());
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':')))
    {
        return Some(format!(
            "{} is not allowed in an image registry; {REGISTRY_FORM}",
            shown(c)
        ));
    }
    let mut parts = v.split('/');
    let host = parts.next().unwrap_or_default();
    if let Some(problem) = host_problem(host, true) {
        return Some(problem);
    }
    for component in parts {
        if component.is_empty() {
            return Some("remove the empty segment (`//`)".into());
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            let lower = v
                .split_once('/')
                .map_or("", |(_, p)| p)
                .to_ascii_lowercase();
            return Some(format!(
                "the path of an image name is lowercase: write \"{host}/{lower}\""
            ));
        }
        if !is_path_component(component) {
            return Some(format!(
                "`{component}` is not a path component; {REGISTRY_FORM}"
            ));
        }
    }
    None
}

/// `host[:port]`: DNS labels of letters, digits and `-` (lowercase only where `upper` is
/// false), or `[IPv6]`; a port from 1 to 65535.
fn host_problem(host: &str, upper: bool) -> Option<String> {
    let (name, port) = if let Some(inner) = host.strip_prefix('[') {
        let Some((address, after)) = inner.split_once(']') else {
            return Some("close the IPv6 address with `]`".into());
        };
        if address.is_empty()
            || !address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Some(format!("`[{address}]` is not an IPv6 address"));
        }
        match after {
            "" => ("", None),
            _ => match after.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return Some(format!("`{after}` cannot follow an IPv6 address")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if !host.starts_with('[') {
        if name.is_empty() {
            return Some(match port {
                Some(_) => "name a host before the port, such as `localhost:5000`".into(),
                None => "name a host, such as `localhost`".into(),
            });
        }
        for label in name.split('.') {
            let ok = !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| {
                    c.is_ascii_digit()
                        || c == '-'
                        || c.is_ascii_lowercase()
                        || (upper && c.is_ascii_uppercase())
                });
            if !ok {
                return Some(format!(
                    "`{name}` is not a host name: its dot-separated labels are letters and digits, with `-` inside"
                ));
            }
        }
    }
    if let Some(p) = port
        && !(!p.is_empty()
            && p.len() <= 5
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n)))
    {
        return Some(format!(
            "`{p}` is not a port: write a number from 1 to 65535"
        ));
    }
    None
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(c: &str) -> bool {
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    if !c.starts_with(alnum) || !c.ends_with(alnum) {
        return false;
    }
    let mut separator = String::new();
    for ch in c.chars() {
        if alnum(ch) {
            let ok = separator.is_empty()
                || matches!(separator.as_str(), "." | "_" | "__")
                || separator.chars().all(|s| s == '-');
            if !ok {
                return false;
            }
            separator.clear();
        } else {
            separator.push(ch);
        }
    }
    true
}

const ORIGIN_FORM: &str = "write `scheme://host` with an optional `:port`, such as \"https://shop.example.com\" or \"http://localhost:3000\", or \"*\" for any origin";

/// A CORS origin as browsers send it: `*`, or `scheme://host[:port]` in lowercase, without
/// path, query, user or wildcard (the gateway compares origins exactly).
pub fn origin_problem(v: &str) -> Option<String> {
    if v == "*" {
        return None;
    }
    let Some((scheme, rest)) = v.split_once("://") else {
        return Some(ORIGIN_FORM.into());
    };
    if let Some(i) = rest.find(['/', '?', '#']) {
        return Some(format!(
            "an origin has no path, query or fragment: write \"{scheme}://{}\"",
            &rest[..i]
        ));
    }
    if rest.contains('*') {
        return Some(
            "origins are compared exactly, without wildcards: list each origin, or write \"*\" for any".into(),
        );
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
    {
        return Some(format!(
            "{} is not allowed in an origin; {ORIGIN_FORM}",
            shown(c)
        ));
    }
    if v.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "browsers send origins in lowercase: write \"{}\"",
            v.to_ascii_lowercase()
        ));
    }
    if !scheme.starts_with(|c: char| c.is_ascii_lowercase())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
    {
        return Some(format!("`{scheme}` is not a URL scheme; {ORIGIN_FORM}"));
    }
    host_problem(rest, false)
}

/// A BFF's `client` label: letters, digits, spaces, `-` and `_` (`web`, `mobile`, `iOS app`).
pub fn label_problem(v: &str) -> Option<String> {
    let c = v
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')))?;
    Some(format!(
        "{} is not allowed: a client label is letters, digits, spaces, `-` and `_`, such as \"web\" or \"mobile\"",
        shown(c)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semver_as_cargo_reads_it() {
        for ok in [
            "0.1.0",
            "1.4.1",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0-alpha-2.0",
            "1.0.0+build.05",
            "1.0.0-rc.1+sha.5114f85",
            "0.0.7",
        ] {
            assert_eq!(version_problem(ok), None, "{ok}");
        }
        for bad in [
            "1.0",
            "1.0.0.0",
            "",
            "v1.0.0",
            "01.0.0",
            "1.02.0",
            "1.0.0-",
            "1.0.0-rc..1",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-$(id)",
            "1.0.0-a\"b",
            "1.0.0+a;b",
            "1.0.0-a\nb",
            "1.0.0 ",
        ] {
            assert!(version_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            version_problem("01.2.00").as_deref(),
            Some("numbers of a version have no leading zero: write \"1.2.0\"")
        );
    }

    #[test]
    fn registries_are_docker_image_prefixes() {
        for ok in [
            "ghcr.io/acme",
            "ghcr.io/acme/",
            "localhost/shop",
            "localhost:5000/shop",
            "registry.example.com:443/team/apps",
            "acme",
            "docker.io/library",
            "my-registry.local/a.b/c__d/e--f",
            "10.0.0.2:5000/shop",
            "GHCR.io/acme",
        ] {
            assert_eq!(registry_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/",
            "ghcr.io//acme",
            "ghcr.io/Acme",
            "ghcr.io/acme; rm -rf /",
            "ghcr.io/$(id)",
            "ghcr.io/${{ secrets.X }}",
            "ghcr.io/a\nb",
            "ghcr.io/-a",
            "ghcr.io/a..b",
            "ghcr.io/a_.b",
            ":5000/a",
            "host:0/a",
            "host:99999/a",
            "host:/a",
            "-host/a",
            "ho_st/a",
            "[::1]:5000/shop",
            "a b",
        ] {
            assert!(registry_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            registry_problem("ghcr.io/Acme/Shop").as_deref(),
            Some("the path of an image name is lowercase: write \"ghcr.io/acme/shop\"")
        );
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        for ok in [
            "*",
            "http://localhost:3000",
            "https://shop.example.com",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "capacitor://localhost",
            "chrome-extension://abcdef",
        ] {
            assert_eq!(origin_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "null",
            "localhost:3000",
            "http://localhost:3000/",
            "http://localhost/app",
            "https://*.example.com",
            "HTTP://localhost",
            "http://Shop.example.com",
            "http://user@host",
            "http://host:0",
            "http://host:65536",
            "http://",
            "http://a\"b",
            "https://example.com${{ secrets.X }}",
            "http://a b",
            "1http://a",
        ] {
            assert!(origin_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            origin_problem("http://localhost:3000/").as_deref(),
            Some("an origin has no path, query or fragment: write \"http://localhost:3000\"")
        );
    }

    #[test]
    fn client_labels_are_words() {
        for ok in [
            "web", "mobile", "any", "iOS app", "smart-tv", "kiosk_2", "móvil", "",
        ] {
            assert_eq!(label_problem(ok), None, "{ok}");
        }
        for bad in [
            "web\"",
            "a\\b",
            "a\nb",
            "a/b",
            "$(id)",
            "a;b",
            "{{ x }}",
            "a\u{202e}b",
        ] {
            assert!(label_problem(bad).is_some(), "{bad:?}");
        }
    }
}
