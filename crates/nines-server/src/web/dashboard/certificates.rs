//! The certificates page: every certificate of the caller's organization
//! (all of them for a key of every organization), soonest expiry first, each
//! row an anchor (`#cert-{id}`) that certificate notifications link to.

use axum::extract::State;
use nines_core::CertificateStatus;
use std::fmt::Write;
use std::time::Instant;

use super::widgets::{label, opt_time};
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::web::html::esc;

fn status_label(s: CertificateStatus) -> String {
    match s {
        CertificateStatus::Ready => label("ok", "✔", "Ready"),
        CertificateStatus::Pending => label("muted", "…", "Pending"),
        CertificateStatus::ExpiringSoon => label("warn", "▲", "Expiring soon"),
        CertificateStatus::Expired => label("bad", "✖", "Expired"),
        CertificateStatus::Failed => label("bad", "✖", "Failed"),
    }
}

pub async fn certificates(State(s): State<AppState>, ui: UiCaller) -> Page {
    let t0 = Instant::now();
    let now = s.clock.now_ms();
    let org = ui.caller.scope.as_option().map(str::to_string);
    let items = s.store.list_certificates(org.as_deref()).await?;
    let attention = items.iter().filter(|c| c.status_at(now) != CertificateStatus::Ready).count();
    let mut b = String::new();
    let _ = write!(
        b,
        r#"<h1>Certificates</h1><p>{} certificate{}, {} needing attention (expiring within 30 days, expired, failed or pending).</p>"#,
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        attention
    );
    if items.is_empty() {
        b.push_str(r#"<p class="empty">No certificates yet. The operator reports cert-manager certificates; <code>POST /api/v1/certificates/report</code> takes others.</p>"#);
    } else {
        b.push_str(r#"<table><thead><tr><th scope="col">Certificate</th><th scope="col">Node</th><th scope="col">State</th><th scope="col">Names</th><th scope="col">Not after</th><th scope="col">Issuer</th></tr></thead><tbody>"#);
        for c in &items {
            let name = if c.namespace.is_empty() { c.name.clone() } else { format!("{}/{}", c.namespace, c.name) };
            let not_after = c.not_after.map(nines_core::clock::rfc3339);
            let _ = write!(
                b,
                r#"<tr id="cert-{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                c.id,
                esc(&name),
                esc(&c.node_id),
                status_label(c.status_at(now)),
                esc(&c.dns_names.join(", ")),
                opt_time(not_after.as_deref()),
                esc(c.issuer_name.as_deref().unwrap_or("—"))
            );
        }
        b.push_str("</tbody></table>");
    }
    let head = Head { title: "Certificates", nav: Nav::Certificates, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}
