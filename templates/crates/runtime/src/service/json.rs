//! [`ValidJson`], [`ValidQuery`] and [`ValidPath`]: extractors whose rejections are problem
//! documents. A body that is not JSON is a 400; JSON of the wrong shape is a 422 naming the
//! offending field path. Text holding a control character (NUL and the other C0 and C1
//! controls but tab, line feed and carriage return) is refused with 400 wherever it comes from:
//! no store takes it, and it must never reach one as a server error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::service::error::{ApiError, FieldError};

/// A deserialised JSON body.
#[derive(Debug, Clone)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(ApiError::BadRequest(
                "expected a JSON body (Content-Type: application/json)".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        if let Some(c) = json_control(&bytes) {
            return Err(control_refused(c, "the body"));
        }
        parse(&bytes).map(ValidJson)
    }
}

/// The first control character a text must not hold (see the module doc).
pub fn forbidden_control(text: &str) -> Option<char> {
    text.chars().find(|c| is_forbidden(*c))
}

fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn control_refused(c: char, place: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "{place} holds a control character (U+{:04X}), which no field accepts",
        u32::from(c)
    ))
}

/// The first forbidden control character of a JSON text's strings, written as a `\u` escape
/// (raw ones are a syntax error already) or as raw UTF-8 (C1 controls). Keys count too.
pub(crate) fn json_control(bytes: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(bytes).ok()?;
    if let Some(c) = forbidden_control(text) {
        return Some(c);
    }
    let mut chars = text.chars();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, '"') => in_string = true,
            (true, '"') => in_string = false,
            (true, '\\') => {
                // The escaped character; only `\uXXXX` can spell a control character.
                if chars.next() != Some('u') {
                    continue;
                }
                let hex: String = chars.by_ref().take(4).collect();
                let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                if let Some(d) = decoded.filter(|d| is_forbidden(*d)) {
                    return Some(d);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first forbidden control character of a URL part once percent-decoded.
pub(crate) fn url_control(raw: &str) -> Option<char> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            if is_forbidden(char::from(b)) {
                return Some(char::from(b));
            }
            i += 3;
            continue;
        }
        i += 1;
    }
    None
}

/// Parses a JSON body, mapping shape errors to field errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::BadRequest(format!("malformed JSON: {inner}"));
        }
        let message = inner.to_string();
        // serde reports a missing field at the parent path; name the field itself.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            Some(missing) if path == "." => missing.to_string(),
            Some(missing) => format!("{path}.{missing}"),
            None if path == "." => "body".to_string(),
            None => path,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        ApiError::Validation(vec![FieldError::new(field, message)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Input {
        total: i32,
        name: String,
    }

    fn errors(e: ApiError) -> Vec<FieldError> {
        match e {
            ApiError::Validation(v) => v,
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_field() {
        let e = errors(parse::<Input>(br#"{"total": "x", "name": "a"}"#).unwrap_err());
        assert_eq!(e[0].field, "total");
        assert!(e[0].message.contains("invalid type"), "{}", e[0].message);
    }

    #[test]
    fn missing_field_is_named() {
        let e = errors(parse::<Input>(br#"{"total": 1}"#).unwrap_err());
        assert_eq!(e[0].field, "name");
    }

    #[test]
    fn syntax_is_400() {
        assert!(matches!(
            parse::<Input>(b"{").unwrap_err(),
            ApiError::BadRequest(_)
        ));
    }
}

/// Query parameters whose rejections are problem documents (422 naming the parameter).
#[derive(Debug, Clone)]
pub struct ValidQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some(c) = url_control(query) {
            return Err(control_refused(c, "the query"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ValidQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let message = e.into_inner().to_string();
                let field = if field == "." {
                    "query".to_string()
                } else {
                    field
                };
                ApiError::Validation(vec![FieldError::new(field, message)])
            })
    }
}

/// Path parameters whose rejections are problem documents (400: the URL itself is wrong).
#[derive(Debug, Clone)]
pub struct ValidPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ValidPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = url_control(parts.uri.path()) {
            return Err(control_refused(c, "the path"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ValidPath(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

#[cfg(test)]
mod query_tests {
    use super::*;
    use axum::extract::FromRequestParts;

    #[derive(Debug, serde::Deserialize)]
    struct Filter {
        size: Option<u32>,
    }

    async fn extract(uri: &str) -> Result<ValidQuery<Filter>, ApiError> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        ValidQuery::<Filter>::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn control_characters_are_refused_with_400() {
        // `GET /products?name=%00` made Postgres refuse the text and the service answer 500,
        // which opened the gateway's breaker for everyone.
        for uri in ["/x?size=%00", "/x?name=a%1Fb", "/x?%00=1"] {
            assert!(
                matches!(extract(uri).await, Err(ApiError::BadRequest(_))),
                "{uri}"
            );
        }
        assert_eq!(
            extract("/x?size=5&note=a%09b").await.unwrap().0.size,
            Some(5)
        );
        assert_eq!(json_control(br#"{"name": "a\u0000"}"#), Some('\0'));
        assert_eq!(json_control(br#"{"a\u001b": 1}"#), Some('\u{1b}'));
        assert_eq!(
            json_control("{\"n\": \"\u{85}\"}".as_bytes()),
            Some('\u{85}')
        );
        assert_eq!(
            json_control(br#"{"text": "tab\t, line\n, \\u0000 as text"}"#),
            None
        );
        assert_eq!(json_control(br#"{"text": "caf\u00e9 \ud83d\ude00"}"#), None);
        assert_eq!(url_control("/orders/%00"), Some('\0'));
        assert_eq!(url_control("/orders/100%25"), None);
    }

    #[tokio::test]
    async fn bad_query_values_name_the_parameter() {
        assert_eq!(extract("/x?size=5").await.unwrap().0.size, Some(5));
        match extract("/x?size=big").await.unwrap_err() {
            ApiError::Validation(e) => assert_eq!(e[0].field, "size"),
            other => panic!("{other:?}"),
        }
    }
}
