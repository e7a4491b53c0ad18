//! Live updates: `/ui/events`, server-sent events.
//!
//! Each page that shows statuses carries the transition cursor it was
//! rendered at. The stream looks for transitions after it every second (one
//! indexed query); when some belong to the caller's organization, and every
//! 15 s regardless (maintenance windows start and end without a transition,
//! and concurrent writers may commit ids out of order), it rebuilds the
//! hierarchy exactly as the page did (`list_services`, the maintenance
//! overlay, `build_tree`) and sends the service labels and node counts that
//! changed, rendered by the same functions as the page. The script swaps them
//! in; nothing is computed in the browser.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use nines_core::Status;
use nines_core::wire::{HierarchyNode, StatusCounts};
use nines_store::ServiceFilter;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

use super::UiCaller;
use super::widgets::{counts, status_label};
use crate::AppState;
use crate::api::read;
use crate::auth::Caller;

const TICK: Duration = Duration::from_secs(1);
const FULL_EVERY_TICKS: u32 = 15;

#[derive(Deserialize, Default)]
struct AfterQuery {
    after: Option<i64>,
}

/// What a page shows that can change: each service's status (with its
/// name, for announcements) and each node's counts.
#[derive(Default, PartialEq)]
struct Snapshot {
    services: HashMap<i64, (Status, String)>,
    nodes: HashMap<String, StatusCounts>,
}

async fn snapshot(s: &AppState, c: &Caller) -> Result<Snapshot, crate::error::ApiError> {
    let filter = ServiceFilter { organization: c.scope.as_option().map(str::to_string), ..Default::default() };
    let mut recs = s.store.list_services(&filter).await?;
    read::overlay_maintenance(s, &mut recs).await?;
    let tree = read::build_tree(&recs);
    let mut snap = Snapshot::default();
    fn walk(n: &HierarchyNode, out: &mut HashMap<String, StatusCounts>) {
        out.insert(n.path.clone(), n.counts.clone());
        for c in &n.children {
            walk(c, out);
        }
    }
    for n in &tree {
        walk(n, &mut snap.nodes);
    }
    snap.services = recs.into_iter().map(|r| (r.view.id, (r.view.status, r.view.service))).collect();
    Ok(snap)
}

/// The changes from `old` to `new` as `{key, html, say}` items; `force`
/// lists services to send even if unchanged (changed since the page).
fn diff(old: &Snapshot, new: &Snapshot, force: &[i64], all_nodes: bool) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    for (id, (st, name)) in &new.services {
        let before = old.services.get(id).map(|x| x.0);
        if before != Some(*st) || force.contains(id) {
            let say = match before {
                Some(b) if b != *st => format!("{name} is now {}", st.as_str()),
                _ => String::new(),
            };
            items.push(json!({"key": format!("svc:{id}"), "html": status_label(*st), "say": say}));
        }
    }
    for (path, c) in &new.nodes {
        if all_nodes || old.nodes.get(path) != Some(c) {
            items.push(json!({"key": format!("node:{path}"), "html": counts(c)}));
        }
    }
    items
}

struct Rx(mpsc::Receiver<Event>);

impl Stream for Rx {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

pub async fn events(State(s): State<AppState>, ui: UiCaller, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q: AfterQuery = serde_urlencoded::from_str(&raw.unwrap_or_default()).unwrap_or_default();
    // a reconnecting EventSource says where it was
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let start = last.or(q.after);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(s, ui.caller, start, tx));
    Sse::new(Rx(rx)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

async fn run(s: AppState, caller: Caller, start: Option<i64>, tx: mpsc::Sender<Event>) {
    let send = async |tx: &mpsc::Sender<Event>, cursor: i64, items: Vec<serde_json::Value>| -> bool {
        let data = json!({"cursor": cursor, "items": items}).to_string();
        tx.send(Event::default().event("update").id(cursor.to_string()).data(data)).await.is_ok()
    };
    let Ok(latest) = s.store.latest_transition_id().await else { return };
    let mut cursor = start.unwrap_or(latest).min(latest);
    let mut snap = Snapshot::default();
    // the first round covers what changed between the page and this connection
    let mut first = true;
    let mut tick: u32 = 0;
    loop {
        if !s.ready.load(Ordering::SeqCst) || tx.is_closed() {
            return;
        }
        let fresh = match s.store.transitions_after(cursor, 1000).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: reading transitions failed");
                Vec::new()
            }
        };
        if let Some(last) = fresh.last() {
            cursor = last.id;
        }
        let mine: Vec<i64> = fresh
            .iter()
            .filter(|t| caller.scope.allows(&t.subject.organization))
            .map(|t| t.subject.service_id)
            .collect();
        if first || !mine.is_empty() || tick.is_multiple_of(FULL_EVERY_TICKS) {
            if let Ok(new) = snapshot(&s, &caller).await {
                // the first round sends what changed since the page, with every node's counts
                let items = if first {
                    if mine.is_empty() { Vec::new() } else { diff(&Snapshot::default(), &new, &mine, true) }
                } else {
                    diff(&snap, &new, &[], false)
                };
                snap = new;
                if (first || !items.is_empty()) && !send(&tx, cursor, items).await {
                    return;
                }
            }
            first = false;
        }
        tick = tick.wrapping_add(1);
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_sends_changed_labels_and_counts_only() {
        let mut a = Snapshot::default();
        a.services.insert(1, (Status::Operational, "db".into()));
        a.services.insert(2, (Status::Operational, "web".into()));
        a.nodes.insert("acme".into(), StatusCounts { operational: 2, total: 2, ..Default::default() });
        let mut b = Snapshot::default();
        b.services.insert(1, (Status::Down, "db".into()));
        b.services.insert(2, (Status::Operational, "web".into()));
        b.nodes.insert("acme".into(), StatusCounts { operational: 1, down: 1, total: 2, ..Default::default() });
        let items = diff(&a, &b, &[], false);
        assert_eq!(items.len(), 2, "{items:?}");
        let svc = items.iter().find(|i| i["key"] == "svc:1").unwrap();
        assert!(svc["html"].as_str().unwrap().contains("DOWN"));
        assert_eq!(svc["say"], "db is now DOWN");
        assert!(items.iter().any(|i| i["key"] == "node:acme" && i["html"].as_str().unwrap().contains("1 down")));
        assert!(diff(&b, &b, &[], false).is_empty());
    }
}
