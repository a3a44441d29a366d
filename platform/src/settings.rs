//! The settings loader both services use: one figment chain (Rocket's
//! defaults, the service's defaults, `Rocket.toml`, `ROCKET_*`, then the
//! contract's plain variables), and the checks of the settings the services
//! have in common. Every error is a [`SettingError`] that names the
//! variable, so start-up can stop with one line the operator can act on.

use std::fmt;

use rocket::figment::providers::{Env, Format, Serialized, Toml};
use rocket::figment::{Figment, Profile};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client_addr::{ForwardingHeader, TrustedProxies};

/// Every request body is capped at this (the contract's 64 KiB).
pub const BODY_LIMIT: u64 = 64 * 1024;

/// The default `ISSUER` of both services (the auth-server's default address).
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8000";
/// The default `AUDIENCE` of both services.
pub const DEFAULT_AUDIENCE: &str = "profile-api";

/// A setting that cannot be used: `SETTING: why`, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub setting: String,
    pub message: String,
}

impl SettingError {
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> SettingError {
        SettingError {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for SettingError {}

/// Rocket's own chain with `defaults` (the service's, over the ones both
/// share) underneath and the contract's unprefixed `plain` variables on top.
pub fn figment(defaults: serde_json::Value, plain: &'static [&'static str]) -> Figment {
    Figment::from(rocket::Config::default())
        .merge(Serialized::defaults(common_defaults()))
        .merge(Serialized::defaults(defaults))
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .merge(Env::raw().only(plain).global())
        .select(Profile::from_env_or(
            "ROCKET_PROFILE",
            rocket::Config::DEFAULT_PROFILE,
        ))
}

/// What both services default to: loopback, the body cap on every kind of
/// body, and no trust in `X-Real-IP`.
pub fn common_defaults() -> serde_json::Value {
    let limit = BODY_LIMIT;
    serde_json::json!({
        "address": "127.0.0.1",
        // Rocket would believe `X-Real-IP` from anyone; the client address
        // comes from `crate::client_addr` and `TRUSTED_PROXIES` instead.
        "ip_header": false,
        "limits": {
            "form": limit, "data-form": limit, "json": limit, "msgpack": limit,
            "bytes": limit, "string": limit, "file": limit,
        },
    })
}

/// Rocket's part of the settings, checked before Rocket reads them: Rocket
/// panics on a configuration it cannot read.
pub fn rocket_config(figment: &Figment) -> Result<rocket::Config, SettingError> {
    rocket::Config::try_from(figment).map_err(|error| {
        let name = error
            .path
            .first()
            .map(|key| format!("ROCKET_{}", key.to_ascii_uppercase()))
            .unwrap_or_else(|| "ROCKET_CONFIG".into());
        SettingError::new(name, error.kind.to_string())
    })
}

/// The service's raw settings; a value of the wrong type is named by its
/// variable in `plain`.
pub fn extract<T: DeserializeOwned>(figment: &Figment, plain: &[&str]) -> Result<T, SettingError> {
    figment.extract().map_err(|e| {
        let setting = e
            .path
            .last()
            .and_then(|key| plain.iter().find(|s| s.eq_ignore_ascii_case(key)))
            .map_or_else(
                || {
                    e.path
                        .first()
                        .map_or_else(|| "settings".to_owned(), |key| key.to_ascii_uppercase())
                },
                |s| (*s).to_owned(),
            );
        SettingError::new(setting, e.kind.to_string())
    })
}

/// `DATABASE_URL`: SQLite or PostgreSQL, the backends the migrations exist for.
pub fn database_url(raw: Option<String>, default: &str) -> Result<String, SettingError> {
    let url = raw.unwrap_or_else(|| default.to_owned());
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(url)
    } else {
        Err(SettingError::new(
            "DATABASE_URL",
            "must start with sqlite: or postgres:// (or postgresql://)",
        ))
    }
}

/// `ISSUER`, the same on both services: RFC 8414 §2 asks for an https (or,
/// for local use, http) URL with a host and no query or fragment. Trailing
/// slashes are dropped, so that the `iss` the auth-server signs and the one
/// the resource-server requires compare equal however each was written.
pub fn issuer(raw: Option<&str>) -> Result<String, SettingError> {
    let value = raw.unwrap_or(DEFAULT_ISSUER);
    let url = http_url("ISSUER", value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingError::new(
            "ISSUER",
            "must not have a query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An absolute http(s) URL with a host, for `setting`.
pub fn http_url(setting: &str, value: &str) -> Result<Url, SettingError> {
    let url =
        Url::parse(value).map_err(|e| SettingError::new(setting, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SettingError::new(
            setting,
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(url)
}

/// `TRUSTED_PROXIES` (comma-separated CIDRs, empty by default) and
/// `CLIENT_ADDRESS_HEADER` (the one header read from them,
/// `x-forwarded-for` by default, or `forwarded`).
pub fn trusted_proxies(
    raw: Option<&str>,
    header: Option<&str>,
) -> Result<TrustedProxies, SettingError> {
    let header = match header {
        None => ForwardingHeader::default(),
        Some(name) => ForwardingHeader::parse(name)
            .map_err(|e| SettingError::new("CLIENT_ADDRESS_HEADER", e))?,
    };
    let proxies = TrustedProxies::parse(raw.unwrap_or(""))
        .map_err(|e| SettingError::new("TRUSTED_PROXIES", e))?;
    Ok(proxies.reading(header))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_issuer_is_normalised_and_checked() {
        assert_eq!(issuer(None).unwrap(), "http://127.0.0.1:8000");
        for written in [
            "http://issuer.example/",
            "http://issuer.example//",
            "http://ISSUER.example",
        ] {
            assert_eq!(issuer(Some(written)).unwrap(), "http://issuer.example");
        }
        assert_eq!(
            issuer(Some("https://auth.example.com/tenant/")).unwrap(),
            "https://auth.example.com/tenant"
        );
        for bad in ["not a url", "ftp://x", "http://x/?q=1", "http://x/#f"] {
            let error = issuer(Some(bad)).unwrap_err();
            assert_eq!(error.setting, "ISSUER", "{bad}");
            assert!(error.to_string().starts_with("ISSUER: "));
        }
    }

    #[test]
    fn a_bad_value_is_named_by_its_variable() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Raw {
            access_token_ttl: Option<i64>,
        }
        let figment = Figment::new().merge(("access_token_ttl", "soon"));
        let error = extract::<Raw>(&figment, &["ACCESS_TOKEN_TTL"]).unwrap_err();
        assert_eq!(error.setting, "ACCESS_TOKEN_TTL");
        let error = rocket_config(&Figment::from(rocket::Config::default()).merge(("port", "x")))
            .unwrap_err();
        assert_eq!(error.setting, "ROCKET_PORT");
    }

    #[test]
    fn the_client_address_header_is_one_of_two_or_named() {
        use crate::client_addr::ForwardingHeader;
        let default = trusted_proxies(Some("10.0.0.0/8"), None).unwrap();
        assert_eq!(default.header(), ForwardingHeader::XForwardedFor);
        let forwarded = trusted_proxies(Some("10.0.0.0/8"), Some("Forwarded")).unwrap();
        assert_eq!(forwarded.header(), ForwardingHeader::Forwarded);
        assert!(forwarded.contains("10.1.2.3".parse().unwrap()));
        for bad in ["x-real-ip", "", "true"] {
            let error = trusted_proxies(None, Some(bad)).unwrap_err();
            assert_eq!(error.setting, "CLIENT_ADDRESS_HEADER", "{bad}");
            assert!(!error.to_string().contains('\n'));
        }
        assert_eq!(
            trusted_proxies(Some("nope"), None).unwrap_err().setting,
            "TRUSTED_PROXIES"
        );
    }

    #[test]
    fn only_the_supported_databases_are_accepted() {
        assert!(database_url(None, "sqlite://data/x.db").is_ok());
        assert!(database_url(Some("postgresql://h/db".into()), "").is_ok());
        assert_eq!(
            database_url(Some("mysql://x".into()), "")
                .unwrap_err()
                .setting,
            "DATABASE_URL"
        );
    }
}
