//! Which URLs hookd may call: the scheme rule and the outbound address policy.
//!
//! Unless `delivery.allow_private_targets` is set, nothing may point into the
//! machine's own or private networks. The `url` crate already normalises every
//! IP spelling (`http://2130706433/`, `http://0x7f.1/`, `[::ffff:127.0.0.1]`)
//! to an address, so one check of that address covers them all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Parses and checks an endpoint URL; the error is a sentence for a 422.
pub fn validate_url(text: &str, allow_http: bool, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("url is not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("url must use https:// (delivery.allow_http is off)".into()),
        other => return Err(format!("url scheme {other}:// is not supported")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials".into());
    }
    let host = url.host().ok_or("url has no host")?;
    if allow_private {
        return Ok(url);
    }
    let blocked = match host {
        Host::Ipv4(ip) => blocked_reason(IpAddr::V4(ip)),
        Host::Ipv6(ip) => blocked_reason(IpAddr::V6(ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost")).then_some("loopback")
        }
    };
    match blocked {
        Some(reason) => Err(format!(
            "url points at a {reason} address, which delivery.allow_private_targets forbids"
        )),
        None => Ok(url),
    }
}

/// Why an address may not be called, or `None` when it is a public address.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => blocked_v4(v4),
            None => blocked_v6(v6),
        },
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("CGNAT")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else {
        None
    }
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_only_unless_allowed() {
        assert!(validate_url("https://example.com/hook", false, false).is_ok());
        assert!(validate_url("http://example.com/hook", false, false).is_err());
        assert!(validate_url("http://example.com/hook", true, false).is_ok());
        assert!(validate_url("ftp://example.com/", true, true).is_err());
        assert!(validate_url("/relative", true, true).is_err());
    }

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://[fc00::1]/",
            "https://[fe80::1]/",
            "https://localhost/",
        ] {
            assert!(validate_url(url, true, false).is_err(), "{url} accepted");
            assert!(
                validate_url(url, true, true).is_ok(),
                "{url} refused when allowed"
            );
        }
        assert!(validate_url("https://93.184.216.34/", false, false).is_ok());
    }
}
