//! Entry point: parse the command line and hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    hookd::run(hookd::cli::Cli::parse())
}
