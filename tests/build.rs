//! Builds the test guest components (hostile, wit-future, scim-next, create-only) for the integration tests.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = dir.join("..");
    let guests = [
        ("provisio-guest-hostile", dir.join("guests/hostile"), "hostile.wasm"),
        ("provisio-guest-wit-future", dir.join("guests/wit-future"), "wit-future.wasm"),
        ("provisio-guest-scim-next", dir.join("guests/scim-next"), "scim-next.wasm"),
        ("provisio-guest-create-only", dir.join("guests/create-only"), "create-only.wasm"),
    ];
    for (_, path, _) in &guests {
        provisio_guest_build::rerun_if_changed(&[path.as_path()]);
    }
    provisio_guest_build::rerun_if_changed(&[&root.join("connectors/scim/src")]);
    provisio_guest_build::rerun_if_changed(&[&root.join("sdk/src"), &root.join("wit"), &root.join("Cargo.toml")]);
    let crates: Vec<(&str, &std::path::Path)> = guests.iter().map(|(n, p, _)| (*n, p.as_path())).collect();
    let built = provisio_guest_build::build(&crates).unwrap_or_else(|e| panic!("{e}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for (path, (_, _, name)) in built.iter().zip(&guests) {
        std::fs::copy(path, out.join(name)).unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
    }
}
