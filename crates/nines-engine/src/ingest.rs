//! The health-report writer: requests queue their report and wait; a writer
//! task takes everything queued (up to a batch limit), commits it in one
//! transaction, then answers each request. A request is acknowledged only
//! after its commit, so an acknowledged report survives `kill -9`.

use nines_core::timeline::StaleRule;
use nines_core::wire::HealthAck;
use nines_store::{HealthOp, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Why a report was not acknowledged: the engines' error classes.
pub use crate::error::EngineError as IngestError;

type Job = (HealthOp, oneshot::Sender<Result<HealthAck, IngestError>>);

/// Largest batch committed at once.
pub const MAX_BATCH: usize = 512;

#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    /// Start `writers` writer tasks (one for SQLite, a few for PostgreSQL).
    pub fn start(
        store: Store,
        rule: StaleRule,
        floor: Arc<AtomicI64>,
        writers: usize,
    ) -> (Ingest, Vec<tokio::task::JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 8);
        let rx = Arc::new(Mutex::new(rx));
        let handles = (0..writers.max(1))
            .map(|_| {
                let (store, rx, floor) = (store.clone(), rx.clone(), floor.clone());
                tokio::spawn(async move { writer(store, rule, floor, rx).await })
            })
            .collect();
        (Ingest { tx }, handles)
    }

    pub async fn submit(&self, op: HealthOp) -> Result<HealthAck, IngestError> {
        let (otx, orx) = oneshot::channel();
        self.tx.send((op, otx)).await.map_err(|_| IngestError::ShuttingDown)?;
        orx.await.map_err(|_| IngestError::ShuttingDown)?
    }
}

async fn writer(store: Store, rule: StaleRule, floor: Arc<AtomicI64>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return; // channel closed and drained
            }
        }
        let (ops, replies): (Vec<HealthOp>, Vec<_>) = batch.drain(..).unzip();
        let ops = Arc::new(ops);
        let floor = floor.load(Ordering::Relaxed);
        match store.ingest_health_shared(ops.clone(), &rule, floor).await {
            Ok(acks) => {
                for (reply, ack) in replies.into_iter().zip(acks) {
                    let _ = reply.send(Ok(ack));
                }
            }
            Err(e) if replies.len() > 1 => {
                // One bad apple (or a conflict with another replica) must not
                // fail the others: retry one by one.
                tracing::warn!(error = %e, size = replies.len(), "batch failed; retrying reports one by one");
                for (op, reply) in ops.iter().zip(replies) {
                    let r = store.ingest_health(std::slice::from_ref(op), &rule, floor).await;
                    let _ = reply.send(r.map(|mut v| v.remove(0)).map_err(IngestError::from));
                }
            }
            Err(e) => {
                let e = IngestError::from(e);
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
