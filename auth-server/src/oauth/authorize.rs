//! The authorization endpoint (RFC 6749 §4.1.1, `GET`/`POST /oauth/authorize`):
//! a server-rendered login page, then a consent page, then a redirect to
//! the client with a one-time code.
//!
//! - Until `client_id` and `redirect_uri` are known good (registered, compared
//!   exactly), errors are shown here and never redirected: a redirect to an
//!   unchecked URI would make us an open redirector (RFC 6749 §4.1.2.1).
//!   After that, errors go back to the client as `error`/`state` parameters.
//! - No JavaScript. Every value on the page is HTML-escaped. Forms carry a
//!   CSRF token that must match a `SameSite=Strict` cookie set by the page.
//! - A successful login starts a sign-in session (`sessions`: a cookie,
//!   hashed in the database), so later requests from the browser skip the
//!   password; consent once given is remembered per client and scope.
//!   OpenID Connect's `prompt` and `max_age` say when neither may be
//!   skipped. The consent form carries a single-use, short-lived ticket
//!   (hashed in the database) naming the signed-in user.

use std::borrow::Cow;

use oxide_auth::code_grant::authorization::{
    Error as AuthorizationError, Request as AuthorizationRequest,
};
use oxide_auth::primitives::registrar::ExactUrl;
use oxide_auth_async::code_grant::authorization::{Pending, authorization_code};
use rocket::data::Data;
use rocket::http::uri::Origin;
use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::response::Redirect;
use rocket::{State, get, post};
use secrecy::SecretString;
use shared::scope::ScopeSet;
use url::Url;

use super::primitives::GrantEndpoint;
use super::sign_in;
use super::{
    GrantContext, OAuthParams, RequestMeta, TokenFailure, csrf, read_page_form, scope_rules,
};
use crate::config::AppConfig;
use crate::errors::OAuthError;
use crate::pages::{self, Consent, Page, ScopeLine, SignIn, View};
use crate::store::clients::Client;
use crate::store::throttle::{LoginThrottle, MAX_USERNAME_CHARS};
use crate::store::users;
use crate::store::{codes, sessions};

/// The page or the redirect. One per request, so the variants' sizes do
/// not matter.
#[allow(clippy::large_enum_variant)]
#[derive(rocket::Responder)]
pub enum AuthorizeResponse {
    Page(Page),
    Redirect(Redirect),
}

/// Adds the authorization pages' security headers to every response of
/// `/oauth/authorize`, whoever made it: a page (which brings its own
/// Content-Security-Policy), a redirect to the client (whose URL must not
/// leak through `Referer`), or a catcher's error.
pub fn security_headers() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_response("authorization page headers", |request, response| {
        Box::pin(async move {
            if !matches!(
                request.uri().path().as_str(),
                "/oauth/authorize" | "/oauth/logout"
            ) {
                return;
            }
            response.set_header(Header::new("Referrer-Policy", "no-referrer"));
            if !response.headers().contains("Content-Security-Policy") {
                response.set_header(Header::new(
                    "Content-Security-Policy",
                    pages::content_security_policy(None),
                ));
            }
            response.set_header(Header::new("X-Frame-Options", "DENY"));
        })
    })
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
#[derive(Debug, Clone, Default)]
struct AuthParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    /// OpenID Connect: echoed in the id_token.
    nonce: Option<String>,
    /// OpenID Connect: `none`, `login`, `consent` (space-separated).
    prompt: Option<String>,
    /// OpenID Connect: seconds since the sign-in beyond which the user must
    /// type their password again.
    max_age: Option<String>,
    /// RFC 8707: the resource the access token is for.
    resource: Option<String>,
}

impl AuthParams {
    const NAMES: [&'static str; 11] = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "prompt",
        "max_age",
        "resource",
    ];

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> AuthParams {
        // RFC 6749 §3.1: a parameter sent without a value is omitted.
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        AuthParams {
            response_type: get("response_type"),
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            scope: get("scope"),
            state: get("state"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            nonce: get("nonce"),
            prompt: get("prompt"),
            max_age: get("max_age"),
            resource: get("resource"),
        }
    }

    fn values(&self) -> [(&'static str, Option<&str>); 11] {
        let v = [
            self.response_type.as_deref(),
            self.client_id.as_deref(),
            self.redirect_uri.as_deref(),
            self.scope.as_deref(),
            self.state.as_deref(),
            self.code_challenge.as_deref(),
            self.code_challenge_method.as_deref(),
            self.nonce.as_deref(),
            self.prompt.as_deref(),
            self.max_age.as_deref(),
            self.resource.as_deref(),
        ];
        let mut out = [("", None); 11];
        for (i, name) in Self::NAMES.iter().enumerate() {
            out[i] = (*name, v[i]);
        }
        out
    }
}

/// The fields the authorization page's forms send: the authorization
/// request again, plus the step's own fields.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AuthorizeForm {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    resource: Option<String>,
    /// The CSRF token of the page; must match the `authorize_csrf` cookie.
    csrf: String,
    /// `login`, `allow` or `deny`.
    action: String,
    /// For `login`: the email.
    username: Option<String>,
    /// For `login`.
    password: Option<String>,
    /// For `allow` and `deny`: the ticket the consent page carries.
    ticket: Option<String>,
}

/// The authorization request as oxide-auth's flow reads it.
struct AuthorizeRequest<'a>(&'a AuthParams);

fn borrowed(value: &Option<String>) -> Option<Cow<'_, str>> {
    value.as_deref().map(Cow::Borrowed)
}

impl AuthorizationRequest for AuthorizeRequest<'_> {
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
            _ => None,
        }
    }
}

/// A request whose client and redirect URI are known good, pending the
/// user's answer.
struct Validated {
    client: Client,
    scope: ScopeSet,
    params: AuthParams,
    pending: Pending,
}

/// Why a request cannot go on.
enum Refusal {
    /// Shown on our page: the redirect URI cannot be trusted.
    Here(Status, &'static str),
    /// Sent back to the client's redirect URI.
    Redirect(Url),
    /// Our failure (already logged).
    Failed,
    /// The database is unreachable: retry after this many seconds.
    Unavailable(u64),
}

/// Runs oxide-auth's authorization flow: the registrar binds the client
/// to its exact redirect URI and negotiates the scope, `GrantChecks`
/// enforces the client's grants and PKCE.
async fn validate(context: &GrantContext<'_>, params: AuthParams) -> Result<Validated, Refusal> {
    let here = |message| Err(Refusal::Here(Status::BadRequest, message));
    if params.client_id.is_none() {
        return here("The request has no client_id.");
    }
    // oxide-auth would bind a request without one to a default; the code
    // flow here always names its redirect URI.
    let Some(redirect_uri) = params.redirect_uri.as_deref() else {
        return here("The request has no redirect_uri.");
    };
    if ExactUrl::new(redirect_uri.to_owned()).is_err() {
        return here("The redirect_uri is not a valid URL.");
    }
    let mut endpoint = GrantEndpoint::new(context);
    match authorization_code(&mut endpoint, &AuthorizeRequest(&params)).await {
        Ok(pending) => {
            let client = context.loaded().ok_or(Refusal::Failed)?;
            let scope = ScopeSet::parse(&pending.pre_grant().scope.to_string());
            Ok(Validated {
                client,
                scope,
                params,
                pending,
            })
        }
        Err(AuthorizationError::Ignore) if context.loaded().is_none() => {
            here("The client is not registered.")
        }
        Err(AuthorizationError::Ignore) => {
            here("The redirect_uri is not registered for this client.")
        }
        Err(AuthorizationError::Redirect(error)) => {
            // oxide-auth calls a missing response_type unsupported; RFC 6749
            // §4.1.2.1 calls a missing parameter invalid_request.
            if params.response_type.is_none() {
                context.refuse(OAuthError::invalid_request(
                    "The response_type parameter is required.",
                ));
            }
            Err(Refusal::Redirect(context.error_redirect(error)))
        }
        Err(AuthorizationError::PrimitiveError) => {
            let why = context.failure(OAuthError::server_error());
            match why.retry_after.filter(|_| why.service_unavailable) {
                Some(seconds) => Err(Refusal::Unavailable(seconds)),
                None => Err(Refusal::Failed),
            }
        }
    }
}

fn redirect(url: Url) -> AuthorizeResponse {
    AuthorizeResponse::Redirect(Redirect::to(url.to_string()))
}

fn refused(refusal: Refusal) -> AuthorizeResponse {
    match refusal {
        Refusal::Here(status, message) => error_page(status, message),
        Refusal::Redirect(url) => redirect(url),
        Refusal::Failed => failed(),
        Refusal::Unavailable(seconds) => unavailable(
            "The service is temporarily unavailable. Please try again in a moment.",
            seconds,
        ),
    }
}

fn failed() -> AuthorizeResponse {
    error_page(
        Status::InternalServerError,
        "Something went wrong. Please try again later.",
    )
}

fn server_error(error: sqlx::Error) -> AuthorizeResponse {
    if platform::db::is_unavailable(&error) {
        tracing::warn!(%error, "database unavailable on the authorization endpoint");
        return unavailable(
            "The service is temporarily unavailable. Please try again in a moment.",
            platform::db::OUTAGE_RETRY_AFTER,
        );
    }
    tracing::error!(%error, "database error on the authorization endpoint");
    failed()
}

/// `503` with `Retry-After`: we cannot do it now, but soon can.
fn unavailable(message: &str, retry_after: u64) -> AuthorizeResponse {
    AuthorizeResponse::Page(
        error_page_of(Status::ServiceUnavailable, message).retry_after(retry_after),
    )
}

/// A fresh CSRF token, also set as the cookie the form must match.
fn new_csrf(jar: &CookieJar<'_>, config: &AppConfig) -> String {
    csrf::AUTHORIZE.issue(jar, config)
}

fn csrf_matches(jar: &CookieJar<'_>, presented: Option<&str>) -> bool {
    csrf::AUTHORIZE.matches(jar, presented)
}

/// The authorization request (RFC 6749 §4.1.1): shows the login page, or an
/// error page when the client or redirect URI is not registered, or
/// redirects an error back to the client.
#[utoipa::path(
    get, path = "/oauth/authorize", tag = "oauth",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query),
        ("redirect_uri" = String, Query, description = "Exactly as registered"),
        ("scope" = Option<String>, Query, description = "Space-separated; defaults to the client's scopes"),
        ("state" = Option<String>, Query),
        ("code_challenge" = Option<String>, Query, description = "PKCE S256 challenge; required for public clients"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256` (`plain` is refused)"),
        ("nonce" = Option<String>, Query, description = "OpenID Connect: echoed in the id_token (at most 512 characters)"),
        ("prompt" = Option<String>, Query, description = "OpenID Connect: `none`, `login` or `consent`"),
        ("max_age" = Option<u64>, Query, description = "OpenID Connect: the longest time since sign-in accepted, in seconds"),
        ("resource" = Option<String>, Query, description = "RFC 8707: AUDIENCE or an audience the client was registered with"),
    ),
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
) -> AuthorizeResponse {
    // The same reading as a token request's form: repeated parameters
    // refused, empty ones omitted (RFC 6749 §3.1).
    let query = uri.query().map_or("", |q| q.as_str());
    let query = match OAuthParams::parse(query.as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(Status::BadRequest, error.description),
    };
    let params = AuthParams::from_lookup(|name| query.get(name).map(str::to_owned));
    let validated = match validate(&context, params).await {
        Ok(validated) => validated,
        Err(refusal) => return refused(refusal),
    };
    let (prompt, max_age) = match Prompt::of(&validated.params) {
        Ok(parsed) => parsed,
        Err(why) => return redirect_error(&validated, "invalid_request", why),
    };
    let now = context.now;
    let signed_in = match sessions::current(context.db, jar, now).await {
        Ok(signed_in) => signed_in,
        Err(error) => return server_error(error),
    };
    // `prompt=login` and an exceeded `max_age` want the password again.
    let signed_in = signed_in.filter(|s| {
        !prompt.login && max_age.is_none_or(|max| now.saturating_sub(s.auth_time) <= max)
    });
    match signed_in {
        Some(signed_in) => {
            let csrf = new_csrf(jar, context.config);
            continue_signed_in(&validated, &context, &signed_in, prompt, &csrf).await
        }
        None if prompt.none => {
            redirect_error(&validated, "login_required", "The user is not signed in.")
        }
        None => {
            let csrf = new_csrf(jar, context.config);
            login_page(&validated, &csrf, None, Status::Ok)
        }
    }
}

/// What `prompt` asks (OIDC Core §3.1.2.1); unknown values are ignored.
#[derive(Debug, Clone, Copy, Default)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

impl Prompt {
    /// `prompt` and `max_age`, or why they are an `invalid_request`.
    fn of(params: &AuthParams) -> Result<(Prompt, Option<i64>), &'static str> {
        let mut prompt = Prompt::default();
        let mut values = 0;
        for value in params.prompt.as_deref().unwrap_or("").split(' ') {
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
        let max_age = match params.max_age.as_deref() {
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

/// An error sent back to the client's (registered, already checked)
/// redirect URI, with `state` (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
fn redirect_error(validated: &Validated, code: &str, description: &str) -> AuthorizeResponse {
    let Some(Ok(mut url)) = validated.params.redirect_uri.as_deref().map(Url::parse) else {
        return failed();
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("error", code);
        query.append_pair("error_description", description);
        if let Some(state) = validated.params.state.as_deref() {
            query.append_pair("state", state);
        }
    }
    redirect(url)
}

/// The user is known (a context, or the password just now): a code at once
/// when every scope was consented to before, else the consent page.
async fn continue_signed_in(
    validated: &Validated,
    context: &GrantContext<'_>,
    signed_in: &sessions::SignIn,
    prompt: Prompt,
    csrf: &str,
) -> AuthorizeResponse {
    let (db, now) = (context.db, context.now);
    let user = match users::find_by_id(db, &signed_in.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return login_page(validated, csrf, None, Status::Ok),
        Err(error) => return server_error(error),
    };
    // What this user can grant of it; nothing at all is refused before
    // consent is looked up, so an empty grant never passes as consented.
    let scope = match users_share(validated, &user) {
        Ok(scope) => scope,
        Err(error) => return redirect_error(validated, error.code.as_str(), error.description),
    };
    if !prompt.consent {
        match sessions::has_consent(db, &user.id, &validated.client.id, &scope).await {
            Ok(true) => return grant_code(validated, context, &user.id, signed_in.auth_time).await,
            Ok(false) => {}
            Err(error) => return server_error(error),
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
        signed_in.auth_time,
        now,
    )
    .await
    {
        Ok(ticket) => ticket,
        Err(error) => return server_error(error),
    };
    consent_page(validated, csrf, &ticket, &user.email, &scope)
}

/// The negotiated scope narrowed to what `user` holds, or the
/// `invalid_scope` to redirect when nothing is left (API.md: a granted
/// scope is never empty).
fn users_share(validated: &Validated, user: &users::User) -> Result<ScopeSet, OAuthError> {
    scope_rules::narrowed(&validated.scope, &scope_rules::user_scopes(user)).inspect_err(|_| {
        tracing::info!(client_id = %validated.client.id, "nothing of the scope to grant");
    })
}

/// Stores a code for `user_id`, signed in at `auth_time`, and redirects it
/// to the client.
async fn grant_code(
    validated: &Validated,
    context: &GrantContext<'_>,
    user_id: &str,
    auth_time: i64,
) -> AuthorizeResponse {
    context.signed_in_at(auth_time);
    let mut endpoint = GrantEndpoint::new(context);
    let owner = Cow::Borrowed(user_id);
    match validated
        .pending
        .clone()
        .authorize(&mut endpoint, owner)
        .await
    {
        Ok(url) => {
            tracing::info!(%user_id, client_id = %validated.client.id, "authorization code issued");
            redirect(url)
        }
        Err(AuthorizationError::Redirect(error)) => redirect(context.error_redirect(error)),
        Err(_) => failed(),
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
#[post("/oauth/authorize", data = "<data>")]
pub async fn authorize_submit(
    content_type: Option<&ContentType>,
    data: Data<'_>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
) -> AuthorizeResponse {
    let form = match read_page_form(content_type, data).await {
        Ok(form) => form,
        Err(TokenFailure::Api(_)) => {
            return error_page(Status::PayloadTooLarge, "The form is too large.");
        }
        Err(TokenFailure::OAuth(_)) => {
            return error_page(Status::BadRequest, "The form is malformed.");
        }
    };
    let field = |name: &str| form.get(name).map(str::to_owned);
    let params = AuthParams::from_lookup(field);
    let validated = match validate(&context, params).await {
        Ok(validated) => validated,
        Err(refusal) => return refused(refusal),
    };
    let db = context.db;
    if !csrf_matches(jar, field("csrf").as_deref()) {
        return error_page(
            Status::Forbidden,
            "This form has expired or was not sent from this site. Please start again from the application.",
        );
    }
    let now = context.now;
    match field("action").as_deref() {
        Some("login") => {
            // The token that matched stays: a page without a form (a 503,
            // say) must not leave the browser's Back button holding a form
            // whose token no longer matches.
            let form = SignInForm {
                username: field("username"),
                password: field("password"),
                csrf: field("csrf").unwrap_or_default(),
            };
            login(&validated, form, &context.meta, jar, &context, throttle).await
        }
        Some("allow") => consent(&validated, field("ticket"), &context).await,
        Some("deny") => {
            if let Some(ticket) = field("ticket") {
                // Spend it so the same page cannot be answered twice.
                let _ = codes::take_login_ticket(db, &ticket, &validated.client.id, now).await;
            }
            match validated.pending.clone().deny() {
                Err(AuthorizationError::Redirect(error)) => redirect(context.error_redirect(error)),
                _ => failed(),
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
    meta: &RequestMeta,
    jar: &CookieJar<'_>,
    context: &GrantContext<'_>,
    throttle: &LoginThrottle,
) -> AuthorizeResponse {
    let (db, config, now) = (context.db, context.config, context.now);
    let SignInForm {
        username,
        password: password_field,
        csrf,
    } = form;
    let csrf = csrf.as_str();
    let (Some(username), Some(password_field)) = (username, password_field) else {
        return login_page(
            validated,
            csrf,
            Some("Enter your email and password."),
            Status::BadRequest,
        );
    };
    if username.chars().count() > MAX_USERNAME_CHARS {
        return login_page(
            validated,
            csrf,
            Some("That email is too long."),
            Status::BadRequest,
        );
    }
    let account = username.trim().to_lowercase();
    let password = SecretString::from(password_field);
    let checked = sign_in::check(db, throttle, &account, meta.client_ip, password, now).await;
    let user = match checked {
        Ok(Some(user)) => user,
        Ok(None) => {
            return login_page_for(
                validated,
                csrf,
                &account,
                Some("The email or password is incorrect."),
                Status::Unauthorized,
            );
        }
        Err(sign_in::Refusal::Throttled(wait)) => {
            let page = sign_in_page(
                validated,
                csrf,
                &account,
                Some("Too many failed attempts. Please wait a while and try again."),
                Status::TooManyRequests,
            );
            // As at the token endpoint (API.md: 429 with Retry-After).
            return page_towards(validated, page.retry_after(wait));
        }
        Err(sign_in::Refusal::Busy(busy)) => {
            return unavailable(
                "Too many sign-ins are waiting. Please try again in a moment.",
                busy.retry_after,
            );
        }
        Err(sign_in::Refusal::Database(error)) => return server_error(error),
    };
    // Later authorization requests from this browser skip the password.
    if let Err(error) = sessions::start(db, jar, config, &user.id, now).await {
        return server_error(error);
    }
    let signed_in = sessions::SignIn {
        user_id: user.id,
        auth_time: now,
    };
    // The prompt was parsed on the way to this form; `login` is now done.
    let prompt = Prompt::of(&validated.params)
        .map(|(prompt, _)| Prompt {
            login: false,
            ..prompt
        })
        .unwrap_or_default();
    continue_signed_in(validated, context, &signed_in, prompt, csrf).await
}

async fn consent(
    validated: &Validated,
    ticket: Option<String>,
    context: &GrantContext<'_>,
) -> AuthorizeResponse {
    let (db, now) = (context.db, context.now);
    let signed_in = match ticket {
        Some(ticket) => {
            match codes::take_login_ticket(db, &ticket, &validated.client.id, now).await {
                Ok(signed_in) => signed_in,
                Err(error) => return server_error(error),
            }
        }
        None => None,
    };
    let Some((user_id, auth_time)) = signed_in else {
        return error_page(
            Status::BadRequest,
            "Your login has expired. Please start again from the application.",
        );
    };
    let user = match users::find_by_id(db, &user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return error_page(Status::BadRequest, "Your account no longer exists."),
        Err(error) => return server_error(error),
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
        return server_error(error);
    }
    grant_code(validated, context, &user.id, auth_time).await
}

/// The authorization request's parameters, carried through the forms.
fn hidden_fields(validated: &Validated) -> Vec<(&'static str, String)> {
    validated
        .params
        .values()
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?.to_owned())))
        .collect()
}

fn login_page(
    validated: &Validated,
    csrf: &str,
    error: Option<&str>,
    status: Status,
) -> AuthorizeResponse {
    login_page_for(validated, csrf, "", error, status)
}

/// The sign-in form again, keeping what the person typed as their email.
fn login_page_for(
    validated: &Validated,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    status: Status,
) -> AuthorizeResponse {
    page_towards(
        validated,
        sign_in_page(validated, csrf, username, error, status),
    )
}

fn sign_in_page(
    validated: &Validated,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    status: Status,
) -> Page {
    let view = View::SignIn(SignIn {
        client_name: validated.client.metadata.name.clone(),
        csrf: csrf.to_owned(),
        hidden: hidden_fields(validated),
        error: error.map(str::to_owned),
        username: username.chars().take(MAX_USERNAME_CHARS).collect(),
    });
    Page::new(status, view)
}

fn consent_page(
    validated: &Validated,
    csrf: &str,
    ticket: &str,
    email: &str,
    scope: &ScopeSet,
) -> AuthorizeResponse {
    let view = View::Consent(Consent {
        client_name: validated.client.metadata.name.clone(),
        csrf: csrf.to_owned(),
        hidden: hidden_fields(validated),
        ticket: ticket.to_owned(),
        email: email.to_owned(),
        scopes: scope
            .iter()
            .map(|name| ScopeLine {
                name: name.to_owned(),
                what: pages::describe_scope(name),
            })
            .collect(),
    });
    page_towards(validated, Page::new(Status::Ok, view))
}

/// A page whose form may end in a redirect to the client.
fn page_towards(validated: &Validated, page: Page) -> AuthorizeResponse {
    let target = validated.params.redirect_uri.as_deref().or(validated
        .client
        .metadata
        .redirect_uris
        .first()
        .map(String::as_str));
    AuthorizeResponse::Page(match target {
        Some(uri) => page.posting_towards(uri),
        None => page,
    })
}

fn error_page(status: Status, message: &str) -> AuthorizeResponse {
    AuthorizeResponse::Page(error_page_of(status, message))
}

fn error_page_of(status: Status, message: &str) -> Page {
    Page::error(status, message)
}

/// RP-Initiated Logout without a registered place to go back to.
pub fn signed_out_page() -> AuthorizeResponse {
    AuthorizeResponse::Page(Page::new(Status::Ok, View::SignedOut))
}

/// A logout request that cannot be honoured: shown here, never redirected.
pub fn logout_error(status: Status, message: &str) -> AuthorizeResponse {
    error_page(status, message)
}

/// A database failure on a page endpoint.
pub fn database_failure(error: sqlx::Error) -> AuthorizeResponse {
    server_error(error)
}
