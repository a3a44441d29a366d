//! What operators see of a Rocket service: logs to stderr (text, or JSON
//! with `LOG_FORMAT=json`), one log line per request (method, route,
//! status, latency, request id, and the client address as
//! [`crate::client_addr`] determines it), Prometheus metrics by route and
//! status, and `GET /metrics` to scrape them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::{ContentType, Header};
use rocket::{Data, Request, Response, State, get, routes};

/// Installs the tracing subscriber (filter from `RUST_LOG`, else
/// `default_filter`) and bridges the `log` records Rocket writes. Call it
/// before building Rocket so that Rocket's own logger does not take over;
/// a second call is harmless. Standard output is left to the one
/// "listening on" line. Colours only when standard error is a terminal, so
/// that a log file or a collector gets plain text.
pub fn init_logging(default_filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    if log::set_boxed_logger(Box::new(RocketRecords(tracing_log::LogTracer::new()))).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Hands Rocket's `log` records to tracing, with the two it writes at
/// `WARN` for every refused request put at `DEBUG`: "Request guard `…`
/// failed" and "Responding with registered … catcher". A request without a
/// token is routine for an API, and our own request line already logs its
/// status; left as warnings they would drown the ones that matter.
struct RocketRecords(tracing_log::LogTracer);

impl log::Log for RocketRecords {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if is_routine_refusal(record) {
            let demoted = log::Record::builder()
                .level(log::Level::Debug)
                .target(record.target())
                .args(*record.args())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build();
            self.0.log(&demoted);
        } else {
            self.0.log(record);
        }
    }

    fn flush(&self) {}
}

/// Rocket writes these with its "indented" targets (`…::_`), from the code
/// its route macros generate and from its server; the text is Rocket 0.5's.
fn is_routine_refusal(record: &log::Record<'_>) -> bool {
    if record.level() != log::Level::Warn || !record.target().ends_with("::_") {
        return false;
    }
    // Only Rocket's warnings get this far, each a short line.
    let message = record.args().to_string();
    message.starts_with("Request guard `")
        || (record.target() == "rocket::server::_"
            && message.starts_with("Responding with registered "))
}

/// Latency buckets in seconds: from a cached JWKS hit to an argon2 login.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide Prometheus recorder, installed on first use (a process
/// has one global recorder; tests start several apps in one process).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// The request-telemetry fairing and the `/metrics` route.
pub fn stage(service: &'static str) -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("observability", move |rocket| async move {
        let _ = prometheus();
        rocket
            .attach(RequestTelemetry {
                service,
                series: RwLock::default(),
            })
            .mount("/", routes![metrics_text])
    })
}

/// Prometheus metrics: requests by route and status, latency histograms,
/// and the service's own counters.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub fn metrics_text(series: Option<&State<ScrapeSeries>>) -> (ContentType, String) {
    // One scrape at a time in a process: a service's hook may set gauges
    // of the process-wide recorder, and the render must show its values,
    // not those of another service in the same process (tests run many).
    static SCRAPE: Mutex<()> = Mutex::new(());
    let _one = SCRAPE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let own = series.map(|s| (s.0)()).unwrap_or_default();
    let mut body = prometheus()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    body.push_str(&own);
    let content_type =
        ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")]);
    (content_type, body)
}

/// Series a service computes when it is scraped, from its own state at
/// that moment (a key's age grows between events, so a gauge set only when
/// something happens would be stale): Prometheus text appended to the
/// recorder's, which the hook may also update first. Managed by the service.
#[derive(Clone)]
pub struct ScrapeSeries(pub Arc<dyn Fn() -> String + Send + Sync>);

struct RequestTelemetry {
    service: &'static str,
    /// The two series of each route, method and status, looked up once: the
    /// `metrics` macros build, allocate and hash the whole label set on
    /// every call (0.5 to 1.8 % of `GET /profile/me`'s CPU in a profile).
    series: RwLock<HashMap<SeriesKey, Series>>,
}

/// A route (by its address in the running Rocket, 0 for none), a method
/// and a status.
type SeriesKey = (usize, &'static str, u16);

/// At most this many series are remembered; beyond, they are looked up
/// every time (routes × methods × statuses stay far below it).
const MAX_REMEMBERED_SERIES: usize = 4096;

#[derive(Clone)]
struct Series {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RequestTelemetry {
    fn series(&self, key: SeriesKey, route: &str) -> Series {
        if let Some(found) = self.series.read().ok().and_then(|s| s.get(&key).cloned()) {
            return found;
        }
        let (_, method, status) = key;
        let labels = [
            ("service", self.service.to_owned()),
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let made = Series {
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
        };
        if let Ok(mut remembered) = self.series.write()
            && remembered.len() < MAX_REMEMBERED_SERIES
        {
            remembered.insert(key, made.clone());
        }
        made
    }
}

#[derive(Clone)]
struct RequestStart {
    at: Instant,
    id: String,
}

/// A request id from the caller is kept only if it is short and plain, so
/// a client cannot inject text into our logs.
fn incoming_request_id(request: &Request<'_>) -> Option<String> {
    let id = request.headers().get_one("X-Request-Id")?;
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    plain.then(|| id.to_owned())
}

#[rocket::async_trait]
impl Fairing for RequestTelemetry {
    fn info(&self) -> Info {
        Info {
            name: "request telemetry",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let id =
            incoming_request_id(request).unwrap_or_else(|| crate::ids::random_uuid().to_string());
        request.local_cache(|| RequestStart {
            at: Instant::now(),
            id,
        });
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let start = request.local_cache(|| RequestStart {
            at: Instant::now(),
            id: crate::ids::random_uuid().to_string(),
        });
        let elapsed = start.at.elapsed();
        // The route's template (`/profile/<id>`), never the raw path: bounded
        // label values, and no identifiers in metrics.
        let matched = request.route();
        let route = matched.map_or("unmatched", |r| r.uri.path());
        let method = request.method().as_str();
        let status = response.status().code;
        let client = crate::client_addr::ClientAddr::of(request).0;
        let key = (
            matched.map_or(0, |r| std::ptr::from_ref(r) as usize),
            method,
            status,
        );
        let series = self.series(key, route);
        series.requests.increment(1);
        series.duration.record(elapsed.as_secs_f64());
        tracing::info!(
            target: "http",
            request_id = %start.id,
            method,
            route = %route,
            status,
            client_ip = ?client,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
        response.set_header(Header::new("X-Request-Id", start.id.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routine(level: log::Level, target: &str, message: std::fmt::Arguments<'_>) -> bool {
        is_routine_refusal(
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(message)
                .build(),
        )
    }

    #[test]
    fn only_rockets_per_request_refusal_lines_are_routine() {
        let guard = "Authenticated";
        assert!(routine(
            log::Level::Warn,
            "resource_server::profiles::_",
            format_args!("Request guard `{guard}` failed: Missing.")
        ));
        assert!(routine(
            log::Level::Warn,
            "rocket::server::_",
            format_args!("Responding with registered (unauthorized) 401 catcher.")
        ));
        // Other warnings of Rocket's, and the same text from anyone else.
        assert!(!routine(
            log::Level::Warn,
            "rocket::server::_",
            format_args!("No 401 catcher registered. Using Rocket default.")
        ));
        assert!(!routine(
            log::Level::Warn,
            "rocket::data::data_stream::_",
            format_args!("Data limit reached while reading JSON.")
        ));
        assert!(!routine(
            log::Level::Warn,
            "auth_server::users",
            format_args!("Request guard `x` failed")
        ));
        assert!(!routine(
            log::Level::Error,
            "resource_server::profiles::_",
            format_args!("Request guard `x` failed")
        ));
    }
}
