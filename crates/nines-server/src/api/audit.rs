//! The audit log: who did what, when, through the API or the dashboard.

use axum::Json;
use axum::extract::{RawQuery, State};
use nines_core::FieldError;
use nines_core::clock::rfc3339;
use nines_core::wire::ErrorBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::parse_query;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries older than this id: the paging of the first audit API, kept
    /// for its clients (`cursor` does the same for every list).
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

/// A page of the audit log: the envelope of every list, and `nextBefore`,
/// which clients of the first audit API read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next (older) page; null on the last.
    pub next_cursor: Option<String>,
    /// The same position as a number, for `before`; null on the last page.
    pub next_before: Option<i64>,
}

/// List the audit log, newest first
///
/// Every write made with a key, through the API or the dashboard (reports
/// pushed by agents and cron jobs excepted), with its outcome. An admin key
/// of one organization sees the entries of that organization's keys.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "admin", params(AuditQuery, PageQuery),
    responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery) -> ApiResult<Json<AuditPage>> {
    let (paging, q) = page::split(q)?;
    let q: AuditQuery = parse_query(q)?;
    let before = match (paging.after::<i64>()?, q.before) {
        (Some(_), Some(_)) => return Err(FieldError::invalid("before", "give cursor or before, not both").into()),
        (cursor, before) => cursor.or(before),
    };
    let rows = s.store.list_audit(caller.scope.as_option(), before, paging.fetch()).await?;
    let page = paging.close(rows, |r| r.id);
    let next_before = page.next_cursor.as_ref().and_then(|_| page.items.last().map(|r| r.id));
    Ok(Json(AuditPage {
        next_cursor: page.next_cursor,
        next_before,
        items: page
            .items
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
    }))
}
