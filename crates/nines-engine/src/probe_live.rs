//! What the probe engine keeps in memory so that recording one result costs
//! the same however many checks a service has:
//!
//! - [`Live`]: the state of each (check, location) as last recorded, each
//!   check's combined status (its locations by quorum) and, per service,
//!   how many of its checks are in each status — the service's status is
//!   the worst status with a count, found without looking at its checks.
//!   States reach the database when a status changes (at once) and
//!   otherwise every [`FLUSH_EVERY`] (the counters and the last message), so
//!   a steady check writes nothing per run.
//! - [`CheckSet`]: every check, with its parsed spec and the checks of each
//!   service, reloaded when the checks change.
//! - [`RunRing`]: a check's recent runs in 48 bytes each, messages shared
//!   between runs that say the same, within a budget of
//!   [`RECENT_BUDGET`] runs over all checks.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_probe::CheckSpec;
use nines_probe::{ErrorKind, Outcome, ProbeResult, Timings};
use nines_store::Store;
use nines_store::checks::{CheckStateRow, StoredCheck};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often states that changed only in their counters and last message
/// are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);
/// Recent runs kept over all checks: each check keeps
/// `RECENT_BUDGET / checks` of them, between 5 and 100.
pub const RECENT_BUDGET: usize = 500_000;
/// Failures kept per check beside its recent runs.
pub const RECENT_FAILURES: usize = 20;

pub type Key = (String, String);

/// Where checks without `locations` run: in the nines server itself.
pub const SERVER_LOCATION: &str = "server";

/// Every check, with what the hot path needs worked out once per load:
/// the parsed spec and the checks of each service (sorted by id). Derefs to
/// the stored checks by id.
#[derive(Default)]
pub struct CheckSet {
    by_id: HashMap<String, Arc<StoredCheck>>,
    specs: HashMap<String, Arc<CheckSpec>>,
    by_service: HashMap<i64, Vec<String>>,
}

impl CheckSet {
    pub fn new(checks: Vec<StoredCheck>) -> Self {
        let mut set = CheckSet::default();
        for c in checks {
            set.add(c);
        }
        set.finish();
        set
    }

    /// Every stored check, read one row at a time.
    pub async fn load(store: &Store) -> nines_store::Result<Self> {
        let mut set = CheckSet::default();
        store.for_each_check(|c| set.add(c)).await?;
        set.finish();
        Ok(set)
    }

    fn add(&mut self, mut c: StoredCheck) {
        if let Ok(spec) = serde_json::from_str::<CheckSpec>(&c.spec) {
            self.specs.insert(c.id.clone(), Arc::new(spec));
            // the parsed spec is kept; its text would double the memory
            // of 100,000 checks ([`CheckSet::spec_json`] writes it again)
            c.spec = String::new();
        }
        self.by_service.entry(c.service_id).or_default().push(c.id.clone());
        self.by_id.insert(c.id.clone(), Arc::new(c));
    }

    fn finish(&mut self) {
        for ids in self.by_service.values_mut() {
            ids.sort();
        }
        self.by_id.shrink_to_fit();
        self.specs.shrink_to_fit();
    }

    pub fn spec(&self, id: &str) -> Option<&CheckSpec> {
        self.specs.get(id).map(|s| &**s)
    }

    /// A check's spec, shared (the scheduler keeps it).
    pub fn shared_spec(&self, id: &str) -> Option<Arc<CheckSpec>> {
        self.specs.get(id).cloned()
    }

    /// A check's spec as JSON (as stored: the stored text is the parsed
    /// spec written out).
    pub fn spec_json(&self, c: &StoredCheck) -> serde_json::Value {
        match self.specs.get(&c.id) {
            Some(s) => serde_json::to_value(&**s).unwrap_or_default(),
            None => serde_json::from_str(&c.spec).unwrap_or_default(),
        }
    }

    /// The checks of a service, in id order.
    pub fn of_service(&self, service_id: i64) -> impl Iterator<Item = &StoredCheck> {
        self.by_service.get(&service_id).into_iter().flatten().filter_map(|id| self.by_id.get(id).map(|c| &**c))
    }
}

impl std::ops::Deref for CheckSet {
    type Target = HashMap<String, Arc<StoredCheck>>;
    fn deref(&self) -> &Self::Target {
        &self.by_id
    }
}

/// A check's combined status (None: it has not said anything yet).
fn combined(checks: &CheckSet, states: &HashMap<Key, CheckStateRow>, id: &str) -> Option<Status> {
    let c = checks.get(id)?;
    let server = [SERVER_LOCATION.to_string()];
    let locations: &[String] = if c.locations.is_empty() { &server } else { &c.locations };
    let mut any = false;
    let per: Vec<Status> = locations
        .iter()
        .map(|l| match states.get(&(id.to_string(), l.clone())) {
            Some(s) => {
                any = true;
                s.status
            }
            None => Status::Unknown,
        })
        .collect();
    let quorum = checks.spec(id).and_then(|s| s.common().quorum);
    let st = nines_probe::combine(&per, quorum);
    // a check that never ran says nothing yet (as `service_status` counts it)
    (any || st != Status::Unknown).then_some(st)
}

/// Per service: how many of its checks are in each status (by severity).
#[derive(Debug, Default, Clone, Copy)]
struct Tally([u32; 5]);

impl Tally {
    fn add(&mut self, s: Status, n: i32) {
        let i = s.severity() as usize;
        self.0[i] = (self.0[i] as i32 + n).max(0) as u32;
    }
    /// The worst status with a count; UNKNOWN when no check says anything.
    fn worst(&self) -> Status {
        for (sev, st) in [(4, Status::Down), (3, Status::Degraded), (2, Status::Unknown), (1, Status::Maintenance)] {
            if self.0[sev] > 0 {
                return st;
            }
        }
        if self.0[0] > 0 { Status::Operational } else { Status::Unknown }
    }
}

/// States, combined statuses and per-service tallies of the checks whose
/// services were loaded.
#[derive(Default)]
pub struct Live {
    /// The check set these were built for (a new set starts over).
    set: usize,
    pub states: HashMap<Key, CheckStateRow>,
    loaded: HashSet<i64>,
    combined: HashMap<String, Option<Status>>,
    tallies: HashMap<i64, Tally>,
    /// States newer than the database's.
    dirty: HashSet<Key>,
    last_flush: Option<Instant>,
}

impl Live {
    /// Start over for another check set; the states not yet written are
    /// returned, to be written.
    pub fn reset_for(&mut self, checks: &Arc<CheckSet>) -> Vec<CheckStateRow> {
        let id = Arc::as_ptr(checks) as usize;
        if self.set == id {
            return Vec::new();
        }
        let pending = self.take_dirty();
        *self = Live { set: id, last_flush: self.last_flush, ..Live::default() };
        pending
    }

    pub fn is_loaded(&self, service_id: i64) -> bool {
        self.loaded.contains(&service_id)
    }

    /// Take the states of `services` as the database has them (`rows`),
    /// keeping those this replica changed and has not written yet.
    pub fn absorb(&mut self, checks: &CheckSet, services: &[i64], rows: Vec<CheckStateRow>) {
        let mut fresh: HashMap<Key, CheckStateRow> = HashMap::with_capacity(rows.len());
        for r in rows {
            fresh.insert((r.check_id.clone(), r.location.clone()), r);
        }
        let server = [SERVER_LOCATION.to_string()];
        for sid in services {
            for c in checks.of_service(*sid) {
                let locations: &[String] = if c.locations.is_empty() { &server } else { &c.locations };
                for l in locations {
                    let k = (c.id.clone(), l.clone());
                    if !self.dirty.contains(&k) {
                        self.states.remove(&k);
                    }
                }
            }
        }
        for (k, r) in fresh {
            if !self.dirty.contains(&k) {
                self.states.insert(k, r);
            }
        }
        for sid in services {
            let mut t = Tally::default();
            for c in checks.of_service(*sid) {
                let st = combined(checks, &self.states, &c.id);
                if let Some(s) = st {
                    t.add(s, 1);
                }
                self.combined.insert(c.id.clone(), st);
            }
            self.tallies.insert(*sid, t);
            self.loaded.insert(*sid);
        }
    }

    /// Forget services (another writer changed their states): the next
    /// result reads them again.
    pub fn forget(&mut self, services: &[i64]) {
        for sid in services {
            self.loaded.remove(sid);
        }
    }

    /// Record a check's new state; returns the service's status after it.
    /// Costs the check's locations, not the service's checks.
    pub fn put(&mut self, checks: &CheckSet, service_id: i64, row: CheckStateRow) -> Status {
        let key = (row.check_id.clone(), row.location.clone());
        let id = row.check_id.clone();
        self.states.insert(key.clone(), row);
        self.dirty.insert(key);
        let before = self.combined.get(&id).copied().flatten();
        let after = combined(checks, &self.states, &id);
        let t = self.tallies.entry(service_id).or_default();
        if before != after {
            if let Some(b) = before {
                t.add(b, -1);
            }
            if let Some(a) = after {
                t.add(a, 1);
            }
            self.combined.insert(id, after);
        }
        t.worst()
    }

    /// The service's status from its tally.
    pub fn status(&self, service_id: i64) -> Status {
        self.tallies.get(&service_id).map_or(Status::Unknown, Tally::worst)
    }

    pub fn state(&self, key: &Key) -> Option<&CheckStateRow> {
        self.states.get(key)
    }

    /// The states to write now: those of `urgent` keys always, every
    /// changed one when the last full write is [`FLUSH_EVERY`] old.
    pub fn to_write(&mut self, urgent: &[Key]) -> Vec<CheckStateRow> {
        let due = self.last_flush.is_none_or(|t| t.elapsed() >= FLUSH_EVERY);
        if due {
            self.last_flush = Some(Instant::now());
            return self.take_dirty();
        }
        let mut out = Vec::with_capacity(urgent.len());
        for k in urgent {
            if self.dirty.remove(k)
                && let Some(s) = self.states.get(k)
            {
                out.push(s.clone());
            }
        }
        out
    }

    /// Every state not written yet.
    pub fn take_dirty(&mut self) -> Vec<CheckStateRow> {
        let keys: Vec<Key> = self.dirty.drain().collect();
        keys.iter().filter_map(|k| self.states.get(k).cloned()).collect()
    }
}

/// One run as the recent list keeps it.
#[derive(Debug, Clone)]
pub struct Run {
    pub at: Millis,
    /// Microseconds; `u32::MAX` where the phase did not happen.
    dns: u32,
    connect: u32,
    tls: u32,
    first_byte: u32,
    total: u32,
    http_status: u16,
    outcome: u8,
    /// Index into [`ErrorKind::ALL`], or 255.
    error: u8,
    message: Arc<str>,
}

fn us(d: Option<Duration>) -> u32 {
    d.map_or(u32::MAX, |d| d.as_micros().min(u32::MAX as u128 - 1) as u32)
}

fn dur(v: u32) -> Option<Duration> {
    (v != u32::MAX).then(|| Duration::from_micros(v as u64))
}

impl Run {
    /// A run, sharing `prev`'s message when it says the same.
    pub fn new(at: Millis, r: &ProbeResult, prev: Option<&Run>) -> Run {
        let message = match prev {
            Some(p) if *p.message == *r.message => p.message.clone(),
            _ => Arc::from(r.message.as_str()),
        };
        Run {
            at,
            dns: us(r.timings.dns),
            connect: us(r.timings.connect),
            tls: us(r.timings.tls),
            first_byte: us(r.timings.first_byte),
            total: us(Some(r.timings.total)),
            http_status: r.http_status.unwrap_or(0),
            outcome: match r.outcome {
                Outcome::Up => 0,
                Outcome::Degraded => 1,
                Outcome::Down => 2,
            },
            error: r.error.and_then(|e| ErrorKind::ALL.iter().position(|k| *k == e)).map_or(255, |i| i as u8),
            message,
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self.outcome {
            0 => Outcome::Up,
            1 => Outcome::Degraded,
            _ => Outcome::Down,
        }
    }

    pub fn timings(&self) -> Timings {
        Timings {
            dns: dur(self.dns),
            connect: dur(self.connect),
            tls: dur(self.tls),
            first_byte: dur(self.first_byte),
            total: dur(self.total).unwrap_or_default(),
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        (self.http_status != 0).then_some(self.http_status)
    }

    pub fn result(&self) -> ProbeResult {
        ProbeResult {
            outcome: self.outcome(),
            message: self.message.to_string(),
            error: ErrorKind::ALL.get(self.error as usize).copied(),
            timings: self.timings(),
            http_status: self.http_status(),
            cert_not_after_ms: None,
        }
    }
}

/// A check's recent runs at one location and, apart, its recent failures;
/// the last run is what `/metrics` shows of the check there.
#[derive(Debug, Default)]
pub struct RunRing {
    runs: VecDeque<Run>,
    failures: VecDeque<Run>,
    /// The earliest certificate expiry the last run saw.
    pub cert_not_after: Option<Millis>,
}

impl RunRing {
    pub fn push(&mut self, run: Run, keep: usize) {
        if self.runs.capacity() == 0 {
            self.runs.reserve_exact(keep.max(1));
        }
        if run.outcome != 0 {
            if self.failures.len() >= RECENT_FAILURES {
                self.failures.pop_front();
            }
            self.failures.push_back(run.clone());
        }
        while self.runs.len() >= keep.max(1) {
            self.runs.pop_front();
        }
        self.runs.push_back(run);
    }
    pub fn last(&self) -> Option<&Run> {
        self.runs.back()
    }
    /// Newest first.
    pub fn runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.iter().rev()
    }
}

/// Runs kept per check when there are `checks` of them.
pub fn keep_per_check(checks: usize) -> usize {
    (RECENT_BUDGET / checks.max(1)).clamp(5, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_gives_the_worst_status_that_has_a_check() {
        let mut t = Tally::default();
        assert_eq!(t.worst(), Status::Unknown);
        t.add(Status::Operational, 3);
        assert_eq!(t.worst(), Status::Operational);
        t.add(Status::Degraded, 1);
        assert_eq!(t.worst(), Status::Degraded);
        t.add(Status::Down, 1);
        t.add(Status::Down, -1);
        assert_eq!(t.worst(), Status::Degraded);
        t.add(Status::Degraded, -1);
        t.add(Status::Maintenance, 1);
        assert_eq!(t.worst(), Status::Maintenance);
    }

    #[test]
    fn runs_keep_their_figures_and_share_messages() {
        let mut r = ProbeResult::up("status 200");
        r.timings.total = Duration::from_micros(1500);
        r.timings.connect = Some(Duration::from_micros(200));
        r.http_status = Some(200);
        let a = Run::new(1, &r, None);
        let b = Run::new(2, &r, Some(&a));
        assert!(Arc::ptr_eq(&a.message, &b.message));
        let back = b.result();
        assert_eq!(back.timings.total, Duration::from_micros(1500));
        assert_eq!(back.timings.connect, Some(Duration::from_micros(200)));
        assert_eq!(back.timings.dns, None);
        assert_eq!(back.http_status, Some(200));
        assert_eq!(back.message, "status 200");
        let mut down = ProbeResult::up("connection refused");
        down.outcome = Outcome::Down;
        down.error = Some(ErrorKind::ALL[3]);
        let c = Run::new(3, &down, Some(&b)).result();
        assert_eq!((c.outcome, c.error), (Outcome::Down, Some(ErrorKind::ALL[3])));
        assert!(std::mem::size_of::<Run>() <= 48, "{}", std::mem::size_of::<Run>());
        let mut ring = RunRing::default();
        for i in 0..30 {
            ring.push(Run::new(i, &r, ring.last()), 10);
        }
        assert_eq!(ring.runs().count(), 10);
        assert_eq!(ring.runs().next().unwrap().at, 29);
        assert_eq!(keep_per_check(100_000), 5);
        assert_eq!(keep_per_check(40_000), 12);
        assert_eq!(keep_per_check(100), 100);
    }
}
