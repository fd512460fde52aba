//! A log line per request (target `hookd::http`): peer, request line,
//! status and time taken. Publishing is the data plane, with up to tens of
//! thousands of requests a second and its own metrics, so a publish that
//! succeeded is logged at `debug`, as a successful attempt is; every other
//! request, and any publish that failed, at `info`. Formatting and writing
//! a line per publish cost about 8 % of the publish rate (BENCHMARKS.md).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::Error;

/// Routes that publish events: the admin API's and partners' inbound ones.
fn is_publish(method: &Method, path: &str) -> bool {
    method == Method::POST
        && (matches!(path, "/api/v1/events" | "/api/v1/events/batch")
            || path == "/webhooks/partners"
            || path.starts_with("/webhooks/partners/"))
}

/// Middleware: logs each request once its response is ready. The line is
/// only formatted when it is written.
pub async fn log_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let quiet = is_publish(request.method(), request.path());
    let peer = request.peer_addr().map(|address| address.ip());
    let (method, uri, version) = (
        request.method().clone(),
        request.uri().clone(),
        request.version(),
    );
    let result = next.call(request).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let line = || {
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        let peer = peer.map_or_else(|| "-".to_string(), |ip| ip.to_string());
        format!(
            "{peer} \"{method} {uri} {version:?}\" {} {took_ms:.3}ms",
            status.as_u16()
        )
    };
    if !(quiet && status.is_success()) {
        tracing::info!(target: "hookd::http", "{}", line());
    } else if tracing::enabled!(target: "hookd::http", tracing::Level::DEBUG) {
        tracing::debug!(target: "hookd::http", "{}", line());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_to_the_publish_routes_are_publishes() {
        assert!(is_publish(&Method::POST, "/api/v1/events"));
        assert!(is_publish(&Method::POST, "/api/v1/events/batch"));
        assert!(is_publish(&Method::POST, "/webhooks/partners"));
        assert!(is_publish(&Method::POST, "/webhooks/partners/prt_1"));
        assert!(!is_publish(&Method::GET, "/api/v1/events"));
        assert!(!is_publish(&Method::POST, "/api/v1/endpoints"));
        assert!(!is_publish(&Method::POST, "/api/v1/events/evt_1/resend"));
    }
}
