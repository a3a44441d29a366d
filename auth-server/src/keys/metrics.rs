//! The signing keys as Prometheus series, computed from the ring when
//! `/metrics` is scraped: a key's age grows between changes, so a gauge set
//! only when the ring changes would lie. A rotation gone wrong breaks every
//! JWKS consumer at once; these series are what its alerts watch
//! (`deploy/prometheus/alerts.yml`).

use std::fmt::Write;

use super::lifecycle::KeyState;
use super::ring::KeyRing;

/// The states a published key can be in, each always reported (0 when
/// none), so that a rule sees "no `next` key" rather than no series.
const PUBLISHED: [KeyState; 3] = [KeyState::Next, KeyState::Active, KeyState::Retiring];

/// Prometheus text for `ring` at `now`, with the rotation schedule
/// (`KEY_ROTATION_INTERVAL`, seconds) when there is one.
pub fn series(ring: &KeyRing, interval: Option<i64>, now: i64) -> String {
    let mut out = String::new();
    let age = (now - ring.signing_since).max(0);
    gauge(
        &mut out,
        "signing_key_age_seconds",
        "Seconds since the signing key began to sign.",
        &[("", age)],
    );
    let by_state: Vec<(String, i64)> = PUBLISHED
        .iter()
        .map(|state| {
            let count = ring
                .entries
                .iter()
                .filter(|e| e.state(now) == *state)
                .count();
            (
                format!("state=\"{}\"", state.as_str()),
                i64::try_from(count).unwrap_or(i64::MAX),
            )
        })
        .collect();
    let by_state: Vec<(&str, i64)> = by_state.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    gauge(
        &mut out,
        "signing_keys",
        "Keys in the published JWK Set, by state.",
        &by_state,
    );
    if let Some(interval) = interval {
        gauge(
            &mut out,
            "signing_key_rotation_interval_seconds",
            "KEY_ROTATION_INTERVAL: seconds a key signs before the schedule rotates it.",
            &[("", interval)],
        );
        gauge(
            &mut out,
            "signing_key_next_rotation_timestamp_seconds",
            "When the scheduled rotation next changes the signing key (Unix seconds).",
            &[("", next_rotation(ring, interval, now))],
        );
    }
    out
}

/// When the signing key next changes on schedule: the activation of the
/// key already waiting, else when the schedule will publish the next one.
fn next_rotation(ring: &KeyRing, interval: i64, now: i64) -> i64 {
    ring.entries
        .iter()
        .filter(|e| e.state(now) == KeyState::Next)
        .map(|e| e.activates_at)
        .min()
        .unwrap_or(ring.signing_since.saturating_add(interval))
}

fn gauge(out: &mut String, name: &str, help: &str, values: &[(&str, i64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in values {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The hook `/metrics` calls: this server's ring at the time of the scrape.
pub fn scrape_series(
    keys: std::sync::Arc<super::KeyStore>,
    interval: Option<i64>,
    clock: shared::clock::AppClock,
) -> platform::observe::ScrapeSeries {
    platform::observe::ScrapeSeries(std::sync::Arc::new(move || {
        series(&keys.current(), interval, clock.now())
    }))
}
