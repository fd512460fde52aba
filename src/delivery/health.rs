//! When an endpoint has failed long enough to be switched off:
//! after `delivery.disable_after_failures` consecutive failed attempts,
//! or after failing without a single success for `delivery.disable_after`.

use crate::config::DeliverySettings;
use crate::store::EndpointHealth;

pub fn should_disable(health: &EndpointHealth, settings: &DeliverySettings, now_ms: u64) -> bool {
    let too_many = health.consecutive_failures >= settings.disable_after_failures;
    let too_long = health.failing_since_ms.is_some_and(|since| {
        u128::from(now_ms.saturating_sub(since)) >= settings.disable_after.as_millis()
    });
    too_many || too_long
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> DeliverySettings {
        DeliverySettings {
            disable_after_failures: 3,
            disable_after: Duration::from_secs(60),
            ..DeliverySettings::default()
        }
    }

    #[test]
    fn disables_after_enough_consecutive_failures() {
        let mut health = EndpointHealth {
            consecutive_failures: 2,
            failing_since_ms: Some(1_000),
        };
        assert!(!should_disable(&health, &settings(), 2_000));
        health.consecutive_failures = 3;
        assert!(should_disable(&health, &settings(), 2_000));
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
