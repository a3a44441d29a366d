//! How the cache gets the issuer's documents: the [`JwksFetcher`] trait, a
//! plain HTTP GET that any HTTP client can implement (reqwest's is
//! [`super::ReqwestFetcher`], behind the `reqwest` feature), and what the
//! cache does around every GET whatever the fetcher: the overall time limit,
//! the body cap, and the reading of the RFC 8414 metadata document and of
//! `Cache-Control`.
//!
//! The bounds are the cache's, not the fetcher's: a fetcher that hangs or
//! sends too much is cut off here all the same, so swapping the HTTP client
//! never loosens what stands between a flood of forged tokens and the
//! issuer.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::{JwksConfig, JwksError};
use crate::routes;

/// One GET the cache asks for: the issuer's metadata document or its JWK
/// Set.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    pub url: &'a Url,
    /// The `ETag` of the set the cache holds, to send as `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// Stop reading past this many bytes and answer
    /// [`FetchFailure::TooLarge`]; the cache refuses a longer body anyway.
    pub max_body_bytes: usize,
}

/// What the issuer answered. A fetcher reports any status as it came;
/// the cache decides what `200`, `304` and the rest mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDocument {
    pub status: u16,
    /// The `Cache-Control` header, if any: the set's lifetime.
    pub cache_control: Option<String>,
    /// The `ETag` header, if any, sent back as `If-None-Match` next time.
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// Why a GET brought no answer. The text is for logs; it never holds a
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// No answer: the connection failed, timed out or broke.
    Unreachable(String),
    /// The body passed [`FetchRequest::max_body_bytes`].
    TooLarge,
}

/// The future a [`JwksFetcher`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<FetchedDocument, FetchFailure>> + Send + 'a>>;

/// Performs the cache's GETs. Implement it to fetch with another HTTP
/// client, and hand it to [`super::JwksCache::with_fetcher`].
///
/// A fetcher must not follow redirects (a redirect could move the cache to
/// a host the operator never named) and should stop reading a body once it
/// passes `max_body_bytes`. It need not time out by itself: the cache
/// gives every GET [`JwksConfig::request_timeout`].
pub trait JwksFetcher: Send + Sync + 'static {
    fn get<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a>;
}

/// One GET through `fetcher`, bounded in time and size whatever the
/// fetcher does.
pub(super) async fn get(
    fetcher: &dyn JwksFetcher,
    url: &Url,
    if_none_match: Option<&str>,
    config: &JwksConfig,
) -> Result<FetchedDocument, JwksError> {
    let request = FetchRequest {
        url,
        if_none_match,
        max_body_bytes: config.max_body_bytes,
    };
    let answer = tokio::time::timeout(config.request_timeout, fetcher.get(request)).await;
    let too_large = || JwksError::TooLarge {
        url: url.to_string(),
        limit: config.max_body_bytes,
    };
    match answer {
        Err(_) => Err(JwksError::Unreachable {
            url: url.to_string(),
            reason: "timed out".into(),
        }),
        Ok(Err(FetchFailure::Unreachable(reason))) => Err(JwksError::Unreachable {
            url: url.to_string(),
            reason,
        }),
        Ok(Err(FetchFailure::TooLarge)) => Err(too_large()),
        Ok(Ok(document)) if document.body.len() > config.max_body_bytes => Err(too_large()),
        Ok(Ok(document)) => Ok(document),
    }
}

/// RFC 8414 §3: the `jwks_uri` of the issuer's metadata document, whose
/// `issuer` must be ours.
pub(super) async fn discover(
    fetcher: &dyn JwksFetcher,
    issuer: &str,
    config: &JwksConfig,
) -> Result<Url, JwksError> {
    let url = metadata_url(issuer).map_err(|reason| JwksError::Malformed {
        url: issuer.to_owned(),
        reason,
    })?;
    let document = get(fetcher, &url, None, config).await?;
    if document.status != 200 {
        return Err(JwksError::Status {
            url: url.to_string(),
            status: document.status,
        });
    }
    let malformed = |reason: &str| JwksError::Malformed {
        url: url.to_string(),
        reason: reason.to_owned(),
    };
    let metadata: Value =
        serde_json::from_slice(&document.body).map_err(|_| malformed("not JSON"))?;
    let found = metadata
        .get("issuer")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no issuer"))?;
    if found != issuer {
        return Err(JwksError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: found.to_owned(),
        });
    }
    let jwks_uri = metadata
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no jwks_uri"))?;
    Url::parse(jwks_uri).map_err(|_| malformed("jwks_uri is not a URL"))
}

/// `max-age` of a `Cache-Control` value; `no-cache`/`no-store` count as
/// zero (then clamped up to the floor).
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut found = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" => {
                let value = value.trim().trim_matches('"');
                found = value.parse::<u64>().ok().map(Duration::from_secs);
            }
            _ => {}
        }
    }
    found
}

/// RFC 8414 §3.1: the well-known suffix goes between host and path.
pub fn metadata_url(issuer: &str) -> Result<Url, String> {
    let mut url = Url::parse(issuer).map_err(|e| format!("issuer is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("issuer must be an http or https URL".into());
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&format!(
        "{}{}",
        routes::AUTHORIZATION_SERVER_METADATA,
        path
    ));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age_and_ignores_other_directives() {
        assert_eq!(
            max_age("public, max-age=300, stale-while-revalidate=60"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("max-age=\"20\""), Some(Duration::from_secs(20)));
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn metadata_url_puts_the_suffix_before_the_issuer_path() {
        let plain = metadata_url("http://127.0.0.1:8000").map(|u| u.to_string());
        assert_eq!(
            plain.as_deref(),
            Ok("http://127.0.0.1:8000/.well-known/oauth-authorization-server")
        );
        let with_path = metadata_url("https://id.example.com/tenant/").map(|u| u.to_string());
        assert_eq!(
            with_path.as_deref(),
            Ok("https://id.example.com/.well-known/oauth-authorization-server/tenant")
        );
        assert!(metadata_url("ftp://x").is_err());
        assert!(metadata_url("not a url").is_err());
    }
}
