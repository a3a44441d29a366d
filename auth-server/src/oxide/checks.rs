//! The rules oxide-auth leaves to extensions, per flow: which grants a
//! client may use, PKCE as RFC 9700 §2.1.1 wants it, and the OpenID
//! Connect `nonce` and RFC 8707 `resource` of an authorization request.

use oxide_auth::code_grant::accesstoken::Request as AccessTokenRequest;
use oxide_auth::code_grant::authorization::Request as AuthorizationRequest;
use oxide_auth::code_grant::client_credentials::Request as ClientCredentialsRequest;
use oxide_auth::primitives::grant::Extensions;
use oxide_auth_async::code_grant::{access_token, authorization, client_credentials};
use rocket::async_trait;

use super::extensions::{ext, private, set_private};
use super::flow::Flow;
use crate::errors::OAuthError;
use crate::grant_type::GrantType;
use crate::oauth::pkce;

/// The longest `nonce` accepted: it is stored and echoed in every id_token
/// of the grant, and real ones are a few dozen characters.
pub const MAX_NONCE_CHARS: usize = 512;

/// The rules oxide-auth leaves to extensions: which grants a client may
/// use, and PKCE as RFC 9700 §2.1.1 wants it.
pub struct GrantChecks<'s> {
    flow: &'s Flow<'s>,
}

impl<'s> GrantChecks<'s> {
    pub fn new(flow: &'s Flow<'s>) -> GrantChecks<'s> {
        GrantChecks { flow }
    }
}

#[async_trait]
impl authorization::Extension for GrantChecks<'_> {
    /// Runs once the client and redirect URI are bound, so a refusal here
    /// goes back to the client.
    async fn extend(
        &mut self,
        request: &(dyn AuthorizationRequest + Sync),
    ) -> Result<Extensions, ()> {
        let flow = self.flow;
        let client = flow.loaded().ok_or(())?;
        let refuse = |description| {
            flow.refuse(OAuthError::invalid_request(description));
            Err(())
        };
        if !client.allows_grant(GrantType::AuthorizationCode) {
            flow.refuse(OAuthError::unauthorized_client(
                "This client may not use the authorization code grant.",
            ));
            return Err(());
        }
        let challenge = request.extension("code_challenge");
        let method = request.extension("code_challenge_method");
        match (challenge.as_deref(), method.as_deref()) {
            (None, None) if client.is_public() => {
                return refuse("PKCE (code_challenge with S256) is required.");
            }
            (None, None) => {}
            (Some(challenge), Some("S256")) if pkce::is_s256_challenge(challenge) => {}
            (Some(_), Some("S256")) => return refuse("The code_challenge is malformed."),
            (Some(_), None | Some("plain")) | (None, Some("plain")) => {
                return refuse("Only the S256 code_challenge_method is supported.");
            }
            _ => return refuse("The code_challenge_method is not supported."),
        }
        let nonce = request.extension("nonce");
        if nonce
            .as_deref()
            .is_some_and(|n| n.chars().count() > MAX_NONCE_CHARS)
        {
            return refuse("The nonce is longer than 512 characters.");
        }
        let resource = request.extension("resource");
        if let Some(resource) = resource.as_deref()
            && !flow.ctx.allows_resource(&client, resource)
        {
            flow.refuse(OAuthError::invalid_target());
            return Err(());
        }
        // A SHA-256 thumbprint in base64url is 43 characters.
        let dpop_jkt = request.extension("dpop_jkt");
        if dpop_jkt.as_deref().is_some_and(|jkt| {
            jkt.len() != 43
                || !jkt
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            return refuse("The dpop_jkt is malformed.");
        }
        let mut extensions = Extensions::new();
        if let Some(jkt) = dpop_jkt {
            set_private(&mut extensions, ext::DPOP_JKT, jkt);
        }
        if let Some(nonce) = nonce {
            set_private(&mut extensions, ext::NONCE, nonce);
        }
        if let Some(resource) = resource.filter(|r| r != flow.ctx.tokens.audience()) {
            set_private(&mut extensions, ext::RESOURCE, resource);
        }
        // The string as sent: the exchange must present the same one.
        if let Some(redirect_uri) = request.redirect_uri() {
            set_private(&mut extensions, ext::REDIRECT_URI, redirect_uri);
        }
        if let Some(challenge) = challenge {
            set_private(&mut extensions, ext::CHALLENGE, challenge);
        }
        Ok(extensions)
    }
}

#[async_trait]
impl access_token::Extension for GrantChecks<'_> {
    async fn extend(
        &mut self,
        request: &(dyn AccessTokenRequest + Sync),
        data: Extensions,
    ) -> Result<Extensions, ()> {
        let flow = self.flow;
        let client = flow.authenticated_or_refuse()?;
        let refuse = |error| {
            flow.refuse(error);
            Err(())
        };
        // RFC 6749 §4.1.3: identical to the authorization request's.
        if request.redirect_uri().as_deref() != private(&data, ext::REDIRECT_URI).as_deref() {
            return refuse(OAuthError::invalid_grant(
                "The redirect_uri does not match the authorization request.",
            ));
        }
        let challenge = private(&data, ext::CHALLENGE);
        match (challenge.as_deref(), request.extension("code_verifier")) {
            (Some(challenge), Some(verifier)) if pkce::verify_s256(&verifier, challenge) => {}
            (Some(_), Some(_)) => {
                return refuse(OAuthError::invalid_grant(
                    "The code_verifier does not match the challenge.",
                ));
            }
            (Some(_), None) => {
                return refuse(OAuthError::invalid_request(
                    "The code_verifier parameter is required.",
                ));
            }
            // A verifier without a challenge is refused, or a downgrade
            // would go unnoticed.
            (None, Some(_)) => {
                return refuse(OAuthError::invalid_grant(
                    "No code_challenge was sent for this code.",
                ));
            }
            (None, None) if client.is_public() => {
                return refuse(OAuthError::invalid_grant("Public clients must use PKCE."));
            }
            (None, None) => {}
        }
        // RFC 9449 §10: the code was bound to a key at the authorization
        // request; only a proof of that key redeems it.
        if let Some(jkt) = private(&data, ext::DPOP_JKT)
            && flow.ctx.dpop_jkt() != Some(jkt.as_str())
        {
            return refuse(OAuthError::invalid_dpop_proof(
                "The code is bound to a DPoP key this request does not prove.",
            ));
        }
        Ok(data)
    }
}

#[async_trait]
impl client_credentials::Extension for GrantChecks<'_> {
    async fn extend(
        &mut self,
        _: &(dyn ClientCredentialsRequest + Sync),
    ) -> Result<Extensions, ()> {
        let flow = self.flow;
        let client = flow.authenticated_or_refuse()?;
        // A public client has nothing to prove who it is with (RFC 6749 §4.4).
        if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
            flow.refuse(OAuthError::unauthorized_client(
                "This client may not use the client_credentials grant.",
            ));
            return Err(());
        }
        let mut extensions = Extensions::new();
        set_private(&mut extensions, ext::CLIENT_SUBJECT, client.id);
        Ok(extensions)
    }
}
