//! HTTP routes, one module per domain.

pub mod apply;
pub mod audit;
pub mod certificates;
pub mod checks;
pub mod downtimes;
pub mod inventory;
pub mod keys;
pub mod maintenance;
pub mod notifications;
pub mod observability;
pub mod page;
pub mod push;
pub mod read;
pub mod report;
pub mod slo;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::atomic::Ordering;

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/health/report", post(push::health_report))
        .route("/api/v1/backup/report", post(push::backup_report))
        .route("/api/v1/storage/report", post(push::storage_report))
        .route("/api/v1/services/apply", post(apply::apply))
        .route("/api/v1/services", get(read::list_services).delete(apply::delete))
        .route("/api/v1/services/{id}", get(read::get_service))
        .route("/api/v1/hierarchy", get(read::hierarchy))
        .route("/api/v1/backups", get(read::backups))
        .route("/api/v1/storage", get(read::storage))
        .route("/api/v1/sla-groups", get(read::sla_groups))
        .route("/api/v1/services/{id}/slo", get(slo::service_slo).put(slo::set_service_slo))
        .route("/api/v1/services/{id}/slo/daily", get(slo::service_daily))
        .route("/api/v1/services/{id}/slo/buckets", get(slo::service_buckets))
        .route("/api/v1/whoami", get(slo::whoami))
        .route("/api/v1/services/{id}/openslo", get(slo::export_openslo))
        .route("/api/v1/openslo", post(slo::import_openslo))
        .route("/api/v1/maintenance", get(maintenance::list).post(maintenance::create))
        .route("/api/v1/maintenance/{id}", axum::routing::delete(maintenance::delete).put(maintenance::replace))
        .route("/api/v1/maintenance/{id}/end", post(maintenance::end))
        .route("/api/v1/maintenance/preview", post(maintenance::preview))
        .route("/api/v1/downtimes", get(downtimes::list).post(downtimes::create))
        .route("/api/v1/downtimes/{id}", get(downtimes::detail).patch(downtimes::patch))
        .route("/api/v1/downtimes/{id}/acknowledge", post(downtimes::acknowledge))
        .route("/api/v1/downtimes/{id}/postmortem", post(downtimes::postmortem))
        .route("/api/v1/downtimes/{id}/updates", get(downtimes::list_updates).post(downtimes::post_update))
        .route("/api/v1/notes/{id}", get(downtimes::get_note).put(downtimes::put_note))
        .route("/api/v1/activities", post(downtimes::activity))
        .route("/api/v1/certificates", get(certificates::list).post(certificates::report))
        .route("/api/v1/certificates/report", post(certificates::report))
        .route("/api/v1/certificates/{id}", get(certificates::detail).delete(certificates::delete))
        .route("/api/v1/checks", get(checks::list))
        .route("/api/v1/checks/{*id}", get(checks::detail))
        .route("/api/v1/agent/checks", get(checks::agent_checks))
        .route("/api/v1/agent/results", post(checks::agent_results))
        .route("/api/v1/agent/heartbeat", post(checks::agent_heartbeat))
        .route("/api/v1/agents", get(checks::list_agents))
        .route("/api/v1/sla-groups/{name}", axum::routing::put(slo::set_group_mode))
        .route("/api/v1/sla-groups/{name}/slo", get(slo::group_slo).put(slo::set_group_targets))
        .route("/api/v1/hierarchy/slo", get(slo::node_slo))
        .route("/api/v1/organizations/{org}/slo", get(slo::org_slo))
        .route("/api/v1/organizations/{org}/observability", get(observability::organization))
        .route("/api/v1/organizations/{org}/observability/labels", axum::routing::put(observability::set_labels))
        .route("/api/v1/observability/organizations", get(observability::organizations))
        .route("/api/v1/observability/refresh", post(observability::refresh))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/slo/overview", get(slo::overview))
        .route("/api/v1/slo/tiers", get(slo::tiers))
        .route("/api/v1/system-config", get(slo::list_config))
        .route("/api/v1/system-config/{key}", axum::routing::put(slo::set_config))
        .route("/api/v1/sla/report/generate", post(report::generate))
        .route("/api/v1/sla/reports", get(report::list))
        .route("/api/v1/sla/reports/{file}", get(report::download))
        .route("/metrics", get(metrics))
        .route("/api/v1/apikeys", get(keys::list).post(keys::create))
        .route("/api/v1/apikeys/{id}", axum::routing::delete(keys::revoke))
        .merge(notifications::routes())
        .merge(inventory::routes())
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let retry = [(axum::http::header::RETRY_AFTER, crate::error::RETRY_AFTER_SECONDS)];
    if !s.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, retry, "shutting down\n").into_response();
    }
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, retry, "database unreachable\n").into_response(),
    }
}

/// `/metrics` needs a key (Prometheus sends it as `Authorization: Bearer`);
/// an organization's key sees its own series, a key of every organization
/// all of them.
async fn metrics(State(s): State<AppState>, caller: crate::auth::Caller) -> axum::response::Response {
    // written in pieces as it is rendered: the series of 100,000 checks
    // are tens of megabytes, never held whole
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(2);
    let org = caller.scope.as_option().map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let send = |text: &mut String| {
            let piece = match &org {
                Some(org) => crate::metrics::only_organization(text, org),
                None => std::mem::take(text),
            };
            text.clear();
            // a client that went away ends the rendering
            tx.blocking_send(piece).is_ok()
        };
        let mut text = s.metrics.render();
        let mut gone = false;
        s.probes.render_metrics(&mut text, &mut |t: &mut String| {
            if !gone {
                gone = !send(t);
            }
            t.clear();
        });
        if !gone {
            send(&mut text);
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|piece| (Ok::<_, std::convert::Infallible>(piece), rx))
    });
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], axum::body::Body::from_stream(body))
        .into_response()
}

/// 405 in the error format, with `Allow` when the methods are known.
pub fn method_not_allowed_answer(
    method: &axum::http::Method,
    route: &str,
    allowed: &[&str],
) -> axum::response::Response {
    let takes = if allowed.is_empty() {
        "see /api/openapi.json".to_string()
    } else {
        format!("it takes {}", allowed.join(", "))
    };
    let mut r = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not an operation of {route}; {takes}"),
    )
    .into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&allowed.join(", "))
        && !allowed.is_empty()
    {
        r.headers_mut().insert(axum::http::header::ALLOW, v);
    }
    r
}

pub(crate) async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    method_not_allowed_answer(&method, uri.path(), &[])
}

/// Answers of the API that the framework wrote (a path segment that does
/// not parse, a missing content length, …) carry plain text; they get the
/// error format every other answer has, so a client reads one shape.
pub async fn error_format(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let api = req.uri().path().starts_with("/api/") || req.uri().path() == "/metrics";
    let r = next.run(req).await;
    let status = r.status();
    let plain = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !api || !(status.is_client_error() || status.is_server_error()) || !plain {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    // a path segment that does not parse is a bad parameter, like any other (422)
    let path_segment = status == StatusCode::BAD_REQUEST && (text.contains("path") || text.contains("parse"));
    let status = if path_segment { StatusCode::UNPROCESSABLE_ENTITY } else { status };
    let (code, field) = match status {
        _ if path_segment => ("invalid_value", Some("path")),
        StatusCode::BAD_REQUEST => ("bad_request", None),
        StatusCode::NOT_FOUND => ("not_found", None),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", None),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", None),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", None),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers_too_large", None),
        s if s.is_server_error() => ("internal", None),
        _ => ("bad_request", None),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let mut e = ApiError::new(status, code, message);
    if let Some(f) = field {
        e = e.field(f);
    }
    let mut out = e.into_response();
    for (k, v) in parts
        .headers
        .iter()
        .filter(|(k, _)| *k != axum::http::header::CONTENT_TYPE && *k != axum::http::header::CONTENT_LENGTH)
    {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    out
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}
