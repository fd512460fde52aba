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
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use actix_tls::connect::Resolve;

use crate::domain::special_addresses::blocked_reason;
use crate::domain::target::is_localhost;

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
        Box::pin(guarded_lookup(host, port, system_lookup))
    }
}

async fn system_lookup(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// Resolves `host` with `lookup` and refuses any forbidden answer.
///
/// awc hands IPv6 literals over with their brackets (`[2606:4700::1111]`):
/// they are parsed here, not looked up. A name is looked up both with and
/// without its trailing dot (the two can differ: `/etc/hosts` knows only the
/// bare form, search domains apply only to it), and one forbidden answer
/// from either taints the name: connecting to the others would still let an
/// attacker steer some attempts inside.
pub async fn guarded_lookup<F, Fut>(
    host: &str,
    port: u16,
    lookup: F,
) -> Result<Vec<SocketAddr>, Box<dyn Error>>
where
    F: Fn(String, u16) -> Fut,
    Fut: Future<Output = io::Result<Vec<SocketAddr>>>,
{
    let blocked = |reason| Box::new(BlockedTarget { reason }) as Box<dyn Error>;
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return match blocked_reason(ip) {
            Some(reason) => Err(blocked(reason)),
            None => Ok(vec![SocketAddr::new(ip, port)]),
        };
    }
    if is_localhost(host) {
        return Err(blocked("loopback"));
    }
    let bare = host.strip_suffix('.').unwrap_or(host);
    let (with_dot, without_dot) = tokio::join!(
        lookup(format!("{bare}."), port),
        lookup(bare.to_string(), port)
    );
    let addrs: Vec<SocketAddr> = match (with_dot, without_dot) {
        (Err(error), Err(_)) => return Err(Box::new(error)),
        (first, second) => {
            first
                .into_iter()
                .chain(second)
                .flatten()
                .fold(Vec::new(), |mut all, addr| {
                    if !all.contains(&addr) {
                        all.push(addr);
                    }
                    all
                })
        }
    };
    if let Some(reason) = addrs.iter().find_map(|a| blocked_reason(a.ip())) {
        return Err(blocked(reason));
    }
    Ok(addrs)
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
    let lookup = guarded_lookup(host, port, system_lookup);
    match tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
        Ok(Err(error)) => error.downcast_ref::<BlockedTarget>().map(|b| b.reason),
        _ => None,
    }
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

    /// A fixed table standing in for DNS: tests never ask the machine's resolver.
    fn table(
        entries: &'static [(&'static str, &'static str)],
    ) -> impl Fn(String, u16) -> std::future::Ready<io::Result<Vec<SocketAddr>>> {
        move |name, port| {
            let found: Vec<SocketAddr> = entries
                .iter()
                .filter(|(known, _)| *known == name)
                .map(|(_, ip)| SocketAddr::new(ip.parse().unwrap(), port))
                .collect();
            std::future::ready(if found.is_empty() {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such name"))
            } else {
                Ok(found)
            })
        }
    }

    const DNS: &[(&str, &str)] = &[
        ("public.test", "93.184.216.34"),
        ("public.test.", "93.184.216.34"),
        ("hosts-only.test", "127.0.0.1"),
        ("dotted-only.test.", "10.0.0.7"),
        ("mixed.test", "93.184.216.34"),
        ("mixed.test", "192.168.0.1"),
        ("nat64.test", "64:ff9b::7f00:1"),
        ("v6.test", "2606:4700::1111"),
    ];

    fn reason(result: Result<Vec<SocketAddr>, Box<dyn Error>>) -> Option<&'static str> {
        result
            .err()?
            .downcast_ref::<BlockedTarget>()
            .map(|b| b.reason)
    }

    #[actix_web::test]
    async fn ip_literals_are_parsed_not_resolved_with_or_without_brackets() {
        for host in ["[2606:4700::1111]", "2606:4700::1111"] {
            let addrs = guarded_lookup(host, 443, table(&[])).await.unwrap();
            assert_eq!(addrs, vec!["[2606:4700::1111]:443".parse().unwrap()]);
        }
        for (host, expected) in [
            ("[::1]", "loopback"),
            ("[::127.0.0.1]", "IPv4-compatible"),
            ("[::ffff:127.0.0.1]", "loopback"),
            ("[64:ff9b::7f00:1]", "loopback"),
            ("[64:ff9b:1::1]", "local-use NAT64"),
            ("[2002:7f00:1::]", "loopback"),
            ("[2001:0:4136:e378::1]", "IETF protocol"),
            ("[fe80::1]", "link-local"),
            ("127.0.0.1", "loopback"),
            ("198.18.0.1", "benchmarking"),
            ("192.0.0.1", "IETF protocol"),
        ] {
            let result = guarded_lookup(host, 443, table(&[])).await;
            assert_eq!(reason(result), Some(expected), "{host}");
        }
    }

    #[actix_web::test]
    async fn names_resolve_the_same_with_or_without_the_trailing_dot() {
        for host in ["public.test", "public.test."] {
            let addrs = guarded_lookup(host, 80, table(DNS)).await.unwrap();
            assert_eq!(addrs, vec!["93.184.216.34:80".parse().unwrap()], "{host}");
        }
        for (host, expected) in [
            ("hosts-only.test", "loopback"),
            ("hosts-only.test.", "loopback"),
            ("dotted-only.test", "private"),
            ("dotted-only.test.", "private"),
            ("mixed.test", "private"),
            ("mixed.test.", "private"),
            ("nat64.test", "loopback"),
            ("localhost", "loopback"),
            ("localhost.", "loopback"),
            ("api.LOCALHOST.", "loopback"),
        ] {
            let result = guarded_lookup(host, 80, table(DNS)).await;
            assert_eq!(reason(result), Some(expected), "{host}");
        }
        let addrs = guarded_lookup("v6.test.", 443, table(DNS)).await.unwrap();
        assert_eq!(addrs, vec!["[2606:4700::1111]:443".parse().unwrap()]);
        let error = guarded_lookup("nowhere.test", 80, table(DNS))
            .await
            .unwrap_err();
        assert!(!error.is::<BlockedTarget>());
    }

    #[actix_web::test]
    async fn the_resolver_takes_bracketed_literals() {
        let addrs = GuardedResolver
            .lookup("[2606:4700::1111]", 443)
            .await
            .unwrap();
        assert_eq!(addrs, vec!["[2606:4700::1111]:443".parse().unwrap()]);
        let error = GuardedResolver.lookup("[::1]", 80).await.unwrap_err();
        assert!(error.is::<BlockedTarget>());
    }
}
