//! Black-box tests of accounts: the CRUD routes, routing by account, the
//! `account_id` filters, replay limited to an account, partners as accounts,
//! and the bad input each route refuses.

mod common;

use common::partner::{register, CATALOG, OPEN};
use common::{assert_error_shape, event_count, wait_count, wait_for, Daemon, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

async fn create_account(daemon: &Daemon, id: &str) -> Value {
    let body = json!({"id": id, "name": format!("Customer {id}")});
    let (status, json) = daemon.api("POST", "/accounts", Some(&body)).await;
    assert_eq!(status, 201, "{json}");
    json
}

async fn publish_for(daemon: &Daemon, account: &str, event_type: &str) -> Value {
    let body = json!({"type": event_type, "data": {"n": 1}, "account_id": account});
    let (status, json) = daemon.api("POST", "/events", Some(&body)).await;
    assert_eq!(status, 202, "{json}");
    json
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn accounts_are_created_read_listed_changed_and_deleted() {
    let daemon = Daemon::start(&[]);
    let own = create_account(&daemon, "cus_42").await;
    assert_eq!(own["id"], "cus_42");
    assert_eq!(own["metadata"], json!({}));
    let body = json!({"name": "Generated", "metadata": {"tier": "gold"}});
    let (status, generated) = daemon.api("POST", "/accounts", Some(&body)).await;
    assert_eq!(status, 201, "{generated}");
    let generated_id = generated["id"].as_str().unwrap();
    assert!(generated_id.starts_with("acct_") && generated_id.len() == 31);

    let (status, duplicate) = daemon
        .api(
            "POST",
            "/accounts",
            Some(&json!({"id": "cus_42", "name": "x"})),
        )
        .await;
    assert_eq!(status, 409, "{duplicate}");

    let (status, page) = daemon.api("GET", "/accounts?limit=1", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = daemon
        .api("GET", &format!("/accounts?limit=5&cursor={cursor}"), None)
        .await;
    let mut all = ids(&page);
    all.extend(ids(&rest));
    all.sort();
    let mut want = vec!["cus_42".to_string(), generated_id.to_string()];
    want.sort();
    assert_eq!(all, want);

    let (status, changed) = daemon
        .api(
            "PATCH",
            "/accounts/cus_42",
            Some(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!((status, changed["name"].as_str()), (200, Some("Renamed")));
    let (_, read) = daemon.api("GET", "/accounts/cus_42", None).await;
    assert_eq!(read["name"], "Renamed");

    let receiver = Receiver::start();
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["a.*"], json!({"account_id": "cus_42"}))
        .await;
    assert_eq!(endpoint["account_id"], "cus_42");
    let (status, refused) = daemon.api("DELETE", "/accounts/cus_42", None).await;
    assert_eq!(status, 409, "{refused}");
    let endpoint_path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    assert_eq!(daemon.api("DELETE", &endpoint_path, None).await.0, 204);
    assert_eq!(daemon.api("DELETE", "/accounts/cus_42", None).await.0, 204);
    assert_eq!(daemon.api("GET", "/accounts/cus_42", None).await.0, 404);
}

#[actix_web::test]
async fn bad_account_input_is_refused_and_stores_nothing() {
    let daemon = Daemon::start(&[]);
    create_account(&daemon, "A").await;
    create_account(&daemon, "B").await;
    for bad in ["a b", "a.b", "", &"x".repeat(65)] {
        let (status, body) = daemon
            .api("POST", "/accounts", Some(&json!({"id": bad, "name": "n"})))
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_account_id");
    }
    let (status, body) = daemon
        .api("POST", "/accounts", Some(&json!({"name": "  "})))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_name"))
    );

    // Publishes naming an unknown or malformed account store nothing.
    let single = json!({"type": "a.b", "data": {}, "account_id": "nobody"});
    let (status, body) = daemon.api("POST", "/events", Some(&single)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_account"))
    );
    let batch = json!([
        {"type": "a.b", "data": {}, "account_id": "A"},
        {"type": "a.b", "data": {}, "account_id": "bad id"}
    ]);
    let (status, body) = daemon.api("POST", "/events/batch", Some(&batch)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["message"].as_str().unwrap().contains("item 1"));
    let url = format!("{}/api/v1/events", daemon.admin);
    let client = awc::Client::default();
    let response = client
        .post(&url)
        .insert_header(("Authorization", format!("Bearer {}", common::ADMIN_TOKEN)))
        .insert_header(("X-Account-Id", "B"))
        .send_json(&json!({"type": "a.b", "data": {}, "account_id": "A"}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let response = client
        .post(format!("{}/api/v1/events/batch", daemon.admin))
        .insert_header(("Authorization", format!("Bearer {}", common::ADMIN_TOKEN)))
        .insert_header(("X-Account-Id", "A"))
        .send_json(&json!([{"type": "a.b", "data": {}}]))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(event_count(&daemon).await, 0);

    // An endpoint's account exists, is fixed, and excludes all_accounts.
    let receiver = Receiver::start();
    let body = json!({"url": receiver.url, "events": ["a.*"], "account_id": "nobody"});
    let (status, answer) = daemon.api("POST", "/webhooks", Some(&body)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("unknown_account"))
    );
    let body =
        json!({"url": receiver.url, "events": ["a.*"], "account_id": "A", "all_accounts": true});
    let (status, answer) = daemon.api("POST", "/webhooks", Some(&body)).await;
    assert_eq!(status, 422, "{answer}");
    let endpoint = daemon
        .create_endpoint(&receiver.url, &["a.*"], json!({"account_id": "A"}))
        .await;
    let path = format!("/webhooks/{}", endpoint["id"].as_str().unwrap());
    for change in [json!({"account_id": "B"}), json!({"account_id": null})] {
        let (status, answer) = daemon.api("PATCH", &path, Some(&change)).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"], "account_id_fixed");
        assert_error_shape(&answer);
    }
    let (status, _) = daemon
        .api("PATCH", &path, Some(&json!({"account_id": "A"})))
        .await;
    assert_eq!(status, 200);
    let (_, listed) = daemon
        .api("GET", "/webhooks?account_id=not%20valid", None)
        .await;
    assert_eq!(listed["error"], "invalid_account_id");
}

#[actix_web::test]
async fn events_go_to_their_accounts_endpoints_and_opted_in_operators() {
    let daemon = Daemon::start(&[]);
    create_account(&daemon, "A").await;
    create_account(&daemon, "B").await;
    let (of_a, of_b, operator, audit) = (
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
        Receiver::start(),
    );
    let endpoint_a = daemon
        .create_endpoint(&of_a.url, &["user.*"], json!({"account_id": "A"}))
        .await;
    daemon
        .create_endpoint(&of_b.url, &["user.*"], json!({"account_id": "B"}))
        .await;
    daemon
        .create_endpoint(&operator.url, &["user.*"], json!({}))
        .await;
    let audit_endpoint = daemon
        .create_endpoint(&audit.url, &["user.*"], json!({"all_accounts": true}))
        .await;
    assert_eq!(audit_endpoint["all_accounts"], true);

    let for_a = publish_for(&daemon, "A", "user.changed").await;
    assert_eq!(for_a["deliveries"], 2);
    let client = awc::Client::default();
    let mut response = client
        .post(format!("{}/api/v1/events", daemon.admin))
        .insert_header(("Authorization", format!("Bearer {}", common::ADMIN_TOKEN)))
        .insert_header(("X-Account-Id", "B"))
        .send_json(&json!({"type": "user.changed", "data": {}}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let for_b: Value = response.json().await.unwrap();
    assert_eq!(for_b["deliveries"], 2);
    let plain = daemon.publish("user.changed", json!({})).await;
    assert_eq!(plain["deliveries"], 2);

    wait_count(&of_a, 1).await;
    wait_count(&of_b, 1).await;
    wait_count(&operator, 1).await;
    wait_count(&audit, 3).await;
    let received_a = of_a.received()[0].json();
    assert_eq!(received_a["id"], for_a["id"]);
    assert_eq!(received_a["account_id"], "A");
    assert_eq!(of_b.received()[0].json()["account_id"], "B");
    let plain_body = operator.received()[0].json();
    assert_eq!(plain_body["id"], plain["id"]);
    assert!(plain_body.get("account_id").is_none());

    // Every list narrows by account.
    let (_, events) = daemon.api("GET", "/events?account_id=A", None).await;
    assert_eq!(ids(&events), vec![for_a["id"].as_str().unwrap()]);
    assert_eq!(events["data"][0]["account_id"], "A");
    let (_, endpoints) = daemon.api("GET", "/webhooks?account_id=A", None).await;
    assert_eq!(ids(&endpoints), vec![endpoint_a["id"].as_str().unwrap()]);
    let (_, deliveries) = daemon.api("GET", "/deliveries?account_id=A", None).await;
    let found = deliveries["data"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{deliveries}");
    assert_eq!(found[0]["endpoint_id"], endpoint_a["id"]);
    let (_, stats) = daemon.api("GET", "/stats?account_id=A", None).await;
    let stats_endpoints = stats["endpoints"].as_array().unwrap();
    assert_eq!(stats_endpoints.len(), 1, "{stats}");
    assert_eq!(stats_endpoints[0]["endpoint_id"], endpoint_a["id"]);

    // A range replay limited to A: A's events to A's endpoints only.
    let body = json!({
        "from": "2000-01-01T00:00:00Z",
        "to": "2100-01-01T00:00:00Z",
        "account_id": "A"
    });
    let (status, replay) = daemon.api("POST", "/replay", Some(&body)).await;
    assert_eq!(status, 202, "{replay}");
    let replay_path = format!("/replay/{}", replay["id"].as_str().unwrap());
    let done = wait_for("the replay", Duration::from_secs(20), || async {
        let (_, job) = daemon.api("GET", &replay_path, None).await;
        (job["status"] == "done").then_some(job)
    })
    .await;
    assert_eq!(done["events_matched"], 1, "{done}");
    assert_eq!(done["deliveries_scheduled"], 1, "{done}");
    wait_count(&of_a, 2).await;
    assert_eq!((of_b.count(), operator.count(), audit.count()), (1, 1, 3));
}

#[actix_web::test]
async fn a_partner_is_an_account_that_keeps_its_routes() {
    let daemon = Daemon::start(&[CATALOG, OPEN]);
    let receiver = Receiver::start();
    let partner = register(&daemon, "Andes Tours", &receiver.url, &["payment.success"]).await;
    let partner_id = partner["partner_id"].as_str().unwrap();
    let (status, account) = daemon
        .api("GET", &format!("/accounts/{partner_id}"), None)
        .await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["name"], "Andes Tours");
    let (_, endpoints) = daemon
        .api("GET", &format!("/webhooks?account_id={partner_id}"), None)
        .await;
    assert_eq!(endpoints["data"][0]["partner_id"], partner_id);

    // The catalog broadcast still reaches the partner, and so does an event
    // for its account; another account's event does not.
    create_account(&daemon, "other").await;
    daemon.publish("payment.success", json!({"n": 1})).await;
    let addressed = publish_for(&daemon, partner_id, "payment.success").await;
    let elsewhere = publish_for(&daemon, "other", "payment.success").await;
    assert_eq!(elsewhere["deliveries"], 0);
    wait_count(&receiver, 2).await;
    let bodies: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert!(
        bodies.iter().any(|b| b["account_id"] == partner_id),
        "{bodies:?}"
    );
    let (_, listed) = daemon
        .api("GET", &format!("/events?account_id={partner_id}"), None)
        .await;
    assert_eq!(ids(&listed), vec![addressed["id"].as_str().unwrap()]);

    let (status, _) = daemon
        .api("DELETE", &format!("/partners/{partner_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = daemon
        .api("GET", &format!("/accounts/{partner_id}"), None)
        .await;
    assert_eq!(status, 404);
}
