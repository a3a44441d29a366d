//! Logging: `tracing` to standard error (standard output carries only the
//! "listening on" line), with Rocket's `log` records bridged in. Filter with
//! `RUST_LOG`. Nothing here or elsewhere logs a token.

use tracing_subscriber::EnvFilter;

/// Rocket's own records are kept to warnings by default, so a failed
/// start-up ends with the one line that names the setting.
///
/// Installs the subscriber and the `log` bridge; call before building
/// Rocket so that Rocket's own logger does not take over. Calling it twice
/// is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rocket=warn,_=warn,hyper=warn,sqlx=warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .finish();
    let _ = tracing_log::LogTracer::init();
    let _ = tracing::subscriber::set_global_default(subscriber);
}
