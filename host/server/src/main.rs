//! `provisio`: the operator's entry point (see `cli.rs`).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    provisio_server::cli::run().await
}
