//! Credentials made ahead for the load scenarios of `tests/load/`, signed
//! with one ES256 key, one a line, so that wrk replays them and spends no
//! time signing (each is good once: a fresh `jti` in every one):
//!
//!   dpop_load keygen DIR                   the key (DIR/es256.pk8) and its
//!                                          public JWK Set (DIR/jwks.json)
//!   dpop_load proofs DIR HTM HTU N [TOKEN] N DPoP proofs (RFC 9449) for
//!                                          HTM HTU, with `ath` for TOKEN
//!   dpop_load assertions DIR CLIENT AUD N  N `private_key_jwt` client
//!                                          assertions (RFC 7523)
//!
//! `dpop_load jkt DIR` prints the key's RFC 7638 thumbprint.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KID: &str = "load-es256";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(message) = run(&args) {
        eprintln!("dpop_load: {message}");
        std::process::exit(2);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or(USAGE.to_owned());
    let count = |i: usize| {
        arg(i)?
            .parse::<usize>()
            .map_err(|_| "N must be a number".to_owned())
    };
    match arg(0)? {
        "keygen" => keygen(arg(1)?),
        "jkt" => {
            println!("{}", thumbprint(&load(arg(1)?)?));
            Ok(())
        }
        "proofs" => {
            let key = load(arg(1)?)?;
            let token = args.get(5).map(String::as_str);
            let mut out = String::new();
            for _ in 0..count(4)? {
                out.push_str(&proof(&key, arg(2)?, arg(3)?, token)?);
                out.push('\n');
            }
            print!("{out}");
            Ok(())
        }
        "assertions" => {
            let key = load(arg(1)?)?;
            let mut out = String::new();
            for _ in 0..count(4)? {
                out.push_str(&assertion(&key, arg(2)?, arg(3)?)?);
                out.push('\n');
            }
            print!("{out}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

const USAGE: &str = "usage: dpop_load keygen DIR | jkt DIR | proofs DIR HTM HTU N [TOKEN] | assertions DIR CLIENT AUD N";

fn keygen(dir: &str) -> Result<(), String> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "key generation failed".to_owned())?;
    std::fs::write(format!("{dir}/es256.pk8"), pkcs8.as_ref()).map_err(|e| e.to_string())?;
    let key = load(dir)?;
    let mut jwk = public_jwk(&key);
    jwk["kid"] = json!(KID);
    jwk["alg"] = json!("ES256");
    std::fs::write(
        format!("{dir}/jwks.json"),
        json!({ "keys": [jwk] }).to_string(),
    )
    .map_err(|e| e.to_string())
}

fn load(dir: &str) -> Result<EcdsaKeyPair, String> {
    let der = std::fs::read(format!("{dir}/es256.pk8")).map_err(|e| e.to_string())?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| "not an ES256 PKCS#8 key".to_owned())
}

fn public_jwk(key: &EcdsaKeyPair) -> Value {
    let point = key.public_key().as_ref();
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.get(1..33).unwrap_or_default()),
        "y": URL_SAFE_NO_PAD.encode(point.get(33..65).unwrap_or_default()),
    })
}

fn thumbprint(key: &EcdsaKeyPair) -> String {
    let jwk = public_jwk(key);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
        jwk["x"], jwk["y"]
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn sign(key: &EcdsaKeyPair, header: &Value, claims: &Value) -> Result<String, String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| "signing failed".to_owned())?;
    Ok(format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

fn now() -> i64 {
    shared::clock::unix_now()
}

fn proof(key: &EcdsaKeyPair, htm: &str, htu: &str, token: Option<&str>) -> Result<String, String> {
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key) });
    let mut claims = json!({
        "htm": htm,
        "htu": htu,
        "iat": now(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(token) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    sign(key, &header, &claims)
}

fn assertion(key: &EcdsaKeyPair, client_id: &str, aud: &str) -> Result<String, String> {
    let header = json!({ "typ": "JWT", "alg": "ES256", "kid": KID });
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now(),
        "exp": now() + 240,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    sign(key, &header, &claims)
}
