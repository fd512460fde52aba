//! Which endpoints an event goes to, as far as accounts are concerned (the
//! type filter is the other half). Publishing and replay both ask this, so
//! a replayed event never reaches an endpoint its publish could not.

use crate::domain::{Endpoint, Event};

/// Whether `endpoint` may receive `event`:
/// - an event of account A reaches A's endpoints, and endpoints without an
///   account that opted in with `all_accounts`;
/// - an event without an account reaches endpoints without one (as before
///   accounts existed) and partners' endpoints, which the partner protocol
///   promises every catalog event they subscribe to;
/// - an event a partner sent in is addressed to the platform: it is routed
///   as an event without an account, though it carries the partner's.
pub fn receives(endpoint: &Endpoint, event: &Event) -> bool {
    let routed_by = match event.source {
        Some(_) => None,
        None => event.account_id.as_ref(),
    };
    match (&endpoint.account_id, routed_by) {
        (Some(owner), Some(account)) => owner == account,
        (Some(_), None) => endpoint.partner_id.is_some(),
        (None, Some(_)) => endpoint.all_accounts,
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::account::AccountId;
    use crate::domain::event_type::EventType;
    use crate::ids::PartnerId;

    fn account(id: &str) -> Option<AccountId> {
        AccountId::parse(id).ok()
    }

    fn endpoint(owner: Option<AccountId>, all_accounts: bool) -> Endpoint {
        let mut endpoint = Endpoint::new("https://x.test".into(), vec!["*".into()], "s".into(), 1);
        endpoint.account_id = owner;
        endpoint.all_accounts = all_accounts;
        endpoint
    }

    fn event(account_id: Option<AccountId>) -> Event {
        let event_type = EventType::parse("a.b").unwrap();
        let mut event = Event::new(&event_type, &serde_json::json!({}), 1);
        event.account_id = account_id;
        event
    }

    #[test]
    fn an_accounts_event_reaches_its_endpoints_and_opted_in_operators() {
        let of_a = event(account("A"));
        assert!(receives(&endpoint(account("A"), false), &of_a));
        assert!(!receives(&endpoint(account("B"), false), &of_a));
        assert!(!receives(&endpoint(None, false), &of_a));
        assert!(receives(&endpoint(None, true), &of_a));
    }

    #[test]
    fn an_event_without_account_reaches_operators_and_partners_only() {
        let plain = event(None);
        assert!(receives(&endpoint(None, false), &plain));
        assert!(receives(&endpoint(None, true), &plain));
        assert!(!receives(&endpoint(account("A"), false), &plain));
        let mut partner = endpoint(account("partner_x"), false);
        partner.partner_id = Some(PartnerId::generate(1));
        assert!(receives(&partner, &plain));
        assert!(!receives(&partner, &event(account("A"))));
    }

    #[test]
    fn a_partners_inbound_event_goes_to_the_platform() {
        let mut inbound = event(account("partner_x"));
        inbound.source = Some("partner:partner_x".into());
        assert!(receives(&endpoint(None, false), &inbound));
        assert!(!receives(&endpoint(account("A"), false), &inbound));
    }
}
