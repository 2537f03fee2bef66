//! Installing packages: validation, the contract check before instantiation,
//! side-by-side versions, and a restart that loads compiled code from disk.

use provisio_runtime::{Runtime, RuntimeConfig};

use crate::support::{HOSTILE, HOSTILE_MANIFEST, WIT_FUTURE};

fn runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig::new(dir)).expect("runtime")
}

#[tokio::test]
async fn a_component_built_for_an_unsupported_contract_is_refused_before_instantiation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let manifest = HOSTILE_MANIFEST.replace("name = \"hostile\"", "name = \"future\"");
    let err = rt.install(&manifest, WIT_FUTURE).await.expect_err("refused");
    assert_eq!(err.code(), "unsupported-contract");
    assert_eq!(
        err.to_string(),
        format!(
            "unsupported contract: built for provisio:connector@0.9.0; this host supports {}",
            provisio_runtime::supported_range()
        )
    );
    assert!(rt.connectors().is_empty());
    assert!(rt.packages().list().expect("list").is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_manifest_naming_an_unsupported_contract_is_refused_with_the_supported_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let manifest = HOSTILE_MANIFEST.replace("wit = \"0.1.0\"", "wit = \"0.3.0\"");
    let err = rt.install(&manifest, HOSTILE).await.expect_err("refused");
    assert_eq!(err.to_string(), "unsupported contract: connector.toml says wit = \"0.3.0\"; this host supports 0.1");
}

#[tokio::test]
async fn a_broken_manifest_is_refused_with_a_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let manifest = HOSTILE_MANIFEST.replace("[outbound]", "[outbound]\nallow_all = true");
    let err = rt.install(&manifest, HOSTILE).await.expect_err("refused");
    assert_eq!(err.code(), "invalid-manifest");
    assert!(err.to_string().contains("allow_all"), "{err}");
    // As the CLI prints it (the error and its causes): once.
    let printed = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(printed.matches("unknown field `allow_all`").count(), 1, "{printed}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let err = rt.install(HOSTILE_MANIFEST, b"\0asm not really").await.expect_err("refused");
    assert_eq!(err.code(), "invalid-component");
}

#[tokio::test]
async fn a_component_that_exports_nothing_is_told_to_use_the_export_macro() {
    // The smallest component there is: what a Rust crate without
    // `export_connector!` comes to.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let err = rt.install(HOSTILE_MANIFEST, EMPTY_COMPONENT).await.expect_err("refused");
    assert!(err.to_string().contains("provisio_sdk::export_connector!(YourType);"), "{err}");
}

#[tokio::test]
async fn a_manifest_that_disagrees_with_describe_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let manifest = HOSTILE_MANIFEST.replace("version = \"0.1.0\"\nwit", "version = \"0.2.0\"\nwit");
    let err = rt.install(&manifest, HOSTILE).await.expect_err("refused");
    assert_eq!(err.code(), "manifest-mismatch");
    assert!(err.to_string().contains("describe() says hostile@0.1.0"), "{err}");
    assert!(err.to_string().contains("Cargo.toml"), "the usual source of the version is named: {err}");
}

#[tokio::test]
async fn installed_connectors_survive_a_restart_and_reinstalling_is_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = provisio_bundled::SCIM;
    {
        let rt = runtime(dir.path());
        rt.install(scim.manifest, scim.component).await.expect("v0.1.0");
        rt.install(HOSTILE_MANIFEST, HOSTILE).await.expect("hostile");
        // The same bytes again: a no-op, not an error.
        rt.install(scim.manifest, scim.component).await.expect("idempotent");
        // Other bytes under an installed version: refused.
        let err = rt.install(scim.manifest, HOSTILE).await.expect_err("same version, other bytes");
        assert_eq!(err.code(), "already-installed");
    }
    let rt = runtime(dir.path());
    assert_eq!(rt.load_installed().expect("load"), 2);
    let labels: Vec<String> = rt.connectors().iter().map(|c| c.package.label()).collect();
    assert_eq!(labels, vec!["hostile@0.1.0", "scim@0.1.0"]);
    let scim_loaded = rt.connector("scim", "0.1.0").expect("scim");
    let d = rt.describe(&scim_loaded).await.expect("describe after restart");
    assert_eq!(d.name, "scim");
}

#[tokio::test]
async fn a_restart_loads_precompiled_code_instead_of_compiling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = provisio_bundled::SCIM;
    runtime(dir.path()).install(scim.manifest, scim.component).await.expect("install");
    let compiled = runtime(dir.path()).packages().compiled_path(&provisio_runtime::package::digest(scim.component));
    let before = std::fs::metadata(&compiled).expect("compiled artefact").modified().expect("mtime");
    let rt = runtime(dir.path());
    rt.load_installed().expect("load");
    let after = std::fs::metadata(&compiled).expect("compiled artefact").modified().expect("mtime");
    assert_eq!(before, after, "the compiled artefact was reused, not rewritten");
}

#[tokio::test]
async fn several_versions_of_one_connector_live_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scim = provisio_bundled::SCIM;
    let rt = runtime(dir.path());
    rt.install(scim.manifest, scim.component).await.expect("0.1.0");
    // A second version, written at the layout level (install() would insist
    // that describe() reports the new version too).
    let mut manifest = provisio_runtime::Manifest::parse(scim.manifest).expect("manifest");
    manifest.connector.version = "0.1.1".into();
    let bytes = provisio_sdk_harness::distinct_copy(scim.component, 1);
    let compiled = rt.engine().precompile_component(&bytes).expect("compile");
    rt.packages().write(&manifest, &bytes, &compiled).expect("write");

    let rt = runtime(dir.path());
    assert_eq!(rt.load_installed().expect("load"), 2);
    let old = rt.connector("scim", "0.1.0").expect("0.1.0");
    let new = rt.connector("scim", "0.1.1").expect("0.1.1");
    assert_ne!(old.package.digest, new.package.digest);
    rt.describe(&old).await.expect("0.1.0 serves");
    rt.describe(&new).await.expect("0.1.1 serves");

    rt.uninstall("scim", "0.1.1").expect("uninstall");
    assert!(rt.connector("scim", "0.1.1").is_none());
    assert_eq!(runtime(dir.path()).load_installed().expect("load"), 1, "0.1.0 stays");
}

#[tokio::test]
async fn a_manifest_cannot_give_itself_limits_above_the_hosts_ceiling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime(dir.path());
    let manifest = format!("{HOSTILE_MANIFEST}\n[limits]\nfuel = 9000000000000000000\n");
    let err = rt.install(&manifest, HOSTILE).await.expect_err("refused");
    assert_eq!(err.code(), "invalid-manifest");
    assert!(err.to_string().contains("fuel") && err.to_string().contains("host's maximum"), "{err}");
}
