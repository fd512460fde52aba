//! Running the binary's admin commands against a test daemon, off the test's
//! runtime so that a receiver on that runtime keeps answering meanwhile.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{Daemon, ADMIN_TOKEN};

/// What one `hookd …` run gave back.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// Asserts success and parses stdout (from a `--json` run).
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "hookd failed: {self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Asserts success; the table or message printed.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "hookd failed: {self:?}");
        &self.stdout
    }
}

/// `hookd <args>` with the environment `env`, stdin closed.
pub async fn hookd(args: &[&str], env: &[(&str, &str)]) -> CliRun {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookd"));
    command
        .args(args)
        .env_remove("HOOKD_TOKEN")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let out = actix_web::rt::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run hookd");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Daemon {
    /// An admin command aimed at this daemon by `--url` and `--token`.
    pub async fn cli(&self, args: &[&str]) -> CliRun {
        let mut all = vec!["--url", &self.admin, "--token", ADMIN_TOKEN];
        all.extend_from_slice(args);
        hookd(&all, &[]).await
    }
}
