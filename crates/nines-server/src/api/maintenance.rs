//! Maintenance windows: announce, list (with upcoming occurrences), delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nines_core::clock::rfc3339;
use nines_core::slo::Span;
use nines_core::wire::ErrorBody;
use nines_core::{FieldError, OrgScope};
use nines_store::maintenance::MaintenanceRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewMaintenance {
    pub title: String,
    pub description: Option<String>,
    #[serde(default)]
    pub service_ids: Vec<i64>,
    #[serde(default)]
    pub sla_groups: Vec<String>,
    /// Hierarchy paths or prefixes (`myorg/platform/prod`).
    #[serde(default)]
    pub node_ids: Vec<String>,
    /// One-off: RFC 3339 start and end.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// Recurring: a cron expression (minute hour day month weekday) …
    pub cron: Option<String>,
    /// … each occurrence lasting this long …
    pub duration_minutes: Option<i64>,
    /// … in this time zone (IANA name; default UTC).
    pub time_zone: Option<String>,
    /// Default false: planned work stays out of the SLA.
    #[serde(default)]
    pub counts_towards_sla: bool,
    /// For keys that span every organization.
    pub organization: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub window: MaintenanceRow,
    /// Occurrences in the next 30 days (and the current one).
    pub upcoming: Vec<(String, String)>,
    pub active: bool,
}

fn view(m: MaintenanceRow, now: i64) -> MaintenanceView {
    let upcoming = crate::maintenance::spans(&m, Span { from: now, to: now + 30 * 86_400_000 })
        .into_iter()
        .take(50)
        .map(|s| (rfc3339(s.from), rfc3339(s.to)))
        .collect();
    let active = !crate::maintenance::spans(&m, Span { from: now, to: now + 1 }).is_empty();
    MaintenanceView { window: m, upcoming, active }
}

/// Announce a maintenance window, one-off or recurring
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "maintenance", request_body = NewMaintenance,
    responses((status = 201, body = MaintenanceView), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewMaintenance>,
) -> ApiResult<(StatusCode, Json<MaintenanceView>)> {
    let org = match (&caller.scope, &b.organization) {
        (_, Some(o)) => {
            caller.require_org(o, "organization")?;
            o.clone()
        }
        (OrgScope::One(o), None) => o.clone(),
        (OrgScope::All, None) => {
            return Err(FieldError::missing("organization")
                .with_reason("this key spans every organization: name one")
                .into());
        }
    };
    let t = |v: &Option<String>, f: &str| -> ApiResult<Option<i64>> {
        v.as_deref()
            .map(|x| nines_core::clock::parse_rfc3339(x).map_err(|r| ApiError::from(FieldError::invalid(f, r))))
            .transpose()
    };
    let now = s.clock.now_ms();
    let m = MaintenanceRow {
        id: 0,
        organization: org,
        title: b.title.trim().to_string(),
        description: b.description.clone(),
        service_ids: b.service_ids.clone(),
        sla_groups: b.sla_groups.clone(),
        node_ids: b.node_ids.clone(),
        starts_at: t(&b.starts_at, "startsAt")?,
        ends_at: t(&b.ends_at, "endsAt")?,
        cron: b.cron.clone(),
        duration_minutes: b.duration_minutes,
        time_zone: b.time_zone.clone(),
        counts_towards_sla: b.counts_towards_sla,
        created_at: now,
    };
    crate::maintenance::validate(&m).map_err(ApiError::from)?;
    // another organization's service or SLA group is answered as a missing one
    for (i, id) in m.service_ids.iter().enumerate() {
        let rec = s.store.get_service(*id).await?.filter(|r| r.view.organization == m.organization);
        if rec.is_none() {
            return Err(FieldError::invalid(format!("serviceIds[{i}]"), format!("no service {id}")).into());
        }
    }
    if !m.sla_groups.is_empty() {
        let known = s.store.sla_groups(Some(&m.organization)).await?;
        for (i, g) in m.sla_groups.iter().enumerate() {
            if !known.iter().any(|k| &k.name == g) {
                return Err(FieldError::invalid(format!("slaGroups[{i}]"), format!("no SLA group {g:?}")).into());
            }
        }
    }
    let id = s.store.create_maintenance(&m).await?;
    Ok((StatusCode::CREATED, Json(view(MaintenanceRow { id, ..m }, now))))
}

/// List maintenance windows with their upcoming occurrences
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "maintenance", responses((status = 200, body = [MaintenanceView])), security(("api_key" = [])))]
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<MaintenanceView>>> {
    let now = s.clock.now_ms();
    Ok(Json(s.store.list_maintenance(caller.scope.as_option()).await?.into_iter().map(|m| view(m, now)).collect()))
}

/// Delete a maintenance window
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "maintenance", params(("id" = i64, Path, description = "Window id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    let found = s.store.list_maintenance(caller.scope.as_option()).await?.into_iter().any(|m| m.id == id);
    if !found || !s.store.delete_maintenance(id).await? {
        return Err(ApiError::not_found(format!("no maintenance window {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
