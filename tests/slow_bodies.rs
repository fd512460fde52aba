//! Black-box tests of slow clients: a body that trickles in is cut off with
//! `408`, the public listener holds a bounded number of connections, and
//! the admin listener keeps answering meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{wait_for, Daemon, ADMIN_TOKEN};

/// Sends headers announcing a 60 kB body, then one byte now and then.
fn trickle(base: &str, path: &str, token: Option<&str>) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         {auth}Content-Length: 60000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        while writer.write_all(b" ").is_ok() {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    stream
}

/// Everything the server sends until it closes (or 20 s pass).
fn read_until_closed(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the connection stayed open: {e}; read so far: {seen:?}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[actix_web::test]
async fn a_trickled_body_ends_in_408_and_a_closed_connection() {
    let daemon = Daemon::start(&[("HOOKD__SERVER__REQUEST_BODY_TIMEOUT", "1s")]);
    let cases = [
        (daemon.public.clone(), "/partners/register", None),
        (daemon.public.clone(), "/webhooks/partners", None),
        (daemon.admin.clone(), "/api/v1/events", Some(ADMIN_TOKEN)),
        (daemon.admin.clone(), "/api/v1/webhooks", Some(ADMIN_TOKEN)),
    ];
    for (base, path, token) in cases {
        let stream = trickle(&base, path, token);
        let seen = actix_web::rt::task::spawn_blocking(move || read_until_closed(stream))
            .await
            .unwrap();
        assert!(seen.starts_with("HTTP/1.1 408"), "{path}: {seen}");
        assert!(seen.contains("request_timeout"), "{path}: {seen}");
    }
}

/// How many distinct sockets a process has open (a listener shared by
/// several workers counts once).
fn open_sockets(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .collect::<std::collections::HashSet<_>>()
        .len()
}

#[actix_web::test]
async fn the_public_listener_caps_its_connections_and_admin_keeps_answering() {
    if common::skipped_on_postgres(
        "it counts the process's sockets, which the database pool opens meanwhile; the cap does not depend on the backend",
    ) {
        return;
    }
    if !std::path::Path::new("/proc/self/fd").exists() {
        println!("SKIPPED: /proc is needed to count the daemon's sockets");
        return;
    }
    let daemon = Daemon::start(&[
        ("HOOKD__SERVER__REQUEST_BODY_TIMEOUT", "2s"),
        ("HOOKD__SERVER__PUBLIC_MAX_CONNECTIONS", "4"),
    ]);
    let baseline = open_sockets(daemon.pid());
    let slow: Vec<TcpStream> = (0..12)
        .map(|_| trickle(&daemon.public, "/partners/register", None))
        .collect();
    wait_for("the cap to fill", Duration::from_secs(10), || async {
        (open_sockets(daemon.pid()) >= baseline + 4).then_some(())
    })
    .await;
    for _ in 0..10 {
        let extra = open_sockets(daemon.pid()).saturating_sub(baseline);
        assert!(extra <= 4, "{extra} connections held with a cap of 4");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }

    let url = format!("{}/api/v1/webhooks", daemon.admin);
    let (status, _) = daemon.request("GET", &url, None, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);

    // Every slow client is served in turn, each cut off by the timeout.
    let answers = actix_web::rt::task::spawn_blocking(move || {
        slow.into_iter().map(read_until_closed).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for seen in answers {
        assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    }
}
