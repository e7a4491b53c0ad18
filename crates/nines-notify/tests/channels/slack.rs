//! The Slack-compatible channel against a receiver that checks the JSON.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use nines_notify::{Channel, ChannelConfig, Notifier};

use crate::support::{Log, now_ms, opened, serve};

async fn incoming(
    State(log): State<Log<serde_json::Value>>,
    Json(v): Json<serde_json::Value>,
) -> (StatusCode, &'static str) {
    // The common subset of Slack, Mattermost and Rocket.Chat: an object with
    // a string `text` and optional `channel`, `username`, `icon_url` strings.
    let Some(obj) = v.as_object() else { return (StatusCode::BAD_REQUEST, "not an object") };
    if !obj.get("text").is_some_and(|t| t.is_string()) {
        return (StatusCode::BAD_REQUEST, "missing text");
    }
    for (k, val) in obj {
        if !["text", "channel", "username", "icon_url"].contains(&k.as_str()) || !val.is_string() {
            return (StatusCode::BAD_REQUEST, "unexpected field");
        }
    }
    log.lock().unwrap().push(v);
    (StatusCode::OK, "ok")
}

#[tokio::test]
async fn slack_payload_has_the_common_shape_and_slack_links() {
    let log = Log::default();
    let base = serve(Router::new().route("/hooks/T000/B000/XXXX", post(incoming)).with_state(log.clone())).await;
    let json = format!(
        r##"{{"type":"slack","url":"{base}/hooks/T000/B000/XXXX","channel":"#ops","username":"nines","iconUrl":"https://nines.example/icon.png"}}"##
    );
    let config = ChannelConfig::from_json(&json).unwrap();
    assert!(!format!("{:?}", Channel::build(&config).unwrap()).contains("XXXX"), "the hook URL is a secret");
    let d = Channel::build(&config).unwrap().send(&opened(now_ms()), now_ms()).await.unwrap();
    assert_eq!(d.status_code, Some(200));
    assert_eq!(d.detail.as_deref(), Some("ok"));
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let v = &got[0];
    assert_eq!(v["channel"], "#ops");
    assert_eq!(v["username"], "nines");
    assert_eq!(v["icon_url"], "https://nines.example/icon.png");
    let text = v["text"].as_str().unwrap();
    assert!(text.starts_with("<https://nines.example/ui/downtimes/42|API outage> started "), "{text}");
    assert!(
        text.contains("\n• <https://nines.example/ui/services/7|api-gateway> (acme/platform/prod/c1): DOWN"),
        "{text}"
    );
    assert!(!text.contains("]("), "no Markdown links in Slack text");
}

#[tokio::test]
async fn minimal_slack_payload_is_text_only() {
    let log = Log::default();
    let base = serve(Router::new().route("/h", post(incoming)).with_state(log.clone())).await;
    let config = ChannelConfig::from_json(&format!(r#"{{"type":"slack","url":"{base}/h"}}"#)).unwrap();
    Channel::build(&config).unwrap().send(&opened(now_ms()), now_ms()).await.unwrap();
    let v = log.lock().unwrap()[0].clone();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["text"]);
}
