//! `/api/v1/accounts`: the platform's customers, and the portal links that
//! give one of them its own view of the API.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::pagination::{self, Page, PageQuery};
use crate::api::portal_token;
use crate::api::scope::parse_account_id;
use crate::api::AppState;
use crate::clock::{format_rfc3339, now_ms};
use crate::config::Settings;
use crate::domain::account::validate_display_name;
use crate::domain::duration::parse_duration;
use crate::domain::{Account, AccountId};
use crate::error::{ApiError, ErrorBody};

/// Portal links last an hour unless asked otherwise, and a week at most.
const DEFAULT_LINK_TTL_MS: u64 = 3_600_000;
const MAX_LINK_TTL_MS: u64 = 7 * 24 * 3_600_000;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/accounts", web::post().to(create))
        .route("/accounts", web::get().to(list))
        .route("/accounts/{id}", web::get().to(get))
        .route("/accounts/{id}", web::patch().to(update))
        .route("/accounts/{id}", web::delete().to(delete))
        .route("/accounts/{id}/portal-link", web::post().to(portal_link));
}

/// An account as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    #[schema(example = "acct_01HQ3Z9V6Y8W1K2M3N4P5Q6R7S")]
    id: String,
    name: String,
    #[schema(value_type = Object)]
    metadata: Value,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl AccountView {
    fn of(account: &Account) -> AccountView {
        AccountView {
            id: account.id.to_string(),
            name: account.name.clone(),
            metadata: serde_json::from_str(&account.metadata_json).unwrap_or(json!({})),
            created_at: format_rfc3339(account.created_at_ms),
            updated_at: format_rfc3339(account.updated_at_ms),
        }
    }
}

/// A portal link: open `url`, or send `token` as the portal's bearer token.
#[derive(Serialize, ToSchema)]
pub struct PortalLink {
    url: String,
    token: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// An account named by a request (publish, endpoint, path): the grammar,
/// then existence. `unknown` is the error for a well-formed ID of no account.
pub async fn existing(state: &AppState, raw: &str, unknown: ApiError) -> Result<Account, ApiError> {
    let id = parse_account_id(raw)?;
    state.store.get_account(&id).await?.ok_or(unknown)
}

/// A `422` for a well-formed account ID that names no account.
pub fn unknown_account() -> ApiError {
    ApiError::invalid("unknown_account", "no account with that id")
}

/// The account in a path: any ID that names none is a `404`.
async fn load(state: &AppState, raw: &str) -> Result<Account, ApiError> {
    let id = AccountId::parse(raw).map_err(|_| ApiError::not_found("account"))?;
    state
        .store
        .get_account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

fn metadata_json(metadata: Value) -> Result<String, ApiError> {
    match metadata.is_object() {
        true => Ok(metadata.to_string()),
        false => Err(ApiError::invalid(
            "invalid_metadata",
            "metadata must be a JSON object",
        )),
    }
}

fn name(raw: &str) -> Result<String, ApiError> {
    validate_display_name("name", raw).map_err(|message| ApiError::invalid("invalid_name", message))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInput {
    /// The platform's own ID for the account; `acct_<ULID>` is generated when absent.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    id: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// Free-form JSON object kept with the account.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(operation_id = "create_account", post, path = "/api/v1/accounts", tag = "admin", request_body = CreateInput,
    responses(
        (status = 201, description = "Created", body = AccountView),
        (status = 409, description = "An account with that ID exists", body = ErrorBody),
    ))]
pub(crate) async fn create(
    state: web::Data<AppState>,
    input: web::Json<CreateInput>,
) -> Result<HttpResponse, ApiError> {
    let input = input.into_inner();
    let now = now_ms();
    let id = match input.id {
        Some(raw) => parse_account_id(&raw)?,
        None => AccountId::generate(now),
    };
    let account = Account {
        id,
        name: name(&input.name)?,
        metadata_json: input
            .metadata
            .map(metadata_json)
            .transpose()?
            .unwrap_or("{}".into()),
        created_at_ms: now,
        updated_at_ms: now,
    };
    if !state.store.create_account(&account).await? {
        return Err(ApiError::Conflict(format!(
            "an account with id {} already exists",
            account.id
        )));
    }
    tracing::info!(account = %account.id, "account created");
    Ok(HttpResponse::Created().json(AccountView::of(&account)))
}

/// Accounts in ID order.
#[utoipa::path(operation_id = "list_accounts", get, path = "/api/v1/accounts", tag = "admin", params(PageQuery),
    responses((status = 200, description = "One page of accounts", body = Page<AccountView>)))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = pagination::cursor::<AccountId>(query.cursor.as_deref())?;
    let page = state.store.list_accounts(after.as_ref(), limit).await?;
    Ok(HttpResponse::Ok().json(Page {
        data: page.iter().map(AccountView::of).collect(),
        next_cursor: pagination::next_cursor(&page, limit, |a| a.id.clone()),
    }))
}

#[utoipa::path(operation_id = "get_account", get, path = "/api/v1/accounts/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The account", body = AccountView)))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(AccountView::of(&load(&state, &id).await?)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateInput {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// Replaces the whole metadata object.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(operation_id = "update_account", patch, path = "/api/v1/accounts/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = UpdateInput,
    responses((status = 200, description = "The updated account", body = AccountView)))]
pub(crate) async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    input: web::Json<UpdateInput>,
) -> Result<HttpResponse, ApiError> {
    let mut account = load(&state, &id).await?;
    let input = input.into_inner();
    if let Some(raw) = input.name {
        account.name = name(&raw)?;
    }
    if let Some(metadata) = input.metadata {
        account.metadata_json = metadata_json(metadata)?;
    }
    account.updated_at_ms = now_ms();
    state.store.save_account(&account).await?;
    Ok(HttpResponse::Ok().json(AccountView::of(&account)))
}

/// Refused while endpoints belong to the account: they would be left
/// receiving nothing, or (re-created under the same ID) someone else's.
#[utoipa::path(operation_id = "delete_account", delete, path = "/api/v1/accounts/{id}", tag = "admin", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The account still has endpoints", body = ErrorBody),
    ))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = load(&state, &id).await?;
    if !state
        .store
        .list_account_endpoints(&account.id, None, 1)
        .await?
        .is_empty()
    {
        return Err(ApiError::Conflict(
            "the account still has endpoints; delete them first".into(),
        ));
    }
    state.store.delete_account(&account.id).await?;
    tracing::info!(account = %account.id, "account deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkInput {
    /// How long the link works, e.g. `30m`; more than `0s`, at most `7d`.
    #[schema(default = "1h")]
    ttl: Option<String>,
}

/// A signed, short-lived link to the account's portal. The token travels
/// in the URL fragment, which browsers never send, so it stays out of
/// server and proxy logs.
#[utoipa::path(operation_id = "create_portal_link", post, path = "/api/v1/accounts/{id}/portal-link", tag = "admin",
    params(("id" = String, Path)),
    request_body(content = Option<LinkInput>, description = "Optional; without it the link lasts an hour"),
    responses((status = 201, description = "The link and its token", body = PortalLink)))]
pub(crate) async fn portal_link(
    state: web::Data<AppState>,
    id: web::Path<String>,
    input: Option<web::Json<LinkInput>>,
) -> Result<HttpResponse, ApiError> {
    let account = load(&state, &id).await?;
    let input = input.map(web::Json::into_inner).unwrap_or_default();
    let ttl_ms = match input.ttl {
        Some(text) => parse_duration(&text)
            .map(|d| d.as_millis() as u64)
            .map_err(|e| ApiError::invalid("invalid_ttl", e.to_string()))?,
        None => DEFAULT_LINK_TTL_MS,
    };
    if ttl_ms == 0 || ttl_ms > MAX_LINK_TTL_MS {
        return Err(ApiError::invalid(
            "invalid_ttl",
            "ttl must be more than 0s and at most 7d",
        ));
    }
    let expires_ms = now_ms() + ttl_ms;
    let token = portal_token::issue(&state.portal_key, &account.id, expires_ms);
    Ok(HttpResponse::Created().json(PortalLink {
        url: format!("{}/portal/#token={token}", public_base(&state.settings)),
        token,
        expires_at: format_rfc3339(expires_ms),
    }))
}

/// `server.public_url`, else the public listener's address.
fn public_base(settings: &Settings) -> String {
    if let Some(url) = &settings.server.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let bind = settings.server.public_bind;
    match bind.ip().is_unspecified() {
        true => format!("http://localhost:{}", bind.port()),
        false => format!("http://{bind}"),
    }
}
