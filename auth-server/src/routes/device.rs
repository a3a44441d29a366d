//! `/oauth/device` (RFC 8628 §3.3): where a person connects a device that
//! showed them a code. `GET` shows the code form (filled in from
//! `verification_uri_complete`); every `POST` carries the code again and a
//! CSRF token matching the page's cookie, and goes one step on: the code
//! looked up, a sign-in (or the session), then approve or deny.
//!
//! Every code that is looked up and found wrong counts in the login
//! throttle, under the client address, as a failed login does: at about
//! 2^34.5 possible codes, an address spends its allowance long before it
//! can find one.

use std::net::IpAddr;

use rocket::http::{CookieJar, Status};
use rocket::{State, get, post};
use secrecy::SecretString;
use shared::scope::ScopeSet;

use super::form::{PageForm, TokenFailure};
use super::{csrf, session_cookie};
use crate::oauth::context::GrantContext;
use crate::oauth::scope_rules;
use crate::oauth::sign_in::{self, Undecided};
use crate::pages::authorization::{PageResponse, database_failure, error_page, unavailable};
use crate::pages::device::{DeviceView, scope_lines};
use crate::pages::page::{Page, View};
use crate::store::clients::Client;
use crate::store::device_codes::{self, PendingDevice, normalise_user_code, shown_user_code};
use crate::store::throttle::{Attempt, LoginThrottle, MAX_USERNAME_CHARS};
use crate::store::users::{self, User};

/// The longest code kept from a link or a form to show again.
const MAX_TYPED_CODE: usize = 20;
const BAD_CODE: &str = "That code is not valid, or it has expired. Check the code on your device.";

/// What the device pages' forms send.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct DeviceForm {
    /// Must match the `device_csrf` cookie.
    #[schema(value_type = String, required = true)]
    pub csrf: Option<String>,
    /// `code`, `login`, `approve` or `deny`.
    #[schema(value_type = String, required = true)]
    pub action: Option<String>,
    /// The code the device shows, with or without its dash, any case.
    #[schema(value_type = String, required = true)]
    pub user_code: Option<String>,
    /// For `login`: the email.
    pub username: Option<String>,
    /// For `login`.
    pub password: Option<String>,
}

fn page(status: Status, view: DeviceView) -> PageResponse {
    PageResponse::Page(Page::new(status, View::Device(view)))
}

fn enter_code(csrf: &str, typed: &str, error: Option<&str>, status: Status) -> PageResponse {
    page(
        status,
        DeviceView::EnterCode {
            csrf: csrf.to_owned(),
            user_code: typed.chars().take(MAX_TYPED_CODE).collect(),
            error: error.map(str::to_owned),
        },
    )
}

/// The device code page (RFC 8628 §3.3).
#[utoipa::path(
    get, path = "/oauth/device", tag = "oauth",
    params(("user_code" = Option<String>, Query, description = "Fills the form in (verification_uri_complete)")),
    responses((status = 200, description = "The code form", content_type = "text/html")),
)]
#[get("/oauth/device?<user_code>")]
pub fn device_page(
    user_code: Option<&str>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
) -> PageResponse {
    let csrf = csrf::DEVICE.issue(jar, context.config);
    enter_code(&csrf, user_code.unwrap_or_default(), None, Status::Ok)
}

/// The device pages' forms: the code, sign-in, approve or deny.
#[utoipa::path(
    post, path = "/oauth/device", tag = "oauth",
    request_body(content = DeviceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The next page: sign-in, consent, or done", content_type = "text/html"),
        (status = 400, description = "A wrong or expired code: the code form again", content_type = "text/html"),
        (status = 401, description = "Wrong email or password: the sign-in form again", content_type = "text/html"),
        (status = 403, description = "CSRF token missing or wrong", content_type = "text/html"),
        (status = 429, description = "Too many wrong codes or failed sign-ins", content_type = "text/html",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
#[post("/oauth/device", data = "<form>")]
pub async fn device_submit(
    form: Result<PageForm<DeviceForm>, TokenFailure>,
    jar: &CookieJar<'_>,
    context: GrantContext<'_>,
    throttle: &State<LoginThrottle>,
) -> PageResponse {
    let form = match form {
        Ok(PageForm(form)) => form,
        Err(failure) => return failure.page(),
    };
    if !csrf::DEVICE.matches(jar, form.csrf.as_deref()) {
        return error_page(
            Status::Forbidden,
            "This form has expired or was not sent from this site. Please open the page again.",
        );
    }
    // The token that matched stays for the next form.
    let csrf = form.csrf.clone().unwrap_or_default();
    let typed = form.user_code.clone().unwrap_or_default();
    let found = match look_up(&context, throttle, &typed).await {
        Ok(found) => found,
        Err(Refusal::Wrong) => {
            return enter_code(&csrf, &typed, Some(BAD_CODE), Status::BadRequest);
        }
        Err(Refusal::Throttled(wait)) => {
            let again = enter_code(
                &csrf,
                &typed,
                Some("Too many wrong codes. Please wait a while and try again."),
                Status::TooManyRequests,
            );
            return with_retry_after(again, wait);
        }
        Err(Refusal::Database(error)) => return database_failure(error),
    };
    let step = Step {
        context: &context,
        csrf: &csrf,
        found: &found,
    };
    match form.action.as_deref() {
        Some("code") => match signed_in(&context, jar).await {
            Ok(Some(user)) => step.consent(&user),
            Ok(None) => step.sign_in("", None, Status::Ok),
            Err(error) => database_failure(error),
        },
        Some("login") => {
            step.login(form.username, form.password, jar, throttle)
                .await
        }
        Some(action @ ("approve" | "deny")) => match signed_in(&context, jar).await {
            Ok(Some(user)) => step.decide(&user, action == "approve").await,
            Ok(None) => step.sign_in(
                "",
                Some("Your session has ended. Please sign in again."),
                Status::Unauthorized,
            ),
            Err(error) => database_failure(error),
        },
        _ => error_page(Status::BadRequest, "The form is malformed."),
    }
}

fn with_retry_after(response: PageResponse, wait: u64) -> PageResponse {
    match response {
        PageResponse::Page(page) => PageResponse::Page(page.retry_after(wait)),
        other => other,
    }
}

/// Why a typed code leads nowhere.
enum Refusal {
    Wrong,
    Throttled(u64),
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Refusal {
    fn from(error: sqlx::Error) -> Refusal {
        Refusal::Database(error)
    }
}

/// A pending code and the client that asked for it.
struct Found {
    code: String,
    pending: PendingDevice,
    client: Client,
}

/// The login throttle's keys for code guesses from `address`: the address
/// key is the one failed logins count under; the account keys are named
/// after the address, so guesses from one address never lock anyone else.
fn code_attempt(address: Option<IpAddr>) -> Attempt {
    let bucket = address.map_or_else(|| "none".to_owned(), |ip| ip.to_string());
    // A NUL: no account's email can be this.
    Attempt::new(&format!("\0device-code\0{bucket}"), address)
}

/// The pending code typed, counted in the throttle when wrong.
async fn look_up(
    context: &GrantContext<'_>,
    throttle: &LoginThrottle,
    typed: &str,
) -> Result<Found, Refusal> {
    let (db, now) = (context.db, context.now);
    let attempt = code_attempt(context.meta.client_ip);
    if let Err(wait) = throttle.admit(db, &attempt, now).await? {
        tracing::warn!(client_ip = ?context.meta.client_ip, "device code guesses throttled");
        return Err(Refusal::Throttled(wait));
    }
    let found = match normalise_user_code(typed) {
        Some(code) => match device_codes::find_pending(db, &code, now).await {
            Ok(Some(pending)) => match context.clients.find(&pending.client_id).await {
                Ok(Some(client)) => Some(Found {
                    code,
                    pending,
                    client,
                }),
                Ok(None) => None,
                Err(error) => {
                    throttle.release(db, &attempt).await?;
                    return Err(Refusal::Database(error));
                }
            },
            Ok(None) => None,
            Err(error) => {
                throttle.release(db, &attempt).await?;
                return Err(Refusal::Database(error));
            }
        },
        None => None,
    };
    match found {
        Some(found) => {
            throttle.release(db, &attempt).await?;
            Ok(found)
        }
        None => {
            throttle.record_failure(db, &attempt, now).await?;
            Err(Refusal::Wrong)
        }
    }
}

/// The user of this browser's session, if any.
async fn signed_in(
    context: &GrantContext<'_>,
    jar: &CookieJar<'_>,
) -> Result<Option<User>, sqlx::Error> {
    match session_cookie::current(context.db, jar, context.now).await? {
        Some(session) => users::find_by_id(context.db, &session.user_id).await,
        None => Ok(None),
    }
}

/// One step of the pages for a code found pending.
struct Step<'a> {
    context: &'a GrantContext<'a>,
    csrf: &'a str,
    found: &'a Found,
}

impl Step<'_> {
    fn sign_in(&self, username: &str, error: Option<&str>, status: Status) -> PageResponse {
        page(
            status,
            DeviceView::SignIn {
                csrf: self.csrf.to_owned(),
                user_code: shown_user_code(&self.found.code),
                client_name: self.found.client.metadata.name.clone(),
                username: username.chars().take(MAX_USERNAME_CHARS).collect(),
                error: error.map(str::to_owned),
            },
        )
    }

    /// The consent page: what of the asked scope the user holds.
    fn consent(&self, user: &User) -> PageResponse {
        let asked = ScopeSet::parse(&self.found.pending.scope);
        let Ok(scope) = scope_rules::narrowed(&asked, &scope_rules::user_scopes(user)) else {
            return error_page(
                Status::BadRequest,
                "Your account does not hold any of the access this device asks for.",
            );
        };
        page(
            Status::Ok,
            DeviceView::Consent {
                csrf: self.csrf.to_owned(),
                user_code: shown_user_code(&self.found.code),
                client_name: self.found.client.metadata.name.clone(),
                email: user.email.clone(),
                scopes: scope_lines(&scope),
            },
        )
    }

    async fn login(
        &self,
        username: Option<String>,
        password: Option<String>,
        jar: &CookieJar<'_>,
        throttle: &LoginThrottle,
    ) -> PageResponse {
        let (db, config, now) = (self.context.db, self.context.config, self.context.now);
        let (Some(username), Some(password)) = (username, password) else {
            return self.sign_in(
                "",
                Some("Enter your email and password."),
                Status::BadRequest,
            );
        };
        if username.chars().count() > MAX_USERNAME_CHARS {
            return self.sign_in("", Some("That email is too long."), Status::BadRequest);
        }
        let account = username.trim().to_lowercase();
        let password = SecretString::from(password);
        let address = self.context.meta.client_ip;
        let user = match sign_in::check(db, throttle, &account, address, password, now).await {
            Ok(Some(user)) => user,
            Ok(None) => {
                return self.sign_in(
                    &account,
                    Some("The email or password is incorrect."),
                    Status::Unauthorized,
                );
            }
            Err(Undecided::Throttled(wait)) => {
                let again = self.sign_in(
                    &account,
                    Some("Too many failed attempts. Please wait a while and try again."),
                    Status::TooManyRequests,
                );
                return with_retry_after(again, wait);
            }
            Err(Undecided::Busy(busy)) => {
                return unavailable(
                    "Too many sign-ins are waiting. Please try again in a moment.",
                    busy.retry_after,
                );
            }
            Err(Undecided::Database(error)) => return database_failure(error),
        };
        if let Err(error) = session_cookie::start(db, jar, config, &user.id, now).await {
            return database_failure(error);
        }
        self.consent(&user)
    }

    async fn decide(&self, user: &User, approve: bool) -> PageResponse {
        let (db, now) = (self.context.db, self.context.now);
        match device_codes::decide(db, &self.found.code, &user.id, approve, now).await {
            Ok(true) => {
                tracing::info!(user_id = %user.id, client_id = %self.found.client.id, approve, "device decided");
                page(
                    Status::Ok,
                    DeviceView::Done {
                        client_name: self.found.client.metadata.name.clone(),
                        approved: approve,
                    },
                )
            }
            // Decided or expired since the code was looked up.
            Ok(false) => enter_code(self.csrf, "", Some(BAD_CODE), Status::BadRequest),
            Err(error) => database_failure(error),
        }
    }
}
