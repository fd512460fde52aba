//! A small in-memory limiter for open partner registration: without it,
//! `partners.registration = "open"` would let one client create endpoints
//! (and outbound traffic) without bound. Per-process and forgotten on
//! restart, which is enough to stop a loop, not a distributed attack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Registrations one address may make per window.
pub const REGISTRATIONS_PER_WINDOW: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Past this many tracked addresses, expired ones are swept on the next hit,
/// so a scan from many addresses cannot grow the map forever.
const SWEEP_ABOVE: usize = 10_000;

/// A fixed window per client address.
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(REGISTRATIONS_PER_WINDOW, WINDOW)
    }
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            hits: Mutex::default(),
        }
    }

    /// Counts one request from `client`; false when it is over the limit.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let mut hits = match self.hits.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if hits.len() > SWEEP_ABOVE {
            let window = self.window;
            hits.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let (start, count) = hits.entry(client).or_insert((now, 0));
        if now.duration_since(*start) >= self.window {
            *start = now;
            *count = 0;
        }
        if *count >= self.limit {
            return false;
        }
        *count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_address_per_window() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        assert!(limiter.allow(a, t0));
        assert!(limiter.allow(a, t0));
        assert!(!limiter.allow(a, t0));
        assert!(limiter.allow(b, t0), "another address has its own budget");
        assert!(limiter.allow(a, t0 + Duration::from_secs(61)));
    }
}
