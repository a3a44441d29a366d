//! OpenAPI pieces every service behind this issuer documents the same way
//! (behind the `openapi` feature): the OAuth2 password flow that Swagger
//! UI's Authorize button logs in with.

use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};

use crate::scope::Scope;

/// The name of the security scheme that routes refer to.
pub const SECURITY_SCHEME: &str = "oauth2";

/// Adds the password-flow scheme, logging in at `token_url` (absolute, so
/// that another service's `/docs` logs in against the issuer).
pub fn add_password_flow(doc: &mut OpenApi, token_url: String) {
    // The password grant's first-party client has the resource scopes only;
    // the OpenID ones belong to the code flow of third parties.
    let scopes = Scopes::from_iter(
        Scope::ALL
            .into_iter()
            .filter(|s| !Scope::IDENTITY.contains(s))
            .map(|s| (s.as_str(), s.description())),
    );
    let flow = Flow::Password(Password::new(token_url, scopes));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(SECURITY_SCHEME, SecurityScheme::OAuth2(OAuth2::new([flow])));
}
