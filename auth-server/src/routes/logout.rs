//! OpenID Connect RP-Initiated Logout 1.0 (`GET`/`POST /oauth/logout`):
//! the sign-in session (`sessions`) ends everywhere. It redirects only to a
//! `post_logout_redirect_uri` registered for the client that an
//! `id_token_hint` we signed (or `client_id`) names; anything else gets a
//! page, never a redirect. A session ends at once only for an
//! `id_token_hint` of its own user; otherwise the person is asked, and only
//! the form posted back with the page's CSRF token ends it, so a link or an
//! `<img>` elsewhere cannot sign anyone out.

use rocket::http::{CookieJar, Status};
use rocket::{get, post};
use serde::Deserialize;

use super::form::{PageForm, TokenFailure};
use super::{csrf, session_cookie};
use crate::oauth::context::GrantContext;
use crate::oauth::own_tokens::own_id_token;
use crate::pages::authorization::{
    PageResponse, database_failure, error_page, redirect, signed_out,
};
use crate::pages::page::{ConfirmSignOut, Page, View};
use crate::store::events::{self, Event};
use crate::store::sessions::Session;
use crate::store::users;

/// RFC 3986 limits nothing, but nothing legitimate is this long.
const MAX_PARAM_CHARS: usize = 8 * 1024;

/// The parameters of an RP-Initiated Logout request (§2), by `GET` or
/// `POST`; a parameter sent without a value is omitted (RFC 6749 §3.1).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl LogoutRequest {
    /// The request of a `GET`, whose values Rocket reads from the query.
    fn of_query(values: [Option<&str>; 4]) -> LogoutRequest {
        let [id_token_hint, client_id, post_logout_redirect_uri, state] =
            values.map(|v| v.filter(|v| !v.is_empty()).map(str::to_owned));
        LogoutRequest {
            id_token_hint,
            client_id,
            post_logout_redirect_uri,
            state,
        }
    }
}

/// OpenID RP-Initiated Logout 1.0: ends the sign-in session, then sends the
/// browser to a registered `post_logout_redirect_uri` (with `state`), or
/// shows a "signed out" page. Without an `id_token_hint` we signed for the
/// signed-in user, it first asks the person (a form posted back here with
/// a CSRF token), so that a link or an image cannot sign anyone out.
#[utoipa::path(
    get, path = "/oauth/logout", tag = "oauth",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An id_token we issued to the client for the signed-in user; without one the person is asked to confirm"),
        ("client_id" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered with `clients create --post-logout-redirect-uri`"),
        ("state" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Signed out, or (signed in, no valid id_token_hint) the page asking to confirm", content_type = "text/html"),
        (status = 303, description = "Signed out, back to the client's post-logout redirect URI", headers(("Location" = String))),
        (status = 400, description = "Invalid id_token_hint, or an unregistered post_logout_redirect_uri (never redirected)", content_type = "text/html"),
    )
)]
#[get("/oauth/logout?<id_token_hint>&<client_id>&<post_logout_redirect_uri>&<state>")]
pub async fn logout(
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
) -> PageResponse {
    let request =
        LogoutRequest::of_query([id_token_hint, client_id, post_logout_redirect_uri, state]);
    end_session(request, false, jar, &context).await
}

/// The form of a logout by `POST`: the RP-Initiated Logout parameters
/// (§2 allows `POST`), and from the confirmation page its CSRF token.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LogoutForm {
    #[serde(flatten)]
    pub request: LogoutRequest,
    /// The confirmation page's CSRF token; must match its `logout_csrf`
    /// cookie.
    pub csrf: Option<String>,
}

/// RP-Initiated Logout by `POST`, and the answer of the confirmation page:
/// with a CSRF token that matches the page's cookie, the session ends.
#[utoipa::path(
    post, path = "/oauth/logout", tag = "oauth",
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "As GET", content_type = "text/html"),
        (status = 303, description = "As GET", headers(("Location" = String))),
        (status = 400, description = "As GET, or a malformed form", content_type = "text/html"),
        (status = 403, description = "A CSRF token that does not match: nothing ends", content_type = "text/html"),
    )
)]
#[post("/oauth/logout", data = "<form>")]
pub async fn logout_submit(
    form: Result<PageForm<LogoutForm>, TokenFailure>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
) -> PageResponse {
    let form = match form {
        Ok(PageForm(form)) => form,
        Err(failure) => return failure.page(),
    };
    let confirmed = match form.csrf.as_deref() {
        None => false,
        Some(token) if csrf::LOGOUT.matches(jar, Some(token)) => true,
        Some(_) => {
            return error_page(
                Status::Forbidden,
                "This form has expired or was not sent from this site. You are still signed in.",
            );
        }
    };
    end_session(form.request, confirmed, jar, &context).await
}

/// Checks a logout request, then ends the session when the person asked
/// for it: by confirming, or through an application that holds an
/// id_token of theirs. Anything else that would end a session asks first.
async fn end_session(
    request: LogoutRequest,
    confirmed: bool,
    jar: &CookieJar<'_>,
    context: &GrantContext<'_>,
) -> PageResponse {
    let (db, config, keys) = (context.db, context.config, context.tokens.keys());
    let params = [
        &request.id_token_hint,
        &request.client_id,
        &request.post_logout_redirect_uri,
        &request.state,
    ];
    if params
        .iter()
        .filter_map(|v| v.as_deref())
        .any(|v| v.len() > MAX_PARAM_CHARS)
    {
        return error_page(Status::BadRequest, "The logout request is too large.");
    }
    let hint = match request.id_token_hint.as_deref() {
        Some(hint) => match own_id_token(keys, config, hint) {
            Some(hint) => Some(hint),
            None => {
                return error_page(
                    Status::BadRequest,
                    "The id_token_hint was not issued by this server.",
                );
            }
        },
        None => None,
    };
    let client_id = match (hint.as_ref().map(|(_, aud)| aud), request.client_id) {
        (Some(hinted), Some(named)) if *hinted != named => {
            return error_page(
                Status::BadRequest,
                "The id_token_hint was issued to another client.",
            );
        }
        (hinted, named) => hinted.cloned().or(named),
    };
    let target_uri = request.post_logout_redirect_uri;
    let target = match target_uri.as_deref() {
        None => None,
        Some(uri) => {
            let client = match client_id.as_deref() {
                Some(id) => match context.clients.find(id).await {
                    Ok(client) => client,
                    Err(error) => return database_failure(error),
                },
                None => None,
            };
            let registered = client.as_ref().is_some_and(|c| {
                c.metadata
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return error_page(
                    Status::BadRequest,
                    "The post_logout_redirect_uri is not registered for this client.",
                );
            }
            match url::Url::parse(uri) {
                Ok(url) => Some(url),
                Err(_) => {
                    return error_page(
                        Status::BadRequest,
                        "The post_logout_redirect_uri is not a valid URL.",
                    );
                }
            }
        }
    };
    let session = match session_cookie::current(db, jar, context.now).await {
        Ok(session) => session,
        Err(error) => return database_failure(error),
    };
    // A hint names the person it was issued for; one of someone else's
    // (anyone can hold their own) proves nothing about this browser.
    let hinted_here = |session: &Session| {
        hint.as_ref()
            .is_some_and(|(sub, _)| *sub == session.user_id)
    };
    let ended = session.as_ref().map(|s| s.user_id.clone());
    if let Some(session) = session.filter(|s| !confirmed && !hinted_here(s)) {
        let hidden = [
            ("client_id", client_id),
            ("post_logout_redirect_uri", target_uri),
            ("state", request.state),
        ];
        return confirm_page(jar, context, &session, hidden, target.as_ref()).await;
    }
    if let Err(error) = session_cookie::end(db, jar, context.now).await {
        return database_failure(error);
    }
    if let Some(user_id) = ended {
        let mut logout = Event::new("logout")
            .address(context.meta.client_ip)
            .subject(user_id)
            .detail("confirmed", confirmed);
        if let Some(client_id) = &client_id {
            logout = logout.client(client_id.as_str());
        }
        events::record(db, logout, context.now).await;
    }
    match target {
        Some(mut url) => {
            if let Some(state) = request.state {
                url.query_pairs_mut().append_pair("state", &state);
            }
            redirect(url)
        }
        None => signed_out(),
    }
}

/// The page asking the signed-in person whether to sign out, its form
/// carrying the request on with a fresh CSRF token.
async fn confirm_page(
    jar: &CookieJar<'_>,
    context: &GrantContext<'_>,
    session: &Session,
    hidden: [(&'static str, Option<String>); 3],
    target: Option<&url::Url>,
) -> PageResponse {
    let user = match users::find_by_id(context.db, &session.user_id).await {
        Ok(user) => user,
        Err(error) => return database_failure(error),
    };
    let view = View::ConfirmSignOut(ConfirmSignOut {
        csrf: csrf::LOGOUT.issue(jar, context.config),
        hidden: hidden
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .collect(),
        email: user.map(|u| u.email).unwrap_or_default(),
    });
    let page = Page::new(Status::Ok, view);
    // The confirmed form may end in the redirect to the client.
    PageResponse::Page(match target {
        Some(target) => page.posting_towards(target.as_str()),
        None => page,
    })
}
