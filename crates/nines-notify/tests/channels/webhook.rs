//! The webhook against a receiver that verifies `X-Nines-Signature`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use nines_notify::channel::webhook::{self, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use nines_notify::{Channel, ChannelConfig, Class, Notifier};

use crate::support::{Log, now_ms, opened, serve};

const RECEIVER_SECRET: &[u8] = b"receiver-s3cr3t";

#[derive(Clone, Default)]
struct Receiver {
    accepted: Log<(HeaderMap, Bytes)>,
    rejected: Log<String>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let now_s = now_ms() / 1000;
    match webhook::verify(RECEIVER_SECRET, &h(TIMESTAMP_HEADER), &body, &h(SIGNATURE_HEADER), now_s, 300) {
        Ok(()) => {
            r.accepted.lock().unwrap().push((headers, body));
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            r.rejected.lock().unwrap().push(e.to_string());
            StatusCode::UNAUTHORIZED
        }
    }
}

fn channel(url: &str, secret: &str) -> Channel {
    let json = format!(
        r#"{{"type":"webhook","url":"{url}/hook","secret":"{secret}","headers":{{"Authorization":"Bearer t0k3n"}},"timeoutSeconds":5}}"#
    );
    Channel::build(&ChannelConfig::from_json(&json).unwrap()).unwrap()
}

#[tokio::test]
async fn signed_webhook_is_verified_and_carries_event_and_text() {
    let r = Receiver::default();
    let base = serve(Router::new().route("/hook", post(hook)).with_state(r.clone())).await;
    let msg = opened(now_ms() - 60_000);

    let d = channel(&base, "receiver-s3cr3t").send(&msg, now_ms()).await.unwrap();
    assert_eq!(d.status_code, Some(204));
    let accepted = r.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    let (headers, body) = &accepted[0];
    assert_eq!(headers[DELIVERY_HEADER], "msg-1");
    assert_eq!(headers[EVENT_HEADER], "downtime_opened");
    assert_eq!(headers["authorization"], "Bearer t0k3n");
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers[SIGNATURE_HEADER].to_str().unwrap().starts_with("sha256="));
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["id"], "msg-1");
    assert_eq!(v["kind"], "downtime_opened");
    assert_eq!(v["title"], "Opened: API outage");
    assert_eq!(v["link"], "https://nines.example/ui/downtimes/42");
    assert!(
        v["markdown"].as_str().unwrap().starts_with("[API outage](https://nines.example/ui/downtimes/42) started ")
    );
    assert!(v["text"].as_str().unwrap().contains("api-gateway <https://nines.example/ui/services/7>"));
    assert_eq!(v["event"]["kind"], "downtime_opened");
    assert_eq!(v["event"]["services"][0]["nodeId"], "acme/platform/prod/c1");
    assert_eq!(v["event"]["services"][0]["status"], "DOWN");
    assert_eq!(v["event"]["countsTowardsSla"], true);
    // What the receiver got parses back into the event that was sent.
    let ev: nines_notify::Event = serde_json::from_value(v["event"].clone()).unwrap();
    assert_eq!(ev, msg.event);
}

#[tokio::test]
async fn wrong_secret_fails_verification_permanently() {
    let r = Receiver::default();
    let base = serve(Router::new().route("/hook", post(hook)).with_state(r.clone())).await;
    let err = channel(&base, "not-the-secret").send(&opened(now_ms()), now_ms()).await.unwrap_err();
    assert_eq!(err.status_code(), Some(401));
    assert_eq!(err.class(), Class::Permanent);
    assert!(r.accepted.lock().unwrap().is_empty());
    assert_eq!(*r.rejected.lock().unwrap(), ["signature does not match"]);
}

#[tokio::test]
async fn a_replayed_request_is_stale() {
    let r = Receiver::default();
    let base = serve(Router::new().route("/hook", post(hook)).with_state(r.clone())).await;
    // Signed as if sent an hour ago.
    let err = channel(&base, "receiver-s3cr3t").send(&opened(now_ms()), now_ms() - 3_600_000).await.unwrap_err();
    assert_eq!(err.status_code(), Some(401));
    assert_eq!(*r.rejected.lock().unwrap(), ["timestamp outside the allowed window"]);
}

#[tokio::test]
async fn unreachable_receiver_is_a_retryable_connect_error() {
    // Bind and drop: nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = channel(&format!("http://127.0.0.1:{port}"), "x").send(&opened(now_ms()), now_ms()).await.unwrap_err();
    assert_eq!(err.class(), Class::Retryable, "{err}");
}
