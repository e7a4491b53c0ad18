//! The scheduler: runs every check of a set each interval, on a fixed grid.
//!
//! - One driver task and one timer heap for all checks (not one sleeping task
//!   per check), so 100,000 checks cost a heap entry each.
//! - A check's first run is spread over its interval by a stable hash of its
//!   id (no herd at start); later runs are at `previous scheduled + interval`,
//!   so they never drift. A run whose slot passed by more than a whole
//!   interval (the process was stalled) is skipped and counted, not replayed.
//! - At most `max_concurrency` runs at once (a semaphore); a run that waits
//!   for a permit starts late, and its lateness (start − scheduled) is in its
//!   event and counted in [`StatsSnapshot`].
//! - Each run is bounded by its check's timeout (plus a small grace, since
//!   [`crate::probe`] already enforces it and reports the phase).
//! - [`Scheduler::reload`] replaces the set: unchanged checks (same id, equal
//!   config) keep their schedule, removed ones stop, changed and new ones start
//!   on their own grid.
//!
//! Time: sleeping and lateness use `tokio::time` (tests use
//! `#[tokio::test(start_paused = true)]`, so hours pass in milliseconds); wall
//! instants in events come from the injected `nines_core::clock::Clock`, read
//! once at start and advanced by the monotonic clock, so they stay on the grid
//! even when the wall clock steps.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nines_core::clock::{Clock, Millis};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::Runner;
use crate::config::CheckSpec;
use crate::result::{ErrorKind, ProbeResult, human_duration};

/// A check's identity; the caller chooses it (e.g. `service/check-index`).
pub type CheckId = Arc<str>;

/// Time past a check's timeout after which the scheduler gives up on a run
/// the runner did not end itself.
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Runs in flight at most (default 512).
    pub max_concurrency: usize,
    /// A start later than this after its slot counts as late (default 1 s).
    pub late_threshold: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig { max_concurrency: 512, late_threshold: Duration::from_secs(1) }
    }
}

/// One finished run, for the caller to record (in batches if it likes).
#[derive(Debug, Clone)]
pub struct ProbeEvent {
    pub check_id: CheckId,
    /// The slot on the check's grid.
    pub scheduled_at_ms: Millis,
    /// When the run actually started.
    pub started_at_ms: Millis,
    /// `started − scheduled`.
    pub lateness: Duration,
    pub result: ProbeResult,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub kept: usize,
    pub changed: usize,
    pub added: usize,
    pub removed: usize,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub checks: u64,
    pub runs_started: u64,
    pub runs_finished: u64,
    pub runs_late: u64,
    pub runs_skipped: u64,
    pub runs_timed_out: u64,
    pub in_flight: u64,
    pub max_lateness: Duration,
}

#[derive(Default)]
struct Stats {
    checks: AtomicU64,
    runs_started: AtomicU64,
    runs_finished: AtomicU64,
    runs_late: AtomicU64,
    runs_skipped: AtomicU64,
    runs_timed_out: AtomicU64,
    in_flight: AtomicU64,
    max_lateness_us: AtomicU64,
}

enum Command {
    Reload(Vec<(CheckId, Arc<CheckSpec>)>, oneshot::Sender<ReloadSummary>),
}

/// A running scheduler. Dropping it stops scheduling; runs in flight finish.
pub struct Scheduler {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<Stats>,
    driver: tokio::task::JoinHandle<()>,
}

impl Scheduler {
    /// Start running `checks` with `runner`; results go to `results` (a
    /// bounded channel: a slow consumer slows the runs down, it loses nothing).
    /// Must be called within a tokio runtime.
    pub fn start<R: Runner>(
        runner: Arc<R>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
        checks: Vec<(CheckId, Arc<CheckSpec>)>,
        results: mpsc::Sender<ProbeEvent>,
    ) -> Scheduler {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(Stats::default());
        let origin = Instant::now();
        let driver = Driver {
            runner,
            results,
            permits: Arc::new(Semaphore::new(config.max_concurrency.max(1))),
            late_threshold: config.late_threshold,
            stats: stats.clone(),
            origin,
            origin_ms: clock.now_ms(),
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            generation: 0,
        };
        let driver = tokio::spawn(driver.run(checks, rx));
        Scheduler { commands: tx, stats, driver }
    }

    /// Replace the set of checks and wait until it is in effect.
    /// Hand `checks` to the scheduler in `slot`: a running one reloads them
    /// and says what changed; otherwise one starts, with the default
    /// settings, and the answer is `None`. The server's checks and an
    /// agent's both go through here.
    pub async fn run_or_reload<R: Runner>(
        slot: &mut Option<Scheduler>,
        runner: &Arc<R>,
        clock: &Arc<dyn Clock>,
        checks: Vec<(CheckId, Arc<CheckSpec>)>,
        results: &mpsc::Sender<ProbeEvent>,
    ) -> Option<ReloadSummary> {
        match slot {
            Some(s) => Some(s.reload(checks).await),
            None => {
                *slot = Some(Scheduler::start(
                    runner.clone(),
                    clock.clone(),
                    SchedulerConfig::default(),
                    checks,
                    results.clone(),
                ));
                None
            }
        }
    }

    pub async fn reload(&self, checks: Vec<(CheckId, Arc<CheckSpec>)>) -> ReloadSummary {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Reload(checks, tx)).is_err() {
            return ReloadSummary::default();
        }
        rx.await.unwrap_or_default()
    }

    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.stats;
        StatsSnapshot {
            checks: s.checks.load(Ordering::Relaxed),
            runs_started: s.runs_started.load(Ordering::Relaxed),
            runs_finished: s.runs_finished.load(Ordering::Relaxed),
            runs_late: s.runs_late.load(Ordering::Relaxed),
            runs_skipped: s.runs_skipped.load(Ordering::Relaxed),
            runs_timed_out: s.runs_timed_out.load(Ordering::Relaxed),
            in_flight: s.in_flight.load(Ordering::Relaxed),
            max_lateness: Duration::from_micros(s.max_lateness_us.load(Ordering::Relaxed)),
        }
    }

    /// Stop scheduling; runs in flight finish and send their results.
    pub fn shutdown(self) {
        self.driver.abort();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Where in `[0, interval)` a check's grid starts: a stable hash of its id
/// (FNV-1a, the same in every process and version).
pub fn phase_offset(id: &str, interval: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(h % ms)
}

struct Entry {
    spec: Arc<CheckSpec>,
    generation: u64,
}

struct Driver<R> {
    runner: Arc<R>,
    results: mpsc::Sender<ProbeEvent>,
    permits: Arc<Semaphore>,
    late_threshold: Duration,
    stats: Arc<Stats>,
    origin: Instant,
    origin_ms: Millis,
    entries: HashMap<CheckId, Entry>,
    /// Due slots; entries whose generation no longer matches are stale and skipped.
    heap: BinaryHeap<Reverse<(Instant, u64, CheckId)>>,
    generation: u64,
}

impl<R: Runner> Driver<R> {
    async fn run(mut self, checks: Vec<(CheckId, Arc<CheckSpec>)>, mut commands: mpsc::UnboundedReceiver<Command>) {
        self.apply(checks);
        loop {
            let next_due = self.heap.peek().map(|Reverse((due, _, _))| *due);
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Reload(checks, reply)) => {
                        let summary = self.apply(checks);
                        let _ = reply.send(summary);
                    }
                    None => return,
                },
                () = sleep_until_opt(next_due) => self.start_due().await,
            }
        }
    }

    fn wall(&self, at: Instant) -> Millis {
        self.origin_ms + i64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(i64::MAX)
    }

    /// The first slot at or after now on the grid of `id`.
    fn first_slot(&self, id: &str, interval: Duration) -> Instant {
        let base = self.origin + phase_offset(id, interval);
        let now = Instant::now();
        if base >= now {
            return base;
        }
        let behind = now.duration_since(base).as_nanos();
        let step = interval.as_nanos().max(1);
        let k = behind.div_ceil(step);
        base + Duration::from_nanos(u64::try_from(k * step).unwrap_or(u64::MAX))
    }

    fn apply(&mut self, checks: Vec<(CheckId, Arc<CheckSpec>)>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut next: HashMap<CheckId, Entry> = HashMap::with_capacity(checks.len());
        for (id, spec) in checks {
            match self.entries.remove(&id) {
                Some(old) if *old.spec == *spec => {
                    summary.kept += 1;
                    // the caller's copy is kept, the old one let go: the
                    // caller shares its parsed specs, and holding on to the
                    // old ones would keep a second copy of every spec alive
                    next.insert(id, Entry { spec, generation: old.generation });
                }
                old => {
                    if old.is_some() {
                        summary.changed += 1;
                    } else {
                        summary.added += 1;
                    }
                    self.generation += 1;
                    let due = self.first_slot(&id, spec.interval());
                    self.heap.push(Reverse((due, self.generation, id.clone())));
                    next.insert(id, Entry { spec, generation: self.generation });
                }
            }
        }
        summary.removed = self.entries.len();
        self.entries = next;
        // Stale heap entries are dropped when popped; rebuild when they dominate.
        if self.heap.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.heap.retain(|Reverse((_, g, id))| entries.get(id).is_some_and(|e| e.generation == *g));
        }
        self.stats.checks.store(self.entries.len() as u64, Ordering::Relaxed);
        summary
    }

    async fn start_due(&mut self) {
        while let Some(Reverse((due, generation, _))) = self.heap.peek() {
            let due = *due;
            if due > Instant::now() {
                return;
            }
            let generation = *generation;
            let Some(Reverse((_, _, id))) = self.heap.pop() else { return };
            let Some(entry) = self.entries.get(&id).filter(|e| e.generation == generation) else { continue };
            let spec = entry.spec.clone();
            // Waiting here is the concurrency bound: later slots start late, and say so.
            let Ok(permit) = self.permits.clone().acquire_owned().await else { return };
            let started = Instant::now();
            let interval = spec.interval();
            let mut next = due + interval;
            while next + interval <= started {
                next += interval;
                self.stats.runs_skipped.fetch_add(1, Ordering::Relaxed);
            }
            self.heap.push(Reverse((next, generation, id.clone())));

            let lateness = started.saturating_duration_since(due);
            let stats = self.stats.clone();
            stats.runs_started.fetch_add(1, Ordering::Relaxed);
            stats.in_flight.fetch_add(1, Ordering::Relaxed);
            if lateness > self.late_threshold {
                stats.runs_late.fetch_add(1, Ordering::Relaxed);
            }
            stats.max_lateness_us.fetch_max(u64::try_from(lateness.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
            let (scheduled_at_ms, started_at_ms) = (self.wall(due), self.wall(started));
            let run = self.runner.run(spec.clone());
            let results = self.results.clone();
            tokio::spawn(async move {
                let limit = spec.timeout();
                let result = match tokio::time::timeout(limit + TIMEOUT_GRACE, run).await {
                    Ok(r) => r,
                    Err(_) => ProbeResult::down(ErrorKind::Timeout, format!("timeout after {}", human_duration(limit))),
                };
                if result.error == Some(ErrorKind::Timeout) {
                    stats.runs_timed_out.fetch_add(1, Ordering::Relaxed);
                }
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                stats.runs_finished.fetch_add(1, Ordering::Relaxed);
                let _ =
                    results.send(ProbeEvent { check_id: id, scheduled_at_ms, started_at_ms, lateness, result }).await;
                drop(permit);
            });
        }
    }
}

async fn sleep_until_opt(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TcpCheck;
    use crate::result::Outcome;
    use nines_core::clock::ManualClock;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;

    /// A runner that takes `work` of (paused) time and records concurrency.
    #[derive(Default)]
    struct FakeRunner {
        work: Duration,
        hang: bool,
        running: AtomicU64,
        max_running: AtomicU64,
        runs: Mutex<Vec<(String, Instant)>>,
    }

    impl Runner for FakeRunner {
        fn run(&self, check: Arc<CheckSpec>) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'static>> {
            let name = check.common().name.unwrap_or_default().to_owned();
            self.runs.lock().unwrap().push((name, Instant::now()));
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            let (work, hang) = (self.work, self.hang);
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(work).await;
                ProbeResult::up("ok")
            })
        }
    }

    struct Counting(Arc<FakeRunner>);
    impl Runner for Counting {
        fn run(&self, check: Arc<CheckSpec>) -> Pin<Box<dyn Future<Output = ProbeResult> + Send + 'static>> {
            let inner = self.0.clone();
            let fut = inner.run(check);
            Box::pin(async move {
                let r = fut.await;
                inner.running.fetch_sub(1, Ordering::SeqCst);
                r
            })
        }
    }

    fn check(name: &str, interval: u32, timeout: f64) -> (CheckId, Arc<CheckSpec>) {
        let mut c = TcpCheck::new("127.0.0.1", 1);
        c.name = Some(name.to_owned());
        c.interval_seconds = interval;
        c.timeout_seconds = Some(timeout);
        (Arc::from(name), Arc::new(c.into()))
    }

    const T0: Millis = 1_700_000_000_000;

    fn start(
        runner: FakeRunner,
        cfg: SchedulerConfig,
        checks: Vec<(CheckId, Arc<CheckSpec>)>,
    ) -> (Scheduler, mpsc::Receiver<ProbeEvent>, Arc<FakeRunner>) {
        let runner = Arc::new(runner);
        let (tx, rx) = mpsc::channel(100_000);
        let s = Scheduler::start(Arc::new(Counting(runner.clone())), Arc::new(ManualClock::new(T0)), cfg, checks, tx);
        (s, rx, runner)
    }

    async fn collect_until(rx: &mut mpsc::Receiver<ProbeEvent>, until: Duration) -> Vec<ProbeEvent> {
        let deadline = Instant::now() + until;
        let mut out = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            out.push(e);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn first_runs_are_spread_over_the_interval_by_a_stable_hash() {
        let checks: Vec<_> = (0..600).map(|i| check(&format!("svc-{i}"), 60, 5.0)).collect();
        let (_s, mut rx, _) = start(FakeRunner::default(), SchedulerConfig::default(), checks);
        let mut events = collect_until(&mut rx, Duration::from_secs(90)).await;
        let mut seen = std::collections::HashSet::new();
        events.retain(|e| seen.insert(e.check_id.clone()));
        // Every check started within its first interval.
        assert_eq!(events.len(), 600);
        let mut buckets = [0u32; 6];
        for e in &events {
            let offset = e.scheduled_at_ms - T0;
            assert_eq!(offset, phase_offset(&e.check_id, Duration::from_secs(60)).as_millis() as i64);
            buckets[(offset / 10_000) as usize] += 1;
        }
        // 600 ids over six 10 s buckets: none is empty or holds most of them.
        assert!(buckets.iter().all(|b| (50..=150).contains(b)), "{buckets:?}");
        assert_eq!(phase_offset("svc-1", Duration::from_secs(60)), phase_offset("svc-1", Duration::from_secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn runs_stay_on_the_grid_without_drift() {
        let runner = FakeRunner { work: Duration::from_millis(700), ..Default::default() };
        let (s, mut rx, _) = start(runner, SchedulerConfig::default(), vec![check("a", 1, 0.9)]);
        let events = collect_until(&mut rx, Duration::from_secs(1000)).await;
        assert!(events.len() >= 998, "{}", events.len());
        let first = events[0].scheduled_at_ms;
        for (k, e) in events.iter().enumerate() {
            assert_eq!(e.scheduled_at_ms, first + 1000 * k as i64);
            assert_eq!(e.lateness, Duration::ZERO);
            assert_eq!(e.started_at_ms, e.scheduled_at_ms);
        }
        assert_eq!(s.stats().runs_late, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn reload_keeps_unchanged_checks_on_their_schedule() {
        let (s, mut rx, runner) = start(
            FakeRunner::default(),
            SchedulerConfig::default(),
            vec![check("a", 10, 1.0), check("b", 10, 1.0), check("c", 10, 1.0)],
        );
        let before = collect_until(&mut rx, Duration::from_secs(25)).await;
        let a_before: Vec<_> = before.iter().filter(|e| &*e.check_id == "a").map(|e| e.scheduled_at_ms).collect();
        let runs_before = runner.runs.lock().unwrap().len();
        let summary = s.reload(vec![check("a", 10, 1.0), check("b", 20, 1.0), check("d", 10, 1.0)]).await;
        assert_eq!(summary, ReloadSummary { kept: 1, changed: 1, added: 1, removed: 1 });
        // Reloading starts nothing by itself: "a" is not restarted.
        assert_eq!(runner.runs.lock().unwrap().len(), runs_before);
        let after = collect_until(&mut rx, Duration::from_secs(60)).await;
        let a_after: Vec<_> = after.iter().filter(|e| &*e.check_id == "a").map(|e| e.scheduled_at_ms).collect();
        assert!(!after.iter().any(|e| &*e.check_id == "c"), "removed check still runs");
        assert!(after.iter().any(|e| &*e.check_id == "d"));
        assert!(after.iter().any(|e| &*e.check_id == "b"));
        // "a" continues its grid: same phase, no gap, no extra run.
        let last = *a_before.last().unwrap();
        assert_eq!(a_after[0], last + 10_000);
        assert!(a_after.windows(2).all(|w| w[1] - w[0] == 10_000));
        // "b" changed to 20 s and runs on its new grid.
        let b: Vec<_> = after.iter().filter(|e| &*e.check_id == "b").map(|e| e.scheduled_at_ms).collect();
        assert!(b.windows(2).all(|w| w[1] - w[0] == 20_000), "{b:?}");
        assert_eq!(s.stats().checks, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_keeps_the_new_copy_of_an_unchanged_spec() {
        let first = check("a", 10, 1.0);
        let old = Arc::downgrade(&first.1);
        let (s, mut rx, _) = start(FakeRunner::default(), SchedulerConfig::default(), vec![first]);
        collect_until(&mut rx, Duration::from_secs(15)).await;
        let again = check("a", 10, 1.0);
        let new = again.1.clone();
        let summary = s.reload(vec![again]).await;
        assert_eq!(summary.kept, 1);
        // the scheduler holds the caller's copy; the one it had is gone
        assert!(old.upgrade().is_none(), "the replaced spec is still held");
        assert_eq!(Arc::strong_count(&new), 2);
        // and the check keeps its grid
        let after = collect_until(&mut rx, Duration::from_secs(25)).await;
        assert!(after.windows(2).all(|w| w[1].scheduled_at_ms - w[0].scheduled_at_ms == 10_000), "{}", after.len());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded_and_late_starts_are_counted() {
        let runner = FakeRunner { work: Duration::from_secs(20), ..Default::default() };
        let cfg = SchedulerConfig { max_concurrency: 4, late_threshold: Duration::from_secs(1) };
        // 40 checks of 60 s taking 20 s each, 4 at a time: 200 s of work per minute.
        let checks: Vec<_> = (0..40).map(|i| check(&format!("c{i}"), 60, 50.0)).collect();
        let (s, mut rx, runner) = start(runner, cfg, checks);
        let events = collect_until(&mut rx, Duration::from_secs(55)).await;
        assert_eq!(runner.max_running.load(Ordering::SeqCst), 4);
        assert!(!events.is_empty());
        let stats = s.stats();
        assert!(stats.runs_late > 0, "{stats:?}");
        assert!(events.iter().any(|e| e.lateness > Duration::from_secs(1)));
        for e in &events {
            assert_eq!(e.started_at_ms - e.scheduled_at_ms, e.lateness.as_millis() as i64);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_run_is_cut_at_its_timeout() {
        let runner = FakeRunner { hang: true, ..Default::default() };
        let (s, mut rx, _) = start(runner, SchedulerConfig::default(), vec![check("h", 5, 2.0)]);
        let e = rx.recv().await.unwrap();
        assert_eq!(e.result.outcome, Outcome::Down);
        assert_eq!(e.result.error, Some(ErrorKind::Timeout));
        assert_eq!(e.result.message, "timeout after 2 s");
        let started = Instant::now();
        let e2 = rx.recv().await.unwrap();
        assert_eq!(e2.scheduled_at_ms - e.scheduled_at_ms, 5000);
        assert!(started.elapsed() <= Duration::from_secs(5));
        assert_eq!(s.stats().runs_timed_out, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_scheduler_skips_missed_slots_instead_of_replaying_them() {
        let runner = FakeRunner { work: Duration::from_secs(30), ..Default::default() };
        let cfg = SchedulerConfig { max_concurrency: 1, ..Default::default() };
        // One permit, two checks of 1 s whose runs are cut at 0.75 s: 1.5 s of
        // work per second, so the scheduler falls behind and must skip.
        let (s, mut rx, _) = start(runner, cfg, vec![check("x", 1, 0.5), check("y", 1, 0.5)]);
        let _ = collect_until(&mut rx, Duration::from_secs(300)).await;
        let st = s.stats();
        assert!(st.runs_skipped > 50, "{st:?}");
        assert!(st.runs_started + st.runs_skipped <= 602, "{st:?}");
    }
}
