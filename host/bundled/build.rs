//! Builds the bundled connectors into components that the host embeds.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..");
    let scim = root.join("connectors/scim");
    provisio_guest_build::rerun_if_changed(&[
        &scim.join("src"),
        &scim.join("Cargo.toml"),
        &scim.join("connector.toml"),
        &root.join("sdk/src"),
        &root.join("wit"),
        // The guest profile lives in the workspace manifest.
        &root.join("Cargo.toml"),
    ]);
    let built =
        provisio_guest_build::build(&[("provisio-connector-scim", scim.as_path())]).unwrap_or_else(|e| panic!("{e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    copy(&built[0], &out.join("scim.wasm"));
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
}
