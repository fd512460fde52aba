//! `limit` and `cursor` query parameters, shared by every list route.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// `?limit=&cursor=`, the query of most list routes.
#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// How many items to return.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of a list, and the cursor of the next one while more may follow.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

pub fn limit(raw: Option<usize>) -> Result<usize, ApiError> {
    match raw.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        _ => Err(ApiError::invalid(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A cursor is the ID of the last item of the previous page.
pub fn cursor<T: FromStr>(raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| {
                ApiError::invalid("invalid_cursor", "cursor is not one this API gave out")
            })
        })
        .transpose()
}

/// The `next_cursor` of a page: the last item's ID when the page came back
/// full (more may follow), else none.
pub fn next_cursor<T, I: ToString>(
    page: &[T],
    limit: usize,
    id: impl Fn(&T) -> I,
) -> Option<String> {
    (page.len() == limit)
        .then(|| page.last().map(|item| id(item).to_string()))
        .flatten()
}
