//! Fixtures and small receivers shared by the channel tests.

use std::sync::{Arc, Mutex};

use axum::Router;
use nines_core::clock::{Clock, Millis};
use nines_core::{Criticality, Status};
use nines_notify::event::{Downtime, Event, ServiceRef, Severity};
use nines_notify::{Attempt, Message};

pub const BASE: &str = "https://nines.example";

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    }
}

pub fn now_ms() -> Millis {
    SystemClock.now_ms()
}

pub fn service(id: &str, name: &str, status: Status) -> ServiceRef {
    ServiceRef {
        id: id.into(),
        name: name.into(),
        node_id: "acme/platform/prod/c1".into(),
        status,
        criticality: Criticality::Critical,
        tags: vec!["api".into()],
        url: None,
        reason: None,
    }
}

pub fn downtime(started_at: Millis) -> Downtime {
    Downtime {
        id: "42".into(),
        title: "API outage".into(),
        severity: Severity::Critical,
        classification: Some("unplanned".into()),
        organization: "acme".into(),
        services: vec![service("7", "api-gateway", Status::Down), service("8", "auth", Status::Degraded)],
        started_at,
        resolved_at: None,
        duration_ms: None,
        counts_towards_sla: true,
        excluded_reason: None,
        url: None,
        severity_label: None,
    }
}

pub fn opened(started_at: Millis) -> Message {
    Message::new("msg-1", Event::DowntimeOpened(downtime(started_at)), BASE).unwrap()
}

/// Serve `router` on 127.0.0.1:0; the base URL it listens on.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

pub type Log<T> = Arc<Mutex<Vec<T>>>;

pub fn statuses(attempts: &[Attempt]) -> Vec<Option<u16>> {
    attempts.iter().map(|a| a.status_code).collect()
}
