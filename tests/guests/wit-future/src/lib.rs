//! Exports provisio:connector/provisioning@0.9.0.

wit_bindgen::generate!({ path: "wit", world: "connector" });

struct Future;

impl exports::provisio::connector::provisioning::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

#[cfg(target_arch = "wasm32")]
export!(Future);
