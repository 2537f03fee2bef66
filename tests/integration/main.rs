//! Provisio's integration tests: one binary (link time matters), real parts
//! throughout: real components in wasmtime, a real scim2-server.

mod directory;
mod docs;
mod hostile;
mod install;
mod oauth;
mod scim;
mod support;
