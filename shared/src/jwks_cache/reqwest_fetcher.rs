//! The default [`JwksFetcher`] (feature `reqwest`): reqwest with connect
//! and request timeouts, no redirects, and a body read chunk by chunk so
//! that an oversized one is dropped as soon as it passes the cap.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};

use super::JwksError;
use super::fetch::{FetchFailure, FetchFuture, FetchRequest, FetchedDocument, JwksFetcher};
use crate::outbound::{PublicAddressesOnly, names_internal_address};

/// Fetches with reqwest.
#[derive(Debug, Clone)]
pub struct ReqwestFetcher {
    client: reqwest::Client,
    public_only: bool,
}

impl ReqwestFetcher {
    pub fn new(
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<ReqwestFetcher, JwksError> {
        ReqwestFetcher::build(connect_timeout, request_timeout, false)
    }

    /// A fetcher for a URL a stranger gave (a self-registered client's
    /// `jwks_uri`): it never connects to an internal address, whether the
    /// URL names one or its host resolves to one
    /// ([`crate::outbound::PublicAddressesOnly`]).
    pub fn public_addresses_only(
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<ReqwestFetcher, JwksError> {
        ReqwestFetcher::build(connect_timeout, request_timeout, true)
    }

    fn build(
        connect_timeout: Duration,
        request_timeout: Duration,
        public_only: bool,
    ) -> Result<ReqwestFetcher, JwksError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            // A redirect could move us to a host the operator never named.
            .redirect(reqwest::redirect::Policy::none());
        if public_only {
            builder = builder.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let client = builder
            .build()
            .map_err(|e| JwksError::Client(e.to_string()))?;
        Ok(ReqwestFetcher {
            client,
            public_only,
        })
    }
}

impl JwksFetcher for ReqwestFetcher {
    fn get<'a>(&'a self, request: FetchRequest<'a>) -> FetchFuture<'a> {
        Box::pin(async move {
            if self.public_only && names_internal_address(request.url) {
                return Err(FetchFailure::Unreachable(
                    "an internal address, refused".to_owned(),
                ));
            }
            let mut builder = self.client.get(request.url.clone());
            if let Some(etag) = request.if_none_match {
                builder = builder.header(IF_NONE_MATCH, etag);
            }
            let mut response = builder.send().await.map_err(unreachable)?;
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let cache_control = header(CACHE_CONTROL);
            let etag = header(ETAG);
            let status = response.status().as_u16();
            let limit = request.max_body_bytes;
            if response
                .content_length()
                .is_some_and(|len| len > limit as u64)
            {
                return Err(FetchFailure::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
                if body.len() + chunk.len() > limit {
                    return Err(FetchFailure::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(FetchedDocument {
                status,
                cache_control,
                etag,
                body,
            })
        })
    }
}

fn unreachable(error: reqwest::Error) -> FetchFailure {
    FetchFailure::Unreachable(if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    })
}
