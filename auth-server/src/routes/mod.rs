//! The doors of the HTTP service: Rocket's handlers, each a thin door onto
//! the code below (read the request, call, answer), one file per endpoint,
//! and what they share in reading requests ([`form`]) and forms' CSRF
//! tokens ([`csrf`]). [`oauth_endpoints`] mounts the OAuth endpoints; the
//! other files have their own stage.

pub mod admin;
pub mod authorize;
pub mod cors;
pub mod csrf;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod form;
pub mod health;
pub mod introspect;
pub mod logout;
pub mod openapi;
pub mod par;
pub mod register;
pub mod revoke;
pub mod session_cookie;
pub mod signup;
pub mod token;
pub mod userinfo;

use rocket::fairing::AdHoc;
use rocket::http::Header;
use rocket::routes;

use crate::config::AppConfig;
use crate::pages::page;
use crate::store::throttle::LoginThrottle;

/// The OAuth 2.0 and OpenID Connect endpoints: token, authorization,
/// revocation, introspection, UserInfo, logout, device authorization and
/// the device pages, with the pages' stylesheet.
pub fn oauth_endpoints() -> AdHoc {
    AdHoc::on_ignite("oauth", |rocket| async {
        // The client address (platform::client_addr) reads the trusted proxies
        // from managed state, for the handlers and the request log alike.
        let trusted = rocket
            .state::<AppConfig>()
            .map(|config| config.trusted_proxies.clone())
            .unwrap_or_default();
        rocket
            .manage(trusted)
            .manage(LoginThrottle::default())
            .attach(page_headers())
            .mount(
                "/",
                routes![
                    token::token,
                    token::login,
                    device_authorization::device_authorization,
                    device::device_page,
                    device::device_submit,
                    authorize::authorize_page,
                    authorize::authorize_submit,
                    revoke::revoke,
                    introspect::introspect,
                    par::par,
                    userinfo::userinfo_get,
                    userinfo::userinfo_post,
                    logout::logout,
                    logout::logout_submit,
                    register::register,
                    register::read,
                    register::replace,
                    register::remove
                ],
            )
            .mount("/", page::routes())
    })
}

/// Adds the authorization pages' security headers to every response of
/// `/oauth/authorize`, `/oauth/logout` and `/oauth/device`, whoever made it: a page (which
/// brings its own Content-Security-Policy), a redirect to the client (whose
/// URL must not leak through `Referer`), or a catcher's error.
fn page_headers() -> AdHoc {
    AdHoc::on_response("authorization page headers", |request, response| {
        Box::pin(async move {
            if !matches!(
                request.uri().path().as_str(),
                "/oauth/authorize" | "/oauth/logout" | "/oauth/device"
            ) {
                return;
            }
            response.set_header(Header::new("Referrer-Policy", "no-referrer"));
            if !response.headers().contains("Content-Security-Policy") {
                response.set_header(Header::new(
                    "Content-Security-Policy",
                    page::content_security_policy(None),
                ));
            }
            response.set_header(Header::new("X-Frame-Options", "DENY"));
        })
    })
}
