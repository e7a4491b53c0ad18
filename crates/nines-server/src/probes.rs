//! Active checks inside nines: parsing the `checks:` of config documents,
//! running server-side checks on the leader, accepting results from remote
//! agents, and turning results into statuses on the timeline.
//!
//! A result goes through the probe engine's state machine per check and
//! location (consecutive failure/success thresholds), locations combine by
//! quorum into the check's status, and a service's status is the worst of
//! its checks'. Only a change of that status becomes an observation on the
//! timeline, at the event time of the run that caused it. The engine, not
//! the probe, records metrics, recent results and failures.

use nines_core::apply::ServiceSpec;
use nines_core::clock::{Clock, Millis};
use nines_core::timeline::Cause;
use nines_core::{Criticality, FieldError, FieldErrors, Source, Status};
use nines_probe::{CheckSpec, Outcome, ProbeResult, RecentResults, Thresholds};
use nines_store::checks::{CheckRow, CheckStateRow, FailureRow, StoredCheck};
use nines_store::{HealthOp, NewService, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// Where checks without `locations` run: in the nines server itself.
pub const SERVER_LOCATION: &str = "server";

/// Parse and validate the `checks:` of every document. Returns the rows to
/// store (parallel to `specs`) and every problem found.
pub fn parse_checks(specs: &[ServiceSpec]) -> (Vec<Vec<CheckRow>>, FieldErrors) {
    let mut errs = FieldErrors::default();
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let mut rows: Vec<CheckRow> = Vec::new();
        for (j, raw) in spec.checks.iter().enumerate() {
            let path = format!("{}checks[{j}]", spec.prefix);
            let parsed: CheckSpec = match serde_path_to_error::deserialize(raw) {
                Ok(c) => c,
                Err(e) => {
                    errs.push(nines_core::apply::path_error(&format!("{path}."), &e));
                    continue;
                }
            };
            let problems = parsed.validate(&path);
            if !problems.is_empty() {
                errs.0.extend(problems);
                continue;
            }
            let c = parsed.common();
            let name = c.name.map(str::to_string).unwrap_or_else(|| format!("{}-{j}", parsed.kind()));
            if let Err(r) = nines_core::check_name(&name) {
                errs.push(FieldError::invalid(format!("{path}.name"), r));
                continue;
            }
            if rows.iter().any(|r| r.name == name) {
                errs.push(FieldError::invalid(
                    format!("{path}.name"),
                    format!("{name:?} names another check of this service"),
                ));
                continue;
            }
            let locations = c.locations.to_vec();
            rows.push(CheckRow {
                name,
                kind: parsed.kind().to_string(),
                spec: serde_json::to_string(&parsed).unwrap_or_default(),
                locations,
            });
        }
        out.push(rows);
    }
    (out, errs)
}

/// One run's result as agents send it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunResult {
    pub check_id: String,
    /// Event time of the run (ms since the epoch).
    pub at: i64,
    /// `up`, `degraded` or `down`.
    pub outcome: String,
    pub message: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub dns_ms: Option<f64>,
    #[serde(default)]
    pub connect_ms: Option<f64>,
    #[serde(default)]
    pub tls_ms: Option<f64>,
    #[serde(default)]
    pub first_byte_ms: Option<f64>,
    pub total_ms: f64,
    #[serde(default)]
    pub cert_not_after: Option<i64>,
}

fn ms(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

impl RunResult {
    pub fn from_probe(check_id: &str, at: Millis, r: &ProbeResult) -> RunResult {
        RunResult {
            check_id: check_id.to_string(),
            at,
            outcome: r.outcome.as_str().to_string(),
            message: r.message.clone(),
            error: r.error.map(|e| e.as_str().to_string()),
            http_status: r.http_status,
            dns_ms: ms(r.timings.dns),
            connect_ms: ms(r.timings.connect),
            tls_ms: ms(r.timings.tls),
            first_byte_ms: ms(r.timings.first_byte),
            total_ms: r.timings.total.as_secs_f64() * 1000.0,
            cert_not_after: r.cert_not_after_ms,
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        match self.outcome.as_str() {
            "up" => Some(Outcome::Up),
            "degraded" => Some(Outcome::Degraded),
            "down" => Some(Outcome::Down),
            _ => None,
        }
    }
}

/// Worst first: what a service with several checks shows.
fn severity(s: Status) -> u8 {
    match s {
        Status::Down => 4,
        Status::Degraded => 3,
        Status::Unknown => 2,
        Status::Maintenance => 1,
        Status::Operational => 0,
    }
}

#[derive(Clone)]
struct Latest {
    check: StoredCheck,
    location: String,
    result: RunResult,
}

/// Counters of the engine, for /metrics.
#[derive(Default)]
struct Counters {
    runs: u64,
    late: u64,
    errors: BTreeMap<String, u64>,
}

/// Every check, with what the hot path needs worked out once per load:
/// the parsed spec and the checks of each service (sorted by id). Derefs to
/// the stored checks by id.
#[derive(Default)]
pub struct CheckSet {
    by_id: HashMap<String, StoredCheck>,
    specs: HashMap<String, CheckSpec>,
    by_service: HashMap<i64, Vec<String>>,
}

impl CheckSet {
    pub fn new(checks: Vec<StoredCheck>) -> Self {
        let mut set = CheckSet::default();
        for c in checks {
            if let Ok(spec) = serde_json::from_str::<CheckSpec>(&c.spec) {
                set.specs.insert(c.id.clone(), spec);
            }
            set.by_service.entry(c.service_id).or_default().push(c.id.clone());
            set.by_id.insert(c.id.clone(), c);
        }
        for ids in set.by_service.values_mut() {
            ids.sort();
        }
        set
    }

    pub fn spec(&self, id: &str) -> Option<&CheckSpec> {
        self.specs.get(id)
    }

    /// The checks of a service, in id order.
    pub fn of_service(&self, service_id: i64) -> impl Iterator<Item = &StoredCheck> {
        self.by_service.get(&service_id).into_iter().flatten().filter_map(|id| self.by_id.get(id))
    }
}

impl std::ops::Deref for CheckSet {
    type Target = HashMap<String, StoredCheck>;
    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

/// Turns results (local or from agents) into states, statuses, recent
/// results, failures and metrics.
pub struct ProbeEngine {
    pub(crate) store: Store,
    clock: Arc<dyn Clock>,
    ingest: crate::ingest::Ingest,
    checks: Mutex<(String, Arc<CheckSet>)>,
    recent: Mutex<HashMap<String, RecentResults>>,
    latest: Mutex<HashMap<(String, String), Latest>>,
    service_status: Mutex<HashMap<i64, Status>>,
    counters: Mutex<Counters>,
}

impl ProbeEngine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, ingest: crate::ingest::Ingest) -> Self {
        ProbeEngine {
            store,
            clock,
            ingest,
            checks: Mutex::new((String::new(), Arc::new(CheckSet::default()))),
            recent: Mutex::new(HashMap::new()),
            latest: Mutex::new(HashMap::new()),
            service_status: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
        }
    }

    /// Every check, reloaded when the checks version moves.
    pub async fn checks(&self) -> nines_store::Result<Arc<CheckSet>> {
        let version = self.store.checks_version().await?;
        if let Ok(g) = self.checks.lock()
            && g.0 == version
        {
            return Ok(g.1.clone());
        }
        let all = Arc::new(CheckSet::new(self.store.list_checks(None).await?));
        if let Ok(mut g) = self.checks.lock() {
            *g = (version, all.clone());
        }
        // series of removed checks disappear
        if let Ok(mut l) = self.latest.lock() {
            l.retain(|(id, _), _| all.contains_key(id));
        }
        if let Ok(mut r) = self.recent.lock() {
            r.retain(|id, _| all.contains_key(id));
        }
        Ok(all)
    }

    /// Count a late start (the scheduler reports them).
    pub fn count_late(&self, n: u64) {
        if let Ok(mut c) = self.counters.lock() {
            c.late += n;
        }
    }

    /// Record results from `location`. Unknown checks are skipped (returned).
    pub async fn record(&self, location: &str, results: &[RunResult]) -> nines_store::Result<Vec<String>> {
        let checks = self.checks().await?;
        let mut unknown = Vec::new();
        let mut touched_services: Vec<i64> = Vec::new();
        for r in results {
            match checks.get(&r.check_id) {
                Some(c) if r.outcome().is_some() => {
                    if !touched_services.contains(&c.service_id) {
                        touched_services.push(c.service_id);
                    }
                }
                _ => unknown.push(r.check_id.clone()),
            }
        }
        let mut states: HashMap<(String, String), CheckStateRow> = self
            .store
            .check_states_of_services(&touched_services)
            .await?
            .into_iter()
            .map(|(_, s)| ((s.check_id.clone(), s.location.clone()), s))
            .collect();
        let mut changed_states = Vec::new();
        let mut failures = Vec::new();
        let mut sorted: Vec<&RunResult> = results.iter().filter(|r| checks.contains_key(&r.check_id)).collect();
        sorted.sort_by_key(|r| r.at);
        // (service, status, at, message) for every change, in time order
        let mut changes: Vec<(i64, Status, Millis, String)> = Vec::new();
        let mut current: HashMap<i64, Status> = HashMap::new();
        if let Ok(m) = self.service_status.lock() {
            for sid in &touched_services {
                if let Some(s) = m.get(sid) {
                    current.insert(*sid, *s);
                }
            }
        }
        for r in sorted {
            let Some(outcome) = r.outcome() else { continue };
            let c = &checks[&r.check_id];
            let th = checks.spec(&r.check_id).map(Thresholds::of).unwrap_or_default();
            let key = (r.check_id.clone(), location.to_string());
            let prev = states.get(&key);
            if prev.is_some_and(|p| p.last_at > r.at) {
                continue; // an older run than the one the state already holds
            }
            let st = nines_probe::CheckState {
                status: prev.map_or(Status::Unknown, |p| p.status),
                consecutive_failures: prev.map_or(0, |p| p.failures as u32),
                consecutive_successes: prev.map_or(0, |p| p.successes as u32),
            };
            let next = nines_probe::step(st, outcome, th);
            let row = CheckStateRow {
                check_id: r.check_id.clone(),
                location: location.to_string(),
                status: next.status,
                failures: next.consecutive_failures as i64,
                successes: next.consecutive_successes as i64,
                last_at: r.at,
                last_outcome: r.outcome.clone(),
                last_message: r.message.clone(),
            };
            states.insert(key, row.clone());
            changed_states.push(row);
            if outcome != Outcome::Up {
                failures.push(FailureRow {
                    check_id: r.check_id.clone(),
                    location: location.to_string(),
                    at: r.at,
                    outcome: r.outcome.clone(),
                    error_kind: r.error.clone(),
                    message: r.message.clone(),
                    http_status: r.http_status.map(i64::from),
                    total_ms: Some(r.total_ms),
                });
            }
            // the service's status after this run: a change is placed at this run's time
            let (status, message) = service_status(&checks, &states, c.service_id);
            if status != Status::Unknown && current.get(&c.service_id) != Some(&status) {
                current.insert(c.service_id, status);
                changes.push((c.service_id, status, r.at, message));
            }
            if let Ok(mut rec) = self.recent.lock() {
                let ring = rec.entry(r.check_id.clone()).or_insert_with(|| RecentResults::new(100, 20));
                ring.push(r.at, to_probe_result(r));
            }
            if let Ok(mut l) = self.latest.lock() {
                l.insert(
                    (r.check_id.clone(), location.to_string()),
                    Latest { check: c.clone(), location: location.to_string(), result: r.clone() },
                );
            }
            if let Ok(mut cnt) = self.counters.lock() {
                cnt.runs += 1;
                if let Some(e) = &r.error {
                    *cnt.errors.entry(e.clone()).or_default() += 1;
                }
            }
        }
        self.store.save_check_results(&changed_states, &failures).await?;
        let now = self.clock.now_ms();
        for (sid, status, at, message) in changes {
            let Some(c) = checks.of_service(sid).next() else { continue };
            let op = HealthOp {
                service: NewService {
                    organization: c.organization.clone(),
                    node_id: c.node_id.clone(),
                    name: c.service.clone(),
                    kind: "endpoint".into(),
                    criticality: Criticality::Medium,
                    sla_group: None,
                    tags: Vec::new(),
                    source: Source::Probe,
                    backup_expected: false,
                },
                status,
                message: Some(message),
                at: at.min(now),
                received_at: now,
                cause: Cause::Probe,
            };
            match self.ingest.submit(op).await {
                Ok(_) => {
                    if let Ok(mut m) = self.service_status.lock() {
                        m.insert(sid, status);
                    }
                }
                Err(e) => tracing::error!(service_id = sid, error = ?e.message, "recording a probe status failed"),
            }
        }
        Ok(unknown)
    }

    pub fn recent(&self, check_id: &str) -> Vec<(Millis, ProbeResult)> {
        self.recent
            .lock()
            .ok()
            .and_then(|r| r.get(check_id).map(|ring| ring.results().map(|x| (x.at_ms, x.result.clone())).collect()))
            .unwrap_or_default()
    }

    /// Blackbox-compatible series plus the engine's counters.
    pub fn render_metrics(&self, out: &mut String) {
        let latest: Vec<Latest> = self.latest.lock().map(|l| l.values().cloned().collect()).unwrap_or_default();
        let label = |l: &Latest| {
            format!(
                "check=\"{}\",service=\"{}\",organization=\"{}\",location=\"{}\",type=\"{}\"",
                esc(&l.check.id),
                esc(&l.check.service),
                esc(&l.check.organization),
                esc(&l.location),
                l.check.kind
            )
        };
        let mut sorted = latest;
        sorted.sort_by(|a, b| (&a.check.id, &a.location).cmp(&(&b.check.id, &b.location)));
        let _ = writeln!(out, "# HELP probe_success Whether the last run of the check succeeded (1) or not (0).");
        let _ = writeln!(out, "# TYPE probe_success gauge");
        for l in &sorted {
            let ok = if l.result.outcome == "down" { 0 } else { 1 };
            let _ = writeln!(out, "probe_success{{{}}} {ok}", label(l));
        }
        let _ = writeln!(out, "# HELP probe_duration_seconds Duration of the last run by phase.");
        let _ = writeln!(out, "# TYPE probe_duration_seconds gauge");
        for l in &sorted {
            let r = &l.result;
            for (phase, v) in [
                ("resolve", r.dns_ms),
                ("connect", r.connect_ms),
                ("tls", r.tls_ms),
                ("processing", r.first_byte_ms),
                ("total", Some(r.total_ms)),
            ] {
                if let Some(v) = v {
                    let _ = writeln!(out, "probe_duration_seconds{{{},phase=\"{phase}\"}} {}", label(l), v / 1000.0);
                }
            }
        }
        let _ = writeln!(out, "# HELP probe_http_status_code HTTP status of the last run.");
        let _ = writeln!(out, "# TYPE probe_http_status_code gauge");
        for l in &sorted {
            if let Some(code) = l.result.http_status {
                let _ = writeln!(out, "probe_http_status_code{{{}}} {code}", label(l));
            }
        }
        let _ = writeln!(out, "# HELP probe_ssl_earliest_cert_expiry Earliest certificate expiry, Unix seconds.");
        let _ = writeln!(out, "# TYPE probe_ssl_earliest_cert_expiry gauge");
        for l in &sorted {
            if let Some(t) = l.result.cert_not_after {
                let _ = writeln!(out, "probe_ssl_earliest_cert_expiry{{{}}} {}", label(l), t / 1000);
            }
        }
        if let Ok(c) = self.counters.lock() {
            let _ = writeln!(out, "# HELP nines_probe_runs_total Check runs recorded.");
            let _ = writeln!(out, "# TYPE nines_probe_runs_total counter");
            let _ = writeln!(out, "nines_probe_runs_total {}", c.runs);
            let _ = writeln!(
                out,
                "# HELP nines_probe_late_starts_total Runs that started more than a second after their slot."
            );
            let _ = writeln!(out, "# TYPE nines_probe_late_starts_total counter");
            let _ = writeln!(out, "nines_probe_late_starts_total {}", c.late);
            let _ = writeln!(out, "# HELP nines_probe_errors_total Failed runs by kind of error.");
            let _ = writeln!(out, "# TYPE nines_probe_errors_total counter");
            for (k, v) in &c.errors {
                let _ = writeln!(out, "nines_probe_errors_total{{kind=\"{}\"}} {v}", esc(k));
            }
        }
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn to_probe_result(r: &RunResult) -> ProbeResult {
    let d = |v: Option<f64>| v.map(|x| std::time::Duration::from_secs_f64((x / 1000.0).max(0.0)));
    ProbeResult {
        outcome: r.outcome().unwrap_or(Outcome::Down),
        message: r.message.clone(),
        error: r.error.as_deref().and_then(|e| nines_probe::ErrorKind::ALL.iter().copied().find(|k| k.as_str() == e)),
        timings: nines_probe::Timings {
            dns: d(r.dns_ms),
            connect: d(r.connect_ms),
            tls: d(r.tls_ms),
            first_byte: d(r.first_byte_ms),
            total: d(Some(r.total_ms)).unwrap_or_default(),
        },
        http_status: r.http_status,
        cert_not_after_ms: r.cert_not_after,
    }
}

/// A service's status from its checks: each check's locations combined by
/// quorum, then the worst check; with the message of the worst.
fn service_status(checks: &CheckSet, states: &HashMap<(String, String), CheckStateRow>, sid: i64) -> (Status, String) {
    let mut worst = (Status::Unknown, String::new());
    let mut any = false;
    for c in checks.of_service(sid) {
        let locations: Vec<String> =
            if c.locations.is_empty() { vec![SERVER_LOCATION.to_string()] } else { c.locations.clone() };
        let per: Vec<Status> = locations
            .iter()
            .map(|l| states.get(&(c.id.clone(), l.clone())).map_or(Status::Unknown, |s| s.status))
            .collect();
        let quorum = checks.spec(&c.id).and_then(|s| s.common().quorum);
        let st = nines_probe::combine(&per, quorum);
        if st == Status::Unknown {
            continue;
        }
        let msg = locations
            .iter()
            .filter_map(|l| states.get(&(c.id.clone(), l.clone())))
            .find(|s| s.status == st || st == Status::Operational)
            .map(|s| format!("{}: {}", c.name, s.last_message))
            .unwrap_or_default();
        if !any || severity(st) > severity(worst.0) {
            worst = (st, msg);
            any = true;
        }
    }
    worst
}

/// The server-side runner: while this replica leads, run every check whose
/// locations are empty (or name `server`), reloading when checks change
/// without restarting unchanged ones.
pub async fn run_local(
    engine: Arc<ProbeEngine>,
    clock: Arc<dyn Clock>,
    me: crate::workers::Leadership,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut sched: Option<nines_probe::Scheduler> = None;
    let mut version = String::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<nines_probe::ProbeEvent>(4096);
    let recorder = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            while rx.recv_many(&mut buf, 1024).await > 0 {
                let late = buf.iter().filter(|e| e.lateness > std::time::Duration::from_secs(1)).count() as u64;
                engine.count_late(late);
                let results: Vec<RunResult> =
                    buf.drain(..).map(|e| RunResult::from_probe(&e.check_id, e.started_at_ms, &e.result)).collect();
                if let Err(e) = engine.record(SERVER_LOCATION, &results).await {
                    tracing::error!(error = %e, "recording probe results failed");
                }
            }
        })
    };
    let env = match nines_probe::ProbeEnv::system() {
        Ok(e) => Arc::new(e),
        Err(e) => {
            tracing::error!(error = %e, "cannot set up probes (resolver or trust store); server-side checks are off");
            let _ = stop.changed().await;
            recorder.abort();
            return;
        }
    };
    loop {
        let leading = me.is_leader.load(std::sync::atomic::Ordering::SeqCst);
        if !leading {
            if sched.take().is_some() {
                tracing::info!("stopped server-side checks: not leading");
                version.clear();
            }
        } else {
            match engine.store.checks_version().await {
                Ok(v) if v != version => match engine.checks().await {
                    Ok(all) => {
                        let set = local_set(&all, SERVER_LOCATION);
                        match &sched {
                            Some(s) => {
                                let r = s.reload(set).await;
                                tracing::info!(
                                    kept = r.kept,
                                    changed = r.changed,
                                    added = r.added,
                                    removed = r.removed,
                                    "checks reloaded"
                                );
                            }
                            None => {
                                tracing::info!(checks = set.len(), "starting server-side checks");
                                sched = Some(nines_probe::Scheduler::start(
                                    env.clone(),
                                    clock.clone(),
                                    nines_probe::SchedulerConfig::default(),
                                    set,
                                    tx.clone(),
                                ));
                            }
                        }
                        version = v;
                    }
                    Err(e) => tracing::error!(error = %e, "loading checks failed"),
                },
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "reading the checks version failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
    drop(sched);
    recorder.abort();
}

/// The checks a location runs, as the scheduler takes them.
pub fn local_set(all: &CheckSet, location: &str) -> Vec<(nines_probe::CheckId, CheckSpec)> {
    let mut v: Vec<(nines_probe::CheckId, CheckSpec)> = all
        .values()
        .filter(|c| runs_at(c, location))
        .filter_map(|c| all.spec(&c.id).map(|s| (Arc::from(c.id.as_str()), s.clone())))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn runs_at(c: &StoredCheck, location: &str) -> bool {
    if c.locations.is_empty() { location == SERVER_LOCATION } else { c.locations.iter().any(|l| l == location) }
}
