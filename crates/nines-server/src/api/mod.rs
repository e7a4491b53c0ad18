//! HTTP routes, one module per domain.

pub mod apply;
pub mod certificates;
pub mod checks;
pub mod downtimes;
pub mod inventory;
pub mod keys;
pub mod maintenance;
pub mod notifications;
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
        .route("/api/openapi.json", get(openapi_json))
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
        .route("/api/v1/maintenance/{id}", axum::routing::delete(maintenance::delete))
        .route("/api/v1/downtimes", get(downtimes::list).post(downtimes::create))
        .route("/api/v1/downtimes/{id}", get(downtimes::detail).patch(downtimes::patch))
        .route("/api/v1/downtimes/{id}/acknowledge", post(downtimes::acknowledge))
        .route("/api/v1/downtimes/{id}/postmortem", post(downtimes::postmortem))
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
        .route("/api/v1/sla-groups/{name}/slo", get(slo::group_slo))
        .route("/api/v1/hierarchy/slo", get(slo::node_slo))
        .route("/api/v1/organizations/{org}/slo", get(slo::org_slo))
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
        .merge(crate::web::routes())
        .fallback(not_found)
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if !s.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n"),
    }
}

async fn openapi_json() -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::openapi::document_json())
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut text = s.metrics.render();
    s.probes.render_metrics(&mut text);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path()))
}
