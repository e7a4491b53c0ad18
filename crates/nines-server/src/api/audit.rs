//! The audit log: who did what, when, through the API or the dashboard.

use axum::Json;
use axum::extract::{RawQuery, State};
use nines_core::clock::rfc3339;
use nines_core::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::read::parse_query;
use crate::auth::Caller;
use crate::error::ApiResult;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries (1 to 500, default 100).
    limit: Option<i64>,
    /// Entries older than this id (the `nextBefore` of the previous page).
    before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    /// Who acted: the person signed in through the identity provider (their user name), or the key's name.
    pub actor: String,
    pub key_id: String,
    /// The caller's organization, or `*` for a key of every organization.
    pub organization: String,
    pub role: String,
    /// `api` or `dashboard`.
    pub via: String,
    pub method: String,
    pub route: String,
    pub path: String,
    /// The HTTP status answered: a refused action is logged too.
    pub status: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next_before: Option<i64>,
}

/// List the audit log, newest first
///
/// Every write made with a key, through the API or the dashboard (reports
/// pushed by agents and cron jobs excepted), with its outcome. An admin key
/// of one organization sees the entries of that organization's keys.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery) -> ApiResult<Json<AuditPage>> {
    let q: AuditQuery = parse_query(q)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(nines_core::FieldError::invalid("limit", "from 1 to 500").into());
    }
    let rows = s.store.list_audit(caller.scope.as_option(), q.before, limit).await?;
    let next_before = (rows.len() as i64 == limit).then(|| rows.last().map(|r| r.id)).flatten();
    Ok(Json(AuditPage {
        items: rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: rfc3339(r.at),
                actor: r.actor,
                key_id: r.key_id,
                organization: r.organization,
                role: r.role,
                via: r.via,
                method: r.method,
                route: r.route,
                path: r.path,
                status: r.status,
            })
            .collect(),
        next_before,
    }))
}
