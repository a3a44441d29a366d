//! One signing key: an RSA private key parsed once, when the ring is
//! loaded, into an aws-lc `RsaKeyPair`, so that signing costs one RSA
//! operation and touches neither the database nor the KEK; and a new key
//! as it is stored (its kid, public JWK and sealed private key).
//!
//! The `rsa` crate is used only to generate keys and to read their public
//! components, never to sign (RUSTSEC-2023-0071). `jsonwebtoken`'s
//! [`JwtSigner`] is implemented here, so a token is signed with the parsed
//! key rather than one parsed again from DER on every call.

use aws_lc_rs::signature::RsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::JwtSigner;
use jsonwebtoken::signature::{self, Signer};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use shared::jwk::Jwk;
use shared::jwks_cache::VerifyingKey;

use super::error::KeyError;
use super::kek::Kek;

/// Modulus size of generated keys.
pub const GENERATED_KEY_BITS: usize = 2048;

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
    pub(super) fn seal(
        private: &rsa::PrivateKey,
        kek: &Kek,
        name: &str,
    ) -> Result<NewKey, KeyError> {
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

/// RS256 with the `RsaKeyPair` parsed when the ring was loaded.
impl Signer<Vec<u8>> for SigningKey {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.sign(message).map_err(signature::Error::from_source)
    }
}

impl JwtSigner for SigningKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}
