//! End-to-end tests: the real auth-server and resource-server binaries,
//! talking over loopback HTTP. One binary; one file per feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod authorization_code;
mod browser;
mod faults;
mod instances;
mod issuer;
mod oidc;
mod profiles;
mod rejections;
mod startup;
