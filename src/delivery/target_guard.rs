//! The outbound address policy at connect time.
//!
//! Checking a URL when an endpoint is created is not enough: a name can
//! resolve somewhere else later (DNS rebinding). So the awc connector resolves
//! names through [`GuardedResolver`], which refuses to hand back a forbidden
//! address, and attempts to IP-literal URLs — which awc never resolves — are
//! checked by [`literal_target_blocked`] before anything is sent.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use actix_tls::connect::Resolve;

use crate::domain::target::blocked_reason;

/// The resolver refused every address of a host: the attempt is `blocked_target`.
#[derive(Debug)]
pub struct BlockedTarget {
    pub reason: &'static str,
}

impl fmt::Display for BlockedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocked_target: resolves to a {} address", self.reason)
    }
}

impl Error for BlockedTarget {}

/// A system resolver that fails closed on forbidden addresses.
pub struct GuardedResolver;

type Lookup<'a> = Pin<Box<dyn Future<Output = Result<Vec<SocketAddr>, Box<dyn Error>>> + 'a>>;

impl Resolve for GuardedResolver {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> Lookup<'a> {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            // One forbidden answer taints the name: connecting to the others
            // would still let an attacker steer some attempts inside.
            if let Some(reason) = addrs.iter().find_map(|a| blocked_reason(a.ip())) {
                return Err(Box::new(BlockedTarget { reason }) as Box<dyn Error>);
            }
            Ok(addrs)
        })
    }
}

/// Why an attempt to `url` must not be made when its host is an IP literal.
pub fn literal_target_blocked(url: &str) -> Option<&'static str> {
    let parsed = url::Url::parse(url).ok()?;
    let ip = match parsed.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    blocked_reason(ip)
}

/// Resolves `url`'s host at endpoint creation; `Some(reason)` when any
/// address is forbidden. A name that does not resolve (yet) is let through:
/// the connect-time check still guards every attempt.
pub async fn resolves_to_blocked(url: &url::Url) -> Option<&'static str> {
    let host = url.host_str()?;
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::net::lookup_host((host, port));
    let addrs = tokio::time::timeout(std::time::Duration::from_secs(3), lookup)
        .await
        .ok()?
        .ok()?;
    addrs.into_iter().find_map(|a| blocked_reason(a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_addresses_are_checked_without_resolving() {
        assert_eq!(
            literal_target_blocked("http://127.0.0.1:9/"),
            Some("loopback")
        );
        assert_eq!(
            literal_target_blocked("http://[::ffff:10.0.0.1]/"),
            Some("private")
        );
        assert_eq!(literal_target_blocked("https://93.184.216.34/"), None);
        assert_eq!(literal_target_blocked("https://example.com/"), None);
    }

    #[actix_web::test]
    async fn the_resolver_refuses_loopback_names() {
        let error = GuardedResolver.lookup("localhost", 80).await.unwrap_err();
        assert!(error.is::<BlockedTarget>());
    }
}
