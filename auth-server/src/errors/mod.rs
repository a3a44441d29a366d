//! The auth-server's two error vocabularies, one per answer format, each
//! written by one responder in one file:
//! - [`ApiError`] (`problem`): everything outside the OAuth endpoints, as
//!   problem+json (RFC 9457);
//! - [`OAuthError`] (`oauth`): the OAuth endpoints' RFC 6749 / RFC 6750
//!   errors, `{"error", "error_description"}`.

pub mod oauth;
pub mod problem;

pub use oauth::{OAuthError, OAuthErrorCode};
pub use problem::ApiError;
