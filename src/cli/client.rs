//! The admin commands' way to the daemon: where its admin listener is and
//! which token to send (from the config unless given), and one awc client
//! that turns every answer into JSON or a [`CliError`].

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

use super::AdminOptions;
use crate::config::Settings;

/// Why an admin command failed, and the exit code that says so.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The API answered with an error: its own message.
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    #[error("cannot reach the admin API at {url}: {reason}")]
    Connection { url: String, reason: String },
    #[error("{0}")]
    Token(String),
    /// Something the API reported as having gone wrong (a failed replay job).
    #[error("{0}")]
    Failed(String),
    /// Bad input caught before any request: a usage error.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
}

impl CliError {
    /// 1 for the API or the connection, 2 for usage (as clap's own errors).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) | CliError::Config(_) => ExitCode::from(2),
            CliError::Api { .. }
            | CliError::Connection { .. }
            | CliError::Token(_)
            | CliError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

/// The admin API's base URL and the bearer token for it.
pub struct Target {
    pub url: String,
    pub token: String,
}

impl Target {
    /// `--url` and `--token`/`HOOKD_TOKEN` win; what they leave open comes
    /// from the config file (and its `HOOKD__…` overrides).
    pub fn resolve(config: &Path, options: &AdminOptions) -> Result<Target, CliError> {
        if let (Some(url), Some(token)) = (&options.url, &options.token) {
            return Ok(Target::new(url, token));
        }
        let settings = Settings::load(config)?;
        let url = match &options.url {
            Some(url) => url.clone(),
            None => {
                let mut bind = settings.server.admin_bind;
                // A listener on every address is reached on loopback.
                if bind.ip().is_unspecified() {
                    bind.set_ip(match bind.ip() {
                        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                format!("http://{bind}")
            }
        };
        let token = match (&options.token, settings.admin.tokens.first()) {
            (Some(token), _) | (None, Some(token)) => token.clone(),
            (None, None) => {
                let path = settings.storage.data_dir.join("admin.token");
                let token = std::fs::read_to_string(&path).map_err(|e| {
                    CliError::Token(format!(
                        "no admin token: cannot read {} ({e}); pass --token or set HOOKD_TOKEN",
                        path.display()
                    ))
                })?;
                token.trim().to_string()
            }
        };
        Ok(Target::new(&url, &token))
    }

    fn new(url: &str, token: &str) -> Target {
        Target {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }
}

/// One request's method, path under `/api/v1`, query, body and extra headers.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub body: Option<Value>,
    pub headers: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>) -> Call<'a> {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn get(path: impl Into<String>) -> Call<'a> {
        Call::new(Method::GET, path)
    }

    /// Adds `name=value` when there is a value.
    pub fn query(mut self, name: &'a str, value: Option<impl ToString>) -> Call<'a> {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    pub fn body(mut self, body: Value) -> Call<'a> {
        self.body = Some(body);
        self
    }
}

pub struct AdminClient {
    target: Target,
    http: awc::Client,
}

impl AdminClient {
    pub fn new(target: Target) -> AdminClient {
        // awc's rustls connector (an https --url) needs a process-wide crypto
        // provider; an error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = awc::Client::builder()
            .disable_redirects()
            .timeout(Duration::from_secs(30))
            .finish();
        AdminClient { target, http }
    }

    /// Sends `call`; the answer's JSON (`null` for an empty body), or the
    /// API's error message.
    pub async fn send(&self, call: Call<'_>) -> Result<Value, CliError> {
        let mut url = format!("{}/api/v1{}", self.target.url, call.path);
        if !call.query.is_empty() {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&call.query)
                .finish();
            url = format!("{url}?{query}");
        }
        let mut request = self
            .http
            .request(call.method, &url)
            .bearer_auth(&self.target.token);
        for (name, value) in call.headers {
            request = request.insert_header((name, value));
        }
        let sent = match &call.body {
            Some(body) => request.send_json(body).await,
            None => request.send().await,
        };
        let mut response = sent.map_err(|e| CliError::Connection {
            url: self.target.url.clone(),
            reason: e.to_string(),
        })?;
        let bytes =
            response
                .body()
                .limit(64 * 1024 * 1024)
                .await
                .map_err(|e| CliError::Connection {
                    url: self.target.url.clone(),
                    reason: e.to_string(),
                })?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        let status = response.status();
        if status.is_success() {
            return Ok(json.unwrap_or(Value::Null));
        }
        let message = json
            .as_ref()
            .and_then(|body| body["message"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        Err(CliError::Api {
            status: status.as_u16(),
            message,
        })
    }
}
