//! The pages people see at the authorization server: how a page is made
//! and answered ([`page`]: templates, stylesheet, Content-Security-Policy),
//! and the pages of the authorization and logout endpoints
//! ([`authorization`]: sign-in, consent, errors, signed out) and of
//! `/oauth/device` ([`device`]), so that the
//! endpoints' doors say what to show and not how.

pub mod authorization;
pub mod device;
pub mod page;
