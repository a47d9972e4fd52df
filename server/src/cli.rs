//! Command-line entry of the server, shared by the `report-server` binary and
//! the harness's hidden `oomlab serve` mode (which re-executes itself so that
//! the measured process is the server alone).

use std::path::PathBuf;

use crate::app::{Application, Placement, Role};
use crate::settings::Settings;

/// Flags of `report-server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// What this process does: `all` (default: API and workers in one
    /// process), `web` (API, queues jobs) or `worker` (builds reports); the
    /// last two need `queue.backend = "redis"`.
    #[arg(value_enum, default_value = "all")]
    pub role: Role,
    /// Profile TOML with the server's settings (see `profiles/`). Without it
    /// the built-in defaults apply, which model the original app.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 lets the OS choose (the ready line says which). Default 8080.
    #[arg(long)]
    pub port: Option<u16>,
    /// Directory for the SQLite database (created on start). Default ./data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Base URL of Cloudinary (or the fake), e.g. http://127.0.0.1:4000.
    #[arg(long, value_name = "URL")]
    pub cloudinary_base_url: Option<String>,
    /// Cloudinary cloud name.
    #[arg(long, value_name = "NAME")]
    pub cloudinary_cloud_name: Option<String>,
}

/// Run the server until SIGTERM or Ctrl-C. The caller (a binary) has chosen
/// the global allocator and declared it with
/// [`crate::memory::set_allocator`].
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.profile.as_deref())?;
    if let Some(url) = args.cloudinary_base_url {
        settings.cloudinary.base_url = url;
    }
    if let Some(name) = args.cloudinary_cloud_name {
        settings.cloudinary.cloud_name = name;
    }
    settings.validate("command line")?;
    let placement = Placement {
        host: args.host,
        port: args.port.unwrap_or(8080),
        data_dir: args.data_dir.unwrap_or_else(|| PathBuf::from("data")),
    };
    // The profile's allocator options before any other thread exists. A
    // jemalloc arena takes the default decay when it is made (by a thread's
    // first allocation), and `apply_allocator_options` then sets the arenas
    // that exist: a runtime worker whose arena was being made while that ran
    // kept the built-in 10 s decay, and with it up to 9 MiB of freed pages
    // resident for the rest of the process (`lean`, issue 30: 2 of 5 runs,
    // jemalloc's `stats_print` showed two arenas at 10000 ms).
    // `Application::build_role` applies them again (a no-op here) for callers
    // that build it on a runtime of their own.
    crate::memory::apply_allocator_options(&settings.allocator);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = Application::build_role(settings.clone(), placement, args.role).await?;
        // Handlers first: a stop signal sent as soon as the ready line is
        // read must reach them, not the default action.
        let stopped = shutdown_signal()?;
        let addr = app.local_addr();
        // One machine-readable line: a harness started us with --port 0.
        let ready = memstats::ReadyLine::new(
            addr,
            std::process::id(),
            &settings.name,
            app.recovered_jobs() as u64,
        );
        println!("{}", ready.to_line());
        use std::io::Write;
        std::io::stdout().flush()?;
        tracing::info!(%addr, profile = settings.name, "serving");
        app.run_until_stopped(stopped).await
    })
}

/// Registers handlers for SIGTERM and SIGINT (Ctrl-C) now and returns a
/// future that resolves on either. Registering before the ready line is
/// printed means a harness that stops the server right after reading it
/// never meets the default action (death by signal, no clean stop).
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Logs to stderr, quiet unless `RUST_LOG` says otherwise, in colour only on
/// a terminal.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,report_server=info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person's terminal, never into a log file
        // (the harness's server.log).
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
