//! Every Prometheus metric family hookd exposes, in one place, and the text
//! that `GET /metrics` serves (encoded by `prometheus-client`).
//!
//! The families live in one process-wide registry: they describe the process,
//! the way its counters would in any Prometheus exporter, and a handle
//! threaded through every layer would only add noise to the code that
//! records them. Labels are bounded sets only (source, result, status,
//! state); per-endpoint figures are in `GET /api/v1/stats` instead, because
//! endpoint IDs are unbounded and would grow the series count without limit.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::domain::{DeliveryStatus, Event};

/// One bounded label: `(name, value)`.
type Label = [(&'static str, &'static str); 1];

/// Where a published event came from, the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /api/v1/events` and its batch form.
    Api,
    /// A partner's inbound webhook.
    Partner,
    /// A `hookd.*` operational event.
    Operational,
    /// An endpoint's test send.
    Test,
}

impl Source {
    /// Told from the event itself, so every way of publishing is counted
    /// where events are stored.
    pub fn of(event: &Event) -> Source {
        if event.test {
            Source::Test
        } else if event.source.is_some() {
            Source::Partner
        } else if event.event_type.starts_with("hookd.") {
            Source::Operational
        } else {
            Source::Api
        }
    }

    const ALL: [Source; 4] = [
        Source::Api,
        Source::Partner,
        Source::Operational,
        Source::Test,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Partner => "partner",
            Source::Operational => "operational",
            Source::Test => "test",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    events_published: Family<Label, Counter>,
    delivery_attempts: Family<Label, Counter>,
    deliveries_completed: Family<Label, Counter>,
    attempt_duration: Histogram,
    delivery_latency: Histogram,
    publish_duration: Histogram,
    deliveries_pending: Gauge,
    deliveries_held: Gauge,
    attempts_in_flight: Gauge,
    endpoints: Family<Label, Gauge>,
    replay_jobs_running: Gauge,
    storage_size: Gauge,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        // Attempts and publishes: 1 ms to about 33 s. Latency spans retries,
        // so its buckets go on doubling from 10 ms to about two days.
        let short = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let metrics = Metrics {
            registry: Registry::default(),
            events_published: Family::default(),
            delivery_attempts: Family::default(),
            deliveries_completed: Family::default(),
            attempt_duration: short(),
            delivery_latency: Histogram::new(
                exponential_buckets(0.01, 2.0, 8).chain(exponential_buckets(2.56, 2.0, 17)),
            ),
            publish_duration: short(),
            deliveries_pending: Gauge::default(),
            deliveries_held: Gauge::default(),
            attempts_in_flight: Gauge::default(),
            endpoints: Family::default(),
            replay_jobs_running: Gauge::default(),
            storage_size: Gauge::default(),
        };
        // Every label value from the start, so a rate() or an alert sees a
        // series at zero rather than none at all.
        for source in Source::ALL {
            metrics
                .events_published
                .get_or_create_owned(&[("source", source.as_str())]);
        }
        for result in ["success", "failure"] {
            metrics
                .delivery_attempts
                .get_or_create_owned(&[("result", result)]);
        }
        for status in ["succeeded", "failed", "cancelled"] {
            metrics
                .deliveries_completed
                .get_or_create_owned(&[("status", status)]);
        }
        for state in ["active", "disabled"] {
            metrics.endpoints.get_or_create_owned(&[("state", state)]);
        }
        metrics.registered()
    }

    fn registered(mut self) -> Metrics {
        let r = &mut self.registry;
        // OpenMetrics names a counter without `_total`; the encoder adds it.
        r.register(
            "hookd_events_published",
            "Events stored, by where they came from",
            self.events_published.clone(),
        );
        r.register(
            "hookd_delivery_attempts",
            "Delivery attempts made, by result",
            self.delivery_attempts.clone(),
        );
        r.register(
            "hookd_deliveries_completed",
            "Deliveries that reached a final status",
            self.deliveries_completed.clone(),
        );
        r.register(
            "hookd_attempt_duration_seconds",
            "Time one attempt took, from sending to the answer (or its failure)",
            self.attempt_duration.clone(),
        );
        r.register(
            "hookd_delivery_latency_seconds",
            "Time from an event's creation to the end of its delivery's successful attempt",
            self.delivery_latency.clone(),
        );
        r.register(
            "hookd_publish_duration_seconds",
            "Time from a publish request's arrival to its 202, the durable write included",
            self.publish_duration.clone(),
        );
        r.register(
            "hookd_deliveries_pending",
            "Deliveries waiting for an attempt (first or retry) or being attempted",
            self.deliveries_pending.clone(),
        );
        r.register(
            "hookd_deliveries_held",
            "Deliveries held because their endpoint is disabled",
            self.deliveries_held.clone(),
        );
        r.register(
            "hookd_attempts_in_flight",
            "Attempts sent and not yet answered",
            self.attempts_in_flight.clone(),
        );
        r.register(
            "hookd_endpoints",
            "Endpoints, by state",
            self.endpoints.clone(),
        );
        r.register(
            "hookd_replay_jobs_running",
            "Replay jobs still scheduling deliveries",
            self.replay_jobs_running.clone(),
        );
        r.register(
            "hookd_storage_size_bytes",
            "Size of the data directory's database on disk",
            self.storage_size.clone(),
        );
        self
    }

    /// An event from `source` was stored.
    pub fn published(&self, source: Source) {
        self.events_published
            .get_or_create(&[("source", source.as_str())])
            .inc();
    }

    pub fn publish_took(&self, took: Duration) {
        self.publish_duration.observe(took.as_secs_f64());
    }

    /// An attempt ended; `latency` (event creation to now) is given on success.
    pub fn attempt_ended(&self, succeeded: bool, took: Duration, latency: Option<Duration>) {
        let result = if succeeded { "success" } else { "failure" };
        self.delivery_attempts
            .get_or_create(&[("result", result)])
            .inc();
        self.attempt_duration.observe(took.as_secs_f64());
        if let Some(latency) = latency {
            self.delivery_latency.observe(latency.as_secs_f64());
        }
    }

    /// A delivery reached `status`: counted when that status is final.
    pub fn delivery_reached(&self, status: DeliveryStatus) {
        let completed = match status {
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Pending | DeliveryStatus::Held => return,
        };
        self.deliveries_completed
            .get_or_create(&[("status", completed)])
            .inc();
    }

    /// `by` more (or fewer) deliveries of `status`; only the open statuses
    /// (pending, held) have a gauge.
    pub fn open_deliveries(&self, status: DeliveryStatus, by: i64) {
        match status {
            DeliveryStatus::Pending => self.deliveries_pending.inc_by(by),
            DeliveryStatus::Held => self.deliveries_held.inc_by(by),
            _ => 0,
        };
    }

    /// Sets the gauge of an open status to a count read from storage (a
    /// backend shared by several nodes counts rather than follows).
    pub fn set_open_deliveries(&self, status: DeliveryStatus, count: i64) {
        match status {
            DeliveryStatus::Pending => self.deliveries_pending.set(count),
            DeliveryStatus::Held => self.deliveries_held.set(count),
            _ => 0,
        };
    }

    #[cfg(test)]
    pub fn deliveries_held_now(&self) -> i64 {
        self.deliveries_held.get()
    }

    /// Counts an attempt in flight until the returned guard is dropped.
    pub fn attempt_in_flight(&self) -> InFlight {
        self.attempts_in_flight.inc();
        InFlight(self.attempts_in_flight.clone())
    }

    /// Counts a running replay job until the returned guard is dropped.
    pub fn replay_running(&self) -> InFlight {
        self.replay_jobs_running.inc();
        InFlight(self.replay_jobs_running.clone())
    }

    /// The figures read at scrape time, then the exposition text.
    pub fn render(
        &self,
        active_endpoints: usize,
        disabled_endpoints: usize,
        storage_bytes: u64,
    ) -> String {
        self.endpoints
            .get_or_create(&[("state", "active")])
            .set(active_endpoints as i64);
        self.endpoints
            .get_or_create(&[("state", "disabled")])
            .set(disabled_endpoints as i64);
        self.storage_size.set(storage_bytes as i64);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Decrements its gauge when dropped, so an early return cannot leak a count.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::EventType;
    use serde_json::json;

    fn event(event_type: &str) -> Event {
        let event_type = EventType::parse(event_type)
            .or_else(|_| EventType::parse_operational(event_type))
            .unwrap();
        Event::new(&event_type, &json!({}), 1)
    }

    #[test]
    fn an_event_tells_its_source() {
        assert_eq!(Source::of(&event("order.created")), Source::Api);
        assert_eq!(
            Source::of(&event("hookd.delivery.failed")),
            Source::Operational
        );
        let mut test = event("order.created");
        test.test = true;
        assert_eq!(Source::of(&test), Source::Test);
        let mut inbound = event("order.created");
        inbound.source = Some("partner:partner_01".into());
        assert_eq!(Source::of(&inbound), Source::Partner);
    }
}
