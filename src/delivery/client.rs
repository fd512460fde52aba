//! The outbound HTTP client: redirects off (a webhook is never forwarded
//! elsewhere), TLS through rustls, names resolved through the address guard
//! unless private targets are allowed, connections capped at the global limit.

use std::time::Duration;

use actix_tls::connect::{Connector as TcpConnector, Resolver};

use crate::config::DeliverySettings;
use crate::delivery::target_guard::GuardedResolver;

/// How long connecting (TCP and TLS) may take, within the attempt's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn build_client(settings: &DeliverySettings) -> awc::Client {
    let resolver = if settings.allow_private_targets {
        Resolver::default()
    } else {
        Resolver::custom(GuardedResolver)
    };
    let connector = awc::Connector::new()
        .connector(TcpConnector::new(resolver).service())
        .timeout(CONNECT_TIMEOUT)
        .limit(settings.max_in_flight_total as usize);
    awc::Client::builder()
        .disable_redirects()
        .no_default_headers()
        .timeout(settings.timeout)
        .connector(connector)
        .finish()
}
