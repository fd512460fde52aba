//! The web console in a real browser: headless Chromium drives the pages of
//! the real daemon the way a person would (finding things by their visible
//! labels), and the outcome is checked at the receivers and through the API.
//! One browser and one daemon serve every step, to stay light on small CI
//! machines.

// Only this test binary drives a browser, so only it compiles the driver.
#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "console/portal.rs"]
mod portal;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{json, Value};

use browser::Browser;
use common::{wait_count, wait_for, wait_status, Daemon, Receiver, Reply, ADMIN_TOKEN};

#[actix_web::test]
async fn console_is_served_safely_from_the_binary() {
    let daemon = Daemon::start(&[]);
    let client = awc::Client::default();
    let html = "text/html; charset=utf-8";
    let js = "text/javascript; charset=utf-8";
    for (base, path, content_type) in [
        (&daemon.admin, "/", html),
        (&daemon.admin, "/console/app.js", js),
        (
            &daemon.admin,
            "/console/style.css",
            "text/css; charset=utf-8",
        ),
        (&daemon.public, "/portal/", html),
        (&daemon.public, "/portal/console/app.js", js),
    ] {
        let mut response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            let value = response.headers().get(name).and_then(|v| v.to_str().ok());
            value.unwrap_or("").to_string()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        let policy = header("content-security-policy");
        assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
        assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        let body = response.body().await.expect("body");
        assert!(!body.is_empty());
        if path.ends_with('/') {
            let html = String::from_utf8_lossy(&body);
            assert!(!html.contains("<script>"), "inline script in index.html");
            assert!(!html.contains("style="), "inline style in index.html");
            assert!(!html.contains("http://") && !html.contains("https://"));
        }
    }
    let portal = format!("{}/portal", daemon.public);
    let plain = awc::Client::builder().disable_redirects().finish();
    let redirect = plain.get(&portal).send().await.expect("request");
    let location = redirect.headers().get("location").map(|v| v.as_bytes());
    assert_eq!(location, Some(&b"/portal/"[..]));
    let outside = format!("{}/console/../config.toml", daemon.admin);
    assert_eq!(daemon.request("GET", &outside, None, None).await.0, 404);
    let public = format!("{}/", daemon.public);
    let (status, _) = daemon.request("GET", &public, None, None).await;
    assert_eq!(status, 404, "the console is on the admin listener only");
    let console = format!("{}/console/app.js", daemon.public);
    assert_eq!(daemon.request("GET", &console, None, None).await.0, 404);
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
    resend_from_event_log(browser, daemon, &receiver, &endpoint).await;
    let failing = failed_delivery_and_markup(browser, daemon).await;
    row_actions(browser, daemon, &failing).await;
    other_pages(browser, &endpoint).await;
    layouts(browser).await;
    sign_out(browser).await;
    portal::walk_through(browser, daemon).await;
}

async fn sign_in(browser: &Browser, daemon: &Daemon) {
    browser.goto(&format!("{}/", daemon.admin)).await;
    browser.fill("Admin token", "not-the-token").await;
    browser.press("Sign in").await;
    browser.wait_text("Invalid token").await;
    // By keyboard: type the token and press Enter.
    let field = browser.labelled("Admin token").await;
    let kind = field.attr("type").await.expect("attr");
    assert_eq!(kind.as_deref(), Some("password"));
    field.clear().await.expect("clear");
    let typed = format!("{ADMIN_TOKEN}{}", char::from(Key::Enter));
    field.send_keys(&typed).await.expect("type");
    browser.find("//h1[normalize-space()='Endpoints']").await;
    browser.button("Sign out").await;
    let stored = "return sessionStorage.getItem('hookd.admin-token')";
    assert_eq!(browser.script(stored).await, json!(ADMIN_TOKEN));
    let cookies = browser.script("return document.cookie").await;
    assert_eq!(cookies, json!(""), "no cookie");
}

async fn create_endpoint(browser: &Browser, daemon: &Daemon, receiver: &Receiver) -> Value {
    browser
        .click("//summary[normalize-space()='New endpoint']")
        .await;
    browser.fill("URL", &receiver.url).await;
    browser.fill("Events", "user.created, order.*").await;
    browser.fill("Description", "console test receiver").await;
    browser.press("Create endpoint").await;
    browser.wait_text("signing secret").await;
    let row = format!("//td//span[normalize-space()='{}']", receiver.url);
    browser.find(&row).await;
    let (_, list) = daemon.api("GET", "/webhooks", None).await;
    let endpoint = list["data"][0].clone();
    assert_eq!(endpoint["url"], json!(receiver.url));
    assert_eq!(endpoint["events"], json!(["user.created", "order.*"]));
    assert_eq!(endpoint["description"], json!("console test receiver"));
    endpoint
}

async fn send_test_event(browser: &Browser, receiver: &Receiver) {
    browser.press("Send test event").await;
    wait_count(receiver, 1).await;
    let body = receiver.received()[0].json();
    assert_eq!(body["type"], json!("user.created"));
    assert_eq!(body["test"], json!(true), "{body}");
    browser.wait_text("delivery succeeded").await;
}

fn now_secs() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.expect("clock").as_secs()
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

/// One second after an RFC 3339 time (`to` is exclusive).
fn second_after(event: &Value) -> String {
    let at = humantime::parse_rfc3339(event["created_at"].as_str().expect("time"));
    humantime::format_rfc3339_seconds(at.expect("time") + Duration::from_secs(1)).to_string()
}

fn id(event: &Value) -> String {
    event["id"].as_str().expect("id").to_string()
}

async fn resend_from_event_log(
    browser: &Browser,
    daemon: &Daemon,
    receiver: &Receiver,
    endpoint: &Value,
) {
    // Left out of the search below: one event before the range, one of
    // another type.
    publish_then_next_second(daemon, "user.created").await;
    let first = daemon.publish("user.created", json!({"n": 2})).await;
    daemon.publish("order.paid", json!({"n": 3})).await;
    let second = daemon.publish("user.created", json!({"n": 4})).await;
    wait_count(receiver, 5).await;

    browser.open("Event log").await;
    let from = first["created_at"].as_str().expect("time");
    browser.fill("From", from).await;
    browser.fill("To", &second_after(&second)).await;
    browser.fill("Event type", "user.created").await;
    browser.press("Search").await;
    // The unfiltered log showed first; wait for the search's own results.
    let listed = "return location.hash.includes('type=') \
        && [...document.querySelectorAll('tbody a')].map(a => a.textContent)";
    let wanted = json!([id(&first), id(&second)]);
    browser.wait_script(listed, &wanted).await;

    for event in [&first, &second] {
        let select = format!("Select {}", id(event));
        browser.labelled(&select).await.click().await.expect("tick");
    }
    let url = endpoint["url"].as_str().expect("url");
    let picker = browser.labelled("Endpoint").await;
    picker.select_by_label(url).await.expect("pick");
    browser.press("Resend selected").await;
    browser
        .wait_text(" done: 2 events matched, 2 deliveries scheduled")
        .await;
    wait_count(receiver, 7).await;
    let resent: BTreeSet<String> = receiver.received()[5..]
        .iter()
        .map(|r| id(&r.json()))
        .collect();
    assert_eq!(resent, BTreeSet::from([id(&first), id(&second)]));
    browser.screenshot("console-event-log").await;
}

/// A delivery that fails, to an endpoint in debug mode, of an event whose
/// data is markup; returns that endpoint.
async fn failed_delivery_and_markup(browser: &Browser, daemon: &Daemon) -> Value {
    let failing = Receiver::start();
    failing.set_default(Reply::status(500));
    let extra = json!({"retry_schedule": ["0s"], "debug_mode": true});
    let endpoint = daemon
        .create_endpoint(&failing.url, &["payment.failed"], extra)
        .await;
    let markup = json!({
        "note": "<img src=x onerror=\"window.pwned=1\">",
        "html": "<script>window.pwned=2</script>",
    });
    let event = daemon.publish("payment.failed", markup).await;
    let delivery = common::only_delivery_of(daemon, &event).await;
    wait_status(daemon, &delivery, "failed").await;

    browser
        .goto(&format!("{}/#/events/{}", daemon.admin, id(&event)))
        .await;
    browser.find("//h2[normalize-space()='Deliveries']").await;
    browser.find("//td[normalize-space()='500']").await;
    let text = browser.wait_text("failed").await;
    assert!(
        text.contains(r#"<img src=x onerror=\"window.pwned=1\">"#),
        "{text}"
    );
    assert!(text.contains("<script>window.pwned=2</script>"), "{text}");
    let elements = "return document.querySelectorAll('main img, main script').length";
    assert_eq!(
        browser.script(elements).await,
        json!(0),
        "data became markup"
    );
    let pwned = browser.script("return typeof window.pwned").await;
    assert_eq!(pwned, json!("undefined"));
    browser.screenshot("console-event-detail").await;

    browser.press("Retry").await;
    wait_for("a second attempt", Duration::from_secs(20), || async {
        let body = common::delivery(daemon, &delivery).await;
        (body["attempt_count"] == 2 && body["status"] == "failed").then_some(())
    })
    .await;
    assert_eq!(failing.count(), 2);
    endpoint
}

/// Rotate secret (by keyboard), Disable, Enable and Delete on a row.
async fn row_actions(browser: &Browser, daemon: &Daemon, endpoint: &Value) {
    browser.open("Endpoints").await;
    let path = format!("/webhooks/{}", id(endpoint));
    let url = endpoint["url"].as_str().expect("url");
    let in_row = |action: &str| {
        format!("//tr[.//span[normalize-space()='{url}']]//button[normalize-space()='{action}']")
    };
    browser.find(&in_row("Edit")).await;
    // Health from the stats route: the receiver took every attempt.
    browser.find("//td[normalize-space()='100.0%']").await;
    browser.find("//*[name()='svg']/*[name()='rect']").await;
    browser.screenshot("console-endpoints").await;
    let rotate = browser.tab_to("Rotate secret", 40).await;
    rotate
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("enter");
    browser.wait_text("New signing secret").await;

    browser.click(&in_row("Edit")).await;
    browser.fill("Description", "edited in the console").await;
    browser.press("Save").await;
    browser.wait_text("Saved").await;
    let edited = daemon.api("GET", &path, None).await.1;
    assert_eq!(edited["description"], json!("edited in the console"));

    browser.click(&in_row("Disable")).await;
    browser.wait_text("disabled (manual)").await;
    assert_eq!(
        daemon.api("GET", &path, None).await.1["active"],
        json!(false)
    );
    browser.click(&in_row("Enable")).await;
    browser.find(&in_row("Disable")).await;
    assert_eq!(
        daemon.api("GET", &path, None).await.1["active"],
        json!(true)
    );

    browser.click(&in_row("Delete")).await;
    browser.press("Confirm delete").await;
    browser.wait_text("Deleted").await;
    assert_eq!(daemon.api("GET", &path, None).await.0, 404);
}

async fn other_pages(browser: &Browser, endpoint: &Value) {
    browser.open("Replays").await;
    browser.wait_text("done").await;
    browser
        .click("//summary[normalize-space()='New replay']")
        .await;
    browser.fill("From", "2000-01-01").await;
    browser.fill("To", "2100-01-01 00:00").await;
    browser.fill("Event type", "order.*").await;
    browser
        .labelled("Only failed")
        .await
        .click()
        .await
        .expect("tick");
    browser.labelled("Endpoint").await;
    browser.press("Start replay").await;
    browser.wait_text("started").await;
    let jobs = "return document.querySelectorAll('tbody tr').length";
    browser.wait_script(jobs, &json!(2)).await;
    browser.open("Deliveries").await;
    let status = browser.labelled("Status").await;
    status.select_by_label("succeeded").await.expect("status");
    let url = endpoint["url"].as_str().expect("url");
    let picker = browser.labelled("Endpoint").await;
    picker.select_by_label(url).await.expect("endpoint");
    browser.fill("Event type", "order.*").await;
    browser.press("Search").await;
    let types = "return location.hash.includes('event_type=') \
        && [...document.querySelectorAll('tbody tr')].map(r => r.cells[2].textContent)";
    browser.wait_script(types, &json!(["order.paid"])).await;
    browser.open("Partners").await;
    browser.wait_text("No partner has registered.").await;
}

/// A page's content has arrived: a table, or a sentence saying it is empty.
const LOADED: &str = "//main//table | //main//p[contains(@class, 'empty')]";

/// How many form controls on the page have no `<label>`.
const UNLABELLED: &str =
    "return [...document.querySelectorAll('input, select, textarea')].filter(c => !c.labels.length).length";

/// Every field labelled; nothing wider than the window, at a phone's size
/// and at a laptop's.
async fn layouts(browser: &Browser) {
    let overflow =
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth";
    for (width, height) in [(390, 844), (1280, 800)] {
        let resized = browser.client.set_window_size(width, height).await;
        resized.expect("resize");
        for page in ["Endpoints", "Event log", "Deliveries", "Replays"] {
            browser.open(page).await;
            browser.find(LOADED).await;
            let unlabelled = browser.script(UNLABELLED).await;
            assert_eq!(unlabelled, json!(0), "{page}: a field without a <label>");
            let wider = browser.script(overflow).await;
            assert_eq!(
                wider,
                json!(0),
                "{page} scrolls sideways at {width}×{height}"
            );
            if width < 500 && page == "Endpoints" {
                browser.screenshot("console-phone-endpoints").await;
            }
        }
    }
}

async fn sign_out(browser: &Browser) {
    browser.press("Sign out").await;
    browser.labelled("Admin token").await;
    let stored = browser.script("return sessionStorage.length").await;
    assert_eq!(stored, json!(0));
}
