//! Settings of the resource-server: the figment chain both services share
//! (`platform::settings`: Rocket's defaults, ours, `Rocket.toml`, `ROCKET_*`
//! and the contract's plain variables), and a typed, validated
//! [`AppConfig`] whose errors name the setting the operator has to fix.

use platform::client_addr::TrustedProxies;
use platform::settings::{self, SettingError};
use rocket::figment::Figment;
use serde::Deserialize;
use url::Url;

pub const DEFAULT_PORT: u16 = 8001;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/resource.db";
pub use platform::settings::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};

/// The longest a profile may be served from memory: with several
/// resource-servers on one database, a change made through one is seen by
/// the others within this long.
pub const PROFILE_CACHE_TTL_MAX_MS: u64 = 1000;

/// The variables of the contract, read without a prefix.
const PLAIN_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "ISSUER",
    "JWKS_URL",
    "AUDIENCE",
    "TRUSTED_PROXIES",
    "CLIENT_ADDRESS_HEADER",
    "PROFILE_CACHE_TTL_MS",
    "PUBLIC_URL",
];

/// Rocket's configuration plus ours, from `Rocket.toml` and the environment.
pub fn figment() -> Figment {
    settings::figment(defaults(), PLAIN_VARIABLES)
}

fn defaults() -> serde_json::Value {
    serde_json::json!({ "port": DEFAULT_PORT })
}

/// The settings the service itself reads (Rocket reads the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub database_url: String,
    /// Normalised as the auth-server normalises its own (no trailing `/`),
    /// then compared with `iss` byte for byte.
    pub issuer: String,
    pub jwks_url: Option<Url>,
    pub audience: String,
    /// Reverse proxies whose forwarding header (`CLIENT_ADDRESS_HEADER`)
    /// names the client.
    pub trusted_proxies: TrustedProxies,
    /// How long a profile read stays in memory; 0 turns the cache off.
    pub profile_cache_ttl_ms: u64,
    /// The base URL clients call this service by, without a trailing `/`:
    /// a DPoP proof's `htu` must be it followed by the request's path.
    pub public_url: String,
}

#[derive(Deserialize)]
struct RawConfig {
    database_url: Option<String>,
    issuer: Option<String>,
    jwks_url: Option<String>,
    audience: Option<String>,
    trusted_proxies: Option<String>,
    client_address_header: Option<String>,
    profile_cache_ttl_ms: Option<u64>,
    public_url: Option<String>,
    /// Rocket's own, read here only for `PUBLIC_URL`'s default.
    address: Option<String>,
    port: Option<u16>,
}

impl AppConfig {
    /// Reads and checks the settings; the error names the variable.
    pub fn from_figment(figment: &Figment) -> Result<AppConfig, SettingError> {
        let raw: RawConfig = settings::extract(figment, PLAIN_VARIABLES)?;
        let database_url = settings::database_url(raw.database_url, DEFAULT_DATABASE_URL)?;
        let issuer = settings::issuer(raw.issuer.as_deref())?;
        let jwks_url = match raw.jwks_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => Some(settings::http_url("JWKS_URL", &url)?),
            None => None,
        };
        let audience = raw.audience.unwrap_or_else(|| DEFAULT_AUDIENCE.into());
        if audience.trim().is_empty() {
            return Err(SettingError::new("AUDIENCE", "must not be empty"));
        }
        let trusted_proxies = settings::trusted_proxies(
            raw.trusted_proxies.as_deref(),
            raw.client_address_header.as_deref(),
        )?;
        let profile_cache_ttl_ms = raw.profile_cache_ttl_ms.unwrap_or(PROFILE_CACHE_TTL_MAX_MS);
        if profile_cache_ttl_ms > PROFILE_CACHE_TTL_MAX_MS {
            return Err(SettingError::new(
                "PROFILE_CACHE_TTL_MS",
                format!("at most {PROFILE_CACHE_TTL_MAX_MS} (milliseconds)"),
            ));
        }
        let public_url = public_url(raw.public_url.as_deref(), raw.address, raw.port)?;
        Ok(AppConfig {
            public_url,
            database_url,
            issuer,
            jwks_url,
            audience,
            trusted_proxies,
            profile_cache_ttl_ms,
        })
    }

    /// Settings that work but deserve a word at start: one line each.
    /// Keys fetched over plain http from another machine can be swapped
    /// by anyone on the path, and then any token they like is accepted.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Ok(issuer) = Url::parse(&self.issuer)
            && is_plain_http_off_host(&issuer)
        {
            warnings.push(format!(
                "ISSUER={}: plain http to a host that is not loopback; the signing keys \
                 can be replaced in transit, so use https",
                self.issuer
            ));
        }
        if let Some(jwks_url) = self.jwks_url.as_ref().filter(|u| is_plain_http_off_host(u)) {
            warnings.push(format!(
                "JWKS_URL={jwks_url}: plain http to a host that is not loopback; the signing \
                 keys can be replaced in transit, so use https"
            ));
        }
        warnings
    }
}

/// `http://` to anything but this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_plain_http_off_host(url: &Url) -> bool {
    if url.scheme() != "http" {
        return false;
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    };
    !loopback
}

/// `PUBLIC_URL`, or `http://ROCKET_ADDRESS:ROCKET_PORT`: an http(s) URL
/// with neither query nor fragment, which a path is appended to.
fn public_url(
    raw: Option<&str>,
    address: Option<String>,
    port: Option<u16>,
) -> Result<String, SettingError> {
    const SETTING: &str = "PUBLIC_URL";
    let raw = match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
        Some(raw) => raw.to_owned(),
        None => {
            let address = address.unwrap_or_else(|| "127.0.0.1".to_owned());
            let host = match address.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => address,
            };
            format!("http://{host}:{}", port.unwrap_or(DEFAULT_PORT))
        }
    };
    let url = settings::http_url(SETTING, &raw)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingError::new(SETTING, "must have no query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rocket::figment::providers::Serialized;

    fn with(pairs: &[(&str, &str)]) -> Result<AppConfig, String> {
        let mut figment = Figment::from(Serialized::defaults(defaults()));
        for (key, value) in pairs {
            figment = figment.merge((*key, *value));
        }
        AppConfig::from_figment(&figment).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = with(&[]).unwrap();
        assert_eq!(config.database_url, "sqlite://data/resource.db");
        assert_eq!(config.issuer, "http://127.0.0.1:8000");
        assert_eq!(config.audience, "profile-api");
        assert_eq!(config.jwks_url, None);
        assert!(config.trusted_proxies.is_empty());
        assert_eq!(config.profile_cache_ttl_ms, 1000);
        assert_eq!(config.public_url, "http://127.0.0.1:8001");
        let rocket: rocket::Config = figment().extract().unwrap();
        assert_eq!(rocket.ip_header, None, "X-Real-IP is never believed");
    }

    #[test]
    fn public_url_follows_the_address_unless_set() {
        let url = |pairs: &[(&str, &str)]| with(pairs).unwrap().public_url;
        let figment = Figment::from(Serialized::defaults(defaults()))
            .merge(("address", "::1"))
            .merge(("port", 9000));
        assert_eq!(
            AppConfig::from_figment(&figment).unwrap().public_url,
            "http://[::1]:9000"
        );
        assert_eq!(
            url(&[("public_url", "https://API.example.com/v1/")]),
            "https://api.example.com/v1"
        );
        assert_eq!(
            url(&[("public_url", "https://api.example.com")]),
            "https://api.example.com"
        );
    }

    #[test]
    fn plain_http_to_another_host_is_warned_about_once_per_setting() {
        let warnings = |pairs: &[(&str, &str)]| with(pairs).unwrap().warnings();
        assert!(warnings(&[]).is_empty(), "the default is loopback");
        for quiet in [
            "http://localhost:8000",
            "http://127.0.0.2",
            "http://[::1]:8000",
            "http://auth.localhost",
            "https://auth.example.com",
        ] {
            assert!(
                warnings(&[("issuer", quiet), ("jwks_url", quiet)]).is_empty(),
                "{quiet}"
            );
        }
        let both = warnings(&[
            ("issuer", "http://auth.example.com"),
            ("jwks_url", "http://10.0.0.5/jwks"),
        ]);
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both[0].starts_with("ISSUER=http://auth.example.com: "));
        assert!(both[1].starts_with("JWKS_URL=http://10.0.0.5/jwks: "));
        assert!(both.iter().all(|w| !w.contains('\n')));
        let one = warnings(&[
            ("issuer", "https://auth.example.com"),
            ("jwks_url", "http://[2001:db8::1]/jwks"),
        ]);
        assert_eq!(one.len(), 1, "{one:?}");
        assert!(one[0].starts_with("JWKS_URL="));
    }

    #[test]
    fn each_unusable_setting_is_named() {
        let cases = [
            ("issuer", "not a url", "ISSUER:"),
            ("issuer", "ftp://x", "ISSUER:"),
            ("jwks_url", "::", "JWKS_URL:"),
            ("database_url", "mysql://x", "DATABASE_URL:"),
            ("audience", " ", "AUDIENCE:"),
            ("trusted_proxies", "10.0.0.0/8,nope", "TRUSTED_PROXIES:"),
            (
                "client_address_header",
                "x-real-ip",
                "CLIENT_ADDRESS_HEADER:",
            ),
            ("profile_cache_ttl_ms", "1001", "PROFILE_CACHE_TTL_MS:"),
            ("profile_cache_ttl_ms", "-1", "PROFILE_CACHE_TTL_MS:"),
            ("public_url", "not a url", "PUBLIC_URL:"),
            ("public_url", "https://api.example.com/?a=b", "PUBLIC_URL:"),
        ];
        for (key, value, prefix) in cases {
            let error = with(&[(key, value)]).err().unwrap_or_default();
            assert!(error.starts_with(prefix), "{key}={value}: {error}");
            assert!(!error.contains('\n'));
        }
    }
}
