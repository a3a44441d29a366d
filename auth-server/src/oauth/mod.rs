//! OAuth 2.0 and OpenID Connect: the token endpoint and its grants, the
//! authorization endpoint with its pages, revocation, introspection,
//! userinfo and logout, and the tables behind them.
//!
//! A token request flows through `request` (its form), `token_endpoint`
//! (dispatch on its [`GrantType`]), the grant's own file, oxide-auth's
//! flows over our `primitives`, all sharing one [`GrantContext`], and
//! `response`.

pub mod authorization_code;
pub mod authorize;
pub mod client_auth;
pub mod client_credentials;
mod context;
pub mod csrf;
pub mod introspect;
pub mod oidc;
pub mod password;
pub mod pkce;
pub mod primitives;
pub mod refresh;
mod request;
mod response;
pub mod revoke;
pub mod scope_rules;
pub mod sign_in;
pub mod token_endpoint;

pub use context::{FlowError, GrantContext};
pub use request::{OAuthParams, RequestMeta, TokenRequestForm, read_form, read_page_form};
pub use response::{TokenFailure, TokenSuccess};

use rocket::routes;

use crate::config::AppConfig;
use crate::store::throttle::LoginThrottle;

pub fn stage() -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("oauth", |rocket| async {
        // The client address (platform::client_addr) reads the trusted proxies
        // from managed state, for the handlers and the request log alike.
        let trusted = rocket
            .state::<AppConfig>()
            .map(|config| config.trusted_proxies.clone())
            .unwrap_or_default();
        rocket
            .manage(trusted)
            .manage(LoginThrottle::default())
            .attach(authorize::security_headers())
            .mount(
                "/",
                routes![
                    token_endpoint::token,
                    token_endpoint::login,
                    authorize::authorize_page,
                    authorize::authorize_submit,
                    revoke::revoke,
                    introspect::introspect,
                    oidc::userinfo_get,
                    oidc::userinfo_post,
                    oidc::logout,
                    oidc::logout_submit
                ],
            )
            .mount("/", crate::pages::routes())
    })
}
