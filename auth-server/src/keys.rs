//! The signing keys: RSA private keys kept as PKCS#8 PEM files (mode 0600)
//! in `KEYS_DIR`, the key that signs, and the JWK Set that publishes them.
//! Which key signs and which are published follows the rotation schedule
//! ([`crate::key_schedule`]); the running server re-reads the folder when
//! it changes or a key's state does.
//!
//! Each key is parsed once, at load, into an aws-lc `RsaKeyPair`: signing
//! then costs one RSA operation and no key parsing. The `rsa` crate is used
//! only to generate keys and to read their public components, never to sign
//! (RUSTSEC-2023-0071).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use shared::jwk::{Jwk, JwkSet};

use crate::key_schedule::{self, KeyState, SCHEDULE_FILE, Schedule};

/// Modulus size of generated keys.
pub const GENERATED_KEY_BITS: usize = 2048;

/// `max-age` of the JWKS. A rotated key is published twice this long before
/// it signs ([`key_schedule::PUBLISH_LEAD`]), so a verifier that cached the
/// set always knows the signing key.
pub const JWKS_MAX_AGE: u64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not an RSA private key in PKCS#8 PEM ({1})")]
    Parse(String, String),
    #[error("{0}: RSA keys must have a modulus of at least 2048 bits")]
    TooSmall(String),
    #[error("cannot write a new key in {0}: {1}")]
    Write(String, std::io::Error),
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

/// One private key, ready to sign.
pub struct SigningKey {
    pub kid: String,
    pub jwk: Jwk,
    pub path: PathBuf,
    pub modified: SystemTime,
    key_pair: RsaKeyPair,
    /// base64url of the JWS header, identical for every token this key signs.
    pub header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(
        pem: &str,
        path: PathBuf,
        modified: SystemTime,
    ) -> Result<SigningKey, KeyError> {
        let name = path.display().to_string();
        let private = rsa::PrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError::Parse(name.clone(), e.to_string()))?;
        if private.size() * 8 < 2048 {
            return Err(KeyError::TooSmall(name));
        }
        let der = private
            .to_pkcs8_der()
            .map_err(|e| KeyError::Parse(name.clone(), e.to_string()))?;
        let key_pair = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| KeyError::Parse(name.clone(), e.to_string()))?;
        let jwk = Jwk::rsa_signing_key(&private.n_bytes(), &private.e_bytes());
        let kid = jwk.kid.clone().unwrap_or_default();
        let header = serde_json::json!({"alg": "RS256", "typ": shared::claims::ACCESS_TOKEN_TYP, "kid": kid});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(SigningKey {
            kid,
            jwk,
            path,
            modified,
            key_pair,
            header_b64,
        })
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        self.key_pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut signature,
        )?;
        Ok(signature)
    }
}

/// The published JWK Set, serialized once per key-set change.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    pub body: Arc<[u8]>,
    /// A strong validator: the quoted hash of the body.
    pub etag: String,
}

impl JwksDocument {
    fn new(set: &JwkSet) -> JwksDocument {
        let body = serde_json::to_vec(set).unwrap_or_default();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        JwksDocument {
            body: body.into(),
            etag,
        }
    }
}

/// The keys of `KEYS_DIR` at one moment: the published ones (`next`,
/// `active`, `retiring`) and the one that signs.
#[derive(Debug)]
pub struct KeyRing {
    pub signing: Arc<SigningKey>,
    /// Published keys, the latest activated first.
    pub keys: Vec<Arc<SigningKey>>,
    pub jwks: JwksDocument,
    /// Since when the signing key signs (Unix seconds).
    pub signing_since: i64,
    /// Whether a `next` key is published and waiting to sign.
    pub rotation_pending: bool,
    /// When a key of this ring changes state next.
    pub next_change: Option<i64>,
}

impl KeyRing {
    /// The ring at `now`; `None` when no key may sign.
    pub fn new(mut keys: Vec<SigningKey>, schedule: &Schedule, now: i64) -> Option<KeyRing> {
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys.dedup_by(|a, b| a.kid == b.kid);
        let entries: Vec<_> = keys.iter().map(|k| schedule.entry_for(k)).collect();
        let next_change = schedule.next_change(&keys, now);
        let present: HashSet<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        let complete = Schedule {
            keys: entries.clone(),
        };
        let signer = key_schedule::signer(&complete, &present, now)?;
        let rotation_pending = entries.iter().any(|e| e.state(now) == KeyState::Next);

        let mut published: Vec<(i64, Arc<SigningKey>)> = keys
            .into_iter()
            .zip(&entries)
            .filter(|(_, entry)| entry.state(now).is_published())
            .map(|(key, entry)| (entry.activates_at, Arc::new(key)))
            .collect();
        published.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.kid.cmp(&b.1.kid)));
        let keys: Vec<Arc<SigningKey>> = published.into_iter().map(|(_, k)| k).collect();
        let signing = keys.iter().find(|k| k.kid == signer.kid)?.clone();
        let set = JwkSet {
            keys: keys.iter().map(|k| k.jwk.clone()).collect(),
        };
        Some(KeyRing {
            signing,
            jwks: JwksDocument::new(&set),
            keys,
            signing_since: signer.activates_at,
            rotation_pending,
            next_change,
        })
    }
}

/// What the folder looked like: key and schedule files with their sizes
/// and modification times.
type Fingerprint = Vec<(String, u64, SystemTime)>;

/// The live key ring, swappable while the server runs.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    current: RwLock<Arc<KeyRing>>,
    seen: Mutex<Fingerprint>,
}

impl KeyStore {
    /// Loads every `*.pem` of `dir`, generating a first key when none may
    /// sign.
    pub fn open(dir: &Path) -> Result<KeyStore, KeyError> {
        let seen = fingerprint(dir).unwrap_or_default();
        let ring = load_or_generate(dir, key_schedule::now())?;
        Ok(KeyStore {
            dir: dir.to_owned(),
            current: RwLock::new(Arc::new(ring)),
            seen: Mutex::new(seen),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn current(&self) -> Arc<KeyRing> {
        match self.current.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the folder; the running server picks the new ring up at once.
    pub fn reload(&self) -> Result<(), KeyError> {
        let seen = fingerprint(&self.dir)?;
        let ring = Arc::new(load_or_generate(&self.dir, key_schedule::now())?);
        match self.current.write() {
            Ok(mut current) => *current = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        match self.seen.lock() {
            Ok(mut old) => *old = seen,
            Err(poisoned) => *poisoned.into_inner() = seen,
        }
        Ok(())
    }

    /// Reloads when the folder changed or a key's state did since the last
    /// load; `true` if the ring was replaced. Cheap otherwise: one
    /// directory listing.
    pub fn refresh(&self, now: i64) -> Result<bool, KeyError> {
        let due = self.current().next_change.is_some_and(|t| t <= now);
        let changed = match self.seen.lock() {
            Ok(seen) => *seen != fingerprint(&self.dir)?,
            Err(_) => true,
        };
        if !due && !changed {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }
}

fn fingerprint(dir: &Path) -> Result<Fingerprint, KeyError> {
    let name = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| KeyError::Read(name.clone(), e))?;
    let mut seen = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if !(file.ends_with(".pem") || file == SCHEDULE_FILE) {
            continue;
        }
        // Followed through symlinks: a mounted Secret swaps the files
        // behind unchanged links.
        if let Ok(meta) = std::fs::metadata(entry.path()) {
            seen.push((
                file,
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ));
        }
    }
    seen.sort();
    Ok(seen)
}

fn load_or_generate(dir: &Path, now: i64) -> Result<KeyRing, KeyError> {
    let keys = load_dir(dir)?;
    let schedule = Schedule::read(dir)?;
    // A removed key's file goes: a private key nobody may use should not
    // linger. A read-only folder (a mounted Secret) keeps it, unpublished.
    let (removed, keys): (Vec<_>, Vec<_>) = keys
        .into_iter()
        .partition(|k| schedule.entry_for(k).state(now) == KeyState::Removed);
    for key in removed {
        if let Err(error) = std::fs::remove_file(&key.path) {
            tracing::debug!(%error, path = %key.path.display(), "cannot delete a removed key");
        }
    }
    if let Some(ring) = KeyRing::new(keys, &schedule, now) {
        return Ok(ring);
    }
    // Nothing may sign: a new key, active since it was written.
    let generated = generate_key(dir)?;
    let mut keys = load_dir(dir)?;
    keys.retain(|k| schedule.entry_for(k).state(now) != KeyState::Removed);
    KeyRing::new(keys, &schedule, now)
        .ok_or_else(|| KeyError::Generate(format!("{} was written but cannot sign", generated.kid)))
}

pub(crate) fn load_dir(dir: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let name = dir.display().to_string();
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::Write(name.clone(), e))?;
    }
    let entries = std::fs::read_dir(dir).map_err(|e| KeyError::Read(name.clone(), e))?;
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KeyError::Read(name.clone(), e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pem") {
            continue;
        }
        let file_name = path.display().to_string();
        let pem = match std::fs::read_to_string(&path) {
            Ok(pem) => pem,
            // Revoked by another process between the listing and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(KeyError::Read(file_name, e)),
        };
        let modified = match entry.metadata().and_then(|m| m.modified()) {
            Ok(modified) => modified,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(KeyError::Read(file_name, e)),
        };
        warn_if_readable_by_others(&path);
        keys.push(SigningKey::from_pem(&pem, path, modified)?);
    }
    Ok(keys)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "key file is readable by group or others; it should be mode 0600");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

/// Generates a 2048-bit key and writes it as `<kid>.pem`, mode 0600, through
/// a temporary file so that a crash never leaves half a key behind.
pub fn generate_key(dir: &Path) -> Result<SigningKey, KeyError> {
    let dir_name = dir.display().to_string();
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, GENERATED_KEY_BITS)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let jwk = Jwk::rsa_signing_key(&private.n_bytes(), &private.e_bytes());
    let kid = jwk.kid.unwrap_or_default();
    let path = dir.join(format!("{kid}.pem"));
    let tmp = dir.join(format!(".{kid}.pem.tmp"));
    write_private(&tmp, pem.as_bytes()).map_err(|e| KeyError::Write(dir_name.clone(), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| KeyError::Write(dir_name.clone(), e))?;
    tracing::info!(%kid, path = %path.display(), "generated a new signing key");
    SigningKey::from_pem(&pem, path, SystemTime::now())
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
