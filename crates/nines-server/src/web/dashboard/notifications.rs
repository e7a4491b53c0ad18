//! The notifications page (admin keys): channels and route rules, each
//! created, edited, disabled and deleted through forms on the JSON API
//! (`forms`), and a test message whose answer is shown in place.
//!
//! A channel's settings are edited as the JSON the API shows, with every
//! secret as `<redacted>`: the API keeps the stored secret wherever the
//! placeholder comes back, so a secret is never sent to the browser and
//! never has to be typed again. (Password inputs cannot do that here: an
//! empty one is left out of the body, which would drop the secret.) The
//! delivery log and the rules' arithmetic live in the API, not here.

use axum::extract::{RawQuery, State};
use nines_core::OrgScope;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Instant;

use super::forms::{Field, Form, Kind};
use super::widgets::label;
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::api::notifications::{self as api, ChannelView, RouteView};
use crate::web::html::esc;

/// The channel kinds the API knows, each with the settings a new channel
/// starts from and what its fields mean.
const KINDS: &[(&str, &str, &str)] = &[
    (
        "webhook",
        r#"{"type": "webhook", "url": "https://hooks.example.com/nines", "headers": {}, "timeoutSeconds": 10}"#,
        "url: where to POST. secret (optional): signs each request (X-Nines-Signature). headers: extra request headers such as Authorization; their values are secrets.",
    ),
    (
        "slack",
        r##"{"type": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXX", "channel": "#ops", "timeoutSeconds": 10}"##,
        "url: the incoming-webhook URL of Slack, Mattermost or Rocket.Chat; it is the credential, so it is a secret. channel, username, iconUrl: optional.",
    ),
    (
        "email",
        r#"{"type": "email", "smtpHost": "smtp.example.com", "smtpPort": 587, "tls": "starttls", "from": "nines@example.com", "to": ["oncall@example.com"]}"#,
        "tls: starttls, tls (port 465) or none (a local relay, no credentials). username and password (a secret): optional, together. caCertificatePem: an internal CA.",
    ),
    (
        "alertmanager",
        r#"{"type": "alertmanager", "url": "http://alertmanager:9093", "headers": {}, "extraLabels": {}, "alertTtlSeconds": 86400, "timeoutSeconds": 10}"#,
        "url: Alertmanager's base URL (alerts go to /api/v2/alerts). headers: values are secrets. extraLabels: added to every alert.",
    ),
];

const CRITICALITIES: &[(&str, &str)] =
    &[("", "any"), ("critical", "critical"), ("high", "high"), ("medium", "medium"), ("low", "low")];

const TAG_MATCH: &[(&str, &str)] = &[("any", "any of the tags"), ("all", "all of the tags")];

const EVENTS: &str = "downtime_opened, downtime_updated, downtime_resolved, certificate_expiring, certificate_expired, backup_overdue, storage_critical, slo_burn_rate, agent_silent";

const SECRETS_HINT: &str = "The settings as JSON. Secrets show as \"<redacted>\": leave the placeholder to keep the stored secret, write a new value to replace it, remove the key to drop it.";

pub async fn page(State(s): State<AppState>, ui: UiCaller, RawQuery(raw): RawQuery) -> Page {
    let t0 = Instant::now();
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        kind: Option<String>,
    }
    let q: Q = crate::extract::parse_query(raw)?;
    let every = ui.caller.scope == OrgScope::All;
    let channels = super::every("", |q| api::list_channels(State(s.clone()), ui.caller.clone(), q)).await?;
    let routes = super::every("", |q| api::list_routes(State(s.clone()), ui.caller.clone(), q)).await?;

    let mut b = String::with_capacity(16 * 1024);
    b.push_str(r#"<h1>Notifications</h1><p class="hint">Where nines sends what it notices (see docs/notifications.md). Every change goes through the API and is logged; secrets are never shown back.</p>"#);
    channels_section(&mut b, &channels, every);
    new_channel(&mut b, q.kind.as_deref(), every);
    routes_section(&mut b, &routes, &channels, every);
    let head = Head { title: "Notifications", nav: Nav::Notifications, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

fn enabled_label(on: bool) -> String {
    if on { label("ok", "✔", "enabled") } else { label("muted", "–", "disabled") }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn channels_section(b: &mut String, channels: &[ChannelView], every: bool) {
    b.push_str(r#"<h2 id="channels">Channels</h2>"#);
    if channels.is_empty() {
        b.push_str(r#"<p class="empty">No channels yet: add one below.</p>"#);
        return;
    }
    b.push_str(r#"<div class="table-wrap"><table class="channels"><caption>Channels of "#);
    b.push_str(if every { "every organization" } else { "this organization" });
    b.push_str(r#", secrets redacted</caption><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Organization</th><th scope="col">State</th><th scope="col">Settings</th></tr></thead><tbody>"#);
    for c in channels {
        let _ = write!(
            b,
            r##"<tr><td><a href="#channel-{}">{}</a> <span class="sub">#{}</span></td><td>{}</td><td>{}</td><td>{}</td><td><pre class="config">{}</pre></td></tr>"##,
            c.id,
            esc(&c.name),
            c.id,
            esc(&c.kind),
            esc(&c.organization),
            enabled_label(c.enabled),
            esc(&pretty(&c.config)),
        );
    }
    b.push_str("</tbody></table></div>");
    for c in channels {
        channel_box(b, c);
    }
}

/// One channel's actions: enable or disable, delete, test, edit.
fn channel_box(b: &mut String, c: &ChannelView) {
    let id = c.id;
    let _ = write!(
        b,
        r#"<section class="box channel" id="channel-{id}" aria-labelledby="channel-{id}-h"><h3 id="channel-{id}-h">{} <span class="sub">{} · {}</span> {}</h3>"#,
        esc(&c.name),
        esc(&c.kind),
        esc(&c.organization),
        enabled_label(c.enabled)
    );
    toggle_form(b, c);
    b.push_str(
        &Form::new(&format!("ch-del-{id}"), "DELETE", format!("/api/v1/notifications/channels/{id}"), "Delete")
            .confirm(format!(
                "Delete the channel {}? Messages still waiting to go through it are marked failed.",
                c.name
            ))
            .danger()
            .inline()
            .render(),
    );
    b.push_str(
        &Form::new(
            &format!("ch-test-{id}"),
            "POST",
            format!("/api/v1/notifications/channels/{id}/test"),
            "Send a test message",
        )
        .result("")
        .inline()
        .render(),
    );
    let _ = write!(b, r#"<details><summary>Edit {}</summary>"#, esc(&c.name));
    b.push_str(
        &Form::new(&format!("ch-{id}"), "PUT", format!("/api/v1/notifications/channels/{id}"), "Save")
            .field(Field::new("name", "Name", Kind::Text).value(&c.name).required())
            .field(Field::new("enabled", "Enabled", Kind::Bool).value(if c.enabled { "true" } else { "false" }))
            .field(
                Field::new("config", "Settings", Kind::Json)
                    .value(pretty(&c.config))
                    .hint(format!("{SECRETS_HINT} {}", kind_hint(&c.kind)))
                    .required(),
            )
            .render(),
    );
    b.push_str("</details></section>");
}

/// Enable or disable in one click: the channel as it is, `enabled` flipped.
/// The settings go back redacted, so the API keeps the stored secrets.
fn toggle_form(b: &mut String, c: &ChannelView) {
    let (to, what) = if c.enabled { ("false", "Disable") } else { ("true", "Enable") };
    let name = serde_json::Value::String(c.name.clone()).to_string();
    b.push_str(
        &Form::new(&format!("ch-toggle-{}", c.id), "PUT", format!("/api/v1/notifications/channels/{}", c.id), what)
            .field(Field::new("name", "Name", Kind::Hidden).value(name))
            .field(Field::new("enabled", "Enabled", Kind::Hidden).value(to))
            .field(Field::new("config", "Settings", Kind::Hidden).value(c.config.to_string()))
            .inline()
            .render(),
    );
}

fn kind_hint(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _, _)| *k == kind).map(|(_, _, h)| *h).unwrap_or("")
}

fn new_channel(b: &mut String, kind: Option<&str>, every: bool) {
    let (kind, template, hint) = KINDS.iter().find(|(k, _, _)| Some(*k) == kind).copied().unwrap_or(KINDS[0]);
    b.push_str(r#"<h2 id="new-channel">New channel</h2>"#);
    // choosing the kind reloads the form with that kind's settings to start from
    b.push_str(r##"<form class="kind-choice" method="get" action="/ui/notifications#new-channel"><label for="new-kind">Kind</label> <select id="new-kind" name="kind">"##);
    for (k, _, _) in KINDS {
        let _ = write!(b, r#"<option value="{k}"{}>{k}</option>"#, if *k == kind { " selected" } else { "" });
    }
    b.push_str(r#"</select> <button type="submit">Start from this kind</button></form>"#);
    let template = serde_json::from_str::<serde_json::Value>(template).map(|v| pretty(&v)).unwrap_or_default();
    let mut f = Form::new("new-channel-form", "POST", "/api/v1/notifications/channels", "Create the channel")
        .title(&format!("New {kind} channel"))
        .field(Field::new("name", "Name", Kind::Text).hint("Unique in its organization, e.g. ops-webhook").required());
    if every {
        f = f.field(
            Field::new("organization", "Organization", Kind::Text)
                .hint("This key spans every organization: name one")
                .required(),
        );
    }
    f = f.field(Field::new("enabled", "Enabled", Kind::Bool).value("true")).field(
        Field::new("config", "Settings", Kind::Json)
            .value(template)
            .hint(format!("The settings as JSON, tagged by type. {hint}"))
            .required(),
    );
    b.push_str(&f.render());
}

fn routes_section(b: &mut String, routes: &[RouteView], channels: &[ChannelView], every: bool) {
    let names: HashMap<i64, &str> = channels.iter().map(|c| (c.id, c.name.as_str())).collect();
    b.push_str(r#"<h2 id="routes">Routes</h2><p class="hint">Rules are walked by position; every matching rule adds its channels, a matching rule with “stop” ends the walk. Empty lists match everything. Without routes, every event of an organization goes to each of its enabled channels.</p>"#);
    if routes.is_empty() {
        b.push_str(r#"<p class="empty">No routes: every event goes to every enabled channel.</p>"#);
    } else {
        b.push_str(r#"<div class="table-wrap"><table class="routes"><caption>Route rules by position</caption><thead><tr><th scope="col">Position</th><th scope="col">Organization</th><th scope="col">Criticality</th><th scope="col">Tags</th><th scope="col">Events</th><th scope="col">Channels</th><th scope="col">Stop</th></tr></thead><tbody>"#);
        for r in routes {
            let mut crit: Vec<String> = Vec::new();
            if let Some(m) = r.min_criticality {
                crit.push(format!("at least {}", m.as_str()));
            }
            if !r.criticalities.is_empty() {
                crit.push(r.criticalities.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "));
            }
            let tags = if r.tags.is_empty() {
                "any".to_string()
            } else {
                let m = if r.tag_match == nines_notify::route::TagMatch::All { "all of" } else { "any of" };
                format!("{m} {}", esc(&r.tags.join(", ")))
            };
            let events = if r.events.is_empty() {
                "every event".to_string()
            } else {
                r.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
            };
            let chans: Vec<String> = r
                .channels
                .iter()
                .map(|id| match names.get(id) {
                    Some(n) => format!(r##"<a href="#channel-{id}">{}</a>"##, esc(n)),
                    None => format!("#{id}"),
                })
                .collect();
            let _ = write!(
                b,
                r##"<tr><td><a href="#rule-{}">{}</a></td><td>{}</td><td>{}</td><td>{tags}</td><td>{}</td><td>{}</td><td>{}</td></tr>"##,
                r.id,
                r.position,
                esc(&r.organization),
                if crit.is_empty() { "any".to_string() } else { esc(&crit.join("; ")).to_string() },
                esc(&events),
                chans.join(", "),
                if r.stop { "yes" } else { "no" },
            );
        }
        b.push_str("</tbody></table></div>");
        for r in routes {
            let id = r.id;
            let _ = write!(
                b,
                r#"<section class="box route" id="rule-{id}" aria-labelledby="rule-{id}-h"><h3 id="rule-{id}-h">Rule at position {} <span class="sub">#{id} · {}</span></h3>"#,
                r.position,
                esc(&r.organization)
            );
            b.push_str(
                &Form::new(
                    &format!("route-del-{id}"),
                    "DELETE",
                    format!("/api/v1/notifications/routes/{id}"),
                    "Delete",
                )
                .confirm("Delete this route rule?")
                .danger()
                .inline()
                .render(),
            );
            b.push_str("<details><summary>Edit this rule</summary>");
            let f = Form::new(&format!("route-{id}"), "PUT", format!("/api/v1/notifications/routes/{id}"), "Save");
            b.push_str(&route_fields(f, Some(r), channels, false).render());
            b.push_str("</details></section>");
        }
    }
    b.push_str(r#"<h2 id="new-route">New route</h2>"#);
    if channels.is_empty() {
        b.push_str(r#"<p class="empty">A route sends to channels: add a channel first.</p>"#);
        return;
    }
    let f = Form::new("new-route-form", "POST", "/api/v1/notifications/routes", "Create the route");
    b.push_str(&route_fields(f, None, channels, every).render());
}

/// The fields of a route rule, filled from `r` when editing.
fn route_fields(f: Form, r: Option<&RouteView>, channels: &[ChannelView], ask_org: bool) -> Form {
    let v = |x: Option<String>| x.unwrap_or_default();
    let known: Vec<String> = channels.iter().map(|c| format!("{} = {}", c.id, c.name)).collect();
    let mut f = f
        .field(
            Field::new("position", "Position", Kind::Number)
                .value(v(r.map(|r| r.position.to_string())))
                .hint("Order of evaluation, ascending; empty: after the last rule"),
        )
        .field(
            Field::new("minCriticality", "At least this critical", Kind::Select)
                .options(CRITICALITIES)
                .value(v(r.and_then(|r| r.min_criticality).map(|c| c.as_str().to_string())))
                .hint("Compared with the most critical service of the event"),
        )
        .field(
            Field::new("criticalities", "Exactly these criticalities", Kind::Csv)
                .value(v(r.map(|r| r.criticalities.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "))))
                .hint("Comma-separated: critical, high, medium, low; empty: any"),
        )
        .field(
            Field::new("tags", "Tags", Kind::Csv)
                .value(v(r.map(|r| r.tags.join(", "))))
                .hint("Comma-separated tags of the event's services; empty: any"),
        )
        .field(
            Field::new("tagMatch", "Tags match", Kind::Select).options(TAG_MATCH).value(
                if r.is_some_and(|r| r.tag_match == nines_notify::route::TagMatch::All) { "all" } else { "any" },
            ),
        )
        .field(
            Field::new("events", "Events", Kind::Csv)
                .value(v(r.map(|r| r.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "))))
                .hint(format!("Comma-separated; empty: every event. Kinds: {EVENTS}")),
        )
        .field(
            Field::new("channels", "Channels (ids)", Kind::IntList)
                .value(v(r.map(|r| r.channels.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "))))
                .hint(format!("Comma-separated channel ids: {}", known.join(", ")))
                .required(),
        )
        .field(
            Field::new("stop", "Stop here when this rule matches", Kind::Bool).value(if r.is_some_and(|r| r.stop) {
                "true"
            } else {
                "false"
            }),
        );
    if ask_org {
        f = f.field(
            Field::new("organization", "Organization", Kind::Text)
                .hint("This key spans every organization: name one")
                .required(),
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_starts_from_settings_the_api_accepts() {
        for (kind, template, hint) in KINDS {
            let c = nines_notify::ChannelConfig::from_json(template).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(c.kind(), *kind);
            assert_eq!(c.validate(""), Ok(()), "{kind}");
            assert!(!hint.is_empty());
        }
    }

    #[test]
    fn the_toggle_sends_the_redacted_settings_escaped() {
        let c = ChannelView {
            id: 3,
            organization: "acme".into(),
            name: "ops\"<x>".into(),
            kind: "webhook".into(),
            enabled: true,
            config: serde_json::json!({"type": "webhook", "url": "http://h/?a=1&b=\"2\"", "secret": "<redacted>"}),
            created_at: String::new(),
            updated_at: String::new(),
        };
        let mut b = String::new();
        toggle_form(&mut b, &c);
        assert!(b.contains(r#"name="enabled" data-type="json" value="false""#), "{b}");
        // the name as JSON text (the form sends it parsed), escaped for HTML
        assert!(b.contains(r#"name="name" data-type="json" value="&quot;ops\&quot;&lt;x&gt;&quot;""#), "{b}");
        assert!(b.contains("&quot;secret&quot;:&quot;&lt;redacted&gt;&quot;"), "{b}");
        assert!(!b.contains("<x>") && !b.contains(r#"b="2""#), "{b}");
    }
}
