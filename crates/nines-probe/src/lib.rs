//! nines-probe: the active-probe engine of nines. It holds the check
//! configuration ([`config`]), one module per probe kind ([`http`], [`tcp`],
//! [`tls`], [`dns`]) behind one function signature, the [`scheduler`] that
//! runs up to 100,000 checks on a fixed grid, the pure per-check [`state`]
//! machine, and the [`history`] ring buffer. Probes return a
//! [`ProbeResult`] and write nothing; storage, metrics and the API live in
//! the crates that consume these results.
//!
//! # How to add a check kind
//!
//! 1. Write `src/<kind>.rs` with
//!    `pub async fn probe(check: &<Kind>Check, env: &ProbeEnv, t: &mut Timings) -> ProbeResult`
//!    that never panics, maps every failure to a [`ProbeResult`] with an
//!    [`ErrorKind`] (add a variant, with its label in `ErrorKind::as_str` and
//!    `ErrorKind::ALL`, if none fits) and fills the phases of `t` it goes
//!    through. Reuse `net::resolve`, `net::connect` and `net::tls_handshake`.
//! 2. Declare `<Kind>Check` in `config.rs` with the `check_kind!` macro (it
//!    adds the common fields), defaults as `#[serde(default = ...)]`, and add
//!    the variant to [`CheckSpec`].
//! 3. Follow the compiler: the `match`es in `CheckSpec::common`,
//!    `CheckSpec::kind`, `CheckSpec::validate` and [`probe`] list every place
//!    to touch. Add the kind's validation with exact-message table tests.
//! 4. Test the probe against a real local server bound to `127.0.0.1:0` in
//!    `tests/`.

// Probe steps return `Result<_, ProbeResult>`: the error is the run's result,
// built once per run, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod dns;
pub mod history;
pub mod http;
pub mod jsonpath;
pub mod net;
pub mod result;
pub mod scheduler;
pub mod state;
pub mod tcp;
pub mod tls;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

pub use config::{
    CheckSpec, Common, DnsCheck, EndpointFields, HttpCheck, JsonPathCondition, RecordKind, StatusPattern, TcpCheck,
    TlsCheck,
};
pub use history::{RecentResults, Recorded};
pub use net::{Error, ProbeEnv, ProbeEnvBuilder, SystemClock};
pub use result::{ErrorKind, Outcome, ProbeResult, Timings};
pub use scheduler::{CheckId, ProbeEvent, ReloadSummary, Scheduler, SchedulerConfig, StatsSnapshot};
pub use state::{CheckState, Thresholds, combine, step};

/// Run one check now, bounded by its `timeoutSeconds` (DNS included).
/// An unreachable or slow target is `Down` with its reason; this never panics
/// on data from outside and never hangs.
pub async fn probe(spec: &CheckSpec, env: &ProbeEnv) -> ProbeResult {
    let limit = spec.timeout();
    let start = Instant::now();
    let mut t = Timings::default();
    let run = async {
        match spec {
            CheckSpec::Http(c) => http::probe(c, env, &mut t).await,
            CheckSpec::Tcp(c) => tcp::probe(c, env, &mut t).await,
            CheckSpec::Tls(c) => tls::probe(c, env, &mut t).await,
            CheckSpec::Dns(c) => dns::probe(c, env, &mut t).await,
        }
    };
    match tokio::time::timeout(limit, run).await {
        Ok(mut r) => {
            r.timings = t;
            r
        }
        Err(_) => {
            t.total = start.elapsed();
            let phase = timeout_phase(spec, &t);
            let mut r = ProbeResult::down(
                ErrorKind::Timeout,
                format!("timeout after {} ({phase})", result::human_duration(limit)),
            );
            r.timings = t;
            r
        }
    }
}

/// The phase a timed-out run was in, from the phases it completed.
fn timeout_phase(spec: &CheckSpec, t: &Timings) -> &'static str {
    let (host, tls) = match spec {
        CheckSpec::Dns(_) => return "waiting for the DNS answer",
        CheckSpec::Http(c) => {
            (url::Url::parse(&c.url).ok().and_then(|u| u.host_str().map(str::to_owned)), c.url.starts_with("https:"))
        }
        CheckSpec::Tcp(c) => (Some(c.host.clone()), false),
        CheckSpec::Tls(c) => (Some(c.host.clone()), true),
    };
    let needs_dns = host.as_deref().is_some_and(|h| net::ip_literal(h).is_none());
    if t.connect.is_none() {
        if needs_dns && t.dns.is_none() { "resolving the name" } else { "connecting" }
    } else if tls && t.tls.is_none() {
        "TLS handshake"
    } else if matches!(spec, CheckSpec::Http(_)) && t.first_byte.is_none() {
        "waiting for the response"
    } else {
        "reading the response"
    }
}

/// What the scheduler calls to run one check. [`ProbeEnv`] runs the real
/// probes; tests give the scheduler a runner of their own.
pub trait Runner: Send + Sync + 'static {
    fn run(&self, check: Arc<CheckSpec>) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'static>>;
}

impl Runner for ProbeEnv {
    fn run(&self, check: Arc<CheckSpec>) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'static>> {
        let env = self.clone();
        Box::pin(async move { probe(&check, &env).await })
    }
}
