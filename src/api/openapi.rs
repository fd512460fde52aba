//! `GET /openapi.json`: the OpenAPI 3 description of both listeners,
//! generated from the handlers' `#[utoipa::path]` attributes and the types
//! they read and answer, so the document cannot drift from the code.
//!
//! A new route is one `#[utoipa::path]` on its handler plus one line in
//! `paths(...)` below. The refusals every route shares (a bad token, an
//! unknown ID, a bad body or query) are added here from the shape of each
//! operation rather than repeated on every handler.

use actix_web::HttpResponse;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::admin::{
    accounts, deliveries, delivery_search, endpoints, events, metrics, partners as admin_partners,
    replay, stats,
};
use super::{console, inbound, partners};
use crate::error::ErrorBody;

/// The admin bearer scheme: a token from `admin.tokens` or `<data_dir>/admin.token`.
const ADMIN_TOKEN: &str = "admin_token";
/// A partner's bearer scheme: the `shared_secret` it received at registration.
const PARTNER_SECRET: &str = "partner_secret";
/// The portal's bearer scheme: the `token` of an account's portal link.
const PORTAL_TOKEN: &str = "portal_token";
/// Registration with `partners.registration = "token"`: one of `partners.registration_tokens`.
const REGISTRATION_TOKEN: &str = "registration_token";

/// Routes under this prefix sit behind the admin token.
const ADMIN_API: &str = "/api/v1";
/// The portal serves some admin routes again under this prefix, for one account.
const PORTAL_API: &str = "/portal/api/v1";
/// The admin routes the portal serves (`portal.rs`), as paths under
/// [`ADMIN_API`] and the methods it answers on them.
const PORTAL_ROUTES: &[(&str, &[&str])] = &[
    ("/webhooks", &["get", "post", "patch", "delete"]),
    ("/deliveries", &["get", "post"]),
    ("/replay", &["get", "post"]),
    ("/events", &["get"]),
];
/// The console's page and files, served again on the public listener as an
/// account's portal: (admin path, public path, operation ID).
const PORTAL_PAGES: &[(&str, &str, &str)] = &[
    ("/", "/portal/", "portal_page"),
    (
        "/console/{name}",
        "/portal/console/{name}",
        "portal_page_file",
    ),
];
/// Routes under this prefix resolve the partner from its shared secret.
const PARTNER_SELF: &str = "/partners/me";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookd",
        description = "A webhook delivery daemon. Operations tagged `admin` are served on the \
            admin listener (`server.admin_bind`), those tagged `public` on the public listener \
            (`server.public_bind`); `/healthz` answers on both. Under `/portal/api/v1` the \
            public listener serves the admin routes for endpoints, events (read only), \
            deliveries and replay again, limited to the account of a portal token. Every \
            refusal carries the JSON body `ErrorBody`."
    ),
    paths(
        super::healthz,
        super::admin::readyz,
        document,
        console::index,
        console::asset,
        console::to_portal,
        accounts::create,
        accounts::list,
        accounts::get,
        accounts::update,
        accounts::delete,
        accounts::portal_link,
        endpoints::create,
        endpoints::list,
        endpoints::get,
        endpoints::update,
        endpoints::delete,
        endpoints::secret,
        endpoints::rotate_secret,
        events::publish,
        events::publish_batch,
        events::list,
        events::get,
        deliveries::get,
        deliveries::retry,
        deliveries::list_for_endpoint,
        deliveries::send_test,
        delivery_search::search,
        stats::stats,
        metrics::scrape,
        replay::create,
        replay::list,
        replay::get,
        admin_partners::list,
        admin_partners::get,
        admin_partners::update,
        admin_partners::delete,
        partners::register,
        partners::me,
        partners::update_me,
        partners::rotate_secret,
        partners::my_deliveries,
        partners::test_me,
        inbound::receive_unnamed,
        inbound::receive_named,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &PortalRoutes, &SharedRefusals),
    tags(
        (name = "admin", description = "Served on the admin listener"),
        (name = "public", description = "Served on the public listener"),
    )
)]
pub struct ApiDoc;

/// The document itself, on the admin listener without a token.
#[utoipa::path(get, path = "/openapi.json", tag = "admin",
    responses((status = 200, description = "This API's OpenAPI document", content_type = "application/json")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (ADMIN_TOKEN, "An admin token: one of `admin.tokens`, or the one generated into `<data_dir>/admin.token`"),
            (PORTAL_TOKEN, "The `token` of a portal link (`POST /api/v1/accounts/{id}/portal-link`), until it expires"),
            (PARTNER_SECRET, "A partner's `shared_secret`, as returned by registration or rotation"),
            (REGISTRATION_TOKEN, "One of `partners.registration_tokens`, when `partners.registration = \"token\"`"),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

/// Copies the admin operations the portal serves under [`PORTAL_API`], and
/// the console's page and files it serves under `/portal/`, tagged `public`
/// and with their own operation IDs; [`SharedRefusals`]
/// then gives them the portal token's security.
struct PortalRoutes;

impl Modify for PortalRoutes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut copies = Vec::new();
        for (path, item) in &openapi.paths.paths {
            let Some(relative) = path.strip_prefix(ADMIN_API) else {
                continue;
            };
            let Some((_, methods)) = PORTAL_ROUTES.iter().find(|(prefix, _)| {
                relative == *prefix || relative.starts_with(&format!("{prefix}/"))
            }) else {
                continue;
            };
            if relative == "/events/batch" {
                continue;
            }
            let mut copy = item.clone();
            for (method, operation) in [
                ("get", &mut copy.get),
                ("post", &mut copy.post),
                ("put", &mut copy.put),
                ("patch", &mut copy.patch),
                ("delete", &mut copy.delete),
            ] {
                if !methods.contains(&method) {
                    *operation = None;
                }
                if let Some(operation) = operation {
                    operation.tags = Some(vec!["public".to_string()]);
                    operation.operation_id = operation
                        .operation_id
                        .as_ref()
                        .map(|id| format!("portal_{id}"));
                    if names_an_item(operation) {
                        refuse(
                            operation,
                            404,
                            "An ID in the path, query or body names nothing in the portal's account",
                        );
                    }
                }
            }
            copies.push((format!("{PORTAL_API}{relative}"), copy));
        }
        for (admin_path, public_path, operation_id) in PORTAL_PAGES {
            let Some(mut copy) = openapi.paths.paths.get(*admin_path).cloned() else {
                continue;
            };
            if let Some(operation) = &mut copy.get {
                operation.tags = Some(vec!["public".to_string()]);
                operation.operation_id = Some(operation_id.to_string());
            }
            copies.push((public_path.to_string(), copy));
        }
        openapi.paths.paths.extend(copies);
    }
}

/// Whether an operation takes an ID that a portal may not reach: a path
/// ID, an `account_id` or `endpoint_id` query, or a body (whose IDs the
/// handlers answer as missing when outside the account).
fn names_an_item(operation: &Operation) -> bool {
    let named = operation
        .parameters
        .iter()
        .flatten()
        .any(|parameter| match parameter {
            RefOr::T(parameter) => {
                parameter.parameter_in == ParameterIn::Path
                    || ["account_id", "endpoint_id"].contains(&parameter.name.as_str())
            }
            RefOr::Ref(_) => false,
        });
    named || operation.request_body.is_some()
}

/// Adds the refusals an operation gets from its shape: every `/api/v1`
/// route requires the admin token (401), every `/partners/me` route a
/// partner's shared secret (401, and 403 while suspended), a path ID may
/// name nothing (404),
/// a query may not parse (422), and a JSON body may be malformed (400), too
/// slow to arrive (408), too large (413), of another content type (415) or
/// invalid (422).
struct SharedRefusals;

impl Modify for SharedRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let scheme = if path.starts_with(ADMIN_API) {
                Some(ADMIN_TOKEN)
            } else if path.starts_with(PORTAL_API) {
                Some(PORTAL_TOKEN)
            } else if path.starts_with(PARTNER_SELF) {
                Some(PARTNER_SECRET)
            } else {
                None
            };
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                add_refusals(operation, scheme);
            }
        }
    }
}

fn add_refusals(operation: &mut Operation, scheme: Option<&str>) {
    if let Some(scheme) = scheme {
        let requirement = SecurityRequirement::new(scheme, Vec::<String>::new());
        operation.security = Some(vec![requirement]);
        refuse(operation, 401, "No valid bearer token for this route");
    }
    if scheme == Some(PARTNER_SECRET) {
        refuse(operation, 403, "The partner is suspended");
    }
    let has_param = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| match parameter {
                RefOr::T(parameter) => parameter.parameter_in == place,
                RefOr::Ref(_) => false,
            })
    };
    let (in_path, in_query) = (has_param(ParameterIn::Path), has_param(ParameterIn::Query));
    if in_path {
        refuse(operation, 404, "Nothing with that ID");
    }
    if in_query {
        refuse(
            operation,
            422,
            "A query parameter is invalid; the message names it",
        );
    }
    if operation.request_body.is_some() {
        refuse(operation, 400, "The body is not valid JSON");
        refuse(operation, 408, "The body did not arrive in time");
        refuse(operation, 413, "The body is too large");
        refuse(operation, 415, "The body is not sent as application/json");
        refuse(
            operation,
            422,
            "The body is invalid; `error` says which rule it breaks",
        );
    }
}

/// Documents an `ErrorBody` answer, unless the handler documented that status itself.
fn refuse(operation: &mut Operation, status: u16, description: &str) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert(RefOr::T(response));
}
