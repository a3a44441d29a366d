//! Well-known paths of the issuer, relative to its base URL (`ISSUER`).

pub const JWKS: &str = "/.well-known/jwks.json";
pub const AUTHORIZATION_SERVER_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
pub const TOKEN: &str = "/oauth/token";
pub const AUTHORIZE: &str = "/oauth/authorize";
pub const REVOKE: &str = "/oauth/revoke";
pub const INTROSPECT: &str = "/oauth/introspect";
pub const LOGIN: &str = "/login";
pub const SIGNUP: &str = "/signup";
