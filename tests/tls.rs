//! Black-box tests of TLS on the public listener: the partner protocol's
//! registration and self-service over HTTPS with a self-signed certificate,
//! plain HTTP refused on the TLS port, a renewed certificate loaded on
//! SIGHUP, and the warning when a reachable public listener has no TLS.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::partner::{CATALOG, OPEN};
use common::{wait_for, Daemon};
use serde_json::json;

/// A fresh self-signed certificate for 127.0.0.1 and localhost, written as
/// PEM to `dir`; returns its DER for a client to trust.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let generated = rcgen::generate_simple_self_signed(names).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    (cert, key, generated.cert.der().to_vec())
}

/// An HTTPS client that trusts only `trusted`.
fn client_trusting(trusted: &[u8]) -> awc::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(trusted.to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(config)))
        .finish()
}

fn https(daemon: &Daemon) -> String {
    daemon.public.replacen("http://", "https://", 1)
}

fn start_with_tls(cert: &Path, key: &Path) -> Daemon {
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    Daemon::start(&[
        OPEN,
        CATALOG,
        ("HOOKD__SERVER__PUBLIC_TLS_CERT", cert.as_str()),
        ("HOOKD__SERVER__PUBLIC_TLS_KEY", key.as_str()),
    ])
}

#[actix_web::test]
async fn registration_and_self_service_run_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path());
    let daemon = start_with_tls(&cert, &key);
    let client = client_trusting(&der);
    let base = https(&daemon);

    let registration = json!({
        "partner_name": "Tu Grupo - Nombre",
        "webhook_url": "https://tu-dominio.com/webhooks/events",
        "events": ["payment.success", "booking.confirmed"]
    });
    let url = format!("{base}/partners/register");
    let (status, registered) =
        Daemon::request_with(&client, "POST", &url, Some(&registration), None)
            .await
            .unwrap();
    assert_eq!(status, 201, "{registered}");
    let secret = registered["shared_secret"].as_str().unwrap().to_string();

    let me = format!("{base}/partners/me");
    let (status, view) = Daemon::request_with(&client, "GET", &me, None, Some(&secret))
        .await
        .unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["partner_id"], registered["partner_id"]);
    let patch = json!({"events": ["payment.success"]});
    let (status, view) = Daemon::request_with(&client, "PATCH", &me, Some(&patch), Some(&secret))
        .await
        .unwrap();
    assert_eq!(status, 200, "{view}");
    let rotate = format!("{me}/rotate-secret");
    let (status, rotated) = Daemon::request_with(&client, "POST", &rotate, None, Some(&secret))
        .await
        .unwrap();
    assert_eq!(status, 200, "{rotated}");
    let fresh = rotated["shared_secret"].as_str().unwrap();
    let (status, _) = Daemon::request_with(&client, "GET", &me, None, Some(fresh))
        .await
        .unwrap();
    assert_eq!(status, 200);

    // The same port refuses plain HTTP; the admin listener is unchanged.
    let plain = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let answer = Daemon::request_with(
        &plain,
        "GET",
        &format!("{}/healthz", daemon.public),
        None,
        None,
    )
    .await;
    assert!(
        answer.is_err(),
        "plain HTTP answered on the TLS port: {answer:?}"
    );
    let url = format!("{}/healthz", daemon.admin);
    assert_eq!(daemon.request("GET", &url, None, None).await.0, 200);
}

#[actix_web::test]
async fn sighup_loads_a_renewed_certificate_and_keeps_the_old_one_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, first) = self_signed(dir.path());
    let daemon = start_with_tls(&cert, &key);
    let healthz = format!("{}/healthz", https(&daemon));
    let hangup = || {
        let status = Command::new("kill")
            .args(["-HUP", &daemon.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    assert_eq!(
        Daemon::request_with(&client_trusting(&first), "GET", &healthz, None, None)
            .await
            .unwrap()
            .0,
        200
    );

    let (_, _, renewed) = self_signed(dir.path());
    hangup();
    let client = client_trusting(&renewed);
    wait_for(
        "the renewed certificate",
        Duration::from_secs(10),
        || async {
            Daemon::request_with(&client, "GET", &healthz, None, None)
                .await
                .ok()
        },
    )
    .await;
    let old = Daemon::request_with(&client_trusting(&first), "GET", &healthz, None, None).await;
    assert!(old.is_err(), "the old certificate is still served");

    std::fs::write(&key, "not a key").unwrap();
    hangup();
    wait_for(
        "the failed reload in the log",
        Duration::from_secs(10),
        || async { daemon.log_text().contains("not reloaded").then_some(()) },
    )
    .await;
    let (status, _) = Daemon::request_with(&client, "GET", &healthz, None, None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(daemon.log_text().contains("TLS certificate reloaded"));
}

#[actix_web::test]
async fn a_reachable_public_listener_without_tls_is_warned_about() {
    let daemon = Daemon::start(&[("HOOKD__SERVER__PUBLIC_BIND", "0.0.0.0:0")]);
    assert!(
        daemon.log_text().contains("without TLS"),
        "{}",
        daemon.log_text()
    );
    let quiet = Daemon::start(&[]);
    assert!(!quiet.log_text().contains("without TLS"));
}
