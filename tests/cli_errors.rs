//! Black-box tests of how the admin commands find the daemon and how they
//! fail: the listener and token from the config, the overrides, and exit
//! codes 1 (API or connection) and 2 (usage).

mod common;

use common::cli::hookd;
use common::{Daemon, ADMIN_TOKEN};
use serde_json::json;

#[actix_web::test]
async fn usage_errors_exit_2_and_store_nothing() {
    let daemon = Daemon::start(&[]);
    let cases: [&[&str]; 6] = [
        &["endpoints", "frobnicate"],
        &["endpoints", "create", "--url", "https://example.com/"],
        &["endpoints", "update", "ep_x"],
        &["events", "publish", "--type", "a.b", "--data", "{not json"],
        &["events", "publish", "--type", "a.b", "--data", "[1]"],
        &["replay", "start", "--from", "2024-01-01T00:00:00Z"],
    ];
    for args in cases {
        let run = daemon.cli(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty(), "{args:?}: a usage message");
    }
    assert_eq!(common::event_count(&daemon).await, 0);
    let (_, endpoints) = daemon.api("GET", "/webhooks", None).await;
    assert_eq!(endpoints["data"], json!([]));
}

#[actix_web::test]
async fn api_and_connection_errors_exit_1_with_the_message() {
    let daemon = Daemon::start(&[]);
    let missing = daemon
        .cli(&["endpoints", "show", "ep_01HQ0000000000000000000000"])
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("404"), "{missing:?}");
    let (_, answer) = daemon
        .api(
            "POST",
            "/events",
            Some(&json!({"type": "Bad Type", "data": {}})),
        )
        .await;
    let refused = daemon
        .cli(&["events", "publish", "--type", "Bad Type"])
        .await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains(answer["message"].as_str().unwrap()),
        "{refused:?}"
    );

    let wrong = hookd(
        &[
            "--url",
            &daemon.admin,
            "--token",
            "not-the-token-at-all",
            "endpoints",
            "list",
        ],
        &[],
    )
    .await;
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("401"), "{wrong:?}");
    let unreachable = hookd(
        &[
            "--url",
            "http://127.0.0.1:9",
            "--token",
            ADMIN_TOKEN,
            "endpoints",
            "list",
        ],
        &[],
    )
    .await;
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable.stderr.contains("cannot reach"),
        "{unreachable:?}"
    );
}

/// A port free at the moment of asking, so a daemon and the CLI can both
/// read it from the same config.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[actix_web::test]
async fn the_listener_and_token_come_from_the_config() {
    let bind = format!("127.0.0.1:{}", free_port());
    let env = [("HOOKD__SERVER__ADMIN_BIND", bind.as_str())];
    // No admin.tokens: the daemon generates <data_dir>/admin.token.
    let daemon = Daemon::start_with(&env, false);
    let config = daemon.config_path().to_str().unwrap().to_string();
    let listed = hookd(&["--config", &config, "--json", "endpoints", "list"], &env).await;
    assert_eq!(listed.json()["data"], json!([]));
    // HOOKD_TOKEN overrides the file, and a wrong one is refused.
    let mut with_env = env.to_vec();
    with_env.push(("HOOKD_TOKEN", "not-the-generated-token"));
    let overridden = hookd(&["--config", &config, "endpoints", "list"], &with_env).await;
    assert_eq!(overridden.code, 1, "{overridden:?}");
    assert!(overridden.stderr.contains("401"));
    // --url overrides the config's listener.
    let elsewhere = hookd(
        &[
            "--config",
            &config,
            "--url",
            "http://127.0.0.1:9",
            "endpoints",
            "list",
        ],
        &env,
    )
    .await;
    assert!(elsewhere.stderr.contains("127.0.0.1:9"), "{elsewhere:?}");
}
