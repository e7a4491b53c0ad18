//! Maintenance windows: announce, list (with upcoming occurrences), delete.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use nines_core::clock::rfc3339;
use nines_core::slo::Span;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, OrgScope};
use nines_store::maintenance::MaintenanceRow;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
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
    /// What status pages show as the window's title (the `title` stays
    /// internal); without one they say "Planned maintenance".
    pub public_title: Option<String>,
    /// What status pages show below it.
    pub public_description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub window: MaintenanceRow,
    /// Occurrences in the next 30 days (and the current one), each a pair
    /// `[start, end]` of RFC 3339 times.
    #[schema(value_type = Vec<Vec<String>>)]
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

/// A public text: trimmed, empty as none, at most `max` characters.
fn public_text(v: &Option<String>, field: &str, max: usize) -> ApiResult<Option<String>> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max => {
            Err(FieldError::invalid(field, format!("at most {max} characters, got {}", t.chars().count())).into())
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// The window a body describes, checked: times, schedule, and that its
/// services and SLA groups are the organization's.
async fn build(s: &AppState, caller: &Caller, b: &NewMaintenance, now: i64) -> ApiResult<MaintenanceRow> {
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
        public_title: public_text(&b.public_title, "publicTitle", 200)?,
        public_description: public_text(&b.public_description, "publicDescription", 4000)?,
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
    Ok(m)
}

/// Announce a maintenance window, one-off or recurring
///
/// One-off windows name `startsAt` and `endsAt`; recurring ones a `cron`
/// schedule, `durationMinutes` and a `timeZone`. The answer lists the
/// occurrences of the next 30 days.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "maintenance", request_body = NewMaintenance,
    responses((status = 201, body = MaintenanceView), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewMaintenance>,
) -> ApiResult<(StatusCode, Json<MaintenanceView>)> {
    let now = s.clock.now_ms();
    let m = build(&s, &caller, &b, now).await?;
    let id = s.store.create_maintenance(&m).await?;
    Ok((StatusCode::CREATED, Json(view(MaintenanceRow { id, ..m }, now))))
}

/// Preview a maintenance window's occurrences without saving it
///
/// The same checks as creating one; the answer's `upcoming` lists the
/// occurrences of the next 30 days.
#[utoipa::path(post, path = "/api/v1/maintenance/preview", tag = "maintenance", request_body = NewMaintenance,
    responses((status = 200, body = MaintenanceView), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn preview(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewMaintenance>,
) -> ApiResult<Json<MaintenanceView>> {
    let now = s.clock.now_ms();
    Ok(Json(view(build(&s, &caller, &b, now).await?, now)))
}

async fn owned(s: &AppState, caller: &Caller, id: i64) -> ApiResult<MaintenanceRow> {
    s.store
        .list_maintenance(caller.scope.as_option())
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no maintenance window {id}")))
}

/// Replace a maintenance window
///
/// The body is a whole window, as when creating one; its organization
/// stays. Past occurrences change with it, and so do the SLO figures they
/// touched.
#[utoipa::path(put, path = "/api/v1/maintenance/{id}", tag = "maintenance", request_body = NewMaintenance,
    params(("id" = i64, Path, description = "Window id")),
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn replace(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(mut b): JsonBody<NewMaintenance>,
) -> ApiResult<Json<MaintenanceView>> {
    let old = owned(&s, &caller, id).await?;
    b.organization = Some(old.organization.clone());
    let now = s.clock.now_ms();
    let m = MaintenanceRow { id, created_at: old.created_at, ..build(&s, &caller, &b, now).await? };
    if !s.store.update_maintenance(&m).await? {
        return Err(ApiError::not_found(format!("no maintenance window {id}")));
    }
    Ok(Json(view(m, now)))
}

/// End a one-off maintenance window now
///
/// For a window that is active: it ends at once, and its services return
/// to their own status. A recurring window is edited or deleted instead.
#[utoipa::path(post, path = "/api/v1/maintenance/{id}/end", tag = "maintenance",
    params(("id" = i64, Path, description = "Window id")),
    responses((status = 200, body = MaintenanceView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn end(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<MaintenanceView>> {
    let mut m = owned(&s, &caller, id).await?;
    let now = s.clock.now_ms();
    if m.cron.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a recurring window has no end to bring forward: edit its schedule or delete it",
        ));
    }
    if !view(m.clone(), now).active {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the window is not active: nothing to end"));
    }
    m.ends_at = Some(now);
    s.store.update_maintenance(&m).await?;
    Ok(Json(view(m, now)))
}

/// List maintenance windows with their upcoming occurrences
///
/// Every window of the key's organization (one-off and recurring) with what it
/// covers (services, SLA groups, hierarchy nodes), whether it is active now,
/// and its occurrences in the next 30 days, the current one included (at most
/// 50).
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "maintenance", params(PageQuery),
    responses((status = 200, body = Page<MaintenanceView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<MaintenanceView>>> {
    let paging = page::only(q)?;
    let now = s.clock.now_ms();
    let rows = s.store.list_maintenance(caller.scope.as_option()).await?;
    Ok(Json(paging.page(rows, |m| m.id)?.map(|m| view(m, now))))
}

/// Delete a maintenance window
///
/// Removes the window with all its occurrences, past and future: its services
/// leave MAINTENANCE at once if it was active, and the SLO figures no longer
/// exclude its past occurrences (ending a window keeps them). 404 for a window
/// that does not exist or belongs to another organization.
#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "maintenance", params(("id" = i64, Path, description = "Window id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    let found = s.store.list_maintenance(caller.scope.as_option()).await?.into_iter().any(|m| m.id == id);
    if !found || !s.store.delete_maintenance(id).await? {
        return Err(ApiError::not_found(format!("no maintenance window {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}
