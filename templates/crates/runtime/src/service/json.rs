//! [`ValidJson`]: a JSON body extractor whose rejections are problem documents. A body that is
//! not JSON is a 400; JSON of the wrong shape is a 422 naming the offending field path.

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
        parse(&bytes).map(ValidJson)
    }
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
    async fn bad_query_values_name_the_parameter() {
        assert_eq!(extract("/x?size=5").await.unwrap().0.size, Some(5));
        match extract("/x?size=big").await.unwrap_err() {
            ApiError::Validation(e) => assert_eq!(e[0].field, "size"),
            other => panic!("{other:?}"),
        }
    }
}
