//! Badges: small SVG images of a figure, for READMEs and wikis.
//!
//! Per service (`/badge/service/{id}/{kind}.svg`, public services only)
//! and per page (`/badge/{kind}.svg` at the page's root, or
//! `/p/{slug}/badge/{kind}.svg`). Kinds:
//!
//! - `status`: the current state (`operational`, `degraded`, `down`);
//! - `uptime-24h`, `uptime-7d`, `uptime-30d`, `uptime-90d`: availability
//!   over the rolling window ending now, from the SLO engine (as
//!   `GET /api/v1/services/{id}/slo?window=…` computes it: maintenance and
//!   excluded downtimes per the service's policy); a page's is the mean of
//!   its services';
//! - `response`: the mean total time of the recent probe runs of the
//!   service's checks (as this replica ran them); a page's is the mean of
//!   its services that have checks.
//!
//! A figure is computed at most once a minute per service and kind.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use nines_core::slo::Span;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cache::Cache;
use super::pages::Views;
use super::render::{badge_with, percent};
use super::snapshot::State as PageState;
use super::{Sel, svg};
use crate::AppState;
use crate::config::SloConfig;
use crate::error::{ApiError, ApiResult};

const FRESH_FOR: Duration = Duration::from_secs(60);

/// What a badge shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Status,
    /// Availability over the last this many hours.
    Uptime(i64),
    Response,
}

impl Kind {
    pub fn parse(file: &str) -> Option<Kind> {
        Some(match file.strip_suffix(".svg")? {
            "status" => Kind::Status,
            "uptime-24h" => Kind::Uptime(24),
            "uptime-7d" => Kind::Uptime(7 * 24),
            "uptime-30d" => Kind::Uptime(30 * 24),
            "uptime-90d" => Kind::Uptime(90 * 24),
            "response" => Kind::Response,
            _ => return None,
        })
    }
    fn label(self) -> String {
        match self {
            Kind::Status => "status".into(),
            Kind::Uptime(h) if h < 48 => format!("uptime {h}h"),
            Kind::Uptime(h) => format!("uptime {}d", h / 24),
            Kind::Response => "response".into(),
        }
    }
}

/// A figure and when it was computed.
type Figure = (Instant, Option<f64>);

/// Figures computed lately, by service and kind.
#[derive(Default)]
pub struct BadgeCache(Mutex<HashMap<(i64, Kind), Figure>>);

fn unknown_kind(file: &str) -> ApiError {
    ApiError::not_found(format!(
        "no badge {file:?}: one of status, uptime-24h, uptime-7d, uptime-30d, uptime-90d, response (.svg)"
    ))
    .field("file")
}

/// A service's figure: availability (0..1) for uptime, milliseconds for response.
async fn figure(s: &AppState, cache: &BadgeCache, service_id: i64, kind: Kind) -> ApiResult<Option<f64>> {
    if let Some((at, v)) = cache.0.lock().ok().and_then(|m| m.get(&(service_id, kind)).copied())
        && at.elapsed() < FRESH_FOR
    {
        return Ok(v);
    }
    let v = match kind {
        Kind::Status => None,
        Kind::Uptime(hours) => {
            let Some(subj) = s.store.slo_subject(service_id).await? else { return Ok(None) };
            let cfg = SloConfig::load(&s.store).await?;
            let now = s.clock.now_ms();
            let w = Span { from: now - hours * 3_600_000, to: now };
            crate::slo::service_accounting(&s.store, &subj, w, &cfg).await?.availability()
        }
        Kind::Response => {
            // the engine's cached checks, not a read of every check
            let checks = s.probes.checks().await?;
            let mut times = Vec::new();
            for c in checks.of_service(service_id) {
                times.extend(s.probes.recent(&c.id).iter().map(|(_, r)| r.timings.total.as_secs_f64() * 1000.0));
            }
            (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64)
        }
    };
    if let Ok(mut m) = cache.0.lock() {
        if m.len() > 50_000 {
            m.clear();
        }
        m.insert((service_id, kind), (Instant::now(), v));
    }
    Ok(v)
}

fn value(kind: Kind, v: Option<f64>, st: PageState) -> String {
    match kind {
        Kind::Status => match st {
            PageState::Ok => "operational".into(),
            PageState::Warning => "degraded".into(),
            PageState::Error => "down".into(),
        },
        Kind::Uptime(_) => percent(v.map(|a| a * 100.0)),
        Kind::Response => v.map_or_else(|| "no data".into(), |ms| format!("{ms:.0} ms")),
    }
}

/// `GET /badge/service/{id}/{kind}.svg`.
pub async fn service(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(badges): Extension<Arc<BadgeCache>>,
    sel: Sel,
) -> ApiResult<Response> {
    let t = Instant::now();
    let file = sel.get("file");
    let kind = Kind::parse(file).ok_or_else(|| unknown_kind(file))?;
    let all = cache.get(&s).await?;
    let id = sel.get("id");
    let it = id
        .parse::<i64>()
        .ok()
        .and_then(|id| all.by_service.get(&id))
        .map(|i| &all.items[*i])
        .ok_or_else(|| ApiError::not_found(format!("no public service {id:?}")).field("id"))?;
    let v = figure(&s, &badges, it.service_id, kind).await?;
    let st = PageState::of(it.status);
    Ok(svg(t, badge_with(&kind.label(), &value(kind, v, st), st)))
}

/// `GET /badge/{kind}.svg` (the page's), `/p/{slug}/badge/{kind}.svg`.
pub async fn page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    Extension(badges): Extension<Arc<BadgeCache>>,
    sel: Sel,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let t = Instant::now();
    let file = sel.get("file");
    let kind = Kind::parse(file).ok_or_else(|| unknown_kind(file))?;
    let snap = super::page_snap(&s, &cache, &views, &sel, &headers).await?;
    let mut vals = Vec::new();
    if kind != Kind::Status {
        for it in &snap.items {
            if let Some(v) = figure(&s, &badges, it.service_id, kind).await? {
                vals.push(v);
            }
        }
    }
    let mean = (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64);
    let st = snap.overall();
    Ok(svg(t, badge_with(&kind.label(), &value(kind, mean, st), st)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_file_names() {
        assert_eq!(Kind::parse("uptime-7d.svg"), Some(Kind::Uptime(168)));
        assert_eq!(Kind::parse("status.svg"), Some(Kind::Status));
        assert_eq!(Kind::parse("uptime-7d"), None);
        assert_eq!(Kind::parse("uptime-1y.svg"), None);
        assert_eq!(Kind::Uptime(24).label(), "uptime 24h");
        assert_eq!(Kind::Uptime(720).label(), "uptime 30d");
        assert_eq!(value(Kind::Uptime(24), Some(0.99912), PageState::Ok), percent(Some(99.912)));
        assert_eq!(value(Kind::Response, Some(12.4), PageState::Ok), "12 ms");
    }
}
