//! `report-server`: the reference report server.
//!
//! The global allocator is chosen here, in the binary, by cargo feature:
//! jemalloc (default, with live stats) or dhat (`--features dhat-heap`,
//! writes `dhat-heap.json` when the server stops).

use clap::Parser;
use report_server::cli::{ServeArgs, init_logging, run};
use report_server::memory::{AllocatorKind, set_allocator};

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The reference inspection-report server of oomlab.
///
/// Example: report-server --profile profiles/original.toml --port 0
///   --cloudinary-base-url http://127.0.0.1:4000 --cloudinary-cloud-name oomlab
///
/// Settings come from the profile, then REPORT_SERVER__SECTION__KEY environment
/// overrides (e.g. REPORT_SERVER__WORKERS=1). On ready it prints one JSON line
/// with the bound address on stdout.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::new_heap();
    #[cfg(feature = "dhat-heap")]
    set_allocator(AllocatorKind::Dhat);
    #[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
    set_allocator(AllocatorKind::Jemalloc);
    #[cfg(not(any(feature = "jemalloc", feature = "dhat-heap")))]
    set_allocator(AllocatorKind::System);

    init_logging();
    let cli = Cli::parse();
    if let Err(e) = run(cli.serve) {
        eprintln!("Error: {e:#}");
        std::process::exit(2);
    }
}
