//! Secrets at rest: app credentials are sealed with XChaCha20-Poly1305
//! (RustCrypto) under the directory key before they reach the database, with
//! the app's id as associated data so a sealed value cannot be moved to
//! another app. Where the key comes from (configuration, environment, a file
//! in the data directory) is the server's business.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::StoreError;

const NONCE_LEN: usize = 24;
/// Sealed values start with this version byte.
const FORMAT_V1: u8 = 1;

/// The directory key. Never printed.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Sealer {
        Sealer { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// A fresh random key, for a new data directory.
    pub fn generate_key() -> Zeroizing<[u8; 32]> {
        Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| StoreError::Invalid("could not seal a secret".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let wrong = || {
            StoreError::Invalid(format!(
                "the secrets of {context} cannot be opened: the directory key is not the one they were sealed with, or they were altered"
            ))
        };
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != FORMAT_V1 {
            return Err(wrong());
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher
            .decrypt(nonce, Payload { msg: &sealed[1 + NONCE_LEN..], aad: context.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| wrong())
    }
}
