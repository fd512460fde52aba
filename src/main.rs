//! Entry point: parse the command line and hand over to the library.

use clap::Parser;

/// mimalloc instead of the system allocator: building, signing and
/// recording every attempt allocates many small buffers across threads,
/// where glibc's malloc spent a third of the dispatcher's time (see
/// BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hookd::run(hookd::cli::Cli::parse())
}
