//! The operations dashboard under `/ui`: hierarchy tree, service pages, the
//! Backup, Storage, SLO, downtime and maintenance views, live updates.
//!
//! Every figure comes from the functions the JSON API uses (most pages call
//! the API handlers themselves with the caller's key), so the dashboard and
//! the API cannot disagree. Pages are HTML written here with every outside
//! value through [`esc`]; the stylesheet and a small script are compiled in,
//! so the dashboard works without internet access.
//!
//! Access: an `X-API-Key` header, or a session cookie from the login page
//! ([`session`]). What does not live here: the public status page
//! (`web::public`), the arithmetic (`crate::slo`, `nines_core`).

mod admin;
mod agents;
mod certificates;
mod chart;
pub mod cookie;
pub mod forms;
mod groups;
mod live;
mod notifications;
mod organization;
mod pages;
pub mod session;
mod signin;
mod widgets;

pub use chart::response_time_chart_svg;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::fmt::Write;
use std::time::Instant;

use super::html::esc;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Every item of an API list, page after page: the dashboard shows lists
/// whole. `query` holds the list's own filters (URL-encoded), if any.
pub(crate) async fn every<T, F, Fut>(query: &str, mut list: F) -> Result<Vec<T>, ApiError>
where
    F: FnMut(axum::extract::RawQuery) -> Fut,
    Fut: Future<Output = Result<axum::Json<nines_core::wire::Page<T>>, ApiError>>,
{
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("limit={}", crate::api::page::MAX_LIMIT);
        if !query.is_empty() {
            q = format!("{query}&{q}");
        }
        if let Some(c) = &cursor {
            // a cursor is base64url: safe in a query as it is
            q = format!("{q}&cursor={c}");
        }
        let page = list(axum::extract::RawQuery(Some(q))).await?.0;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::tree))
        .route("/ui/services/{id}", get(pages::service))
        .route("/ui/services/new", get(pages::new_service))
        .route("/ui/backups", get(pages::backups))
        .route("/ui/storage", get(pages::storage))
        .route("/ui/slo", get(pages::slo))
        .route("/ui/organizations/{org}", get(organization::organization))
        .route("/ui/downtimes", get(pages::downtimes))
        .route("/ui/downtimes/{id}", get(pages::downtime))
        .route("/ui/downtimes/{id}/postmortem", post(pages::create_postmortem))
        .route("/ui/notes/{id}", get(pages::note).post(pages::save_note))
        .route("/ui/maintenance", get(pages::maintenance))
        .route("/ui/agents", get(agents::agents))
        .route("/ui/certificates", get(certificates::certificates))
        .route("/ui/admin", get(admin::admin))
        .route("/ui/groups", get(groups::groups))
        .route("/ui/notifications", get(notifications::page))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/login/oidc", get(signin::start))
        .route("/ui/login/oidc/callback", get(signin::callback))
        .route("/ui/session/organization", post(signin::switch_organization))
        .route("/ui/events", get(live::events))
        .route("/ui/assets/{name}", get(asset))
}

const CSS: &str = include_str!("../../../assets/dashboard/dashboard.css");
const JS: &str = include_str!("../../../assets/dashboard/dashboard.js");

async fn asset(Path(name): Path<String>) -> Response {
    let (body, ty) = match name.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    };
    ([(header::CONTENT_TYPE, ty), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// The caller of a dashboard request: an API key in the headers, or a
/// session cookie. Without either, pages redirect to the login page.
pub struct UiCaller {
    pub caller: Caller,
    /// Signed in through the login page (shows the logout button).
    pub session: bool,
    /// Signed in through the OpenID Connect provider: who, and their
    /// organizations (the header offers to switch among them).
    pub person: Option<nines_store::ui::PersonSession>,
}

impl FromRequestParts<AppState> for UiCaller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Response> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            let session =
                !parts.headers.contains_key("x-api-key") && !parts.headers.contains_key(header::AUTHORIZATION);
            let person = parts.extensions.get::<nines_store::ui::PersonSession>().cloned();
            return Ok(UiCaller { caller: caller.clone(), session, person });
        }
        // `router::authorize` found no key and no live session: sign in
        if parts.uri.path() == "/ui/events" {
            // an event stream cannot follow a login page: fail it for good
            return Err(UiError(ApiError::unauthorized("sign in again").field("Cookie")).into_response());
        }
        let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ui");
        let to = format!("/ui/login?next={}", cookie::url_encode(next));
        Err((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response())
    }
}

/// An API error shown as a page (the API's message, HTML-escaped).
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError(e)
    }
}

impl From<nines_store::Error> for UiError {
    fn from(e: nines_store::Error) -> Self {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body = String::new();
        let _ = write!(
            body,
            r#"<h1>{} {}</h1><p class="error" role="alert">{}</p><p><a href="/ui">Back to the hierarchy</a></p>"#,
            e.status.as_u16(),
            esc(e.status.canonical_reason().unwrap_or("error")),
            esc(&e.message)
        );
        let head = Head { title: "Error", nav: Nav::None, caller: None, live_after: None };
        let mut r = html(layout(&head, &body), Instant::now());
        *r.status_mut() = e.status;
        r
    }
}

pub type Page = Result<Response, UiError>;

/// Which tab of the navigation is current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Tree,
    Slo,
    Backups,
    Storage,
    Downtimes,
    Maintenance,
    Agents,
    Certificates,
    Groups,
    Notifications,
    Admin,
    None,
}

pub struct Head<'a> {
    pub title: &'a str,
    pub nav: Nav,
    pub caller: Option<&'a UiCaller>,
    /// Transition cursor the page was rendered at: turns on live updates.
    pub live_after: Option<i64>,
}

/// The frame of every page: skip link, navigation, main landmark, live region.
pub fn layout(h: &Head, main: &str) -> String {
    let mut s = String::with_capacity(main.len() + 2048);
    s.push_str(r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">"#);
    let _ = write!(s, "<title>{} · nines</title>", esc(h.title));
    s.push_str(r#"<link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/assets/dashboard.css"><script src="/ui/assets/dashboard.js" defer></script></head>"#);
    match h.live_after {
        Some(c) => {
            let _ = write!(s, r#"<body data-live-after="{c}">"#);
        }
        None => s.push_str("<body>"),
    }
    s.push_str(r##"<a class="skip" href="#main">Skip to content</a><header class="top"><a class="brand" href="/ui">nines</a>"##);
    if h.nav != Nav::None || h.caller.is_some() {
        s.push_str(r#"<nav aria-label="Dashboard"><ul>"#);
        for (nav, href, label) in [
            (Nav::Tree, "/ui", "Hierarchy"),
            (Nav::Slo, "/ui/slo", "SLO overview"),
            (Nav::Backups, "/ui/backups", "Backups"),
            (Nav::Storage, "/ui/storage", "Storage"),
            (Nav::Downtimes, "/ui/downtimes", "Downtimes"),
            (Nav::Maintenance, "/ui/maintenance", "Maintenance"),
            (Nav::Agents, "/ui/agents", "Agents"),
            (Nav::Certificates, "/ui/certificates", "Certificates"),
            (Nav::Groups, "/ui/groups", "Groups"),
            (Nav::Notifications, "/ui/notifications", "Notifications"),
            (Nav::Admin, "/ui/admin", "Admin"),
        ] {
            // what a key cannot open is not offered
            let role = h.caller.map(|c| c.caller.role);
            let admin_only = matches!(nav, Nav::Notifications | Nav::Admin);
            if admin_only && role != Some(nines_core::Role::Admin) {
                continue;
            }
            if nav == Nav::Groups && !matches!(role, Some(nines_core::Role::Admin | nines_core::Role::Operator)) {
                continue;
            }
            let cur = if nav == h.nav { r#" aria-current="page""# } else { "" };
            let _ = write!(s, r#"<li><a href="{href}"{cur}>{label}</a></li>"#);
        }
        s.push_str("</ul></nav>");
    }
    if let Some(c) = h.caller {
        let org = c.caller.scope.as_option().unwrap_or("every organization");
        match &c.person {
            // a person with several organizations looks at one at a time
            Some(p) if p.memberships.len() > 1 => {
                let _ = write!(
                    s,
                    r#"<div class="who"><span id="who-name"><strong>{}</strong></span><form method="post" action="/ui/session/organization" class="org-switch"><label for="org-switch">Organization</label><select id="org-switch" name="organization">"#,
                    esc(&c.caller.key_name)
                );
                for (o, role) in &p.memberships {
                    let label = if o == "*" { "every organization" } else { o.as_str() };
                    let sel = if *o == p.active_org { " selected" } else { "" };
                    let _ = write!(s, r#"<option value="{}"{sel}>{} ({})</option>"#, esc(o), esc(label), role.as_str());
                }
                s.push_str(r#"</select><button type="submit">Switch</button></form>"#);
            }
            Some(_) => {
                let _ = write!(
                    s,
                    r#"<div class="who"><span id="who-name"><strong>{}</strong> · {} ({})</span>"#,
                    esc(&c.caller.key_name),
                    esc(org),
                    c.caller.role.as_str()
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<div class="who"><span>Key <strong>{}</strong> · {}</span>"#,
                    esc(&c.caller.key_name),
                    esc(org)
                );
            }
        }
        if h.live_after.is_some() {
            s.push_str(r#" <span id="live-state" class="lbl st-unknown">connecting…</span>"#);
        }
        if c.session {
            s.push_str(r#"<form method="post" action="/ui/logout"><button type="submit">Sign out</button></form>"#);
        }
        s.push_str("</div>");
    }
    s.push_str(r#"</header><main id="main" tabindex="-1">"#);
    s.push_str(main);
    s.push_str(r#"</main><div id="live" class="sr-only" aria-live="polite"></div></body></html>"#);
    s
}

/// An HTML response with the headers every dashboard page carries; the
/// server time since `t0` goes into `Server-Timing` (the benchmark reads it).
pub fn html(body: String, t0: Instant) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    let dur = t0.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={dur:.2}")) {
        h.insert("server-timing", v);
    }
    r
}

/// A 303 to `to` (after a form post).
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// Form posts made with a session cookie must come from this origin
/// (SameSite=Strict already keeps the cookie off cross-site requests; this
/// is the second lock).
pub fn same_origin(headers: &axum::http::HeaderMap) -> Result<(), UiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    if origin_host == host {
        Ok(())
    } else {
        Err(UiError(ApiError::forbidden("cross-origin form post refused").field("Origin")))
    }
}
