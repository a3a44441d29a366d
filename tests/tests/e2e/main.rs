//! End-to-end tests: the real auth-server and resource-server binaries,
//! and the example axum service, talking over loopback HTTP. One binary;
//! one file per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod authorization_code;
mod axum_example;
mod backchannel_logout;
mod browser;
mod delegation;
mod device_login_example;
mod dpop;
mod faults;
mod instances;
mod interop_node;
mod issuer;
mod logs;
mod oidc;
mod profiles;
mod registration;
mod rejections;
mod startup;
