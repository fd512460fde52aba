//! The web console in a real browser: headless Chromium drives the pages of
//! the real daemon the way a person would (finding things by their visible
//! labels), and the outcome is checked at the receivers and through the API.
//! One browser and one daemon serve every step, to stay light on small CI
//! machines.

mod common;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use serde_json::{json, Value};

use common::browser::Browser;
use common::{wait_count, wait_for, wait_status, Daemon, Receiver, Reply, ADMIN_TOKEN};

#[actix_web::test]
async fn console_is_served_safely_from_the_binary() {
    let daemon = Daemon::start(&[]);
    let client = awc::Client::default();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
    ] {
        let mut response = client
            .get(format!("{}{path}", daemon.admin))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let body = response.body().await.expect("body");
        assert!(!body.is_empty());
        if path == "/" {
            let html = String::from_utf8_lossy(&body);
            assert!(!html.contains("<script>"), "inline script in index.html");
            assert!(!html.contains("style="), "inline style in index.html");
            assert!(!html.contains("http://") && !html.contains("https://"));
        }
    }
    let (status, _) = daemon
        .request(
            "GET",
            &format!("{}/console/../config.toml", daemon.admin),
            None,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = daemon
        .request("GET", &format!("{}/", daemon.public), None, None)
        .await;
    assert_eq!(status, 404, "the console is on the admin listener only");
}

#[actix_web::test]
async fn console_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let daemon = Daemon::start(&[]);
    let outcome = AssertUnwindSafe(walk_through(&browser, &daemon))
        .catch_unwind()
        .await;
    browser.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn walk_through(browser: &Browser, daemon: &Daemon) {
    let receiver = Receiver::start();
    sign_in(browser, daemon).await;
    let endpoint = create_endpoint(browser, daemon, &receiver).await;
    send_test_event(browser, &receiver).await;
    browser.screenshot("console-endpoints").await;
    resend_from_event_log(browser, daemon, &receiver, &endpoint).await;
    failed_delivery_and_markup(browser, daemon).await;
    other_pages(browser).await;
    phone_layout(browser).await;
    sign_out(browser).await;
}

async fn sign_in(browser: &Browser, daemon: &Daemon) {
    browser.goto(&format!("{}/", daemon.admin)).await;
    browser.fill("Admin token", "not-the-token").await;
    browser
        .button("Sign in")
        .await
        .click()
        .await
        .expect("click");
    browser.wait_text("Invalid token").await;
    // By keyboard: type the token and press Enter.
    let field = browser.labelled("Admin token").await;
    assert_eq!(
        field.attr("type").await.expect("attr").as_deref(),
        Some("password")
    );
    field.clear().await.expect("clear");
    field
        .send_keys(&format!(
            "{ADMIN_TOKEN}{}",
            char::from(fantoccini::key::Key::Enter)
        ))
        .await
        .expect("type");
    browser.find("//h1[normalize-space()='Endpoints']").await;
    browser.button("Sign out").await;
    let stored = browser
        .script("return sessionStorage.getItem('hookd.admin-token')")
        .await;
    assert_eq!(stored, json!(ADMIN_TOKEN));
    let cookies = browser.script("return document.cookie").await;
    assert_eq!(cookies, json!(""), "no cookie");
}

async fn create_endpoint(browser: &Browser, daemon: &Daemon, receiver: &Receiver) -> Value {
    browser
        .find("//summary[normalize-space()='New endpoint']")
        .await
        .click()
        .await
        .expect("open");
    browser.fill("URL", &receiver.url).await;
    browser.fill("Events", "user.created, order.*").await;
    browser.fill("Description", "console test receiver").await;
    browser
        .button("Create endpoint")
        .await
        .click()
        .await
        .expect("create");
    browser.wait_text("signing secret").await;
    browser
        .find(&format!("//td//span[normalize-space()='{}']", receiver.url))
        .await;
    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    let endpoint = list["data"][0].clone();
    assert_eq!(endpoint["url"], json!(receiver.url));
    assert_eq!(endpoint["events"], json!(["user.created", "order.*"]));
    assert_eq!(endpoint["description"], json!("console test receiver"));
    endpoint
}

async fn send_test_event(browser: &Browser, receiver: &Receiver) {
    browser
        .button("Send test event")
        .await
        .click()
        .await
        .expect("test");
    wait_count(receiver, 1).await;
    let body = receiver.received()[0].json();
    assert_eq!(body["type"], json!("user.created"));
    assert_eq!(body["test"], json!(true), "{body}");
    browser.wait_text("delivery succeeded").await;
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Publishes, then waits for the clock's next second, so a search from that
/// second on leaves this event out.
async fn publish_then_next_second(daemon: &Daemon, event_type: &str) -> Value {
    let event = daemon.publish(event_type, json!({"n": 1})).await;
    let second = now_secs();
    wait_for("the next second", Duration::from_secs(3), || async {
        (now_secs() > second).then_some(())
    })
    .await;
    event
}

async fn resend_from_event_log(
    browser: &Browser,
    daemon: &Daemon,
    receiver: &Receiver,
    endpoint: &Value,
) {
    let before_range = publish_then_next_second(daemon, "user.created").await;
    let first = daemon.publish("user.created", json!({"n": 2})).await;
    let other_type = daemon.publish("order.paid", json!({"n": 3})).await;
    let second = daemon.publish("user.created", json!({"n": 4})).await;
    wait_count(receiver, 5).await;

    browser
        .find("//nav//a[normalize-space()='Event log']")
        .await
        .click()
        .await
        .expect("nav");
    browser.find("//h1[normalize-space()='Event log']").await;
    let from = first["created_at"].as_str().expect("time");
    browser.fill("From", from).await;
    browser
        .fill(
            "To",
            &format_after(second["created_at"].as_str().expect("time")),
        )
        .await;
    browser.fill("Event type", "user.created").await;
    browser
        .button("Search")
        .await
        .click()
        .await
        .expect("search");
    let id = |event: &Value| event["id"].as_str().expect("id").to_string();
    browser
        .find(&format!("//a[normalize-space()='{}']", id(&second)))
        .await;
    let shown = browser
        .script("return [...document.querySelectorAll('tbody a')].map(a => a.textContent)")
        .await;
    assert_eq!(
        shown,
        json!([id(&first), id(&second)]),
        "range and type filter"
    );
    for left_out in [&before_range, &other_type] {
        assert!(!shown.to_string().contains(&id(left_out)));
    }

    for event in [&first, &second] {
        browser
            .labelled(&format!("Select {}", id(event)))
            .await
            .click()
            .await
            .expect("tick");
    }
    browser
        .labelled("Endpoint")
        .await
        .select_by_label(endpoint["url"].as_str().expect("url"))
        .await
        .expect("pick");
    browser
        .button("Resend selected")
        .await
        .click()
        .await
        .expect("resend");
    browser
        .wait_text(" done: 2 events matched, 2 deliveries scheduled")
        .await;
    wait_count(receiver, 7).await;
    let resent: BTreeSet<String> = receiver.received()[5..]
        .iter()
        .map(|r| r.json()["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(resent, BTreeSet::from([id(&first), id(&second)]));
    browser.screenshot("console-event-log").await;
}

/// One second after an RFC 3339 time (`to` is exclusive).
fn format_after(time: &str) -> String {
    let at = humantime::parse_rfc3339(time).expect("time");
    humantime::format_rfc3339_seconds(at + Duration::from_secs(1)).to_string()
}

async fn failed_delivery_and_markup(browser: &Browser, daemon: &Daemon) {
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    daemon
        .create_endpoint(
            &failing.url,
            &["payment.failed"],
            json!({"retry_schedule": ["0s"], "debug_mode": true}),
        )
        .await;
    let markup = json!({
        "note": "<img src=x onerror=\"window.pwned=1\">",
        "html": "<script>window.pwned=2</script>",
    });
    let event = daemon.publish("payment.failed", markup).await;
    let delivery = common::only_delivery_of(daemon, &event).await;
    wait_status(daemon, &delivery, "failed").await;

    let id = event["id"].as_str().expect("id");
    browser
        .goto(&format!("{}/#/events/{id}", daemon.admin))
        .await;
    browser.find("//h2[normalize-space()='Deliveries']").await;
    browser.find("//td[normalize-space()='500']").await;
    let text = browser.wait_text("failed").await;
    assert!(
        text.contains("<img src=x onerror=\\\"window.pwned=1\\\">"),
        "{text}"
    );
    assert!(text.contains("<script>window.pwned=2</script>"), "{text}");
    let injected = browser
        .script("return document.querySelectorAll('main img, main script').length")
        .await;
    assert_eq!(injected, json!(0), "markup from event data became elements");
    assert_eq!(
        browser.script("return typeof window.pwned").await,
        json!("undefined")
    );
    browser.screenshot("console-event-detail").await;

    browser.button("Retry").await.click().await.expect("retry");
    wait_for("a second attempt", Duration::from_secs(20), || async {
        let body = common::delivery(daemon, &delivery).await;
        (body["attempt_count"] == 2 && body["status"] == "failed").then_some(())
    })
    .await;
    assert_eq!(failing.count(), 2);
}

async fn other_pages(browser: &Browser) {
    browser
        .find("//nav//a[normalize-space()='Replays']")
        .await
        .click()
        .await
        .expect("nav");
    browser.find("//h1[normalize-space()='Replays']").await;
    browser.wait_text("done").await;
    browser
        .find("//summary[normalize-space()='New replay']")
        .await
        .click()
        .await
        .expect("open");
    for label in ["From", "To", "Event type", "Endpoint", "Only failed"] {
        browser.labelled(label).await;
    }
    browser
        .find("//nav//a[normalize-space()='Deliveries']")
        .await
        .click()
        .await
        .expect("nav");
    browser.find("//h1[normalize-space()='Deliveries']").await;
    for label in ["Status", "Endpoint", "Event type"] {
        browser.labelled(label).await;
    }
    browser
        .find("//nav//a[normalize-space()='Partners']")
        .await
        .click()
        .await
        .expect("nav");
    browser.wait_text("No partner has registered.").await;
}

/// Nothing wider than the window, at a phone's size and at a laptop's.
async fn phone_layout(browser: &Browser) {
    for (width, height) in [(390, 844), (1280, 800)] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("resize");
        for (page, heading) in [
            ("endpoints", "Endpoints"),
            ("events", "Event log"),
            ("deliveries", "Deliveries"),
            ("replays", "Replays"),
        ] {
            browser
                .find(&format!("//nav//a[normalize-space()='{heading}']"))
                .await
                .click()
                .await
                .expect("nav");
            browser
                .find(&format!("//h1[normalize-space()='{heading}']"))
                .await;
            let overflow = browser
                .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
                .await;
            assert_eq!(
                overflow,
                json!(0),
                "{page} scrolls sideways at {width}×{height}"
            );
            if width < 500 && page == "endpoints" {
                browser.screenshot("console-phone-endpoints").await;
            }
        }
    }
}

async fn sign_out(browser: &Browser) {
    browser
        .button("Sign out")
        .await
        .click()
        .await
        .expect("sign out");
    browser.labelled("Admin token").await;
    let stored = browser.script("return sessionStorage.length").await;
    assert_eq!(stored, json!(0));
}
