//! The key-encryption key (KEK): the AES-256-GCM key that seals every
//! signing key in the database, with the key's kid as associated data, so a
//! sealed key copied to another row does not open.
//!
//! Where it comes from (`KEY_ENCRYPTION_KEY`, `KEY_ENCRYPTION_KEY_FILE`, or
//! the file `kek` in `KEYS_DIR`, made on a first start) and how its files
//! are read: a KEK file that group or others may read stops the start, since
//! the KEK opens every signing key.

use std::io::{Read, Write};
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::error::{KeyError, KeyStoreError, kek_error};
use super::rows;
use crate::config::{AppConfig, KekSource};
use crate::store::db::Db;

/// The default key-encryption key's file in `KEYS_DIR`.
pub const KEK_FILE: &str = "kek";

/// The most read of a key file: a PEM RSA key of 16384 bits is under 13 KiB.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The key-encryption key: AES-256-GCM, 32 bytes. Never printed.
pub struct Kek {
    key: LessSafeKey,
    /// A hash of the key (not the key), recorded in the database so that an
    /// instance given another KEK says so at start.
    id: String,
    /// The MAC key of DPoP server nonces (RFC 9449 §8), derived from the
    /// KEK so that every instance of one issuer makes and checks the same
    /// nonces without sharing any state beyond the KEK they already share.
    dpop_nonce_key: hmac::Key,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// Why a sealed private key does not open.
#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    #[error("not base64url")]
    Encoding,
    #[error("too short")]
    Truncated,
    #[error("authentication failed")]
    Authentication,
}

impl Kek {
    /// From its text form: 32 bytes in base64url (padding and surrounding
    /// whitespace, such as a file's final newline, allowed).
    pub fn from_text(text: &str) -> Result<Kek, String> {
        const MUST: &str =
            "must be 32 random bytes in base64url (e.g. `openssl rand 32 | basenc --base64url`)";
        let text = text.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| format!("not base64url; {MUST}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| format!("{} bytes; {MUST}", b.len()))?;
        Kek::from_bytes(&bytes).map_err(|_| MUST.to_owned())
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Kek, aws_lc_rs::error::Unspecified> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes)?);
        let mut hasher = Sha256::new();
        hasher.update(b"auth-server key-encryption key id\0");
        hasher.update(bytes);
        let id = URL_SAFE_NO_PAD.encode(&hasher.finalize()[..16]);
        // HMAC with a fixed label as the KDF (HKDF-Extract's shape): the
        // nonce key tells nothing about the KEK, nor the KEK's id about it.
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, bytes),
            b"auth-server DPoP nonce key",
        );
        let dpop_nonce_key = hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref());
        Ok(Kek {
            key,
            id,
            dpop_nonce_key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The HMAC-SHA256 key DPoP server nonces are made and checked with.
    pub fn dpop_nonce_key(&self) -> &hmac::Key {
        &self.dpop_nonce_key
    }

    /// base64url(nonce ‖ ciphertext ‖ tag), with a random 96-bit nonce and
    /// `kid` as associated data: a sealed key copied to another row does
    /// not open.
    pub fn seal(
        &self,
        kid: &str,
        plaintext: &[u8],
    ) -> Result<String, aws_lc_rs::error::Unspecified> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)?;
        let mut in_out = plaintext.to_vec();
        self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut in_out,
        )?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The plaintext of [`Kek::seal`], if `sealed` was sealed for `kid`
    /// under this key and not altered since.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, UnsealError> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| UnsealError::Encoding)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(UnsealError::Truncated);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| UnsealError::Truncated)?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| UnsealError::Authentication)?;
        Ok(plaintext.to_vec())
    }

    /// The KEK the settings name: `KEY_ENCRYPTION_KEY`,
    /// `KEY_ENCRYPTION_KEY_FILE`, or the `kek` file in `KEYS_DIR`, which is
    /// made only while the database holds no keys (a new KEK could not open
    /// them).
    pub async fn load(config: &AppConfig, db: &Db) -> Result<Kek, KeyStoreError> {
        match &config.key_encryption_key {
            KekSource::Env(text) => {
                Kek::from_text(text.expose_secret()).map_err(|m| kek_error("KEY_ENCRYPTION_KEY", m))
            }
            KekSource::File(path) => {
                const SETTING: &str = "KEY_ENCRYPTION_KEY_FILE";
                let file = std::fs::File::open(path).map_err(|e| {
                    kek_error(SETTING, format!("cannot read {}: {e}", path.display()))
                })?;
                let text = read_private_file(file, path).map_err(|m| kek_error(SETTING, m))?;
                Kek::from_text(&text)
                    .map_err(|m| kek_error(SETTING, format!("{}: {m}", path.display())))
            }
            KekSource::KeysDir => {
                let path = config.keys_dir.join(KEK_FILE);
                match std::fs::File::open(&path) {
                    Ok(file) => {
                        let text =
                            read_private_file(file, &path).map_err(|m| kek_error("KEYS_DIR", m))?;
                        Kek::from_file_text(&path, &text)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if rows::holds_keys(db).await? {
                            return Err(kek_error(
                                "KEY_ENCRYPTION_KEY",
                                format!(
                                    "not set, and {} does not exist, but the database holds signing keys: \
                                     set KEY_ENCRYPTION_KEY or KEY_ENCRYPTION_KEY_FILE to the key-encryption key they were sealed with",
                                    path.display()
                                ),
                            ));
                        }
                        create_kek_file(&config.keys_dir)?;
                        let file = std::fs::File::open(&path)
                            .map_err(|e| KeyError::Read(path.display().to_string(), e))?;
                        let text =
                            read_private_file(file, &path).map_err(|m| kek_error("KEYS_DIR", m))?;
                        Kek::from_file_text(&path, &text)
                    }
                    Err(e) => Err(KeyError::Read(path.display().to_string(), e).into()),
                }
            }
        }
    }

    fn from_file_text(path: &Path, text: &str) -> Result<Kek, KeyStoreError> {
        Kek::from_text(text).map_err(|m| {
            KeyStoreError::Dir(KeyError::Parse(
                path.display().to_string(),
                format!("not a key-encryption key: {m}"),
            ))
        })
    }
}

/// Makes `KEYS_DIR/kek` (mode 0600) holding a fresh random KEK. The file
/// appears complete or not at all (written aside, then hard-linked, which
/// fails if it exists): of several instances starting at once, the first
/// one's KEK wins and the others read it.
fn create_kek_file(dir: &Path) -> Result<(), KeyError> {
    let name = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| KeyError::Write(name.clone(), e))?;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|e| KeyError::Generate(e.to_string()))?;
    let text = format!("{}\n", URL_SAFE_NO_PAD.encode(bytes));
    let tmp = dir.join(format!(".{KEK_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let path = dir.join(KEK_FILE);
    write_private(&tmp, text.as_bytes()).map_err(|e| KeyError::Write(name.clone(), e))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "made a new key-encryption key");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(KeyError::Write(path.display().to_string(), e)),
    }
}

/// Refuses a KEK other than the one the database's keys were sealed with
/// (`recorded`, its id); none recorded yet is any KEK's first start.
pub fn check_kek_id(kek: &Kek, recorded: Option<&str>) -> Result<(), KeyStoreError> {
    match recorded {
        Some(id) if id != kek.id() => Err(kek_error(
            "KEY_ENCRYPTION_KEY",
            "differs from the key-encryption key the database's signing keys were sealed with \
             (every instance of one issuer must use the same)",
        )),
        _ => Ok(()),
    }
}

/// The text of a key-encryption key file, refused (one line naming it)
/// when its group or others may read or write it. Checked on the open
/// file, then read from it.
fn read_private_file(mut file: std::fs::File, path: &Path) -> Result<String, String> {
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} can be read or written by group or others (mode {mode:04o}), and the \
                 key-encryption key opens every signing key: make it mode 0600 or 0400 \
                 (chmod 600 {})",
                path.display(),
                path.display()
            ));
        }
    }
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let mut text = String::new();
    (&mut file)
        .take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_kid_its_kek_and_unaltered() {
        let kek = kek(7);
        let sealed = kek.seal("kid-1", b"private key bytes").unwrap();
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private key bytes");
        // Another row's kid (a copied ciphertext) fails.
        assert!(matches!(
            kek.open("kid-2", &sealed),
            Err(UnsealError::Authentication)
        ));
        // Another KEK fails.
        assert!(matches!(
            super::tests::kek(8).open("kid-1", &sealed),
            Err(UnsealError::Authentication)
        ));
        // Any flipped byte (nonce, ciphertext or tag) fails.
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x01;
            let flipped = URL_SAFE_NO_PAD.encode(flipped);
            assert!(kek.open("kid-1", &flipped).is_err(), "byte {i}");
        }
        assert!(matches!(
            kek.open("kid-1", "abc"),
            Err(UnsealError::Truncated)
        ));
        assert!(matches!(
            kek.open("kid-1", "!!"),
            Err(UnsealError::Encoding)
        ));
        // A fresh nonce every time.
        assert_ne!(
            kek.seal("kid-1", b"x").unwrap(),
            kek.seal("kid-1", b"x").unwrap()
        );
    }

    #[test]
    fn a_kek_is_32_bytes_of_base64url_and_never_printed() {
        let text = URL_SAFE_NO_PAD.encode([9u8; 32]);
        let kek = Kek::from_text(&format!("{text}\n")).unwrap();
        assert_eq!(format!("{kek:?}"), "Kek(..)");
        assert_eq!(kek.id(), Kek::from_bytes(&[9u8; 32]).unwrap().id());
        assert_ne!(kek.id(), super::tests::kek(8).id());
        assert!(Kek::from_text("not base64!").is_err());
        assert!(Kek::from_text(&URL_SAFE_NO_PAD.encode([9u8; 31])).is_err());
        assert!(Kek::from_text("").is_err());
    }
}
