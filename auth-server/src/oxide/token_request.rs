//! A token request as oxide-auth's flows read it: our typed form, and the
//! client credentials already merged from the Basic header or the body.

use std::borrow::Cow;

use oxide_auth::code_grant::accesstoken::{Authorization, Request as AccessTokenRequest};
use oxide_auth::code_grant::client_credentials::Request as ClientCredentialsRequest;
use oxide_auth::code_grant::refresh::Request as RefreshRequest;

use crate::oauth::client_auth::PresentedCredentials;
use crate::oauth::forms::TokenForm;

/// A parsed token request as oxide-auth's flows read it. Client
/// credentials reach them only through `authorization()`, already merged
/// from the Basic header or the body by [`PresentedCredentials`], so that
/// oxide-auth's own merging never sees them twice.
pub struct TokenRequest<'a> {
    form: &'a TokenForm,
    credentials: &'a PresentedCredentials,
}

impl<'a> TokenRequest<'a> {
    pub fn new(form: &'a TokenForm, credentials: &'a PresentedCredentials) -> TokenRequest<'a> {
        TokenRequest { form, credentials }
    }

    fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        let form = self.form;
        let value = match name {
            "grant_type" => &form.grant_type,
            "code" => &form.code,
            "redirect_uri" => &form.redirect_uri,
            "refresh_token" => &form.refresh_token,
            "scope" => &form.scope,
            _ => return None,
        };
        value.as_deref().map(Cow::Borrowed)
    }

    /// Body parameters other than the client's credentials.
    fn extension_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let form = self.form;
        let value = match name {
            "code_verifier" => &form.code_verifier,
            "resource" => &form.resource,
            "username" => &form.username,
            "password" => &form.password,
            _ => return self.param(name),
        };
        value.as_deref().map(Cow::Borrowed)
    }

    /// A confidential client's id and secret. A key client's assertion was
    /// checked before the flow ran (the registrar knows its client), so it
    /// stands here as an empty passphrase, which no secret is.
    fn confidential(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        let credentials = self.credentials;
        match (&credentials.client_id, &credentials.client_secret) {
            (Some(id), Some(secret)) => {
                Some((Cow::Borrowed(id.as_str()), Cow::Borrowed(secret.as_bytes())))
            }
            (Some(id), None) if credentials.assertion.is_some() => {
                Some((Cow::Borrowed(id.as_str()), Cow::Borrowed(&[][..])))
            }
            _ => None,
        }
    }
}

impl AccessTokenRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        self.param("code")
    }
    fn authorization(&self) -> Authorization<'_> {
        match (&self.credentials.client_id, &self.credentials.client_secret) {
            (Some(id), Some(secret)) => Authorization::UsernamePassword(
                Cow::Borrowed(id.as_str()),
                Cow::Borrowed(secret.as_bytes()),
            ),
            (Some(id), None) => Authorization::Username(Cow::Borrowed(id.as_str())),
            (None, _) => Authorization::None,
        }
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        None
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.param("redirect_uri")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}

impl RefreshRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn refresh_token(&self) -> Option<Cow<'_, str>> {
        self.param("refresh_token")
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    /// Confidential clients only: a public client is matched against the
    /// token's client by the issuer.
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        self.confidential()
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}

impl ClientCredentialsRequest for TokenRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        self.confidential()
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope")
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type")
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.extension_param(key)
    }
}
