//! Which IP addresses are not the public internet: every range of the IANA
//! IPv4 and IPv6 special-purpose address registries (even the few marked
//! globally reachable, such as anycast relays: no webhook receiver lives
//! there), multicast, and IPv4 addresses carried inside IPv6.
//!
//! An IPv6 address that embeds an IPv4 one is judged by the IPv4 address
//! when the translation is public (IPv4-mapped, the NAT64 well-known prefix
//! `64:ff9b::/96` that DNS64 networks use, 6to4), so `[64:ff9b::7f00:1]`
//! is loopback and a NAT64 route to a public server still works. Forms that
//! are deprecated or local (IPv4-compatible `::a.b.c.d`, the local-use
//! NAT64 prefix `64:ff9b:1::/48`, Teredo inside `2001::/23`) are refused
//! whatever they embed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// (network, prefix length, why it is refused), from the IPv4 registry.
const V4_RANGES: [(u32, u32, &str); 19] = [
    (0x0000_0000, 8, "unspecified"),    // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8, "private"),        // 10.0.0.0/8
    (0x6440_0000, 10, "CGNAT"),         // 100.64.0.0/10 shared address space
    (0x7f00_0000, 8, "loopback"),       // 127.0.0.0/8
    (0xa9fe_0000, 16, "link-local"),    // 169.254.0.0/16
    (0xac10_0000, 12, "private"),       // 172.16.0.0/12
    (0xc000_0000, 24, "IETF protocol"), // 192.0.0.0/24 protocol assignments
    (0xc000_0200, 24, "documentation"), // 192.0.2.0/24 TEST-NET-1
    (0xc01f_c400, 24, "AS112"),         // 192.31.196.0/24
    (0xc034_c100, 24, "AMT"),           // 192.52.193.0/24
    (0xc058_6300, 24, "6to4 relay"),    // 192.88.99.0/24
    (0xc0a8_0000, 16, "private"),       // 192.168.0.0/16
    (0xc0af_3000, 24, "AS112"),         // 192.175.48.0/24
    (0xc612_0000, 15, "benchmarking"),  // 198.18.0.0/15
    (0xc633_6400, 24, "documentation"), // 198.51.100.0/24 TEST-NET-2
    (0xcb00_7100, 24, "documentation"), // 203.0.113.0/24 TEST-NET-3
    (0xe000_0000, 4, "multicast"),      // 224.0.0.0/4
    (0xffff_ffff, 32, "broadcast"),     // 255.255.255.255/32
    (0xf000_0000, 4, "reserved"),       // 240.0.0.0/4
];

/// (network, prefix length, why it is refused), from the IPv6 registry;
/// everything outside `2000::/3` (global unicast) is refused besides.
const V6_RANGES: [(u128, u32, &str); 5] = [
    (0x2001_0000 << 96, 23, "IETF protocol"), // 2001::/23, Teredo included
    (0x2001_0db8 << 96, 32, "documentation"), // 2001:db8::/32
    (0x2620_004f_8000 << 80, 48, "AS112"),    // 2620:4f:8000::/48
    (0x3fff << 112, 20, "documentation"),     // 3fff::/20
    (0x5f00 << 112, 16, "SRv6"),              // 5f00::/16 (outside 2000::/3 too)
];

/// Why an address may not be called, or `None` for a public address.
pub fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(network, prefix, _)| bits >> (32 - prefix) == network >> (32 - prefix))
        .map(|(_, _, reason)| *reason)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let bits = u128::from(ip);
    let within = |network: u128, prefix: u32| bits >> (128 - prefix) == network >> (128 - prefix);
    let embedded = |shift: u32| Ipv4Addr::from((bits >> shift) as u32);
    if bits == 0 {
        Some("unspecified")
    } else if bits == 1 {
        Some("loopback")
    } else if within(0xffff << 32, 96) || within(0x0064_ff9b << 96, 96) {
        blocked_v4(embedded(0)) // ::ffff:a.b.c.d (mapped), 64:ff9b::a.b.c.d (NAT64)
    } else if within(0x2002 << 112, 16) {
        blocked_v4(embedded(80)) // 6to4: 2002:aabb:ccdd::/48
    } else if within(0, 96) {
        Some("IPv4-compatible")
    } else if within(0x0064_ff9b_0001 << 80, 48) {
        Some("local-use NAT64")
    } else if within(0xfc00 << 112, 7) {
        Some("private")
    } else if within(0xfe80 << 112, 10) {
        Some("link-local")
    } else if within(0xff00 << 112, 8) {
        Some("multicast")
    } else if !within(0x2000 << 112, 3) {
        Some("reserved")
    } else {
        V6_RANGES
            .iter()
            .find(|(network, prefix, _)| within(*network, *prefix))
            .map(|(_, _, reason)| *reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<&'static str> {
        blocked_reason(text.parse().unwrap())
    }

    #[test]
    fn every_ipv4_special_range_is_refused_at_both_ends() {
        for (network, prefix, expected) in V4_RANGES {
            let first = Ipv4Addr::from(network);
            let last = Ipv4Addr::from(network | u32::MAX.checked_shr(prefix).unwrap_or(0));
            assert_eq!(blocked_v4(first), Some(expected), "{first}");
            // The last address may fall in a narrower range listed earlier
            // (255.255.255.255 is broadcast inside 240.0.0.0/4).
            assert!(blocked_v4(last).is_some(), "{last}");
        }
    }

    #[test]
    fn the_spellings_a_probe_got_through_are_refused() {
        assert_eq!(reason("198.18.0.1"), Some("benchmarking"));
        assert_eq!(reason("198.19.255.255"), Some("benchmarking"));
        assert_eq!(reason("192.0.0.1"), Some("IETF protocol"));
        assert_eq!(reason("::127.0.0.1"), Some("IPv4-compatible"));
        assert_eq!(reason("::8.8.8.8"), Some("IPv4-compatible"));
        assert_eq!(reason("64:ff9b::7f00:1"), Some("loopback"));
        assert_eq!(reason("64:ff9b::a00:1"), Some("private"));
        assert_eq!(reason("64:ff9b:1::808:808"), Some("local-use NAT64"));
        assert_eq!(reason("2002:7f00:1::"), Some("loopback"));
        assert_eq!(reason("2002:c0a8:101::1"), Some("private"));
        assert_eq!(
            reason("2001:0:4136:e378:8000:63bf:80ff:fffe"),
            Some("IETF protocol")
        );
        assert_eq!(reason("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(reason("::ffff:169.254.169.254"), Some("link-local"));
    }

    #[test]
    fn ipv6_special_ranges_are_refused() {
        for (text, expected) in [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("100::1", "reserved"),
            ("2001:1::1", "IETF protocol"),
            ("2001:db8::1", "documentation"),
            ("2620:4f:8000::1", "AS112"),
            ("3fff::1", "documentation"),
            ("5f00::1", "reserved"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fe80::1", "link-local"),
            ("fec0::1", "reserved"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(reason(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn public_addresses_pass_including_public_translations() {
        for text in [
            "8.8.8.8",
            "93.184.216.34",
            "1.1.1.1",
            "192.0.3.1",
            "198.20.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(reason(text), None, "{text}");
        }
    }
}
