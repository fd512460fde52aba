//! `GET /openapi.json`: served without a token, a valid OpenAPI 3 document,
//! and complete both ways: every route the code registers is described, and
//! every described operation is answered by its listener. Conformance of the
//! answers themselves is fuzzed by `.ci/fuzz-api`.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{assert_error_shape, Daemon, ADMIN_TOKEN};
use serde_json::Value;

async fn document(daemon: &Daemon) -> Value {
    let url = format!("{}/openapi.json", daemon.admin);
    let (status, doc) = daemon.request("GET", &url, None, None).await;
    assert_eq!(status, 200, "{doc}");
    doc
}

/// `(method, path)` of every operation, and whether it is tagged public.
fn operations(doc: &Value) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let tags = operation["tags"].as_array().cloned().unwrap_or_default();
            let public = tags.iter().any(|t| t == "public");
            found.push((method.to_uppercase(), path.clone(), public));
        }
    }
    found
}

#[actix_web::test]
async fn the_document_is_valid_openapi_with_its_bearer_schemes() {
    let daemon = Daemon::start(&[]);
    let doc = document(&daemon).await;

    let spec = oas3::from_json(doc.to_string()).expect("an OpenAPI 3.1 document");
    spec.validate_version()
        .expect("a supported OpenAPI version");
    assert!(spec.operations().count() >= 30, "too few operations");
    let ids: Vec<_> = spec
        .operations()
        .filter_map(|(_, _, op)| op.operation_id.clone())
        .collect();
    let unique: BTreeSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), unique.len(), "operation IDs repeat: {ids:?}");

    let schemes = &doc["components"]["securitySchemes"];
    for name in ["admin_token", "partner_secret", "portal_token"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], serde_json::json!(["error", "message"]));

    let list = &doc["paths"]["/api/v1/webhooks"]["get"];
    assert_eq!(list["security"][0]["admin_token"], serde_json::json!([]));
    let names: Vec<_> = list["parameters"]
        .as_array()
        .expect("query parameters")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["limit", "cursor", "account_id"]);
    assert!(list["responses"]["401"].is_object());
    let create = &doc["paths"]["/api/v1/webhooks"]["post"];
    assert!(create["requestBody"]["content"]["application/json"].is_object());
    for status in ["201", "400", "401", "413", "415", "422"] {
        assert!(create["responses"][status].is_object(), "{status}");
    }
    let me = &doc["paths"]["/partners/me"]["get"];
    assert_eq!(me["security"][0]["partner_secret"], serde_json::json!([]));
    assert_eq!(me["tags"], serde_json::json!(["public"]));
    let portal = &doc["paths"]["/portal/api/v1/webhooks"]["get"];
    assert_eq!(portal["security"][0]["portal_token"], serde_json::json!([]));
    assert_eq!(portal["tags"], serde_json::json!(["public"]));
    assert_eq!(portal["operationId"], "portal_list_endpoints");
    assert!(doc["paths"]["/portal/api/v1/events"]["post"].is_null());
    assert!(doc["paths"]["/portal/api/v1/events/batch"].is_null());
}

/// A portal token of a fresh account, so a portal route that does not exist
/// answers `404` rather than the portal's `401`.
async fn portal_token(daemon: &Daemon) -> String {
    let account = serde_json::json!({"id": "acct_openapi", "name": "OpenAPI"});
    let (status, body) = daemon.api("POST", "/accounts", Some(&account)).await;
    assert_eq!(status, 201, "{body}");
    let (status, link) = daemon
        .api("POST", "/accounts/acct_openapi/portal-link", None)
        .await;
    assert_eq!(status, 201, "{link}");
    link["token"].as_str().expect("token").to_string()
}

#[actix_web::test]
async fn every_documented_operation_is_answered_by_its_listener() {
    let daemon = Daemon::start(&[]);
    let doc = document(&daemon).await;
    let portal_token = portal_token(&daemon).await;
    for (method, path, public) in operations(&doc) {
        let base = if public {
            &daemon.public
        } else {
            &daemon.admin
        };
        let token = match path.starts_with("/portal/") {
            true => portal_token.as_str(),
            false => ADMIN_TOKEN,
        };
        let url = format!(
            "{base}{}",
            path.replace("{id}", "x")
                .replace("{partner_id}", "x")
                .replace("{name}", "x")
        );
        let (status, body) = daemon.request(&method, &url, None, Some(token)).await;
        let unrouted = status == 405 || body["message"] == "no such route";
        assert!(!unrouted, "{method} {path}: {status} {body}");
        if status >= 400 {
            assert_error_shape(&body);
        }
    }
}

#[actix_web::test]
async fn undocumented_methods_and_paths_get_json_errors() {
    let daemon = Daemon::start(&[]);
    let (status, body) = daemon.api("PUT", "/events", None).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"], "method_not_allowed");
    let (status, body) = daemon.api("PUT", "/webhooks", None).await;
    assert_eq!(status, 404);
    assert_error_shape(&body);
    let url = format!("{}/no/such/route", daemon.public);
    let (status, body) = daemon.request("GET", &url, None, None).await;
    assert_eq!(status, 404);
    assert_error_shape(&body);
}

/// The path literal of every `.route("…"` and `web::resource("…"` in `source`.
fn route_literals(source: &str) -> Vec<String> {
    let mut literals = Vec::new();
    for opener in [".route(", "web::resource("] {
        for (at, _) in source.match_indices(opener) {
            let rest = source[at + opener.len()..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else {
                continue;
            };
            let end = literal.find('"').expect("closing quote");
            literals.push(literal[..end].to_string());
        }
    }
    literals
}

/// Reads the route registrations out of `src/api`: the path literals, with
/// `/api/v1` in front for the files of the admin API's scope
/// (`src/api/admin/`, except its `mod.rs`, which registers the probes beside
/// the scope), and again with `/portal/api/v1` in front for the functions
/// `portal.rs` configures (`.configure(module::function)`).
fn registered_paths() -> BTreeSet<String> {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let admin = api.join("admin");
    let mut files = Vec::new();
    for dir in [api.clone(), admin.clone()] {
        for entry in std::fs::read_dir(&dir).expect("src/api") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut paths = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("source");
        let scoped = file.parent() == Some(&admin) && !file.ends_with("mod.rs");
        let prefix = if scoped { "/api/v1" } else { "" };
        for literal in route_literals(&source) {
            paths.insert(format!("{prefix}{literal}"));
        }
    }
    let portal = std::fs::read_to_string(api.join("portal.rs")).expect("portal.rs");
    for (at, _) in portal.match_indices(".configure(") {
        let call = &portal[at + ".configure(".len()..];
        let call = &call[..call.find(')').expect("closing parenthesis")];
        let (module, function) = call.split_once("::").expect("module::function");
        let source = std::fs::read_to_string(admin.join(format!("{module}.rs"))).expect(module);
        let body = &source[source.find(&format!("fn {function}(")).expect(call)..];
        let body = &body[..body.find("\n}\n").expect("end of function")];
        for literal in route_literals(body) {
            paths.insert(format!("/portal/api/v1{literal}"));
        }
    }
    paths
}

#[actix_web::test]
async fn every_registered_route_is_documented() {
    let registered = registered_paths();
    assert!(registered.contains("/api/v1/webhooks/{id}/secret/rotate"));
    assert!(registered.contains("/webhooks/partners/{partner_id}"));
    assert!(registered.contains("/portal/api/v1/replay/{id}"));
    assert!(!registered.contains("/portal/api/v1/events/batch"));

    let daemon = Daemon::start(&[]);
    let doc = document(&daemon).await;
    let documented: BTreeSet<String> = operations(&doc).into_iter().map(|(_, p, _)| p).collect();
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without a #[utoipa::path] listed in src/api/openapi.rs: {missing:?}"
    );
}
