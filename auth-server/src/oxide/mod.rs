//! The oxide-auth adapter: oxide-auth's primitives over our own tables,
//! and its state machines run on them for the authorization request and
//! the authorization code, refresh and client credentials grants. The
//! password grant, which oxide-auth lacks, does not come here.
//!
//! - [`registrar`] ([`ClientRegistrar`](registrar::ClientRegistrar)):
//!   the `clients` table (exact redirect URIs, negotiated scopes, secrets);
//! - [`authorizer`] ([`CodeAuthorizer`](authorizer::CodeAuthorizer)):
//!   one-time authorization codes, spent before anything else is checked;
//! - [`issuer`] ([`GrantIssuer`](issuer::GrantIssuer)): tokens, through
//!   the one `oauth::mint` every grant uses;
//! - [`checks`] ([`GrantChecks`](checks::GrantChecks)): the per-client
//!   rules oxide-auth leaves to extensions (grants, PKCE, `nonce`,
//!   `resource`);
//! - [`endpoint`]: the four together, and the three token flows;
//! - [`authorization_request`]: the authorization request's flow;
//! - [`flow`]: one run of a flow, and the side channel its primitives
//!   share; [`extensions`]: what they carry through oxide-auth's `Grant`;
//!   [`token_request`]: a token request as the flows read it.

pub mod authorization_request;
pub mod authorizer;
pub mod checks;
pub mod endpoint;
pub mod extensions;
pub mod flow;
pub mod issuer;
pub mod registrar;
pub mod token_request;
