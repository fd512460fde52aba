//! Black-box test of a full disk: hookd runs on a small tmpfs that is filled
//! up and then freed. Storage must report itself unready while it refuses
//! writes, and publishing, reading and delivering must resume on their own
//! once space is back. Needs permission to mount a tmpfs (root here);
//! elsewhere it prints why it is skipped.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{wait_count, wait_for, Daemon, Receiver};
use serde_json::json;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Tmpfs {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

async fn readiness(daemon: &Daemon) -> u16 {
    let url = format!("{}/readyz", daemon.admin);
    daemon.request("GET", &url, None, None).await.0
}

#[actix_web::test]
async fn a_full_disk_recovers_by_itself_once_space_is_back() {
    if common::skipped_on_postgres("a full disk under the data directory is the embedded backend's; a lost database is tests/postgres_backend.rs") {
        return;
    }
    let outer = tempfile::tempdir().unwrap();
    let data_dir = outer.path().join("data");
    let Some(tmpfs) = Tmpfs::mount(&data_dir, "20m") else {
        println!("SKIPPED: mounting a tmpfs is not permitted here");
        return;
    };
    let data_dir_text = data_dir.display().to_string();
    let mut daemon = Daemon::start(&[
        ("HOOKD__STORAGE__DATA_DIR", data_dir_text.as_str()),
        ("HOOKD__STORAGE__CACHE_CAPACITY", "4194304"),
    ]);
    let receiver = Receiver::start();
    daemon
        .create_endpoint(&receiver.url, &["*"], json!({}))
        .await;
    let acknowledged = daemon.publish("order.created", json!({"n": 0})).await;
    wait_count(&receiver, 1).await;
    assert_eq!(readiness(&daemon).await, 200);

    let filler = data_dir.join("filler");
    fill(&filler);
    let padding = "x".repeat(16 * 1024);
    let body = json!({"type": "order.created", "data": {"padding": padding}});
    wait_for(
        "a publish to be refused",
        Duration::from_secs(30),
        || async {
            let (status, _) = daemon.api("POST", "/events", Some(&body)).await;
            assert!(status == 202 || status == 503, "{status}");
            (status == 503).then_some(())
        },
    )
    .await;
    wait_for("/readyz to answer 503", Duration::from_secs(10), || async {
        (readiness(&daemon).await == 503).then_some(())
    })
    .await;

    std::fs::remove_file(&filler).unwrap();
    wait_for("/readyz to answer 200", Duration::from_secs(20), || async {
        (readiness(&daemon).await == 200).then_some(())
    })
    .await;
    let path = format!("/events/{}", acknowledged["id"].as_str().unwrap());
    let (status, body) = daemon.api("GET", &path, None).await;
    assert_eq!(status, 200, "an acknowledged event cannot be read: {body}");
    let before = receiver.count();
    daemon.publish("order.created", json!({"n": 1})).await;
    wait_for(
        "a delivery after recovery",
        Duration::from_secs(20),
        || async {
            receiver
                .received()
                .iter()
                .any(|r| r.json()["data"]["n"] == 1)
                .then_some(())
        },
    )
    .await;
    assert!(receiver.count() > before);

    let status = daemon.stop();
    assert!(status.success(), "SIGTERM after recovery: {status:?}");
    drop(tmpfs);
}
