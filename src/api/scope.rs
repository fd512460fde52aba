//! Whose items a request may reach. The admin listener's requests act for
//! the operator and see everything; a portal request acts for one account
//! and sees only its own. The same handlers serve both: each takes a
//! [`Scope`] and asks it before showing or changing an item, and an item out
//! of scope is answered exactly as a missing one (`404`).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::domain::AccountId;
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Operator,
    Account(AccountId),
}

impl Scope {
    /// The account a portal request is limited to; none for the operator.
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Scope::Operator => None,
            Scope::Account(account) => Some(account),
        }
    }

    /// Whether an item belonging to `owner` (none: the operator's) is in scope.
    pub fn sees(&self, owner: Option<&AccountId>) -> bool {
        match self {
            Scope::Operator => true,
            Scope::Account(account) => owner == Some(account),
        }
    }

    /// The account a list is narrowed to: the one asked for by the
    /// operator, always the portal's own (asking for another is a `404`).
    pub fn narrow(&self, asked: Option<AccountId>) -> Result<Option<AccountId>, ApiError> {
        match (self, asked) {
            (Scope::Operator, asked) => Ok(asked),
            (Scope::Account(own), Some(asked)) if asked != *own => {
                Err(ApiError::not_found("account"))
            }
            (Scope::Account(own), _) => Ok(Some(own.clone())),
        }
    }

    /// Puts the scope on a request, for the handlers' extractor.
    pub fn attach(self, request: &impl HttpMessage) {
        request.extensions_mut().insert(self);
    }
}

/// Set by the listener's authentication middleware; a route reached
/// without one is refused rather than given a default scope.
impl FromRequest for Scope {
    type Error = ApiError;
    type Future = Ready<Result<Scope, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Scope>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// An `account_id` query or body value: the grammar, else a `422`.
pub fn parse_account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw).map_err(|message| ApiError::invalid("invalid_account_id", message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    #[test]
    fn an_account_sees_only_its_own() {
        let scope = Scope::Account(account("a"));
        assert!(scope.sees(Some(&account("a"))));
        assert!(!scope.sees(Some(&account("b"))));
        assert!(!scope.sees(None));
        assert!(Scope::Operator.sees(None));
        assert!(Scope::Operator.sees(Some(&account("b"))));
    }

    #[test]
    fn lists_narrow_to_the_portals_account() {
        let scope = Scope::Account(account("a"));
        assert_eq!(scope.narrow(None).unwrap(), Some(account("a")));
        assert_eq!(
            scope.narrow(Some(account("a"))).unwrap(),
            Some(account("a"))
        );
        assert!(scope.narrow(Some(account("b"))).is_err());
        assert_eq!(Scope::Operator.narrow(None).unwrap(), None);
        assert_eq!(
            Scope::Operator.narrow(Some(account("b"))).unwrap(),
            Some(account("b"))
        );
    }
}
