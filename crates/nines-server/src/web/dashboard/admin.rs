//! The admin page (admin keys): API keys (create, shown once; revoke),
//! SystemConfig (admins of every organization) and the audit log. Every
//! action is a form on the JSON API (`forms`), so it obeys the API's rules
//! and leaves an audit entry.

use axum::extract::{RawQuery, State};
use nines_core::OrgScope;
use std::fmt::Write;
use std::time::Instant;

use super::forms::{Field, Form, Kind};
use super::widgets::time;
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::web::html::esc;

const ROLES: &[(&str, &str)] =
    &[("read-only", "read-only"), ("operator", "operator"), ("agent", "agent"), ("admin", "admin")];

pub async fn admin(State(s): State<AppState>, ui: UiCaller, RawQuery(raw): RawQuery) -> Page {
    let t0 = Instant::now();
    let every = ui.caller.scope == OrgScope::All;
    let mut b = String::with_capacity(16 * 1024);
    b.push_str(r#"<h1>Admin</h1><p class="hint">API keys, settings and the audit log. Every change here goes through the API and is logged.</p>"#);

    // ---- API keys
    let keys = super::every("", |q| crate::api::keys::list(State(s.clone()), ui.caller.clone(), q)).await?;
    b.push_str(r#"<h2 id="keys">API keys</h2><div class="table-wrap"><table><caption>Keys of "#);
    b.push_str(if every { "every organization" } else { "this organization" });
    b.push_str(r#"</caption><thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Organization</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">Revoke</th></tr></thead><tbody>"#);
    for k in &keys {
        let mine = k.id == ui.caller.key_id;
        let revoke = if mine {
            r#"<span class="ro">the key you are using</span>"#.to_string()
        } else {
            Form::new(&format!("revoke-{}", k.id), "DELETE", format!("/api/v1/apikeys/{}", k.id), "Revoke")
                .confirm(format!("Revoke the key {}? Whoever uses it is refused from now on.", k.name))
                .danger()
                .inline()
                .render()
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
            esc(&k.name),
            esc(&k.id),
            esc(k.organization.as_deref().unwrap_or("every organization")),
            k.role.as_str(),
            time(&k.created_at),
        );
    }
    b.push_str("</tbody></table></div>");
    let mut create = Form::new("new-key", "POST", "/api/v1/apikeys", "Create the key")
        .title("New API key")
        .field(Field::new("name", "Name", Kind::Text).hint("Who or what uses it, e.g. backup-cron").required())
        .field(Field::new("role", "Role", Kind::Select).options(ROLES).value("read-only"));
    let org_field = Field::new("organization", "Organization", Kind::Text);
    create = create.field(if every {
        org_field.hint("Empty: a key of every organization")
    } else {
        org_field.value(ui.caller.scope.as_option().unwrap_or_default()).required()
    });
    b.push_str(&create.result("secret").render());
    b.push_str(r#"<p class="hint">The secret is shown once, in the box under the form: copy it now. nines keeps only its hash.</p>"#);

    // ---- SystemConfig
    if every {
        let cfg = super::every("", |q| crate::api::slo::list_config(State(s.clone()), ui.caller.clone(), q)).await?;
        b.push_str(r#"<h2 id="settings">Settings (SystemConfig)</h2><p class="hint">Global: they apply to every organization. Empty resets a setting to its default.</p>"#);
        for e in &cfg {
            let f = Form::new(&format!("cfg-{}", e.key), "PUT", format!("/api/v1/system-config/{}", e.key), "Save")
                .field(
                    Field::new("value", &e.key, Kind::Text)
                        .value(&e.value)
                        .hint(format!(
                            "{} Default: {}.{}",
                            e.description,
                            if e.default.is_empty() { "empty" } else { &e.default },
                            if e.overridden { " Set." } else { "" }
                        ))
                        .empty_null(),
                );
            b.push_str(&f.render());
        }
    }

    // ---- audit log
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        before: Option<i64>,
    }
    let q: Q = crate::extract::parse_query(raw)?;
    let before = q.before;
    let rows = s.store.list_audit(ui.caller.scope.as_option(), before, 100).await?;
    b.push_str(r#"<h2 id="audit">Audit log</h2><div class="table-wrap"><table><caption>Writes made with a key, newest first (reports pushed by agents and cron jobs are not actions and are not listed)</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Via</th><th scope="col">What</th><th scope="col">Outcome</th></tr></thead><tbody>"#);
    for r in &rows {
        let outcome = if r.status < 400 {
            format!(r#"<span class="lbl lbl-ok">✔ {}</span>"#, r.status)
        } else {
            format!(r#"<span class="lbl lbl-bad">✖ {}</span>"#, r.status)
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} <span class=\"sub\">({}, {})</span></td><td>{}</td><td><code>{} {}</code></td><td>{outcome}</td></tr>",
            time(&nines_core::clock::rfc3339(r.at)),
            esc(&r.actor),
            esc(&r.role),
            esc(&r.organization),
            esc(&r.via),
            esc(&r.method),
            esc(&r.path),
        );
    }
    b.push_str("</tbody></table></div>");
    if rows.is_empty() {
        b.push_str(r#"<p class="empty">No actions logged yet.</p>"#);
    } else if rows.len() == 100
        && let Some(last) = rows.last()
    {
        let _ = write!(b, r##"<p><a href="/ui/admin?before={}#audit">Older entries</a></p>"##, last.id);
    }
    let head = Head { title: "Admin", nav: Nav::Admin, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}
