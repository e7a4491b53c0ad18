//! What is public, through the API: status page groups (the Kubernetes
//! operator writes one per StatusServiceGroup resource; `PUT` replaces the
//! group's whole membership) and the public flag of single services (shown
//! in the group "Default"). Operator or admin keys, scoped to their
//! organization.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, NodeId, OrgScope, check_name};
use nines_store::statuspage::{GroupMember, GroupRow};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use utoipa::ToSchema;

use super::cache::Cache;
use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;

const MAX_TEXT: usize = 200;
const MAX_DESCRIPTION: usize = 2000;
const MAX_MEMBERS: usize = 10_000;

/// `PUT /api/v1/status-page/groups/{name}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutGroup {
    /// Shown as the group's title.
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// Groups are shown by ascending position, then by name; without one, after those with one.
    pub position: Option<i64>,
    /// The whole membership (replaces the previous one).
    pub services: Option<Vec<PutMember>>,
    /// For keys that span every organization.
    pub organization: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutMember {
    /// `organization/platform/environment/cluster` of the service (or `unknown`).
    pub node_id: Option<String>,
    /// The service's name on that node.
    pub service: Option<String>,
    /// The name the public page shows instead.
    pub display_name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub node_id: String,
    pub service: String,
    pub display_name: String,
    pub description: Option<String>,
    /// The service it names, when that exists (only existing services are shown).
    pub service_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlaggedView {
    pub service_id: i64,
    pub display_name: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub organization: String,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub position: Option<i64>,
    pub services: Vec<MemberView>,
    /// Group "Default" only: the services marked public one by one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_services: Vec<FlaggedView>,
    /// Where the public page shows the group (its badge is `/badge/group/{id}.svg`).
    pub public_id: i64,
}

fn view(g: GroupRow) -> GroupView {
    GroupView {
        organization: g.organization,
        name: g.name,
        display_name: g.display_name,
        description: g.description,
        position: g.position,
        services: g
            .members
            .into_iter()
            .map(|m| MemberView {
                node_id: m.member.node_id,
                service: m.member.service,
                display_name: m.member.display_name,
                description: m.member.description,
                service_id: m.service_id,
            })
            .collect(),
        public_services: g
            .flagged
            .into_iter()
            .map(|f| FlaggedView { service_id: f.service_id, display_name: f.display_name, description: f.description })
            .collect(),
        public_id: g.id,
    }
}

/// The organization a request acts on: the key's own, or the one named.
pub(super) fn org_for(caller: &Caller, named: Option<&str>, field: &str) -> ApiResult<String> {
    match (&caller.scope, named) {
        (OrgScope::One(o), None) => Ok(o.clone()),
        (_, Some(n)) => {
            check_name(n).map_err(|r| FieldError::invalid(field, r))?;
            caller.require_org(n, field)?;
            Ok(n.to_string())
        }
        (OrgScope::All, None) => {
            Err(FieldError::missing(field).with_reason("this key spans every organization: name one").into())
        }
    }
}

/// A display text: trimmed, not empty when required, bounded.
pub(super) fn text(v: Option<&str>, field: &str, required: bool, max: usize) -> ApiResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") if required => Err(FieldError::missing(field).into()),
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max => {
            Err(FieldError::invalid(field, format!("must be at most {max} characters")).into())
        }
        Some(t) if t.chars().any(|c| c.is_control()) => {
            Err(FieldError::invalid(field, "must not contain control characters").into())
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// Organization, for keys that span every organization.
    organization: Option<String>,
}

/// Create or replace a status page group and its services
///
/// A group is a section of the public status page. The body replaces the whole
/// group: `displayName` (required, at most 200 characters), `description`,
/// `position` (ascending; groups without one come last) and `services`, the
/// whole membership, each naming a service by `nodeId` and `service` with the
/// `displayName` the page shows. Members may name services that do not exist
/// yet (they show once they do). The Kubernetes operator writes one group per
/// StatusServiceGroup resource. 201 when created, 200 when replaced; the public
/// page shows the change at once.
#[utoipa::path(
    put, path = "/api/v1/status-page/groups/{name}", tag = "status-page", request_body = PutGroup,
    params(("name" = String, Path, description = "Group name (unique in the organization)")),
    responses((status = 200, body = GroupView), (status = 201, body = GroupView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn put_group(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<PutGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    check_name(&name).map_err(|r| FieldError::invalid("name", r))?;
    let org = org_for(&caller, b.organization.as_deref(), "organization")?;
    let display = text(b.display_name.as_deref(), "displayName", true, MAX_TEXT)?.unwrap_or_default();
    let description = text(b.description.as_deref(), "description", false, MAX_DESCRIPTION)?;
    let list = b.services.as_deref().unwrap_or(&[]);
    if list.len() > MAX_MEMBERS {
        return Err(FieldError::invalid("services", format!("at most {MAX_MEMBERS} services in a group")).into());
    }
    let mut members = Vec::with_capacity(list.len());
    let mut seen = HashSet::new();
    for (i, m) in list.iter().enumerate() {
        let f = |x: &str| format!("services[{i}].{x}");
        let node_raw = m.node_id.as_deref().ok_or_else(|| ApiError::from(FieldError::missing(f("nodeId"))))?;
        let node = NodeId::parse(&f("nodeId"), node_raw)?;
        if let Some(o) = node.organization()
            && o != org
        {
            return Err(FieldError::invalid(f("nodeId"), format!("belongs to organization {o:?}, not {org:?}")).into());
        }
        let service = m.service.as_deref().ok_or_else(|| ApiError::from(FieldError::missing(f("service"))))?;
        check_name(service).map_err(|r| FieldError::invalid(f("service"), r))?;
        let display_name = text(m.display_name.as_deref(), &f("displayName"), true, MAX_TEXT)?.unwrap_or_default();
        let description = text(m.description.as_deref(), &f("description"), false, MAX_DESCRIPTION)?;
        if !seen.insert((node.to_string(), service.to_string())) {
            return Err(FieldError::invalid(format!("services[{i}]"), "names the same service twice").into());
        }
        members.push(GroupMember {
            node_id: node.to_string(),
            service: service.to_string(),
            display_name,
            description,
        });
    }
    let now = s.clock.now_ms();
    let created =
        s.store.put_status_group(&org, &name, &display, description.as_deref(), b.position, &members, now).await?;
    cache.invalidate();
    let g = s.store.status_groups(Some(&org)).await?.into_iter().find(|g| g.name == name);
    let g = g.ok_or_else(|| ApiError::internal("the group vanished after writing it"))?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view(g))))
}

/// List status page groups
///
/// Every group of the key's organization (a key of every organization sees all,
/// or one with `organization`) with its members, whether each names an existing
/// service, and the public id under which the page and the group badge show it.
/// Group "Default" also lists the services made public one by one.
#[utoipa::path(
    get, path = "/api/v1/status-page/groups", tag = "status-page", params(OrgQuery, PageQuery),
    responses((status = 200, body = Page<GroupView>), (status = 422, body = ErrorBody)), security(("api_key" = []))
)]
pub async fn list_groups(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<GroupView>>> {
    let (paging, q) = page::split(q)?;
    let q: OrgQuery = parse_query(q)?;
    let org = match (&caller.scope, q.organization.as_deref()) {
        (OrgScope::All, None) => None,
        (_, named) => Some(org_for(&caller, named, "organization")?),
    };
    let rows = s.store.status_groups(org.as_deref()).await?;
    Ok(Json(paging.page(rows, |g| (g.organization.clone(), g.name.clone()))?.map(view)))
}

/// Delete a status page group
///
/// Removes the group from the public status page; its services stay. A key of
/// every organization names the `organization`. 404 when the organization has
/// no such group.
#[utoipa::path(
    delete, path = "/api/v1/status-page/groups/{name}", tag = "status-page",
    params(("name" = String, Path, description = "Group name"), OrgQuery),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = []))
)]
pub async fn delete_group(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let q: OrgQuery = parse_query(q)?;
    let org = org_for(&caller, q.organization.as_deref(), "organization")?;
    if !s.store.delete_status_group(&org, &name).await? {
        return Err(ApiError::not_found(format!("no status page group {name:?}")));
    }
    cache.invalidate();
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/services/{id}/public`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutPublic {
    /// Show the service on the public page (group "Default") or stop showing it.
    pub public: Option<bool>,
    /// The name shown; default: the service's configured display name.
    pub display_name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicView {
    pub id: i64,
    pub public: bool,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// Show or hide a service on the public status page
///
/// `public: true` shows the service in the group "Default" under `displayName`
/// (default: the service's own display name; 422 when it has none) with an
/// optional `description`; `public: false` stops showing it. 404 for a service
/// the key cannot see.
#[utoipa::path(
    put, path = "/api/v1/services/{id}/public", tag = "status-page", request_body = PutPublic,
    params(("id" = i64, Path, description = "Service id")),
    responses((status = 200, body = PublicView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn put_public(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PutPublic>,
) -> ApiResult<Json<PublicView>> {
    let id: i64 = id.parse().map_err(|_| FieldError::invalid("id", format!("{id:?} is not a service id")))?;
    let rec = caller.visible(
        s.store.get_service(id).await?,
        |r| &r.view.organization,
        || format!("no service with id {id}"),
    )?;
    let public = b.public.ok_or_else(|| ApiError::from(FieldError::missing("public")))?;
    let description = text(b.description.as_deref(), "description", false, MAX_DESCRIPTION)?;
    let now = s.clock.now_ms();
    if !public {
        s.store.set_service_public(id, &rec.view.organization, None, now).await?;
        cache.invalidate();
        return Ok(Json(PublicView { id, public, display_name: None, description: None }));
    }
    let display = match text(b.display_name.as_deref(), "displayName", false, MAX_TEXT)? {
        Some(d) => d,
        None => rec.view.display_name.clone().filter(|d| !d.trim().is_empty()).ok_or_else(|| {
            ApiError::from(
                FieldError::missing("displayName")
                    .with_reason("the service has no display name: give the name the public page shows"),
            )
        })?,
    };
    s.store.set_service_public(id, &rec.view.organization, Some((&display, description.as_deref())), now).await?;
    cache.invalidate();
    Ok(Json(PublicView { id, public, display_name: Some(display), description }))
}
