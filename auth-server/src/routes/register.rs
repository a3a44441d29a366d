//! `POST /oauth/register` (RFC 7591) and the registration's own URI,
//! `/oauth/register/{client_id}` (RFC 7592: read, replace, delete). The
//! rules of a registration are [`crate::admin::registration`]'s; this door
//! reads the bearer token and the JSON, and answers RFC 7591 §3.2.2 errors
//! (`400 invalid_redirect_uri | invalid_client_metadata`) or RFC 6750 ones
//! (`401 invalid_token`) for a bad initial or registration access token.
//!
//! The initial access token is checked before the body is read, and spent
//! in the transaction that inserts the client, so a failed registration
//! spends nothing and racing ones never spend more uses than it has.

use platform::client_addr::ClientAddr;
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder};
use rocket::{Data, State, delete, get, post, put};
use serde_json::{Value, json};
use shared::clock::AppClock;
use shared::oauth::OAuthErrorBody;

use crate::admin::Actor;
use crate::admin::registration::{self, Metadata, Refusal};
use crate::config::AppConfig;
use crate::errors::ApiError;
use crate::errors::OAuthError;
use crate::errors::oauth::{error_response, json_answer};
use crate::routes::form;
use crate::store::clients::{Client, Clients};
use crate::store::db::Db;
use crate::store::registration_tokens;
use crate::store::secrets::generate_secret;

/// The `Authorization: Bearer` token of the request: `None` without the
/// header; an empty token for any other scheme or a header sent twice,
/// which no token matches.
pub struct BearerToken(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BearerToken {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let mut values = request.headers().get("Authorization");
        let token = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_owned())
                }
                _ => Some(String::new()),
            },
            (Some(_), Some(_)) => Some(String::new()),
        };
        Outcome::Success(BearerToken(token))
    }
}

/// Every answer of these endpoints that is not a success.
#[derive(Debug)]
pub enum RegistrationError {
    /// RFC 7591 §3.2.2.
    Refused(Refusal),
    /// No initial access token where one is needed.
    MissingToken,
    /// An initial or registration access token that is unknown, expired,
    /// used up or not this client's.
    InvalidToken,
    /// The body could not be read as JSON within the limits.
    Body(ApiError),
    Oauth(OAuthError),
}

impl From<Refusal> for RegistrationError {
    fn from(refusal: Refusal) -> RegistrationError {
        RegistrationError::Refused(refusal)
    }
}

impl From<sqlx::Error> for RegistrationError {
    fn from(error: sqlx::Error) -> RegistrationError {
        RegistrationError::Oauth(OAuthError::from(error))
    }
}

impl<'r> Responder<'r, 'static> for RegistrationError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let body = |error: &str, description: &str| OAuthErrorBody {
            error: error.to_owned(),
            error_description: description.to_owned(),
        };
        let (status, body, challenge) = match self {
            RegistrationError::Oauth(error) => return error.respond_to(request),
            RegistrationError::Refused(refusal) => (
                Status::BadRequest,
                body(refusal.error, &refusal.description),
                None,
            ),
            RegistrationError::MissingToken => (
                Status::Unauthorized,
                body("invalid_token", "An initial access token is required."),
                Some("Bearer realm=\"register\"".to_owned()),
            ),
            RegistrationError::InvalidToken => (
                Status::Unauthorized,
                body(
                    "invalid_token",
                    "The access token is invalid, expired or used up.",
                ),
                Some("Bearer realm=\"register\", error=\"invalid_token\"".to_owned()),
            ),
            RegistrationError::Body(error) => {
                let status =
                    Status::from_code(error.problem().status).unwrap_or(Status::BadRequest);
                let error = if status == Status::BadRequest {
                    "invalid_client_metadata"
                } else {
                    "invalid_request"
                };
                let description = match status.code {
                    413 => "The request body is larger than the limit of 64 KiB.",
                    415 => "The request body must be application/json.",
                    _ => "The request body must be one JSON object, each member named once.",
                };
                (status, body(error, description), None)
            }
        };
        let mut response = error_response(status, &body);
        if let Some(challenge) = challenge {
            response.set_header(Header::new("WWW-Authenticate", challenge));
        }
        Ok(response)
    }
}

/// A JSON answer that no cache keeps: it may hold secrets.
pub struct RegistrationAnswer(Status, Value);

impl<'r> Responder<'r, 'static> for RegistrationAnswer {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        Ok(json_answer(self.0, &self.1))
    }
}

/// The registration endpoint; a registration's own URI is below it.
pub const REGISTER: &str = "/oauth/register";

fn client_uri(config: &AppConfig, client_id: &str) -> String {
    config.endpoint(&format!("{REGISTER}/{client_id}"))
}

async fn metadata(
    content_type: Option<&ContentType>,
    data: Data<'_>,
) -> Result<Metadata, RegistrationError> {
    let body = form::json_object(content_type, data)
        .await
        .map_err(RegistrationError::Body)?;
    Ok(registration::parse(body)?)
}

/// Register a client (RFC 7591).
#[utoipa::path(post, path = "/oauth/register", tag = "oauth",
    request_body(content = Metadata, content_type = "application/json",
        description = "RFC 7591 client metadata (client_id and client_secret are refused here)"),
    responses((status = 201, description = "Registered: the metadata as stored, client_id, client_secret (confidential clients), registration_access_token, registration_client_uri"),
              (status = 400, description = "invalid_redirect_uri or invalid_client_metadata (RFC 7591 §3.2.2)", body = OAuthErrorBody),
              (status = 401, description = "A missing, unknown, expired or used-up initial access token", body = OAuthErrorBody)))]
#[post("/oauth/register", data = "<data>")]
#[allow(clippy::too_many_arguments)]
pub async fn register(
    bearer: BearerToken,
    address: ClientAddr,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    clients: &State<Clients>,
    db: &State<Db>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<RegistrationAnswer, RegistrationError> {
    let now = clock.now();
    // A token presented is held to account even when registration is open.
    let initial = match bearer.0 {
        Some(token) => {
            if token.is_empty() || !registration_tokens::is_usable(db, &token, now).await? {
                return Err(RegistrationError::InvalidToken);
            }
            Some(token)
        }
        None if config.open_registration => None,
        None => return Err(RegistrationError::MissingToken),
    };
    let metadata = metadata(content_type, data).await?;
    if metadata.client_id.is_some() || metadata.client_secret.is_some() {
        return Err(
            Refusal::metadata("client_id and client_secret are the server's to assign").into(),
        );
    }
    let (new, auth) = registration::validate(&metadata, None)?;
    let registration_token = generate_secret();
    let event = Actor::Registration { address: address.0 }.event("client_registered");
    let Some((client_id, secret)) = clients
        .register_recorded(
            &new,
            &auth,
            initial.as_deref(),
            &registration_token,
            now,
            event,
        )
        .await?
    else {
        return Err(RegistrationError::InvalidToken);
    };
    let client = clients
        .find(&client_id)
        .await?
        .ok_or(RegistrationError::Oauth(OAuthError::server_error()))?;
    let mut shown = registration::describe(&client, &client_uri(config, &client_id));
    if let Some(secret) = secret {
        shown["client_secret"] = json!(secret);
        // RFC 7591 §3.2.1: 0, the secret does not expire.
        shown["client_secret_expires_at"] = json!(0);
    }
    shown["registration_access_token"] = json!(registration_token);
    Ok(RegistrationAnswer(Status::Created, shown))
}

/// The client whose registration access token is `bearer`; `401` for any
/// other token, and for a client that does not exist (RFC 7592 §2).
async fn registered(
    clients: &Clients,
    client_id: &str,
    bearer: &BearerToken,
) -> Result<Client, RegistrationError> {
    let token = bearer.0.as_deref().unwrap_or_default();
    if token.is_empty() || !clients.registration_token_matches(client_id, token).await? {
        return Err(RegistrationError::InvalidToken);
    }
    clients
        .find(client_id)
        .await?
        .ok_or(RegistrationError::InvalidToken)
}

/// Read a registration (RFC 7592 §2.1).
#[utoipa::path(get, path = "/oauth/register/{client_id}", tag = "oauth",
    params(("client_id" = String, Path)),
    responses((status = 200, description = "The metadata as stored (no secret: only digests are kept)"),
              (status = 401, description = "Not this client's registration access token", body = OAuthErrorBody)))]
#[get("/oauth/register/<client_id>")]
pub async fn read(
    client_id: &str,
    bearer: BearerToken,
    clients: &State<Clients>,
    config: &State<AppConfig>,
) -> Result<RegistrationAnswer, RegistrationError> {
    let client = registered(clients, client_id, &bearer).await?;
    Ok(RegistrationAnswer(
        Status::Ok,
        registration::describe(&client, &client_uri(config, client_id)),
    ))
}

/// Replace a registration (RFC 7592 §2.2); its registration access token is
/// rotated, the new one in this answer.
#[utoipa::path(put, path = "/oauth/register/{client_id}", tag = "oauth",
    params(("client_id" = String, Path)),
    request_body(content = Metadata, content_type = "application/json",
        description = "The whole metadata, as at registration, with client_id"),
    responses((status = 200, description = "The metadata as stored and a new registration_access_token"),
              (status = 400, description = "invalid_redirect_uri or invalid_client_metadata", body = OAuthErrorBody),
              (status = 401, description = "Not this client's registration access token", body = OAuthErrorBody)))]
#[put("/oauth/register/<client_id>", data = "<data>")]
#[allow(clippy::too_many_arguments)]
pub async fn replace(
    client_id: &str,
    bearer: BearerToken,
    address: ClientAddr,
    content_type: Option<&ContentType>,
    data: Data<'_>,
    clients: &State<Clients>,
    config: &State<AppConfig>,
    clock: &State<AppClock>,
) -> Result<RegistrationAnswer, RegistrationError> {
    let client = registered(clients, client_id, &bearer).await?;
    let metadata = metadata(content_type, data).await?;
    // RFC 7592 §2.2: the request names the client, and a secret it sends
    // must be its own.
    if metadata.client_id.as_deref() != Some(client_id) {
        return Err(Refusal::metadata("client_id must be the registration's").into());
    }
    if let Some(secret) = &metadata.client_secret
        && !client.secret_matches(secret)
    {
        return Err(Refusal::metadata("client_secret is not the client's").into());
    }
    let (new, auth) = registration::validate(&metadata, Some(client.auth.method))?;
    let mut kept = client.auth.clone();
    kept.jwks = auth.jwks;
    kept.jwks_uri = auth.jwks_uri;
    let presented = bearer.0.as_deref().unwrap_or_default();
    let rotated = generate_secret();
    let event = Actor::Registration { address: address.0 }.event("client_registration_replaced");
    let replaced = clients
        .replace_registered(
            client_id,
            presented,
            &rotated,
            &new.metadata,
            &kept,
            clock.now(),
            event,
        )
        .await?;
    if !replaced {
        return Err(RegistrationError::InvalidToken);
    }
    let client = clients
        .find(client_id)
        .await?
        .ok_or(RegistrationError::InvalidToken)?;
    let mut shown = registration::describe(&client, &client_uri(config, client_id));
    shown["registration_access_token"] = json!(rotated);
    Ok(RegistrationAnswer(Status::Ok, shown))
}

/// Delete a registration (RFC 7592 §2.3): the client, its codes and
/// refresh tokens go.
#[utoipa::path(delete, path = "/oauth/register/{client_id}", tag = "oauth",
    params(("client_id" = String, Path)),
    responses((status = 204, description = "Deleted"),
              (status = 401, description = "Not this client's registration access token", body = OAuthErrorBody)))]
#[delete("/oauth/register/<client_id>")]
pub async fn remove(
    client_id: &str,
    bearer: BearerToken,
    address: ClientAddr,
    clients: &State<Clients>,
    clock: &State<AppClock>,
) -> Result<Status, RegistrationError> {
    registered(clients, client_id, &bearer).await?;
    let event = Actor::Registration { address: address.0 }.event("client_registration_deleted");
    clients
        .delete_recorded(client_id, clock.now(), event)
        .await?;
    Ok(Status::NoContent)
}
