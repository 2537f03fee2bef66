//! The `provisio` command line. For now it manages connector
//! packages in a data directory and calls a connector against an app; the
//! server (`provisio serve`) joins it with the directory and engine.

use std::path::PathBuf;

use crate::{connectors, serve};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "provisio", version, about = "Keeps user accounts in many applications in step with one directory.")]
struct Cli {
    /// Where packages and compiled code live.
    #[arg(long, global = true, env = "PROVISIO_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connector packages: list, install, describe, check against an app.
    #[command(subcommand)]
    Connectors(connectors::Command),
    /// Run Provisio: the directory, the engine and the API.
    Serve(serve::Args),
}

/// The whole command line; `provisio` and test binaries call this.
pub async fn run() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROVISIO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Connectors(cmd) => connectors::run(&cli.data_dir, cmd).await,
        Command::Serve(args) => serve::run(&cli.data_dir, args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
