//! The snapshot cache of one server: requests read the current snapshot; a
//! background refresh replaces it when the store's change fingerprint moves
//! (a transition, a final day, a group edit, a downtime), checked at most
//! once a second. A new snapshot's page is made before it is served.
//! What a snapshot holds is `super::snapshot`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::output;
use super::snapshot::{DayCache, Snapshot, build};

/// How often a request may trigger a look at the fingerprint.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How old the last look may be for a request to be served the current
/// snapshot while a background task looks again. Past it (the first visitor
/// after a quiet spell) the request waits for the look, so a change reaches
/// the page within this much of the first request that follows it.
const SERVE_STALE_FOR: Duration = Duration::from_secs(5);

/// The cache of one server: the current snapshot and how to refresh it.
pub struct Cache {
    current: RwLock<Option<Arc<Snapshot>>>,
    checked: Mutex<Option<Instant>>,
    refreshing: AtomicBool,
    build: tokio::sync::Mutex<Builder>,
    version: AtomicU64,
}

#[derive(Default)]
struct Builder {
    days: DayCache,
    fingerprint: String,
}

impl Cache {
    pub fn new() -> Self {
        Cache {
            current: RwLock::new(None),
            checked: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            build: tokio::sync::Mutex::new(Builder::default()),
            version: AtomicU64::new(0),
        }
    }

    /// The current snapshot. Builds the first one; afterwards, while the
    /// last look at the fingerprint is recent, the current one is served
    /// while a background task refreshes it; after a quiet spell the request
    /// waits for the look (and a rebuild, when something changed).
    pub async fn get(self: &Arc<Self>, state: &crate::AppState) -> nines_store::Result<Arc<Snapshot>> {
        let cur = self.current.read().ok().and_then(|g| g.clone());
        let recent = self.checked.lock().ok().and_then(|c| *c).is_some_and(|t| t.elapsed() < SERVE_STALE_FOR);
        match cur {
            Some(_) if !recent => self.refresh(state).await,
            Some(s) => {
                if self.due() && !self.refreshing.swap(true, Ordering::AcqRel) {
                    let me = self.clone();
                    let st = state.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.refresh(&st).await {
                            tracing::warn!(error = %e, "status page refresh failed");
                        }
                        me.refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(s)
            }
            None => self.refresh(state).await,
        }
    }

    /// Make the next request look at the fingerprint (after an edit here).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.checked.lock() {
            *c = None;
        }
    }

    fn due(&self) -> bool {
        let Ok(mut c) = self.checked.lock() else { return false };
        match *c {
            Some(t) if t.elapsed() < CHECK_EVERY => false,
            _ => {
                *c = Some(Instant::now());
                true
            }
        }
    }

    /// Rebuild when the fingerprint moved (or none exists yet).
    async fn refresh(&self, state: &crate::AppState) -> nines_store::Result<Arc<Snapshot>> {
        let mut b = self.build.lock().await;
        if let Ok(mut c) = self.checked.lock() {
            *c = Some(Instant::now());
        }
        let now = state.clock.now_ms();
        // the clock's minute is part of it: open days grow as time passes
        let fp = format!("{}{}", state.store.statuspage_fingerprint().await?, now / 60_000);
        if let Some(s) = self.current.read().ok().and_then(|g| g.clone())
            && fp == b.fingerprint
        {
            return Ok(s);
        }
        let t = Instant::now();
        let version = self.version.fetch_add(1, Ordering::AcqRel) + 1;
        let mut snap = build(&state.store, &mut b.days, now, version).await?;
        snap.base_url = state.notifier.base_url.clone();
        snap.build_ms = t.elapsed().as_secs_f64() * 1000.0;
        // render now, off the path of the requests that follow
        output::prerender(&snap);
        tracing::debug!(services = snap.items.len(), build_ms = snap.build_ms, "status page rebuilt");
        let snap = Arc::new(snap);
        b.fingerprint = fp;
        if let Ok(mut g) = self.current.write() {
            *g = Some(snap.clone());
        }
        Ok(snap)
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}
