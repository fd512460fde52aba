//! The admin command groups and their flags. clap refuses anything else with
//! a usage message and exit code 2.

use clap::{ArgGroup, Args, Subcommand};

/// One page of a list: `--limit` and the `--cursor` a previous page printed.
#[derive(Debug, Clone, Args)]
pub struct Page {
    /// How many items (1–1000) [default: the API's, 50].
    #[arg(long)]
    pub limit: Option<u32>,
    /// Continue after a previous page (its next cursor).
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// List endpoints.
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Show one endpoint.
    Show { id: String },
    /// Create an endpoint; its secret is printed once.
    Create {
        #[arg(long)]
        url: String,
        /// Event types or categories (`payment.*`), comma-separated or repeated.
        #[arg(long, required = true, value_delimiter = ',')]
        events: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Change an endpoint's URL, events or description.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["url", "events", "description"])))]
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete an endpoint (its pending deliveries are cancelled).
    Delete { id: String },
    /// Enable an endpoint; its held deliveries are sent.
    Enable { id: String },
    /// Disable an endpoint; its pending deliveries are held.
    Disable { id: String },
    /// Send a test event (`"test": true`) to this endpoint only.
    Test {
        id: String,
        /// The event type [default: the endpoint's first exact subscription].
        #[arg(long)]
        event: Option<String>,
    },
    /// Replace the secret; the old one keeps signing during the grace.
    RotateSecret {
        id: String,
        /// How long the old secret keeps signing (`24h`, `0s`) [default: 24h].
        #[arg(long)]
        grace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Publish an event.
    Publish {
        #[arg(long = "type")]
        event_type: String,
        /// The event's data, a JSON object [default: {}].
        #[arg(long)]
        data: Option<String>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List the log in publish order.
    List {
        /// Events created at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Events created before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
        /// Types or categories, comma-separated or repeated.
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
        /// Only events after this event ID.
        #[arg(long)]
        after: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Show one event with its deliveries.
    Show { id: String },
    /// Print events as they are published, until interrupted.
    Tail {
        /// Types or categories, comma-separated or repeated.
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Search deliveries, newest first.
    List {
        /// pending, succeeded, failed, held or cancelled.
        #[arg(long)]
        status: Option<String>,
        /// Only this endpoint's deliveries.
        #[arg(long = "endpoint")]
        endpoint_id: Option<String>,
        /// An event type or category (`payment.*`).
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Deliveries created at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Deliveries created before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Show one delivery with every attempt.
    Show { id: String },
    /// Attempt a delivery again now.
    Retry { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Schedule fresh deliveries for a time range or for chosen events.
    #[command(group(ArgGroup::new("selection").required(true).args(["from", "event_ids"])))]
    Start {
        /// Start of the range (RFC 3339, inclusive).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// End of the range (RFC 3339, exclusive).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// An event to resend; repeat for more.
        #[arg(long = "event-id", conflicts_with_all = ["from", "to"])]
        event_ids: Vec<String>,
        /// Only these types or categories; repeat or comma-separate.
        #[arg(long = "type", value_delimiter = ',')]
        types: Vec<String>,
        /// Only these endpoints; repeat or comma-separate.
        #[arg(long = "endpoint", value_delimiter = ',')]
        endpoint_ids: Vec<String>,
        /// Only pairs whose latest delivery failed.
        #[arg(long)]
        only_failed: bool,
    },
    /// Show a replay job; with --wait, follow it until it ends.
    Status {
        id: String,
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PartnersCommand {
    /// List partners.
    List {
        #[command(flatten)]
        page: Page,
    },
    /// Show one partner.
    Show { id: String },
    /// Suspend a partner: its endpoint is disabled, its secret refused.
    Suspend { id: String },
    /// Activate a suspended partner.
    Activate { id: String },
}
