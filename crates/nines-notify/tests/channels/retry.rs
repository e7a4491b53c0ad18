//! Retries against a receiver that fails twice with 503, then accepts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use nines_core::clock::ManualClock;
use nines_notify::{Channel, ChannelConfig, Outcome, RetryPolicy, deliver, deliver_with_retries};

use crate::support::{now_ms, opened, serve, statuses};

async fn flaky(State(n): State<Arc<AtomicU32>>) -> StatusCode {
    if n.fetch_add(1, Ordering::SeqCst) < 2 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK }
}

async fn channel(path: &str) -> (Channel, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let base = serve(
        Router::new()
            .route("/flaky", post(flaky))
            .route("/gone", post(|| async { StatusCode::GONE }))
            .with_state(hits.clone()),
    )
    .await;
    let config = ChannelConfig::from_json(&format!(r#"{{"type":"webhook","url":"{base}{path}"}}"#)).unwrap();
    (Channel::build(&config).unwrap(), hits)
}

#[tokio::test]
async fn two_503_then_200_is_delivered_on_attempt_three() {
    let (ch, hits) = channel("/flaky").await;
    let policy = RetryPolicy::default();
    let clock = ManualClock::new(now_ms());
    let start = now_ms();
    let mut slept = Vec::new();
    let attempts = deliver_with_retries(&ch, &opened(now_ms()), &policy, &clock, |d: Duration| {
        slept.push(d);
        clock.advance(d.as_millis() as i64);
        std::future::ready(())
    })
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        [Outcome::Retrying, Outcome::Retrying, Outcome::Delivered]
    );
    assert_eq!(statuses(&attempts), [Some(503), Some(503), Some(200)]);
    assert!(attempts[0].error.as_deref().unwrap().starts_with("HTTP 503"));
    assert_eq!(attempts[2].error, None);
    // The schedule: 5 s then 10 s, each within ±20 %; the clock moved by them.
    assert_eq!(slept.len(), 2);
    let ms: Vec<u64> = slept.iter().map(|d| d.as_millis() as u64).collect();
    assert!((4_000..=6_000).contains(&ms[0]), "{ms:?}");
    assert!((8_000..=12_000).contains(&ms[1]), "{ms:?}");
    assert_eq!(attempts[1].at, attempts[0].next_attempt_at.unwrap());
    assert_eq!(attempts[2].at, attempts[1].next_attempt_at.unwrap());
    assert!(now_ms() - start < 5_000, "no real sleeping");
}

#[tokio::test]
async fn a_permanent_error_is_not_retried() {
    let (ch, _) = channel("/gone").await;
    let clock = ManualClock::new(1_000);
    let mut sleeps = 0;
    let attempts = deliver_with_retries(&ch, &opened(now_ms()), &RetryPolicy::default(), &clock, |_| {
        sleeps += 1;
        std::future::ready(())
    })
    .await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].outcome, attempts[0].status_code, attempts[0].next_attempt_at),
        (Outcome::Failed, Some(410), None)
    );
    assert_eq!(sleeps, 0);
}

#[tokio::test]
async fn the_last_allowed_attempt_fails_for_good() {
    let (ch, _) = channel("/flaky").await;
    let clock = ManualClock::new(1_000);
    let policy = RetryPolicy { max_attempts: 2, ..Default::default() };
    let a = deliver(&ch, &opened(now_ms()), 1, &policy, &clock).await;
    assert_eq!(a.outcome, Outcome::Retrying);
    let (lo, hi) = policy.delay_bounds_ms(1);
    let next = a.next_attempt_at.unwrap() - 1_000;
    assert!((lo as i64..=hi as i64).contains(&next), "{next}");
    let a = deliver(&ch, &opened(now_ms()), 2, &policy, &clock).await;
    assert_eq!((a.attempt, a.outcome, a.status_code), (2, Outcome::Failed, Some(503)));
    // Stored as JSON per attempt.
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["outcome"], "failed");
    assert_eq!(v["statusCode"], 503);
}
