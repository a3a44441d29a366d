//! The grants of the token endpoint (RFC 6749 §4, §6), one file each,
//! named by the grant: each checks what its grant requires of the request
//! and of the client, and gets a token response back from `oauth::mint`
//! (directly, or through the oxide-auth adapter's flows). The token
//! endpoint (`routes::token`) dispatches on `grant_type` to them.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;
