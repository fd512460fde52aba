//! The command line: `hookd serve`, `hookd check-config`, `hookd --version`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hookd", version, about = "A webhook delivery daemon")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default when no command is given).
    Serve {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Validate the configuration and print it with secrets masked.
    CheckConfig {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
}
