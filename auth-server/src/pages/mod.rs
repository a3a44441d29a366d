//! The pages people see at the authorization server: how a page is made
//! and answered ([`page`]: templates, stylesheet, Content-Security-Policy,
//! over [`chrome`], the frame and scope words every page shares),
//! and the pages of the authorization and logout endpoints
//! ([`authorization`]: sign-in, consent, errors, signed out) and of
//! `/oauth/device` ([`device`]), so that the
//! endpoints' doors say what to show and not how.

pub mod authorization;
pub mod chrome;
pub mod device;
pub mod page;
