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
//!
//! Remote agents are watched: every agent request is a sign of life (and
//! agents heartbeat every poll). A location whose agent has been silent for
//! [`agent_silence_limit_ms`] turns its checks UNKNOWN there, so it counts
//! as missing in the quorum; the agent's next results bring them back.

use nines_core::apply::ServiceSpec;
use nines_core::clock::{Clock, Millis};
use nines_core::timeline::Cause;
use nines_core::{Criticality, FieldError, FieldErrors, Source, Status};
use nines_probe::{CheckSpec, Outcome, ProbeResult, Thresholds};
use nines_store::agents::{ANY_ORGANIZATION, AgentContact, AgentRow};
use nines_store::checks::{CheckRow, CheckStateRow, FailureRow, StoredCheck};
use nines_store::{HealthOp, NewService, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

pub use crate::probe_live::{CheckSet, SERVER_LOCATION};

/// An agent is silent after this many intervals of the slowest check it
/// runs without a word …
pub const AGENT_SILENCE_INTERVALS: u32 = 3;
/// … or after this long, whichever is longer.
pub const AGENT_SILENCE_FLOOR_MS: i64 = 60_000;
/// A request other than a heartbeat updates an agent's `last_seen` at most
/// this often (per replica): far below any silence limit.
const AGENT_TOUCH_EVERY_MS: i64 = 5_000;

/// How long an agent running checks of these intervals may stay silent:
/// three times the longest interval, at least a minute.
pub fn agent_silence_limit_ms(intervals: impl IntoIterator<Item = std::time::Duration>) -> i64 {
    let longest = intervals.into_iter().max().unwrap_or_default();
    let three = i64::try_from(longest.saturating_mul(AGENT_SILENCE_INTERVALS).as_millis()).unwrap_or(i64::MAX);
    three.max(AGENT_SILENCE_FLOOR_MS)
}

/// The silence rule: an agent last heard from at `last_seen`, running
/// checks of these intervals, is silent at `now` once the silence has
/// lasted [`agent_silence_limit_ms`].
pub fn agent_silent(last_seen: Millis, intervals: impl IntoIterator<Item = std::time::Duration>, now: Millis) -> bool {
    now.saturating_sub(last_seen) >= agent_silence_limit_ms(intervals)
}

/// The checks an agent of `organization` ([`ANY_ORGANIZATION`] for a key of
/// every organization) runs at `location`.
pub fn agent_checks<'a>(
    all: &'a CheckSet,
    organization: &'a str,
    location: &'a str,
) -> impl Iterator<Item = &'a StoredCheck> + 'a {
    all.values()
        .map(|c| &**c)
        .filter(move |c| (organization == ANY_ORGANIZATION || c.organization == organization) && runs_at(c, location))
}

/// An agent with what the silence rule makes of it at one instant.
#[derive(Debug, Clone)]
pub struct AgentStatus {
    pub row: AgentRow,
    /// The checks it runs now, in id order.
    pub checks: Vec<String>,
    /// How long it may stay silent.
    pub limit_ms: i64,
    pub silent: bool,
}

impl AgentStatus {
    /// When the silence began to count: the limit after its last word.
    pub fn silent_since(&self) -> Millis {
        self.row.last_seen.saturating_add(self.limit_ms)
    }
}

/// Apply the silence rule to every agent at `now`.
pub fn agent_statuses(all: &CheckSet, agents: Vec<AgentRow>, now: Millis) -> Vec<AgentStatus> {
    agents
        .into_iter()
        .map(|row| {
            let mine: Vec<&StoredCheck> = agent_checks(all, &row.organization, &row.location).collect();
            let intervals: Vec<std::time::Duration> =
                mine.iter().filter_map(|c| all.spec(&c.id)).map(CheckSpec::interval).collect();
            let limit_ms = agent_silence_limit_ms(intervals.iter().copied());
            let silent = agent_silent(row.last_seen, intervals, now);
            let mut checks: Vec<String> = mine.iter().map(|c| c.id.clone()).collect();
            checks.sort();
            AgentStatus { row, checks, limit_ms, silent }
        })
        .collect()
}

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

/// Counters of the engine, for /metrics.
#[derive(Default)]
struct Counters {
    runs: u64,
    late: u64,
    errors: BTreeMap<String, u64>,
}

/// Turns results (local or from agents) into states, statuses, recent
/// results, failures and metrics.
pub struct ProbeEngine {
    pub(crate) store: Store,
    clock: Arc<dyn Clock>,
    ingest: crate::ingest::Ingest,
    checks: Mutex<(String, Arc<CheckSet>)>,
    /// Held while the check set is read again: callers that find it out of
    /// date at once wait for one reload instead of each building their own
    /// (a set of 100,000 checks is some 60 MB).
    reloading: tokio::sync::Mutex<()>,
    /// Recent runs by (check, location); the last one is what `/metrics` shows.
    recent: Mutex<HashMap<crate::probe_live::Key, crate::probe_live::RunRing>>,
    /// States, combined statuses and per-service tallies ([`crate::probe_live::Live`]).
    live: Mutex<crate::probe_live::Live>,
    service_status: Mutex<HashMap<i64, Status>>,
    counters: Mutex<Counters>,
    /// (organization, location) → when this replica last wrote `last_seen`.
    agent_touches: Mutex<HashMap<(String, String), Millis>>,
}

impl ProbeEngine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, ingest: crate::ingest::Ingest) -> Self {
        ProbeEngine {
            store,
            clock,
            ingest,
            checks: Mutex::new((String::new(), Arc::new(CheckSet::default()))),
            reloading: tokio::sync::Mutex::new(()),
            recent: Mutex::new(HashMap::new()),
            live: Mutex::new(crate::probe_live::Live::default()),
            service_status: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
            agent_touches: Mutex::new(HashMap::new()),
        }
    }

    /// Every check, reloaded when the checks version moves.
    pub async fn checks(&self) -> nines_store::Result<Arc<CheckSet>> {
        let version = self.store.checks_version().await?;
        if let Some(set) = self.checks_at(&version) {
            return Ok(set);
        }
        let _one = self.reloading.lock().await;
        // read again: the version may have moved while this waited, and the
        // reload this waited for may have read it already
        let version = self.store.checks_version().await?;
        if let Some(set) = self.checks_at(&version) {
            return Ok(set);
        }
        let all = Arc::new(CheckSet::load(&self.store).await?);
        if let Ok(mut g) = self.checks.lock() {
            *g = (version, all.clone());
        }
        // series of removed checks disappear
        if let Ok(mut r) = self.recent.lock() {
            r.retain(|(id, _), _| all.contains_key(id));
        }
        Ok(all)
    }

    fn checks_at(&self, version: &str) -> Option<Arc<CheckSet>> {
        let g = self.checks.lock().ok()?;
        (g.0 == version).then(|| g.1.clone())
    }

    /// Count a late start (the scheduler reports them).
    pub fn count_late(&self, n: u64) {
        if let Ok(mut c) = self.counters.lock() {
            c.late += n;
        }
    }

    /// Record results from `location`. Unknown checks are skipped (returned).
    ///
    /// The cost of a result does not depend on how many checks its service
    /// has: states live in memory ([`crate::probe_live::Live`]), a service's
    /// status comes from its tally, and only status changes are written at
    /// once (the rest every [`crate::probe_live::FLUSH_EVERY`]). States are
    /// read from the database for services not in memory yet, and for every
    /// service of an agent's batch (another replica may have recorded that
    /// agent's previous batch).
    pub async fn record(&self, location: &str, results: &[RunResult]) -> nines_store::Result<Vec<String>> {
        let checks = self.checks().await?;
        let mut unknown = Vec::new();
        let mut touched: Vec<i64> = Vec::new();
        let mut seen: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for r in results {
            match checks.get(&r.check_id) {
                Some(c) if r.outcome().is_some() => {
                    if seen.insert(c.service_id) {
                        touched.push(c.service_id);
                    }
                }
                _ => unknown.push(r.check_id.clone()),
            }
        }
        let local = location == SERVER_LOCATION;
        let (mut pending, need) = {
            let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let pending = live.reset_for(&checks);
            let need: Vec<i64> = touched.iter().copied().filter(|sid| !local || !live.is_loaded(*sid)).collect();
            (pending, need)
        };
        let fresh = if need.is_empty() { Vec::new() } else { self.store.check_states_of_services(&need).await? };
        let mut failures = Vec::new();
        let mut sorted: Vec<&RunResult> = results.iter().filter(|r| checks.contains_key(&r.check_id)).collect();
        sorted.sort_by_key(|r| r.at);
        // (service, status, at, message) for every change, in time order
        let mut changes: Vec<(i64, Status, Millis, String)> = Vec::new();
        let mut urgent: Vec<crate::probe_live::Key> = Vec::new();
        let keep = crate::probe_live::keep_per_check(checks.len());
        {
            let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            live.absorb(&checks, &need, fresh.into_iter().map(|(_, s)| s).collect());
            // what this replica last recorded, unless the states say
            // otherwise (another replica, e.g. the leader's silence check,
            // changed them since): then the next status is told
            let mut current: HashMap<i64, Status> = HashMap::new();
            if let Ok(m) = self.service_status.lock() {
                for sid in &touched {
                    if let Some(s) = m.get(sid)
                        && live.status(*sid) == *s
                    {
                        current.insert(*sid, *s);
                    }
                }
            }
            let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut counters = self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for r in sorted {
                let Some(outcome) = r.outcome() else { continue };
                let c = &checks[&r.check_id];
                let th = checks.spec(&r.check_id).map(Thresholds::of).unwrap_or_default();
                let key = (r.check_id.clone(), location.to_string());
                let prev = live.state(&key);
                if prev.is_some_and(|p| p.last_at > r.at) {
                    continue; // an older run than the one the state already holds
                }
                let st = nines_probe::CheckState {
                    status: prev.map_or(Status::Unknown, |p| p.status),
                    consecutive_failures: prev.map_or(0, |p| p.failures as u32),
                    consecutive_successes: prev.map_or(0, |p| p.successes as u32),
                };
                let next = nines_probe::step(st, outcome, th);
                if prev.is_none_or(|p| p.status != next.status) {
                    urgent.push(key.clone());
                }
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
                let status = live.put(&checks, c.service_id, row);
                if status != Status::Unknown && current.get(&c.service_id) != Some(&status) {
                    current.insert(c.service_id, status);
                    // the message of the worst check, looked for only on a change
                    let (_, message) = service_status(&checks, &live.states, c.service_id);
                    changes.push((c.service_id, status, r.at, message));
                }
                let ring = recent.entry(key).or_default();
                let run = crate::probe_live::Run::new(r.at, &to_probe_result(r), ring.last());
                ring.push(run, keep);
                ring.cert_not_after = r.cert_not_after;
                counters.runs += 1;
                if let Some(e) = &r.error {
                    *counters.errors.entry(e.clone()).or_default() += 1;
                }
            }
            pending.extend(live.to_write(&urgent));
        }
        self.store.save_check_results(&pending, &failures).await?;
        let now = self.clock.now_ms();
        self.submit_statuses(&checks, changes, now).await;
        Ok(unknown)
    }

    /// Stored states with this replica's newer ones in their place (states
    /// that changed only in their counters reach the database later).
    pub fn overlay(&self, rows: Vec<(i64, CheckStateRow)>) -> Vec<(i64, CheckStateRow)> {
        let live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rows.into_iter()
            .map(|(sid, r)| match live.state(&(r.check_id.clone(), r.location.clone())) {
                Some(l) if l.last_at > r.last_at => (sid, l.clone()),
                _ => (sid, r),
            })
            .collect()
    }

    /// Write every state not written yet (before leadership or the process ends).
    pub async fn flush(&self) -> nines_store::Result<()> {
        let rows = self.live.lock().map(|mut l| l.take_dirty()).unwrap_or_default();
        if !rows.is_empty() {
            self.store.save_check_results(&rows, &[]).await?;
        }
        Ok(())
    }

    /// Record each `(service, status, at, message)` on the timeline (as the
    /// checks source), in order.
    async fn submit_statuses(&self, checks: &CheckSet, changes: Vec<(i64, Status, Millis, String)>, now: Millis) {
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
                Err(e) => tracing::error!(service_id = sid, error = %e, "recording a probe status failed"),
            }
        }
    }

    /// An agent's request: record that it is alive (a heartbeat also
    /// records its version and what it holds). `organization` is its key's,
    /// or [`ANY_ORGANIZATION`]. Returns the checks it runs and its silence
    /// limit.
    pub async fn agent_contact(
        &self,
        organization: &str,
        location: &str,
        heartbeat: Option<(Option<&str>, i64)>,
    ) -> nines_store::Result<(usize, i64)> {
        let now = self.clock.now_ms();
        let all = self.checks().await?;
        let mine: Vec<&StoredCheck> = agent_checks(&all, organization, location).collect();
        let limit = agent_silence_limit_ms(mine.iter().filter_map(|c| all.spec(&c.id)).map(CheckSpec::interval));
        let key = (organization.to_string(), location.to_string());
        if heartbeat.is_none()
            && let Ok(t) = self.agent_touches.lock()
            && t.get(&key).is_some_and(|at| (0..AGENT_TOUCH_EVERY_MS).contains(&(now - at)))
        {
            return Ok((mine.len(), limit));
        }
        self.store
            .agent_contact(&AgentContact {
                organization,
                location,
                at: now,
                checks_assigned: mine.len() as i64,
                heartbeat,
            })
            .await?;
        if let Ok(mut t) = self.agent_touches.lock() {
            if t.len() > 100_000 {
                t.clear();
            }
            t.insert(key, now);
        }
        Ok((mine.len(), limit))
    }

    /// Every agent with the silence rule applied now.
    pub async fn agents(&self, organization: Option<&str>) -> nines_store::Result<Vec<AgentStatus>> {
        let rows = self.store.list_agents(organization).await?;
        let all = self.checks().await?;
        Ok(agent_statuses(&all, rows, self.clock.now_ms()))
    }

    /// The leader's silence check: the checks of a location whose every
    /// agent is silent turn UNKNOWN there (from the moment the silence
    /// limit passed), the services follow by the usual quorum and worst-of
    /// rules, and each agent's `agent:` notification condition is raised
    /// or cleared. Returns how many check states and conditions changed.
    pub async fn watch_agents(&self) -> nines_store::Result<usize> {
        let now = self.clock.now_ms();
        let rows = self.store.list_agents(None).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let checks = self.checks().await?;
        let agents = agent_statuses(&checks, rows, now);
        // each (check, location) an agent runs: live while one of its agents
        // is; else silent since the latest of theirs went silent
        let mut pairs: HashMap<(String, String), Option<(Millis, Millis)>> = HashMap::new();
        for a in agents.iter().filter(|a| a.row.location != SERVER_LOCATION) {
            for id in &a.checks {
                let e = pairs.entry((id.clone(), a.row.location.clone())).or_insert(Some((Millis::MIN, Millis::MIN)));
                *e = match *e {
                    Some(prev) if a.silent => Some(prev.max((a.silent_since(), a.row.last_seen))),
                    _ => None,
                };
            }
        }
        let silent: HashMap<(String, String), (Millis, Millis)> =
            pairs.into_iter().filter_map(|(k, v)| v.map(|x| (k, x))).collect();
        let mut changed = 0;
        if !silent.is_empty() {
            changed += self.mark_silent(&checks, &silent, now).await?;
        }
        let mut seen = Vec::new();
        for a in &agents {
            let mut by_org: BTreeMap<&str, Vec<&StoredCheck>> = BTreeMap::new();
            if a.row.organization != ANY_ORGANIZATION {
                by_org.insert(&a.row.organization, Vec::new());
            }
            for c in a.checks.iter().filter_map(|id| checks.get(id)) {
                by_org.entry(&c.organization).or_default().push(c);
            }
            for (org, mine) in by_org {
                let mut service_ids: Vec<i64> = mine.iter().map(|c| c.service_id).collect();
                service_ids.sort();
                service_ids.dedup();
                let key = if a.row.organization == ANY_ORGANIZATION {
                    format!("agent:{ANY_ORGANIZATION}:{}:{org}", a.row.location)
                } else {
                    format!("agent:{org}:{}", a.row.location)
                };
                seen.push(crate::notify::AgentSeen {
                    key,
                    organization: org.to_string(),
                    location: a.row.location.clone(),
                    version: a.row.version.clone(),
                    last_seen: a.row.last_seen,
                    silent_after_ms: a.limit_ms,
                    silent: a.silent,
                    checks: mine.len(),
                    service_ids,
                });
            }
        }
        changed += crate::notify::watch_agents(&self.store, &seen, now).await?;
        Ok(changed)
    }

    /// Turn the states of silent `(check, location)`s UNKNOWN and record
    /// what that does to their services.
    async fn mark_silent(
        &self,
        checks: &CheckSet,
        silent: &HashMap<(String, String), (Millis, Millis)>,
        now: Millis,
    ) -> nines_store::Result<usize> {
        let mut sids: Vec<i64> = silent.keys().filter_map(|(id, _)| checks.get(id).map(|c| c.service_id)).collect();
        sids.sort();
        sids.dedup();
        // what is only in memory goes first; the services are read again after
        self.flush().await?;
        let mut states: HashMap<(String, String), CheckStateRow> = self
            .store
            .check_states_of_services(&sids)
            .await?
            .into_iter()
            .map(|(_, s)| ((s.check_id.clone(), s.location.clone()), s))
            .collect();
        let mut marks: Vec<(String, String, Millis, String)> = states
            .iter()
            .filter(|(_, st)| st.status != Status::Unknown)
            .filter_map(|(key, st)| {
                let (_, last_seen) = silent.get(key)?;
                let message =
                    format!("no word from the agent at {} since {}", key.1, nines_core::clock::rfc3339(*last_seen));
                Some((key.0.clone(), key.1.clone(), st.last_at, message))
            })
            .collect();
        if marks.is_empty() {
            return Ok(0);
        }
        marks.sort();
        let before: HashMap<i64, Status> =
            sids.iter().map(|sid| (*sid, service_status(checks, &states, *sid).0)).collect();
        let applied = self.store.mark_check_states_unknown(&marks).await?;
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).forget(&sids);
        // service → (when, why) of its latest state that turned UNKNOWN
        let mut touched: BTreeMap<i64, (Millis, String)> = BTreeMap::new();
        let mut n = 0;
        for ((check, location, _, message), ok) in marks.into_iter().zip(applied) {
            if !ok {
                continue; // a result came in meanwhile
            }
            n += 1;
            tracing::warn!(check = %check, location = %location, "agent silent: the check is UNKNOWN there");
            let key = (check, location);
            let at = silent.get(&key).map_or(now, |s| s.0).min(now);
            if let Some(st) = states.get_mut(&key) {
                st.status = Status::Unknown;
                st.failures = 0;
                st.successes = 0;
                st.last_message = message.clone();
            }
            if let Some(c) = checks.get(&key.0) {
                let e = touched.entry(c.service_id).or_insert((at, message.clone()));
                if at > e.0 {
                    *e = (at, message);
                }
            }
        }
        let mut changes = Vec::new();
        for (sid, (at, why)) in touched {
            let (status, message) = service_status(checks, &states, sid);
            if before.get(&sid) == Some(&status) {
                continue;
            }
            let message = if status == Status::Unknown { why } else { message };
            changes.push((sid, status, at, message));
        }
        changes.sort_by_key(|c| c.2);
        self.submit_statuses(checks, changes, now).await;
        Ok(n)
    }

    /// A check's recent runs at every location, newest first.
    pub fn recent(&self, check_id: &str) -> Vec<(Millis, ProbeResult)> {
        let locations: Vec<String> = match self.checks.lock().ok().and_then(|g| g.1.get(check_id).cloned()) {
            Some(c) if !c.locations.is_empty() => c.locations.clone(),
            Some(_) => vec![SERVER_LOCATION.to_string()],
            None => return Vec::new(),
        };
        let Ok(rings) = self.recent.lock() else { return Vec::new() };
        let mut out: Vec<(Millis, ProbeResult)> = locations
            .into_iter()
            .filter_map(|l| rings.get(&(check_id.to_string(), l)))
            .flat_map(|ring| ring.runs().map(|x| (x.at, x.result())))
            .collect();
        out.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        out.truncate(100);
        out
    }

    /// Blackbox-compatible series plus the engine's counters.
    /// The probe series in Prometheus' text format, handed to `flush` in
    /// pieces of about [`METRICS_CHUNK`] bytes (whole lines) so that the
    /// series of 100,000 checks never sit in memory at once; what is left
    /// stays in `out`.
    pub fn render_metrics(&self, out: &mut String, flush: &mut dyn FnMut(&mut String)) {
        let checks = self.checks.lock().map(|g| g.1.clone()).unwrap_or_default();
        // (check, location, last run, certificate expiry) by check and location:
        // 100 bytes a check; the labels are written as each family is
        let last: Vec<(Arc<StoredCheck>, String, crate::probe_live::Run, Option<Millis>)> = {
            let Ok(rings) = self.recent.lock() else { return };
            let mut v: Vec<_> = rings
                .iter()
                .filter_map(|((id, location), ring)| {
                    Some((checks.get(id)?.clone(), location.clone(), ring.last()?.clone(), ring.cert_not_after))
                })
                .collect();
            v.sort_by(|a, b| (&a.0.id, &a.1).cmp(&(&b.0.id, &b.1)));
            v
        };
        let label = |out: &mut String, c: &StoredCheck, location: &str| {
            let _ = write!(
                out,
                "check=\"{}\",service=\"{}\",organization=\"{}\",location=\"{}\",type=\"{}\"",
                esc(&c.id),
                esc(&c.service),
                esc(&c.organization),
                esc(location),
                c.kind
            );
        };
        let mut full = |out: &mut String| {
            if out.len() >= METRICS_CHUNK {
                flush(out);
            }
        };
        let _ = writeln!(out, "# HELP probe_success Whether the last run of the check succeeded (1) or not (0).");
        let _ = writeln!(out, "# TYPE probe_success gauge");
        for (c, location, run, _) in &last {
            let ok = if run.outcome() == Outcome::Down { 0 } else { 1 };
            out.push_str("probe_success{");
            label(out, c, location);
            let _ = writeln!(out, "}} {ok}");
            full(out);
        }
        let _ = writeln!(out, "# HELP probe_duration_seconds Duration of the last run by phase.");
        let _ = writeln!(out, "# TYPE probe_duration_seconds gauge");
        for (c, location, run, _) in &last {
            let t = run.timings();
            for (phase, v) in [
                ("resolve", t.dns),
                ("connect", t.connect),
                ("tls", t.tls),
                ("processing", t.first_byte),
                ("total", Some(t.total)),
            ] {
                if let Some(v) = v {
                    out.push_str("probe_duration_seconds{");
                    label(out, c, location);
                    let _ = writeln!(out, ",phase=\"{phase}\"}} {}", v.as_secs_f64());
                }
            }
            full(out);
        }
        let _ = writeln!(out, "# HELP probe_http_status_code HTTP status of the last run.");
        let _ = writeln!(out, "# TYPE probe_http_status_code gauge");
        for (c, location, run, _) in &last {
            if let Some(code) = run.http_status() {
                out.push_str("probe_http_status_code{");
                label(out, c, location);
                let _ = writeln!(out, "}} {code}");
                full(out);
            }
        }
        let _ = writeln!(out, "# HELP probe_ssl_earliest_cert_expiry Earliest certificate expiry, Unix seconds.");
        let _ = writeln!(out, "# TYPE probe_ssl_earliest_cert_expiry gauge");
        for (c, location, _, cert) in &last {
            if let Some(t) = cert {
                out.push_str("probe_ssl_earliest_cert_expiry{");
                label(out, c, location);
                let _ = writeln!(out, "}} {}", t / 1000);
                full(out);
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

/// About how many bytes of `/metrics` are written at a time.
pub const METRICS_CHUNK: usize = 256 * 1024;

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
        // each location's state, looked up once
        let found: Vec<Option<&CheckStateRow>> =
            locations.iter().map(|l| states.get(&(c.id.clone(), l.clone()))).collect();
        let per: Vec<Status> = found.iter().map(|s| s.map_or(Status::Unknown, |s| s.status)).collect();
        let quorum = checks.spec(&c.id).and_then(|s| s.common().quorum);
        let st = nines_probe::combine(&per, quorum);
        // a check that never ran says nothing yet; one whose locations went
        // UNKNOWN (their agents silent) says "not known" and counts so
        if st == Status::Unknown && found.iter().all(Option::is_none) {
            continue;
        }
        // in the worst-of below, only a worse check needs its message
        if any && st.severity() <= worst.0.severity() {
            continue;
        }
        let msg = found
            .iter()
            .flatten()
            .find(|s| s.status == st || st == Status::Operational)
            .map(|s| format!("{}: {}", c.name, s.last_message))
            .unwrap_or_default();
        worst = (st, msg);
        any = true;
    }
    worst
}

/// The server-side runner: while this replica leads, run every check whose
/// locations are empty (or name `server`), reloading when checks change
/// without restarting unchanged ones, and apply the agents' silence rule
/// ([`ProbeEngine::watch_agents`]) every `every`.
pub async fn run_local(
    engine: Arc<ProbeEngine>,
    clock: Arc<dyn Clock>,
    me: crate::leadership::Leadership,
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
        Ok(e) => Some(Arc::new(e)),
        Err(e) => {
            // agents are still watched
            tracing::error!(error = %e, "cannot set up probes (resolver or trust store); server-side checks are off");
            None
        }
    };
    loop {
        let leading = me.leads();
        if !leading {
            if sched.take().is_some() {
                tracing::info!("stopped server-side checks: not leading");
                version.clear();
                if let Err(e) = engine.flush().await {
                    tracing::error!(error = %e, "writing check states failed");
                }
            }
        } else if let Some(env) = &env {
            match engine.store.checks_version().await {
                Ok(v) if v != version => match engine.checks().await {
                    Ok(all) => {
                        let set = local_set(&all, SERVER_LOCATION);
                        let checks = set.len();
                        match nines_probe::Scheduler::run_or_reload(&mut sched, env, &clock, set, &tx).await {
                            Some(r) => tracing::info!(
                                kept = r.kept,
                                changed = r.changed,
                                added = r.added,
                                removed = r.removed,
                                "checks reloaded"
                            ),
                            None => tracing::info!(checks, "started server-side checks"),
                        }
                        version = v;
                    }
                    Err(e) => tracing::error!(error = %e, "loading checks failed"),
                },
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "reading the checks version failed"),
            }
        }
        if leading && let Err(e) = engine.watch_agents().await {
            tracing::error!(error = %e, "watching agents failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
    drop(sched);
    recorder.abort();
    if let Err(e) = engine.flush().await {
        tracing::error!(error = %e, "writing check states failed");
    }
}

/// The checks a location runs, as the scheduler takes them.
pub fn local_set(all: &CheckSet, location: &str) -> Vec<(nines_probe::CheckId, Arc<CheckSpec>)> {
    let mut v: Vec<(nines_probe::CheckId, Arc<CheckSpec>)> = all
        .values()
        .filter(|c| runs_at(c, location))
        .filter_map(|c| all.shared_spec(&c.id).map(|s| (Arc::from(c.id.as_str()), s)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn runs_at(c: &StoredCheck, location: &str) -> bool {
    if c.locations.is_empty() { location == SERVER_LOCATION } else { c.locations.iter().any(|l| l == location) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: Duration = Duration::from_secs(1);

    fn state(check: &str, location: &str, status: Status, message: &str) -> ((String, String), CheckStateRow) {
        let row = CheckStateRow {
            check_id: format!("1/{check}"),
            location: location.into(),
            status,
            failures: 0,
            successes: 0,
            last_at: 0,
            last_outcome: String::new(),
            last_message: message.into(),
        };
        ((row.check_id.clone(), location.into()), row)
    }

    #[test]
    fn a_check_whose_agent_fell_silent_counts_as_unknown_one_that_never_ran_does_not() {
        let set = CheckSet::new(vec![
            check("1/home", "acme", 1, 30, &[]),
            check("1/eu-only", "acme", 1, 30, &["eu"]),
            check("1/new", "acme", 1, 30, &["ap"]),
        ]);
        let mut states: HashMap<(String, String), CheckStateRow> = [
            state("home", SERVER_LOCATION, Status::Operational, "status 200"),
            state("eu-only", "eu", Status::Down, "status 404"),
        ]
        .into_iter()
        .collect();
        // "new" never ran: it says nothing; the failing check shows
        assert_eq!(service_status(&set, &states, 1).0, Status::Down);
        // eu's agent fell silent: not known, which is worse than up, not hidden
        states.extend([state("eu-only", "eu", Status::Unknown, "no word from the agent at eu")]);
        let (st, msg) = service_status(&set, &states, 1);
        assert_eq!(st, Status::Unknown);
        assert!(msg.starts_with("1/eu-only: no word"), "{msg}");
    }

    #[test]
    fn the_silence_limit_is_three_intervals_of_the_slowest_check_at_least_a_minute() {
        assert_eq!(agent_silence_limit_ms([]), 60_000, "no checks: the floor");
        assert_eq!(agent_silence_limit_ms([5 * S]), 60_000, "3 × 5 s is below the floor");
        assert_eq!(agent_silence_limit_ms([20 * S]), 60_000, "3 × 20 s is the floor exactly");
        assert_eq!(agent_silence_limit_ms([10 * S, 30 * S, 25 * S]), 90_000, "the longest interval counts");
        assert_eq!(agent_silence_limit_ms([300 * S]), 900_000);
        assert_eq!(agent_silence_limit_ms([Duration::MAX]), i64::MAX, "no overflow");
    }

    #[test]
    fn an_agent_is_silent_once_the_limit_has_passed_since_its_last_word() {
        let t = 1_800_000_000_000;
        // 30 s checks: 90 s
        assert!(!agent_silent(t, [30 * S], t));
        assert!(!agent_silent(t, [30 * S], t + 89_999));
        assert!(agent_silent(t, [30 * S], t + 90_000));
        assert!(agent_silent(t, [30 * S], t + 3_600_000));
        // fast checks: the minute
        assert!(!agent_silent(t, [S], t + 59_999));
        assert!(agent_silent(t, [S], t + 60_000));
        // a last word from the future (clocks of two replicas) is not silence
        assert!(!agent_silent(t + 5_000, [S], t));
        assert!(!agent_silent(Millis::MAX, [S], Millis::MIN));
    }

    fn check(id: &str, org: &str, service_id: i64, interval: u32, locations: &[&str]) -> StoredCheck {
        let spec = serde_json::json!({"type": "tcp", "host": "127.0.0.1", "port": 9, "intervalSeconds": interval,
            "locations": locations});
        let spec: CheckSpec = serde_json::from_value(spec).unwrap();
        StoredCheck {
            id: id.into(),
            service_id,
            organization: org.into(),
            name: id.into(),
            kind: "tcp".into(),
            spec: serde_json::to_string(&spec).unwrap(),
            locations: locations.iter().map(|l| l.to_string()).collect(),
            service: format!("svc-{service_id}"),
            node_id: format!("{org}/p/e/c"),
        }
    }

    fn agent(org: &str, location: &str, last_seen: Millis) -> AgentRow {
        AgentRow {
            organization: org.into(),
            location: location.into(),
            version: None,
            first_seen: 0,
            last_seen,
            checks_assigned: 0,
            results_buffered: 0,
        }
    }

    #[test]
    fn each_agent_is_judged_by_the_checks_it_runs() {
        let set = CheckSet::new(vec![
            check("1/a", "acme", 1, 30, &["eu", "us"]),
            check("2/b", "acme", 2, 100, &["us"]),
            check("3/c", "globex", 3, 200, &["eu"]),
            check("4/d", "acme", 4, 10, &[]),
        ]);
        let now = 1_000_000;
        let st = agent_statuses(
            &set,
            vec![
                agent("acme", "eu", now - 90_000),
                agent("acme", "us", now - 90_000),
                agent(ANY_ORGANIZATION, "eu", now - 500_000),
                agent("acme", "nowhere", now - 59_000),
            ],
            now,
        );
        let view: Vec<(&str, &str, Vec<&str>, i64, bool)> = st
            .iter()
            .map(|a| {
                (
                    a.row.organization.as_str(),
                    a.row.location.as_str(),
                    a.checks.iter().map(String::as_str).collect(),
                    a.limit_ms,
                    a.silent,
                )
            })
            .collect();
        assert_eq!(
            view,
            vec![
                ("acme", "eu", vec!["1/a"], 90_000, true),
                ("acme", "us", vec!["1/a", "2/b"], 300_000, false),
                ("*", "eu", vec!["1/a", "3/c"], 600_000, false),
                ("acme", "nowhere", vec![], 60_000, false),
            ]
        );
        assert_eq!(st[0].silent_since(), now);
        // server-side checks are no agent's
        assert_eq!(agent_checks(&set, "acme", SERVER_LOCATION).map(|c| c.id.as_str()).collect::<Vec<_>>(), ["4/d"]);
    }
}
