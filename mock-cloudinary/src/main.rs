//! `mock-cloudinary`: see the crate README.

use clap::Parser;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mock_cloudinary=info".into()),
        )
        .init();
    let args = mock_cloudinary::cli::Args::parse();
    if let Err(err) = mock_cloudinary::cli::run(args).await {
        eprintln!("Error: {err:#}");
        std::process::exit(1);
    }
}
