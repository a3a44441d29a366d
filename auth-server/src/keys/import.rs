//! The policy for private keys that come from files: PKCS#8
//! PEM keys and `schedule.json` left in `KEYS_DIR` by earlier versions are
//! imported, kids and states kept, only into a database that holds no
//! signing key yet, and only from files of mode 0600 or 0400 owned by the
//! server's user. Anything else would make whoever can drop a file into
//! `KEYS_DIR` a signer: once the database holds keys, a PEM file there is
//! ignored with a warning, and keys are added on purpose only, with
//! `auth-server keys import` ([`read_key_file`], then
//! [`schedule::import`](super::schedule::import)).

use std::io::Read;
use std::path::{Path, PathBuf};

use rsa::pkcs8::DecodePrivateKey;

use super::error::KeyError;
use super::kek::{Kek, MAX_KEY_FILE_BYTES};
use super::lifecycle::{Entry, KeyState, Schedule};
use super::rows::StoredKey;
use super::signing_key::NewKey;

/// The schedule file of earlier versions, imported once from `KEYS_DIR`.
pub const SCHEDULE_FILE: &str = "schedule.json";

/// Reads the `schedule.json` an earlier version kept in `dir`; none is an
/// empty one.
fn read_schedule(dir: &Path) -> Result<Schedule, KeyError> {
    let path = dir.join(SCHEDULE_FILE);
    let name = path.display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| KeyError::Parse(name, format!("not a key schedule: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Schedule::default()),
        Err(e) => Err(KeyError::Read(name, e)),
    }
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
pub fn warn_about_key_files(dir: &Path) {
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
pub fn read_legacy_dir(dir: &Path, kek: &Kek, now: i64) -> Result<Vec<StoredKey>, KeyError> {
    let files = key_files(dir)?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let schedule = read_schedule(dir)?;
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
