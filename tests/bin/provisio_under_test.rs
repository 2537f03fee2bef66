//! The `provisio` command line, built inside the test package so the
//! integration tests can start (and SIGKILL) real server processes.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    provisio_server::cli::run().await
}
