//! Property tests: whatever is done to a valid token, by a byte, a whole
//! base64 segment, a JSON member or a header field, the verifier refuses
//! the result and never panics. Changes that keep the issuer's signature
//! cannot be accepted unless the signature itself is broken; changes
//! re-signed with the issuer's own key are chosen to be invalid for a
//! reason the verifier must see (type, algorithm, key-locating header,
//! missing or mistyped claim, issuer, audience, time, a repeated member).
//!
//! Each property runs a bounded number of cases, so `cargo test` runs them
//! in seconds; a failure prints the smallest token proptest found.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use shared::jwks_cache::JwksCache;
use shared::verifier::{MAX_LEEWAY_SECS, Verifier, VerifierConfig, is_access_token_typ};

use crate::support::{AUDIENCE, ISSUER, NOW, TestKey, claims};

static KEY: LazyLock<TestKey> = LazyLock::new(TestKey::generate);
/// The one valid token every case starts from.
static VALID: LazyLock<String> = LazyLock::new(|| KEY.sign(&claims()));

fn config(cases: u32) -> Config {
    Config {
        cases,
        // No regression files written into the source tree.
        failure_persistence: None,
        ..Config::default()
    }
}

/// The verifier with its token cache warm with the valid token: a mutated
/// token must not be answered from the entry of the one it came from.
fn verify(token: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let keys = JwksCache::fixed(&TestKey::set(&[&KEY])).map_err(|e| e.to_string())?;
        let verifier = Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), keys);
        verifier
            .verify(&VALID, NOW)
            .await
            .map_err(|e| format!("the valid token was refused: {e}"))?;
        match verifier.verify(token, NOW).await {
            Ok(verified) => Err(format!("accepted: {verified:?}")),
            Err(_) => Ok(()),
        }
    })
}

fn parts() -> (String, String, String) {
    let mut split = VALID.split('.').map(str::to_owned);
    let mut next = || split.next().unwrap_or_default();
    (next(), next(), next())
}

fn decoded(segment: &str) -> Map<String, Value> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn encoded(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// One edit of the token's characters.
#[derive(Debug, Clone)]
enum CharEdit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
    Truncate(usize),
    Swap(usize, usize),
}

fn char_edit() -> impl Strategy<Value = CharEdit> {
    let position = 0..VALID.len() + 1;
    // Mostly the characters a token is made of, sometimes anything.
    let character = prop_oneof![
        4 => proptest::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ];
    prop_oneof![
        (position.clone(), character.clone()).prop_map(|(i, c)| CharEdit::Replace(i, c)),
        (position.clone(), character).prop_map(|(i, c)| CharEdit::Insert(i, c)),
        position.clone().prop_map(CharEdit::Delete),
        position.clone().prop_map(CharEdit::Truncate),
        (position.clone(), position).prop_map(|(i, j)| CharEdit::Swap(i, j)),
    ]
}

fn apply(token: &str, edit: &CharEdit) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let len = chars.len();
    match *edit {
        CharEdit::Replace(i, c) => {
            if let Some(slot) = chars.get_mut(i) {
                *slot = c;
            }
        }
        CharEdit::Insert(i, c) => chars.insert(i.min(len), c),
        CharEdit::Delete(i) => {
            if i < len {
                chars.remove(i);
            }
        }
        CharEdit::Truncate(i) => chars.truncate(i),
        CharEdit::Swap(i, j) => {
            if i < len && j < len {
                chars.swap(i, j);
            }
        }
    }
    chars.into_iter().collect()
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        // Values the verifier compares against, to get past the first checks.
        proptest::sample::select(vec![
            json!(ISSUER),
            json!(AUDIENCE),
            json!([AUDIENCE]),
            json!(NOW),
            json!("RS256"),
            json!("at+jwt"),
            json!(""),
        ]),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A member name: one the header or claims have, or any other.
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "alg", "typ", "kid", "crit", "jku", "jwk", "x5u", "x5c", "iss", "sub", "aud", "exp",
            "iat", "nbf", "jti", "client_id", "scope", "email", "name",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

/// One edit of a JSON object.
#[derive(Debug, Clone)]
enum MemberEdit {
    Remove(String),
    Set(String, Value),
    /// The name once more, spliced into the text after `{`.
    Repeat(String, Value),
    /// The object replaced by any JSON text at all.
    Text(String),
}

fn member_edit() -> impl Strategy<Value = MemberEdit> {
    prop_oneof![
        member_name().prop_map(MemberEdit::Remove),
        (member_name(), json_value()).prop_map(|(n, v)| MemberEdit::Set(n, v)),
        (member_name(), json_value()).prop_map(|(n, v)| MemberEdit::Repeat(n, v)),
        ".{0,40}".prop_map(MemberEdit::Text),
    ]
}

/// The object's JSON text after `edit`.
fn edited(object: &Map<String, Value>, edit: &MemberEdit) -> String {
    let mut object = object.clone();
    match edit {
        MemberEdit::Remove(name) => {
            object.remove(name);
            Value::Object(object).to_string()
        }
        MemberEdit::Set(name, value) => {
            object.insert(name.clone(), value.clone());
            Value::Object(object).to_string()
        }
        MemberEdit::Repeat(name, value) => {
            if !object.contains_key(name) {
                object.insert(name.clone(), value.clone());
            }
            let text = Value::Object(object).to_string();
            format!("{{{}:{value},{}", json!(name), &text[1..])
        }
        MemberEdit::Text(text) => text.clone(),
    }
}

/// Which part of the token a signature-keeping change touches.
#[derive(Debug, Clone)]
enum Unsigned {
    Chars(Vec<CharEdit>),
    /// A segment (0 header, 1 claims, 2 signature) replaced by the base64url
    /// of arbitrary bytes, or by arbitrary text.
    Segment(usize, Vec<u8>, Option<String>),
    Header(MemberEdit),
    Claims(MemberEdit),
}

fn unsigned() -> impl Strategy<Value = Unsigned> {
    prop_oneof![
        proptest::collection::vec(char_edit(), 1..4).prop_map(Unsigned::Chars),
        (
            0..3usize,
            proptest::collection::vec(any::<u8>(), 0..400),
            proptest::option::of("[A-Za-z0-9_=.+/-]{0,60}")
        )
            .prop_map(|(i, bytes, text)| Unsigned::Segment(i, bytes, text)),
        member_edit().prop_map(Unsigned::Header),
        member_edit().prop_map(Unsigned::Claims),
    ]
}

fn unsigned_token(change: &Unsigned) -> String {
    let (header, payload, signature) = parts();
    match change {
        Unsigned::Chars(edits) => edits
            .iter()
            .fold(VALID.clone(), |token, edit| apply(&token, edit)),
        Unsigned::Segment(index, bytes, text) => {
            let replacement = text
                .clone()
                .unwrap_or_else(|| URL_SAFE_NO_PAD.encode(bytes));
            let mut segments = [header, payload, signature];
            segments[*index] = replacement;
            segments.join(".")
        }
        Unsigned::Header(edit) => {
            let header = encoded(&edited(&decoded(&header), edit));
            format!("{header}.{payload}.{signature}")
        }
        Unsigned::Claims(edit) => {
            let payload = encoded(&edited(&decoded(&payload), edit));
            format!("{header}.{payload}.{signature}")
        }
    }
}

/// A change made invalid on purpose, then signed with the issuer's key.
#[derive(Debug, Clone)]
enum Resigned {
    Alg(String),
    Typ(String),
    KeyLocating(&'static str, Value),
    Crit(Value),
    Kid(String),
    HeaderRepeat(String, Value),
    MissingClaim(&'static str),
    /// A required claim with a value of the wrong JSON type.
    ClaimType(&'static str, Value),
    Iss(String),
    Aud(Value),
    /// exp this many seconds before the leeway runs out.
    Expired(i64),
    /// nbf or iat this many seconds past the leeway.
    Future(&'static str, i64),
    ClaimsRepeat(String, Value),
}

const REQUIRED: [&str; 7] = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"];

fn resigned() -> impl Strategy<Value = Resigned> {
    let required = proptest::sample::select(REQUIRED.to_vec());
    prop_oneof![
        ".{0,12}"
            .prop_filter("not our algorithm", |a| a != "RS256")
            .prop_map(Resigned::Alg),
        ".{0,20}"
            .prop_filter("not at+jwt", |t| !is_access_token_typ(t))
            .prop_map(Resigned::Typ),
        (
            proptest::sample::select(vec!["jku", "jwk", "x5u", "x5c"]),
            json_value()
        )
            .prop_map(|(n, v)| Resigned::KeyLocating(n, v)),
        json_value().prop_map(Resigned::Crit),
        ".{0,50}"
            .prop_filter("not our kid", |k| *k != KEY.kid())
            .prop_map(Resigned::Kid),
        (member_name(), json_value()).prop_map(|(n, v)| Resigned::HeaderRepeat(n, v)),
        required.clone().prop_map(Resigned::MissingClaim),
        (required, json_value()).prop_map(|(n, v)| Resigned::ClaimType(n, v)),
        ".{0,40}"
            .prop_filter("not our issuer", |i| i != ISSUER)
            .prop_map(Resigned::Iss),
        json_value()
            .prop_filter("not naming us", |aud| {
                aud != &json!(AUDIENCE)
                    && !aud
                        .as_array()
                        .is_some_and(|items| items.contains(&json!(AUDIENCE)))
            })
            .prop_map(Resigned::Aud),
        (0..1_000_000i64).prop_map(Resigned::Expired),
        (
            proptest::sample::select(vec!["nbf", "iat"]),
            1..1_000_000i64
        )
            .prop_map(|(n, s)| Resigned::Future(n, s)),
        (member_name(), json_value()).prop_map(|(n, v)| Resigned::ClaimsRepeat(n, v)),
    ]
}

/// Whether `value` has the JSON type the claim `name` needs.
fn right_type(name: &str, value: &Value) -> bool {
    match name {
        "exp" | "iat" => value.is_i64(),
        "aud" => {
            value.as_str().is_some()
                || value
                    .as_array()
                    .is_some_and(|items| !items.is_empty() && items.iter().all(Value::is_string))
        }
        _ => value.as_str().is_some_and(|s| !s.is_empty()),
    }
}

fn resigned_token(change: &Resigned) -> Option<String> {
    let (header_segment, payload_segment, _) = parts();
    let mut header = decoded(&header_segment);
    let mut claims = decoded(&payload_segment);
    let text = |object: &Map<String, Value>| Value::Object(object.clone()).to_string();
    let (header_text, claims_text) = match change {
        Resigned::Alg(alg) => {
            header.insert("alg".into(), json!(alg));
            (text(&header), text(&claims))
        }
        Resigned::Typ(typ) => {
            header.insert("typ".into(), json!(typ));
            (text(&header), text(&claims))
        }
        Resigned::KeyLocating(name, value) => {
            header.insert((*name).into(), value.clone());
            (text(&header), text(&claims))
        }
        Resigned::Crit(value) => {
            header.insert("crit".into(), value.clone());
            (text(&header), text(&claims))
        }
        Resigned::Kid(kid) => {
            header.insert("kid".into(), json!(kid));
            (text(&header), text(&claims))
        }
        Resigned::HeaderRepeat(name, value) => (
            edited(&header, &MemberEdit::Repeat(name.clone(), value.clone())),
            text(&claims),
        ),
        Resigned::MissingClaim(name) => {
            claims.remove(*name);
            (text(&header), text(&claims))
        }
        Resigned::ClaimType(name, value) => {
            if right_type(name, value) {
                return None;
            }
            claims.insert((*name).into(), value.clone());
            (text(&header), text(&claims))
        }
        Resigned::Iss(iss) => {
            claims.insert("iss".into(), json!(iss));
            (text(&header), text(&claims))
        }
        Resigned::Aud(aud) => {
            claims.insert("aud".into(), aud.clone());
            (text(&header), text(&claims))
        }
        Resigned::Expired(before) => {
            claims.insert("exp".into(), json!(NOW - MAX_LEEWAY_SECS - before));
            (text(&header), text(&claims))
        }
        Resigned::Future(name, after) => {
            claims.insert((*name).into(), json!(NOW + MAX_LEEWAY_SECS + after));
            (text(&header), text(&claims))
        }
        Resigned::ClaimsRepeat(name, value) => (
            text(&header),
            edited(&claims, &MemberEdit::Repeat(name.clone(), value.clone())),
        ),
    };
    let input = format!("{}.{}", encoded(&header_text), encoded(&claims_text));
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &KEY.encoding,
        jsonwebtoken::Algorithm::RS256,
    )
    .ok()?;
    Some(format!("{input}.{signature}"))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_token_changed_under_its_signature_is_refused(change in unsigned()) {
        let token = unsigned_token(&change);
        prop_assume!(token != *VALID);
        prop_assert_eq!(verify(&token), Ok(()), "token {}", token);
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn an_invalid_token_signed_with_the_issuers_key_is_refused(change in resigned()) {
        let token = resigned_token(&change);
        prop_assume!(token.is_some());
        let token = token.unwrap_or_default();
        prop_assert_eq!(verify(&token), Ok(()), "token {}", token);
    }
}

#[test]
fn the_starting_token_is_valid() {
    // Without this the properties above would hold vacuously.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = JwksCache::fixed(&TestKey::set(&[&KEY])).unwrap();
    let verifier = Verifier::new(VerifierConfig::new(ISSUER, AUDIENCE), keys);
    assert!(runtime.block_on(verifier.verify(&VALID, NOW)).is_ok());
    // Every resigned change starts from a token that re-signs to valid.
    let (header, payload, _) = parts();
    let input = format!("{header}.{payload}");
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &KEY.encoding,
        jsonwebtoken::Algorithm::RS256,
    )
    .unwrap();
    assert!(
        runtime
            .block_on(verifier.verify(&format!("{input}.{signature}"), NOW))
            .is_ok()
    );
}
