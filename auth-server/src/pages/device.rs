//! The pages of `/oauth/device` (RFC 8628 §3.3), where a person connects a
//! device: type the code it shows, sign in (or use the session), allow or
//! deny, done. In the look of the sign-in pages: the same frame, the same
//! stylesheet, values escaped by askama, forms posting back here with a
//! CSRF token.

use askama::Template;
use shared::scope::ScopeSet;

use super::chrome::{Chrome, ScopeLine, describe_scope};

/// What one device page shows.
pub enum DeviceView {
    /// The code form; `user_code` as typed (or from the link), kept on failure.
    EnterCode {
        csrf: String,
        user_code: String,
        error: Option<String>,
    },
    SignIn {
        csrf: String,
        user_code: String,
        client_name: String,
        username: String,
        error: Option<String>,
    },
    Consent {
        csrf: String,
        user_code: String,
        client_name: String,
        email: String,
        scopes: Vec<ScopeLine>,
    },
    Done {
        client_name: String,
        approved: bool,
    },
}

/// The scope lines of the consent page.
pub fn scope_lines(scope: &ScopeSet) -> Vec<ScopeLine> {
    scope
        .iter()
        .map(|name| ScopeLine {
            name: name.to_owned(),
            what: describe_scope(name),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "device_code.html")]
struct EnterCodePage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_sign_in.html")]
struct SignInPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    user_code: &'a str,
    client_name: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_consent.html")]
struct ConsentPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    user_code: &'a str,
    client_name: &'a str,
    email: &'a str,
    scopes: &'a [ScopeLine],
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage<'a> {
    chrome: Chrome<'a>,
    client_name: &'a str,
    approved: bool,
}

impl DeviceView {
    pub(super) fn render(&self, chrome: Chrome<'_>) -> askama::Result<String> {
        match self {
            DeviceView::EnterCode {
                csrf,
                user_code,
                error,
            } => EnterCodePage {
                chrome,
                csrf,
                user_code,
                error: error.as_deref(),
            }
            .render(),
            DeviceView::SignIn {
                csrf,
                user_code,
                client_name,
                username,
                error,
            } => SignInPage {
                chrome,
                csrf,
                user_code,
                client_name,
                username,
                error: error.as_deref(),
            }
            .render(),
            DeviceView::Consent {
                csrf,
                user_code,
                client_name,
                email,
                scopes,
            } => ConsentPage {
                chrome,
                csrf,
                user_code,
                client_name,
                email,
                scopes,
            }
            .render(),
            DeviceView::Done {
                client_name,
                approved,
            } => DonePage {
                chrome,
                client_name,
                approved: *approved,
            }
            .render(),
        }
    }
}
