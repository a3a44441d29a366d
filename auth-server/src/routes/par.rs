//! Pushed authorization requests (RFC 9126): `POST /oauth/par` checks an
//! authorization request as `/oauth/authorize` would and keeps it, hashed,
//! single-use, for 60 s, in the database, answering the `request_uri` that
//! names it; [`resolve`] is how `/oauth/authorize` runs a pushed request
//! from its `client_id` and `request_uri` alone.
//!
//! The client authenticates as at the token endpoint (a public client by
//! its `client_id`), so a pushed request is known to be its own; its
//! parameters never pass through the browser.

use rocket::http::Status;
use rocket::post;
use rocket::request::Request;
use rocket::response::{self, Responder};
use serde_json::{Map, Value, json};
use shared::oauth::OAuthErrorBody;

use super::form::{OAuthForm, TokenFailure};
use super::token::WithDpopNonce;
use crate::errors::oauth::json_answer;
use crate::errors::{OAuthError, OAuthErrorCode};
use crate::oauth::client_auth;
use crate::oauth::context::GrantContext;
use crate::oauth::dpop;
use crate::oauth::forms::{AuthorizationRequest, CarriesCredentials};
use crate::oxide::authorization_request::{self, Refused};
use crate::pages::authorization::{PageResponse, database_failure, error_page};
use crate::store::pushed_requests::{self, LIFETIME};

/// Where requests are pushed: a proof sent with one names it as `htu`.
const PAR_PATH: &str = "/oauth/par";

/// A pushed authorization request: the authorization request's parameters
/// and the client's credentials.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct PushForm {
    #[serde(flatten)]
    pub request: AuthorizationRequest,
    pub client_secret: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// A request object (JAR, RFC 9101): not supported.
    #[serde(rename = "request")]
    pub request_object: Option<String>,
}

impl CarriesCredentials for PushForm {
    fn in_body(&self) -> (Option<&str>, Option<&str>) {
        (
            self.request.client_id.as_deref(),
            self.client_secret.as_deref(),
        )
    }
    fn assertion(&self) -> (Option<&str>, Option<&str>) {
        (
            self.client_assertion_type.as_deref(),
            self.client_assertion.as_deref(),
        )
    }
}

/// `201` with the `request_uri`, never cached.
pub struct Pushed(Value);

impl<'r> Responder<'r, 'static> for Pushed {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(json_answer(Status::Created, &self.0))
    }
}

/// Push an authorization request (RFC 9126).
#[utoipa::path(
    post, path = "/oauth/par", tag = "oauth",
    request_body(content = PushForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "`{\"request_uri\", \"expires_in\": 60}`", body = Object),
        (status = 400, description = "The authorization request's error, RFC 6749 JSON", body = OAuthErrorBody),
        (status = 401, description = "Client authentication failed", body = OAuthErrorBody),
    )
)]
#[post("/oauth/par", data = "<form>")]
pub async fn par(
    context: GrantContext<'_>,
    form: Result<OAuthForm<PushForm>, TokenFailure>,
) -> WithDpopNonce<Result<Pushed, TokenFailure>> {
    let nonce = context
        .config
        .dpop_nonce
        .then(|| dpop::fresh_nonce(&context));
    WithDpopNonce(push(context, form).await, nonce)
}

async fn push(
    context: GrantContext<'_>,
    form: Result<OAuthForm<PushForm>, TokenFailure>,
) -> Result<Pushed, TokenFailure> {
    let OAuthForm(form) = form?;
    let presented = form.credentials(&context.meta)?;
    let client = client_auth::authenticate(&context, &presented).await?;
    if form.request_object.is_some() {
        return Err(OAuthError::new(
            OAuthErrorCode::RequestNotSupported,
            "Request objects (the request parameter) are not supported.",
        )
        .into());
    }
    if form.request.request_uri.is_some() {
        return Err(
            OAuthError::invalid_request("A pushed request cannot have a request_uri.").into(),
        );
    }
    let mut request = form.request;
    request.client_id = Some(client.id.clone());
    // RFC 9449 §10.1: a proof sent with the pushed request binds its code
    // to the proof's key, as `dpop_jkt` does; sent together, they agree.
    if let Some(jkt) = dpop::pushed_request_key(&context, PAR_PATH).await? {
        if request.dpop_jkt.as_ref().is_some_and(|asked| *asked != jkt) {
            return Err(OAuthError::invalid_dpop_proof(
                "The dpop_jkt is not the thumbprint of the proof's key.",
            )
            .into());
        }
        request.dpop_jkt = Some(jkt);
    }
    let validated = authorization_request::validate(&context, request)
        .await
        .map_err(refusal)?;
    validated
        .request
        .prompt()
        .map_err(OAuthError::invalid_request)?;
    let parameters: Map<String, Value> = validated
        .request
        .parameters()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), Value::String(value)))
        .collect();
    let parameters = Value::Object(parameters).to_string();
    let request_uri = pushed_requests::push(context.db, &client.id, &parameters, context.now)
        .await
        .map_err(OAuthError::from)?;
    tracing::info!(client_id = %client.id, "authorization request pushed");
    Ok(Pushed(json!({
        "request_uri": request_uri,
        "expires_in": LIFETIME,
    })))
}

/// What `/oauth/authorize` would have shown or redirected, as RFC 6749
/// JSON.
fn refusal(refused: Refused) -> OAuthError {
    match refused {
        Refused::Here(description) => OAuthError::invalid_request(description),
        Refused::Redirect(url) => {
            let code = url
                .query_pairs()
                .find(|(name, _)| name == "error")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default();
            match code.as_str() {
                "invalid_scope" => OAuthError::invalid_scope(),
                "invalid_target" => OAuthError::invalid_target(),
                "unauthorized_client" => OAuthError::unauthorized_client(
                    "This client may not use the authorization code grant.",
                ),
                "unsupported_response_type" => OAuthError::new(
                    OAuthErrorCode::UnsupportedResponseType,
                    "Only response_type=code is supported.",
                ),
                "temporarily_unavailable" => OAuthError::outage(),
                "server_error" => OAuthError::server_error(),
                _ => {
                    let description = url
                        .query_pairs()
                        .find(|(name, _)| name == "error_description")
                        .map(|(_, value)| value.into_owned())
                        .unwrap_or_default();
                    OAuthError::invalid_request(known_description(&description))
                }
            }
        }
        Refused::Failed => OAuthError::server_error(),
        Refused::Unavailable(_) => OAuthError::outage(),
    }
}

/// Our own descriptions come back from the redirect as text; answered only
/// as one of the fixed texts (never an echo).
fn known_description(description: &str) -> &'static str {
    const KNOWN: [&str; 7] = [
        "PKCE (code_challenge with S256) is required.",
        "The code_challenge is malformed.",
        "Only the S256 code_challenge_method is supported.",
        "The code_challenge_method is not supported.",
        "The nonce is longer than 512 characters.",
        "The response_type parameter is required.",
        "The dpop_jkt is malformed.",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == description)
        .unwrap_or("The authorization request is invalid.")
}

/// The request `/oauth/authorize` runs: as sent, or, when it names a
/// `request_uri`, the one its client pushed (other parameters ignored).
/// An unknown, expired, spent or another client's `request_uri` is shown
/// on the server's page: there is no checked redirect URI to send it to.
pub async fn resolve(
    context: &GrantContext<'_>,
    request: AuthorizationRequest,
) -> Result<AuthorizationRequest, PageResponse> {
    let Some(request_uri) = request.request_uri else {
        return Ok(request);
    };
    let Some(client_id) = request.client_id else {
        return Err(error_page(
            Status::BadRequest,
            "The request has no client_id.",
        ));
    };
    let stored = pushed_requests::find(context.db, &request_uri, &client_id, context.now)
        .await
        .map_err(database_failure)?;
    let pushed = stored
        .and_then(|text| serde_json::from_str::<AuthorizationRequest>(&text).ok())
        .filter(|pushed| pushed.client_id.as_deref() == Some(client_id.as_str()));
    let Some(mut pushed) = pushed else {
        return Err(error_page(
            Status::BadRequest,
            "invalid_request_uri: the request_uri is unknown, expired, already used, or not this client's.",
        ));
    };
    pushed.request_uri = Some(request_uri);
    Ok(pushed)
}

/// Whether `request` may be run: pushed, or of a client that need not push
/// while `REQUIRE_PAR` is off.
pub fn allowed(
    context: &GrantContext<'_>,
    request: &AuthorizationRequest,
    require_par: bool,
) -> bool {
    request.request_uri.is_some() || !(context.config.require_par || require_par)
}

/// Spends the pushed request a code is about to be issued for: `false`
/// when another authorization spent it first.
pub async fn spend(
    context: &GrantContext<'_>,
    request: &AuthorizationRequest,
) -> Result<bool, PageResponse> {
    let (Some(request_uri), Some(client_id)) = (&request.request_uri, &request.client_id) else {
        return Ok(true);
    };
    pushed_requests::spend(context.db, request_uri, client_id, context.now)
        .await
        .map_err(database_failure)
}
