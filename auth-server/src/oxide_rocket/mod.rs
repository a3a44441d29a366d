//! A Rocket 0.5 front end for [oxide-auth]: the request, response and error
//! types that let oxide-auth's (and oxide-auth-async's) endpoint flows run
//! inside Rocket handlers.
//!
//! oxide-auth ships adapters for axum, actix and poem but not for Rocket 0.5,
//! so this module plays that part. It knows nothing about the rest of the
//! auth-server (no database, no configuration): it only translates between
//! Rocket's request/response types and oxide-auth's `WebRequest` /
//! `WebResponse` traits, so it could be lifted out into its own crate.
//!
//! - [`OAuthRequest`] is a data guard (`data = "<req>"`) that captures the
//!   `Authorization` header, the query string and a form-encoded body within
//!   Rocket's `form` limit; as a plain request guard it captures the header and
//!   query only, for `GET` endpoints such as the authorization endpoint.
//! - [`OAuthResponse`] collects what a flow decides (status, `Location`,
//!   `WWW-Authenticate`, body) and is a Rocket [`Responder`].
//! - [`WebError`] is everything that can go wrong in between; it is a
//!   `Responder` too, answering RFC 6749-style JSON and never leaking internals.
//!
//! [oxide-auth]: https://docs.rs/oxide-auth
//! [`Responder`]: rocket::response::Responder

mod error;
mod request;
mod response;

pub use error::WebError;
pub use request::OAuthRequest;
pub use response::OAuthResponse;
