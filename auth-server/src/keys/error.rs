//! What can go wrong with the signing keys, in two layers: [`KeyError`]
//! for one key or one file (it names the file), and [`KeyStoreError`] for
//! the keys as a whole (it names the setting at fault, or the refused
//! change), which start-up and the command line print as one line.

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

/// Why the keys cannot be opened or changed: each names the setting at
/// fault, so start-up stops with one line, or says why the command line's
/// change was refused.
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
    /// `keys rotate` or `keys import` while a `next` key waits to sign.
    #[error("a rotation is already under way: key {kid} starts signing at {at}")]
    RotationPending { kid: String, at: String },
    #[error("no key {0} in the database")]
    UnknownKid(String),
    #[error("key {0} is already in the database (a removed or revoked key never comes back)")]
    KnownKid(String),
}

pub(super) fn kek_error(setting: &'static str, message: impl Into<String>) -> KeyStoreError {
    KeyStoreError::Kek {
        setting,
        message: message.into(),
    }
}

/// Already names its setting (`KEYS_DIR`, `KEY_ENCRYPTION_KEY`, …).
impl From<KeyStoreError> for platform::boot::StartupError {
    fn from(error: KeyStoreError) -> Self {
        platform::boot::StartupError(error.to_string())
    }
}
