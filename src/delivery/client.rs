//! The outbound HTTP client: redirects off (a webhook is never forwarded
//! elsewhere), TLS through rustls, connections capped at the global limit.

use std::time::Duration;

use crate::config::DeliverySettings;

/// How long connecting (TCP and TLS) may take, within the attempt's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn build_client(settings: &DeliverySettings) -> awc::Client {
    let connector = awc::Connector::new()
        .timeout(CONNECT_TIMEOUT)
        .limit(settings.max_in_flight_total as usize);
    awc::Client::builder()
        .disable_redirects()
        .no_default_headers()
        .timeout(settings.timeout)
        .connector(connector)
        .finish()
}
