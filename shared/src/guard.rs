//! The Rocket side of bearer authentication (feature `rocket`): the
//! [`Authenticated`] request guard, the one-line scope check, and the
//! responder and catchers that turn every [`BearerError`] into its RFC 6750
//! status and `WWW-Authenticate` challenge with a problem+json body.
//!
//! The guard fails with an error outcome, never `None`: a route that takes
//! `Authenticated` cannot run for a request whose token was refused, and a
//! forged token can never pass for an anonymous request. The failure is
//! kept in the request's local cache so that the catchers, which Rocket
//! calls without the guard's error, can still send the right challenge.

use std::io::Cursor;
use std::sync::Arc;

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};

use crate::bearer::{self, BearerError};
use crate::claims::AccessTokenClaims;
use crate::clock::Clock;
use crate::problem::{CONTENT_TYPE, Problem};
use crate::scope::{Scope, ScopeSet};
use crate::verifier::Verifier;

/// Managed state the guard needs: put it in Rocket with `.manage(...)`.
pub struct BearerAuth {
    verifier: Arc<Verifier>,
    clock: Arc<dyn Clock>,
    realm: String,
}

impl BearerAuth {
    pub fn new(verifier: Arc<Verifier>, clock: Arc<dyn Clock>, realm: impl Into<String>) -> Self {
        BearerAuth {
            verifier,
            clock,
            realm: realm.into(),
        }
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }
}

/// The caller, proven by a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The user's id, or the client's id for a client-credentials token.
    pub sub: String,
    pub scopes: ScopeSet,
    pub claims: AccessTokenClaims,
}

impl Authenticated {
    /// The scope check a route declares in one line:
    /// `auth.require(Scope::ProfileWrite)?;`
    pub fn require(&self, scope: Scope) -> Result<(), BearerError> {
        self.require_any(scope, &[])
    }

    /// Passes when the token has `needed` or any of `alternatives`; the
    /// challenge names `needed`.
    pub fn require_any(&self, needed: Scope, alternatives: &[Scope]) -> Result<(), BearerError> {
        let granted =
            self.scopes.has(needed) || alternatives.iter().any(|scope| self.scopes.has(*scope));
        if granted {
            metrics::counter!("scope_checks_total", "outcome" => "granted").increment(1);
            Ok(())
        } else {
            metrics::counter!("scope_checks_total", "outcome" => "insufficient_scope").increment(1);
            Err(BearerError::InsufficientScope(needed))
        }
    }
}

/// What the guard decided for this request, kept for the catchers.
struct GuardOutcome(Option<Result<Authenticated, BearerError>>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Authenticated {
    type Error = BearerError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let outcome = request
            .local_cache_async(async { GuardOutcome(Some(authenticate(request).await)) })
            .await;
        match &outcome.0 {
            Some(Ok(auth)) => Outcome::Success(auth.clone()),
            Some(Err(error)) => Outcome::Error((status_of(error), error.clone())),
            // Unreachable: we just stored Some; fail closed regardless.
            None => {
                let error = BearerError::Missing;
                Outcome::Error((status_of(&error), error))
            }
        }
    }
}

async fn authenticate(request: &Request<'_>) -> Result<Authenticated, BearerError> {
    let token = bearer::token_from_headers(request.headers().get("Authorization"));
    let result = match (token, request.rocket().state::<BearerAuth>()) {
        (Err(error), _) => Err(error),
        (Ok(_), None) => {
            tracing::error!("BearerAuth is not managed; refusing every token");
            Err(BearerError::InvalidToken(
                crate::verifier::TokenRejection::UnknownKey,
            ))
        }
        (Ok(token), Some(auth)) => auth
            .verifier
            .verify(token, auth.clock.now())
            .await
            .map(|verified| Authenticated {
                sub: verified.claims.sub.clone(),
                scopes: verified.scopes,
                claims: verified.claims,
            })
            .map_err(|rejection| {
                // The reason, never the token.
                tracing::info!(reason = %rejection, "bearer token refused");
                BearerError::InvalidToken(rejection)
            }),
    };
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(error) => error.label(),
    };
    metrics::counter!("token_checks_total", "outcome" => outcome).increment(1);
    result
}

fn status_of(error: &BearerError) -> Status {
    Status::new(error.status())
}

impl<'r> Responder<'r, 'static> for BearerError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let realm = request
            .rocket()
            .state::<BearerAuth>()
            .map(|auth| auth.realm.as_str())
            .unwrap_or("api");
        let problem = Problem::new(self.status(), self.description());
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let content_type = ContentType::parse_flexible(CONTENT_TYPE).unwrap_or(ContentType::JSON);
        Response::build()
            .status(status_of(&self))
            .header(content_type)
            .header(Header::new(
                "WWW-Authenticate",
                self.www_authenticate(realm),
            ))
            .header(Header::new("Cache-Control", "no-store"))
            .sized_body(body.len(), Cursor::new(body))
            .ok()
    }
}

/// Catchers for 400, 401 and 403 that answer a refused guard with its
/// RFC 6750 challenge. Register them next to `problem::catchers()`; they
/// take precedence for their codes. A 401 from elsewhere still gets the
/// bare challenge that RFC 9110 requires of every 401.
pub fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![bad_request, unauthorized, forbidden]
}

fn guard_error(request: &Request<'_>) -> Option<BearerError> {
    match &request.local_cache(|| GuardOutcome(None)).0 {
        Some(Err(error)) => Some(error.clone()),
        _ => None,
    }
}

/// A refused guard answers with its challenge; anything else with a plain
/// problem for `status`.
enum Caught {
    Bearer(BearerError),
    Plain(Problem),
}

impl<'r> Responder<'r, 'static> for Caught {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        match self {
            Caught::Bearer(error) => error.respond_to(request),
            Caught::Plain(problem) => problem.respond_to(request),
        }
    }
}

#[rocket::catch(400)]
fn bad_request(request: &Request<'_>) -> Caught {
    match guard_error(request) {
        Some(error) => Caught::Bearer(error),
        None => Caught::Plain(Problem::new(400, "The request could not be understood.")),
    }
}

#[rocket::catch(401)]
fn unauthorized(request: &Request<'_>) -> Caught {
    Caught::Bearer(guard_error(request).unwrap_or(BearerError::Missing))
}

#[rocket::catch(403)]
fn forbidden(request: &Request<'_>) -> Caught {
    match guard_error(request) {
        Some(error) => Caught::Bearer(error),
        None => Caught::Plain(Problem::new(403, "Not allowed.")),
    }
}
