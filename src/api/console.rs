//! The web console: plain HTML, CSS and JavaScript modules compiled into the
//! binary, so the daemon serves its own UI with nothing read from disk and
//! nothing fetched from another origin. The same files are mounted twice: at
//! `/` on the admin listener (the operator's console, talking to `/api/v1`
//! with the admin token) and at `/portal/` on the public listener (one
//! account's portal, talking to `/portal/api/v1` with a portal link's token);
//! the page picks its mode from its own path. Tokens travel as a bearer
//! header (no cookie, hence no CSRF surface); the headers below forbid inline
//! script, framing and content sniffing.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

/// Everything the page may load comes from this origin; no inline script or
/// style, no plugins, no framing, forms post only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; object-src 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("endpoints.js", JS),
    asset!("events.js", JS),
    asset!("event.js", JS),
    asset!("deliveries.js", JS),
    asset!("replays.js", JS),
    asset!("partners.js", JS),
];

/// The operator's console, on the admin listener.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/console/{name}", web::get().to(asset));
}

/// An account's portal, on the public listener. The page names its files
/// relative to itself, so they resolve under `/portal/console/`.
pub fn portal_routes(config: &mut web::ServiceConfig) {
    config
        .route("/portal", web::get().to(to_portal))
        .route("/portal/", web::get().to(index))
        .route("/portal/console/{name}", web::get().to(asset));
}

/// Without the slash, the page's relative file names would miss `/portal/`.
#[utoipa::path(operation_id = "portal_page_redirect", get, path = "/portal", tag = "public",
    responses((status = 308, description = "To `/portal/`",
        headers(("Location" = String, description = "`/portal/`")))))]
pub(crate) async fn to_portal() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/portal/"))
        .finish()
}

/// The console's page; it then calls `/api/v1` with the token it is given.
#[utoipa::path(operation_id = "console", get, path = "/", tag = "admin",
    responses((status = 200, description = "The console's HTML page", body = String, content_type = "text/html")))]
pub(crate) async fn index() -> Result<HttpResponse, ApiError> {
    serve("index.html")
}

/// A file of the console, by name.
#[utoipa::path(operation_id = "console_file", get, path = "/console/{name}", tag = "admin",
    params(("name" = String, Path, example = "app.js")),
    responses((status = 200, description = "The file: JavaScript, CSS, SVG or the page", content(
        (String = "text/javascript"), (String = "text/css"), (String = "image/svg+xml"), (String = "text/html"),
    ))))]
pub(crate) async fn asset(name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&name)
}

fn serve(name: &str) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| ApiError::not_found("console file"))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        // A new binary may ship new files under the same names.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> &'static str {
        let asset = ASSETS.iter().find(|a| a.name == name).expect(name);
        std::str::from_utf8(asset.body).expect("UTF-8")
    }

    /// Every file the page or a module asks for is one the binary serves,
    /// so a new module cannot be forgotten in `ASSETS`.
    #[test]
    fn every_referenced_file_is_embedded() {
        let mut referenced = Vec::new();
        for asset in ASSETS.iter().filter(|a| a.name != "icon.svg") {
            let source = text(asset.name);
            for quote in ["\"console/", "'./"] {
                for (start, _) in source.match_indices(quote) {
                    let rest = &source[start + quote.len()..];
                    let end = rest.find(['"', '\'']).expect("closing quote");
                    referenced.push(&rest[..end]);
                }
            }
        }
        assert!(referenced.len() > ASSETS.len(), "{referenced:?}");
        for name in referenced {
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
        }
    }

    /// The page is served at `/` and at `/portal/`: it must name its files
    /// relative to itself to find them under both.
    #[test]
    fn page_names_its_files_relative_to_itself() {
        let page = text("index.html");
        assert!(page.contains("\"console/app.js\""), "{page}");
        assert!(!page.contains("\"/console/"), "{page}");
    }

    /// Data reaches the page as text only.
    #[test]
    fn no_module_parses_html() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let source = text(asset.name);
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!source.contains(sink), "{} uses {sink}", asset.name);
            }
        }
    }
}
