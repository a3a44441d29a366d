//! The signing keys: RSA private keys kept in the database (table
//! `signing_keys`), each sealed with AES-256-GCM under the key-encryption
//! key (KEK) with its kid as associated data; the key that signs; and the
//! JWK Set that publishes them. Which key signs and which are published
//! follows the rotation schedule ([`schedule`]), stored in the
//! same rows. Every instance sharing the database and the KEK holds the
//! same ring; a running server polls one version row and reloads when it
//! changes or a key's state does.
//!
//! Keys are decrypted and parsed only when the ring is (re)loaded, into an
//! aws-lc `RsaKeyPair`: signing reads the in-memory ring, costs one RSA
//! operation and touches neither the database nor the KEK. The `rsa` crate
//! is used only to generate keys and to read their public components, never
//! to sign (RUSTSEC-2023-0071).
//!
//! `KEYS_DIR` is only read (it may be a read-only mounted secret), except
//! that the default KEK, the file `kek`, is made there on a first start. A
//! KEK file that group or others may read stops the start: the KEK opens
//! every signing key.
//!
//! PKCS#8 PEM keys and `schedule.json` left there by earlier versions are
//! imported, kids and states kept, only into a database that holds no
//! signing key yet, and only from files of mode 0600 or 0400 owned by the
//! server's user. Anything else would make whoever can drop a file into
//! `KEYS_DIR` a signer: once the database holds keys, a PEM file there is
//! ignored with a warning, and keys are added on purpose only, with
//! `auth-server keys import` ([`schedule::import`]).

pub mod schedule;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use shared::jwk::{Jwk, JwkSet};
use shared::jwks_cache::VerifyingKey;
use sqlx::Row;

use crate::config::{AppConfig, KekSource};
use crate::db::Db;
use schedule::{Entry, KeyState, Schedule, StoredKey};

/// Modulus size of generated keys.
pub const GENERATED_KEY_BITS: usize = 2048;

/// The default key-encryption key's file in `KEYS_DIR`.
pub const KEK_FILE: &str = "kek";

/// A problem with one key or with `KEYS_DIR`.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not an RSA private key in PKCS#8 PEM ({1})")]
    Parse(String, String),
    #[error("{0}: RSA keys must have a modulus of at least 2048 bits")]
    TooSmall(String),
    #[error(
        "{path} is not imported: key files are imported only from files of mode 0600 or 0400 \
         owned by the server's user (uid {euid}); it has mode {mode:04o} and owner uid {owner}"
    )]
    NotPrivate {
        path: String,
        mode: u32,
        owner: u32,
        euid: u32,
    },
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("cannot generate a key: {0}")]
    Generate(String),
}

/// Why the keys cannot be opened or changed; each names the setting at
/// fault, so start-up stops with one line.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("KEYS_DIR: {0}")]
    Dir(#[from] KeyError),
    #[error("{setting}: {message}")]
    Kek {
        setting: &'static str,
        message: String,
    },
    #[error("DATABASE_URL: cannot read or change the signing keys: {0}")]
    Db(#[from] sqlx::Error),
    #[error("KEYS_DIR: no key in the database may sign")]
    NoSigner,
}

fn kek_error(setting: &'static str, message: impl Into<String>) -> KeyStoreError {
    KeyStoreError::Kek {
        setting,
        message: message.into(),
    }
}

/// The key-encryption key: AES-256-GCM, 32 bytes. Never printed.
pub struct Kek {
    key: LessSafeKey,
    /// A hash of the key (not the key), recorded in the database so that an
    /// instance given another KEK says so at start.
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// Why a sealed private key does not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
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
        Ok(Kek { key, id })
    }

    pub fn id(&self) -> &str {
        &self.id
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
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut bytes = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| OpenError::Encoding)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Truncated);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| OpenError::Truncated)?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| OpenError::Authentication)?;
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
                        if schedule::holds_keys(db).await? {
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

/// One private key, ready to sign.
pub struct SigningKey {
    pub kid: String,
    pub jwk: Jwk,
    key_pair: RsaKeyPair,
    /// The public half as the one JWS verifier takes it, built once, so that
    /// recognising our own tokens never parses a key.
    pub verifying: VerifyingKey,
    /// base64url of the JWS header, identical for every token this key signs.
    pub header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 DER private key; `name` says where it came from.
    pub fn from_pkcs8_der(der: &[u8], name: &str) -> Result<SigningKey, KeyError> {
        let private = rsa::PrivateKey::from_pkcs8_der(der)
            .map_err(|e| KeyError::Parse(name.to_owned(), e.to_string()))?;
        SigningKey::from_private(&private, name)
    }

    fn from_private(private: &rsa::PrivateKey, name: &str) -> Result<SigningKey, KeyError> {
        if private.size() * 8 < 2048 {
            return Err(KeyError::TooSmall(name.to_owned()));
        }
        let der = private
            .to_pkcs8_der()
            .map_err(|e| KeyError::Parse(name.to_owned(), e.to_string()))?;
        let key_pair = RsaKeyPair::from_pkcs8(der.as_bytes())
            .map_err(|e| KeyError::Parse(name.to_owned(), e.to_string()))?;
        let jwk = Jwk::rsa_signing_key(&private.n_bytes(), &private.e_bytes());
        let kid = jwk.kid.clone().unwrap_or_default();
        let verifying =
            VerifyingKey::from_jwk(&jwk).map_err(|e| KeyError::Parse(name.to_owned(), e))?;
        let header = serde_json::json!({"alg": "RS256", "typ": shared::claims::ACCESS_TOKEN_TYP, "kid": kid});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(SigningKey {
            kid,
            jwk,
            key_pair,
            verifying,
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

/// A key ready to be stored: its kid, public JWK and sealed private key.
pub struct NewKey {
    pub kid: String,
    pub public_jwk: String,
    pub sealed: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl NewKey {
    fn seal(private: &rsa::PrivateKey, kek: &Kek, name: &str) -> Result<NewKey, KeyError> {
        // Parsed back as the ring will: a key that cannot sign is refused now.
        let key = SigningKey::from_private(private, name)?;
        let der = private
            .to_pkcs8_der()
            .map_err(|e| KeyError::Parse(name.to_owned(), e.to_string()))?;
        let sealed = kek
            .seal(&key.kid, der.as_bytes())
            .map_err(|e| KeyError::Generate(format!("cannot seal the key: {e}")))?;
        let public_jwk =
            serde_json::to_string(&key.jwk).map_err(|e| KeyError::Generate(e.to_string()))?;
        Ok(NewKey {
            kid: key.kid,
            public_jwk,
            sealed,
        })
    }
}

/// Generates a 2048-bit key, sealed under `kek`. Slow (an RSA key
/// generation): run it off the async workers, and before any transaction.
pub fn generate_key(kek: &Kek) -> Result<NewKey, KeyError> {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, GENERATED_KEY_BITS)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    NewKey::seal(&private, kek, "a generated key")
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

/// The keys at one moment: the published ones (`next`, `active`,
/// `retiring`) and the one that signs.
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
    /// The ring at `now` from the keys that could be opened and the
    /// schedule of every key; `None` when no key may sign.
    pub fn new(keys: Vec<Arc<SigningKey>>, schedule: &Schedule, now: i64) -> Option<KeyRing> {
        let present: HashSet<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
        let signer = schedule::signer(schedule, &present, now)?;
        let entries: Vec<&Entry> = schedule
            .keys
            .iter()
            .filter(|e| present.contains(e.kid.as_str()))
            .collect();
        let rotation_pending = entries.iter().any(|e| e.state(now) == KeyState::Next);
        let next_change = entries.iter().filter_map(|e| e.next_change(now)).min();
        let mut published: Vec<(i64, Arc<SigningKey>)> = keys
            .iter()
            .filter_map(|key| {
                let entry = entries.iter().find(|e| e.kid == key.kid)?;
                entry
                    .state(now)
                    .is_published()
                    .then(|| (entry.activates_at, key.clone()))
            })
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

/// The live key ring, swappable while the server runs.
#[derive(Debug)]
pub struct KeyStore {
    db: Db,
    kek: Arc<Kek>,
    current: RwLock<Arc<KeyRing>>,
    /// The `key_ring` version the current ring was read at.
    version: AtomicI64,
}

impl KeyStore {
    /// Opens the keys of the database: loads the KEK, imports what an
    /// earlier version left in `KEYS_DIR` while the database holds no
    /// signing key (else warns about each key file there), makes the first
    /// key when none may sign, and decrypts the published keys (a wrong KEK
    /// fails here).
    pub async fn open(config: &AppConfig, db: &Db) -> Result<KeyStore, KeyStoreError> {
        let kek = Kek::load(config, db).await?;
        let now = shared::clock::unix_now();
        let dir = config.keys_dir.clone();
        let kek = Arc::new(kek);
        let imports = if schedule::holds_keys(db).await? {
            tokio::task::spawn_blocking(move || warn_about_key_files(&dir))
                .await
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Vec::new()
        } else {
            let kek = kek.clone();
            tokio::task::spawn_blocking(move || read_legacy_dir(&dir, &kek, now))
                .await
                .map_err(|e| KeyError::Generate(e.to_string()))??
        };
        // The ring is first read at the instant the schedule was settled
        // at: a first key made by an instance whose clock read came after
        // ours is active from its own `now`, which may be after ours.
        let settled_at = schedule::settle(db, &kek, imports, now).await?;
        let (version, ring) = load(db, &kek, None, settled_at).await?;
        Ok(KeyStore {
            db: db.clone(),
            kek,
            current: RwLock::new(Arc::new(ring)),
            version: AtomicI64::new(version),
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn kek(&self) -> Arc<Kek> {
        self.kek.clone()
    }

    /// The ring signing now: memory only, never the database.
    pub fn current(&self) -> Arc<KeyRing> {
        match self.current.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the keys; the running server picks the new ring up at once.
    pub async fn reload(&self, now: i64) -> Result<(), KeyStoreError> {
        let previous = self.current();
        let (version, ring) = load(&self.db, &self.kek, Some(&previous), now).await?;
        let ring = Arc::new(ring);
        match self.current.write() {
            Ok(mut current) => *current = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    /// Reloads when the keys changed (the version row moved) or a key's
    /// state did since the last load; `true` if the ring was replaced.
    /// Cheap otherwise: one indexed one-row read.
    ///
    /// The same read carries `clients_version`, handed to the client cache
    /// (`client_cache`): one poll keeps both current.
    pub async fn refresh(&self, now: i64) -> Result<bool, KeyStoreError> {
        let due = self.current().next_change.is_some_and(|t| t <= now);
        let began = std::time::Instant::now();
        let row = sqlx::query("select version, clients_version from key_ring where id = 1")
            .fetch_one(&self.db.pool)
            .await?;
        let version: i64 = row.try_get("version")?;
        self.db
            .clients
            .observe(row.try_get("clients_version")?, began);
        if !due && version == self.version.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.reload(now).await?;
        Ok(true)
    }
}

/// Reads the version, then the keys (a change committed in between only
/// makes the next poll load again), and opens the published keys, reusing
/// those `previous` already opened.
async fn load(
    db: &Db,
    kek: &Kek,
    previous: Option<&KeyRing>,
    now: i64,
) -> Result<(i64, KeyRing), KeyStoreError> {
    let row = sqlx::query("select version, kek_id from key_ring where id = 1")
        .fetch_one(&db.pool)
        .await?;
    let version: i64 = row.try_get("version")?;
    let kek_id: Option<String> = row.try_get("kek_id")?;
    check_kek_id(kek, kek_id.as_deref())?;
    let rows = schedule::read_keys(&db.pool).await?;
    let mut keys = Vec::new();
    for StoredKey { entry, sealed, .. } in &rows {
        let Some(sealed) = sealed else { continue };
        if !entry.state(now).is_published() {
            continue;
        }
        if let Some(known) = previous.and_then(|p| p.keys.iter().find(|k| k.kid == entry.kid)) {
            keys.push(known.clone());
            continue;
        }
        keys.push(Arc::new(open_key(kek, &entry.kid, sealed)?));
    }
    let schedule = Schedule {
        keys: rows.into_iter().map(|r| r.entry).collect(),
    };
    let ring = KeyRing::new(keys, &schedule, now).ok_or(KeyStoreError::NoSigner)?;
    Ok((version, ring))
}

pub(crate) fn check_kek_id(kek: &Kek, recorded: Option<&str>) -> Result<(), KeyStoreError> {
    match recorded {
        Some(id) if id != kek.id() => Err(kek_error(
            "KEY_ENCRYPTION_KEY",
            "differs from the key-encryption key the database's signing keys were sealed with \
             (every instance of one issuer must use the same)",
        )),
        _ => Ok(()),
    }
}

fn open_key(kek: &Kek, kid: &str, sealed: &str) -> Result<SigningKey, KeyStoreError> {
    let der = kek.open(kid, sealed).map_err(|e| {
        kek_error(
            "KEY_ENCRYPTION_KEY",
            format!("the private key of {kid} in the database does not decrypt ({e}): its ciphertext is corrupt"),
        )
    })?;
    let key = SigningKey::from_pkcs8_der(&der, kid).map_err(|e| {
        kek_error(
            "KEY_ENCRYPTION_KEY",
            format!("the private key of {kid} in the database is corrupt: {e}"),
        )
    })?;
    if key.kid != kid {
        return Err(kek_error(
            "KEY_ENCRYPTION_KEY",
            format!(
                "the private key stored as {kid} is another key ({})",
                key.kid
            ),
        ));
    }
    Ok(key)
}

/// The PKCS#8 PEM files (`*.pem`) in `dir`, sorted; none if it does not
/// exist.
fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let name = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Read(name, e)),
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| KeyError::Read(name.clone(), e))?.path();
        if path.extension().and_then(|e| e.to_str()) == Some("pem") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One warning line for each key file in `dir`, which a database holding
/// keys never imports. Nothing is parsed: the file may be anyone's.
fn warn_about_key_files(dir: &Path) {
    let files = match key_files(dir) {
        Ok(files) => files,
        Err(e) => {
            tracing::debug!(error = %e, "KEYS_DIR not listed for key files");
            return;
        }
    };
    for path in files {
        tracing::warn!(
            "KEYS_DIR: {} ignored: key files are imported only while the database holds no \
             signing key; `auth-server keys import` adds a key",
            path.display()
        );
    }
}

/// What an earlier version left in `KEYS_DIR`: every PKCS#8 PEM key, with
/// its `schedule.json` entry or, for a file without one, active since the
/// file was written (as that version treated it). A key whose entry says
/// removed comes as a tombstone, its private part left behind. A key file
/// that is not the server's own and private ([`check_private_key_file`])
/// is an error: the import is refused rather than made without it. Reads
/// only.
pub(crate) fn read_legacy_dir(dir: &Path, kek: &Kek, now: i64) -> Result<Vec<StoredKey>, KeyError> {
    let files = key_files(dir)?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let schedule = Schedule::read(dir)?;
    let mut imports: Vec<StoredKey> = Vec::new();
    for path in files {
        let file_name = path.display().to_string();
        // Checked on the open file, then read from it: the file judged is
        // the file read.
        let mut file =
            std::fs::File::open(&path).map_err(|e| KeyError::Read(file_name.clone(), e))?;
        let meta = file
            .metadata()
            .map_err(|e| KeyError::Read(file_name.clone(), e))?;
        check_private_key_file(&meta, &file_name)?;
        let mut pem = String::new();
        (&mut file)
            .take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut pem)
            .map_err(|e| KeyError::Read(file_name.clone(), e))?;
        let modified = meta
            .modified()
            .map_err(|e| KeyError::Read(file_name.clone(), e))?;
        let private = rsa::PrivateKey::from_pkcs8_pem(&pem)
            .map_err(|e| KeyError::Parse(file_name.clone(), e.to_string()))?;
        let key = NewKey::seal(&private, kek, &file_name)?;
        if imports.iter().any(|i| i.entry.kid == key.kid) {
            continue;
        }
        let entry = schedule
            .keys
            .iter()
            .find(|e| e.kid == key.kid)
            .cloned()
            // Dated ahead (a copy, a skewed host) counts from now.
            .unwrap_or_else(|| {
                Entry::active_since(&key.kid, shared::clock::unix(modified).min(now))
            });
        let sealed = (entry.state(now) != KeyState::Removed).then_some(key.sealed);
        imports.push(StoredKey {
            entry,
            public_jwk: key.public_jwk,
            sealed,
        });
    }
    Ok(imports)
}

/// A key file to import must be the server's own, mode 0600 or 0400:
/// anything laxer means someone else could have written it.
#[cfg(unix)]
fn check_private_key_file(meta: &std::fs::Metadata, name: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o7777;
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() == euid && (mode == 0o600 || mode == 0o400) {
        return Ok(());
    }
    Err(KeyError::NotPrivate {
        path: name.to_owned(),
        mode,
        owner: meta.uid(),
        euid,
    })
}

#[cfg(not(unix))]
fn check_private_key_file(_: &std::fs::Metadata, _: &str) -> Result<(), KeyError> {
    Ok(())
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

/// The most read of a key file: a PEM RSA key of 16384 bits is under 13 KiB.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// A key the operator brings (`auth-server keys import FILE`): an RSA
/// private key of at least 2048 bits in PKCS#8 PEM, sealed under `kek`.
/// Each error names the file, on one line.
pub fn read_key_file(path: &Path, kek: &Kek) -> Result<NewKey, KeyError> {
    let name = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| KeyError::Read(name.clone(), e))?;
    let meta = file
        .metadata()
        .map_err(|e| KeyError::Read(name.clone(), e))?;
    if !meta.is_file() {
        return Err(KeyError::Parse(name, "not a file".into()));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| KeyError::Read(name.clone(), e))?;
    let pem = String::from_utf8(bytes)
        .map_err(|_| KeyError::Parse(name.clone(), "not PEM text".into()))?;
    let private = rsa::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| {
        let why = if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
            "a PKCS#1 key; convert it with `openssl pkcs8 -topk8 -nocrypt`".to_owned()
        } else if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            "an encrypted key; decrypt it with `openssl pkcs8 -nocrypt` first".to_owned()
        } else if pem.contains("PUBLIC KEY-----") {
            "a public key".to_owned()
        } else {
            e.to_string()
        };
        KeyError::Parse(name.clone(), why)
    })?;
    NewKey::seal(&private, kek, &name)
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
            Err(OpenError::Authentication)
        ));
        // Another KEK fails.
        assert!(matches!(
            super::tests::kek(8).open("kid-1", &sealed),
            Err(OpenError::Authentication)
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
            Err(OpenError::Truncated)
        ));
        assert!(matches!(kek.open("kid-1", "!!"), Err(OpenError::Encoding)));
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
