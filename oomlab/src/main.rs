//! The `oomlab` binary: parses arguments and calls [`oomlab::cli::run`].

use oomlab::Exit;
use oomlab::cli::{parse, run};

// jemalloc in the binary, never in the library: the harness re-executes this
// binary in `serve` mode to run the report server, so the server is measured
// under the allocator it ships with (and publishes jemalloc's figures).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // clap exits with 2 on bad arguments, as oomlab's own bad-input errors do.
    let cli = parse();
    match run(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("Error: {e:#}");
            Exit::for_error(&e).into()
        }
    }
}
