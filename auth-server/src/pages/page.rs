//! The pages people see at the authorization server: sign in, consent,
//! error, sign out (the question) and signed out.
//!
//! - Askama templates in `auth-server/templates/`: checked when the crate
//!   compiles, every value HTML-escaped by default.
//! - One stylesheet, `assets/pages.css`, served from memory under a
//!   content-versioned URL, so browsers cache it for good and a new build
//!   never meets a stale copy. Nothing is loaded from anywhere else.
//! - The Content-Security-Policy allows that stylesheet and form posts back
//!   here; a page whose form may end in a redirect to the client also allows
//!   the client's redirect origin, because browsers apply `form-action` to
//!   the redirects that follow a form post.
//! - Pages carry their view, not their HTML: the product name (`SERVICE_NAME`)
//!   and the issuer's host come from the server's settings when the response
//!   is written, so handlers need not thread them through.

use std::sync::LazyLock;

use askama::Template;
use rocket::http::{ContentType, Header, Status};
use rocket::response::{self, Responder};
use rocket::{Request, Response, get};
use sha2::{Digest, Sha256};
use url::Url;

use super::chrome::{Chrome, ScopeLine};
use crate::config::AppConfig;

const STYLESHEET: &str = include_str!("../../assets/pages.css");

/// The stylesheet's digest: its URL's version and the CSP's only style source.
static STYLESHEET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET);
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
});

static STYLESHEET_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/pages.css?v={}", *STYLESHEET_VERSION));

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![stylesheet]
}

/// The authorization pages' stylesheet. Its URL changes with its content
/// (`?v=`), hence `immutable`.
#[utoipa::path(get, path = "/assets/pages.css", tag = "oauth",
    responses((status = 200, description = "The sign-in, consent and signed-out pages' stylesheet",
        content_type = "text/css")))]
#[get("/assets/pages.css")]
pub fn stylesheet() -> (ContentType, CacheForever) {
    (ContentType::CSS, CacheForever(STYLESHEET))
}

/// A static body cached for good by every browser and proxy.
pub struct CacheForever(&'static str);

impl<'r> Responder<'r, 'static> for CacheForever {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        Response::build_from(self.0.respond_to(request)?)
            .raw_header("Cache-Control", "public, max-age=31536000, immutable")
            .ok()
    }
}

/// The sign-in form of the authorization page.
pub struct SignIn {
    pub client_name: String,
    pub csrf: String,
    /// The authorization request's parameters, carried through the form.
    pub hidden: Vec<(&'static str, String)>,
    pub error: Option<String>,
    /// What the person typed before, shown again after a failure.
    pub username: String,
}

/// The consent form, after signing in.
pub struct Consent {
    pub client_name: String,
    pub csrf: String,
    pub hidden: Vec<(&'static str, String)>,
    pub ticket: String,
    pub email: String,
    pub scopes: Vec<ScopeLine>,
}

/// The question RP-Initiated Logout asks when the request does not prove
/// it comes from an application the person signed in to.
pub struct ConfirmSignOut {
    pub csrf: String,
    /// The logout request's parameters, carried through the form.
    pub hidden: Vec<(&'static str, String)>,
    /// Who is signed in.
    pub email: String,
}

pub enum View {
    SignIn(SignIn),
    Consent(Consent),
    Error {
        message: String,
    },
    ConfirmSignOut(ConfirmSignOut),
    SignedOut,
    /// `/oauth/device`'s pages (`pages::device`).
    Device(super::device::DeviceView),
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    chrome: Chrome<'a>,
    client_name: &'a str,
    csrf: &'a str,
    hidden: &'a [(&'static str, String)],
    error: Option<&'a str>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    chrome: Chrome<'a>,
    client_name: &'a str,
    csrf: &'a str,
    hidden: &'a [(&'static str, String)],
    ticket: &'a str,
    email: &'a str,
    scopes: &'a [ScopeLine],
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome<'a>,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "sign_out.html")]
struct ConfirmSignOutPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    hidden: &'a [(&'static str, String)],
    email: &'a str,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    chrome: Chrome<'a>,
}

impl View {
    fn render(&self, chrome: Chrome<'_>) -> askama::Result<String> {
        match self {
            View::SignIn(v) => SignInPage {
                chrome,
                client_name: &v.client_name,
                csrf: &v.csrf,
                hidden: &v.hidden,
                error: v.error.as_deref(),
                username: &v.username,
            }
            .render(),
            View::Consent(v) => ConsentPage {
                chrome,
                client_name: &v.client_name,
                csrf: &v.csrf,
                hidden: &v.hidden,
                ticket: &v.ticket,
                email: &v.email,
                scopes: &v.scopes,
            }
            .render(),
            View::Error { message } => ErrorPage { chrome, message }.render(),
            View::ConfirmSignOut(v) => ConfirmSignOutPage {
                chrome,
                csrf: &v.csrf,
                hidden: &v.hidden,
                email: &v.email,
            }
            .render(),
            View::SignedOut => SignedOutPage { chrome }.render(),
            View::Device(v) => v.render(chrome),
        }
    }
}

/// An HTML page: never cached, framed by nobody, `Retry-After` on a `503`.
pub struct Page {
    status: Status,
    view: View,
    /// Where this page's form may end up besides here: the client's
    /// redirect URI, already checked against its registration.
    form_target: Option<String>,
    retry_after: Option<u64>,
}

impl Page {
    pub fn new(status: Status, view: View) -> Page {
        Page {
            status,
            view,
            form_target: None,
            retry_after: None,
        }
    }

    pub fn error(status: Status, message: &str) -> Page {
        Page::new(
            status,
            View::Error {
                message: message.to_owned(),
            },
        )
    }

    /// Lets the page's form lead to a redirect to `redirect_uri`.
    pub fn posting_towards(mut self, redirect_uri: &str) -> Page {
        self.form_target = csp_source(redirect_uri);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Page {
        self.retry_after = Some(seconds);
        self
    }
}

/// The CSP source expression that matches a registered redirect URI: its
/// origin, or for a private-use scheme the scheme alone.
fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => match url.origin() {
            origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
            url::Origin::Opaque(_) => None,
        },
        scheme => Some(format!("{scheme}:")),
    }
}

/// The policy of every page: its stylesheet, forms back here (and to
/// `form_target`), nothing else.
pub fn content_security_policy(form_target: Option<&str>) -> String {
    let extra = form_target.map(|t| format!(" {t}")).unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The issuer's host, for the "only type your password here" line.
fn issuer_host(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

impl<'r> Responder<'r, 'static> for Page {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let config = request.rocket().state::<AppConfig>();
        let chrome = Chrome {
            service_name: config.map_or("auth-server", |c| c.service_name.as_str()),
            host: config.map_or("", |c| issuer_host(&c.issuer)),
            stylesheet: &STYLESHEET_URL,
        };
        let html = match self.view.render(chrome) {
            Ok(html) => html,
            Err(error) => {
                tracing::error!(%error, "rendering a page failed");
                return Err(Status::InternalServerError);
            }
        };
        let mut response = Response::build_from(html.respond_to(request)?);
        response
            .status(self.status)
            .header(ContentType::HTML)
            .raw_header("Cache-Control", "no-store")
            .raw_header(
                "Content-Security-Policy",
                content_security_policy(self.form_target.as_deref()),
            );
        if let Some(seconds) = self.retry_after {
            response.header(Header::new("Retry-After", seconds.to_string()));
        }
        response.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome<'static> {
        Chrome {
            service_name: "Acme <ID>",
            host: "id.example.com",
            stylesheet: "/assets/pages.css?v=1",
        }
    }

    #[test]
    fn every_value_is_escaped() -> askama::Result<()> {
        let view = View::SignIn(SignIn {
            client_name: "<script>alert(1)</script>".into(),
            csrf: "\"><x".into(),
            hidden: vec![("state", "'\"&<>".into())],
            error: Some("<b>bad</b>".into()),
            username: "a\"@b".into(),
        });
        let html = view.render(chrome())?;
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>bad"), "{html}");
        assert!(!html.contains("\"><x"), "{html}");
        assert!(
            html.contains("Acme &#60;ID&#62;") || html.contains("Acme &lt;ID&gt;"),
            "{html}"
        );
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        Ok(())
    }

    #[test]
    fn the_sign_out_question_posts_its_csrf_token_back() -> askama::Result<()> {
        let view = View::ConfirmSignOut(ConfirmSignOut {
            csrf: "tok\"en".into(),
            hidden: vec![("state", "<s>".into())],
            email: "<ada>@example.com".into(),
        });
        let html = view.render(chrome())?;
        assert!(
            html.contains(r#"<form method="post" action="/oauth/logout""#),
            "{html}"
        );
        assert!(html.contains(r#"name="csrf""#), "{html}");
        assert!(!html.contains("tok\"en"), "{html}");
        assert!(!html.contains("<s>"), "{html}");
        assert!(!html.contains("<ada>"), "{html}");
        Ok(())
    }

    #[test]
    fn redirect_origins_as_csp_sources() {
        assert_eq!(
            csp_source("https://app.example.com/cb?x=1").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            csp_source("http://127.0.0.1:9000/cb").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("not a url"), None);
    }

    #[test]
    fn issuer_host_is_the_authority() {
        assert_eq!(
            issuer_host("https://id.example.com/tenant"),
            "id.example.com"
        );
        assert_eq!(issuer_host("http://127.0.0.1:8000"), "127.0.0.1:8000");
    }
}
