//! Logging: tracing to stderr, human-readable or JSON (`LOG_FORMAT=json`),
//! filtered by `RUST_LOG`. Rocket logs through the `log` crate, so its
//! records are bridged into tracing before Rocket starts.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let _ = tracing_log::LogTracer::init();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rocket=warn,_=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
