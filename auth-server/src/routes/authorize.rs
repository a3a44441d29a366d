//! The authorization endpoint (RFC 6749 §4.1.1, `GET`/`POST /oauth/authorize`):
//! a server-rendered login page, then a consent page, then a redirect to
//! the client with a one-time code.
//!
//! - The request is checked by the oxide-auth adapter
//!   (`oxide::authorization_request`): until `client_id` and `redirect_uri` are
//!   known good, errors are shown here and never redirected; after that,
//!   they go back to the client as `error`/`state` parameters.
//! - No JavaScript. Every value on the page is HTML-escaped. Forms carry a
//!   CSRF token that must match a `SameSite=Strict` cookie set by the page.
//! - A successful login starts a sign-in session (`sessions`: a cookie,
//!   hashed in the database), so later requests from the browser skip the
//!   password; consent once given is remembered per client and scope.
//!   OpenID Connect's `prompt` and `max_age` say when neither may be
//!   skipped. The consent form carries a single-use, short-lived ticket
//!   (hashed in the database) naming the signed-in user.

use rocket::http::uri::Origin;
use rocket::http::{CookieJar, Status};
use rocket::{State, get, post};
use secrecy::SecretString;
use shared::scope::ScopeSet;
use url::Url;

use super::form::{OAuthParams, PageForm, TokenFailure};
use super::{csrf, par, session_cookie};
use crate::errors::OAuthError;
use crate::oauth::context::GrantContext;
use crate::oauth::forms::{AuthorizationRequest, Prompt};
use crate::oauth::scope_rules;
use crate::oauth::sign_in::{self, Undecided};
use crate::oxide::authorization_request::{self, Refused, Validated};
use crate::pages::authorization::{
    ForRequest, PageResponse, database_failure, error_page, failed, redirect, unavailable,
};
use crate::store::codes;
use crate::store::sessions::{self, SignedIn};
use crate::store::throttle::{LoginThrottle, MAX_USERNAME_CHARS};
use crate::store::users::{self, User};

/// The fields the authorization page's forms send: the authorization
/// request again, plus the step's own fields.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct AuthorizeForm {
    #[serde(flatten)]
    pub request: AuthorizationRequest,
    /// The CSRF token of the page; must match the `authorize_csrf` cookie.
    #[schema(value_type = String, required = true)]
    pub csrf: Option<String>,
    /// `login`, `allow` or `deny`.
    #[schema(value_type = String, required = true)]
    pub action: Option<String>,
    /// For `login`: the email.
    pub username: Option<String>,
    /// For `login`.
    pub password: Option<String>,
    /// For `allow` and `deny`: the ticket the consent page carries.
    pub ticket: Option<String>,
}

/// The page's view of a validated request.
fn for_request(validated: &Validated) -> ForRequest<'_> {
    let client = &validated.client;
    let request = &validated.request;
    ForRequest {
        client_name: &client.metadata.name,
        hidden: request.sent(),
        redirect_uri: request.redirect_uri.as_deref().or(client
            .metadata
            .redirect_uris
            .first()
            .map(String::as_str)),
    }
}

fn refused(refusal: Refused) -> PageResponse {
    match refusal {
        Refused::Here(message) => error_page(Status::BadRequest, message),
        Refused::Redirect(url) => redirect(url),
        Refused::Failed => failed(),
        Refused::Unavailable(seconds) => unavailable(
            "The service is temporarily unavailable. Please try again in a moment.",
            seconds,
        ),
    }
}

/// The authorization request (RFC 6749 §4.1.1): shows the login page, or an
/// error page when the client or redirect URI is not registered, or
/// redirects an error back to the client.
#[utoipa::path(
    get, path = "/oauth/authorize", tag = "oauth",
    params(AuthorizationRequest),
    responses(
        (status = 200, description = "Login page", content_type = "text/html"),
        (status = 303, description = "Error sent back to the client's redirect URI",
         headers(("Location" = String))),
        (status = 400, description = "Unknown client or unregistered redirect URI (never redirected)", content_type = "text/html"),
    )
)]
#[get("/oauth/authorize")]
pub async fn authorize_page(
    uri: &Origin<'_>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
) -> PageResponse {
    // The same reading as a token request's form: repeated parameters
    // refused, empty ones omitted (RFC 6749 §3.1).
    let query = uri.query().map_or("", |q| q.as_str());
    let request = match OAuthParams::parse(query.as_bytes()).and_then(OAuthParams::into_form) {
        Ok(request) => request,
        Err(error) => return error_page(Status::BadRequest, error.description),
    };
    let validated = match validate(&context, request).await {
        Ok(validated) => validated,
        Err(page) => return page,
    };
    let (prompt, max_age) = match validated.request.prompt() {
        Ok(parsed) => parsed,
        Err(why) => return redirect_error(&validated, "invalid_request", why),
    };
    let now = context.now;
    let session = match session_cookie::current(context.db, jar, now).await {
        Ok(session) => session,
        Err(error) => return database_failure(error),
    };
    // `prompt=login` and an exceeded `max_age` want the password again.
    let session = session.filter(|s| {
        !prompt.login && max_age.is_none_or(|max| now.saturating_sub(s.auth_time) <= max)
    });
    match session {
        Some(session) => {
            let csrf = csrf::AUTHORIZE.issue(jar, context.config);
            let user = match users::find_by_id(context.db, &session.user_id).await {
                Ok(Some(user)) => user,
                Ok(None) => return for_request(&validated).login(&csrf, None, Status::Ok),
                Err(error) => return database_failure(error),
            };
            continue_signed_in(
                &validated,
                &context,
                &user,
                &session.signed_in(),
                prompt,
                &csrf,
            )
            .await
        }
        None if prompt.none => {
            redirect_error(&validated, "login_required", "The user is not signed in.")
        }
        None => {
            let csrf = csrf::AUTHORIZE.issue(jar, context.config);
            for_request(&validated).login(&csrf, None, Status::Ok)
        }
    }
}

/// The request as sent, or the one its `request_uri` names (RFC 9126),
/// checked; a client that must push (`--require-par`, `REQUIRE_PAR`) is
/// refused anything else.
async fn validate(
    context: &GrantContext<'_>,
    request: crate::oauth::forms::AuthorizationRequest,
) -> Result<Validated, PageResponse> {
    let request = par::resolve(context, request).await?;
    let validated = authorization_request::validate(context, request)
        .await
        .map_err(refused)?;
    if !par::allowed(
        context,
        &validated.request,
        validated.client.auth.require_par,
    ) {
        return Err(redirect_error(
            &validated,
            "invalid_request",
            "This client's authorization requests must be pushed to /oauth/par first.",
        ));
    }
    Ok(validated)
}

/// An error sent back to the client's (registered, already checked)
/// redirect URI, with `state` (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
fn redirect_error(validated: &Validated, code: &str, description: &str) -> PageResponse {
    let Some(Ok(mut url)) = validated.request.redirect_uri.as_deref().map(Url::parse) else {
        return failed();
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("error", code);
        query.append_pair("error_description", description);
        if let Some(state) = validated.request.state.as_deref() {
            query.append_pair("state", state);
        }
    }
    redirect(url)
}

/// The user is known (a session, or the password just now), `signed_in`
/// as it says: a code at once when every scope was consented to before,
/// else the consent page.
async fn continue_signed_in(
    validated: &Validated,
    context: &GrantContext<'_>,
    user: &User,
    signed_in: &SignedIn,
    prompt: Prompt,
    csrf: &str,
) -> PageResponse {
    let (db, now) = (context.db, context.now);
    // What this user can grant of it; nothing at all is refused before
    // consent is looked up, so an empty grant never passes as consented.
    let scope = match users_share(validated, user) {
        Ok(scope) => scope,
        Err(error) => return redirect_error(validated, error.code.as_str(), error.description),
    };
    if !prompt.consent {
        match sessions::has_consent(db, &user.id, &validated.client.id, &scope).await {
            Ok(true) => return grant_code(validated, context, user, signed_in).await,
            Ok(false) => {}
            Err(error) => return database_failure(error),
        }
    }
    if prompt.none {
        return redirect_error(
            validated,
            "consent_required",
            "The user has not allowed this application yet.",
        );
    }
    let ticket = match codes::create_login_ticket(
        db,
        &user.id,
        &validated.client.id,
        signed_in,
        now,
    )
    .await
    {
        Ok(ticket) => ticket,
        Err(error) => return database_failure(error),
    };
    for_request(validated).consent(csrf, &ticket, &user.email, &scope)
}

/// The negotiated scope narrowed to what `user` holds, or the
/// `invalid_scope` to redirect when nothing is left (API.md: a granted
/// scope is never empty).
fn users_share(validated: &Validated, user: &User) -> Result<ScopeSet, OAuthError> {
    scope_rules::narrowed(&validated.scope, &scope_rules::user_scopes(user)).inspect_err(|_| {
        tracing::info!(client_id = %validated.client.id, "nothing of the scope to grant");
    })
}

/// Stores a code for `user`, `signed_in` as it says, and redirects it to
/// the client.
async fn grant_code(
    validated: &Validated,
    context: &GrantContext<'_>,
    user: &User,
    signed_in: &SignedIn,
) -> PageResponse {
    // A pushed request serves one authorization, whoever gets here first.
    match par::spend(context, &validated.request).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                Status::BadRequest,
                "invalid_request_uri: this request_uri was already used or has expired.",
            );
        }
        Err(page) => return page,
    }
    match authorization_request::authorize(context, validated, user, signed_in).await {
        Ok(url) => {
            tracing::info!(user_id = %user.id, client_id = %validated.client.id, "authorization code issued");
            redirect(url)
        }
        Err(Some(url)) => redirect(url),
        Err(None) => failed(),
    }
}

/// The login and consent forms of the authorization page.
#[utoipa::path(
    post, path = "/oauth/authorize", tag = "oauth",
    request_body(content = AuthorizeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Consent page after a successful login", content_type = "text/html"),
        (status = 303, description = "Redirect to the client with `code` and `state`, or with `error`",
         headers(("Location" = String))),
        (status = 401, description = "Wrong email or password: the login page again", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or wrong", content_type = "text/html"),
        (status = 429, description = "Too many failed logins", content_type = "text/html",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Database unreachable, or too many sign-ins waiting", content_type = "text/html",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/oauth/authorize", data = "<form>")]
pub async fn authorize_submit(
    form: Result<PageForm<AuthorizeForm>, TokenFailure>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
) -> PageResponse {
    let form = match form {
        Ok(PageForm(form)) => form,
        Err(failure) => return failure.page(),
    };
    let AuthorizeForm {
        request,
        csrf,
        action,
        username,
        password,
        ticket,
    } = form;
    let validated = match validate(&context, request).await {
        Ok(validated) => validated,
        Err(page) => return page,
    };
    let db = context.db;
    if !csrf::AUTHORIZE.matches(jar, csrf.as_deref()) {
        return error_page(
            Status::Forbidden,
            "This form has expired or was not sent from this site. Please start again from the application.",
        );
    }
    let now = context.now;
    match action.as_deref() {
        Some("login") => {
            // The token that matched stays: a page without a form (a 503,
            // say) must not leave the browser's Back button holding a form
            // whose token no longer matches.
            let form = SignInForm {
                username,
                password,
                csrf: csrf.unwrap_or_default(),
            };
            login(&validated, form, jar, &context, throttle).await
        }
        Some("allow") => consent(&validated, ticket, &context).await,
        Some("deny") => {
            if let Some(ticket) = ticket {
                // Spend it so the same page cannot be answered twice.
                let _ = codes::take_login_ticket(db, &ticket, &validated.client.id, now).await;
            }
            match authorization_request::deny(&context, &validated) {
                Some(url) => redirect(url),
                None => failed(),
            }
        }
        _ => error_page(Status::BadRequest, "The form is malformed."),
    }
}

/// What the sign-in form sent; its CSRF token already matched the cookie.
struct SignInForm {
    username: Option<String>,
    password: Option<String>,
    csrf: String,
}

async fn login(
    validated: &Validated,
    form: SignInForm,
    jar: &CookieJar<'_>,
    context: &GrantContext<'_>,
    throttle: &LoginThrottle,
) -> PageResponse {
    let (db, config, now) = (context.db, context.config, context.now);
    let page = for_request(validated);
    let csrf = form.csrf.as_str();
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return page.login(
            csrf,
            Some("Enter your email and password."),
            Status::BadRequest,
        );
    };
    if username.chars().count() > MAX_USERNAME_CHARS {
        return page.login(csrf, Some("That email is too long."), Status::BadRequest);
    }
    let account = username.trim().to_lowercase();
    let password = SecretString::from(password);
    let address = context.meta.client_ip;
    let checked = sign_in::check(db, throttle, &account, address, password, now).await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => {
            let again = page.sign_in(
                csrf,
                &account,
                Some("The email or password is incorrect."),
                Status::Unauthorized,
            );
            return page.towards(again);
        }
        Err(Undecided::Throttled(wait)) => {
            let again = page.sign_in(
                csrf,
                &account,
                Some("Too many failed attempts. Please wait a while and try again."),
                Status::TooManyRequests,
            );
            // As at the token endpoint (API.md: 429 with Retry-After).
            return page.towards(again.retry_after(wait));
        }
        Err(Undecided::Busy(busy)) => {
            return unavailable(
                "Too many sign-ins are waiting. Please try again in a moment.",
                busy.retry_after,
            );
        }
        Err(Undecided::Database(error)) => return database_failure(error),
    };
    // Later authorization requests from this browser skip the password.
    let sid = match session_cookie::start(db, jar, config, &user.id, now).await {
        Ok(sid) => sid,
        Err(error) => return database_failure(error),
    };
    // The prompt was parsed on the way to this form; `login` is now done.
    let prompt = validated
        .request
        .prompt()
        .map(|(prompt, _)| Prompt {
            login: false,
            ..prompt
        })
        .unwrap_or_default();
    let signed_in = SignedIn {
        auth_time: now,
        sid: Some(sid),
    };
    continue_signed_in(validated, context, &user, &signed_in, prompt, csrf).await
}

async fn consent(
    validated: &Validated,
    ticket: Option<String>,
    context: &GrantContext<'_>,
) -> PageResponse {
    let (db, now) = (context.db, context.now);
    let signed_in = match ticket {
        Some(ticket) => {
            match codes::take_login_ticket(db, &ticket, &validated.client.id, now).await {
                Ok(signed_in) => signed_in,
                Err(error) => return database_failure(error),
            }
        }
        None => None,
    };
    let Some((user_id, signed_in)) = signed_in else {
        return error_page(
            Status::BadRequest,
            "Your login has expired. Please start again from the application.",
        );
    };
    let user = match users::find_by_id(db, &user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return error_page(Status::BadRequest, "Your account no longer exists."),
        Err(error) => return database_failure(error),
    };
    // The code carries what the user holds of the negotiated scope, and
    // the answer is remembered for the next request of this client.
    let scope = match users_share(validated, &user) {
        Ok(scope) => scope,
        Err(error) => return redirect_error(validated, error.code.as_str(), error.description),
    };
    if let Err(error) =
        sessions::remember_consent(db, &user.id, &validated.client.id, &scope, now).await
    {
        return database_failure(error);
    }
    grant_code(validated, context, &user, &signed_in).await
}
