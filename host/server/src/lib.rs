//! The `provisio` binary's parts: the command line, `provisio serve` (the
//! API over the directory and the engine), and the runtime's implementation
//! of the engine's connectors. A library so that tests run the same server.

pub mod api;
pub mod cli;
pub mod commands;
pub mod connectors;
mod csv_import;
pub mod hooks;
pub mod provisioner;
pub mod remote;
mod resolve;
pub mod serve;
pub mod singletons;
mod wait;
