//! Content digests: the lowercase hexadecimal SHA-256 that names merge bases, records files in
//! the manifest and keys the rustfmt cache.

use sha2::{Digest, Sha256};

/// Lowercase hexadecimal SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
