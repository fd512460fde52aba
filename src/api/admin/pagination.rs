//! Query parameters shared by the list routes: `limit`, `cursor`, times
//! and an `endpoint_id` filter.

use std::str::FromStr;

use crate::clock::parse_rfc3339;
use crate::error::ApiError;
use crate::ids::EndpointId;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

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

/// A time parameter (`from`, `to`): RFC 3339 UTC, as milliseconds.
pub fn time(name: &str, raw: &str) -> Result<u64, ApiError> {
    parse_rfc3339(raw).ok_or_else(|| {
        ApiError::invalid(
            "invalid_time",
            format!("{name} must be an RFC 3339 UTC time"),
        )
    })
}

/// A `limit` read by hand from the query string.
pub fn limit_number(raw: &str) -> Result<usize, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid("invalid_limit", "limit must be a whole number"))
}

/// An `endpoint_id` filter.
pub fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_endpoint_id",
            "endpoint_id must be an endpoint ID (ep_…)",
        )
    })
}

/// `from` must not be after `to`.
pub fn check_range(from_ms: Option<u64>, to_ms: Option<u64>) -> Result<(), ApiError> {
    match (from_ms, to_ms) {
        (Some(from), Some(to)) if from > to => Err(ApiError::invalid(
            "invalid_range",
            "from must not be after to",
        )),
        _ => Ok(()),
    }
}
