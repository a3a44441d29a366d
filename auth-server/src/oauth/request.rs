//! A token-style request as it arrives: its form parameters, read under the
//! body limit with one policy for repeated and empty parameters, and what
//! the grants need from the request besides them.

use std::collections::HashMap;
use std::net::IpAddr;

use platform::client_addr::ClientAddr;
use rocket::data::Data;
use rocket::http::ContentType;
use rocket::request::{FromRequest, Outcome, Request};

use super::TokenFailure;
use crate::body::{self, BodyError};
use crate::errors::{ApiError, OAuthError};

/// The parameters of an OAuth request: a token-style form, or the
/// authorization request's query or form, all read one way (RFC 6749
/// §3.1): a parameter sent without a value is omitted, and one sent twice
/// is refused, since picking either would let an attacker choose.
#[derive(Debug, Default)]
pub struct OAuthParams(HashMap<String, String>);

impl OAuthParams {
    pub fn parse(body: &[u8]) -> Result<OAuthParams, OAuthError> {
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params
                .insert(name.into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(
                    "A request parameter was repeated.",
                ));
            }
        }
        Ok(OAuthParams(params))
    }

    /// Refuses a NUL anywhere. PostgreSQL text cannot hold one, so such a
    /// value would reach a query as a database error (500) instead of a
    /// clear refusal.
    pub fn refuse_nul(self) -> Result<OAuthParams, OAuthError> {
        let nul = |s: &String| s.contains('\0');
        if self.0.iter().any(|(name, value)| nul(name) || nul(value)) {
            return Err(OAuthError::invalid_request(
                "A request parameter contains a NUL character.",
            ));
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or(OAuthError::invalid_request(match name {
                "username" => "The username parameter is required.",
                "password" => "The password parameter is required.",
                "grant_type" => "The grant_type parameter is required.",
                "code" => "The code parameter is required.",
                "redirect_uri" => "The redirect_uri parameter is required.",
                "code_verifier" => "The code_verifier parameter is required.",
                "refresh_token" => "The refresh_token parameter is required.",
                "token" => "The token parameter is required.",
                _ => "A required parameter is missing.",
            }))
    }
}

/// What a grant needs from the request besides its parameters.
#[derive(Debug, Default)]
pub struct RequestMeta {
    pub authorization: Option<String>,
    /// The TCP peer, or what a trusted proxy says (`TRUSTED_PROXIES`);
    /// never `X-Real-IP` or a forwarding header from anyone else.
    pub client_ip: Option<IpAddr>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestMeta {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(RequestMeta::of(request))
    }
}

impl RequestMeta {
    pub fn of(request: &Request<'_>) -> RequestMeta {
        RequestMeta {
            authorization: request
                .headers()
                .get_one("Authorization")
                .map(str::to_owned),
            client_ip: ClientAddr::of(request).0,
        }
    }
}

/// Reads the form body of a token-style request.
pub async fn read_form(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<OAuthParams, TokenFailure> {
    Ok(read_page_form(content_type, data).await?.refuse_nul()?)
}

/// Reads the form of an authorization page. A NUL is left in place: the
/// sign-in it reaches looks accounts up safely and simply fails.
pub async fn read_page_form(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<OAuthParams, TokenFailure> {
    if !content_type.is_some_and(|ct| *ct == ContentType::Form) {
        return Err(OAuthError::invalid_request(
            "The request body must be application/x-www-form-urlencoded.",
        )
        .into());
    }
    let bytes = body::read_limited(data).await.map_err(|e| match e {
        BodyError::TooLarge => TokenFailure::Api(ApiError::PayloadTooLarge),
        BodyError::Unreadable => {
            OAuthError::invalid_request("The request body could not be read.").into()
        }
    })?;
    Ok(OAuthParams::parse(&bytes)?)
}

/// The form fields of a token request; which are needed depends on `grant_type`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenRequestForm {
    #[schema(example = "password")]
    grant_type: Option<String>,
    /// The email, for the password grant.
    username: Option<String>,
    password: Option<String>,
    /// Space-separated; defaults to everything the user and client may have.
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    /// RFC 8707: the resource the access token is for (its `aud`):
    /// `AUDIENCE` or one the client was registered with.
    resource: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_parameters_are_omitted_and_repeated_ones_refused() {
        let params = OAuthParams::parse(b"a=1&b=&c=%20").unwrap_or_default();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some(" "));
        for repeated in [&b"a=1&a=2"[..], b"a=1&a=1", b"a=1&b=2&a=3"] {
            let error = OAuthParams::parse(repeated).err();
            assert_eq!(
                error.map(|e| e.description),
                Some("A request parameter was repeated.")
            );
        }
        // An empty repeat is no repeat: it was never sent.
        assert!(OAuthParams::parse(b"a=1&a=").is_ok());
    }

    #[test]
    fn a_nul_is_refused_where_asked() {
        for body in [&b"a=x%00y"[..], b"x%00=1"] {
            let params = OAuthParams::parse(body);
            assert!(params.is_ok(), "the reading itself keeps it");
            let refused = params.and_then(OAuthParams::refuse_nul).err();
            assert_eq!(
                refused.map(|e| e.description),
                Some("A request parameter contains a NUL character.")
            );
        }
    }
}
