//! The parameters of the token request and of the authorization request,
//! as typed structs: what the code reads and what `/openapi.json`
//! documents are the same types. The doors read a request's parameters by
//! one policy first (`routes::form`: a parameter sent twice is refused, one
//! sent empty is omitted, a NUL is refused where it could reach a query),
//! then into these; a required one is asked for with [`required`], which
//! names it in the `invalid_request`.

use serde::Deserialize;

use super::client_auth::PresentedCredentials;
use super::context::RequestMeta;
use crate::errors::OAuthError;

/// The form fields of a token request; which are needed depends on `grant_type`.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[schema(as = TokenRequestForm)]
pub struct TokenForm {
    #[schema(example = "password")]
    pub grant_type: Option<String>,
    /// The email, for the password grant.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Space-separated; defaults to everything the user and client may have.
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// RFC 7523 §2.2: `urn:ietf:params:oauth:client-assertion-type:jwt-bearer`
    pub client_assertion_type: Option<String>,
    /// A `private_key_jwt` client's signed assertion.
    pub client_assertion: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// RFC 8707: the resource the access token is for (its `aud`):
    /// `AUDIENCE` or one the client was registered with.
    pub resource: Option<String>,
    /// RFC 8693: the token whose subject the new token is for.
    pub subject_token: Option<String>,
    /// RFC 8693: `urn:ietf:params:oauth:token-type:access_token`.
    pub subject_token_type: Option<String>,
    /// RFC 8693: the token of the party acting for the subject.
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    /// RFC 8693: the type of token wanted; only an access token is issued.
    pub requested_token_type: Option<String>,
    /// RFC 8693: the logical name of the target service, as `resource`.
    pub audience: Option<String>,
    /// RFC 8628: the code the device polls with.
    pub device_code: Option<String>,
}

/// Names the fields that are not secrets only: a form logged by accident
/// shows no password, secret, code or token.
impl std::fmt::Debug for TokenForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenForm")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A form that may carry client credentials in its body (RFC 6749
/// §2.3.1): the token, revocation and introspection requests'.
pub trait CarriesCredentials {
    /// `client_id` and `client_secret`, as the body sent them.
    fn in_body(&self) -> (Option<&str>, Option<&str>);

    /// `client_assertion_type` and `client_assertion` (RFC 7521 §4.2).
    fn assertion(&self) -> (Option<&str>, Option<&str>) {
        (None, None)
    }

    /// The client credentials of the request: in its Basic header, in its
    /// body, or an assertion, never two of them.
    fn credentials(&self, meta: &RequestMeta) -> Result<PresentedCredentials, OAuthError> {
        let (client_id, client_secret) = self.in_body();
        let (assertion_type, assertion) = self.assertion();
        PresentedCredentials::extract(meta.authorization.as_deref(), client_id, client_secret)?
            .with_assertion(assertion_type, assertion)
    }
}

impl CarriesCredentials for TokenForm {
    fn in_body(&self) -> (Option<&str>, Option<&str>) {
        (self.client_id.as_deref(), self.client_secret.as_deref())
    }
    fn assertion(&self) -> (Option<&str>, Option<&str>) {
        (
            self.client_assertion_type.as_deref(),
            self.client_assertion.as_deref(),
        )
    }
}

/// A required parameter, or `invalid_request` naming it.
pub fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .ok_or(OAuthError::invalid_request(match name {
            "username" => "The username parameter is required.",
            "password" => "The password parameter is required.",
            "grant_type" => "The grant_type parameter is required.",
            "code" => "The code parameter is required.",
            "redirect_uri" => "The redirect_uri parameter is required.",
            "code_verifier" => "The code_verifier parameter is required.",
            "refresh_token" => "The refresh_token parameter is required.",
            "token" => "The token parameter is required.",
            "subject_token" => "The subject_token parameter is required.",
            "subject_token_type" => "The subject_token_type parameter is required.",
            "device_code" => "The device_code parameter is required.",
            _ => "A required parameter is missing.",
        }))
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636
/// §4.3, OpenID Connect Core §3.1.2.1, RFC 8707), by query or carried
/// through the authorization page's forms.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizationRequest {
    /// `code`
    #[param(value_type = String, required = true)]
    #[schema(value_type = String, required = true)]
    pub response_type: Option<String>,
    #[param(value_type = String, required = true)]
    #[schema(value_type = String, required = true)]
    pub client_id: Option<String>,
    /// Exactly as registered
    #[param(value_type = String, required = true)]
    #[schema(value_type = String, required = true)]
    pub redirect_uri: Option<String>,
    /// Space-separated; defaults to the client's scopes
    pub scope: Option<String>,
    pub state: Option<String>,
    /// PKCE S256 challenge; required for public clients
    pub code_challenge: Option<String>,
    /// `S256` (`plain` is refused)
    pub code_challenge_method: Option<String>,
    /// OpenID Connect: echoed in the id_token (at most 512 characters)
    pub nonce: Option<String>,
    /// OpenID Connect: `none`, `login` or `consent`
    pub prompt: Option<String>,
    /// OpenID Connect: the longest time since sign-in accepted, in seconds
    #[param(value_type = Option<u64>)]
    #[schema(value_type = Option<u64>)]
    pub max_age: Option<String>,
    /// RFC 8707: AUDIENCE or an audience the client was registered with
    pub resource: Option<String>,
    /// RFC 9126: a request pushed to `/oauth/par`, run instead of these
    /// parameters (only `client_id` is read beside it)
    pub request_uri: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code's redemption
    /// must prove
    pub dpop_jkt: Option<String>,
}

/// What `prompt` asks (OIDC Core §3.1.2.1); unknown values are ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl AuthorizationRequest {
    /// What the page's forms carry on as hidden fields: the parameters
    /// that were sent, or, for a pushed request, what names it.
    pub fn sent(&self) -> Vec<(&'static str, String)> {
        if let Some(request_uri) = &self.request_uri {
            let client_id = self.client_id.clone().map(|id| ("client_id", id));
            return client_id
                .into_iter()
                .chain([("request_uri", request_uri.clone())])
                .collect();
        }
        self.parameters()
    }

    /// The parameters of the request itself, in a fixed order.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("resource", &self.resource),
            ("dpop_jkt", &self.dpop_jkt),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.clone()?)))
        .collect()
    }

    /// `prompt` and `max_age`, or why they are an `invalid_request`.
    pub fn prompt(&self) -> Result<(Prompt, Option<i64>), &'static str> {
        let mut prompt = Prompt::default();
        let mut values = 0;
        for value in self.prompt.as_deref().unwrap_or("").split(' ') {
            match value {
                "" => continue,
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                _ => {}
            }
            values += 1;
        }
        if prompt.none && values > 1 {
            return Err("prompt=none cannot be combined with another prompt value.");
        }
        let max_age = match self.max_age.as_deref() {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(seconds) => Some(i64::from(seconds)),
                Err(_) => return Err("max_age must be a non-negative number of seconds."),
            },
        };
        // A sign-in in this very second is not older than 0 seconds, yet
        // max_age=0 asks for a fresh one: it is prompt=login (OpenID
        // Connect Core 1.0 errata set 2, §3.1.2.1).
        if max_age == Some(0) {
            prompt.login = true;
        }
        Ok((prompt, max_age))
    }
}
