//! The push API of the SLA seed: health, backup and storage reports.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use nines_core::timeline::Cause;
use nines_core::wire::{
    self, BackupAck, BackupReport, ErrorBody, HealthAck, HealthReport, StorageAck, StorageReport, check_message,
    check_service_name, check_tags, event_time,
};
use nines_core::{
    Criticality, FieldError, NodeId, OrgScope, Source, StorageLevel, UNKNOWN_NODE, UNKNOWN_ORG, check_name,
};
use nines_store::{BackupTarget, HealthOp, NewService, StorageOp};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

/// Where a report's service lives: `(organization, node)`. Without a nodeId
/// the service goes under the flagged `unknown` node of the key's organization.
pub fn resolve_node(caller: &Caller, node_id: Option<&str>) -> Result<(String, String), ApiError> {
    let parsed = match node_id {
        None => NodeId::Unknown,
        Some(n) => NodeId::parse("nodeId", n)?,
    };
    match parsed {
        NodeId::Unknown => {
            let org = match &caller.scope {
                OrgScope::One(o) => o.clone(),
                OrgScope::All => UNKNOWN_ORG.to_string(),
            };
            Ok((org, UNKNOWN_NODE.to_string()))
        }
        path => {
            let org = path.organization().unwrap_or_default().to_string();
            caller.require_org(&org, "nodeId")?;
            Ok((org, path.to_string()))
        }
    }
}

fn check_group(field: &str, g: Option<&str>) -> Result<(), FieldError> {
    match g {
        Some(g) => check_name(g).map_err(|r| FieldError::invalid(field, r)),
        None => Ok(()),
    }
}

/// Report a service's health (the push API for cron jobs and apps)
///
/// Records `status` (with an optional `message`) on the service's timeline. The
/// service is found by `service` name and `nodeId`, and created on its first
/// report (201) as a pushed service; without a `nodeId` it goes under the
/// flagged `unknown` node of the key's organization. A `nodeId` must lie in the
/// key's organization.
///
/// `timestamp` (RFC 3339) defaults to now; more than 5 seconds ahead of the
/// server's clock or more than 7 days old is refused with 422, as are names
/// that are not valid, more than 64 tags, or a `message` longer than 4096
/// bytes.
#[utoipa::path(
    post, path = "/api/v1/health/report", tag = "push",
    request_body = HealthReport,
    responses(
        (status = 200, description = "Recorded", body = HealthAck),
        (status = 201, description = "Recorded; the service was created", body = HealthAck),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)
    ),
    security(("api_key" = []))
)]
pub async fn health_report(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(r): JsonBody<HealthReport>,
) -> ApiResult<(StatusCode, Json<HealthAck>)> {
    check_service_name("service", &r.service)?;
    check_message("message", r.message.as_deref())?;
    check_group("slaGroup", r.sla_group.as_deref())?;
    if let Some(t) = &r.tags {
        check_tags(t)?;
    }
    if let Some(k) = &r.service_type {
        check_name(k).map_err(|e| FieldError::invalid("serviceType", e))?;
    }
    let now = s.clock.now_ms();
    let at = event_time(r.timestamp.as_deref(), now)?;
    let (organization, node_id) = resolve_node(&caller, r.node_id.as_deref())?;
    let op = HealthOp {
        service: NewService {
            organization,
            node_id,
            name: r.service,
            kind: r.service_type.unwrap_or_else(|| "external".into()),
            criticality: r.criticality.unwrap_or(Criticality::Medium),
            sla_group: r.sla_group,
            tags: r.tags.unwrap_or_default(),
            source: Source::Push,
            backup_expected: false,
        },
        status: r.status,
        message: r.message,
        at,
        received_at: now,
        cause: match r.source {
            Some(wire::ReportSource::Operator) => Cause::Operator,
            _ => Cause::Report,
        },
    };
    let ack = s.ingest.submit(op).await?;
    let code = if ack.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((code, Json(ack)))
}

/// Report a backup's outcome for a service, SLA group or namespace
///
/// Give exactly one of `service`, `slaGroup` or `namespace`. A service is
/// created on its first backup report and from then on expects backups; a group
/// or namespace records the outcome on every one of its services that expects
/// backups, and answers 404 when none does.
///
/// `timestamp` is when the backup completed (default now); it may be old, but
/// not more than 5 seconds ahead of the server's clock. The answer lists the
/// services recorded.
#[utoipa::path(
    post, path = "/api/v1/backup/report", tag = "push",
    request_body = BackupReport,
    responses(
        (status = 200, description = "Recorded for every service listed", body = BackupAck),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "No service with a backup expected matches the group or namespace", body = ErrorBody),
        (status = 422, body = ErrorBody)
    ),
    security(("api_key" = []))
)]
pub async fn backup_report(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(r): JsonBody<BackupReport>,
) -> ApiResult<(StatusCode, Json<BackupAck>)> {
    check_message("message", r.message.as_deref())?;
    let now = s.clock.now_ms();
    let at = wire::fact_time(r.timestamp.as_deref(), now)?;
    let given = [r.service.is_some(), r.sla_group.is_some(), r.namespace.is_some()].iter().filter(|b| **b).count();
    if given != 1 {
        return Err(FieldError::new(
            if given == 0 { "service" } else { "slaGroup" },
            if given == 0 { "missing_field" } else { "invalid_value" },
            "give exactly one of service, slaGroup or namespace",
        )
        .into());
    }
    let org_filter = |caller: &Caller, node: Option<&str>| -> Result<(Option<String>, Option<String>), ApiError> {
        match node {
            Some(n) => {
                let (org, node) = resolve_node(caller, Some(n))?;
                Ok((Some(org), (node != UNKNOWN_NODE).then_some(node)))
            }
            None => Ok((caller.scope.as_option().map(str::to_string), None)),
        }
    };
    let target = if let Some(name) = r.service {
        check_service_name("service", &name)?;
        let (organization, node_id) = resolve_node(&caller, r.node_id.as_deref())?;
        BackupTarget::Service(NewService {
            organization,
            node_id,
            name,
            kind: "external".into(),
            criticality: Criticality::Medium,
            sla_group: None,
            tags: Vec::new(),
            source: Source::Push,
            backup_expected: true,
        })
    } else if let Some(name) = r.sla_group {
        check_group("slaGroup", Some(&name))?;
        let (organization, _) = org_filter(&caller, r.node_id.as_deref())?;
        BackupTarget::SlaGroup { organization, name }
    } else {
        let namespace = r.namespace.unwrap_or_default();
        check_name(&namespace).map_err(|e| FieldError::invalid("namespace", e))?;
        let (organization, node_id) = org_filter(&caller, r.node_id.as_deref())?;
        BackupTarget::Namespace { organization, node_id, namespace }
    };
    let (services, created) =
        s.store.backup_report(&target, r.status, r.size_bytes, r.message.as_deref(), at, now).await?;
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((code, Json(BackupAck { status: r.status.as_str().into(), services, created })))
}

/// Report a service's storage usage
///
/// Records the usage of one volume of a service (created on its first report,
/// tagged `storage`): `freePercent`, or `allocatedBytes` and `usedBytes` from
/// which it is computed. The level follows the free space: healthy above 30 %,
/// warning from 10 %, critical below.
///
/// 422 when `freePercent` is outside 0 to 100, `usedBytes` exceeds
/// `allocatedBytes`, `storageType` or `mountPath` is longer than 1024 bytes, or
/// `timestamp` is more than 7 days old or in the future.
#[utoipa::path(
    post, path = "/api/v1/storage/report", tag = "push",
    request_body = StorageReport,
    responses(
        (status = 200, description = "Recorded", body = StorageAck),
        (status = 201, description = "Recorded; the service was created", body = StorageAck),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)
    ),
    security(("api_key" = []))
)]
pub async fn storage_report(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(r): JsonBody<StorageReport>,
) -> ApiResult<(StatusCode, Json<StorageAck>)> {
    check_service_name("service", &r.service)?;
    let free = wire::storage_free_percent(&r)?;
    for (field, v) in [("storageType", &r.storage_type), ("mountPath", &r.mount_path)] {
        if let Some(v) = v
            && v.len() > 1024
        {
            return Err(FieldError::invalid(field, "at most 1024 bytes").into());
        }
    }
    let now = s.clock.now_ms();
    let at = event_time(r.timestamp.as_deref(), now)?;
    let (organization, node_id) = resolve_node(&caller, r.node_id.as_deref())?;
    let op = StorageOp {
        service: NewService {
            organization,
            node_id: node_id.clone(),
            name: r.service.clone(),
            kind: "external".into(),
            criticality: Criticality::Medium,
            sla_group: None,
            tags: vec!["storage".into()],
            source: Source::Push,
            backup_expected: false,
        },
        allocated_bytes: r.allocated_bytes,
        used_bytes: r.used_bytes,
        free_percent: free,
        storage_type: r.storage_type,
        mount_path: r.mount_path,
        at,
    };
    let (id, created) = s.store.storage_report(&op, now).await?;
    let code = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        code,
        Json(StorageAck {
            id,
            service: r.service,
            node_id,
            free_percent: free,
            level: StorageLevel::from_free_percent(free),
            created,
        }),
    ))
}
