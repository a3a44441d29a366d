//! The Rocket adapter of [`crate::access`] (feature `rocket`): the
//! [`Authenticated`] request guard, the responder that sends an
//! [`AccessError`] as its [`Refusal`], and the catchers that do the same
//! for a refused guard. Put an [`Authenticator`] in Rocket's managed state
//! and register [`catchers`]; every decision is the Authenticator's.
//!
//! The guard fails with an error outcome, never `None`: a route that takes
//! `Authenticated` cannot run for a request whose token was refused, and a
//! forged token can never pass for an anonymous request. The failure is
//! kept in the request's local cache so that the catchers, which Rocket
//! calls without the guard's error, can still send the right challenge.

use std::io::Cursor;

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Responder, Response};

use crate::access::{AccessError, Authenticated, Authenticator, Challenge, RequestHead};
use crate::problem::Problem;
use crate::verifier::TokenRejection;

impl RequestHead for Request<'_> {
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        // Rocket has dropped any value that is not UTF-8 already.
        self.headers().get(name)
    }

    fn method(&self) -> &str {
        Request::method(self).as_str()
    }

    fn path(&self) -> &str {
        self.uri().path().as_str()
    }
}

/// What the guard decided for this request, kept for the catchers.
struct GuardOutcome(Option<Result<Authenticated, AccessError>>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Authenticated {
    type Error = AccessError;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let outcome = request
            .local_cache_async(async { GuardOutcome(Some(authenticate(request).await)) })
            .await;
        match &outcome.0 {
            Some(Ok(auth)) => Outcome::Success(auth.clone()),
            Some(Err(error)) => Outcome::Error((Status::new(error.status()), error.clone())),
            // Unreachable: we just stored Some; fail closed regardless.
            None => {
                let error = AccessError::Missing;
                Outcome::Error((Status::new(error.status()), error))
            }
        }
    }
}

async fn authenticate(request: &Request<'_>) -> Result<Authenticated, AccessError> {
    match request.rocket().state::<Authenticator>() {
        Some(auth) => auth.authenticate(request).await,
        None => {
            tracing::error!("no Authenticator is managed; refusing every request");
            Err(AccessError::InvalidToken(TokenRejection::UnknownKey))
        }
    }
}

impl<'r> Responder<'r, 'static> for AccessError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let refusal = match request.rocket().state::<Authenticator>() {
            Some(auth) => auth.refusal(&self),
            None => Challenge::new("api").refusal(&self),
        };
        let mut response = Response::build();
        response.status(Status::new(refusal.status));
        for (name, value) in refusal.headers {
            response.header(Header::new(name, value));
        }
        response
            .sized_body(refusal.body.len(), Cursor::new(refusal.body))
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

fn guard_error(request: &Request<'_>) -> Option<AccessError> {
    match &request.local_cache(|| GuardOutcome(None)).0 {
        Some(Err(error)) => Some(error.clone()),
        _ => None,
    }
}

/// A refused guard answers with its challenge; anything else with a plain
/// problem for `status`.
enum Caught {
    Refused(AccessError),
    Plain(Problem),
}

impl<'r> Responder<'r, 'static> for Caught {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        match self {
            Caught::Refused(error) => error.respond_to(request),
            Caught::Plain(problem) => problem.respond_to(request),
        }
    }
}

#[rocket::catch(400)]
fn bad_request(request: &Request<'_>) -> Caught {
    match guard_error(request) {
        Some(error) => Caught::Refused(error),
        None => Caught::Plain(Problem::new(400, "The request could not be understood.")),
    }
}

#[rocket::catch(401)]
fn unauthorized(request: &Request<'_>) -> Caught {
    Caught::Refused(guard_error(request).unwrap_or(AccessError::Missing))
}

#[rocket::catch(403)]
fn forbidden(request: &Request<'_>) -> Caught {
    match guard_error(request) {
        Some(error) => Caught::Refused(error),
        None => Caught::Plain(Problem::new(403, "Not allowed.")),
    }
}
