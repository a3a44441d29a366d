//! The sign-in session's cookie at the authorization and logout pages: a
//! 256-bit random value in an `HttpOnly`, `SameSite=Lax` cookie, `Secure`
//! when the issuer is https, sent back to `/oauth` only. The session itself
//! is a row (`store::sessions`); this is how a browser carries it.

use rocket::http::{Cookie, CookieJar, SameSite};

use crate::config::AppConfig;
use crate::store::Db;
use crate::store::sessions::{self, Session};

/// The session cookie's name.
pub const COOKIE: &str = "auth_session";
/// Sent back to the authorization endpoint and the logout endpoint only.
const COOKIE_PATH: &str = "/oauth";
/// A cookie value longer than this is no session (ours are 43 characters).
const MAX_COOKIE_CHARS: usize = 128;

/// Starts a session for `user_id`, signed in at `now`, and sets its
/// cookie; returns the session's `sid`.
pub async fn start(
    db: &Db,
    jar: &CookieJar<'_>,
    config: &AppConfig,
    user_id: &str,
    now: i64,
) -> Result<String, sqlx::Error> {
    let started = sessions::start(db, user_id, now, config.session_ttl).await?;
    // A session replaced by a new sign-in ends at once.
    if let Some(old) = presented(jar) {
        sessions::end(db, &old, now).await?;
    }
    let cookie = Cookie::build((COOKIE, started.token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.issuer.starts_with("https://"))
        .path(COOKIE_PATH)
        .max_age(rocket::time::Duration::seconds(config.session_ttl));
    jar.add(cookie);
    Ok(started.sid)
}

fn presented(jar: &CookieJar<'_>) -> Option<String> {
    jar.get(COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_CHARS)
}

/// The live session of this browser, if any.
pub async fn current(
    db: &Db,
    jar: &CookieJar<'_>,
    now: i64,
) -> Result<Option<Session>, sqlx::Error> {
    match presented(jar) {
        Some(token) => sessions::find(db, &token, now).await,
        None => Ok(None),
    }
}

/// Ends this browser's session, here and at every instance, and removes
/// the cookie.
pub async fn end(db: &Db, jar: &CookieJar<'_>, now: i64) -> Result<(), sqlx::Error> {
    if let Some(token) = presented(jar) {
        sessions::end(db, &token, now).await?;
    }
    if jar.get(COOKIE).is_some() {
        jar.remove(Cookie::build(COOKIE).path(COOKIE_PATH));
    }
    Ok(())
}
