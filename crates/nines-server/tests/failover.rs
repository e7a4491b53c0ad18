//! Several replicas on one PostgreSQL: the API runs on all of them, the
//! singleton workers on exactly one, and another takes over when it dies.

mod common;

use common::*;
use nines_core::clock::ManualClock;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_dead_leader_is_replaced_within_the_lease() {
    let Some(url) = nines_store::testing::postgres_url().await else { return };
    let clock = ManualClock::new(T0);
    let store_a = nines_store::Store::connect(&url).await.unwrap();
    let store_b = nines_store::Store::connect(&url).await.unwrap();
    let a = start_with(store_a, Arc::new(clock.clone()), fast_config("replica-a")).await;
    eventually("a leads", async || a.running.as_ref().unwrap().state.leadership.leads().then_some(())).await;
    let b = start_with(store_b, Arc::new(clock.clone()), fast_config("replica-b")).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let b_leads = || b.running.as_ref().unwrap().state.leadership.leads();
    assert!(!b_leads(), "one leader at a time");
    // both replicas serve the API
    let key = b.key("myorg", "operator").await;
    let (code, ack) = a
        .post("/api/v1/health/report", &key, json!({"service":"s","status":"OPERATIONAL","nodeId":"myorg/p/e/c"}))
        .await;
    assert_eq!(code, 201, "{ack}");
    // a dies without releasing its lease
    let mut a = a;
    a.running.take().unwrap().abort();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!b_leads(), "the lease has not expired yet");
    clock.advance(8_000); // past the 7 s lease, well inside 10 s
    eventually("b takes over", async || b_leads().then_some(())).await;
    // and b runs the stale detector: silence since T0 counts (the watch was continuous)
    clock.advance(113_000); // 121 s of silence: past the 120 s of the stale rule
    let path = format!("/api/v1/services/{}", ack["id"]);
    eventually("stale on b", async || {
        let (_, v) = b.get(&path, &key).await;
        (v["status"] == "UNKNOWN").then_some(())
    })
    .await;
    b.stop().await;
}
