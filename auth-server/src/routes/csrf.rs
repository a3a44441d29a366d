//! The CSRF tokens of the forms at the authorization server: a random
//! value in a hidden field that must match an `HttpOnly`, `SameSite=Strict`
//! cookie the page set (the double-submit pattern). A form posted from
//! another site arrives without the cookie, so it cannot act for the person
//! whose browser sent it.
//!
//! Each page has its own cookie, sent back to its own path only, so the
//! sign-in page and the sign-out page never overwrite each other's token.

use rocket::http::{Cookie, CookieJar, SameSite};
use subtle::ConstantTimeEq;

use crate::config::AppConfig;
use crate::store::secrets::generate_secret;

/// The cookie of one page's forms.
pub struct CsrfCookie {
    name: &'static str,
    path: &'static str,
}

/// The sign-in and consent forms of `/oauth/authorize`.
pub const AUTHORIZE: CsrfCookie = CsrfCookie {
    name: "authorize_csrf",
    path: "/oauth/authorize",
};

/// The sign-out confirmation of `/oauth/logout`.
pub const LOGOUT: CsrfCookie = CsrfCookie {
    name: "logout_csrf",
    path: "/oauth/logout",
};

/// The forms of `/oauth/device`.
pub const DEVICE: CsrfCookie = CsrfCookie {
    name: "device_csrf",
    path: "/oauth/device",
};

impl CsrfCookie {
    /// A fresh token for the page's form, also set as its cookie.
    pub fn issue(&self, jar: &CookieJar<'_>, config: &AppConfig) -> String {
        let token = generate_secret();
        let cookie = Cookie::build((self.name, token.clone()))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(config.issuer.starts_with("https://"))
            .path(self.path);
        jar.add(cookie);
        token
    }

    /// Does the form's token match the cookie? Compared in constant time.
    pub fn matches(&self, jar: &CookieJar<'_>, presented: Option<&str>) -> bool {
        match (jar.get(self.name), presented) {
            (Some(cookie), Some(presented)) if !presented.is_empty() => {
                bool::from(cookie.value().as_bytes().ct_eq(presented.as_bytes()))
            }
            _ => false,
        }
    }
}
