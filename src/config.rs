//! Typed settings: `config.toml` overlaid with `HOOKD__SECTION__KEY` variables.
//!
//! Every key has a default (README, Configuration), unknown keys are refused so a typo never
//! silently falls back to a default, and a bad value names its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::duration::serde_duration;
use crate::domain::schedule::RetrySchedule;

/// Keys whose environment variable holds a comma-separated list.
const LIST_KEYS: [&str; 6] = [
    "admin.tokens",
    "delivery.retry_schedule",
    "partners.registration_tokens",
    "partners.events",
    "partners.inbound_events",
    "partners.retry_schedule",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub admin: AdminSettings,
    pub storage: StorageSettings,
    pub delivery: DeliverySettings,
    pub events: EventSettings,
    pub partners: PartnerSettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub public_bind: SocketAddr,
    /// How the public listener is reached from outside (portal links);
    /// unset, `http://<public_bind>`.
    pub public_url: Option<String>,
    pub admin_bind: SocketAddr,
    #[serde(with = "serde_duration")]
    pub shutdown_grace: Duration,
    /// A request body must arrive in full within this time of its headers.
    #[serde(with = "serde_duration")]
    pub request_body_timeout: Duration,
    /// Connections the public listener holds at once; more wait in the
    /// kernel's backlog, so file descriptors stay free for the admin
    /// listener and outbound deliveries.
    pub public_max_connections: usize,
    /// PEM certificate chain and private key: the public listener then
    /// speaks HTTPS only. Both or neither.
    pub public_tls_cert: Option<PathBuf>,
    pub public_tls_key: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            public_bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_url: None,
            admin_bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            shutdown_grace: Duration::from_secs(30),
            request_body_timeout: Duration::from_secs(10),
            public_max_connections: 10_000,
            public_tls_cert: None,
            public_tls_key: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    pub tokens: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledge only after a flush covering the write.
    Flush,
    /// Rely on sled's periodic sync; the last moments may be lost on a crash.
    Background,
}

/// Which database holds hookd's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// The embedded sled database under `data_dir`: one node.
    #[default]
    Sled,
    /// A PostgreSQL database shared by several nodes.
    Postgres,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    pub backend: StorageBackend,
    pub data_dir: PathBuf,
    pub durability: Durability,
    #[serde(with = "serde_duration")]
    pub event_retention: Duration,
    /// How often the retention sweep runs (it also runs once at start-up).
    #[serde(with = "serde_duration")]
    pub retention_interval: Duration,
    /// sled's page cache, in bytes of on-disk size (sled's own default is 1 GiB).
    pub cache_capacity: u64,
    /// `postgres://user:password@host:port/database`; required by the
    /// postgres backend.
    pub postgres_url: Option<String>,
    /// Connections each node keeps to PostgreSQL at most.
    pub postgres_pool_size: usize,
    /// Set on every connection, so a stuck statement fails instead of
    /// holding a pooled connection forever.
    #[serde(with = "serde_duration")]
    pub postgres_statement_timeout: Duration,
    /// How long a node's claim on a delivery holds without renewal: after a
    /// node dies, its claims return to the others within this time.
    #[serde(with = "serde_duration")]
    pub postgres_claim_lease: Duration,
}

impl Default for StorageSettings {
    fn default() -> Self {
        StorageSettings {
            data_dir: PathBuf::from("./data"),
            durability: Durability::Flush,
            event_retention: Duration::from_secs(30 * 86_400),
            retention_interval: Duration::from_secs(60),
            cache_capacity: 8 * 1024 * 1024,
            backend: StorageBackend::Sled,
            postgres_url: None,
            postgres_pool_size: 16,
            postgres_statement_timeout: Duration::from_secs(5),
            postgres_claim_lease: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    pub allow_http: bool,
    pub allow_private_targets: bool,
    pub retry_schedule: RetrySchedule,
    #[serde(with = "serde_duration")]
    pub timeout: Duration,
    pub max_in_flight: u32,
    pub max_in_flight_total: u32,
    pub disable_after_failures: u32,
    /// `disable_after_failures` disables only once the endpoint has also
    /// been failing this long, so a short outage never switches it off.
    #[serde(with = "serde_duration")]
    pub disable_min_failing: Duration,
    #[serde(with = "serde_duration")]
    pub disable_after: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            allow_http: false,
            allow_private_targets: false,
            retry_schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(30),
            max_in_flight: 16,
            max_in_flight_total: 512,
            disable_after_failures: 100,
            disable_min_failing: Duration::from_secs(3600),
            disable_after: Duration::from_secs(5 * 86_400),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    pub max_payload_bytes: usize,
    #[serde(with = "serde_duration")]
    pub idempotency_window: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            max_payload_bytes: 256 * 1024,
            idempotency_window: Duration::from_secs(86_400),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    Token,
    Open,
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PartnerSettings {
    pub registration: RegistrationMode,
    pub registration_tokens: Vec<String>,
    pub events: Vec<String>,
    pub inbound_events: Vec<String>,
    pub retry_schedule: RetrySchedule,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        let schedule = ["0s", "1s", "2s"].map(String::from);
        PartnerSettings {
            registration: RegistrationMode::Token,
            registration_tokens: Vec::new(),
            events: Vec::new(),
            inbound_events: Vec::new(),
            retry_schedule: RetrySchedule::parse(&schedule).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

impl Settings {
    /// Reads `path` (a missing file means all defaults) and then the process environment.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        Self::load_with_env(path, None)
    }

    /// As [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_with_env(
        path: &Path,
        env: Option<config::Map<String, String>>,
    ) -> Result<Settings, ConfigError> {
        let mut environment = config::Environment::with_prefix("HOOKD")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .source(env);
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(path).required(false))
            .add_source(environment)
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_string(),
            })
        };
        if self.server.request_body_timeout.is_zero() {
            return invalid("server.request_body_timeout", "must be longer than 0s");
        }
        if self.server.public_max_connections == 0 {
            return invalid("server.public_max_connections", "must be at least 1");
        }
        if self.server.public_tls_cert.is_some() != self.server.public_tls_key.is_some() {
            return invalid(
                "server.public_tls_cert",
                "server.public_tls_cert and server.public_tls_key must be set together",
            );
        }
        if self.delivery.max_in_flight == 0 {
            return invalid("delivery.max_in_flight", "must be at least 1");
        }
        if self.delivery.max_in_flight_total == 0 {
            return invalid("delivery.max_in_flight_total", "must be at least 1");
        }
        if self.delivery.timeout.is_zero() {
            return invalid("delivery.timeout", "must be longer than 0s");
        }
        if self.delivery.disable_after_failures == 0 {
            return invalid("delivery.disable_after_failures", "must be at least 1");
        }
        if self.storage.event_retention.is_zero() {
            return invalid("storage.event_retention", "must be longer than 0s");
        }
        if self.storage.retention_interval.is_zero() {
            return invalid("storage.retention_interval", "must be longer than 0s");
        }
        if self.storage.backend == StorageBackend::Postgres && self.storage.postgres_url.is_none() {
            return invalid(
                "storage.postgres_url",
                "storage.backend = \"postgres\" needs storage.postgres_url (postgres://user:password@host:port/database)",
            );
        }
        if self.storage.postgres_pool_size == 0 {
            return invalid("storage.postgres_pool_size", "must be at least 1");
        }
        if self.storage.postgres_claim_lease < Duration::from_secs(1) {
            return invalid("storage.postgres_claim_lease", "must be at least 1s");
        }
        if self.storage.postgres_statement_timeout.is_zero() {
            return invalid(
                "storage.postgres_statement_timeout",
                "must be longer than 0s",
            );
        }
        if self.events.max_payload_bytes == 0 {
            return invalid("events.max_payload_bytes", "must be at least 1");
        }
        if self.admin.tokens.iter().any(|t| t.len() < 16) {
            return invalid("admin.tokens", "every token needs at least 16 characters");
        }
        let web_url = |text: &str| {
            url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        };
        if self
            .server
            .public_url
            .as_deref()
            .is_some_and(|u| !web_url(u))
        {
            return invalid("server.public_url", "must be an http:// or https:// URL");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid("log.level", "is not a valid tracing filter");
        }
        Ok(())
    }

    /// The effective configuration as JSON, with every secret replaced by `***`.
    pub fn masked(&self) -> serde_json::Value {
        let mut copy = self.clone();
        let mask = |tokens: &mut Vec<String>| tokens.iter_mut().for_each(|t| *t = "***".into());
        mask(&mut copy.admin.tokens);
        mask(&mut copy.partners.registration_tokens);
        serde_json::to_value(&copy).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Path::new("/nonexistent/hookd.toml"), Some(map))
    }

    #[test]
    fn defaults_match_the_spec() {
        let s = load(&[]).unwrap();
        assert_eq!(s.server.admin_bind.to_string(), "127.0.0.1:8081");
        assert_eq!(s.delivery.retry_schedule.attempts(), 5);
        assert_eq!(s.partners.retry_schedule.attempts(), 3);
        assert_eq!(s.storage.durability, Durability::Flush);
        assert_eq!(s.storage.retention_interval, Duration::from_secs(60));
        assert_eq!(s.delivery.disable_min_failing, Duration::from_secs(3600));
    }

    /// `config.toml` documents every key with its default: a value changed
    /// in one place and not the other fails here.
    #[test]
    fn the_shipped_config_file_holds_the_defaults() {
        let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml"));
        let from_file = Settings::load_with_env(shipped, Some(config::Map::new())).unwrap();
        assert_eq!(
            serde_json::to_value(&from_file).unwrap(),
            serde_json::to_value(load(&[]).unwrap()).unwrap()
        );
    }

    #[test]
    fn retention_accepts_short_values_but_not_zero() {
        let s = load(&[
            ("HOOKD__STORAGE__EVENT_RETENTION", "2s"),
            ("HOOKD__STORAGE__RETENTION_INTERVAL", "200ms"),
        ])
        .unwrap();
        assert_eq!(s.storage.event_retention, Duration::from_secs(2));
        assert_eq!(s.storage.retention_interval, Duration::from_millis(200));
        let err = load(&[("HOOKD__STORAGE__RETENTION_INTERVAL", "0s")]).unwrap_err();
        assert!(err.to_string().contains("retention_interval"), "{err}");
    }

    #[test]
    fn environment_overrides_scalars_and_lists() {
        let s = load(&[
            ("HOOKD__SERVER__ADMIN_BIND", "127.0.0.1:9000"),
            ("HOOKD__ADMIN__TOKENS", "aaaaaaaaaaaaaaaa,bbbbbbbbbbbbbbbb"),
            ("HOOKD__DELIVERY__RETRY_SCHEDULE", "0s,10s"),
            ("HOOKD__DELIVERY__TIMEOUT", "5s"),
        ])
        .unwrap();
        assert_eq!(s.server.admin_bind.port(), 9000);
        assert_eq!(s.admin.tokens.len(), 2);
        assert_eq!(s.delivery.retry_schedule.attempts(), 2);
        assert_eq!(s.delivery.timeout, Duration::from_secs(5));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = load(&[("HOOKD__DELIVERY__TIMEOUT", "soon")]).unwrap_err();
        assert!(err.to_string().contains("timeout"), "{err}");
        let err = load(&[("HOOKD__DELIVERY__MAX_IN_FLIGHT", "0")]).unwrap_err();
        assert!(err.to_string().contains("delivery.max_in_flight"), "{err}");
        let err = load(&[("HOOKD__SERVER__PUBLIC_URL", "hooks.example.com")]).unwrap_err();
        assert!(err.to_string().contains("server.public_url"), "{err}");
        let set = load(&[("HOOKD__SERVER__PUBLIC_URL", "https://hooks.example.com")]);
        assert!(set.is_ok_and(|s| s.server.public_url.is_some()));
    }

    #[test]
    fn the_postgres_backend_needs_a_url() {
        assert_eq!(load(&[]).unwrap().storage.backend, StorageBackend::Sled);
        let err = load(&[("HOOKD__STORAGE__BACKEND", "postgres")]).unwrap_err();
        assert!(err.to_string().contains("storage.postgres_url"), "{err}");
        let s = load(&[
            ("HOOKD__STORAGE__BACKEND", "postgres"),
            ("HOOKD__STORAGE__POSTGRES_URL", "postgres://hookd@db/hookd"),
            ("HOOKD__STORAGE__POSTGRES_STATEMENT_TIMEOUT", "2s"),
        ])
        .unwrap();
        assert_eq!(s.storage.backend, StorageBackend::Postgres);
        assert_eq!(s.storage.postgres_pool_size, 16);
        assert_eq!(s.storage.postgres_statement_timeout, Duration::from_secs(2));
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let err = load(&[("HOOKD__SERVER__PUBLIC_TLS_CERT", "/etc/cert.pem")]).unwrap_err();
        assert!(err.to_string().contains("public_tls_key"), "{err}");
        let s = load(&[
            ("HOOKD__SERVER__PUBLIC_TLS_CERT", "/etc/cert.pem"),
            ("HOOKD__SERVER__PUBLIC_TLS_KEY", "/etc/key.pem"),
        ])
        .unwrap();
        assert!(s.server.public_tls_key.is_some());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = load(&[("HOOKD__DELIVERY__RETRIES", "3")]).unwrap_err();
        assert!(err.to_string().contains("retries"), "{err}");
    }

    #[test]
    fn masking_hides_tokens() {
        let s = load(&[("HOOKD__ADMIN__TOKENS", "supersecrettoken1")]).unwrap();
        let text = s.masked().to_string();
        assert!(!text.contains("supersecrettoken1"));
    }
}
