//! The random secrets the server hands out and how it keeps them: client
//! secrets, authorization codes, refresh tokens, login tickets, session
//! cookies and CSRF tokens are each 256 random bits, and every one that is
//! stored is stored only as its SHA-256 digest, so a copy of the database
//! holds nothing a client could present.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The digest a secret is stored and looked up by (lowercase hex).
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh secret with 256 bits of entropy, base64url without padding.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
