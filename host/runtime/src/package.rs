//! The on-disk layout of installed connector packages. Components are stored
//! by content (sha256), so several versions of one connector live side by side
//! and the directory store can reference a package by `name@version` + digest:
//!
//! ```text
//! <root>/components/sha256-<hex>.wasm             the component as uploaded
//! <root>/compiled/wasmtime-<v>/sha256-<hex>.cwasm  precompiled for this host
//! <root>/packages/<name>/<version>/connector.toml  the manifest as installed
//! <root>/packages/<name>/<version>/component       "sha256-<hex>"
//! ```
//! Files are written to a temporary name and renamed, so a crash never leaves
//! a half-written package behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::Manifest;

#[derive(Debug, Clone, PartialEq)]
pub struct InstalledPackage {
    pub manifest: Manifest,
    /// `sha256-<hex>` of the component.
    pub digest: String,
}

impl InstalledPackage {
    pub fn name(&self) -> &str {
        &self.manifest.connector.name
    }
    pub fn version(&self) -> &str {
        &self.manifest.connector.version
    }
    pub fn label(&self) -> String {
        format!("{}@{}", self.name(), self.version())
    }
}

#[derive(Debug, Clone)]
pub struct PackageStore {
    root: PathBuf,
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256-{}", hex::encode(Sha256::digest(bytes)))
}

impl PackageStore {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        for dir in ["components", "packages", "compiled"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(PackageStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn package_dir(&self, name: &str, version: &str) -> PathBuf {
        self.root.join("packages").join(name).join(version)
    }

    pub fn component_path(&self, digest: &str) -> PathBuf {
        self.root.join("components").join(format!("{digest}.wasm"))
    }

    pub fn compiled_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("compiled")
            // Deserialising also checks compatibility; the folder just keeps
            // the artefacts of different wasmtime versions apart.
            .join("wasmtime-48")
            .join(format!("{digest}.cwasm"))
    }

    /// The digest of `name@version` if it is installed.
    pub fn installed_digest(&self, name: &str, version: &str) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(self.package_dir(name, version).join("component")) {
            Ok(d) => Ok(Some(d.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes the component (if new) and then the package entry.
    pub fn write(&self, manifest: &Manifest, component: &[u8], compiled: &[u8]) -> std::io::Result<InstalledPackage> {
        let digest = digest(component);
        let component_path = self.component_path(&digest);
        if !component_path.exists() {
            write_atomic(&component_path, component)?;
        }
        self.write_compiled(&digest, compiled)?;
        let dir = self.package_dir(&manifest.connector.name, &manifest.connector.version);
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("connector.toml"), manifest.to_toml().as_bytes())?;
        // Written last: its presence is what makes the package installed.
        write_atomic(&dir.join("component"), digest.as_bytes())?;
        Ok(InstalledPackage { manifest: manifest.clone(), digest })
    }

    pub fn write_compiled(&self, digest: &str, compiled: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.compiled_path(digest), compiled)
    }

    /// Every installed package, in name and version order.
    pub fn list(&self) -> std::io::Result<Vec<InstalledPackage>> {
        let mut out = Vec::new();
        for name in sorted_dirs(&self.root.join("packages"))? {
            for version in sorted_dirs(&name)? {
                let Ok(digest) = std::fs::read_to_string(version.join("component")) else {
                    continue; // an interrupted install: not installed
                };
                // A damaged entry must not keep the host from starting: skip it, loudly.
                let manifest = std::fs::read_to_string(version.join("connector.toml"))
                    .map_err(|e| e.to_string())
                    .and_then(|text| Manifest::parse(&text).map_err(|e| e.to_string()));
                match manifest {
                    Ok(manifest) => out.push(InstalledPackage { manifest, digest: digest.trim().to_string() }),
                    Err(e) => tracing::error!(package = %version.display(), "skipping a damaged package: {e}"),
                }
            }
        }
        Ok(out)
    }

    /// Removes `name@version`; the component stays while another package uses it.
    pub fn remove(&self, name: &str, version: &str) -> std::io::Result<()> {
        let dir = self.package_dir(name, version);
        let Some(digest) = self.installed_digest(name, version)? else {
            return Ok(());
        };
        std::fs::remove_file(dir.join("component"))?;
        std::fs::remove_dir_all(&dir)?;
        if !self.list()?.iter().any(|p| p.digest == digest) {
            let _ = std::fs::remove_file(self.component_path(&digest));
            let _ = std::fs::remove_file(self.compiled_path(&digest));
        }
        Ok(())
    }
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    dirs.sort();
    Ok(dirs)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)?;
    // The rename itself must survive a power loss too.
    std::fs::File::open(dir)?.sync_all()
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
