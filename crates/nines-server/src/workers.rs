//! Background workers and who runs them. Every replica serves the API; the
//! singleton workers (the stale detector now, more later) run only on the
//! replica holding the `workers` lease in the database. A replica that dies
//! stops renewing; another takes over once the lease expires (15 s).

use nines_core::clock::Clock;
use nines_core::timeline::StaleRule;
use nines_store::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

pub const LEASE_NAME: &str = "workers";
pub const LEASE_TTL_MS: i64 = 15_000;
pub const LEASE_RENEW: Duration = Duration::from_secs(5);
/// A takeover within this long after expiry keeps the watch continuous.
pub const LEASE_GAP_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Leadership {
    pub is_leader: Arc<AtomicBool>,
    /// When nines began listening without a gap; silence before it is not counted.
    pub floor: Arc<AtomicI64>,
    pub replica: String,
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

/// The stale detector: every `every`, while leader, place the stale marks
/// that silence has earned.
pub async fn stale_detector(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    rule: StaleRule,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if !me.is_leader.load(Ordering::SeqCst) {
            continue;
        }
        let floor = me.floor.load(Ordering::SeqCst);
        match store.stale_tick(&rule, clock.now_ms(), floor).await {
            Ok(changes) => {
                for (id, t) in &changes {
                    tracing::info!(service_id = id, from = %t.from, to = %t.to, at = %nines_core::clock::rfc3339(t.at), "stale: no report");
                }
            }
            Err(e) => tracing::error!(error = %e, "stale detection failed"),
        }
    }
}
