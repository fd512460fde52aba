//! When an endpoint has failed long enough to be switched off: after
//! `delivery.disable_after_failures` consecutive failed attempts spread over
//! at least `delivery.disable_min_failing`, or after failing without a single
//! success for `delivery.disable_after`. Requiring time as well as a count
//! keeps a busy endpoint's short outage (hundreds of failed first attempts in
//! seconds) from switching it off.

use crate::config::DeliverySettings;
use crate::store::EndpointHealth;

pub fn should_disable(health: &EndpointHealth, settings: &DeliverySettings, now_ms: u64) -> bool {
    let failing_for = |limit: std::time::Duration| {
        health
            .failing_since_ms
            .is_some_and(|since| u128::from(now_ms.saturating_sub(since)) >= limit.as_millis())
    };
    let too_many = health.consecutive_failures >= settings.disable_after_failures
        && failing_for(settings.disable_min_failing);
    too_many || failing_for(settings.disable_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> DeliverySettings {
        DeliverySettings {
            disable_after_failures: 3,
            disable_min_failing: Duration::from_secs(10),
            disable_after: Duration::from_secs(60),
            ..DeliverySettings::default()
        }
    }

    #[test]
    fn disables_after_enough_consecutive_failures_over_enough_time() {
        let mut health = EndpointHealth {
            consecutive_failures: 2,
            failing_since_ms: Some(1_000),
        };
        assert!(!should_disable(&health, &settings(), 11_000));
        health.consecutive_failures = 3;
        assert!(should_disable(&health, &settings(), 11_000));
    }

    #[test]
    fn a_burst_of_failures_in_a_short_outage_does_not_disable() {
        let health = EndpointHealth {
            consecutive_failures: 1_000,
            failing_since_ms: Some(1_000),
        };
        assert!(!should_disable(&health, &settings(), 10_999));
    }

    #[test]
    fn disables_after_failing_for_too_long() {
        let health = EndpointHealth {
            consecutive_failures: 1,
            failing_since_ms: Some(1_000),
        };
        assert!(!should_disable(&health, &settings(), 60_999));
        assert!(should_disable(&health, &settings(), 61_000));
        assert!(!should_disable(
            &EndpointHealth::default(),
            &settings(),
            u64::MAX
        ));
    }
}
