//! The rules, kept out of storage: which endpoints an event owes a delivery
//! to, what an attempt's outcome does to its delivery, how an endpoint's
//! deliveries are held, resumed and cancelled, and which pairs a replay
//! selects. `store/` persists and reads what these decide; it never decides.

pub mod endpoints;
pub mod outcome;
pub mod publish;
pub mod replay;
