//! The one way a service of this product boots. Each service's `main.rs`
//! and its tests do the same three steps:
//!
//! 1. its settings from [`crate::settings`] (`AppConfig::from_figment`),
//! 2. `Services::open(config)`: the database opened and migrated, and the
//!    background tasks started (held in a [`Background`]),
//! 3. `rocket(figment, services)`: Rocket built around them,
//!
//! ([`build`] runs the three), and the binary then [`launch`]es it. Every
//! step that can fail does so before Rocket starts, with a
//! [`StartupError`] that names the setting at fault. [`service`] is the
//! Rocket every service starts from.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use rocket::error::ErrorKind;
use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use tokio::task::JoinHandle;

use crate::db::DbSetupError;
use crate::settings::SettingError;

/// Why a service cannot start: one line that names the setting at fault
/// (`DATABASE_URL: cannot connect: …`). A service turns its own start-up
/// failures into one with `From`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

impl From<SettingError> for StartupError {
    fn from(error: SettingError) -> StartupError {
        StartupError(error.to_string())
    }
}

impl From<DbSetupError> for StartupError {
    fn from(error: DbSetupError) -> StartupError {
        StartupError(format!("DATABASE_URL: {error}"))
    }
}

/// The sequence itself: Rocket's settings and then the service's checked
/// (`settings`), its services opened (`open`), Rocket built around them
/// (`rocket`). Each service's `build(figment)` is this with its own three.
pub async fn build<C, S, E, F>(
    figment: Figment,
    settings: impl FnOnce(&Figment) -> Result<C, SettingError>,
    open: impl FnOnce(C) -> F,
    rocket: impl FnOnce(Figment, S) -> Rocket<Build>,
) -> Result<Rocket<Build>, E>
where
    F: Future<Output = Result<S, E>>,
    E: From<SettingError>,
{
    crate::settings::rocket_config(&figment)?;
    let config = settings(&figment)?;
    let services = open(config).await?;
    Ok(rocket(figment, services))
}

/// The Rocket a service named `name` starts from: the warnings its
/// settings gave logged, its request logs and metrics
/// ([`observe::stage`](crate::observe::stage)), and the line that
/// announces where it listens ([`announce`]). The service adds its
/// catchers, state and stages.
pub fn service(
    name: &'static str,
    figment: Figment,
    warnings: impl IntoIterator<Item = String>,
) -> Rocket<Build> {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    rocket::custom(figment)
        .attach(crate::observe::stage(name))
        .attach(announce(name))
}

/// Tasks a service runs beside its requests (a poll, a refresher, a
/// prune). They end when this is dropped: Rocket manages it, so they end
/// with the server, and a test that drops its services stops them too.
#[derive(Debug, Default)]
pub struct Background(Vec<JoinHandle<()>>);

impl Background {
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }

    /// A task spawned elsewhere (say, by a library) that should end with
    /// the server.
    pub fn adopt(&mut self, task: JoinHandle<()>) {
        self.0.push(task);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Prints `NAME listening on http://ADDRESS:PORT` once the server listens:
/// the one line on standard output, which scripts and tests read the port
/// from.
pub fn announce(name: &'static str) -> AdHoc {
    AdHoc::on_liftoff("announce", move |rocket| {
        Box::pin(async move {
            let config = rocket.config();
            println!(
                "{name} listening on http://{}:{}",
                config.address, config.port
            );
        })
    })
}

/// Serves until shut down; a failure is one line for the operator.
pub async fn launch(rocket: Rocket<Build>) -> Result<(), String> {
    match rocket.launch().await {
        Ok(_) => Ok(()),
        Err(error) => Err(match error.kind() {
            ErrorKind::Bind(e) => format!("ROCKET_ADDRESS/ROCKET_PORT: cannot listen: {e}"),
            other => format!("cannot start: {other}"),
        }),
    }
}

/// The exit of a command: 0, or 1 after `NAME: error` on standard error.
pub fn exit(name: &str, result: Result<(), impl Display>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}
