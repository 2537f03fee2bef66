//! The README's quick start, run exactly as written: its shell blocks in
//! order, the first two (Provisio, the example SCIM app) in the background,
//! the third to the end, from the repository's root. Its own test binary,
//! so that the build it starts does not run beside the timing-sensitive
//! integration tests. Only the data directory (`PROVISIO_DATA_DIR`) and
//! `HOME` point into a fresh temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The ```sh blocks of the README's "Quick start" section.
fn quick_start_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme.find("## Quick start").expect("a Quick start section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("a closed block");
        blocks.push(body[..close].to_string());
        rest = &body[close + 4..];
    }
    blocks
}

/// A background block, killed with its whole process group.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{}", self.0.id())]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

fn shell(block: &str, home: &Path, log: Option<&Path>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", block])
        .current_dir(root())
        .env("HOME", home)
        .env("PROVISIO_DATA_DIR", home.join("data"))
        .env_remove("PROVISIO_TOKEN")
        .env_remove("PROVISIO_URL")
        .process_group(0);
    if let Some(log) = log {
        let file = std::fs::File::create(log).expect("log file");
        cmd.stdout(Stdio::from(file.try_clone().expect("log"))).stderr(Stdio::from(file));
    }
    cmd
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The SCIM list responses the block printed, in order.
fn listings(stdout: &str) -> Vec<Json> {
    stdout
        .match_indices("{\"schemas\"")
        .filter_map(|(i, _)| serde_json::Deserializer::from_str(&stdout[i..]).into_iter::<Json>().next()?.ok())
        .filter(|v| v["Resources"].is_array())
        .collect()
}

#[test]
fn the_readme_quick_start_works_as_written() {
    let blocks = quick_start_blocks();
    assert_eq!(blocks.len(), 3, "the quick start has three blocks: {blocks:#?}");
    for port in [8080, 8090] {
        assert!(port_free(port), "the quick start uses port {port}, which something else holds");
    }
    let home = tempfile::tempdir().expect("tempdir");
    let server_log = home.path().join("provisio.log");
    let app_log = home.path().join("scim2-server.log");
    let _provisio = Background(shell(&blocks[0], home.path(), Some(&server_log)).spawn().expect("block 1"));
    let _app = Background(shell(&blocks[1], home.path(), Some(&app_log)).spawn().expect("block 2"));

    let started = Instant::now();
    let mut third = shell(&blocks[2], home.path(), None);
    third.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = third.spawn().expect("block 3");
    let output = child.wait_with_output().expect("block 3 ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let logs = || {
        format!(
            "\n--- stdout\n{stdout}\n--- stderr\n{}\n--- provisio\n{}\n--- scim2-server\n{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&server_log).unwrap_or_default(),
            std::fs::read_to_string(&app_log).unwrap_or_default()
        )
    };
    assert!(output.status.success(), "the third block failed after {:?}{}", started.elapsed(), logs());

    let found = listings(&stdout);
    assert_eq!(found.len(), 2, "two listings from scim2-server{}", logs());
    let before = &found[0]["Resources"][0];
    assert_eq!(
        (
            before["userName"].as_str(),
            before["active"].as_bool(),
            before["displayName"].as_str(),
            before["title"].as_str()
        ),
        (Some("ada@example.com"), Some(true), Some("Ada Lovelace"), Some("Analyst")),
        "created in the app{}",
        logs()
    );
    let after = &found[1]["Resources"][0];
    assert_eq!(
        (after["userName"].as_str(), after["active"].as_bool()),
        (Some("ada@example.com"), Some(false)),
        "{}",
        logs()
    );
    assert_eq!(before["id"], after["id"], "the same account, deactivated");
}
