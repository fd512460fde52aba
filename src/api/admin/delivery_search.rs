//! `GET /api/v1/deliveries`: every delivery, newest first, narrowed by
//! status, endpoint, event type (categories such as `payment.*` included)
//! and time. Answered from the search index (`store/sled/search.rs`), which bounds
//! the work of one request: a page of rare matches may come back short with
//! a `next_cursor` to go on from.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::endpoints::load;
use super::pagination;
use crate::api::scope::{parse_account_id, Scope};
use crate::api::AppState;
use crate::clock::format_rfc3339;
use crate::domain::filter::EventFilter;
use crate::domain::{AccountId, DeliveryStatus};
use crate::error::ApiError;
use crate::store::{DeliverySearch, FoundDelivery};

pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/deliveries", web::get().to(search));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryItem>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryItem {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    #[schema(value_type = DeliveryStatus)]
    pub status: &'static str,
    pub attempts: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

impl From<FoundDelivery> for DeliveryItem {
    fn from(found: FoundDelivery) -> DeliveryItem {
        let d = found.delivery;
        DeliveryItem {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: found.event_type,
            endpoint_id: d.endpoint_id.to_string(),
            status: d.status.as_str(),
            attempts: d.attempts,
            created_at: format_rfc3339(d.id.created_ms()),
            updated_at: format_rfc3339(d.updated_at_ms),
            next_attempt_at: d.next_attempt_ms.map(format_rfc3339),
        }
    }
}

/// Every delivery, newest first.
#[utoipa::path(operation_id = "search_deliveries", get, path = "/api/v1/deliveries", tag = "admin",
    params(
        ("status" = Option<DeliveryStatus>, Query, description = "Only deliveries in this state"),
        ("endpoint_id" = Option<String>, Query, description = "Only deliveries to this endpoint"),
        ("event_type" = Option<Vec<String>>, Query, explode = true,
            description = "Event types or categories (`payment.*`); repeat for several"),
        ("from" = Option<String>, Query, format = DateTime, description = "Created at or after this time"),
        ("to" = Option<String>, Query, format = DateTime, description = "Created before this time"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "How many items to return"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses((status = 200, description = "One page of deliveries", body = DeliveryList)))]
pub async fn search(
    state: web::Data<AppState>,
    scope: Scope,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (mut query, asked) = parse_query(request.query_string())?;
    if let (Some(endpoint), Some(_)) = (query.endpoint, scope.account()) {
        load(&state, &endpoint.to_string(), &scope).await?;
    }
    if let Some(account) = scope.narrow(asked)? {
        let endpoints = state
            .store
            .list_account_endpoints(&account, None, usize::MAX)
            .await?;
        query.endpoints_in = Some(endpoints.iter().map(|e| e.id).collect());
    }
    let page = state.store.search_deliveries(query).await?;
    Ok(HttpResponse::Ok().json(DeliveryList {
        next_cursor: page.next.map(|id| id.to_string()),
        data: page.found.into_iter().map(DeliveryItem::from).collect(),
    }))
}

/// Read by hand because `event_type` may repeat (`event_type=a.*&event_type=b`).
/// The account asked for comes back beside the search, which it narrows to
/// that account's endpoints once the scope has had its say.
fn parse_query(query_string: &str) -> Result<(DeliverySearch, Option<AccountId>), ApiError> {
    let mut account = None;
    let mut search = DeliverySearch::everything(pagination::DEFAULT_LIMIT);
    let mut types = Vec::new();
    let mut limit = None;
    for (name, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
        match name.as_ref() {
            "status" => {
                search.status = Some(DeliveryStatus::parse(&value).ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_status",
                        "status must be pending, succeeded, failed, held or cancelled",
                    )
                })?)
            }
            "endpoint_id" => search.endpoint = Some(pagination::endpoint_id(&value)?),
            "account_id" => account = Some(parse_account_id(&value)?),
            "event_type" => types.push(value.into_owned()),
            "from" => search.from_ms = Some(pagination::time("from", &value)?),
            "to" => search.to_ms = Some(pagination::time("to", &value)?),
            "limit" => limit = Some(pagination::limit_number(&value)?),
            "cursor" => search.before = pagination::cursor(Some(&value))?,
            other => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    format!("unknown query parameter {other}"),
                ))
            }
        }
    }
    pagination::check_range(search.from_ms, search.to_ms)?;
    if !types.is_empty() {
        let filter = EventFilter::parse(&types)
            .map_err(|e| ApiError::invalid("invalid_event_type", format!("event_type: {e}")))?;
        search.types = Some(filter);
    }
    search.limit = pagination::limit(limit)?;
    Ok((search, account))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> String {
        match parse_query(query) {
            Err(ApiError::Invalid { code, message }) => format!("{code}: {message}"),
            Err(other) => format!("{other:?}"),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn every_parameter_is_checked_and_named() {
        assert_eq!(code("status=succeeded&event_type=payment.*&limit=5"), "ok");
        assert!(code("status=done").contains("status"));
        assert!(code("endpoint_id=evt_01").contains("endpoint_id"));
        assert!(code("event_type=Bad Type!").contains("event_type"));
        assert!(code("from=yesterday").contains("from"));
        assert!(code("to=3").contains("to"));
        assert!(code("limit=0").contains("limit"));
        assert!(code("limit=x").contains("limit"));
        assert!(code("cursor=nope").contains("cursor"));
        assert!(code("colour=red").contains("colour"));
        assert!(code("account_id=a b").contains("account"));
        assert!(code("from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z").contains("from"));
    }
}
