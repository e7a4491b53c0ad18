//! Who runs the singleton workers. Every replica serves the API; the
//! singleton workers (stale detector, downtimes, notifier, watches, SLO)
//! run only on the replica holding the `workers` lease in the database. A
//! replica that dies stops renewing; another takes over once the lease
//! expires (7 s). [`Leadership`] is what a worker asks ("am I leading, since
//! when?") and where it counts its passes ([`Passes`]).
//!
//! What does not live here: the workers themselves (`workers`, `notify`,
//! `observability`, `report`, `probes`), which depend on this module and
//! not the other way round.

use nines_core::clock::Clock;
use nines_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

pub const LEASE_NAME: &str = "workers";
pub const LEASE_TTL_MS: i64 = 7_000;
pub const LEASE_RENEW: Duration = Duration::from_secs(1);
/// A takeover within this long after expiry keeps the watch continuous.
pub const LEASE_GAP_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Leadership {
    pub is_leader: Arc<AtomicBool>,
    /// When nines began listening without a gap; silence before it is not counted.
    pub floor: Arc<AtomicI64>,
    pub replica: String,
    pub passes: Arc<Passes>,
}

/// How many passes each background worker has finished (on this replica,
/// as leader). Whoever needs to know that "nothing more happens" after an
/// action waits until the workers have gone round twice since, instead of
/// sleeping and hoping they were not slow: the suite does.
#[derive(Debug, Default)]
pub struct Passes {
    pub stale: AtomicU64,
    pub downtimes: AtomicU64,
    /// Notifier passes (fan-out and sending).
    pub notifier: AtomicU64,
    /// Condition watcher passes (backups, storage, certificates, agents).
    pub watches: AtomicU64,
    pub slo: AtomicU64,
}

impl Passes {
    pub fn done(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

impl Leadership {
    /// Whether this replica holds the workers lease now.
    pub fn leads(&self) -> bool {
        self.is_leader.load(Ordering::SeqCst)
    }

    /// The ticks of a singleton worker: one every `every` while this
    /// replica leads, until `stop` fires. A worker is a loop of
    /// `while ticks.next().await { … one pass … }`.
    pub fn ticks(&self, every: Duration, stop: watch::Receiver<bool>) -> LeaderTicks {
        LeaderTicks { me: self.clone(), every, stop }
    }
}

/// See [`Leadership::ticks`].
pub struct LeaderTicks {
    me: Leadership,
    every: Duration,
    stop: watch::Receiver<bool>,
}

impl LeaderTicks {
    /// Wait for the next tick at which this replica leads: `true` then,
    /// `false` once `stop` fires. A tick at which it does not lead is
    /// skipped.
    pub async fn next(&mut self) -> bool {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = self.stop.changed() => return false,
            }
            if self.me.leads() {
                return true;
            }
        }
    }
}

/// Keep trying to hold the lease until `stop` fires; release it then.
pub async fn lead(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    (ttl_ms, renew): (i64, Duration),
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let now = clock.now_ms();
        match store.try_lease(LEASE_NAME, &me.replica, now, ttl_ms, LEASE_GAP_MS).await {
            Ok(Some(state)) => {
                if !me.is_leader.swap(true, Ordering::SeqCst) {
                    tracing::info!(replica = %me.replica, watch_since = %nines_core::clock::rfc3339(state.watch_since), "took the workers lease");
                }
                me.floor.store(state.watch_since, Ordering::SeqCst);
            }
            Ok(None) => {
                if me.is_leader.swap(false, Ordering::SeqCst) {
                    tracing::warn!(replica = %me.replica, "lost the workers lease");
                }
            }
            Err(e) => {
                // Cannot renew: stop acting as leader before the lease runs out.
                if me.is_leader.swap(false, Ordering::SeqCst) {
                    tracing::error!(error = %e, "cannot renew the workers lease; standing down");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(renew) => {}
            _ = stop.changed() => break,
        }
    }
    if me.is_leader.swap(false, Ordering::SeqCst) {
        let _ = store.release_lease(LEASE_NAME, &me.replica, clock.now_ms()).await;
        tracing::info!("released the workers lease");
    }
}
