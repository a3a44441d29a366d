//! Counters of the request path taken once per process rather than once
//! per increment: `metrics::counter!` looks its series up in the
//! recorder's registry (a hash of name and labels and a read lock) every
//! time, and a request through the guard counts four series.
//!
//! [`static_counter!`] gives the handle of one series whose labels are
//! literals, registered with the global recorder on first use and shared
//! by every later increment. The recorder must be installed before that
//! first use: a handle taken earlier counts into nothing for the life of
//! the process. Every service installs it while it starts
//! (`platform::observe::prometheus`), before it serves a request, and
//! these counters are only reached from requests. A series whose label
//! varies (a refusal's reason) still goes through `metrics::counter!`:
//! those are refusals, not the hot path.

/// The `metrics::Counter` of one series with literal labels, taken once:
/// `static_counter!("token_checks_total", "outcome" => "accepted")`.
macro_rules! static_counter {
    ($name:literal $(, $label:literal => $value:literal)* $(,)?) => {{
        static HANDLE: ::std::sync::OnceLock<::metrics::Counter> = ::std::sync::OnceLock::new();
        HANDLE.get_or_init(|| ::metrics::counter!($name $(, $label => $value)*))
    }};
}

pub(crate) use static_counter;
