//! The console's pages as one account's portal, in the browser the console
//! test already runs: opened from a portal link on the public listener, they
//! offer that account's endpoints, event log, deliveries and replays only.

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::common::{wait_count, Daemon, Receiver};
use crate::{id, LOADED};

pub async fn walk_through(browser: &Browser, daemon: &Daemon) {
    for account in ["A", "B"] {
        let body = json!({"id": account, "name": format!("Customer {account}")});
        let (status, created) = daemon.api("POST", "/accounts", Some(&body)).await;
        assert_eq!(status, 201, "{created}");
    }
    let elsewhere = Receiver::start();
    let extra = json!({"account_id": "B"});
    daemon
        .create_endpoint(&elsewhere.url, &["user.created"], extra)
        .await;

    browser.goto(&format!("{}/portal/", daemon.public)).await;
    browser
        .wait_text("Open this page with the portal link you were given.")
        .await;
    assert_eq!(
        browser.script("return document.forms.length").await,
        json!(0),
        "no token form in the portal"
    );

    let token = open_link(browser, daemon).await;
    let menu = "return [...document.querySelectorAll('nav a')].map(a => a.textContent)";
    let pages = json!(["Endpoints", "Event log", "Deliveries", "Replays"]);
    assert_eq!(browser.script(menu).await, pages, "Partners is not offered");
    browser.find(LOADED).await;
    let page_text = "return document.querySelector('main').textContent";
    let shown = browser.script(page_text).await;
    let shown = shown.as_str().unwrap_or_default();
    assert!(
        !shown.contains(&elsewhere.url),
        "another account's endpoint"
    );
    assert!(!shown.contains("Success rate"), "no stats in the portal");

    let receiver = add_endpoint_and_test(browser).await;
    resend_selected(browser, daemon, &receiver).await;
    assert_eq!(elsewhere.count(), 0);

    // A link that is not (or no longer) valid, opened in the same tab.
    let bad = format!("{}/portal/#token={token}x", daemon.public);
    browser.goto(&bad).await;
    browser
        .wait_text("This link has expired or is invalid: ask for a new one.")
        .await;
    let stored = "return sessionStorage.getItem('hookd.portal-token')";
    assert_eq!(browser.script(stored).await, Value::Null);
}

/// Opens A's portal link the way its customer would; returns the token.
async fn open_link(browser: &Browser, daemon: &Daemon) -> String {
    let body = json!({"ttl": "1h"});
    let path = "/accounts/A/portal-link";
    let (status, link) = daemon.api("POST", path, Some(&body)).await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"].as_str().expect("url");
    let (_, fragment) = url.split_once("/portal/").expect("a portal URL");
    // The link names the public listener by its configured bind, which is
    // port 0 in tests; the daemon's actual address stands in for it.
    browser
        .goto(&format!("{}/portal/{fragment}", daemon.public))
        .await;
    browser.find("//h1[normalize-space()='Endpoints']").await;
    let hash = browser.script("return location.hash").await;
    assert_eq!(hash, json!("#/endpoints"), "the token left the address");
    let stored = "return sessionStorage.getItem('hookd.portal-token')";
    let token = link["token"].as_str().expect("token");
    assert_eq!(browser.script(stored).await, json!(token));
    token.to_string()
}

/// Adds an endpoint in the portal and sends it a test event; returns the
/// receiver behind it.
async fn add_endpoint_and_test(browser: &Browser) -> Receiver {
    let receiver = Receiver::start();
    browser
        .click("//summary[normalize-space()='New endpoint']")
        .await;
    browser.fill("URL", &receiver.url).await;
    browser.fill("Events", "user.created").await;
    browser.press("Create endpoint").await;
    browser.wait_text("signing secret").await;
    let row = format!("//td//span[normalize-space()='{}']", receiver.url);
    browser.find(&row).await;
    let urls = "return [...document.querySelectorAll('main td .url')].map(u => u.textContent)";
    let only_this = json!([receiver.url]);
    assert_eq!(browser.script(urls).await, only_this, "the account's only");

    browser.press("Send test event").await;
    wait_count(&receiver, 1).await;
    let body = receiver.received()[0].json();
    assert_eq!(body["type"], json!("user.created"));
    assert_eq!(body["test"], json!(true), "{body}");
    browser.wait_text("delivery succeeded").await;
    receiver
}

async fn resend_selected(browser: &Browser, daemon: &Daemon, receiver: &Receiver) {
    let publish = |n: u32| {
        let body = json!({"type": "user.created", "data": {"n": n}, "account_id": "A"});
        async move {
            let (status, event) = daemon.api("POST", "/events", Some(&body)).await;
            assert_eq!(status, 202, "{event}");
            event
        }
    };
    let first = publish(1).await;
    publish(2).await;
    wait_count(receiver, 3).await;

    browser.open("Event log").await;
    let select = format!("Select {}", id(&first));
    browser.labelled(&select).await.click().await.expect("tick");
    browser.press("Resend selected").await;
    browser
        .wait_text(" done: 1 events matched, 1 deliveries scheduled")
        .await;
    wait_count(receiver, 4).await;
    assert_eq!(id(&receiver.received()[3].json()), id(&first));
}
