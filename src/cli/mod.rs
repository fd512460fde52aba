//! The command line: `hookd serve`, `hookd check-config`, `hookd migrate`,
//! `hookd --version`, and the operator's admin commands (`hookd endpoints
//! list`, …), which talk to a running daemon's admin API from the same
//! binary.

mod admin;
mod args;
mod client;
mod migrate;
mod output;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use admin::run as run_admin;
use args::{DeliveriesCommand, EndpointsCommand, EventsCommand, PartnersCommand, ReplayCommand};
pub use migrate::{run as run_migrate, MigrateArgs};

#[derive(Debug, Parser)]
#[command(name = "hookd", version, about = "A webhook delivery daemon")]
pub struct Cli {
    /// The configuration file: the daemon's settings, and where the admin
    /// commands find the admin listener and its token.
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,
    #[command(flatten)]
    pub admin: AdminOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How the admin commands reach the daemon; ignored by `serve` and `check-config`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminOptions {
    /// The admin API's base URL [default: from the config's server.admin_bind].
    /// Given before the group: `endpoints create --url` is the endpoint's.
    #[arg(long)]
    pub url: Option<String>,
    /// The admin token [default: the config's admin.tokens, else <data_dir>/admin.token].
    #[arg(long, global = true, env = "HOOKD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default when no command is given).
    Serve,
    /// Validate the configuration and print it with secrets masked.
    CheckConfig,
    /// Copy this node's data directory (storage.data_dir) into an empty
    /// PostgreSQL database, to scale out.
    ///
    /// Copies accounts, endpoints, partners, events with every delivery,
    /// attempts, replay jobs, idempotency keys and endpoint health, keeping
    /// their IDs. The database is storage.postgres_url (set it even while
    /// storage.backend is still "sled") or --postgres-url. Refuses a
    /// database that already holds records, and a data directory a running
    /// hookd holds: stop the node first. Afterwards set storage.backend =
    /// "postgres" and start hookd on the database.
    Migrate(MigrateArgs),
    #[command(flatten)]
    Admin(AdminCommand),
}

/// The operator's commands: each calls the running daemon's admin API.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Webhook endpoints (subscriptions).
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// The event log.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Deliveries and their attempts.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Replay jobs.
    #[command(subcommand)]
    Replay(ReplayCommand),
    /// Partners registered through the public listener.
    #[command(subcommand)]
    Partners(PartnersCommand),
}
