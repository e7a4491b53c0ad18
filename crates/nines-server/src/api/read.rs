//! The read API: services, one service with its timeline, the hierarchy,
//! backups, storage, SLA groups. A key sees only its organization.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use nines_core::clock::parse_rfc3339;
use nines_core::wire::{
    BackupView, ErrorBody, HierarchyNode, HierarchyTree, Page, ServiceDetail, ServiceRef, ServiceView, SlaGroupView,
    StatusCounts, StorageView,
};
use nines_core::{FieldError, Status, UNKNOWN_NODE};
use nines_store::{ServiceFilter, ServiceRecord, transition_view};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::parse_query;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceQuery {
    /// A node path, or a prefix of whole segments (`myorg/platform`), or `unknown`.
    node_id: Option<String>,
    tag: Option<String>,
    /// OPERATIONAL, DEGRADED, DOWN, MAINTENANCE or UNKNOWN.
    status: Option<String>,
    sla_group: Option<String>,
}

fn org_of(caller: &Caller) -> Option<String> {
    caller.scope.as_option().map(str::to_string)
}

/// List the services the key's organization can see
///
/// Each service with its current status and last message; a service inside an
/// active maintenance window shows MAINTENANCE. Filters combine: `nodeId` (a
/// node path, a prefix of whole segments such as `myorg/platform`, or
/// `unknown`), `tag`, `slaGroup` and `status`. An unknown query parameter or
/// status is refused with 422.
#[utoipa::path(
    get, path = "/api/v1/services", tag = "read", params(ServiceQuery, PageQuery),
    responses((status = 200, body = Page<ServiceView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_services(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ServiceView>>> {
    let (paging, q) = page::split(q)?;
    let q: ServiceQuery = parse_query(q)?;
    let status = match q.status.as_deref() {
        Some(v) => Some(v.parse::<Status>().map_err(|r| FieldError::invalid("status", r))?.as_str().to_string()),
        None => None,
    };
    let filter = ServiceFilter {
        organization: org_of(&caller),
        node_id: q.node_id,
        tag: q.tag,
        status: None,
        sla_group: q.sla_group,
    };
    let mut recs = s.store.list_services(&filter).await?;
    overlay_maintenance(&s, &mut recs).await?;
    let items = recs
        .into_iter()
        .map(|r| r.view)
        .filter(|v| status.as_deref().is_none_or(|st| v.status.as_str() == st))
        .collect();
    Ok(Json(paging.page(items, |v| (v.organization.clone(), v.node_id.clone(), v.service.clone(), v.id))?))
}

/// Services inside an active maintenance window show MAINTENANCE.
pub async fn overlay_maintenance(s: &AppState, recs: &mut [ServiceRecord]) -> ApiResult<()> {
    let windows = s.store.list_maintenance(None).await?;
    if windows.is_empty() {
        return Ok(());
    }
    let now = s.clock.now_ms();
    for r in recs.iter_mut() {
        let v = &mut r.view;
        if let Some(m) =
            crate::maintenance::active(&windows, &v.organization, v.id, &v.node_id, v.sla_group.as_deref(), now)
        {
            v.status = Status::Maintenance;
            v.message = Some(format!("maintenance: {}", m.title));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Start of the timeline window (RFC 3339); default: the beginning.
    from: Option<String>,
    /// End of the timeline window (RFC 3339, exclusive); default: now.
    to: Option<String>,
}

async fn load_visible(s: &AppState, caller: &Caller, id: &str) -> ApiResult<ServiceRecord> {
    let id: i64 = id.parse().map_err(|_| FieldError::invalid("id", format!("{id:?} is not a service id")))?;
    caller.visible(s.store.get_service(id).await?, |r| &r.view.organization, || format!("no service with id {id}"))
}

/// Get a service with its status timeline, backup and storage
///
/// The service's current view, its status transitions between `from` and `to`
/// (RFC 3339; default the whole history), its backup state and its latest
/// storage report. 404 for an id that does not exist or belongs to another
/// organization; 422 when `from` is after `to` or a time does not parse.
#[utoipa::path(
    get, path = "/api/v1/services/{id}", tag = "read",
    params(("id" = i64, Path, description = "Service id"), TimelineQuery),
    responses((status = 200, body = ServiceDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_service(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<ServiceDetail>> {
    let q: TimelineQuery = parse_query(q)?;
    let mut rec = load_visible(&s, &caller, &id).await?;
    overlay_maintenance(&s, std::slice::from_mut(&mut rec)).await?;
    let now = s.clock.now_ms();
    let from = match q.from.as_deref() {
        Some(v) => parse_rfc3339(v).map_err(|r| FieldError::invalid("from", r))?,
        None => i64::MIN,
    };
    let to = match q.to.as_deref() {
        Some(v) => parse_rfc3339(v).map_err(|r| FieldError::invalid("to", r))?,
        None => i64::MAX,
    };
    if from > to {
        return Err(FieldError::invalid("from", "must not be after to").into());
    }
    let timeline = s.store.timeline(rec.view.id, from, to).await?.iter().map(transition_view).collect();
    Ok(Json(ServiceDetail { backup: rec.backup(now), storage: rec.storage(), service: rec.view, timeline }))
}

/// Build the organization/platform/environment/cluster tree with counts.
pub fn build_tree(services: &[ServiceRecord]) -> Vec<HierarchyNode> {
    // org -> platform -> env -> cluster -> services; `unknown` hangs off the org
    type Members = Vec<(ServiceRef, Status)>;
    type Clusters = BTreeMap<String, Members>;
    type Platforms = BTreeMap<String, BTreeMap<String, Clusters>>;
    let mut orgs: BTreeMap<String, (Platforms, Members)> = BTreeMap::new();
    for r in services {
        let v = &r.view;
        let sref = ServiceRef { id: v.id, service: v.service.clone(), node_id: v.node_id.clone() };
        let entry = orgs.entry(v.organization.clone()).or_default();
        if v.node_id == UNKNOWN_NODE {
            entry.1.push((sref, v.status));
            continue;
        }
        let parts: Vec<&str> = v.node_id.split('/').collect();
        if parts.len() != 4 {
            entry.1.push((sref, v.status));
            continue;
        }
        entry
            .0
            .entry(parts[1].to_string())
            .or_default()
            .entry(parts[2].to_string())
            .or_default()
            .entry(parts[3].to_string())
            .or_default()
            .push((sref, v.status));
    }
    let leaf = |name: &str, level: &str, path: String, flagged: bool, list: Vec<(ServiceRef, Status)>| {
        let mut counts = StatusCounts::default();
        for (_, st) in &list {
            counts.add(*st);
        }
        HierarchyNode {
            name: name.to_string(),
            level: level.to_string(),
            path,
            flagged,
            counts,
            children: Vec::new(),
            services: list.into_iter().map(|(r, _)| r).collect(),
        }
    };
    let parent = |name: &str, level: &str, path: String, children: Vec<HierarchyNode>| {
        let mut counts = StatusCounts::default();
        for c in &children {
            counts.merge(&c.counts);
        }
        HierarchyNode {
            name: name.to_string(),
            level: level.to_string(),
            path,
            flagged: false,
            counts,
            children,
            services: Vec::new(),
        }
    };
    orgs.into_iter()
        .map(|(org, (platforms, unknown))| {
            let mut children: Vec<HierarchyNode> = platforms
                .into_iter()
                .map(|(p, envs)| {
                    let envs = envs
                        .into_iter()
                        .map(|(e, clusters)| {
                            let clusters = clusters
                                .into_iter()
                                .map(|(c, list)| leaf(&c, "cluster", format!("{org}/{p}/{e}/{c}"), false, list))
                                .collect();
                            parent(&e, "environment", format!("{org}/{p}/{e}"), clusters)
                        })
                        .collect();
                    parent(&p, "platform", format!("{org}/{p}"), envs)
                })
                .collect();
            if !unknown.is_empty() {
                children.push(leaf(UNKNOWN_NODE, "unknown", format!("{org}/{UNKNOWN_NODE}"), true, unknown));
            }
            parent(&org, "organization", org.clone(), children)
        })
        .collect()
}

/// Get the organization/platform/environment/cluster tree with counts
///
/// Every service the key can see, placed under its organization, platform,
/// environment and cluster, with status counts at every level. Services without
/// a node hang under a flagged `unknown` node of their organization.
/// Maintenance windows in force count as MAINTENANCE.
#[utoipa::path(
    get, path = "/api/v1/hierarchy", tag = "read",
    responses((status = 200, body = HierarchyTree), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn hierarchy(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<HierarchyTree>> {
    let filter = ServiceFilter { organization: org_of(&caller), ..Default::default() };
    let mut services = s.store.list_services(&filter).await?;
    overlay_maintenance(&s, &mut services).await?;
    Ok(Json(HierarchyTree { organizations: build_tree(&services) }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BackupQuery {
    /// Only overdue (true) or only current (false) backups.
    overdue: Option<bool>,
    node_id: Option<String>,
}

/// List the backup state of services, optionally only overdue ones
///
/// One entry per service with backup information: when it last ran and last
/// succeeded, its size, and whether it is overdue (no success within
/// `maxAgeDays`, counted from the last success or from registration).
/// `overdue=true` or `false` filters on that; `nodeId` limits to a node or a
/// prefix.
#[utoipa::path(
    get, path = "/api/v1/backups", tag = "read", params(BackupQuery, PageQuery),
    responses((status = 200, body = Page<BackupView>), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn backups(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<BackupView>>> {
    let (paging, q) = page::split(q)?;
    let q: BackupQuery = parse_query(q)?;
    let now = s.clock.now_ms();
    let filter = ServiceFilter { organization: org_of(&caller), node_id: q.node_id, ..Default::default() };
    let items = s
        .store
        .list_services(&filter)
        .await?
        .iter()
        .filter_map(|r| r.backup(now))
        .filter(|b| q.overdue.is_none_or(|o| b.overdue == o))
        .collect();
    Ok(Json(paging.page(items, |b| (b.node_id.clone(), b.service.clone(), b.id))?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StorageQuery {
    /// healthy, warning or critical.
    level: Option<String>,
    node_id: Option<String>,
}

/// List the storage usage of services, optionally by level
///
/// The latest storage report of each service that sent one: allocated, used and
/// free space and its level. `level` filters on `healthy`, `warning`,
/// `critical` or `unknown` (anything else is 422); `nodeId` limits to a node or
/// a prefix.
#[utoipa::path(
    get, path = "/api/v1/storage", tag = "read", params(StorageQuery, PageQuery),
    responses((status = 200, body = Page<StorageView>), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn storage(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<StorageView>>> {
    let (paging, q) = page::split(q)?;
    let q: StorageQuery = parse_query(q)?;
    let level = match q.level.as_deref() {
        None => None,
        Some(l @ ("healthy" | "warning" | "critical" | "unknown")) => Some(l.to_string()),
        Some(other) => {
            return Err(FieldError::invalid(
                "level",
                format!("unknown level {other:?}; expected healthy, warning, critical or unknown"),
            )
            .into());
        }
    };
    let filter = ServiceFilter { organization: org_of(&caller), node_id: q.node_id, ..Default::default() };
    let items = s
        .store
        .list_services(&filter)
        .await?
        .iter()
        .filter_map(|r| r.storage())
        .filter(|st| {
            level.as_deref().is_none_or(|l| {
                serde_json::to_value(st.level).ok().and_then(|v| v.as_str().map(|s| s == l)).unwrap_or(false)
            })
        })
        .collect();
    Ok(Json(paging.page(items, |v| (v.node_id.clone(), v.service.clone(), v.id))?))
}

/// List SLA groups
///
/// Every SLA group of the key's organization with its mode (`all`, `any` or
/// `quorum`: when the group counts as up), its member services, and the sources
/// and clusters the members come from.
#[utoipa::path(
    get, path = "/api/v1/sla-groups", tag = "read", params(PageQuery),
    responses((status = 200, body = Page<SlaGroupView>), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn sla_groups(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<SlaGroupView>>> {
    let paging = page::only(q)?;
    let items = s.store.sla_groups(caller.scope.as_option()).await?;
    Ok(Json(paging.page(items, |g| (g.organization.clone(), g.name.clone()))?))
}
