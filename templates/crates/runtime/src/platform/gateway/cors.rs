//! CORS at the gateway: `tower-http`'s [`CorsLayer`] configured from the blueprint's
//! `[gateway].cors` origins (`*` = any origin, echoed back).
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here and never
//! forwarded: 204 with the requested method and headers allowed (the gateway forwards every
//! method and header) and a 600 s cache for an allowed origin, 403 for any other. Every other
//! answer gets `Access-Control-Allow-Origin` when the origin is allowed, and `Vary`. No
//! credentials: callers send bearer tokens, not cookies. An `OPTIONS` request that is not a
//! preflight is forwarded as it is (`tower-http` would answer it as a preflight).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// The route label of the gateway's metrics, carried from the forwarded answer through the layer.
#[derive(Clone, Copy)]
struct RouteLabel(&'static str);

pub(super) struct Cors {
    /// `None` without allowed origins: no CORS headers, every preflight refused.
    layer: Option<CorsLayer>,
}

impl Cors {
    pub(super) fn new(origins: &[String]) -> Self {
        if origins.is_empty() {
            return Self { layer: None };
        }
        let allow_origin = if origins.iter().any(|o| o == "*") {
            AllowOrigin::mirror_request()
        } else {
            // An origin that is no header value can never match a request's `Origin`.
            AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
        };
        let layer = CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods(AllowMethods::mirror_request())
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(600));
        Self { layer: Some(layer) }
    }

    /// Answers a preflight, or runs `forward` (which names the request's metrics route) and
    /// adds the CORS headers to its answer.
    pub(super) async fn serve<F, Fut>(
        &self,
        request: Request,
        mut forward: F,
    ) -> (&'static str, Response)
    where
        F: FnMut(Request) -> Fut + Send,
        Fut: Future<Output = (&'static str, Response)> + Send,
    {
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let Some(layer) = &self.layer else {
            if preflight {
                return ("preflight", refused());
            }
            return forward(request).await;
        };
        if !preflight && request.method() == Method::OPTIONS {
            return forward(request).await;
        }
        let service = layer.layer(tower::service_fn(move |request| {
            let answer = forward(request);
            async move {
                let (label, mut response) = answer.await;
                response.extensions_mut().insert(RouteLabel(label));
                Ok::<_, Infallible>(response)
            }
        }));
        let mut response = match service.oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if !preflight {
            let label = response
                .extensions_mut()
                .remove::<RouteLabel>()
                .map_or("unrouted", |l| l.0);
            return (label, response);
        }
        if !response
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        {
            return ("preflight", refused());
        }
        *response.status_mut() = StatusCode::NO_CONTENT;
        ("preflight", response)
    }
}

fn refused() -> Response {
    super::problem(StatusCode::FORBIDDEN, "origin not allowed")
}
