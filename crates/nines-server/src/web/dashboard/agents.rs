//! The agents page: every remote agent of the caller's organization (all of
//! them for a key of every organization), silent ones first, from the same
//! handler as `GET /api/v1/agents`.

use axum::extract::State;
use std::fmt::Write;
use std::time::Instant;

use super::widgets::{duration, label, time};
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::api::checks as checks_api;
use crate::web::html::esc;

pub async fn agents(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let mut items = super::every("", |q| checks_api::list_agents(State(s.clone()), ui.caller.clone(), q)).await?;
    // silent first, then by location
    items.sort_by(|a, b| {
        (a.state != "silent", &a.location, &a.organization).cmp(&(b.state != "silent", &b.location, &b.organization))
    });
    let silent = items.iter().filter(|a| a.state == "silent").count();
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>Agents</h1><p>{} agent{}, {} silent. An agent is silent when nothing came from it for three intervals of its slowest check (at least a minute); its checks are then UNKNOWN at its location until its results arrive again.</p>"#,
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        silent
    );
    if items.is_empty() {
        b.push_str(r#"<p class="empty">No agents yet. Run <code>nines agent --location NAME</code> with an agent key; checks that list the location run there.</p>"#);
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Location</th><th scope="col">Organization</th><th scope="col">State</th><th scope="col">Version</th><th scope="col">Last seen</th><th scope="col">Checks</th><th scope="col">Buffered results</th><th scope="col">Silent after</th></tr></thead><tbody>"#);
        for a in &items {
            let state = if a.state == "silent" { label("bad", "✖", "Silent") } else { label("ok", "✔", "Online") };
            let _ = write!(
                b,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(&a.location),
                esc(&a.organization),
                state,
                esc(a.version.as_deref().unwrap_or("—")),
                time(&a.last_seen),
                a.checks_assigned,
                a.results_buffered,
                duration(a.silent_after_seconds as f64)
            );
        }
        b.push_str("</tbody></table>");
    }
    let head = Head { title: "Agents", nav: Nav::Agents, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}
