//! `GET /metrics`: the Prometheus scrape, without a token like the probes.
//! Counters and histograms are kept as things happen (`metrics.rs`); the
//! few figures read here are in memory or a file size on the embedded
//! backend, and a few index reads on a database several nodes share, so a
//! scrape never scans storage.

use actix_web::{web, HttpResponse};

use crate::api::AppState;
use crate::metrics::metrics;

/// OpenMetrics text, which Prometheus asks for and parses with full types.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[utoipa::path(operation_id = "scrape_metrics", get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "Prometheus metrics", body = String,
        content_type = "application/openmetrics-text")))]
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    // A shared database is counted at the scrape (a few index reads);
    // on failure the figures stay as last read.
    if let Err(error) = state.store.refresh_metrics().await {
        tracing::warn!(%error, "cannot refresh the storage metrics");
    }
    let (active, disabled) = state.store.endpoint_counts();
    let text = metrics().render(active, disabled, state.store.size_on_disk());
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(text)
}
