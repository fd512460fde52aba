//! Test harness: the real `hookd` binary on ephemeral ports with a temp data
//! dir, driven over real HTTP, delivering to a real local receiver.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod guide_code;
pub mod partner;
pub mod receiver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use receiver::{Receiver, Reply};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running daemon. Dropping it kills the process.
pub struct Daemon {
    child: Option<Child>,
    pub data_dir: tempfile::TempDir,
    config_path: PathBuf,
    pub admin: String,
    pub public: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The base configuration of every test: loopback targets allowed, a known token.
fn base_config(data_dir: &std::path::Path, with_token: bool) -> String {
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
        let mut daemon = Self::configured(with_token);
        daemon.spawn(env);
        daemon
    }

    /// As [`Daemon::start`], on a copy of the data directory `seed` (one an
    /// earlier build wrote), so the test never changes the original.
    pub fn start_on_copy(seed: &std::path::Path, env: &[(&str, &str)]) -> Daemon {
        let mut daemon = Self::configured(true);
        copy_dir(seed, &daemon.storage_dir());
        daemon.spawn(env);
        daemon
    }

    fn configured(with_token: bool) -> Daemon {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config_path = data_dir.path().join("hookd.toml");
        let config = base_config(&data_dir.path().join("data"), with_token);
        std::fs::write(&config_path, config).expect("write config");
        Daemon {
            child: None,
            data_dir,
            config_path,
            admin: String::new(),
            public: String::new(),
            log: Arc::default(),
        }
    }

    /// `storage.data_dir`: what sled writes.
    pub fn storage_dir(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    fn spawn(&mut self, env: &[(&str, &str)]) {
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
        let mut child = command.spawn().expect("spawn hookd");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = tx.send(line.clone());
                }
                log.lock().unwrap().push(line);
            }
        });
        self.child = Some(child);
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => panic!("hookd did not start; log:\n{}", self.log_text()),
        };
        self.public = format!("http://{}", field(&line, "public="));
        self.admin = format!("http://{}", field(&line, "admin="));
    }

    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "hookd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
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
        self.spawn(env);
    }

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
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client.request(method, url);
        if let Some(token) = token {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        let mut response = match body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        }
        .expect("request");
        let status = response.status().as_u16();
        let bytes = response.body().limit(16 * 1024 * 1024).await.expect("body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, json)
    }

    /// An authenticated admin API call: `api("POST", "/webhooks", Some(&body))`.
    pub async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}/api/v1{}", self.admin, path);
        self.request(method, &url, body, Some(ADMIN_TOKEN)).await
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

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies the directory `from` (files and subdirectories) to `to`.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(name)
        .map(|i| i + name.len())
        .unwrap_or(line.len());
    line[start..].split_whitespace().next().unwrap_or("")
}

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `receiver` has exactly `n` requests (more is a failure).
pub async fn wait_count(receiver: &Receiver, n: usize) {
    wait_for(
        &format!("{n} requests"),
        Duration::from_secs(30),
        || async { (receiver.count() >= n).then_some(()) },
    )
    .await;
    assert_eq!(receiver.count(), n, "more requests than expected");
}

/// A delivery as `GET /deliveries/{id}` shows it.
pub async fn delivery(daemon: &Daemon, id: &str) -> Value {
    let (status, body) = daemon.api("GET", &format!("/deliveries/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The deliveries `GET /events/{id}` lists for a published event.
pub async fn deliveries_of(daemon: &Daemon, event: &Value) -> Vec<Value> {
    let (status, body) = daemon
        .api(
            "GET",
            &format!("/events/{}", event["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().cloned().unwrap_or_default()
}

pub async fn only_delivery_of(daemon: &Daemon, event: &Value) -> String {
    deliveries_of(daemon, event).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn wait_status(daemon: &Daemon, id: &str, status: &str) -> Value {
    wait_for(
        &format!("delivery {id} to be {status}"),
        Duration::from_secs(20),
        || async {
            let body = delivery(daemon, id).await;
            (body["status"] == status).then_some(body)
        },
    )
    .await
}

/// An admin API call with a raw body and an explicit content type.
pub async fn raw(
    daemon: &Daemon,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let client = awc::Client::default();
    let url = format!("{}/api/v1{}", daemon.admin, path);
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client
        .request(method, url)
        .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")));
    if let Some(content_type) = content_type {
        request = request.insert_header(("Content-Type", content_type));
    }
    let mut response = request.send_body(body.to_vec()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.body().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Every error is `{"error": <code>, "message": <sentence>}` (docs/api.md, Errors).
pub fn assert_error_shape(body: &Value) {
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// How many events the log holds (up to 1000).
pub async fn event_count(daemon: &Daemon) -> usize {
    let (status, body) = daemon.api("GET", "/events?limit=1000", None).await;
    assert_eq!(status, 200);
    body["data"].as_array().unwrap().len()
}
