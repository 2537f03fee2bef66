//! The connectors that ship with Provisio, built from `connectors/` by this
//! crate's build script and embedded in the host binary.

/// A connector package: its manifest and its component.
#[derive(Debug, Clone, Copy)]
pub struct BundledPackage {
    pub manifest: &'static str,
    pub component: &'static [u8],
}

/// The generic SCIM 2.0 connector.
pub const SCIM: BundledPackage = BundledPackage {
    manifest: include_str!("../../../connectors/scim/connector.toml"),
    component: include_bytes!(concat!(env!("OUT_DIR"), "/scim.wasm")),
};

/// Every bundled package, installed on first start.
pub const ALL: &[BundledPackage] = &[SCIM];
