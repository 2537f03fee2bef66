//! Builds connector crates into wasm32-wasip2 components with a nested
//! `cargo build`, for build scripts (bundled connectors, test guests) and for
//! the SDK's test harness. Its own target folder keeps it clear of the outer
//! build's lock; the `guest` profile (or `release`) makes the components.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "wasm32-wasip2";

/// The `guest` profile where the workspace defines one (Provisio's does),
/// else `release`, so an author's own crate builds without extra setup.
fn profile(workspace: &Path) -> &'static str {
    let defines_guest = std::fs::read_to_string(workspace.join("Cargo.toml"))
        .is_ok_and(|text| text.lines().any(|l| l.trim() == "[profile.guest]"));
    if defines_guest { "guest" } else { "release" }
}

/// The workspace (or stand-alone crate) that holds `crate_dir`: the nearest
/// ancestor with a Cargo.lock, else the crate itself.
pub fn workspace_root(crate_dir: &Path) -> PathBuf {
    crate_dir.ancestors().find(|d| d.join("Cargo.lock").exists()).unwrap_or(crate_dir).to_path_buf()
}

/// Where guest builds go: `$PROVISIO_GUEST_TARGET_DIR`, else `<workspace>/target/guests`.
pub fn target_dir(crate_dir: &Path) -> PathBuf {
    std::env::var_os("PROVISIO_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root(crate_dir).join("target").join("guests"))
}

/// Builds the crates (all in one cargo invocation) and returns each one's
/// component path, in the order given. `crates` are (package name, crate dir).
pub fn build(crates: &[(&str, &Path)]) -> Result<Vec<PathBuf>, String> {
    let Some((_, first_dir)) = crates.first() else {
        return Ok(Vec::new());
    };
    let target_dir = target_dir(first_dir);
    let profile = profile(&workspace_root(first_dir));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(first_dir.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", profile])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in crates {
        cmd.args(["-p", package]);
    }
    // Flags meant for the host build (coverage, sanitizers) must not reach the guest.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    let output = cmd.output().map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`") {
            "\nhint: install the target with `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        return Err(format!("building guest components failed:\n{stderr}{hint}"));
    }
    Ok(crates
        .iter()
        .map(|(package, _)| target_dir.join(TARGET).join(profile).join(format!("{}.wasm", package.replace('-', "_"))))
        .collect())
}

/// For build scripts: rebuild when anything a guest is made from changes.
pub fn rerun_if_changed(paths: &[&Path]) {
    for p in paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
