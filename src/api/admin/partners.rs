//! `/api/v1/partners`: the operator's view of registered partners, and the
//! suspend / resume / remove controls. Shared secrets never appear here.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::pagination::{self, Page, PageQuery};
use crate::api::partners::PartnerView;
use crate::api::AppState;
use crate::clock::now_ms;
use crate::domain::{Endpoint, Partner, PartnerStatus};
use crate::error::ApiError;
use crate::ids::PartnerId;
use crate::service::endpoints;

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/partners", web::get().to(list))
        .route("/partners/{id}", web::get().to(get))
        .route("/partners/{id}", web::patch().to(update))
        .route("/partners/{id}", web::delete().to(delete));
}

fn parse_id(raw: &str) -> Result<PartnerId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("partner"))
}

async fn load(state: &AppState, raw_id: &str) -> Result<(Partner, Endpoint), ApiError> {
    state
        .store
        .partner_with_endpoint(parse_id(raw_id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("partner"))
}

/// Registered partners, oldest first.
#[utoipa::path(operation_id = "list_partners", get, path = "/api/v1/partners", tag = "admin", params(PageQuery),
    responses((status = 200, description = "One page of partners", body = Page<PartnerView>)))]
pub(crate) async fn list(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = pagination::cursor::<PartnerId>(query.cursor.as_deref())?;
    let page = state.store.list_partners(after, limit).await?;
    let next_cursor = pagination::next_cursor(&page, limit, |p| p.id);
    // A partner's endpoint is deleted only with the partner (the webhook
    // routes refuse it), so every listed partner has one.
    let mut data = Vec::with_capacity(page.len());
    for partner in &page {
        if let Some(endpoint) = state.store.get_endpoint(partner.endpoint_id).await? {
            data.push(PartnerView::of(partner, &endpoint));
        }
    }
    Ok(HttpResponse::Ok().json(Page { data, next_cursor }))
}

#[utoipa::path(operation_id = "get_partner", get, path = "/api/v1/partners/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "The partner", body = PartnerView)))]
pub(crate) async fn get(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (partner, endpoint) = load(&state, &id).await?;
    Ok(HttpResponse::Ok().json(PartnerView::of(&partner, &endpoint)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartnerUpdate {
    status: PartnerStatus,
}

/// Suspends a partner (its deliveries are held, its inbound events refused) or resumes it.
#[utoipa::path(operation_id = "update_partner", patch, path = "/api/v1/partners/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = PartnerUpdate,
    responses((status = 200, description = "The partner", body = PartnerView)))]
pub(crate) async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    input: web::Json<PartnerUpdate>,
) -> Result<HttpResponse, ApiError> {
    let (mut partner, _) = load(&state, &id).await?;
    let status = input.into_inner().status;
    if status != partner.status {
        endpoints::set_partner_status(&state.store, &mut partner, status, now_ms()).await?;
        tracing::info!(partner = %partner.id, status = status.as_str(), "partner status changed");
    }
    let (partner, endpoint) = load(&state, &id).await?;
    Ok(HttpResponse::Ok().json(PartnerView::of(&partner, &endpoint)))
}

/// Removes the partner and its endpoint.
#[utoipa::path(operation_id = "delete_partner", delete, path = "/api/v1/partners/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if !endpoints::delete_partner(&state.store, parse_id(&id)?).await? {
        return Err(ApiError::not_found("partner"));
    }
    tracing::info!(partner = %id, "partner removed");
    Ok(HttpResponse::NoContent().finish())
}
