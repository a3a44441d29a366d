//! The auth-server's settings: the figment chain both services share
//! (`platform::settings`: Rocket.toml, `ROCKET_*`, and the contract's
//! unprefixed variables) turned into a typed, validated [`AppConfig`].
//! Anything unusable becomes a [`ConfigError`] that names the setting, so
//! start-up can stop with one clear line.

use std::fmt;
use std::path::PathBuf;

use platform::client_addr::TrustedProxies;
use platform::settings;
use rocket::figment::Figment;
use serde::Deserialize;
use url::Url;

use crate::password_hash;

/// A setting that cannot be used, named; the same type on both services.
pub use platform::settings::SettingError as ConfigError;

/// The contract's unprefixed environment variables (API.md, "The two services").
const ENV_SETTINGS: &[&str] = &[
    "DATABASE_URL",
    "ISSUER",
    "AUDIENCE",
    "KEYS_DIR",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "REFRESH_TOKEN_MAX_LIFETIME",
    "CORS_ALLOWED_ORIGINS",
    "PASSWORD_MIN_LENGTH",
    "PASSWORD_HASH_CONCURRENCY",
    "KEY_ROTATION_INTERVAL",
    "KEY_ENCRYPTION_KEY",
    "KEY_ENCRYPTION_KEY_FILE",
    "JWKS_MAX_AGE",
    "TRUSTED_PROXIES",
    "CLIENT_ADDRESS_HEADER",
    "SERVICE_NAME",
    "SESSION_TTL",
    "EVENT_RETENTION",
    "REQUIRE_PAR",
    "OPEN_REGISTRATION",
    "DPOP_NONCE",
];

pub const DEFAULT_PORT: u16 = 8000;

/// Rocket's configuration plus ours, from `Rocket.toml` and the environment.
pub fn figment() -> Figment {
    settings::figment(defaults(), ENV_SETTINGS)
}

fn defaults() -> serde_json::Value {
    serde_json::json!({
        "port": DEFAULT_PORT,
        "ident": "auth-server",
    })
}

/// The raw settings as figment finds them; [`AppConfig::from_figment`]
/// validates them.
#[derive(Debug, Deserialize)]
struct RawSettings {
    database_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    keys_dir: Option<PathBuf>,
    access_token_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    refresh_token_max_lifetime: Option<i64>,
    cors_allowed_origins: Option<String>,
    password_min_length: Option<usize>,
    password_hash_concurrency: Option<usize>,
    key_rotation_interval: Option<i64>,
    key_encryption_key: Option<String>,
    key_encryption_key_file: Option<PathBuf>,
    jwks_max_age: Option<i64>,
    trusted_proxies: Option<String>,
    client_address_header: Option<String>,
    service_name: Option<String>,
    session_ttl: Option<i64>,
    event_retention: Option<i64>,
    require_par: Option<String>,
    open_registration: Option<String>,
    dpop_nonce: Option<String>,
}

/// Where the key-encryption key comes from; the key itself is read by
/// [`crate::keys::Kek::load`], never kept in the settings (they are logged
/// and printed with `{:?}`).
#[derive(Clone)]
pub enum KekSource {
    /// `KEY_ENCRYPTION_KEY`: the base64url text itself.
    Env(secrecy::SecretString),
    /// `KEY_ENCRYPTION_KEY_FILE`.
    File(PathBuf),
    /// The `kek` file in `KEYS_DIR`, made on first start.
    KeysDir,
}

impl fmt::Debug for KekSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekSource::Env(_) => f.write_str("KEY_ENCRYPTION_KEY(..)"),
            KekSource::File(path) => write!(f, "KEY_ENCRYPTION_KEY_FILE({})", path.display()),
            KekSource::KeysDir => f.write_str("KEYS_DIR/kek"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub database_url: String,
    /// The `iss` of every token and the public base URL, without a trailing slash.
    pub issuer: String,
    pub audience: String,
    pub keys_dir: PathBuf,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    /// The absolute lifetime of a refresh token family, from the grant that
    /// began it; it may be shorter than `refresh_token_ttl`, and then every
    /// token ends with its family.
    pub refresh_token_max_lifetime: i64,
    pub cors_allowed_origins: Vec<String>,
    pub password_min_length: usize,
    /// Password hashes computed at once, each in its own 19 MiB buffer.
    pub password_hash_concurrency: usize,
    /// Seconds between automatic key rotations; `None`: only by hand.
    pub key_rotation_interval: Option<i64>,
    pub key_encryption_key: KekSource,
    /// The JWK Set's `max-age`; a new key is published twice this long
    /// before it signs.
    pub jwks_max_age: i64,
    /// Reverse proxies whose forwarding header (`CLIENT_ADDRESS_HEADER`)
    /// names the client.
    pub trusted_proxies: TrustedProxies,
    /// The product name on the sign-in, consent and signed-out pages.
    pub service_name: String,
    /// Lifetime of a sign-in session at the authorization pages.
    pub session_ttl: i64,
    /// Seconds audit events are kept.
    pub event_retention: i64,
    /// `REQUIRE_PAR=on`: every authorization request must be pushed.
    pub require_par: bool,
    /// `OPEN_REGISTRATION=on`: `POST /oauth/register` needs no initial
    /// access token.
    pub open_registration: bool,
    /// `DPOP_NONCE=on`: DPoP proofs at the issuer must carry a server
    /// nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
}

/// `SERVICE_NAME`: shown on every page, so short and printable.
fn parse_service_name(raw: Option<&str>) -> Result<String, ConfigError> {
    let name = raw.map_or("auth-server", str::trim);
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(
            "SERVICE_NAME",
            "must be 1 to 64 printable characters",
        ));
    }
    Ok(name.to_owned())
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(setting, message)
}

impl AppConfig {
    pub fn from_figment(figment: &Figment) -> Result<AppConfig, ConfigError> {
        let raw: RawSettings = settings::extract(figment, ENV_SETTINGS)?;

        let database_url = settings::database_url(raw.database_url, "sqlite://data/auth.db")?;
        let issuer = settings::issuer(raw.issuer.as_deref())?;

        let audience = raw
            .audience
            .unwrap_or_else(|| settings::DEFAULT_AUDIENCE.to_owned());
        if audience.trim().is_empty() || audience.contains(char::is_whitespace) {
            return Err(invalid("AUDIENCE", "must be one non-empty word"));
        }

        let access_token_ttl = raw.access_token_ttl.unwrap_or(900);
        if !(1..=86_400).contains(&access_token_ttl) {
            return Err(invalid(
                "ACCESS_TOKEN_TTL",
                "must be between 1 and 86400 seconds",
            ));
        }
        let refresh_token_ttl = raw.refresh_token_ttl.unwrap_or(1_209_600);
        if !(access_token_ttl..=31_536_000).contains(&refresh_token_ttl) {
            return Err(invalid(
                "REFRESH_TOKEN_TTL",
                "must be between ACCESS_TOKEN_TTL and 31536000 seconds",
            ));
        }

        let refresh_token_max_lifetime = raw.refresh_token_max_lifetime.unwrap_or(2_592_000);
        if !(1..=315_360_000).contains(&refresh_token_max_lifetime) {
            return Err(invalid(
                "REFRESH_TOKEN_MAX_LIFETIME",
                "must be between 1 and 315360000 seconds (10 years)",
            ));
        }

        let password_min_length = raw.password_min_length.unwrap_or(15);
        if !(8..=128).contains(&password_min_length) {
            return Err(invalid("PASSWORD_MIN_LENGTH", "must be between 8 and 128"));
        }
        let password_hash_concurrency = raw
            .password_hash_concurrency
            .unwrap_or_else(password_hash::default_slots);
        if !(1..=password_hash::MAX_SLOTS).contains(&password_hash_concurrency) {
            return Err(invalid(
                "PASSWORD_HASH_CONCURRENCY",
                format!("must be between 1 and {}", password_hash::MAX_SLOTS),
            ));
        }

        let jwks_max_age = raw.jwks_max_age.unwrap_or(300);
        if !(1..=86_400).contains(&jwks_max_age) {
            return Err(invalid(
                "JWKS_MAX_AGE",
                "must be between 1 and 86400 seconds",
            ));
        }

        // A key must have finished retiring before the next rotation, so at
        // most three keys are ever published.
        let min_interval = 2 * jwks_max_age + access_token_ttl + shared::verifier::MAX_LEEWAY_SECS;
        let key_rotation_interval = match raw.key_rotation_interval {
            None | Some(0) => None,
            Some(seconds) if (min_interval..=315_360_000).contains(&seconds) => Some(seconds),
            Some(_) => {
                return Err(invalid(
                    "KEY_ROTATION_INTERVAL",
                    format!(
                        "must be 0 (off) or between {min_interval} (2 × JWKS_MAX_AGE + ACCESS_TOKEN_TTL + 60) and 315360000 seconds"
                    ),
                ));
            }
        };

        let cors_allowed_origins = match raw.cors_allowed_origins {
            None => vec![
                "http://127.0.0.1:8001".to_owned(),
                "http://localhost:8001".to_owned(),
            ],
            Some(list) => list
                .split([',', ' '])
                .filter(|o| !o.is_empty())
                .map(parse_origin)
                .collect::<Result<_, _>>()?,
        };

        let key_encryption_key = match (raw.key_encryption_key, raw.key_encryption_key_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "KEY_ENCRYPTION_KEY",
                    "set either KEY_ENCRYPTION_KEY or KEY_ENCRYPTION_KEY_FILE, not both",
                ));
            }
            (Some(text), None) => KekSource::Env(text.into()),
            (None, Some(path)) => KekSource::File(path),
            (None, None) => KekSource::KeysDir,
        };
        let session_ttl = raw.session_ttl.unwrap_or(28_800);
        if !(1..=31_536_000).contains(&session_ttl) {
            return Err(invalid(
                "SESSION_TTL",
                "must be between 1 and 31536000 seconds",
            ));
        }
        let event_retention = raw.event_retention.unwrap_or(2_592_000);
        if !(3_600..=315_360_000).contains(&event_retention) {
            return Err(invalid(
                "EVENT_RETENTION",
                "must be between 3600 and 315360000 seconds",
            ));
        }
        let trusted_proxies = settings::trusted_proxies(
            raw.trusted_proxies.as_deref(),
            raw.client_address_header.as_deref(),
        )?;
        let service_name = parse_service_name(raw.service_name.as_deref())?;
        let require_par = match raw.require_par.as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(_) => return Err(invalid("REQUIRE_PAR", "must be on or off")),
        };
        let open_registration = match raw.open_registration.as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(_) => return Err(invalid("OPEN_REGISTRATION", "must be on or off")),
        };
        let dpop_nonce = match raw.dpop_nonce.as_deref().map(str::trim) {
            None | Some("off") => false,
            Some("on") => true,
            Some(_) => return Err(invalid("DPOP_NONCE", "must be on or off")),
        };

        Ok(AppConfig {
            database_url,
            issuer,
            audience,
            keys_dir: raw.keys_dir.unwrap_or_else(|| PathBuf::from("keys")),
            access_token_ttl,
            refresh_token_ttl,
            refresh_token_max_lifetime,
            cors_allowed_origins,
            password_min_length,
            password_hash_concurrency,
            key_rotation_interval,
            key_encryption_key,
            jwks_max_age,
            trusted_proxies,
            service_name,
            session_ttl,
            event_retention,
            require_par,
            open_registration,
            dpop_nonce,
        })
    }

    /// How long a new key is published before it signs: twice the JWKS
    /// `max-age`, so every verifier that caches the set has seen it first.
    pub fn publish_lead(&self) -> i64 {
        2 * self.jwks_max_age
    }

    /// Settings that work but may surprise, one line each, for the log at
    /// start.
    pub fn warnings(&self) -> Vec<String> {
        use shared::verifier::MAX_LEEWAY_SECS as LEEWAY;
        let mut warnings = Vec::new();
        if self.access_token_ttl < LEEWAY {
            warnings.push(format!(
                "ACCESS_TOKEN_TTL={}: shorter than the {LEEWAY} s leeway verifiers allow on exp, \
                 so tokens stay accepted up to {LEEWAY} s longer than they claim; meant for testing refresh handling",
                self.access_token_ttl
            ));
        }
        warnings
    }

    /// The absolute URL of one of our endpoints.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

fn parse_origin(value: &str) -> Result<String, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        invalid(
            "CORS_ALLOWED_ORIGINS",
            format!("{value:?} is not a URL ({e})"),
        )
    })?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err(invalid(
            "CORS_ALLOWED_ORIGINS",
            format!("{value:?} is not an http(s) origin"),
        ));
    }
    Ok(origin.ascii_serialization())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rocket::figment::providers::Serialized;

    fn config_with(pairs: &[(&str, &str)]) -> Result<AppConfig, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(defaults()));
        for (k, v) in pairs {
            figment = figment.merge((*k, *v));
        }
        AppConfig::from_figment(&figment)
    }

    #[test]
    fn service_name_is_short_and_printable() {
        assert_eq!(
            config_with(&[("service_name", "  Acme ID ")])
                .unwrap()
                .service_name,
            "Acme ID"
        );
        for bad in ["", "   ", "a\nb", &"x".repeat(65)] {
            assert_eq!(
                config_with(&[("service_name", bad)]).unwrap_err().setting,
                "SERVICE_NAME",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config_with(&[]).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8000");
        assert_eq!(config.audience, "profile-api");
        assert_eq!(config.access_token_ttl, 900);
        assert_eq!(config.refresh_token_ttl, 1_209_600);
        assert_eq!(config.refresh_token_max_lifetime, 2_592_000);
        assert_eq!(config.password_min_length, 15);
        assert_eq!(
            config.password_hash_concurrency,
            crate::password_hash::default_slots()
        );
        assert_eq!(config.database_url, "sqlite://data/auth.db");
        assert_eq!(config.jwks_max_age, 300);
        assert_eq!(config.service_name, "auth-server");
        assert_eq!(config.publish_lead(), 600);
        assert!(matches!(config.key_encryption_key, KekSource::KeysDir));
    }

    #[test]
    fn jwks_max_age_bounds_the_rotation_interval() {
        let with = |pairs: &[(&str, i64)]| {
            let mut figment = Figment::from(Serialized::defaults(defaults()));
            for (k, v) in pairs {
                figment = figment.merge((*k, *v));
            }
            AppConfig::from_figment(&figment)
        };
        for bad in [0, 86_401] {
            assert_eq!(
                with(&[("jwks_max_age", bad)]).unwrap_err().setting,
                "JWKS_MAX_AGE"
            );
        }
        assert_eq!(
            config_with(&[("jwks_max_age", "soon")])
                .unwrap_err()
                .setting,
            "JWKS_MAX_AGE"
        );
        // 2 × 1 + 60 + 60: the shortest interval with JWKS_MAX_AGE=1.
        let config = with(&[
            ("jwks_max_age", 1),
            ("access_token_ttl", 60),
            ("key_rotation_interval", 122),
        ])
        .unwrap();
        assert_eq!(config.publish_lead(), 2);
        assert_eq!(config.key_rotation_interval, Some(122));
        assert_eq!(
            with(&[
                ("jwks_max_age", 1),
                ("access_token_ttl", 60),
                ("key_rotation_interval", 121)
            ])
            .unwrap_err()
            .setting,
            "KEY_ROTATION_INTERVAL"
        );
        // The default lead (600) + 900 + 60.
        assert_eq!(
            with(&[("key_rotation_interval", 1559)])
                .unwrap_err()
                .setting,
            "KEY_ROTATION_INTERVAL"
        );
    }

    #[test]
    fn the_key_encryption_key_never_shows_in_debug_output() {
        let config = config_with(&[("key_encryption_key", "c2VjcmV0LXNlY3JldA")]).unwrap();
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn bad_settings_are_named() {
        assert_eq!(
            config_with(&[("issuer", "not a url")]).unwrap_err().setting,
            "ISSUER"
        );
        assert_eq!(
            config_with(&[("issuer", "http://x/?q=1")])
                .unwrap_err()
                .setting,
            "ISSUER"
        );
        assert_eq!(
            config_with(&[("database_url", "mysql://x")])
                .unwrap_err()
                .setting,
            "DATABASE_URL"
        );
        assert_eq!(
            config_with(&[("password_min_length", "7")])
                .unwrap_err()
                .setting,
            "PASSWORD_MIN_LENGTH"
        );
        for bad in ["0", "65", "many"] {
            assert_eq!(
                config_with(&[("password_hash_concurrency", bad)])
                    .unwrap_err()
                    .setting,
                "PASSWORD_HASH_CONCURRENCY",
                "{bad}"
            );
        }
        let three =
            Figment::from(Serialized::defaults(defaults())).merge(("password_hash_concurrency", 3));
        assert_eq!(
            AppConfig::from_figment(&three)
                .unwrap()
                .password_hash_concurrency,
            3
        );
        assert_eq!(
            config_with(&[("access_token_ttl", "soon")])
                .unwrap_err()
                .setting,
            "ACCESS_TOKEN_TTL"
        );
    }

    #[test]
    fn refresh_token_max_lifetime_is_checked() {
        for bad in ["abc", "0", "-5", "315360001"] {
            assert_eq!(
                config_with(&[("refresh_token_max_lifetime", bad)])
                    .unwrap_err()
                    .setting,
                "REFRESH_TOKEN_MAX_LIFETIME",
                "{bad}"
            );
        }
        // Shorter than one token's lifetime is allowed: tokens end with the family.
        let figment = Figment::from(Serialized::defaults(defaults()))
            .merge(("refresh_token_max_lifetime", 30));
        let short = AppConfig::from_figment(&figment).unwrap();
        assert_eq!(short.refresh_token_max_lifetime, 30);
    }

    #[test]
    fn access_tokens_may_live_one_second_with_a_warning_below_the_leeway() {
        let ttl = |seconds: i64| {
            AppConfig::from_figment(
                &Figment::from(Serialized::defaults(defaults()))
                    .merge(("access_token_ttl", seconds)),
            )
        };
        let config = ttl(1).unwrap();
        assert_eq!(config.access_token_ttl, 1);
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("ACCESS_TOKEN_TTL=1: "),
            "{warnings:?}"
        );
        assert!(!warnings[0].contains('\n'));
        assert!(ttl(59).unwrap().warnings().len() == 1);
        assert!(ttl(60).unwrap().warnings().is_empty());
        assert!(config_with(&[]).unwrap().warnings().is_empty());
        for refused in [0, -5, 86_401] {
            assert_eq!(
                ttl(refused).unwrap_err().setting,
                "ACCESS_TOKEN_TTL",
                "{refused}"
            );
        }
    }

    #[test]
    fn trusted_proxies_are_parsed_or_named() {
        assert!(config_with(&[]).unwrap().trusted_proxies.is_empty());
        let config = config_with(&[("trusted_proxies", "10.0.0.0/8, fd00::/8")]).unwrap();
        assert!(config.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
        let error = config_with(&[("trusted_proxies", "10.0.0.0/8,nope")]).unwrap_err();
        assert_eq!(error.setting, "TRUSTED_PROXIES");
        assert!(error.to_string().starts_with("TRUSTED_PROXIES: "));
        assert!(!error.to_string().contains('\n'));
        use platform::client_addr::ForwardingHeader;
        assert_eq!(
            config.trusted_proxies.header(),
            ForwardingHeader::XForwardedFor
        );
        let config = config_with(&[("client_address_header", "forwarded")]).unwrap();
        assert_eq!(config.trusted_proxies.header(), ForwardingHeader::Forwarded);
        let error = config_with(&[("client_address_header", "x-real-ip")]).unwrap_err();
        assert!(error.to_string().starts_with("CLIENT_ADDRESS_HEADER: "));
    }

    #[test]
    fn rocket_never_believes_x_real_ip() {
        let config: rocket::Config = figment().extract().unwrap();
        assert_eq!(config.ip_header, None);
    }

    #[test]
    fn issuer_loses_its_trailing_slash() {
        let config = config_with(&[("issuer", "https://auth.example.com/")]).unwrap();
        assert_eq!(config.issuer, "https://auth.example.com");
    }
}
