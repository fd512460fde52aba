//! Which URLs hookd may call: the scheme rule and the outbound address policy.
//!
//! Unless `delivery.allow_private_targets` is set, nothing may point into the
//! machine's own or private networks. The `url` crate already normalises every
//! IP spelling (`http://2130706433/`, `http://0x7f.1/`, `[::ffff:127.0.0.1]`)
//! to an address, so one check of that address covers them all.

use std::net::IpAddr;

use url::{Host, Url};

use super::special_addresses::blocked_reason;

/// `localhost` and its subdomains (RFC 6761), with or without the trailing dot.
pub fn is_localhost(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

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
        Host::Domain(name) => is_localhost(name).then_some("loopback"),
    };
    match blocked {
        Some(reason) => Err(format!(
            "url points at a {reason} address, which delivery.allow_private_targets forbids"
        )),
        None => Ok(url),
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
            "https://LocalHost./",
            "https://api.localhost./",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://198.18.0.1/",
            "https://192.0.0.1/",
        ] {
            assert!(validate_url(url, true, false).is_err(), "{url} accepted");
            assert!(
                validate_url(url, true, true).is_ok(),
                "{url} refused when allowed"
            );
        }
        assert!(validate_url("https://93.184.216.34/", false, false).is_ok());
        assert!(validate_url("https://[2606:4700::1111]/", false, false).is_ok());
    }
}
