//! JSON parsing that refuses a member name appearing twice in one object,
//! at any depth. `serde_json` keeps the last of two equal names, as most
//! parsers do, but some keep the first: a token whose claims name `sub`
//! twice means different users to different parsers, so the verifier
//! refuses it (RFC 8725 §2.8 on such confusion; RFC 7519 §4 allows either).
//! A request body is held to the same rule (RFC 8259 §4 says names SHOULD
//! be unique): what a proxy or a WAF in front of a service checked must be
//! what the service acts on, so both services parse every JSON body here
//! and answer a repeated member `400`.
//!
//! The visitor builds the same `serde_json::Value` that `from_slice` would,
//! at the same cost: duplicates are found by the insert itself, with no
//! second lookup. Names are compared after unescaping, so `"s\u0075b"` is
//! `sub`. Nesting is bounded by `serde_json`'s own recursion limit.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Some object names a member twice.
    Duplicate,
    /// Not JSON (or, for [`object_from_slice`], not an object at the top).
    Invalid,
}

/// Parses `bytes` as one JSON object with unique member names throughout.
pub fn object_from_slice(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    match parse_strict(bytes, true)? {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Invalid),
    }
}

/// Parses `bytes` as one JSON value with unique member names throughout:
/// what `serde_json::from_slice::<Value>` gives, refusing what it would
/// have read with a member silently dropped.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    parse_strict(bytes, false)
}

fn parse_strict(bytes: &[u8], object_only: bool) -> Result<Value, Error> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        duplicate: &duplicate,
        object_only,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if duplicate.get() => Err(Error::Duplicate),
        Err(_) => Err(Error::Invalid),
    }
}

/// One value; `duplicate` is set when an object repeats a name, so the
/// caller can tell that refusal from a syntax error.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a Cell<bool>,
    /// The top level: only an object will do, so anything else is refused
    /// before it is built.
    object_only: bool,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.object_only {
            deserializer.deserialize_map(self)
        } else {
            deserializer.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without repeated member names")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so this is always a number.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = Strict {
            object_only: false,
            ..self
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = Strict {
            object_only: false,
            ..self
        };
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            let value = access.next_value_seed(inner)?;
            if map.insert(name, value).is_some() {
                self.duplicate.set(true);
                return Err(de::Error::custom("a member name appears twice"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Map<String, Value>, Error> {
        object_from_slice(text.as_bytes())
    }

    #[test]
    fn parses_what_serde_json_parses() {
        let text = r#"{"a":1,"b":-2,"c":1.5,"d":"x\u0041","e":[true,null,{"f":[]}],"g":{}}"#;
        let expected: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(parse(text), Ok(expected));
        assert_eq!(parse(r#" { } "#), Ok(Map::new()));
    }

    #[test]
    fn a_repeated_name_is_refused_at_any_depth_even_when_escaped() {
        assert_eq!(parse(r#"{"sub":"a","sub":"b"}"#), Err(Error::Duplicate));
        assert_eq!(
            parse(r#"{"sub":"a","s\u0075b":"a"}"#),
            Err(Error::Duplicate)
        );
        assert_eq!(parse(r#"{"x":{"y":1,"y":1}}"#), Err(Error::Duplicate));
        assert_eq!(
            parse(r#"{"x":[{"y":1},{"z":1,"z":2}]}"#),
            Err(Error::Duplicate)
        );
        // The same name in two different objects is no duplicate.
        assert!(parse(r#"{"y":{"y":1},"z":[{"y":2},{"y":3}]}"#).is_ok());
    }

    #[test]
    fn anything_but_one_object_is_invalid() {
        for text in [
            "",
            "[]",
            "1",
            "\"x\"",
            "null",
            "{",
            r#"{"a":1}{"b":2}"#,
            r#"{"a":1} x"#,
            r#"{"a":01}"#,
            r#"{"a":NaN}"#,
        ] {
            assert_eq!(parse(text), Err(Error::Invalid), "{text}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse(&deep), Err(Error::Invalid));
    }

    #[test]
    fn any_value_parses_with_the_same_rule() {
        for text in [
            "[]",
            "1",
            "\"x\"",
            "null",
            r#"[{"a":1},{"a":2}]"#,
            r#" {"a":[1]} "#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(from_slice(text.as_bytes()), Ok(expected), "{text}");
        }
        assert_eq!(
            from_slice(br#"[{"email":"a","email":"b"}]"#),
            Err(Error::Duplicate)
        );
        assert_eq!(
            from_slice(br#"{"email":"a","e\u006dail":"b"}"#),
            Err(Error::Duplicate)
        );
        for text in ["", "{", "[1,]", "1 2", "nul"] {
            assert_eq!(from_slice(text.as_bytes()), Err(Error::Invalid), "{text}");
        }
    }
}
