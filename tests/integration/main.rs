//! Provisio's integration tests: one binary (link time matters), real parts
//! throughout: real components in wasmtime, a real scim2-server.

mod access;
mod api;
mod audit;
mod busy_guest;
mod changing;
mod cli;
mod credential_origins;
mod databases;
mod directory;
mod docs;
mod door;
mod executor_faults;
mod guard;
mod hostile;
mod in_doubt;
mod install;
mod interleaving;
mod lax_app;
mod lifecycle;
mod nodes;
mod notifications;
mod oauth;
mod observability;
mod promises;
mod retention;
mod scim;
mod scim_quirks;
mod server;
mod support;
mod three_nodes;
mod versions;
mod wire;
mod work;
