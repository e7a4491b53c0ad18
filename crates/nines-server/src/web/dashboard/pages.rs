//! The dashboard's pages. Each one asks the JSON API's own handlers (or the
//! store and engine functions they use) for its data with the caller's key,
//! so scoping and figures are the API's, then writes HTML.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use nines_core::Status;
use nines_core::clock::rfc3339;
use nines_core::wire::{BackupState, HierarchyNode, ServiceView};
use nines_store::ServiceFilter;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Instant;

use super::chart::{RtPoint, response_time_chart_svg};
use super::widgets::{self, bytes, counts, duration, label, live_status, opt_time, percent, status_label, time};
use super::{Head, Nav, Page, UiCaller, UiError, forms, html, layout, same_origin, see_other};
use crate::AppState;
use crate::api::{checks as checks_api, downtimes as dt_api, maintenance as mw_api, read, slo as slo_api};
use crate::error::ApiError;
use crate::web::html::esc;

fn q(s: String) -> RawQuery {
    RawQuery(Some(s))
}

fn status_of(v: &Value) -> Status {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(Status::Unknown)
}

// ---------------------------------------------------------------- hierarchy

/// A dashboard-declared service's document as a form: its service fields
/// and its checks (JSON); sent as a JSON it-ops document (which is YAML
/// too), so it is kept and shown as that text afterwards. `None` for a
/// text holding several documents: that one is edited as text.
fn document_form(text: &str) -> Option<forms::Form> {
    use forms::{Field, Form, Kind};
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(text)
        .map(serde_yaml_ng::Value::deserialize)
        .collect::<Result<_, _>>()
        .ok()?;
    let [doc] = docs.as_slice() else { return None };
    let doc: Value = serde_json::to_value(doc).ok()?;
    // the form sends only these keys: a document with others is edited as text
    let known = |v: &Value, keys: &[&str]| v.as_object().is_none_or(|o| o.keys().all(|k| keys.contains(&k.as_str())));
    if !known(&doc, &["version", "hierarchy", "service", "checks"])
        || !known(doc.get("hierarchy").unwrap_or(&Value::Null), &["organization", "platform", "environment", "cluster"])
        || !known(
            doc.get("service").unwrap_or(&Value::Null),
            &["name", "displayName", "criticality", "tags", "slaGroup"],
        )
    {
        return None;
    }
    let st = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let tags: Vec<String> = doc
        .pointer("/service/tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let checks = doc.get("checks").cloned().unwrap_or(Value::Array(Vec::new()));
    let crit = {
        let c = st("/service/criticality");
        if c.is_empty() { "medium".to_string() } else { c }
    };
    let mut f = Form::new("service-fields", "POST", "/api/v1/services/apply?source=ui", "Apply the changes")
        .title("The service's fields")
        .field(Field::new("version", "Document version", Kind::Text).value(if st("/version").is_empty() {
            "1".into()
        } else {
            st("/version")
        }));
    for (k, label) in [
        ("organization", "Organization"),
        ("platform", "Platform"),
        ("environment", "Environment"),
        ("cluster", "Cluster"),
    ] {
        f = f.field(
            Field::new(&format!("hierarchy.{k}"), label, Kind::Text).value(st(&format!("/hierarchy/{k}"))).required(),
        );
    }
    Some(
        f.field(Field::new("service.name", "Name", Kind::Text).value(st("/service/name")).required())
            .field(Field::new("service.displayName", "Display name", Kind::Text).value(st("/service/displayName")))
            .field(
                Field::new("service.criticality", "Criticality", Kind::Select)
                    .options(&[("critical", "critical"), ("high", "high"), ("medium", "medium"), ("low", "low")])
                    .value(crit),
            )
            .field(Field::new("service.tags", "Tags", Kind::Csv).value(tags.join(", ")).hint("Comma-separated"))
            .field(Field::new("service.slaGroup", "SLA group", Kind::Text).value(st("/service/slaGroup")))
            .field(
                Field::new("checks", "Checks (JSON list)", Kind::Json)
                    .value(serde_json::to_string_pretty(&checks).unwrap_or_else(|_| "[]".into()))
                    .hint("As in the it-ops reference: type, name, url or host, intervalSeconds, …"),
            ),
    )
}

/// The it-ops document a new service starts from in the dashboard.
fn new_document(org: &str) -> String {
    format!(
        "version: \"1\"\nhierarchy:\n  organization: {org}\n  platform: web\n  environment: prod\n  cluster: main\nservice:\n  name: shop\n  displayName: Web shop\n  criticality: high\n  tags: [frontend]\nchecks:\n  - type: http\n    name: home\n    url: https://shop.example.com/\n    intervalSeconds: 60\n"
    )
}

/// A service declared in the dashboard: an it-ops document like any other,
/// with source `ui` (documents from files and the operator stay theirs).
pub async fn new_service(State(_s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let org = ui.caller.scope.as_option().unwrap_or("acme");
    let mut b = String::from(
        r#"<p class="crumbs"><a href="/ui">Hierarchy</a> › new service</p><h1>New service</h1><p class="hint">A service is an it-ops document: the same fields as in <code>it-ops.yaml</code> (see the it-ops reference). Services declared here have the source <code>ui</code>; a document applied from files or by the operator for the same service takes it over, and the dashboard does not take theirs.</p>"#,
    );
    let f = forms::Form::new("new-service", "POST", "/api/v1/services/apply?source=ui", "Create the service")
        .raw("document", "application/yaml")
        .next("/ui/services/{id}")
        .field(
            forms::Field::new("document", "it-ops document (YAML)", forms::Kind::Area)
                .value(new_document(org))
                .required(),
        );
    b.push_str(&f.render());
    let head = Head { title: "New service", nav: Nav::Tree, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

/// What a service's page lets its caller change: the SLO settings (admin),
/// the public status page flag (operator and admin), and, for a service
/// declared in the dashboard, its document and its deletion.
async fn service_forms(
    b: &mut String,
    s: &AppState,
    ui: &UiCaller,
    v: &ServiceView,
    slo: &crate::slo::SloReport,
) -> Result<(), UiError> {
    use forms::{Field, Form, Kind};
    let role = ui.caller.role;
    let admin = role == nines_core::Role::Admin;
    let operator = admin || role == nines_core::Role::Operator;
    if !operator {
        return Ok(());
    }
    b.push_str(r#"<section aria-labelledby="manage-h"><h2 id="manage-h">Manage</h2>"#);
    if admin {
        // the service's own settings (empty where it follows the defaults);
        // the PUT replaces them all, so every one is filled in
        let own = s.store.slo_subject(v.id).await?;
        let own_f = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
        let classes = [("", "the default"), ("good", "good"), ("bad", "bad"), ("excluded", "excluded")];
        let f = Form::new("slo-settings", "PUT", format!("/api/v1/services/{}/slo", v.id), "Save the SLO settings")
            .title("SLO and SLA")
            .field(
                Field::new("sloTarget", "SLO target (%)", Kind::Number)
                    .value(own_f(own.as_ref().and_then(|o| o.slo_target)))
                    .hint(format!("Empty: the default, now {} %; never below the SLA target", slo.slo_target)),
            )
            .field(
                Field::new("slaTarget", "SLA target (%)", Kind::Number)
                    .value(own_f(own.as_ref().and_then(|o| o.sla_target)))
                    .hint(format!("Empty: the criticality tier's uptime target, now {} %", slo.sla_target)),
            )
            .field(
                Field::new("windowDays", "Window (days)", Kind::Number)
                    .value(own.as_ref().and_then(|o| o.window_days).map(|d| d.to_string()).unwrap_or_default())
                    .hint("Empty: DEFAULT_SLO_WINDOW_DAYS"),
            )
            .field(
                Field::new("degradedCountsAs", "DEGRADED time counts as", Kind::Select)
                    .options(&classes)
                    .value(own.as_ref().and_then(|o| o.degraded_counts.clone()).unwrap_or_default()),
            )
            .field(
                Field::new("unknownCountsAs", "UNKNOWN time counts as", Kind::Select)
                    .options(&classes)
                    .value(own.as_ref().and_then(|o| o.unknown_counts.clone()).unwrap_or_default()),
            );
        b.push_str(&f.render());
    }
    // what it shows now, so saving one field does not undo the others
    let org_query = format!("organization={}", super::cookie::url_encode(&v.organization));
    let flagged =
        super::every(&org_query, |q| crate::web::public::admin::list_groups(State(s.clone()), ui.caller.clone(), q))
            .await?
            .into_iter()
            .flat_map(|g| g.public_services)
            .find(|p| p.service_id == v.id);
    let f = Form::new("public", "PUT", format!("/api/v1/services/{}/public", v.id), "Save")
        .title("Public status page")
        .field(Field::new("public", "Show on the public status page", Kind::Bool).value(if flagged.is_some() {
            "true"
        } else {
            "false"
        }))
        .field(
            Field::new("displayName", "Name shown", Kind::Text)
                .value(
                    flagged
                        .as_ref()
                        .map(|p| p.display_name.clone())
                        .unwrap_or_else(|| v.display_name.clone().unwrap_or_default()),
                )
                .hint("Empty: the service's display name"),
        )
        .field(
            Field::new("description", "Description shown", Kind::Text)
                .value(flagged.as_ref().and_then(|p| p.description.clone()).unwrap_or_default()),
        );
    b.push_str(&f.render());
    match v.source.as_str() {
        "ui" => {
            let doc = s.store.ui_document(v.id).await?.unwrap_or_default();
            // the same document as fields, when it is one document
            if let Some(f) = document_form(&doc) {
                b.push_str(&f.render());
            }
            let f = forms::Form::new("edit-service", "POST", "/api/v1/services/apply?source=ui", "Apply the document")
                .title("The service's it-ops document")
                .raw("document", "application/yaml")
                .field(
                    forms::Field::new("document", "it-ops document (YAML)", forms::Kind::Area).value(doc).required(),
                );
            b.push_str(&f.render());
            let path = format!(
                "/api/v1/services?nodeId={}&service={}",
                super::cookie::url_encode(&v.node_id),
                super::cookie::url_encode(&v.service)
            );
            b.push_str(
                &forms::Form::new("delete-service", "DELETE", path, "Delete the service")
                    .confirm("Delete this service and its history? This cannot be undone.")
                    .next("/ui")
                    .danger()
                    .render(),
            );
            b.push_str(r#"<p class="hint">Declared in the dashboard (source <strong>ui</strong>).</p></section>"#);
        }
        "config" | "operator" => {
            let _ = write!(
                b,
                r#"<p class="hint ro">Declared in it-ops documents (source <strong>{}</strong>: {}). Its definition changes where it is declared; the settings above stay beside it.</p></section>"#,
                esc(&v.source),
                if v.source == "operator" {
                    "the operator's it-ops ConfigMaps"
                } else {
                    "files applied with <code>nines apply</code>"
                }
            );
        }
        other => {
            let _ = write!(
                b,
                r#"<p class="hint">Source of this service: <strong>{}</strong> (created by its reports).</p></section>"#,
                esc(other)
            );
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TreeQuery {
    /// Words to find in a service's name, display name, node or tags.
    q: Option<String>,
    /// `1`: only services that are not OPERATIONAL.
    problems: Option<String>,
    /// `name` (default), `node`, `status` (worst first) or `message`.
    sort: Option<String>,
}

pub async fn tree(State(s): State<AppState>, ui: UiCaller, RawQuery(raw): RawQuery) -> Page {
    let t0 = Instant::now();
    let tq: TreeQuery = crate::extract::parse_query(raw)?;
    // the cursor first: a change after it reaches the page live
    let cursor = s.store.latest_transition_id().await?;
    let filter = ServiceFilter { organization: ui.caller.scope.as_option().map(str::to_string), ..Default::default() };
    let mut recs = s.store.list_services(&filter).await?;
    read::overlay_maintenance(&s, &mut recs).await?;
    let words: Vec<String> = tq.q.as_deref().unwrap_or_default().split_whitespace().map(|w| w.to_lowercase()).collect();
    let problems = tq.problems.as_deref() == Some("1");
    let mut b = String::with_capacity(256 * recs.len() + 4096);
    b.push_str(r#"<h1>Hierarchy</h1>"#);
    search_form(&mut b, tq.q.as_deref().unwrap_or_default(), problems);
    if !words.is_empty() || problems {
        // a list of what matched, with its last message and its last 24 hours
        let hits: Vec<&ServiceView> = recs
            .iter()
            .map(|r| &r.view)
            .filter(|v| !problems || v.status != Status::Operational)
            .filter(|v| {
                let hay = format!(
                    "{} {} {} {}",
                    v.service,
                    v.display_name.as_deref().unwrap_or_default(),
                    v.node_id,
                    v.tags.join(" ")
                )
                .to_lowercase();
                words.iter().all(|w| hay.contains(w.as_str()))
            })
            .collect();
        service_list(&mut b, &s, hits, tq.sort.as_deref().unwrap_or("name"), tq.q.as_deref(), problems).await?;
        let head = Head { title: "Hierarchy", nav: Nav::Tree, caller: Some(&ui), live_after: Some(cursor) };
        return Ok(html(layout(&head, &b), t0));
    }
    let tree = read::build_tree(&recs);
    let views: HashMap<i64, &ServiceView> = recs.iter().map(|r| (r.view.id, &r.view)).collect();
    b.push_str(r#"<p class="hint">Organization, platform, environment, cluster, service. Levels holding a service that is not OPERATIONAL are open; open any other with Enter or Space. Services pushed without a nodeId sit under the red <strong>unknown</strong> node.</p>"#);
    if tree.is_empty() {
        b.push_str(r#"<p class="empty">No services yet. Register some with <code>nines apply</code> or push a health report.</p>"#);
    } else {
        b.push_str(r#"<div class="toolbar"><button type="button" data-tree="open">Expand all</button> <button type="button" data-tree="close">Collapse all</button>"#);
        if matches!(ui.caller.role, nines_core::Role::Operator | nines_core::Role::Admin) {
            b.push_str(r#" <a href="/ui/services/new">New service</a>"#);
        }
        b.push_str(r#"</div><ul class="tree" aria-label="Hierarchy">"#);
        for org in &tree {
            node(&mut b, org, &views);
        }
        b.push_str("</ul>");
    }
    let head = Head { title: "Hierarchy", nav: Nav::Tree, caller: Some(&ui), live_after: Some(cursor) };
    Ok(html(layout(&head, &b), t0))
}

fn search_form(b: &mut String, q: &str, problems: bool) {
    let _ = write!(
        b,
        r#"<form class="search" method="get" action="/ui" role="search"><label for="q">Find services and nodes</label> <input id="q" name="q" type="search" value="{}" placeholder="name, node path or tag"> <label class="inline"><input type="checkbox" name="problems" value="1"{}> problems only</label> <button type="submit">Find</button>{}</form>"#,
        esc(q),
        if problems { " checked" } else { "" },
        if !q.is_empty() || problems { r#" <a href="/ui">show the whole tree</a>"# } else { "" }
    );
}

async fn service_list(
    b: &mut String,
    s: &AppState,
    mut hits: Vec<&ServiceView>,
    sort: &str,
    q: Option<&str>,
    problems: bool,
) -> Result<(), UiError> {
    match sort {
        "node" => hits.sort_by(|a, c| (&a.node_id, &a.service).cmp(&(&c.node_id, &c.service))),
        "status" => hits.sort_by(|a, c| {
            (std::cmp::Reverse(a.status.severity()), &a.service)
                .cmp(&(std::cmp::Reverse(c.status.severity()), &c.service))
        }),
        "message" => hits.sort_by(|a, c| (&a.message, &a.service).cmp(&(&c.message, &c.service))),
        _ => hits.sort_by(|a, c| (&a.service, &a.node_id).cmp(&(&c.service, &c.node_id))),
    }
    let _ =
        write!(b, r#"<p role="status">{} service{} found.</p>"#, hits.len(), if hits.len() == 1 { "" } else { "s" });
    if hits.is_empty() {
        return Ok(());
    }
    let now = s.clock.now_ms();
    let from = now - 86_400_000;
    let ids: Vec<i64> = hits.iter().map(|v| v.id).collect();
    let mut tls = s.store.timelines(&ids, from, now).await?;
    let link = |key: &str| {
        let mut qs = format!("sort={key}");
        if let Some(q) = q.filter(|q| !q.is_empty()) {
            qs.push_str(&format!("&q={}", super::cookie::url_encode(q)));
        }
        if problems {
            qs.push_str("&problems=1");
        }
        qs
    };
    b.push_str(r#"<div class="table-wrap"><table class="sortable"><caption>Matching services; choose a column heading to sort</caption><thead><tr>"#);
    for (key, title) in [("name", "Service"), ("node", "Node"), ("status", "Status"), ("message", "Last message")] {
        if key == sort {
            let _ = write!(
                b,
                r#"<th scope="col" aria-sort="ascending"><a href="/ui?{}" aria-current="true">{title} ▲</a></th>"#,
                esc(&link(key))
            );
        } else {
            let _ = write!(b, r#"<th scope="col" aria-sort="none"><a href="/ui?{}">{title}</a></th>"#, esc(&link(key)));
        }
    }
    b.push_str(r#"<th scope="col">Last 24 hours</th></tr></thead><tbody>"#);
    for v in hits {
        let changes = tls.remove(&v.id).unwrap_or_default();
        let _ = write!(
            b,
            r#"<tr><td><a href="/ui/services/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            v.id,
            esc(v.display_name.as_deref().unwrap_or(&v.service)),
            esc(&v.node_id),
            live_status(v.id, v.status),
            esc(v.message.as_deref().unwrap_or("—")),
            day_bar(
                &changes,
                v.status,
                nines_core::clock::parse_rfc3339(&v.created_at).unwrap_or(from).max(from),
                from,
                now
            )
        );
    }
    b.push_str("</tbody></table></div>");
    Ok(())
}

/// The last 24 hours as a bar: each stretch of one status in its colour,
/// with the statuses named for screen readers. Time before the service
/// existed (`since`) is left blank.
fn day_bar(
    changes: &[(nines_core::timeline::Transition, Option<String>)],
    now_status: Status,
    since: i64,
    from: i64,
    to: i64,
) -> String {
    let mut stretches: Vec<(i64, i64, Status)> = Vec::new();
    let mut cur = changes.iter().find(|(t, _)| t.at > since).map(|(t, _)| t.from).unwrap_or(now_status);
    let mut at = since;
    for (t, _) in changes {
        let t_at = t.at.clamp(since, to);
        if t_at > at {
            stretches.push((at, t_at, cur));
        }
        cur = t.to;
        at = t_at;
    }
    if to > at {
        stretches.push((at, to, cur));
    }
    let span = (to - from).max(1) as f64;
    let mut svg =
        String::from(r#"<svg class="daybar" width="120" height="12" viewBox="0 0 120 12" role="img" aria-label=""#);
    let mut said: Vec<String> = Vec::new();
    for (a, z, st) in &stretches {
        let share = (z - a) as f64 / span * 100.0;
        said.push(format!("{} {:.0} %", st.as_str(), share));
    }
    if since > from {
        said.push(format!("not yet created {:.0} %", (since - from) as f64 / span * 100.0));
    }
    let _ = write!(svg, "Last 24 hours: {}\">", esc(&said.join(", ")));
    for (a, z, st) in &stretches {
        let x = (a - from) as f64 / span * 120.0;
        let w = ((z - a) as f64 / span * 120.0).max(0.5);
        let fill = match st {
            Status::Operational => "#2e7d32",
            Status::Degraded => "#f9a825",
            Status::Down => "#c62828",
            Status::Maintenance => "#1565c0",
            Status::Unknown => "#9e9e9e",
        };
        let _ = write!(svg, r#"<rect x="{x:.2}" y="0" width="{w:.2}" height="12" fill="{fill}"/>"#);
    }
    svg.push_str("</svg>");
    svg
}

fn node(b: &mut String, n: &HierarchyNode, views: &HashMap<i64, &ServiceView>) {
    let c = &n.counts;
    let trouble = c.down + c.degraded + c.unknown > 0;
    let open = if n.level == "organization" || trouble { " open" } else { "" };
    let _ = write!(
        b,
        r#"<li class="node"><details data-path="{p}"{open}><summary><span class="level">{lvl}</span> <span class="name">{name}</span>"#,
        p = esc(&n.path),
        lvl = esc(&n.level),
        name = esc(&n.name),
    );
    if n.level == "organization" && !n.flagged {
        let _ = write!(
            b,
            r#" <a class="org-link" href="/ui/organizations/{}">SLA and accounting</a>"#,
            super::cookie::url_encode(&n.name)
        );
    }
    if n.flagged {
        b.push_str(&label("unknown", "⚠", "missing nodeId: fix the push source"));
    }
    let _ = write!(
        b,
        r#" <span class="counts" data-live="node:{}">{}</span></summary><ul>"#,
        esc(&n.path),
        counts(&n.counts)
    );
    for c in &n.children {
        node(b, c, views);
    }
    for sref in &n.services {
        let (st, shown) = match views.get(&sref.id) {
            Some(v) => (v.status, v.display_name.as_deref().unwrap_or(&v.service)),
            None => (Status::Unknown, sref.service.as_str()),
        };
        let _ = write!(
            b,
            r#"<li class="svc"><a href="/ui/services/{id}">{name}</a> {st}</li>"#,
            id = sref.id,
            name = esc(shown),
            st = live_status(sref.id, st)
        );
    }
    b.push_str("</ul></details></li>");
}

// ---------------------------------------------------------------- service

pub async fn service(State(s): State<AppState>, ui: UiCaller, Path(id): Path<String>) -> Page {
    let t0 = Instant::now();
    let c = &ui.caller;
    let cursor = s.store.latest_transition_id().await?;
    let now = s.clock.now_ms();
    let from = rfc3339(now - 30 * 86_400_000);
    let d = read::get_service(State(s.clone()), c.clone(), Path(id.clone()), q(format!("from={from}"))).await?.0;
    let slo = slo_api::service_slo(State(s.clone()), c.clone(), Path(id.clone()), RawQuery(None)).await?.0;
    let daily = slo_api::service_daily(State(s.clone()), c.clone(), Path(id.clone()), q("days=30".into())).await?.0;
    let service_query = format!("serviceId={}", d.service.id);
    let checks = super::every(&service_query, |q| checks_api::list(State(s.clone()), c.clone(), q)).await?;
    let v = &d.service;
    let mut b = String::with_capacity(32 * 1024);
    let _ = write!(
        b,
        r#"<p class="crumbs"><a href="/ui">Hierarchy</a> › {}</p><h1>{} {}</h1>"#,
        esc(&v.node_id),
        esc(v.display_name.as_deref().unwrap_or(&v.service)),
        live_status(v.id, v.status)
    );
    if let Some(m) = &v.message {
        let _ = write!(b, r#"<p class="message">{}</p>"#, esc(m));
    }
    // the open downtime it is part of, if any
    for dt in s.store.list_downtimes(Some(&v.organization), Some(true)).await? {
        if let Some((_, members, _)) = s.store.get_downtime(dt.id).await?
            && members.iter().any(|m| m.service_id == v.id)
        {
            let _ = write!(
                b,
                r#"<p class="error" role="status">{} Part of the open downtime <a href="/ui/downtimes/{}">{}</a>.</p>"#,
                label("bad", "✖", "downtime"),
                dt.id,
                esc(&dt.title)
            );
        }
    }
    b.push_str(r#"<div class="grid"><section class="box" aria-labelledby="facts-h"><h2 id="facts-h">Service</h2><dl class="facts">"#);
    let tags = if v.tags.is_empty() {
        "—".to_string()
    } else {
        v.tags.iter().map(|t| esc(t).to_string()).collect::<Vec<_>>().join(", ")
    };
    for (k, val) in [
        ("Name", esc(&v.service).to_string()),
        ("Organization", esc(&v.organization).to_string()),
        (
            "Node",
            if v.node_flagged {
                format!("{} {}", esc(&v.node_id), label("unknown", "⚠", "missing nodeId"))
            } else {
                esc(&v.node_id).to_string()
            },
        ),
        ("Kind", esc(&v.kind).to_string()),
        ("Criticality", format!("{} (tier-{})", v.criticality.as_str(), v.tier)),
        ("SLA group", esc(v.sla_group.as_deref().unwrap_or("—")).to_string()),
        ("Tags", tags),
        ("Source", esc(&v.source).to_string()),
        ("Last report", opt_time(v.last_seen.as_deref())),
    ] {
        let _ = write!(b, "<dt>{k}</dt><dd>{val}</dd>");
    }
    b.push_str("</dl></section>");
    slo_box(&mut b, &slo);
    b.push_str("</div>");

    let series: Vec<(String, Option<f64>)> = daily.days.iter().map(|p| (p.day.clone(), p.availability)).collect();
    b.push_str(r#"<section aria-labelledby="daily-h"><h2 id="daily-h">Daily availability, last 30 days</h2><figure class="chart">"#);
    b.push_str(&nines_report::availability_chart_svg(&series, slo.sla_target, 760, 220));
    b.push_str("</figure></section>");

    if d.backup.is_some() || d.storage.is_some() {
        b.push_str(r#"<div class="grid">"#);
        if let Some(bk) = &d.backup {
            b.push_str(r#"<section class="box" aria-labelledby="bk-h"><h2 id="bk-h">Backup</h2><dl class="facts">"#);
            let _ = write!(
                b,
                "<dt>State</dt><dd>{}</dd><dt>Last backup</dt><dd>{}</dd><dt>Last status</dt><dd>{}</dd><dt>Last success</dt><dd>{}</dd><dt>Max age</dt><dd>{} days</dd><dt>Schedule</dt><dd>{}</dd><dt>Size</dt><dd>{}</dd>",
                backup_label(bk.state),
                opt_time(bk.last_backup.as_deref()),
                esc(bk.last_status.as_deref().unwrap_or("—")),
                opt_time(bk.last_success.as_deref()),
                bk.max_age_days,
                esc(bk.schedule.as_deref().unwrap_or("—")),
                bk.size_bytes.map(bytes).unwrap_or_else(|| "—".into())
            );
            b.push_str("</dl></section>");
        }
        if let Some(st) = &d.storage {
            b.push_str(r#"<section class="box" aria-labelledby="st-h"><h2 id="st-h">Storage</h2><dl class="facts">"#);
            let _ = write!(
                b,
                "<dt>Free</dt><dd>{} {}</dd><dt>Used</dt><dd>{} of {}</dd><dt>Type</dt><dd>{}</dd><dt>Mount</dt><dd>{}</dd><dt>Reported</dt><dd>{}</dd><dt>Used by</dt><dd>{}</dd>",
                widgets::free_percent(st.free_percent),
                widgets::storage_label(st.level),
                st.used_bytes.map(bytes).unwrap_or_else(|| "—".into()),
                st.allocated_bytes.map(bytes).unwrap_or_else(|| "—".into()),
                esc(st.storage_type.as_deref().unwrap_or("—")),
                esc(st.mount_path.as_deref().unwrap_or("—")),
                opt_time(st.reported_at.as_deref()),
                linked(&st.used_by, &HashMap::new())
            );
            b.push_str("</dl></section>");
        }
        b.push_str("</div>");
    }

    b.push_str(r#"<section aria-labelledby="checks-h"><h2 id="checks-h">Checks</h2>"#);
    if checks.is_empty() {
        b.push_str(r#"<p class="empty">No checks: this service's status comes from pushes or the operator.</p>"#);
    }
    for chk in &checks {
        let det = checks_api::detail(State(s.clone()), c.clone(), Path(chk.id.clone())).await?.0;
        check_section(&mut b, &det);
    }
    b.push_str("</section>");

    let _ = write!(
        b,
        r#"<section aria-labelledby="tl-h"><h2 id="tl-h">Status timeline</h2><p>{} changes in the last 30 days{}.</p>"#,
        d.timeline.len(),
        if d.timeline.len() > 50 { "; the latest 50" } else { "" }
    );
    if !d.timeline.is_empty() {
        b.push_str(r#"<table><thead><tr><th scope="col">When</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Cause</th><th scope="col">Reason</th></tr></thead><tbody>"#);
        for t in d.timeline.iter().rev().take(50) {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                time(&t.at),
                status_label(t.from),
                status_label(t.to),
                esc(&t.cause),
                esc(t.reason.as_deref().unwrap_or("—"))
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");
    service_forms(&mut b, &s, &ui, v, &slo).await?;
    let title = v.service.clone();
    let head = Head { title: &title, nav: Nav::Tree, caller: Some(&ui), live_after: Some(cursor) };
    Ok(html(layout(&head, &b), t0))
}

fn budget_label(state: &str) -> String {
    match state {
        "ok" => label("ok", "✔", "budget ok"),
        "warning" => label("warn", "▲", "budget warning"),
        "critical" => label("bad", "✖", "budget critical"),
        "insufficient_data" => label("muted", "…", "collecting data"),
        _ => label("bad", "✖", "budget exhausted"),
    }
}

fn condition_labels(conds: &[nines_core::slo::Condition]) -> String {
    if conds.is_empty() {
        return label("ok", "✔", "no condition");
    }
    conds
        .iter()
        .map(|c| {
            let name = serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            if name == "SLO_WARNING" { label("warn", "▲", &name) } else { label("bad", "✖", &name) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error budget in words that hold at any magnitude: too little history
/// says how much there is, an exhausted budget says by how many times.
fn budget_words(bud: &nines_core::slo::ErrorBudget, counted_seconds: f64) -> String {
    use nines_core::slo::BudgetState;
    match bud.state {
        BudgetState::InsufficientData => {
            format!("not enough history yet ({} counted)", duration(counted_seconds))
        }
        BudgetState::Exhausted => match bud.overspent_times {
            Some(x) => format!("exhausted: {x:.1}× the budget of {} used", duration(bud.total_seconds)),
            None => "exhausted".into(),
        },
        _ => format!(
            "{} left of {} ({:.1} % used)",
            duration(bud.remaining_seconds),
            duration(bud.total_seconds),
            bud.consumed_percent
        ),
    }
}

/// The SLO/SLA box of a service (release notes: "SLO/SLA Status Box").
fn slo_box(b: &mut String, r: &crate::slo::SloReport) {
    let bud = &r.error_budget.budget;
    let state = serde_json::to_value(bud.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let _ = write!(
        b,
        r#"<section class="box slo" aria-labelledby="slo-h"><h2 id="slo-h">SLO / SLA</h2><p class="big">{} <span class="sub">availability, {}</span></p><dl class="facts"><dt>SLO target</dt><dd>{}</dd><dt>SLA target</dt><dd>{}</dd><dt>Error budget</dt><dd>{} {}</dd>"#,
        percent(r.availability),
        esc(&r.window.label),
        percent(Some(r.slo_target)),
        percent(Some(r.sla_target)),
        budget_words(bud, r.good_seconds + r.bad_seconds),
        budget_label(&state)
    );
    if let Some(tte) = r.error_budget.time_to_exhaustion_seconds {
        let _ = write!(b, "<dt>Budget gone in</dt><dd>{} at the last hour's rate</dd>", duration(tte));
    }
    // shortest window first, as the engine lists them
    let rates = serde_json::to_value(r.burn_rates).unwrap_or(Value::Null);
    let shown: Vec<String> = nines_core::slo::BURN_WINDOWS
        .iter()
        .filter_map(|(k, _)| rates[*k].as_f64().map(|x| format!("{k} {x:.2}×")))
        .collect();
    // a few minutes of history make multiples of a budget of milliseconds:
    // true, and no use to anyone until the history is there
    let young = bud.state == nines_core::slo::BudgetState::InsufficientData;
    let _ = write!(
        b,
        "<dt>Burn rate</dt><dd>{}{}</dd><dt>Conditions</dt><dd>{}</dd>",
        if young {
            "— (not enough history yet)".to_string()
        } else if shown.is_empty() {
            "—".to_string()
        } else {
            shown.join(", ")
        },
        if r.alerts.page {
            format!(" {}", label("bad", "✖", "page"))
        } else if r.alerts.ticket {
            format!(" {}", label("warn", "▲", "ticket"))
        } else {
            String::new()
        },
        condition_labels(&r.conditions)
    );
    if let Some(t) = &r.tier {
        let _ = write!(
            b,
            "<dt>Tier</dt><dd>tier-{} ({}): respond within {}, resolve within {}</dd>",
            t.tier,
            t.criticality.as_str(),
            duration(t.response_minutes as f64 * 60.0),
            duration(t.resolution_minutes as f64 * 60.0)
        );
    }
    b.push_str("</dl></section>");
}

fn check_section(b: &mut String, det: &checks_api::CheckDetail) {
    let c = &det.check;
    let _ = write!(b, r#"<article class="check"><h3>{} <span class="sub">{}</span></h3>"#, esc(&c.name), esc(&c.kind));
    if !c.states.is_empty() {
        b.push_str(r#"<table><thead><tr><th scope="col">Location</th><th scope="col">Status</th><th scope="col">Last run</th><th scope="col">Outcome</th><th scope="col">Message</th><th scope="col">Failures in a row</th></tr></thead><tbody>"#);
        for st in &c.states {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&st.location),
                status_label(st.status),
                time(&st.last_run),
                esc(&st.last_outcome),
                esc(&st.last_message),
                st.consecutive_failures
            );
        }
        b.push_str("</tbody></table>");
    }
    let points: Vec<RtPoint> = det
        .recent
        .iter()
        .rev()
        .map(|r| RtPoint {
            label: r.at.get(..19).unwrap_or(&r.at).replace('T', " "),
            total_ms: r.total_ms,
            first_byte_ms: r.first_byte_ms,
            up: r.outcome == "up",
        })
        .collect();
    b.push_str(r#"<figure class="chart">"#);
    b.push_str(&response_time_chart_svg(&points, 760, 200));
    b.push_str("</figure>");
    if !det.recent.is_empty() {
        b.push_str(r#"<details class="runs"><summary>Recent runs with timings per phase</summary><table><thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">HTTP</th><th scope="col">DNS ms</th><th scope="col">Connect ms</th><th scope="col">TLS ms</th><th scope="col">First byte ms</th><th scope="col">Total ms</th><th scope="col">Message</th></tr></thead><tbody>"#);
        let ms = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "—".into());
        for r in det.recent.iter().take(20) {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
                time(&r.at),
                outcome_label(&r.outcome),
                r.http_status.map(|h| h.to_string()).unwrap_or_else(|| "—".into()),
                ms(r.dns_ms),
                ms(r.connect_ms),
                ms(r.tls_ms),
                ms(r.first_byte_ms),
                r.total_ms,
                esc(&match &r.error {
                    Some(e) => format!("{e}: {}", r.message),
                    None => r.message.clone(),
                })
            );
        }
        b.push_str("</tbody></table></details>");
    }
    if det.failures.is_empty() {
        b.push_str(r#"<p class="hint">No failures recorded.</p>"#);
    } else {
        b.push_str(r#"<h4>Recent failures</h4><ul class="failures">"#);
        for f in &det.failures {
            let _ = write!(
                b,
                "<li>{} {} at {}: <span class=\"msg\">{}</span>{}{}</li>",
                time(&f.at),
                outcome_label(&f.outcome),
                esc(&f.location),
                esc(&match &f.error {
                    Some(e) => format!("{e}: {}", f.message),
                    None => f.message.clone(),
                }),
                f.http_status.map(|h| format!(" (HTTP {h})")).unwrap_or_default(),
                f.total_ms.map(|t| format!(", {t:.1} ms")).unwrap_or_default()
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</article>");
}

fn outcome_label(o: &str) -> String {
    match o {
        "up" => label("ok", "✔", "up"),
        "degraded" => label("warn", "▲", "degraded"),
        other => label("bad", "✖", other),
    }
}

fn backup_label(state: BackupState) -> String {
    match state {
        BackupState::Overdue => label("bad", "✖", "Stale (overdue)"),
        BackupState::Failed => label("bad", "✖", "Failed"),
        BackupState::Current => label("ok", "✔", "Current"),
        BackupState::NotRequired => label("muted", "–", "Not required"),
    }
}

/// Linked services: display name, linked to the service page when known.
fn linked(list: &[nines_core::wire::LinkedService], ids: &HashMap<String, i64>) -> String {
    if list.is_empty() {
        return "—".into();
    }
    list.iter()
        .map(|l| {
            let shown = l.display_name.as_deref().unwrap_or(&l.name);
            match ids.get(&l.name) {
                Some(id) => format!(r#"<a href="/ui/services/{id}">{}</a>"#, esc(shown)),
                None => esc(shown).to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------- backups, storage

pub async fn backups(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let mut items = super::every("", |q| read::backups(State(s.clone()), ui.caller.clone(), q)).await?;
    items.sort_by(|a, b| b.overdue.cmp(&a.overdue).then_with(|| a.service.cmp(&b.service)));
    let overdue = items.iter().filter(|i| i.overdue).count();
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>Backups</h1><p>{} services with backups, {} overdue. A backup is overdue (stale) when no successful backup arrived within its maximum age.</p>"#,
        items.len(),
        overdue
    );
    if items.is_empty() {
        b.push_str(r#"<p class="empty">No service expects backups. Set <code>operations.backup.expected: true</code> or push to <code>/api/v1/backup/report</code>.</p>"#);
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Service</th><th scope="col">Node</th><th scope="col">State</th><th scope="col">Last backup</th><th scope="col">Last status</th><th scope="col">Last success</th><th scope="col">Max age</th><th scope="col">Schedule</th><th scope="col">Size</th></tr></thead><tbody>"#);
        for i in &items {
            let _ = write!(
                b,
                r#"<tr><td><a href="/ui/services/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} d</td><td>{}</td><td>{}</td></tr>"#,
                i.id,
                esc(&i.service),
                esc(&i.node_id),
                backup_label(i.state),
                opt_time(i.last_backup.as_deref()),
                esc(i.last_status.as_deref().unwrap_or("—")),
                opt_time(i.last_success.as_deref()),
                i.max_age_days,
                esc(i.schedule.as_deref().unwrap_or("—")),
                i.size_bytes.map(bytes).unwrap_or_else(|| "—".into())
            );
        }
        b.push_str("</tbody></table>");
    }
    let head = Head { title: "Backups", nav: Nav::Backups, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

pub async fn storage(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let mut items = super::every("", |q| read::storage(State(s.clone()), ui.caller.clone(), q)).await?;
    // no figure first: it needs a look as much as a full disk
    let key = |f: Option<f64>| f.unwrap_or(-1.0);
    items.sort_by(|a, b| key(a.free_percent).total_cmp(&key(b.free_percent)).then_with(|| a.service.cmp(&b.service)));
    let filter = ServiceFilter { organization: ui.caller.scope.as_option().map(str::to_string), ..Default::default() };
    let ids: HashMap<String, i64> = if items.iter().any(|i| !i.used_by.is_empty()) {
        s.store.list_services(&filter).await?.into_iter().map(|r| (r.view.service, r.view.id)).collect()
    } else {
        HashMap::new()
    };
    let mut b =
        String::from(r#"<h1>Storage</h1><p>Disk usage of database, cache and storage services, fullest first.</p>"#);
    let _ = write!(
        b,
        r#"<table class="legend"><caption>Storage status levels</caption><thead><tr><th scope="col">Free space</th><th scope="col">Status</th><th scope="col">Colour</th></tr></thead><tbody><tr><td>&gt; 30 %</td><td>{}</td><td>Green</td></tr><tr><td>10–30 %</td><td>{}</td><td>Yellow</td></tr><tr><td>&lt; 10 %</td><td>{}</td><td>Red</td></tr></tbody></table>"#,
        widgets::storage_label(nines_core::StorageLevel::Healthy),
        widgets::storage_label(nines_core::StorageLevel::Warning),
        widgets::storage_label(nines_core::StorageLevel::Critical)
    );
    if items.is_empty() {
        b.push_str(r#"<p class="empty">No storage services. A service appears here with a storage tag (storage, s3, ebs, database, rds, elasticache, cache) or after a push to <code>/api/v1/storage/report</code>.</p>"#);
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Service</th><th scope="col">Node</th><th scope="col">Free</th><th scope="col">Status</th><th scope="col">Used</th><th scope="col">Allocated</th><th scope="col">Type</th><th scope="col">Mount</th><th scope="col">Reported</th><th scope="col">Linked services</th></tr></thead><tbody>"#);
        for i in &items {
            let _ = write!(
                b,
                r#"<tr><td><a href="/ui/services/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                i.id,
                esc(&i.service),
                esc(&i.node_id),
                widgets::free_percent(i.free_percent),
                widgets::storage_label(i.level),
                i.used_bytes.map(bytes).unwrap_or_else(|| "—".into()),
                i.allocated_bytes.map(bytes).unwrap_or_else(|| "—".into()),
                esc(i.storage_type.as_deref().unwrap_or("—")),
                esc(i.mount_path.as_deref().unwrap_or("—")),
                opt_time(i.reported_at.as_deref()),
                linked(&i.used_by, &ids)
            );
        }
        b.push_str("</tbody></table>");
    }
    let head = Head { title: "Storage", nav: Nav::Storage, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

// ---------------------------------------------------------------- SLO overview

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SortQuery {
    sort: Option<String>,
}

pub async fn slo(State(s): State<AppState>, ui: UiCaller, RawQuery(raw): RawQuery) -> Page {
    let t0 = Instant::now();
    let sq: SortQuery = crate::extract::parse_query(raw)?;
    let sort = sq.sort.unwrap_or_else(|| "budget".into());
    let ov =
        slo_api::overview(State(s.clone()), ui.caller.clone(), q(format!("sort={}", super::cookie::url_encode(&sort))))
            .await?
            .0;
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>SLO overview</h1><p>Window {} ({} to {}).</p><ul class="tiles"><li class="tile"><span class="big">{}</span> tracked</li><li class="tile"><span class="big">{}</span> {}</li><li class="tile"><span class="big">{}</span> {}</li></ul>"#,
        esc(&ov.window.label),
        time(&ov.window.from),
        time(&ov.window.to),
        ov.counts.tracked,
        ov.counts.at_risk,
        label("warn", "▲", "at risk"),
        ov.counts.breached,
        label("bad", "✖", "breached")
    );
    if ov.items.is_empty() {
        b.push_str(r#"<p class="empty">No services tracked yet.</p>"#);
    } else {
        b.push_str(
            r#"<table class="sortable"><caption>Services by SLO; choose a column heading to sort</caption><thead><tr>"#,
        );
        for (key, title) in [("name", "Service"), ("", "Node"), ("", "Criticality"), ("availability", "Availability")] {
            th_sort(&mut b, key, title, &sort);
        }
        b.push_str(r#"<th scope="col">SLO target</th><th scope="col">SLA target</th>"#);
        th_sort(&mut b, "budget", "Budget remaining", &sort);
        b.push_str(r#"<th scope="col">Budget used</th><th scope="col">Conditions</th></tr></thead><tbody>"#);
        for i in &ov.items {
            let _ = write!(
                b,
                r#"<tr><td><a href="/ui/services/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                i.id,
                esc(&i.service),
                esc(&i.node_id),
                i.criticality.as_str(),
                percent(i.availability),
                percent(Some(i.slo_target)),
                percent(Some(i.sla_target)),
                duration(i.budget_remaining_seconds),
                match (i.budget_state, i.budget_overspent_times) {
                    (nines_core::slo::BudgetState::InsufficientData, _) => "collecting data".into(),
                    (_, Some(x)) => format!("all ({x:.1}×)"),
                    _ => format!("{:.1} %", i.budget_consumed_percent),
                },
                condition_labels(&i.conditions)
            );
        }
        b.push_str("</tbody></table>");
    }
    organizations_table(&mut b, &s, &ui, &ov).await?;
    let head = Head { title: "SLO overview", nav: Nav::Slo, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

/// The organizations: their services' SLO counts and their 30-day log and
/// series accounting (the billable values).
async fn organizations_table(
    b: &mut String,
    s: &AppState,
    ui: &UiCaller,
    ov: &slo_api::Overview,
) -> Result<(), UiError> {
    let sums = crate::api::observability::summaries(s, &ui.caller).await?;
    if sums.items.is_empty() {
        return Ok(());
    }
    let mut per: HashMap<&str, (usize, usize, usize)> = HashMap::new();
    for i in &ov.items {
        let org = i.node_id.split('/').next().unwrap_or_default();
        let e = per.entry(org).or_default();
        if i.availability.is_some() {
            e.0 += 1;
        }
        if i.conditions
            .iter()
            .any(|c| matches!(c, nines_core::slo::Condition::SloBreach | nines_core::slo::Condition::SlaBreach))
        {
            e.2 += 1;
        } else if i.conditions.iter().any(|c| matches!(c, nines_core::slo::Condition::SloWarning)) {
            e.1 += 1;
        }
    }
    let gap = |v: Option<String>, on: bool| match (v, on) {
        (Some(x), _) => x,
        (None, true) => "no data".into(),
        (None, false) => "off".into(),
    };
    let (logs_on, series_on) = (sums.coverage.logs.is_some(), sums.coverage.metrics.is_some());
    b.push_str(r#"<h2 id="organizations">Organizations</h2><table><caption>Per organization: services tracked, at risk and breached in the window above; log lines, message bytes and average active series over the last 30 days</caption><thead><tr><th scope="col">Organization</th><th scope="col">Tracked</th><th scope="col">At risk</th><th scope="col">Breached</th><th scope="col">Log lines (30 d)</th><th scope="col">Log bytes (30 d)</th><th scope="col">Active series (30-day avg)</th><th scope="col">Active series now</th></tr></thead><tbody>"#);
    for o in &sums.items {
        let (t, r, br) = per.get(o.organization.as_str()).copied().unwrap_or_default();
        let _ = write!(
            b,
            r#"<tr><th scope="row"><a href="/ui/organizations/{}">{}</a></th><td>{t}</td><td>{r}</td><td>{br}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            super::cookie::url_encode(&o.organization),
            esc(&o.organization),
            gap(o.log_lines_30d.map(|n| n.to_string()), logs_on),
            gap(o.log_bytes_30d.map(|n| bytes(n.max(0) as u64)), logs_on),
            gap(o.avg_active_series_30d.map(|a| format!("{a:.1}")), series_on),
            gap(o.active_series_current.map(|n| n.to_string()), series_on),
        );
    }
    b.push_str("</tbody></table>");
    Ok(())
}

/// The fields of a maintenance window, filled from `w` when editing.
fn window_fields(
    f: forms::Form,
    w: Option<&nines_store::maintenance::MaintenanceRow>,
    org: Option<&str>,
) -> forms::Form {
    use forms::{Field, Kind};
    let v = |x: Option<String>| x.unwrap_or_default();
    let ids = w.map(|w| w.service_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "));
    let f = f
        .field(Field::new("title", "Title", Kind::Text).value(v(w.map(|w| w.title.clone()))).required())
        .field(Field::new("description", "Description", Kind::Area).value(v(w.and_then(|w| w.description.clone()))))
        .field(
            Field::new("publicTitle", "Public title", Kind::Text)
                .value(v(w.and_then(|w| w.public_title.clone())))
                .hint("What status pages show; without one they say \"Planned maintenance\""),
        )
        .field(
            Field::new("publicDescription", "Public description", Kind::Area)
                .value(v(w.and_then(|w| w.public_description.clone()))),
        )
        .field(
            Field::new("serviceIds", "Services (ids)", Kind::IntList)
                .value(v(ids))
                .hint("Comma-separated service ids, as in /ui/services/{id}"),
        )
        .field(
            Field::new("slaGroups", "SLA groups", Kind::Csv)
                .value(v(w.map(|w| w.sla_groups.join(", "))))
                .hint("Comma-separated names"),
        )
        .field(
            Field::new("nodeIds", "Nodes", Kind::Csv)
                .value(v(w.map(|w| w.node_ids.join(", "))))
                .hint("Hierarchy paths or prefixes, e.g. acme/platform/prod"),
        )
        .field(
            Field::new("startsAt", "Starts (one-off)", Kind::Text)
                .value(v(w.and_then(|w| w.starts_at).map(rfc3339)))
                .hint("RFC 3339, e.g. 2026-12-24T22:00:00Z"),
        )
        .field(Field::new("endsAt", "Ends (one-off)", Kind::Text).value(v(w.and_then(|w| w.ends_at).map(rfc3339))))
        .field(
            Field::new("cron", "Schedule (recurring)", Kind::Text)
                .value(v(w.and_then(|w| w.cron.clone())))
                .hint("cron: minute hour day month weekday, e.g. 0 2 * * 0 (Sundays 02:00)"),
        )
        .field(
            Field::new("durationMinutes", "Duration of each occurrence (minutes)", Kind::Number)
                .value(v(w.and_then(|w| w.duration_minutes).map(|d| d.to_string()))),
        )
        .field(
            Field::new("timeZone", "Time zone of the schedule", Kind::Text)
                .value(v(w.and_then(|w| w.time_zone.clone())))
                .hint("IANA name, e.g. Europe/Berlin; default UTC"),
        )
        .field(
            Field::new("countsTowardsSla", "Counts towards the SLA", Kind::Bool)
                .value(if w.is_some_and(|w| w.counts_towards_sla) { "true" } else { "false" }),
        );
    let o = Field::new("organization", "Organization", Kind::Text);
    f.field(match (w, org) {
        (Some(w), _) => o.value(&w.organization).hint("A window stays in its organization"),
        (None, Some(o2)) => o.value(o2).hint("This key's organization"),
        (None, None) => o.required().hint("This key spans every organization: name one"),
    })
}

fn maintenance_forms(b: &mut String, ui: &UiCaller, list: &[mw_api::MaintenanceView]) {
    b.push_str(r#"<h2 id="mw-new">Plan a window</h2>"#);
    let f = forms::Form::new("mw-new-form", "POST", "/api/v1/maintenance", "Create the window").also(
        "Preview the next occurrences",
        "POST",
        "/api/v1/maintenance/preview",
        "upcoming",
    );
    b.push_str(&window_fields(f, None, ui.caller.scope.as_option()).render());
    if list.is_empty() {
        return;
    }
    b.push_str(r#"<h2 id="mw-edit">Edit, end or delete</h2>"#);
    for m in list {
        let w = &m.window;
        let _ = write!(
            b,
            r#"<details class="box"><summary>{} <span class="sub">#{}</span></summary>"#,
            esc(&w.title),
            w.id
        );
        if m.active && w.cron.is_none() {
            b.push_str(
                &forms::Form::new(
                    &format!("mw-end-{}", w.id),
                    "POST",
                    format!("/api/v1/maintenance/{}/end", w.id),
                    "End now",
                )
                .confirm("End this window now? Its services return to their own status.")
                .inline()
                .render(),
            );
        }
        b.push_str(
            &forms::Form::new(&format!("mw-del-{}", w.id), "DELETE", format!("/api/v1/maintenance/{}", w.id), "Delete")
                .confirm("Delete this window? Its past occurrences no longer excuse anything from the SLA.")
                .danger()
                .inline()
                .render(),
        );
        let f = forms::Form::new(&format!("mw-{}", w.id), "PUT", format!("/api/v1/maintenance/{}", w.id), "Save").also(
            "Preview the next occurrences",
            "POST",
            "/api/v1/maintenance/preview",
            "upcoming",
        );
        b.push_str(&window_fields(f, Some(w), None).render());
        b.push_str("</details>");
    }
}

fn th_sort(b: &mut String, key: &str, title: &str, current: &str) {
    if key.is_empty() {
        let _ = write!(b, r#"<th scope="col">{title}</th>"#);
    } else if key == current {
        let _ = write!(
            b,
            r#"<th scope="col" aria-sort="ascending"><a href="/ui/slo?sort={key}" aria-current="true">{title} <span aria-hidden="true">▲</span></a></th>"#
        );
    } else {
        let _ = write!(b, r#"<th scope="col" aria-sort="none"><a href="/ui/slo?sort={key}">{title}</a></th>"#);
    }
}

// ---------------------------------------------------------------- downtimes

pub async fn downtimes(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    // every open downtime; of the resolved ones the newest page
    let open = super::every("state=open", |q| dt_api::list(State(s.clone()), ui.caller.clone(), q)).await?;
    let recent = format!("state=resolved&limit={}", crate::api::page::MAX_LIMIT);
    let resolved = dt_api::list(State(s.clone()), ui.caller.clone(), RawQuery(Some(recent))).await?.0;
    let older = resolved.next_cursor.is_some();
    let mut b = String::from("<h1>Downtimes</h1>");
    for (open, title, rows) in [(true, "Open", open), (false, "Resolved", resolved.items)] {
        let more = if !open && older { "+" } else { "" };
        let _ =
            write!(b, r#"<section aria-labelledby="dt-{open}"><h2 id="dt-{open}">{title} ({}{more})</h2>"#, rows.len());
        if rows.is_empty() {
            b.push_str(r#"<p class="empty">None.</p>"#);
        } else {
            b.push_str(r#"<table><thead><tr><th scope="col">Downtime</th><th scope="col">State</th><th scope="col">Severity</th><th scope="col">Source</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Counts towards SLA</th><th scope="col">Acknowledged</th></tr></thead><tbody>"#);
            for d in rows {
                let _ = write!(
                    b,
                    r#"<tr><td><a href="/ui/downtimes/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    d.id,
                    esc(&d.title),
                    state_label(d.resolved_at.is_none()),
                    severity_label(&d.severity),
                    esc(&d.source),
                    time(&d.started_at),
                    duration(d.duration_seconds),
                    if d.counts_towards_sla { "yes" } else { "no" },
                    d.acknowledged_by.as_deref().map(|w| esc(w).to_string()).unwrap_or_else(|| "no".into())
                );
            }
            b.push_str("</tbody></table>");
        }
        if !more.is_empty() {
            let _ = write!(
                b,
                r#"<p class="hint">The newest {} resolved downtimes; <code>GET /api/v1/downtimes?state=resolved</code> pages through every one.</p>"#,
                crate::api::page::MAX_LIMIT
            );
        }
        b.push_str("</section>");
    }
    let head = Head { title: "Downtimes", nav: Nav::Downtimes, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

fn state_label(open: bool) -> String {
    if open { label("bad", "✖", "OPEN") } else { label("ok", "✔", "RESOLVED") }
}

fn severity_label(sev: &str) -> String {
    match sev {
        "critical" => label("bad", "✖", "critical"),
        "major" => label("warn", "▲", "major"),
        other => label("info", "•", other),
    }
}

pub async fn downtime(State(s): State<AppState>, ui: UiCaller, Path(id): Path<String>) -> Page {
    let t0 = Instant::now();
    let d = dt_api::detail(State(s.clone()), ui.caller.clone(), Path(id)).await?.0;
    let v = &d.downtime;
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<p class="crumbs"><a href="/ui/downtimes">Downtimes</a> › #{}</p><h1>{} {}</h1>"#,
        v.id,
        esc(&v.title),
        state_label(v.resolved_at.is_none())
    );
    // the actions are the API's; an admin key may use them, others see none
    let admin = ui.caller.role == nines_core::Role::Admin;
    if admin {
        let _ = write!(
            b,
            r#"<div class="actions"><form method="post" action="/ui/downtimes/{}/postmortem" class="actions inline-form"><button type="submit">Create Post-Mortem Note</button></form>"#,
            v.id
        );
        let open = v.resolved_at.is_none();
        if open && v.acknowledged_at.is_none() {
            b.push_str(
                &forms::Form::new("ack", "POST", format!("/api/v1/downtimes/{}/acknowledge", v.id), "Acknowledge")
                    .inline()
                    .render(),
            );
        }
        if open {
            b.push_str(
                &forms::Form::new("resolve", "PATCH", format!("/api/v1/downtimes/{}", v.id), "Resolve now")
                    .field(forms::Field::new("resolve", "Resolve", forms::Kind::Hidden).value("true"))
                    .confirm("Resolve this downtime now? Members still down stay down, but the downtime closes.")
                    .inline()
                    .render(),
            );
        }
        b.push_str("</div>");
    }
    b.push_str(r#"<div class="grid"><section class="box" aria-labelledby="cls-h"><h2 id="cls-h">Classification</h2><dl class="facts">"#);
    let _ = write!(
        b,
        "<dt>Severity</dt><dd>{}</dd><dt>Classification</dt><dd>{}</dd><dt>Source</dt><dd>{}</dd><dt>Counts towards SLA</dt><dd>{}</dd>",
        severity_label(&v.severity),
        esc(v.classification.as_deref().unwrap_or("—")),
        esc(&v.source),
        if v.counts_towards_sla {
            "yes".to_string()
        } else {
            format!("no — {}", esc(v.excluded_reason.as_deref().unwrap_or("no reason given")))
        }
    );
    b.push_str(
        r#"</dl></section><section class="box" aria-labelledby="when-h"><h2 id="when-h">Times</h2><dl class="facts">"#,
    );
    let breach = |late: bool| if late { format!(" {}", label("bad", "✖", "overdue")) } else { String::new() };
    let _ = write!(
        b,
        "<dt>Started</dt><dd>{}</dd><dt>Resolved</dt><dd>{}</dd><dt>Duration</dt><dd>{}</dd><dt>Acknowledged</dt><dd>{}{}</dd><dt>Respond by</dt><dd>{}{}</dd><dt>Resolve by</dt><dd>{}{}</dd>",
        time(&v.started_at),
        v.resolved_at.as_deref().map(time).unwrap_or_else(|| "not yet".into()),
        duration(v.duration_seconds),
        opt_time(v.acknowledged_at.as_deref()),
        v.acknowledged_by.as_deref().map(|w| format!(" by {}", esc(w))).unwrap_or_default(),
        time(&v.response_due_at),
        breach(v.response_breached),
        time(&v.resolution_due_at),
        breach(v.resolution_breached)
    );
    b.push_str("</dl></section></div>");
    if admin {
        let f = forms::Form::new("classify", "PATCH", format!("/api/v1/downtimes/{}", v.id), "Save")
            .title("Edit the downtime")
            .field(forms::Field::new("title", "Title", forms::Kind::Text).value(&v.title))
            .field(
                forms::Field::new("severity", "Severity", forms::Kind::Select)
                    .options(&[("critical", "critical"), ("major", "major"), ("minor", "minor")])
                    .value(&v.severity)
                    .hint("The response and resolution due times follow the severity."),
            )
            .field(
                forms::Field::new("classification", "Classification", forms::Kind::Text)
                    .value(v.classification.as_deref().unwrap_or_default())
                    .hint("What kind of failure, e.g. network, deployment, provider"),
            )
            .field(
                forms::Field::new("countsTowardsSla", "Counts towards the SLA", forms::Kind::Bool)
                    .value(if v.counts_towards_sla { "true" } else { "false" }),
            )
            .field(
                forms::Field::new("excludedReason", "Reason for excluding it from the SLA", forms::Kind::Text)
                    .value(v.excluded_reason.as_deref().unwrap_or_default())
                    .hint("Needed when it does not count towards the SLA"),
            );
        b.push_str(&f.render());
    }

    b.push_str(r#"<section aria-labelledby="mem-h"><h2 id="mem-h">Affected services</h2><table><thead><tr><th scope="col">Service</th><th scope="col">Node</th><th scope="col">Now</th><th scope="col">Joined</th><th scope="col">Recovered</th></tr></thead><tbody>"#);
    for m in &d.members {
        let down = m["down"].as_bool().unwrap_or(false);
        let _ = write!(
            b,
            r#"<tr><td><a href="/ui/services/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            m["serviceId"].as_i64().unwrap_or(0),
            esc(m["service"].as_str().unwrap_or("")),
            esc(m["nodeId"].as_str().unwrap_or("")),
            if down { label("bad", "✖", "down") } else { label("ok", "✔", "recovered") },
            m["joinedAt"].as_str().map(time).unwrap_or_default(),
            opt_time(m["recoveredAt"].as_str())
        );
    }
    b.push_str("</tbody></table></section>");

    // what the public was told: status pages, feeds and subscribers
    b.push_str(r#"<section aria-labelledby="pub-h"><h2 id="pub-h">Public updates</h2>"#);
    let updates = s.store.downtime_updates(&[v.id]).await?;
    if updates.is_empty() {
        b.push_str("<p>None yet: status pages show this incident with its services' names only.</p>");
    } else {
        b.push_str(r#"<ol class="updates" reversed>"#);
        for u in updates.iter().rev() {
            let _ = write!(
                b,
                "<li><strong>{}</strong> — {} by {}<p>{}</p></li>",
                crate::notify::pages::update_word(&u.status),
                time(&rfc3339(u.created_at)),
                esc(&u.author),
                esc(&u.body)
            );
        }
        b.push_str("</ol>");
    }
    if admin {
        let title = s.store.downtime_public_titles(&[v.id]).await?.into_iter().next().map(|x| x.1);
        b.push_str(
            &forms::Form::new("update", "POST", format!("/api/v1/downtimes/{}/updates", v.id), "Post update")
                .title("Post a public update")
                .field(
                    forms::Field::new("status", "Status", forms::Kind::Select)
                        .options(&[
                            ("investigating", "Investigating"),
                            ("identified", "Identified"),
                            ("monitoring", "Monitoring"),
                            ("resolved", "Resolved"),
                        ])
                        .required(),
                )
                .field(
                    forms::Field::new("message", "Message", forms::Kind::Area)
                        .required()
                        .hint("Plain text. Shown on the status pages of these services and sent to their subscribers."),
                )
                .field(
                    forms::Field::new("publicTitle", "Public title", forms::Kind::Text)
                        .value(title.unwrap_or_default())
                        .hint("The incident's name on status pages; the title above stays internal."),
                )
                .confirm("Publish this update? Subscribers get it by mail and webhook.")
                .render(),
        );
    }
    b.push_str("</section>");

    b.push_str(r#"<section aria-labelledby="tl-h"><h2 id="tl-h">Timeline</h2>"#);
    let items = d.timeline.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        b.push_str(r#"<p class="empty">No events.</p>"#);
    } else {
        b.push_str(r#"<ol class="timeline">"#);
        for it in &items {
            let at = it["at"].as_str().map(time).unwrap_or_default();
            let body = match it["kind"].as_str() {
                Some("status") => format!(
                    r#"{} <a href="/ui/services/{}">{}</a> {} → {}{}"#,
                    label("info", "●", "status change"),
                    it["serviceId"].as_i64().unwrap_or(0),
                    esc(it["service"].as_str().unwrap_or("")),
                    status_label(status_of(&it["from"])),
                    status_label(status_of(&it["to"])),
                    it["reason"].as_str().map(|r| format!(": {}", esc(r))).unwrap_or_default()
                ),
                Some("activity") => format!(
                    "{} {}{}",
                    label("muted", "◆", &format!("activity: {}", it["activity"].as_str().unwrap_or(""))),
                    esc(it["text"].as_str().unwrap_or("")),
                    it["service"].as_str().map(|sv| format!(" ({})", esc(sv))).unwrap_or_default()
                ),
                Some("maintenance") => {
                    format!("{} {}", label("info", "⚒", "maintenance"), esc(it["text"].as_str().unwrap_or("")))
                }
                _ => format!("{} {}", label("muted", "✎", "log"), esc(it["text"].as_str().unwrap_or(""))),
            };
            let _ = write!(b, "<li>{at} {body}</li>");
        }
        b.push_str("</ol>");
    }
    b.push_str("</section>");

    b.push_str(r#"<section aria-labelledby="notes-h"><h2 id="notes-h">Post-mortem notes</h2>"#);
    if d.notes.is_empty() {
        b.push_str(r#"<p class="empty">None yet.</p>"#);
    } else {
        b.push_str("<ul>");
        for n in &d.notes {
            let _ = write!(
                b,
                r#"<li><a href="/ui/notes/{}">{}</a> by {} at {}</li>"#,
                n["id"].as_i64().unwrap_or(0),
                esc(n["title"].as_str().unwrap_or("")),
                esc(n["author"].as_str().unwrap_or("")),
                n["createdAt"].as_str().map(time).unwrap_or_default()
            );
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>");
    let title = format!("Downtime {}", v.title);
    let head = Head { title: &title, nav: Nav::Downtimes, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

/// "Create Post-Mortem Note": creates the note at once (API) and opens its
/// editor, as the release notes describe (no dialog in between).
pub async fn create_postmortem(
    State(s): State<AppState>,
    ui: UiCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Page {
    same_origin(&headers)?;
    let (_, note) = dt_api::postmortem(State(s), ui.caller, Path(id)).await?;
    Ok(see_other(&format!("/ui/notes/{}", note.0.id)))
}

#[derive(Deserialize, Default)]
struct SavedQuery {
    saved: Option<String>,
}

pub async fn note(State(s): State<AppState>, ui: UiCaller, Path(id): Path<i64>, RawQuery(raw): RawQuery) -> Page {
    let t0 = Instant::now();
    let saved: SavedQuery = serde_urlencoded::from_str(&raw.unwrap_or_default()).unwrap_or_default();
    let n = dt_api::get_note(State(s), ui.caller.clone(), Path(id)).await?.0;
    let mut b = String::new();
    if let Some(dt) = n.downtime_id {
        let _ = write!(
            b,
            r#"<p class="crumbs"><a href="/ui/downtimes">Downtimes</a> › <a href="/ui/downtimes/{dt}">#{dt}</a> › note</p>"#
        );
    }
    let _ = write!(b, "<h1>{}</h1>", esc(&n.title));
    if saved.saved.is_some() {
        b.push_str(r#"<p class="ok" role="status">Saved.</p>"#);
    }
    let _ = write!(
        b,
        r#"<p class="hint">By {} · created {} · updated {}</p><form method="post" action="/ui/notes/{}" class="editor"><label for="note-body">Note (Markdown)</label><textarea id="note-body" name="body" rows="28" spellcheck="true">{}</textarea><button type="submit">Save note</button></form>"#,
        esc(&n.author),
        time(&n.created_at),
        time(&n.updated_at),
        n.id,
        esc(&n.body)
    );
    let head = Head { title: &n.title, nav: Nav::Downtimes, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

#[derive(Deserialize)]
struct NoteForm {
    body: String,
}

pub async fn save_note(
    State(s): State<AppState>,
    ui: UiCaller,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Page {
    same_origin(&headers)?;
    let f: NoteForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        UiError(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("note form: {e}")).field("body"))
    })?;
    if f.body.contains('\0') {
        return Err(UiError(nines_core::wire::nul_error("body".into()).into()));
    }
    let nb = dt_api::NoteBody { body: f.body.replace("\r\n", "\n") };
    let _saved = dt_api::put_note(State(s), ui.caller, Path(id), crate::extract::JsonBody(nb)).await?;
    Ok(see_other(&format!("/ui/notes/{id}?saved=1")))
}

// ---------------------------------------------------------------- maintenance

pub async fn maintenance(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let list = super::every("", |q| mw_api::list(State(s.clone()), ui.caller.clone(), q)).await?;
    let mut b = String::from(
        r#"<h1>Maintenance windows</h1><p>Services inside an active window show MAINTENANCE, raise no downtime and, unless the window says otherwise, do not count against the SLA.</p>"#,
    );
    if list.is_empty() {
        b.push_str(r#"<p class="empty">No maintenance windows.</p>"#);
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Title</th><th scope="col">State</th><th scope="col">When</th><th scope="col">Applies to</th><th scope="col">Counts towards SLA</th><th scope="col">Next occurrences</th></tr></thead><tbody>"#);
        for m in &list {
            let w = &m.window;
            let when = match (&w.cron, w.starts_at, w.ends_at) {
                (Some(c), _, _) => format!(
                    "<code>{}</code> for {} min ({})",
                    esc(c),
                    w.duration_minutes.unwrap_or(0),
                    esc(w.time_zone.as_deref().unwrap_or("UTC"))
                ),
                (None, Some(a), Some(z)) => format!("{} to {}", time(&rfc3339(a)), time(&rfc3339(z))),
                _ => "—".into(),
            };
            let mut scope: Vec<String> = Vec::new();
            scope.extend(w.service_ids.iter().map(|id| format!(r#"<a href="/ui/services/{id}">service {id}</a>"#)));
            scope.extend(w.sla_groups.iter().map(|g| format!("SLA group {}", esc(g))));
            scope.extend(w.node_ids.iter().map(|n| format!("node {}", esc(n))));
            let next: Vec<String> =
                m.upcoming.iter().take(3).map(|(a, z)| format!("{} – {}", time(a), time(z))).collect();
            let _ = write!(
                b,
                "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&w.title),
                w.description
                    .as_deref()
                    .map(|d| format!(r#"<br><span class="hint">{}</span>"#, esc(d)))
                    .unwrap_or_default(),
                if m.active { label("info", "⚒", "ACTIVE") } else { label("muted", "–", "scheduled") },
                when,
                if scope.is_empty() { "—".into() } else { scope.join(", ") },
                if w.counts_towards_sla { "yes" } else { "no" },
                if next.is_empty() { "none in 30 days".into() } else { next.join("<br>") }
            );
        }
        b.push_str("</tbody></table>");
    }
    if ui.caller.role == nines_core::Role::Admin {
        maintenance_forms(&mut b, &ui, &list);
    }
    let head = Head { title: "Maintenance", nav: Nav::Maintenance, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}
