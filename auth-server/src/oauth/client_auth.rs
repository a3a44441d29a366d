//! Client authentication (RFC 6749 §2.3, RFC 7523): the one way every
//! endpoint that asks a client who it is finds out. Credentials come in an
//! HTTP Basic header, as `client_id`/`client_secret` in the body, or as a
//! `client_assertion`, never two of these ([`PresentedCredentials`]);
//! [`authenticate`] checks them against the client's registration.
//!
//! A client has one method, fixed at registration: a secret client proves
//! itself with its secret, compared by digest in constant time; a key
//! client with an assertion (`client_assertion`); a public client presents
//! neither. Any other way is `invalid_client`, as are an unknown client
//! and a wrong secret, at the same cost.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::client_assertion::{self, ASSERTION_TYPE};
use super::context::GrantContext;
use crate::errors::OAuthError;
use crate::store::clients::{AuthMethod, Client, FIRST_PARTY_CLIENT_ID};
use crate::store::secrets::hash_secret;

/// Client credentials as presented on a request.
#[derive(Debug, Clone, Default)]
pub struct PresentedCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Whether they came in an `Authorization: Basic` header.
    pub via_basic: bool,
    /// A `private_key_jwt` client's `client_assertion`, not yet checked.
    pub assertion: Option<String>,
}

impl PresentedCredentials {
    /// A request that names no client comes from the built-in first-party
    /// client (API.md: it refreshes and revokes what it was issued without
    /// a `client_id`). Only public, so a secret without an id stays an
    /// error.
    pub fn or_first_party(mut self) -> PresentedCredentials {
        if self.client_id.is_none() && self.client_secret.is_none() && self.assertion.is_none() {
            self.client_id = Some(FIRST_PARTY_CLIENT_ID.to_owned());
        }
        self
    }

    /// RFC 6749 §2.3.1: Basic header (form-urlencoded id and secret) or body
    /// parameters, but not both.
    pub fn extract(
        authorization: Option<&str>,
        body_id: Option<&str>,
        body_secret: Option<&str>,
    ) -> Result<PresentedCredentials, OAuthError> {
        if let Some(header) = authorization {
            let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client());
            }
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "Client credentials must be sent in one way only.",
                ));
            }
            let decoded = STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            let id = form_decode(id).ok_or_else(OAuthError::invalid_client)?;
            let secret = form_decode(secret).ok_or_else(OAuthError::invalid_client)?;
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_client());
            }
            // Swagger UI sends `Basic base64(":")` when its client fields
            // are empty; as with form parameters (RFC 6749 §3.1), an empty
            // value counts as absent.
            let non_empty = |s: String| (!s.is_empty()).then_some(s);
            return Ok(PresentedCredentials {
                client_id: non_empty(id).or_else(|| body_id.map(str::to_owned)),
                client_secret: non_empty(secret),
                via_basic: true,
                assertion: None,
            });
        }
        Ok(PresentedCredentials {
            client_id: body_id.map(str::to_owned),
            client_secret: body_secret.map(str::to_owned),
            via_basic: false,
            assertion: None,
        })
    }

    /// Adds a `client_assertion` (RFC 7521 §4.2) of the body: never beside
    /// a secret or a Basic header. Without `client_id`, the client is the
    /// one the assertion names, which [`authenticate`] then proves.
    pub fn with_assertion(
        mut self,
        assertion_type: Option<&str>,
        assertion: Option<&str>,
    ) -> Result<PresentedCredentials, OAuthError> {
        let assertion = match (assertion_type, assertion) {
            (None, None) => return Ok(self),
            (Some(ASSERTION_TYPE), Some(assertion)) => assertion,
            (Some(_), Some(_)) => return Err(OAuthError::invalid_client()),
            _ => {
                return Err(OAuthError::invalid_request(
                    "client_assertion and client_assertion_type go together.",
                ));
            }
        };
        if self.via_basic || self.client_secret.is_some() {
            return Err(OAuthError::invalid_client());
        }
        let claimed =
            client_assertion::claimed_client(assertion).ok_or_else(OAuthError::invalid_client)?;
        if self.client_id.as_ref().is_some_and(|id| *id != claimed) {
            return Err(OAuthError::invalid_client());
        }
        self.client_id = Some(claimed);
        self.assertion = Some(assertion.to_owned());
        Ok(self)
    }
}

/// RFC 6749 §2.3.1 has clients form-urlencode id and secret before Basic;
/// a raw `&` or `=` cannot occur in a properly encoded value.
fn form_decode(value: &str) -> Option<String> {
    if value.contains(['&', '=']) {
        return None;
    }
    Some(
        url::form_urlencoded::parse(value.as_bytes())
            .next()
            .map(|(decoded, _)| decoded.into_owned())
            .unwrap_or_default(),
    )
}

/// Authenticates a client by its own method: a secret client must present
/// its secret, a key client a good assertion, a public client neither.
/// Unknown clients, wrong secrets, bad assertions and the wrong method are
/// the same `invalid_client`; a database that cannot answer is
/// `temporarily_unavailable`.
pub async fn authenticate(
    ctx: &GrantContext<'_>,
    presented: &PresentedCredentials,
) -> Result<Client, OAuthError> {
    let Some(client_id) = presented.client_id.as_deref() else {
        return Err(OAuthError::invalid_client());
    };
    let client = ctx.clients.find(client_id).await?;
    if let Some(assertion) = presented.assertion.as_deref() {
        let Some(client) = client.filter(|c| c.auth.method == AuthMethod::PrivateKeyJwt) else {
            return Err(OAuthError::invalid_client());
        };
        client_assertion::check(ctx, &client, assertion).await?;
        return Ok(client);
    }
    verify(client, presented.client_secret.as_deref()).ok_or_else(OAuthError::invalid_client)
}

/// The client, if `secret` proves it: its secret for a secret client, none
/// for a public one (a key client is never proven by this). An unknown
/// client costs the same digest and comparison as a known one.
pub fn verify(client: Option<Client>, secret: Option<&str>) -> Option<Client> {
    let Some(client) = client else {
        let _ = hash_secret(secret.unwrap_or_default());
        return None;
    };
    match (secret, client.is_public()) {
        (Some(secret), false) if client.secret_matches(secret) => Some(client),
        (None, true) => Some(client),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret+x"));
        let creds = PresentedCredentials::extract(Some(&header), None, None).unwrap();
        assert_eq!(creds.client_id.as_deref(), Some("my client"));
        assert_eq!(creds.client_secret.as_deref(), Some("s:cret x"));
        assert!(creds.via_basic);
    }

    #[test]
    fn empty_basic_credentials_count_as_absent() {
        let header = format!("Basic {}", STANDARD.encode(":"));
        let creds = PresentedCredentials::extract(Some(&header), None, None).unwrap();
        assert_eq!(creds.client_id, None);
        assert_eq!(creds.client_secret, None);
        let header = format!("Basic {}", STANDARD.encode("first-party:"));
        let creds = PresentedCredentials::extract(Some(&header), None, None).unwrap();
        assert_eq!(creds.client_id.as_deref(), Some("first-party"));
        assert_eq!(creds.client_secret, None);
    }
}
