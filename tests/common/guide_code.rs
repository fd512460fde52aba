//! Running the platform guides' own receiver code, kept verbatim in
//! `tests/compat/`, against deliveries a real daemon made: the snippets'
//! files, and python3 / node runs that skip with a message where the
//! interpreter is missing.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where the snippets live, each exactly as its guide prints it.
pub fn snippet_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(name)
}

pub fn snippet(name: &str) -> String {
    std::fs::read_to_string(snippet_path(name)).expect("snippet file")
}

/// What an interpreter run gave back.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// True when `program` can be started; otherwise says which test skips why.
pub fn available(program: &str, test: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("SKIPPED {test}: {program} is not installed");
    }
    found
}

/// Runs `program args…` with `stdin` piped in and `env` set.
pub fn run(program: &str, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Loads a snippet with `exec` and calls `function(raw body as text,
/// signature, secret)`, the three-argument verifiers of the streaming,
/// waste-management and fashion-catalog guides. Exit 0: verified; 1: refused.
const PY_VERIFY: &str = r#"
import sys
ns = {}
exec(open(sys.argv[1], encoding="utf-8").read(), ns)
payload = sys.stdin.buffer.read().decode("utf-8")
sys.exit(0 if ns[sys.argv[2]](payload, sys.argv[3], sys.argv[4]) else 1)
"#;

/// Whether the snippet's three-argument verifier accepts `body`.
pub fn python_verifies(
    snippet: &str,
    function: &str,
    body: &[u8],
    sig: &str,
    secret: &str,
) -> bool {
    let path = snippet_path(snippet);
    let path = path.to_str().expect("UTF-8 path");
    let out = run(
        "python3",
        &["-c", PY_VERIFY, path, function, sig, secret],
        &[],
        body,
    );
    assert!(
        out.success || out.stderr.is_empty(),
        "{snippet} raised: {}",
        out.stderr
    );
    out.success
}
