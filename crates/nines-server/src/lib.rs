//! `nines serve`: the REST API, push ingestion and the background workers.
//!
//! Layout, from the bottom up: [`auth`] and [`access`] API keys and what
//! each role may do; [`api`] the HTTP handlers by domain (push, read, apply,
//! keys); [`web`] the dashboard and the public status pages, which use the
//! API's views; [`openapi`] the document of both and its page; [`router`]
//! every route behind the access check; [`serve`] the listener. A module
//! uses only those below it.
//! What runs behind them is in `nines-engine`, re-exported here under the
//! paths the server has always used: the batched health writer
//! ([`ingest`]), the server's checks and their results ([`probes`],
//! [`probe_live`]), the notifier ([`notify`]), the singleton workers
//! ([`workers`]), the SLO figures ([`slo`]), maintenance windows
//! ([`maintenance`]), settings ([`config`]), the daily report ([`report`])
//! and `/metrics` ([`metrics`]). The domain rules live in `nines-core`,
//! storage in `nines-store`; nothing here decides what a status means.

pub mod access;
pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod itops_reference;
pub mod oidc;
pub mod openapi;
pub mod router;
pub mod serve;
pub mod web;

// the engines, under the paths the server and its users have always used
pub use nines_engine::{
    config, ingest, leadership, maintenance, metrics, notify, observability, probe_live, probes, report, slo, workers,
};

use nines_core::clock::Clock;
use nines_core::timeline::StaleRule;
use nines_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Settings of a running server (the CLI fills them from flags and env).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub stale: StaleRule,
    pub stale_check_every: Duration,
    pub max_body_bytes: usize,
    /// Identifies this replica in the lease table.
    pub replica: String,
    /// How long a workers lease lasts without renewal.
    pub lease_ttl_ms: i64,
    /// How often the lease is renewed (or tried for).
    pub lease_renew: Duration,
    /// How often the SLO worker runs (aggregation, burn rates, metrics).
    pub slo_every: Duration,
    /// How often server-side checks look for changed configuration.
    pub checks_reload_every: Duration,
    /// How often the downtime worker looks for new transitions.
    pub downtime_every: Duration,
    /// How often the accounting worker samples VictoriaLogs and VictoriaMetrics.
    pub observability_every: Duration,
    /// The notifier: intervals, links' base URL, the secrets' key, retries.
    pub notify: notify::NotifyConfig,
    /// The daily SLA report and retention.
    pub report: report::ReportConfig,
    /// Connection limits and timeouts of the HTTP server.
    pub http: serve::HttpLimits,
    /// How people sign in to the dashboard: API keys, the OpenID Connect
    /// provider, how long a session lasts.
    pub sign_in: oidc::SignInConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            stale: StaleRule::default(),
            stale_check_every: Duration::from_secs(60),
            max_body_bytes: 1 << 20,
            replica: format!("nines-{}", std::process::id()),
            lease_ttl_ms: leadership::LEASE_TTL_MS,
            lease_renew: leadership::LEASE_RENEW,
            slo_every: Duration::from_secs(60),
            checks_reload_every: Duration::from_secs(5),
            downtime_every: Duration::from_secs(2),
            observability_every: Duration::from_secs(300),
            notify: notify::NotifyConfig::default(),
            report: report::ReportConfig::default(),
            http: serve::HttpLimits::default(),
            sign_in: oidc::SignInConfig::default(),
        }
    }
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// What every request handler shares. Cloned for each request by each
/// extractor that needs it, so it is one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<ServerConfig>,
    pub auth: Arc<auth::Auth>,
    pub ingest: ingest::Ingest,
    pub leadership: leadership::Leadership,
    pub ready: Arc<AtomicBool>,
    pub metrics: Arc<metrics::Metrics>,
    pub probes: Arc<probes::ProbeEngine>,
    pub notifier: Arc<notify::Notifier>,
    /// The OpenID Connect provider of dashboard sign-in, when configured.
    pub oidc: Option<Arc<oidc::Provider>>,
}

/// A running server: its address, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish, drain the writer,
    /// release the lease.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        // the router (and with it the last ingest sender) is gone now
        drop(self.state);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Stop everything at once without releasing anything, as a crash
    /// would (tests of failover use this).
    pub fn abort(self) {
        self.server.abort();
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Start serving on `listener` with background workers.
pub async fn start(
    store: Store,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    listener: TcpListener,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let floor = Arc::new(AtomicI64::new(clock.now_ms()));
    let writers = match store.dialect() {
        nines_store::Dialect::Sqlite => 1,
        nines_store::Dialect::Postgres => 4,
    };
    let (ingest, mut tasks) = ingest::Ingest::start(store.clone(), config.stale, floor.clone(), writers);
    let leadership = leadership::Leadership {
        is_leader: Arc::new(AtomicBool::new(false)),
        floor,
        replica: config.replica.clone(),
        passes: Default::default(),
    };
    let state = AppState(Arc::new(Shared {
        store: store.clone(),
        clock: clock.clone(),
        auth: Arc::new(auth::Auth::new(store.clone(), clock.clone())),
        config: Arc::new(config.clone()),
        ingest: ingest.clone(),
        leadership: leadership.clone(),
        ready: Arc::new(AtomicBool::new(true)),
        metrics: Arc::new(metrics::Metrics::default()),
        probes: Arc::new(probes::ProbeEngine::new(store.clone(), clock.clone(), ingest.clone())),
        notifier: Arc::new(notify::Notifier::new(
            store.clone(),
            clock.clone(),
            config.notify.clone(),
            &addr.to_string(),
            &config.replica,
        )),
        oidc: config.sign_in.oidc.clone().map(|c| Arc::new(oidc::Provider::new(c, clock.clone()))),
    }));
    tasks.push(tokio::spawn(leadership::lead(
        store.clone(),
        clock.clone(),
        leadership.clone(),
        (config.lease_ttl_ms, config.lease_renew),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(workers::stale_detector(
        store.clone(),
        clock.clone(),
        leadership,
        config.stale,
        config.stale_check_every,
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(workers::slo_worker(
        store.clone(),
        clock.clone(),
        state.leadership.clone(),
        state.metrics.clone(),
        config.slo_every,
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(workers::downtime_worker(
        store.clone(),
        clock.clone(),
        state.leadership.clone(),
        config.downtime_every,
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(observability::worker(
        store.clone(),
        clock.clone(),
        state.leadership.clone(),
        state.metrics.observability_series(),
        config.observability_every,
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(notify::run(state.notifier.clone(), state.leadership.clone(), stop_rx.clone())));
    tasks.push(tokio::spawn(report::scheduler(
        store.clone(),
        clock.clone(),
        state.leadership.clone(),
        config.report.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(report::retention(
        store.clone(),
        clock.clone(),
        state.leadership.clone(),
        config.report.clone(),
        stop_rx.clone(),
    )));
    tasks.push(tokio::spawn(probes::run_local(
        state.probes.clone(),
        clock.clone(),
        state.leadership.clone(),
        config.checks_reload_every,
        stop_rx.clone(),
    )));
    let app = router::router(state.clone());
    let mut stop_srv = stop_rx.clone();
    let ready = state.ready.clone();
    // readiness goes false the moment a stop is asked for
    tokio::spawn(async move {
        let _ = stop_srv.changed().await;
        ready.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    let server = tokio::spawn(serve::serve(listener, app, config.http.clone(), stop_rx.clone()));
    Ok(Running { addr, state, stop: stop_tx, tasks, server })
}
