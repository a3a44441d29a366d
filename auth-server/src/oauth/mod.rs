//! What every grant and OAuth endpoint shares, below the grants and the
//! oxide-auth adapter and above the tables:
//! - [`context`]: the one context of an OAuth request (the server's state,
//!   when it arrived, its `Authorization` header and client address);
//! - [`forms`]: the token and authorization requests' parameters, typed;
//! - [`client_auth`]: client authentication, for every endpoint that asks;
//!   [`client_assertion`] checks `private_key_jwt` assertions with the keys
//!   of [`client_keys`];
//! - [`scope_rules`]: what a code or token may carry;
//! - [`pkce`]: RFC 7636, S256 only;
//! - [`sign_in`]: one throttled password check, whatever door it comes by;
//! - [`mint`]: the one path every grant's tokens take, and the token
//!   response; [`jwt`] signs them, [`id_token`] says what an id_token holds;
//! - [`dpop`]: DPoP proofs (RFC 9449) at the issuer, their `jti`s and
//!   server nonces;
//! - [`own_tokens`]: recognising the tokens this issuer signed;
//! - [`audit`]: the audit event of every token response.

pub mod audit;
pub mod backchannel_logout;
pub mod client_assertion;
pub mod client_auth;
pub mod client_keys;
pub mod context;
pub mod dpop;
pub mod forms;
pub mod id_token;
pub mod jwt;
pub mod mint;
pub mod own_tokens;
pub mod pkce;
pub mod scope_rules;
pub mod sign_in;
