//! The command line: `hookd serve`, `hookd check-config`, `hookd --version`,
//! and the operator's admin commands (`hookd endpoints list`, …), which talk
//! to a running daemon's admin API from the same binary.

mod admin;
mod args;
mod client;
mod output;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use admin::run as run_admin;
use args::{DeliveriesCommand, EndpointsCommand, EventsCommand, PartnersCommand, ReplayCommand};

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
