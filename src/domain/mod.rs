//! Plain types of the webhook world and the rules that validate them.
//! Nothing here knows about HTTP or storage.

pub mod account;
pub mod delivery;
pub mod duration;
pub mod endpoint;
pub mod event;
pub mod event_type;
pub mod filter;
pub mod partner;
pub mod replay;
pub mod routing;
pub mod schedule;
pub mod special_addresses;
pub mod target;

pub use account::{Account, AccountId};
pub use delivery::{Attempt, Delivery, DeliveryStatus};
pub use endpoint::{DisabledReason, Endpoint, PayloadFormat, SignatureStyle};
pub use event::Event;
pub use partner::{Partner, PartnerStatus};
