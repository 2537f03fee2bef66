//! One bindings module per supported WIT version, and the check that tells a
//! component's contract version from its own type before it is instantiated.
//!
//! Adding a version: freeze its folder under wit/, add a `vX_Y` module here, a
//! variant to [`Contract`] and its conversions to the host model in
//! `convert.rs`. Old versions keep working through their own module.

use wasmtime::Engine;
use wasmtime::component::Component;

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1",
        world: "provisio:connector/connector",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "provisio:connector/types.secret": crate::secrets::SecretHandle,
        },
    });
}

/// The contract versions this host binds, oldest first.
pub const SUPPORTED: &[Contract] = &[Contract::V0_1];

const EXPORT_PREFIX: &str = "provisio:connector/provisioning@";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
}

impl Contract {
    pub fn version(self) -> semver::Version {
        match self {
            Contract::V0_1 => semver::Version::new(0, 1, 0),
        }
    }

    /// While 0.x, a minor version is a separate contract; from 1.0 on, any
    /// version of the same major that is not newer than the host's is accepted.
    fn accepts(self, v: &semver::Version) -> bool {
        let own = self.version();
        if own.major == 0 {
            v.major == 0 && v.minor == own.minor && v.patch <= own.patch
        } else {
            v.major == own.major && v <= &own
        }
    }

    pub fn for_version(v: &semver::Version) -> Option<Contract> {
        SUPPORTED.iter().copied().find(|c| c.accepts(v))
    }
}

/// "0.1" or "0.1–0.2": for messages.
pub fn supported_range() -> String {
    let fmt = |c: &Contract| {
        let v = c.version();
        format!("{}.{}", v.major, v.minor)
    };
    match (SUPPORTED.first(), SUPPORTED.last()) {
        (Some(a), Some(b)) if a == b => fmt(a),
        (Some(a), Some(b)) => format!("{}–{}", fmt(a), fmt(b)),
        _ => "none".into(),
    }
}

/// Reads the contract version from the component's exports.
pub fn detect(engine: &Engine, component: &Component) -> Result<(semver::Version, Contract), String> {
    let ty = component.component_type();
    let exported: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let Some(version) = exported.iter().find_map(|n| n.strip_prefix(EXPORT_PREFIX)) else {
        // Exporting nothing is what a Rust crate built with the SDK but
        // without its export macro looks like.
        let hint = if exported.is_empty() {
            "it exports nothing: with the Rust SDK, end the crate with `provisio_sdk::export_connector!(YourType);`"
                .to_string()
        } else {
            format!(
                "it exports: {}; build it against the WIT in wit/ with the world provisio:connector/connector",
                exported.join(", ")
            )
        };
        return Err(format!("the component does not export provisio:connector/provisioning ({hint})"));
    };
    let version = semver::Version::parse(version)
        .map_err(|e| format!("the component exports {EXPORT_PREFIX}{version}, which is not a version: {e}"))?;
    match Contract::for_version(&version) {
        Some(c) => Ok((version, c)),
        None => Err(format!("built for provisio:connector@{version}; this host supports {}", supported_range())),
    }
}
