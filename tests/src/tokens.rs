//! Reading and forging tokens: their header and claims without a check,
//! and keys to sign bad ones with (the issuer's own, or an attacker's).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// The JSON of a token's header (0) or claims (1), without checking it.
pub fn part_of(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("token part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn header_of(token: &str) -> Value {
    part_of(token, 0)
}

pub fn claims_of(token: &str) -> Value {
    part_of(token, 1)
}

/// A private key to sign tokens with: the issuer's own (read from its key
/// folder) to forge bad claims under a good signature, or an attacker's.
pub struct ForgingKey {
    pub pem: String,
    pub encoding: EncodingKey,
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    pub e: String,
}

impl ForgingKey {
    pub fn from_pem_file(path: &Path) -> ForgingKey {
        let pem = std::fs::read_to_string(path).expect("read the key file");
        ForgingKey::from_pem(pem)
    }

    pub fn from_pem(pem: String) -> ForgingKey {
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .expect("public components");
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = public.algorithm else {
            panic!("not an RSA key")
        };
        let kid = shared::jwk::rsa_thumbprint(&rsa.n, &rsa.e);
        ForgingKey {
            pem,
            encoding,
            kid,
            n: rsa.n,
            e: rsa.e,
        }
    }

    /// A new 2048-bit key made with the `rsa` crate, as the issuer makes them.
    pub fn generate() -> ForgingKey {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let private =
            rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("generate an RSA key");
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 PEM")
            .to_string();
        ForgingKey::from_pem(pem)
    }

    /// The public key as SPKI PEM, as an attacker would find it.
    pub fn public_pem(&self) -> String {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let private = rsa::PrivateKey::from_pkcs8_pem(&self.pem).expect("parse PEM");
        private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM")
    }

    /// The issuer's header for this key.
    pub fn header(&self) -> Value {
        json!({"alg": "RS256", "typ": "at+jwt", "kid": self.kid})
    }

    /// RS256 over any header and claims.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::RS256)
                .expect("sign");
        format!("{input}.{signature}")
    }

    /// Writes the key as `<kid>.pem`, mode 0600, into `dir`, with a
    /// modification time `ahead` in the future so it is the newest.
    pub fn write_to(&self, dir: &Path, ahead: Duration) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(format!("{}.pem", self.kid));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create the key file");
        file.write_all(self.pem.as_bytes()).expect("write the key");
        file.set_modified(shared::clock::system_time() + ahead)
            .expect("set mtime");
        path
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An HS256 token keyed with `secret`, the algorithm-confusion attack.
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = signing_input(header, claims);
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("sign");
    format!("{input}.{signature}")
}

/// Seconds since the epoch, for forging time claims.
pub fn now() -> i64 {
    use shared::clock::Clock;
    shared::clock::SystemClock.now()
}
