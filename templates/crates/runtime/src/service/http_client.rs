//! One small HTTP/1 client (hyper) for calls between processes: registry, config server, the
//! gateway's upstreams. JSON helpers return the status with the decoded body, so callers
//! decide what a 404 means; every call has a timeout.

use std::time::Duration;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("invalid request to {url}: {message}")]
    Invalid { url: String, message: String },
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{url} failed: {message}")]
    Failed { url: String, message: String },
    #[error("{url} did not answer within {millis} ms")]
    Timeout { url: String, millis: u128 },
    #[error("{url} answered {status} with a body that does not decode: {message}")]
    Decode {
        url: String,
        status: StatusCode,
        message: String,
    },
}

/// A pooled HTTP/1 client; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Client<HttpConnector, Body>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self { inner }
    }

    /// Sends `request`, waiting at most `timeout` for the response head.
    pub async fn send(
        &self,
        request: Request<Body>,
        timeout: Duration,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
        // Kept for the error message only: a `Uri` clone shares its bytes.
        let uri = request.uri().clone();
        match tokio::time::timeout(timeout, self.inner.request(request)).await {
            Err(_) => Err(HttpError::Timeout {
                url: uri.to_string(),
                millis: timeout.as_millis(),
            }),
            Ok(Err(e)) if e.is_connect() => Err(HttpError::Connect {
                url: uri.to_string(),
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(HttpError::Failed {
                url: uri.to_string(),
                message: e.to_string(),
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// Sends JSON (or nothing) and decodes a JSON answer; `None` for an empty body.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
    ) -> Result<(StatusCode, Option<T>), HttpError> {
        self.json_with(method, url, body, timeout, Vec::new()).await
    }

    /// [`HttpClient::json`] with extra request headers (the caller's identity).
    pub async fn json_with<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        timeout: Duration,
        headers: Vec<(http::HeaderName, String)>,
    ) -> Result<(StatusCode, Option<T>), HttpError> {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let request = builder.body(body).map_err(|e| HttpError::Invalid {
            url: url.to_string(),
            message: e.to_string(),
        })?;
        let response = self.send(request, timeout).await?;
        let status = response.status();
        let bytes = tokio::time::timeout(timeout, response.into_body().collect())
            .await
            .map_err(|_| HttpError::Timeout {
                url: url.to_string(),
                millis: timeout.as_millis(),
            })?
            .map_err(|e| HttpError::Failed {
                url: url.to_string(),
                message: e.to_string(),
            })?
            .to_bytes();
        if bytes.is_empty() || !status.is_success() {
            return Ok((status, None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| (status, Some(v)))
            .map_err(|e| HttpError::Decode {
                url: url.to_string(),
                status,
                message: e.to_string(),
            })
    }
}
