//! The answers of the authorization and logout endpoints to a browser: a
//! page, or a redirect to the client ([`PageResponse`]), and the pages
//! themselves — sign-in and consent for one authorization request
//! ([`ForRequest`]), and the error, failure and signed-out pages.
//!
//! A page whose form may end in a redirect to the client allows that
//! client's redirect origin in its Content-Security-Policy (`form-action`
//! applies to the redirects that follow a form post).

use rocket::http::Status;
use rocket::response::Redirect;
use shared::scope::ScopeSet;
use url::Url;

use super::chrome::{ScopeLine, describe_scope};
use super::page::{Consent, Page, SignIn, View};
use crate::store::throttle::MAX_USERNAME_CHARS;

/// The page or the redirect. One per request, so the variants' sizes do
/// not matter.
#[allow(clippy::large_enum_variant)]
#[derive(rocket::Responder)]
pub enum PageResponse {
    Page(Page),
    Redirect(Redirect),
}

/// A redirect to the client (its URI checked against its registration).
pub fn redirect(url: Url) -> PageResponse {
    PageResponse::Redirect(Redirect::to(url.to_string()))
}

/// A page that says what went wrong, never redirected.
pub fn error_page(status: Status, message: &str) -> PageResponse {
    PageResponse::Page(Page::error(status, message))
}

/// Our failure (already logged).
pub fn failed() -> PageResponse {
    error_page(
        Status::InternalServerError,
        "Something went wrong. Please try again later.",
    )
}

/// `503` with `Retry-After`: we cannot do it now, but soon can.
pub fn unavailable(message: &str, retry_after: u64) -> PageResponse {
    PageResponse::Page(Page::error(Status::ServiceUnavailable, message).retry_after(retry_after))
}

/// A database failure on a page endpoint: `503` while it is unreachable,
/// else our failure.
pub fn database_failure(error: sqlx::Error) -> PageResponse {
    if platform::db::is_unavailable(&error) {
        tracing::warn!(%error, "database unavailable on a page endpoint");
        return unavailable(
            "The service is temporarily unavailable. Please try again in a moment.",
            platform::db::OUTAGE_RETRY_AFTER,
        );
    }
    tracing::error!(%error, "database error on a page endpoint");
    failed()
}

/// RP-Initiated Logout without a registered place to go back to.
pub fn signed_out() -> PageResponse {
    PageResponse::Page(Page::new(Status::Ok, View::SignedOut))
}

/// The authorization request a page serves: whose it is, what its forms
/// carry on, and where they may end up.
pub struct ForRequest<'a> {
    pub client_name: &'a str,
    /// The authorization request's parameters, carried through the forms.
    pub hidden: Vec<(&'static str, String)>,
    /// The client's redirect URI: where a form of the page may end up.
    pub redirect_uri: Option<&'a str>,
}

impl ForRequest<'_> {
    /// A page whose form may end in a redirect to the client.
    pub fn towards(&self, page: Page) -> PageResponse {
        PageResponse::Page(match self.redirect_uri {
            Some(uri) => page.posting_towards(uri),
            None => page,
        })
    }

    /// The sign-in form, keeping what the person typed as their email.
    pub fn sign_in(&self, csrf: &str, username: &str, error: Option<&str>, status: Status) -> Page {
        let view = View::SignIn(SignIn {
            client_name: self.client_name.to_owned(),
            csrf: csrf.to_owned(),
            hidden: self.hidden.clone(),
            error: error.map(str::to_owned),
            username: username.chars().take(MAX_USERNAME_CHARS).collect(),
        });
        Page::new(status, view)
    }

    /// The sign-in form with nothing typed yet.
    pub fn login(&self, csrf: &str, error: Option<&str>, status: Status) -> PageResponse {
        self.towards(self.sign_in(csrf, "", error, status))
    }

    /// The consent form of the signed-in `email`, for `scope`.
    pub fn consent(&self, csrf: &str, ticket: &str, email: &str, scope: &ScopeSet) -> PageResponse {
        let view = View::Consent(Consent {
            client_name: self.client_name.to_owned(),
            csrf: csrf.to_owned(),
            hidden: self.hidden.clone(),
            ticket: ticket.to_owned(),
            email: email.to_owned(),
            scopes: scope
                .iter()
                .map(|name| ScopeLine {
                    name: name.to_owned(),
                    what: describe_scope(name),
                })
                .collect(),
        });
        self.towards(Page::new(Status::Ok, view))
    }
}
