//! The authorization request (RFC 6749 §4.1.1) on oxide-auth-async's
//! flow: the registrar binds the client to its exact redirect URI and
//! negotiates the scope, [`GrantChecks`](super::checks::GrantChecks)
//! enforces the client's grants and PKCE ([`validate`]); once the user has
//! decided, the code is stored and its redirect made ([`authorize`]), or
//! the refusal sent back ([`deny`]).
//!
//! Until `client_id` and `redirect_uri` are known good (registered,
//! compared exactly), a refusal is shown by the server and never
//! redirected: a redirect to an unchecked URI would make an open
//! redirector (RFC 6749 §4.1.2.1). After that, errors go back to the
//! client as `error`/`state` parameters.

use std::borrow::Cow;

use oxide_auth::code_grant::authorization::{
    Error as AuthorizationError, Request as AuthorizationFlowRequest,
};
use oxide_auth::primitives::registrar::ExactUrl;
use oxide_auth_async::code_grant::authorization::{Pending, authorization_code};
use shared::scope::ScopeSet;
use url::Url;

use super::endpoint::GrantEndpoint;
use super::flow::Flow;
use crate::errors::OAuthError;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::AuthorizationRequest;
use crate::store::clients::Client;
use crate::store::sessions::SignedIn;
use crate::store::users::User;

/// The authorization request as oxide-auth's flow reads it.
struct FlowRequest<'a>(&'a AuthorizationRequest);

fn borrowed(value: &Option<String>) -> Option<Cow<'_, str>> {
    value.as_deref().map(Cow::Borrowed)
}

impl AuthorizationFlowRequest for FlowRequest<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        borrowed(&self.0.client_id)
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        borrowed(&self.0.scope)
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        borrowed(&self.0.redirect_uri)
    }
    fn state(&self) -> Option<Cow<'_, str>> {
        borrowed(&self.0.state)
    }
    fn response_type(&self) -> Option<Cow<'_, str>> {
        borrowed(&self.0.response_type)
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        match key {
            "code_challenge" => borrowed(&self.0.code_challenge),
            "code_challenge_method" => borrowed(&self.0.code_challenge_method),
            "nonce" => borrowed(&self.0.nonce),
            "resource" => borrowed(&self.0.resource),
            "dpop_jkt" => borrowed(&self.0.dpop_jkt),
            _ => None,
        }
    }
}

/// A request whose client and redirect URI are known good, pending the
/// user's answer.
pub struct Validated {
    pub client: Client,
    /// The negotiated scope, before it is narrowed to a user.
    pub scope: ScopeSet,
    pub request: AuthorizationRequest,
    pending: Pending,
}

/// Why a request cannot go on.
pub enum Refused {
    /// Shown on the server's page: the redirect URI cannot be trusted.
    Here(&'static str),
    /// Sent back to the client's redirect URI.
    Redirect(Url),
    /// The server's failure (already logged).
    Failed,
    /// The database is unreachable: retry after this many seconds.
    Unavailable(u64),
}

/// Checks the request: its client, its redirect URI, its scope, and what
/// the client may ask.
pub async fn validate(
    ctx: &GrantContext<'_>,
    request: AuthorizationRequest,
) -> Result<Validated, Refused> {
    if request.client_id.is_none() {
        return Err(Refused::Here("The request has no client_id."));
    }
    // oxide-auth would bind a request without one to a default; the code
    // flow here always names its redirect URI.
    let Some(redirect_uri) = request.redirect_uri.as_deref() else {
        return Err(Refused::Here("The request has no redirect_uri."));
    };
    if ExactUrl::new(redirect_uri.to_owned()).is_err() {
        return Err(Refused::Here("The redirect_uri is not a valid URL."));
    }
    let flow = Flow::authorization(ctx, None);
    let mut endpoint = GrantEndpoint::new(&flow);
    match authorization_code(&mut endpoint, &FlowRequest(&request)).await {
        Ok(pending) => {
            let client = flow.loaded().ok_or(Refused::Failed)?;
            let scope = ScopeSet::parse(&pending.pre_grant().scope.to_string());
            Ok(Validated {
                client,
                scope,
                request,
                pending,
            })
        }
        Err(AuthorizationError::Ignore) if flow.loaded().is_none() => {
            Err(Refused::Here("The client is not registered."))
        }
        Err(AuthorizationError::Ignore) => Err(Refused::Here(
            "The redirect_uri is not registered for this client.",
        )),
        Err(AuthorizationError::Redirect(error)) => {
            // oxide-auth calls a missing response_type unsupported; RFC 6749
            // §4.1.2.1 calls a missing parameter invalid_request.
            let reason = request
                .response_type
                .is_none()
                .then_some(OAuthError::invalid_request(
                    "The response_type parameter is required.",
                ));
            Err(Refused::Redirect(flow.error_redirect(error, reason)))
        }
        Err(AuthorizationError::PrimitiveError) => {
            let why = flow.failure(OAuthError::server_error());
            match why.retry_after.filter(|_| why.service_unavailable) {
                Some(seconds) => Err(Refused::Unavailable(seconds)),
                None => Err(Refused::Failed),
            }
        }
    }
}

/// Stores a code for `user`, `signed_in` as it says: the redirect that
/// carries it, or an error redirect (`Err(Some)`), or a failure.
pub async fn authorize(
    ctx: &GrantContext<'_>,
    validated: &Validated,
    user: &User,
    signed_in: &SignedIn,
) -> Result<Url, Option<Url>> {
    let flow = Flow::authorization(ctx, Some((user, signed_in)));
    let mut endpoint = GrantEndpoint::new(&flow);
    let owner = Cow::Borrowed(user.id.as_str());
    match validated
        .pending
        .clone()
        .authorize(&mut endpoint, owner)
        .await
    {
        Ok(url) => Ok(url),
        Err(AuthorizationError::Redirect(error)) => Err(Some(flow.error_redirect(error, None))),
        Err(_) => Err(None),
    }
}

/// The user said no: the `access_denied` redirect, or `None` on a failure.
pub fn deny(ctx: &GrantContext<'_>, validated: &Validated) -> Option<Url> {
    match validated.pending.clone().deny() {
        Err(AuthorizationError::Redirect(error)) => {
            Some(Flow::authorization(ctx, None).error_redirect(error, None))
        }
        _ => None,
    }
}
