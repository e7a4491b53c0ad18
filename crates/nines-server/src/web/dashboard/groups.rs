//! The groups page (operator and admin keys): how each SLA group counts as
//! up (admin), and the public status page's groups with their members
//! (operator). Every change is a form on the JSON API.

use axum::extract::State;
use nines_core::Role;
use std::fmt::Write;
use std::time::Instant;

use super::forms::{Field, Form, Kind};
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::web::html::esc;

pub async fn groups(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let admin = ui.caller.role == Role::Admin;
    let mut b = String::with_capacity(16 * 1024);
    b.push_str(r#"<h1>Groups</h1><p class="hint">SLA groups count their members together; status page groups decide what the public page shows.</p>"#);

    // ---- SLA groups
    let sla = super::every("", |q| crate::api::read::sla_groups(State(s.clone()), ui.caller.clone(), q)).await?;
    b.push_str(r#"<h2 id="sla">SLA groups</h2>"#);
    if sla.is_empty() {
        b.push_str(r#"<p class="empty">No SLA groups: services join one through <code>slaGroup</code> in their it-ops document or report.</p>"#);
    }
    for g in &sla {
        // members of one name in several clusters are told apart by their node
        let members: Vec<String> = g
            .members
            .iter()
            .map(|m| {
                format!(
                    r#"<a href="/ui/services/{}">{}</a> <span class="sub">{}</span>"#,
                    m.id,
                    esc(&m.service),
                    esc(&m.node_id)
                )
            })
            .collect();
        let _ = write!(
            b,
            r#"<section class="box"><h3>{} <span class="sub">{} · counts as up when: {}</span></h3><p>Members: {}</p>"#,
            esc(&g.name),
            esc(&g.organization),
            esc(&g.mode),
            if members.is_empty() { "none".into() } else { members.join(", ") }
        );
        if admin {
            let quorum = match s.store.group(&g.organization, &g.name).await? {
                Some((_, Some(k), _)) => k.to_string(),
                _ => String::new(),
            };
            let mode = g.mode.split(':').next().unwrap_or("all").to_string();
            let slug = |x: &str| x.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
            // the organization too: two organizations may name a group alike
            let id = if ui.caller.scope.as_option().is_some() {
                format!("sla-{}", slug(&g.name))
            } else {
                format!("sla-{}-{}", slug(&g.organization), slug(&g.name))
            };
            let f = Form::new(&id, "PUT", format!("/api/v1/sla-groups/{}", super::cookie::url_encode(&g.name)), "Save")
                .field(
                    Field::new("mode", "Counts as up when", Kind::Select)
                        .options(&[
                            ("all", "every member is up"),
                            ("any", "any member is up"),
                            ("quorum", "at least K members are up"),
                        ])
                        .value(mode),
                )
                .field(
                    Field::new("quorum", "K (for quorum)", Kind::Number)
                        .value(quorum)
                        .hint("Only with \"at least K\": empty it for the other two"),
                )
                .field(Field::new("organization", "Organization", Kind::Text).value(&g.organization));
            b.push_str(&f.render());
            let (slo_o, sla_o) = s.store.group_target_overrides(&g.organization, &g.name).await?;
            let t = Form::new(
                &format!("{id}-targets"),
                "PUT",
                format!("/api/v1/sla-groups/{}/slo", super::cookie::url_encode(&g.name)),
                "Save the targets",
            )
            .field(
                Field::new("sloTarget", "SLO target (%)", Kind::Number)
                    .value(slo_o.map(|x| x.to_string()).unwrap_or_default())
                    .hint("Empty: its strictest member's")
                    .empty_null(),
            )
            .field(
                Field::new("slaTarget", "SLA target (%)", Kind::Number)
                    .value(sla_o.map(|x| x.to_string()).unwrap_or_default())
                    .hint("Empty: its strictest member's")
                    .empty_null(),
            )
            .field(Field::new("organization", "Organization", Kind::Text).value(&g.organization));
            b.push_str(&t.render());
        }
        b.push_str("</section>");
    }

    // ---- status page groups
    let groups =
        super::every("", |q| crate::web::public::admin::list_groups(State(s.clone()), ui.caller.clone(), q)).await?;
    b.push_str(r#"<h2 id="status">Status page groups</h2><p class="hint">The public page at <a href="/">/</a> shows these groups in order of position. Members are named by node and service; the list replaces the group's members.</p>"#);
    for g in &groups {
        let members: Vec<serde_json::Value> = g
            .services
            .iter()
            .map(|m| {
                let mut v =
                    serde_json::json!({"nodeId": m.node_id, "service": m.service, "displayName": m.display_name});
                if let Some(d) = &m.description {
                    v["description"] = serde_json::json!(d);
                }
                v
            })
            .collect();
        let id = format!("sp-{}", g.public_id);
        let _ = write!(
            b,
            r#"<details class="box"><summary>{} <span class="sub">{} · {} member{}</span></summary>"#,
            esc(&g.display_name),
            esc(&g.organization),
            g.services.len(),
            if g.services.len() == 1 { "" } else { "s" }
        );
        let path = format!(
            "/api/v1/status-page/groups/{}?organization={}",
            super::cookie::url_encode(&g.name),
            super::cookie::url_encode(&g.organization)
        );
        let f = Form::new(&id, "PUT", path.clone(), "Save the group")
            .field(Field::new("displayName", "Title", Kind::Text).value(&g.display_name))
            .field(
                Field::new("description", "Description", Kind::Text)
                    .value(g.description.as_deref().unwrap_or_default()),
            )
            .field(
                Field::new("position", "Position", Kind::Number)
                    .value(g.position.map(|p| p.to_string()).unwrap_or_default()),
            )
            .field(
                Field::new("services", "Members (JSON)", Kind::Json)
                    .value(serde_json::to_string_pretty(&members).unwrap_or_default())
                    .hint(r#"A list of {"nodeId", "service", "displayName", "description"}"#),
            )
            .field(Field::new("organization", "Organization", Kind::Text).value(&g.organization));
        b.push_str(&f.render());
        b.push_str(
            &Form::new(&format!("{id}-del"), "DELETE", path, "Delete the group")
                .confirm("Delete this status page group? The public page stops showing it.")
                .danger()
                .render(),
        );
        b.push_str("</details>");
    }
    let org = ui.caller.scope.as_option().unwrap_or_default().to_string();
    let f = Form::new("sp-new", "PUT", "/api/v1/status-page/groups/{name}", "Create the group")
        .title("New status page group")
        .field(Field::new("name", "Name", Kind::Text).required().hint("Its key, e.g. shop"))
        .field(Field::new("displayName", "Title", Kind::Text))
        .field(Field::new("description", "Description", Kind::Text))
        .field(Field::new("position", "Position", Kind::Number))
        .field(Field::new("services", "Members (JSON)", Kind::Json).value("[]"))
        .field(Field::new("organization", "Organization", Kind::Text).value(org));
    b.push_str(&f.render().replace(
        r#"data-path="/api/v1/status-page/groups/{name}""#,
        r#"data-path="/api/v1/status-page/groups/{name}" data-path-from="name""#,
    ));
    if admin {
        pages_section(&s, &ui, &mut b).await?;
    }
    let head = Head { title: "Groups", nav: Nav::Groups, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}

/// The page fields, filled from `p` when editing.
fn page_fields(f: Form, p: Option<&nines_store::pages::PageRow>, org: &str) -> Form {
    let links: Vec<serde_json::Value> = p
        .map(|p| p.links.iter().map(|l| serde_json::json!({"title": l.title, "url": l.url})).collect())
        .unwrap_or_default();
    let groups: Vec<serde_json::Value> = p
        .map(|p| {
            p.groups.iter().map(|g| serde_json::json!({"organization": g.organization, "group": g.group})).collect()
        })
        .unwrap_or_default();
    let txt = |v: Option<&String>| v.cloned().unwrap_or_default();
    f.field(Field::new("title", "Title", Kind::Text).value(p.map(|p| p.title.clone()).unwrap_or_default()).required())
        .field(Field::new("description", "Description", Kind::Area).value(txt(p.and_then(|p| p.description.as_ref()))))
        .field(
            Field::new("logoUrl", "Logo", Kind::Text)
                .value(txt(p.and_then(|p| p.logo_url.as_ref())))
                .hint("A web address (https) or a path on this server"),
        )
        .field(
            Field::new("links", "Header links (JSON)", Kind::Json)
                .value(serde_json::to_string_pretty(&links).unwrap_or_default())
                .hint(r#"A list of {"title", "url"}"#),
        )
        .field(Field::new("footer", "Footer", Kind::Text).value(txt(p.and_then(|p| p.footer.as_ref()))))
        .field(
            Field::new("customDomain", "Custom domain", Kind::Text)
                .value(txt(p.and_then(|p| p.custom_domain.as_ref())))
                .hint("A host name that shows this page at its root, e.g. status.example.com"),
        )
        .field(
            Field::new("groups", "Groups shown (JSON)", Kind::Json)
                .value(serde_json::to_string_pretty(&groups).unwrap_or_default())
                .hint(r#"A list of {"group"} (and "organization" on a page across organizations); empty: all"#),
        )
        .field(
            Field::new("emailChannelId", "Email channel for subscribers (id)", Kind::Number)
                .value(p.and_then(|p| p.email_channel_id).map(|i| i.to_string()).unwrap_or_default())
                .empty_null()
                .hint("An email channel of the notifications page; without one, no email subscription"),
        )
        .field(Field::new("default", "The page / shows", Kind::Bool).value(if p.is_some_and(|p| p.is_default) {
            "true"
        } else {
            "false"
        }))
        .field(
            Field::new("organization", "Organization", Kind::Text)
                .value(p.map_or(org.to_string(), |p| p.organization.clone().unwrap_or_default()))
                .hint("Empty on a page across organizations")
                .empty_null(),
        )
}

/// Status pages (admin keys): each page's settings, its subscribers, and a
/// form for a new page.
async fn pages_section(s: &AppState, ui: &UiCaller, b: &mut String) -> Result<(), super::UiError> {
    let scope = &ui.caller.scope;
    let pages: Vec<_> = s
        .store
        .status_pages()
        .await?
        .into_iter()
        .filter(|p| p.organization.as_deref().map_or(*scope == nines_core::OrgScope::All, |o| scope.allows(o)))
        .collect();
    b.push_str(r#"<h2 id="pages">Status pages</h2><p class="hint">Every organization with public groups has a page at <code>/p/{organization}</code> until one is configured here. A page shows its organization's groups (or those listed), under its own title, links and domain.</p>"#);
    for p in &pages {
        let id = format!("page-{}", p.id);
        let subs = s.store.subscribers(p.id, false).await?;
        let (sent, waiting, failed) = s.store.page_delivery_counts(p.id).await?;
        let _ = write!(
            b,
            r#"<details class="box"><summary>{} <span class="sub"><a href="/p/{}">/p/{}</a>{} · {} subscriber{} · {sent} sent, {waiting} waiting, {failed} given up</span></summary>"#,
            esc(&p.title),
            esc(&p.slug),
            esc(&p.slug),
            p.custom_domain.as_deref().map(|d| format!(" · {}", esc(d))).unwrap_or_default(),
            subs.len(),
            if subs.len() == 1 { "" } else { "s" }
        );
        let path = format!("/api/v1/status-pages/{}", p.slug);
        b.push_str(&page_fields(Form::new(&id, "PUT", path.clone(), "Save the page"), Some(p), "").render());
        if !subs.is_empty() {
            b.push_str(r#"<table><thead><tr><th scope="col">Subscriber</th><th scope="col">Type</th><th scope="col">Confirmed</th><th scope="col"></th></tr></thead><tbody>"#);
            for sub in &subs {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&sub.target),
                    esc(&sub.kind),
                    if sub.confirmed_at.is_some() { "yes" } else { "waiting" },
                    Form::new(
                        &format!("{id}-sub-{}", sub.id),
                        "DELETE",
                        format!("{path}/subscribers/{}", sub.id),
                        "Remove"
                    )
                    .confirm("Remove this subscriber? Messages waiting for it go too.")
                    .danger()
                    .inline()
                    .render()
                );
            }
            b.push_str("</tbody></table>");
        }
        b.push_str(
            &Form::new(&format!("{id}-hook"), "POST", format!("{path}/subscribers"), "Add the webhook")
                .title("New webhook subscriber")
                .field(Field::new("type", "Type", Kind::Hidden).value("\"webhook\""))
                .field(
                    Field::new("url", "URL", Kind::Text).required().hint("Each public update is POSTed here, signed"),
                )
                .result("secret")
                .render(),
        );
        b.push_str(
            &Form::new(&format!("{id}-del"), "DELETE", path, "Delete the page")
                .confirm("Delete this status page with its subscribers?")
                .danger()
                .render(),
        );
        b.push_str("</details>");
    }
    let org = scope.as_option().unwrap_or_default().to_string();
    let f = page_fields(
        Form::new("page-new", "PUT", "/api/v1/status-pages/{slug}", "Create the page")
            .title("New status page")
            .field(Field::new("slug", "Slug", Kind::Text).required().hint("Its address: /p/{slug}; a-z, 0-9 and -")),
        None,
        &org,
    );
    b.push_str(&f.render().replace(
        r#"data-path="/api/v1/status-pages/{slug}""#,
        r#"data-path="/api/v1/status-pages/{slug}" data-path-from="slug""#,
    ));
    Ok(())
}
