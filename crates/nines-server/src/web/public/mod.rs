//! The public status page and its JSON API (status-service compatible).
//!
//! Only what is marked public is ever read into the page's snapshot: the
//! services named by status page groups and those marked public one by one,
//! each with the name and description given for the public — never node
//! names, report messages, or anything of other services. Everything served
//! here (HTML, JSON, badges, feed) is made from that snapshot, plus, for one
//! public service's day, its timeline.
//!
//! Layout: [`admin`] the API that decides what is public, [`snapshot`] the
//! data of the page, [`cache`] the current snapshot and how it is refreshed, [`output`] what a snapshot is
//! served as: [`render`] the HTML and badges, [`json`] the status-service
//! JSON, [`feed`] the Atom feed. Assets are
//! compiled in; the page needs nothing from the internet.

pub mod admin;
pub mod badges;
pub mod cache;
pub mod feed;
pub mod json;
pub mod output;
pub mod pages;
pub mod render;
pub mod snapshot;
pub mod subscribe;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use nines_core::slo::{DAY_MS, Span};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use cache::Cache;
use pages::Views;
use snapshot::{Snapshot, State as PageState};

const CSS: &str = include_str!("../../../assets/public/status.css");
const JS: &str = include_str!("../../../assets/public/status.js");

/// Day pages rendered for a snapshot version, a few at a time, by page.
#[derive(Default)]
pub struct DayPages(Mutex<HashMap<(pages::ViewKey, i64), (u64, Bytes)>>);

/// The path parameters of a public route: the page's `slug` when the route
/// is under `/p/{slug}`, and the others (`id`, `day`, `file`).
pub struct Sel(HashMap<String, String>);

impl Sel {
    fn slug(&self) -> Option<&str> {
        self.0.get("slug").map(String::as_str)
    }
    fn get(&self, k: &str) -> &str {
        self.0.get(k).map_or("", String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Sel {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // a route without parameters (`/`, `/status`) has none to read
        let m =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await.map(|p| p.0).unwrap_or_default();
        Ok(Sel(m))
    }
}

/// Every public route, at the root (the default page, or the page of the
/// request's custom domain) and under `/p/{slug}`.
pub fn routes() -> Router<AppState> {
    let cache = Arc::new(Cache::new());
    let days = Arc::new(DayPages::default());
    let views = Arc::new(Views::default());
    let badge_cache = Arc::new(badges::BadgeCache::default());
    let mut r = Router::new()
        .route("/", get(page))
        .route("/status-page", get(page))
        .route("/p/{slug}", get(page))
        .route("/status-page/assets/{file}", get(asset))
        .route("/badge/service/{file}", get(service_badge))
        .route("/badge/service/{id}/{file}", get(badges::service))
        .route("/badge/group/{file}", get(group_badge))
        .route("/api/v1/status-page/groups", get(admin::list_groups))
        .route("/api/v1/status-page/groups/{name}", put(admin::put_group).delete(admin::delete_group))
        .route("/api/v1/services/{id}/public", put(admin::put_public))
        .route("/api/v1/status-pages", get(pages::list_pages))
        .route("/api/v1/status-pages/{slug}", get(pages::get_page).put(pages::put_page).delete(pages::delete_page))
        .route(
            "/api/v1/status-pages/{slug}/subscribers",
            get(subscribe::list_subscribers).post(subscribe::add_subscriber),
        )
        .route("/api/v1/status-pages/{slug}/subscribers/{id}", axum::routing::delete(subscribe::delete_subscriber));
    // the page's own routes, at the root and under its slug
    for p in ["", "/p/{slug}"] {
        r = r
            .route(&format!("{p}/status-page/group/{{id}}"), get(group_page))
            .route(&format!("{p}/status-page/day/{{day}}"), get(day_page))
            .route(&format!("{p}/status"), get(status_json))
            .route(&format!("{p}/status/currentState"), get(current_state))
            .route(&format!("{p}/status/{{id}}"), get(day_incidents))
            .route(&format!("{p}/badge/{{file}}"), get(badges::page))
            .route(&format!("{p}/feed.atom"), get(feed_atom))
            .route(&format!("{p}/subscribe"), post(subscribe::subscribe))
            .route(&format!("{p}/subscribe/confirm"), get(subscribe::confirm_page).post(subscribe::confirm))
            .route(&format!("{p}/unsubscribe"), get(subscribe::unsubscribe_page).post(subscribe::unsubscribe));
    }
    r.layer(Extension(cache)).layer(Extension(days)).layer(Extension(views)).layer(Extension(badge_cache))
}

/// The snapshot of the page a request is for.
async fn page_snap(
    s: &AppState,
    cache: &Arc<Cache>,
    views: &Views,
    sel: &Sel,
    headers: &HeaderMap,
) -> ApiResult<Arc<Snapshot>> {
    pages::view(s, cache, views, sel.slug(), headers).await
}

async fn snap(s: &AppState, cache: &Arc<Cache>) -> ApiResult<Arc<Snapshot>> {
    Ok(cache.get(s).await?)
}

fn timing(t: Instant) -> (header::HeaderName, HeaderValue) {
    let v = format!("app;dur={:.3}", t.elapsed().as_secs_f64() * 1000.0);
    (
        header::HeaderName::from_static("server-timing"),
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("app")),
    )
}

fn respond(
    t: Instant,
    ctype: &'static str,
    cache_control: &'static str,
    etag: Option<String>,
    body: Bytes,
) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    if let Some(e) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, e);
    }
    if ctype == HTML {
        // the dashboard's session cookie reaches these pages too: nothing
        // but nines' own script may run on them
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    let (k, v) = timing(t);
    h.insert(k, v);
    r
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|x| x.trim() == etag))
}

const HTML: &str = "text/html; charset=utf-8";

type Views_ = Extension<Arc<Views>>;

async fn page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    let etag = snap.etag();
    if not_modified(&headers, &etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    let mut r = respond(t, HTML, "no-cache", Some(etag), snap.page().clone());
    // the time the snapshot served took to build, beside this request's own
    let v = format!("app;dur={:.3}, build;dur={:.1}", t.elapsed().as_secs_f64() * 1000.0, snap.build_ms);
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::HeaderName::from_static("server-timing"), v);
    }
    Ok(r)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupQuery {
    page: Option<usize>,
    fragment: Option<u8>,
}

async fn group_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let t = Instant::now();
    let q: GroupQuery = crate::extract::parse_query(q)?;
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    let id = sel.get("id");
    let b = id.parse::<i64>().ok().and_then(|id| snap.blocks.iter().find(|b| b.id == id));
    let b = b.ok_or_else(|| ApiError::not_found(format!("no public group {id:?} on this page")))?;
    let html = render::group_page(&snap, b, q.page.unwrap_or(1).saturating_sub(1), q.fragment == Some(1));
    Ok(respond(t, HTML, "no-cache", None, Bytes::from(html)))
}

fn parse_day(d: &str) -> Option<i64> {
    if d.len() != 10 {
        return None;
    }
    nines_core::clock::parse_rfc3339(&format!("{d}T00:00:00Z")).ok()
}

/// Every incident of the page's services on `day` (a day of the bar),
/// earliest first: the services whose day was not all operational, each
/// from its timeline.
async fn day_list(s: &AppState, snap: &Snapshot, day: i64) -> ApiResult<Vec<(usize, snapshot::Stretch)>> {
    let Some(k) = snap.day_index(day) else { return Ok(Vec::new()) };
    let w = Span { from: day, to: (day + DAY_MS).min(snap.now) };
    let mut out = Vec::new();
    for (i, it) in snap.items.iter().enumerate() {
        if !it.days[k].eventful {
            continue;
        }
        let w = Span { from: w.from.max(it.created_at).min(w.to), to: w.to };
        let (initial, trs) = s.store.timeline_window(it.service_id, w).await?;
        out.extend(snapshot::incidents(initial, &trs, w, snap.unknown_min_ms).into_iter().map(|st| (i, st)));
    }
    out.sort_by_key(|(i, st)| (st.from, *i));
    Ok(out)
}

async fn day_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    Extension(pages): Extension<Arc<DayPages>>,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    let d = sel.get("day");
    let day = parse_day(d)
        .filter(|day| snap.day_index(*day).is_some())
        .ok_or_else(|| ApiError::not_found(format!("{d:?} is not one of the last 90 days (YYYY-MM-DD, UTC)")))?;
    let key = ((snap.meta.slug.clone(), snap.meta.prefix.clone()), day);
    let hit = pages.0.lock().ok().and_then(|m| m.get(&key).filter(|(v, _)| *v == snap.version).map(|(_, b)| b.clone()));
    let body = match hit {
        Some(b) => b,
        None => {
            let list = day_list(&s, &snap, day).await?;
            let b = Bytes::from(render::day_page(&snap, day, &list));
            if let Ok(mut m) = pages.0.lock() {
                if m.len() > 100 {
                    m.clear();
                }
                m.insert(key, (snap.version, b.clone()));
            }
            b
        }
    };
    Ok(respond(t, HTML, "no-cache", None, body))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (ctype, body) = match file.as_str() {
        "status.css" => ("text/css; charset=utf-8", CSS),
        "status.js" => ("text/javascript; charset=utf-8", JS),
        _ => return ApiError::not_found(format!("no asset {file:?}")).into_response(),
    };
    // the URL carries the version, so a long cache is safe
    respond(Instant::now(), ctype, "public, max-age=86400", None, Bytes::from_static(body.as_bytes()))
}

async fn status_json(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    Ok(respond(t, "application/json", "no-cache", Some(snap.etag()), snap.status_json().clone()))
}

/// The worst current state of the page's services: `ok`, `warning` or
/// `error`, as a bare word (as the status-service answers).
async fn current_state(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    Ok(respond(
        t,
        "text/plain; charset=utf-8",
        "no-cache",
        None,
        Bytes::from_static(snap.overall().as_str().as_bytes()),
    ))
}

/// `GET /status/{column}.{service}`: that day's incidents (`current`: today).
async fn day_incidents(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<json::Incident>>> {
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    let id = sel.get("id");
    let unknown = || ApiError::not_found(format!("no public status column {id:?}")).field("id");
    let (col, sid) = id.rsplit_once('.').ok_or_else(unknown)?;
    let sid: i64 = sid.parse().map_err(|_| unknown())?;
    let item = snap.by_service.get(&sid).map(|i| &snap.items[*i]).ok_or_else(unknown)?;
    let day = if col == "current" {
        snap.now - snap.now.rem_euclid(DAY_MS)
    } else {
        col.parse::<i64>().map_err(|_| unknown())?
    };
    snap.day_index(day).ok_or_else(unknown)?;
    // nothing before the service existed is an incident
    let to = (day + DAY_MS).min(snap.now);
    let w = Span { from: day.max(item.created_at).min(to), to };
    let (initial, trs) = s.store.timeline_window(item.service_id, w).await?;
    Ok(Json(json::incidents(&snapshot::incidents(initial, &trs, w, snap.unknown_min_ms))))
}

fn svg(t: Instant, body: String) -> Response {
    respond(t, "image/svg+xml", "public, max-age=60", None, Bytes::from(body))
}

fn badge_id(file: &str) -> Option<i64> {
    file.strip_suffix(".svg")?.parse().ok()
}

async fn service_badge(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = snap(&s, &cache).await?;
    let it = badge_id(&file)
        .and_then(|id| snap.by_service.get(&id))
        .map(|i| &snap.items[*i])
        .ok_or_else(|| ApiError::not_found(format!("no public service badge {file:?}")))?;
    Ok(svg(t, render::badge("uptime", it.uptime(), PageState::of(it.status))))
}

async fn group_badge(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = snap(&s, &cache).await?;
    let b = badge_id(&file)
        .and_then(|id| snap.blocks.iter().find(|b| b.id == id))
        .ok_or_else(|| ApiError::not_found(format!("no public group badge {file:?}")))?;
    // the group's uptime: the mean of its services' (as the page shows it)
    let ups: Vec<f64> = b.shown.iter().filter_map(|sh| snap.items[sh.item].uptime()).collect();
    let mean = (!ups.is_empty()).then(|| ups.iter().sum::<f64>() / ups.len() as f64);
    let st = b.shown.iter().map(|sh| PageState::of(snap.items[sh.item].status)).max().unwrap_or(PageState::Ok);
    Ok(svg(t, render::badge("uptime", mean, st)))
}

async fn feed_atom(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Views_,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let snap = page_snap(&s, &cache, &views, &sel, &headers).await?;
    Ok(respond(t, "application/atom+xml; charset=utf-8", "no-cache", Some(snap.etag()), snap.feed().clone()))
}
