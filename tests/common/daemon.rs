//! The daemon under test: the real `hookd` binary on ephemeral ports with a
//! temp data dir, a known admin token and loopback targets allowed. Shared by
//! the integration tests (through tests/common/mod.rs) and by
//! benches/pipeline/main.rs, so both drive the same start-up, configuration
//! and admin calls.
//!
//! The fallible `try_*`/`launch` forms serve the benchmark, which reports a
//! failed scenario and goes on; the tests use the panicking forms.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::pg_database::TestDatabase;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// How long a start may take until the daemon logs its listeners: a large
/// backlog is recovered before they open.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running daemon. Dropping it kills the process.
pub struct Daemon {
    child: Option<Child>,
    /// With `HOOKD_TEST_BACKEND=postgres`, the database it runs on
    /// (dropped after the process).
    database: Option<TestDatabase>,
    pub data_dir: tempfile::TempDir,
    config_path: PathBuf,
    pub admin: String,
    pub public: String,
    /// From the last spawn until the daemon logged its listeners.
    pub ready_after: Duration,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Log lines kept: a benchmark's daemon logs every request, so it keeps
    /// only a tail, while a test keeps all of them to assert on.
    log_lines: usize,
    /// One pooled client for `try_api`, made on first use (an awc client
    /// must be made inside the runtime that uses it).
    client: OnceCell<awc::Client>,
}

/// Resident set of the daemon's process, in bytes.
pub struct Memory {
    pub rss: u64,
    /// The peak (VmHWM) since the process started.
    pub hwm: u64,
}

/// The base configuration of every test: loopback targets allowed, a known token.
fn base_config(data_dir: &Path, with_token: bool) -> String {
    let tokens = if with_token {
        format!("tokens = [\"{ADMIN_TOKEN}\"]")
    } else {
        String::new()
    };
    format!(
        r#"
[server]
public_bind = "127.0.0.1:0"
admin_bind = "127.0.0.1:0"
shutdown_grace = "5s"

[admin]
{tokens}

[storage]
data_dir = "{}"

[delivery]
allow_http = true
allow_private_targets = true
"#,
        data_dir.display()
    )
}

impl Daemon {
    /// Starts with the base configuration, overridden by `env`
    /// (`HOOKD__SECTION__KEY` variables).
    pub fn start(env: &[(&str, &str)]) -> Daemon {
        Self::start_with(env, true)
    }

    /// As [`Daemon::start`]; `with_token: false` leaves `admin.tokens` empty.
    pub fn start_with(env: &[(&str, &str)], with_token: bool) -> Daemon {
        Self::launch(env, with_token, usize::MAX).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Daemon::start_with`], keeping only the last `log_lines` lines.
    pub fn launch(
        env: &[(&str, &str)],
        with_token: bool,
        log_lines: usize,
    ) -> Result<Daemon, String> {
        let mut daemon = Self::configured(with_token, log_lines)?;
        daemon.spawn(env)?;
        Ok(daemon)
    }

    /// As [`Daemon::start`], on a copy of the data directory `seed` (one an
    /// earlier build wrote), so the test never changes the original.
    pub fn start_on_copy(seed: &Path, env: &[(&str, &str)]) -> Daemon {
        let started = Self::configured(true, usize::MAX).and_then(|mut daemon| {
            copy_dir(seed, &daemon.storage_dir()).map_err(|e| format!("copy {seed:?}: {e}"))?;
            daemon.spawn(env)?;
            Ok(daemon)
        });
        started.unwrap_or_else(|e| panic!("{e}"))
    }

    /// A daemon with its temp dir and configuration, not started yet.
    fn configured(with_token: bool, log_lines: usize) -> Result<Daemon, String> {
        let data_dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let config_path = data_dir.path().join("hookd.toml");
        let mut config = base_config(&data_dir.path().join("data"), with_token);
        let database = match std::env::var("HOOKD_TEST_BACKEND").as_deref() {
            Ok("postgres") => Some(TestDatabase::create("hookd_test")?),
            _ => None,
        };
        if let Some(database) = &database {
            config = config.replace(
                "[storage]\n",
                &format!(
                    "[storage]\nbackend = \"postgres\"\npostgres_url = \"{}\"\npostgres_claim_lease = \"3s\"\n",
                    database.url
                ),
            );
        }
        std::fs::write(&config_path, config).map_err(|e| format!("write config: {e}"))?;
        Ok(Daemon {
            child: None,
            database,
            data_dir,
            config_path,
            admin: String::new(),
            public: String::new(),
            ready_after: Duration::ZERO,
            log: Arc::default(),
            log_lines,
            client: OnceCell::new(),
        })
    }

    /// `storage.data_dir`: what sled writes.
    pub fn storage_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// Starts the process on this daemon's data dir and configuration and
    /// waits until it logs its listeners.
    pub fn spawn(&mut self, env: &[(&str, &str)]) -> Result<(), String> {
        let started = Instant::now();
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookd"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| format!("spawn hookd: {e}"))?;
        let stdout = child.stdout.take().ok_or("hookd: no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let (log, keep) = (self.log.clone(), self.log_lines);
        // Keeps the pipe drained: a full pipe would stall the daemon.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                let mut log = log.lock().unwrap();
                if log.len() >= keep {
                    log.pop_front();
                }
                log.push_back(line);
            }
        });
        self.child = Some(child);
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| format!("hookd did not start; log:\n{}", self.log_text()))?;
        self.ready_after = started.elapsed();
        self.public = format!("http://{}", field(&line, "public="));
        self.admin = format!("http://{}", field(&line, "admin="));
        Ok(())
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The sled database inside the data dir.
    pub fn db_path(&self) -> PathBuf {
        self.storage_dir().join("db")
    }

    pub fn log_text(&self) -> String {
        Vec::from(self.log.lock().unwrap().clone()).join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Current and peak resident set, from /proc (zero once stopped).
    pub fn memory(&self) -> Memory {
        let status = self
            .child
            .as_ref()
            .and_then(|child| std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok())
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        Memory {
            rss: kib("VmRSS:"),
            hwm: kib("VmHWM:"),
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.try_stop().unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Daemon::stop`]; after 60 s the process is killed and this fails.
    pub fn try_stop(&mut self) -> Result<ExitStatus, String> {
        let mut child = self.child.take().ok_or("hookd is not running")?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err("hookd did not stop on SIGTERM".into())
    }

    /// SIGKILL: the process gets no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        child.wait().expect("reap");
    }

    /// Starts again on the same data dir and configuration.
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "unclean stop: {status:?}");
        }
        self.spawn(env).unwrap_or_else(|e| panic!("{e}"));
    }

    /// One request with `client`; the answer's JSON, or its text as a string.
    pub async fn request_with(
        client: &awc::Client,
        method: &str,
        url: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let method = awc::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = client.request(method, url);
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        }
        .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .map_err(|e| format!("{url}: body: {e}"))?;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, json))
    }

    /// One request on a fresh connection.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        Self::request_with(&client, method, url, body, token)
            .await
            .unwrap_or_else(|e| panic!("request: {e}"))
    }

    /// An authenticated admin API call: `api("POST", "/webhooks", Some(&body))`.
    pub async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{}", self.admin, path);
        self.request(method, &url, body, Some(ADMIN_TOKEN)).await
    }

    /// As [`Daemon::api`], on pooled keep-alive connections (up to 64 at once).
    pub async fn try_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let client = self.client.get_or_init(|| {
            awc::Client::builder()
                .timeout(Duration::from_secs(30))
                .connector(awc::Connector::new().limit(64))
                .finish()
        });
        let url = format!("{}/api/v1{}", self.admin, path);
        Self::request_with(client, method, &url, body, Some(ADMIN_TOKEN)).await
    }

    /// Creates an endpoint from a whole `POST /webhooks` body.
    pub async fn try_create_endpoint(&self, body: &Value) -> Result<Value, String> {
        let (status, json) = self.try_api("POST", "/webhooks", Some(body)).await?;
        if status != 201 {
            return Err(format!("create endpoint: status {status}: {json}"));
        }
        Ok(json)
    }

    /// Creates an endpoint for `url` subscribed to `events`, with extra fields.
    pub async fn create_endpoint(&self, url: &str, events: &[&str], extra: Value) -> Value {
        let mut body = serde_json::json!({"url": url, "events": events});
        if let (Some(target), Some(fields)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in fields {
                target.insert(k.clone(), v.clone());
            }
        }
        let (status, json) = self.api("POST", "/webhooks", Some(&body)).await;
        assert_eq!(status, 201, "create endpoint: {json}");
        json
    }

    pub async fn publish(&self, event_type: &str, data: Value) -> Value {
        let body = serde_json::json!({"type": event_type, "data": data});
        let (status, json) = self.api("POST", "/events", Some(&body)).await;
        assert_eq!(status, 202, "publish: {json}");
        json
    }
}

/// Log lines a failing test shows of its daemon.
const LOG_LINES_ON_FAILURE: usize = 80;

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed assertion says what went wrong; the daemon's last lines
        // say why (a write refused, an endpoint that could not be saved).
        if std::thread::panicking() {
            let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let skip = log.len().saturating_sub(LOG_LINES_ON_FAILURE);
            eprintln!("--- the daemon's last {} log lines", log.len() - skip);
            for line in log.iter().skip(skip) {
                eprintln!("{line}");
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The word after `name` in a log line (`admin=127.0.0.1:4321`).
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line.find(name).map_or(line.len(), |i| i + name.len());
    line[start..].split_whitespace().next().unwrap_or("")
}

/// Copies the directory `from` (files and subdirectories) to `to`.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
