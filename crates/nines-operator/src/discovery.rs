//! The discovery controllers besides Ingress/Endpoint, each executing the
//! decisions of [`crate::mapping`] and [`crate::reconcile`]:
//!
//! - cert-manager Certificate → nines Certificate CR → `POST /api/v1/certificates`
//!   (finalizer deletes the API object); skipped with a log line while
//!   cert-manager's CRDs are absent.
//! - Velero Backup / Schedule → Backup / BackupSchedule CRs; a finished
//!   Backup reports to every known service in the namespaces it covers.
//! - Node → host inventory; Pods → Artifact CRs (cluster-scoped) and the
//!   artifact inventory, unused CRs removed after the stale threshold while
//!   the API object is kept; meta-Secrets → K8sApp CRs → app inventory.
//! - ConfigMaps with `it-ops.yaml` → services; workload readiness reported
//!   every `report_every`.
//! - StatusService → health reports from its Service's ready EndpointSlice
//!   endpoints; StatusServiceGroup → status page group membership.
//!
//! Every source object maps to at most one CR, written by server-side apply
//! under [`FIELD_MANAGER`] with an owner reference (so deleting the source
//! garbage-collects the CR); every CR reconcile is idempotent and writes its
//! sync state to its status with a `Ready` condition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::api::{GroupMember, HealthReport, StatusPageGroup};
use crate::crd::*;
use crate::mapping::apply::{
    CONFIGMAP_KEY, REGISTERED_ANNOTATION, RegisteredService, configmap_documents, declared_services, parse_registered,
    render, render_registered, status_service_document, status_service_name,
};
use crate::mapping::certmanager::{
    CmCertificate, certificate_report, certificate_spec, cr_name as cert_cr_name, issuer_allowed,
};
use crate::mapping::cnpg::{CnpgBackup, CnpgScheduledBackup};
use crate::mapping::image::aggregate_pods;
use crate::mapping::k8sapp::{AppState, app_item, app_spec, installation_state, is_meta_secret, linked_artifacts};
use crate::mapping::node::node_inventory;
use crate::mapping::status_service::{SERVICE_NAME_LABEL, ServiceState, evaluate, group_state, ready_endpoints};
use crate::mapping::velero::{VeleroBackup, VeleroSchedule, backup_reports, backup_spec, schedule_spec};
use crate::mapping::workload::{
    WorkloadKind, daemonset_replicas, deployment_replicas, statefulset_replicas, workload_status,
};
use crate::mapping::{NamespaceFilter, config_hash, label_value, object_name, selector_matches};
use crate::reconcile::{ArtifactAction, needs_sync, plan_artifacts, plan_services, ready_condition, set_condition};
use crate::runtime::{
    Ctx, Error, RESYNC, api_failed, ctrl_all, gated, ignore_not_found, merge_status, resync, run_ctrl, stopped,
    wait_for_sync, watchers,
};

pub fn cert_manager_certificates() -> ApiResource {
    ApiResource {
        group: "cert-manager.io".into(),
        version: "v1".into(),
        api_version: "cert-manager.io/v1".into(),
        kind: "Certificate".into(),
        plural: "certificates".into(),
    }
}

pub fn velero_backups() -> ApiResource {
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Backup".into(),
        plural: "backups".into(),
    }
}

pub fn velero_schedules() -> ApiResource {
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Schedule".into(),
        plural: "schedules".into(),
    }
}

pub fn cnpg_backups() -> ApiResource {
    ApiResource {
        group: "postgresql.cnpg.io".into(),
        version: "v1".into(),
        api_version: "postgresql.cnpg.io/v1".into(),
        kind: "Backup".into(),
        plural: "backups".into(),
    }
}

pub fn cnpg_scheduled_backups() -> ApiResource {
    ApiResource {
        group: "postgresql.cnpg.io".into(),
        version: "v1".into(),
        api_version: "postgresql.cnpg.io/v1".into(),
        kind: "ScheduledBackup".into(),
        plural: "scheduledbackups".into(),
    }
}

/// Label of the Backup and BackupSchedule CRs mirrored from CloudNativePG.
pub const SOURCE_LABEL: &str = "backups.nines.dev/source";

/// Is this kind served? A 404 on a list means its CRD is not installed.
pub async fn served(client: &kube::Client, ar: &ApiResource) -> Result<bool, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    match api.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Wait until `ar` is served, logging once while it is not; `false` when stopped first.
async fn wait_until_served(
    client: &kube::Client,
    ar: &ApiResource,
    every: Duration,
    stop: watch::Receiver<bool>,
) -> bool {
    let mut logged = false;
    loop {
        match served(client, ar).await {
            Ok(true) => {
                if logged {
                    tracing::info!(kind = %ar.kind, group = %ar.group, "CRDs appeared; discovery starts");
                }
                return true;
            }
            Ok(false) if !logged => {
                tracing::info!(kind = %ar.kind, group = %ar.group, "CRDs absent; discovery of this kind skipped until they appear");
                logged = true;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(kind = %ar.kind, error = %e, "checking for CRDs failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stopped(stop.clone()) => return false,
        }
    }
}

fn discovered_labels(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::from([(DISCOVERED_LABEL.to_string(), "true".to_string())]);
    for (k, v) in extra {
        m.insert(k.to_string(), label_value(v));
    }
    m
}

async fn apply_cr<K>(api: &Api<K>, obj: &K) -> Result<K, Error>
where
    K: Resource + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj)).await?)
}

async fn delete_cr<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &DeleteParams::default()).await.map(drop).or_else(ignore_not_found)?;
    Ok(())
}

// ---------------------------------------------------------------- certificates

/// cert-manager Certificate → nines Certificate CR (same namespace, owned by the source).
pub async fn reconcile_cm_certificate(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let cfg = ctx.config.borrow().certificate_discovery.clone();
    let cm: CmCertificate = serde_json::from_value(obj.data.clone())
        .map_err(|e| Error::Invalid(format!("cert-manager Certificate {ns}/{name}: {e}")))?;
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), &ns);
    let crn = cert_cr_name(&ns, &name);
    let wanted = cfg.enabled
        && obj.meta().deletion_timestamp.is_none()
        && NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(&ns)
        && issuer_allowed(&cfg.issuer_filter, &cm.spec.issuer_ref.name);
    if !wanted {
        delete_cr(&api, &crn).await?;
        return Ok(resync());
    }
    let spec = certificate_spec(&name, &ns, &obj.uid().unwrap_or_default(), &cm, ctx.now());
    let mut cr = Certificate::new(&crn, spec.clone());
    cr.metadata.namespace = Some(ns.clone());
    cr.metadata.labels = Some(discovered_labels(&[
        ("certificates.nines.dev/issuer", &spec.issuer_name),
        ("certificates.nines.dev/source", &name),
        ("certificates.nines.dev/ready", if spec.is_ready { "true" } else { "false" }),
    ]));
    cr.metadata.owner_references = obj.controller_owner_ref(&cert_manager_certificates()).map(|o| vec![o]);
    apply_cr(&api, &cr).await?;
    // the status moves with time (expiring_soon, expired): look again hourly
    Ok(Action::requeue(Duration::from_secs(3600)))
}

/// nines Certificate CR → the API, behind the cleanup finalizer.
pub async fn reconcile_certificate(cr: Arc<Certificate>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let api: Api<Certificate> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    finalizer(&api, CLEANUP_FINALIZER, cr, |event| async {
        match event {
            FinalizerEvent::Apply(c) => apply_certificate(&c, &ctx, &api).await,
            FinalizerEvent::Cleanup(c) => {
                if let Some(id) = c.status.as_ref().and_then(|s| s.api_id.clone()) {
                    let sync = ctx.sync.borrow().clone();
                    let sync = sync.ok_or_else(|| {
                        Error::Invalid("cannot delete the API certificate: API sync is not configured".into())
                    })?;
                    sync.api.delete_certificate(&id).await?;
                }
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

async fn apply_certificate(cr: &Certificate, ctx: &Ctx, api: &Api<Certificate>) -> Result<Action, Error> {
    let name = cr.name_any();
    let generation = cr.metadata.generation;
    let mut status = cr.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        status.phase = Some("Pending".into());
        status.sync_status = Some("pending".into());
        return wait_for_sync(ctx, api, cr, status).await;
    };
    let report = certificate_report(&cr.spec, &sync.node.id());
    let hash = config_hash(&report);
    let t = ctx.now();
    let last = status.last_synced_at.as_deref().and_then(|s| s.parse().ok());
    if status.api_id.is_some() && !needs_sync(&hash, status.config_hash.as_deref(), last, t, RESYNC) {
        return Ok(resync());
    }
    match sync.api.upsert_certificate(&report).await {
        Ok(id) => {
            let changed = status.config_hash.as_deref() != Some(hash.as_str());
            status.api_id = Some(id);
            status.config_hash = Some(hash);
            status.last_synced_at = Some(t.to_string());
            status.phase = Some("Synced".into());
            status.sync_status = Some("synced".into());
            set_condition(
                &mut status.conditions,
                ready_condition(true, "Synced", "sent to the nines API", generation),
                t,
            );
            merge_status(api, &name, &status).await?;
            if changed {
                let note = format!("certificate {} ({}) sent", cr.spec.name, cr.spec.certificate_status);
                ctx.event(&cr.object_ref(&()), false, "Synced", note).await;
            }
            Ok(resync())
        }
        Err(e) => {
            status.phase = Some("Error".into());
            status.sync_status = Some("error".into());
            api_failed(ctx, api, cr, status, e).await
        }
    }
}

// ---------------------------------------------------------------- velero

fn velero_namespace_ok(ctx: &Ctx, ns: &str) -> bool {
    let cfg = ctx.config.borrow().backup_discovery.clone();
    cfg.enabled && ns == cfg.velero_namespace
}

/// A Velero object → its CR `velero-<name>` (same namespace, owned by the
/// source, labelled as discovered), built by `build` from the parsed source,
/// its name, namespace and uid; the CR is deleted instead when the source
/// goes or is outside the Velero namespace. Returns the CR applied, if any.
async fn mirror_velero<K, T>(
    obj: &DynamicObject,
    ctx: &Ctx,
    ar: &ApiResource,
    build: impl FnOnce(&T, &str, &str, &str) -> K,
) -> Result<Option<(Api<K>, K)>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
    T: DeserializeOwned,
{
    let allowed = velero_namespace_ok(ctx, &obj.namespace().unwrap_or_default());
    mirror_backup_source(obj, ctx, ar, "velero", allowed, build).await
}

/// A backup tool's object → its CR `<prefix>-<name>` (see [`mirror_velero`]);
/// deleted instead when not `allowed` or the source goes.
async fn mirror_backup_source<K, T>(
    obj: &DynamicObject,
    ctx: &Ctx,
    ar: &ApiResource,
    prefix: &str,
    allowed: bool,
    build: impl FnOnce(&T, &str, &str, &str) -> K,
) -> Result<Option<(Api<K>, K)>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Serialize
        + DeserializeOwned
        + Clone
        + std::fmt::Debug,
    T: DeserializeOwned,
{
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let crn = object_name(&[prefix, &name]);
    if !allowed || obj.meta().deletion_timestamp.is_some() {
        delete_cr(&api, &crn).await?;
        return Ok(None);
    }
    let source: T = serde_json::from_value(obj.data.clone())
        .map_err(|e| Error::Invalid(format!("{prefix} {} {ns}/{name}: {e}", ar.kind)))?;
    let mut cr = build(&source, &name, &ns, &obj.uid().unwrap_or_default());
    let meta = cr.meta_mut();
    meta.name = Some(crn);
    meta.namespace = Some(ns.clone());
    meta.labels.get_or_insert_with(|| discovered_labels(&[])).insert(SOURCE_LABEL.into(), prefix.into());
    meta.owner_references = obj.controller_owner_ref(ar).map(|o| vec![o]);
    apply_cr(&api, &cr).await?;
    Ok(Some((api, cr)))
}

/// A mirrored backup's CR, labelled with its status.
fn backup_cr(name: &str, spec: BackupSpec) -> Backup {
    let labels = discovered_labels(&[("backups.nines.dev/status", &spec.status)]);
    let mut cr = Backup::new(name, spec);
    cr.metadata.labels = Some(labels);
    cr
}

/// A mirrored schedule's CR marked Discovered (`why` says from what).
async fn schedule_discovered(
    ctx: &Ctx,
    mirrored: Option<(Api<BackupSchedule>, BackupSchedule)>,
    why: &str,
) -> Result<Action, Error> {
    if let Some((api, cr)) = mirrored {
        let mut status = cr.status.clone().unwrap_or_default();
        set_condition(&mut status.conditions, ready_condition(true, "Discovered", why, None), ctx.now());
        status.phase = Some("Discovered".into());
        merge_status(&api, &cr.name_any(), &status).await?;
    }
    Ok(Action::await_change())
}

/// Velero Backup → Backup CR.
pub async fn reconcile_velero_backup(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    mirror_velero(&obj, &ctx, &velero_backups(), |b: &VeleroBackup, name, ns, uid| {
        backup_cr(name, backup_spec(name, ns, uid, obj.labels(), b))
    })
    .await?;
    Ok(Action::await_change())
}

/// Velero Schedule → BackupSchedule CR.
pub async fn reconcile_velero_schedule(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let mirrored = mirror_velero(&obj, &ctx, &velero_schedules(), |s: &VeleroSchedule, name, ns, uid| {
        BackupSchedule::new(name, schedule_spec(name, ns, uid, s))
    })
    .await?;
    schedule_discovered(&ctx, mirrored, "mirrors the Velero schedule").await
}

fn cnpg_namespace_ok(ctx: &Ctx, ns: &str) -> bool {
    let cfg = ctx.config.borrow().backup_discovery.clone();
    cfg.enabled && cfg.cnpg_enabled && NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(ns)
}

/// CloudNativePG Backup → Backup CR `cnpg-<name>`.
pub async fn reconcile_cnpg_backup(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let allowed = cnpg_namespace_ok(&ctx, &obj.namespace().unwrap_or_default());
    mirror_backup_source(&obj, &ctx, &cnpg_backups(), "cnpg", allowed, |b: &CnpgBackup, name, ns, uid| {
        backup_cr(name, crate::mapping::cnpg::backup_spec(name, ns, uid, obj.labels(), b))
    })
    .await?;
    Ok(Action::await_change())
}

/// CloudNativePG ScheduledBackup → BackupSchedule CR `cnpg-<name>`.
pub async fn reconcile_cnpg_scheduled_backup(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let allowed = cnpg_namespace_ok(&ctx, &obj.namespace().unwrap_or_default());
    let mirrored = mirror_backup_source(
        &obj,
        &ctx,
        &cnpg_scheduled_backups(),
        "cnpg",
        allowed,
        |s: &CnpgScheduledBackup, name, ns, uid| {
            BackupSchedule::new(name, crate::mapping::cnpg::schedule_spec(name, ns, uid, s))
        },
    )
    .await?;
    schedule_discovered(&ctx, mirrored, "mirrors the CloudNativePG scheduled backup").await
}

/// Backup CR → one backup report per known service in a covered namespace,
/// once per finished backup (and again when new services appear).
pub async fn reconcile_backup(cr: Arc<Backup>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = cr.name_any();
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    let generation = cr.metadata.generation;
    let mut status = cr.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        status.sync_status = Some("pending".into());
        return wait_for_sync(&ctx, &api, &*cr, status).await;
    };
    let services = ctx.known_services();
    let reports = backup_reports(&cr.spec, &services);
    if reports.is_empty() {
        let why = if crate::mapping::velero::report_status(&cr.spec.status).is_none() {
            format!("backup is {}", cr.spec.status)
        } else {
            "no known service in the namespaces it covers".into()
        };
        status.phase = Some("Discovered".into());
        set_condition(&mut status.conditions, ready_condition(true, "NothingToReport", why, generation), ctx.now());
        merge_status(&api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    let hash = config_hash(&reports);
    if status.config_hash.as_deref() == Some(hash.as_str()) {
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    for r in &reports {
        if let Err(e) = sync.api.report_backup(r).await {
            status.sync_status = Some("error".into());
            return api_failed(&ctx, &api, &*cr, status, e).await;
        }
    }
    status.config_hash = Some(hash);
    status.last_synced_at = Some(ctx.now().to_string());
    status.sync_status = Some("synced".into());
    status.phase = Some("Reported".into());
    status.reported_services = reports.iter().map(|r| format!("{}/{}", r.node_id, r.service)).collect();
    let msg = format!("reported to {} service(s)", reports.len());
    set_condition(&mut status.conditions, ready_condition(true, "Reported", msg.clone(), generation), ctx.now());
    merge_status(&api, &name, &status).await?;
    ctx.event(&cr.object_ref(&()), false, "Reported", msg).await;
    Ok(Action::requeue(Duration::from_secs(300)))
}

// ---------------------------------------------------------------- nodes

/// Node → host inventory (upsert by node name; the host stays when the node goes).
pub async fn reconcile_node(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let cfg = ctx.config.borrow().node_discovery.clone();
    if !cfg.enabled || !selector_matches(&cfg.label_selector, node.labels()) || node.meta().deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return Ok(Action::requeue(Duration::from_secs(60))) };
    let host = node_inventory(&node);
    let key = format!("host/{}", host.name);
    let hash = config_hash(&(&sync.node.id(), &host));
    if ctx.sent_hash(&key).as_deref() == Some(hash.as_str()) {
        return Ok(resync());
    }
    match sync.api.put_hosts(&sync.node.id(), std::slice::from_ref(&host)).await {
        Ok(_) => {
            ctx.remember_sent(&key, hash);
            Ok(resync())
        }
        Err(e) => {
            ctx.event(&node.object_ref(&()), true, "ApiError", e.to_string()).await;
            Err(e.into())
        }
    }
}

// ---------------------------------------------------------------- artifacts

/// One pass over the pods in `store`: Artifact CRs and the artifact inventory.
pub async fn artifact_pass(ctx: &Ctx, pods: &[Arc<Pod>]) -> Result<(), Error> {
    let cfg = ctx.config.borrow().artifact_discovery.clone();
    if !cfg.enabled {
        return Ok(());
    }
    let filter = NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces);
    let images = aggregate_pods(pods.iter().map(|p| &**p), |ns| filter.allows(ns), &cfg.exclude_registries);
    *ctx.images.lock().expect("not poisoned") = images.clone();
    let api: Api<Artifact> = Api::all(ctx.client.clone());
    let listed = api.list(&ListParams::default().labels(&format!("{DISCOVERED_LABEL}=true"))).await?;
    let old: BTreeMap<String, Artifact> = listed.items.into_iter().map(|a| (a.name_any(), a)).collect();
    let existing: BTreeMap<String, (i64, Option<Timestamp>)> = old
        .iter()
        .map(|(name, a)| {
            let st = a.status.clone().unwrap_or_default();
            (name.clone(), (st.total_pod_count, st.last_seen_at.as_deref().and_then(|s| s.parse().ok())))
        })
        .collect();
    let by_name: BTreeMap<String, _> = images.iter().map(|(r, u)| (r.cr_name(), (r, u))).collect();
    // the K8sApps of each namespace: an image is used by the apps of the
    // namespaces it runs in (the seed links them by namespace)
    let apps: Vec<AppRef> = Api::<K8sApp>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .map(|a| AppRef {
                    name: a.name_any(),
                    namespace: a.namespace().unwrap_or_default(),
                    k8s_app_id: a.status.as_ref().and_then(|s| s.api_id.clone()),
                })
                .collect()
        })
        .unwrap_or_default();
    let t = ctx.now();
    let stale = SignedDuration::from_hours(cfg.cleanup.stale_threshold_hours.max(1) as i64);
    let in_use: Vec<String> = by_name.keys().cloned().collect();
    for action in plan_artifacts(&in_use, &existing, t, cfg.cleanup.enabled, stale) {
        match action {
            ArtifactAction::Upsert { name } => {
                let (r, u) = by_name[&name];
                let prev = old.get(&name);
                let labels = discovered_labels(&[
                    ("artifacts.nines.dev/registry", &r.registry),
                    ("artifacts.nines.dev/repository", &r.repository.replace('/', "-")),
                    ("artifacts.nines.dev/tag", r.tag.as_deref().unwrap_or("")),
                ]);
                let spec = r.spec();
                // apply only what is new or changed, so a quiet cluster writes nothing
                let labelled = prev.is_some_and(|p| labels.iter().all(|(k, v)| p.labels().get(k) == Some(v)));
                if prev.is_none_or(|p| p.spec != spec) || !labelled {
                    let mut cr = Artifact::new(&name, spec);
                    cr.metadata.labels = Some(labels);
                    apply_cr(&api, &cr).await?;
                }
                let old_status = prev.and_then(|p| p.status.clone()).unwrap_or_default();
                let mut status = artifact_status(&old_status, u, t);
                status.used_by_k8sapps =
                    apps.iter().filter(|a| u.namespaces.contains_key(&a.namespace)).cloned().collect();
                let same = old_status.phase == status.phase
                    && old_status.used_by_k8sapps == status.used_by_k8sapps
                    && old_status.total_pod_count == status.total_pod_count
                    && old_status
                        .used_in_namespaces
                        .iter()
                        .map(|n| (&n.name, n.pod_count))
                        .eq(status.used_in_namespaces.iter().map(|n| (&n.name, n.pod_count)));
                if !same {
                    merge_status(&api, &name, &status).await?;
                }
            }
            ArtifactAction::MarkUnused { name } => {
                // the stale threshold counts from here: the last pass that saw it in use
                let unused = serde_json::json!({"total_pod_count": 0, "used_in_namespaces": [], "phase": "Unused",
                                                "last_seen_at": t.to_string()});
                merge_status(&api, &name, &unused).await?;
            }
            ArtifactAction::Delete { name } => {
                tracing::info!(artifact = %name, "image unused past the stale threshold; removing its CR (the API keeps it)");
                delete_cr(&api, &name).await?;
            }
        }
    }
    if !cfg.sync_to_api {
        return Ok(());
    }
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return Ok(()) };
    let items: Vec<_> = images.iter().map(|(r, u)| crate::mapping::image::artifact_item(r, u)).collect();
    if items.is_empty() {
        return Ok(());
    }
    let hash = config_hash(&(&sync.node.id(), &items));
    if ctx.sent_hash("artifacts").as_deref() == Some(hash.as_str()) {
        return Ok(());
    }
    let sent = sync.api.put_artifacts(&sync.node.id(), &items).await?;
    ctx.remember_sent("artifacts", hash);
    let ids: BTreeMap<String, String> = sent.items.into_iter().map(|i| (i.key, i.id)).collect();
    for (name, (r, _)) in &by_name {
        let status = old.get(name).and_then(|a| a.status.as_ref());
        let id = ids.get(&r.normalized());
        let synced = status.and_then(|s| s.sync_status.as_deref()) == Some("synced");
        if !synced || (id.is_some() && status.and_then(|s| s.api_id.as_ref()) != id) {
            merge_status(&api, name, &serde_json::json!({"sync_status": "synced", "api_id": id})).await.ok();
        }
    }
    Ok(())
}

/// The status of an Artifact in use: its usage now, first-seen times kept.
fn artifact_status(old: &ArtifactStatus, usage: &crate::mapping::image::ImageUsage, t: Timestamp) -> ArtifactStatus {
    let first_seen =
        |ns: &str| old.used_in_namespaces.iter().find(|n| n.name == ns).and_then(|n| n.first_seen_at.clone());
    ArtifactStatus {
        phase: Some("Discovered".into()),
        conditions: old.conditions.clone(),
        used_in_namespaces: usage
            .namespaces
            .iter()
            .map(|(ns, n)| NamespaceUsage {
                name: ns.clone(),
                pod_count: *n,
                first_seen_at: first_seen(ns).or(Some(t.to_string())),
                last_seen_at: Some(t.to_string()),
            })
            .collect(),
        first_discovered_at: old.first_discovered_at.clone().or(Some(t.to_string())),
        last_seen_at: Some(t.to_string()),
        total_pod_count: usage.total(),
        used_by_k8sapps: old.used_by_k8sapps.clone(),
        api_id: old.api_id.clone(),
        sync_status: old.sync_status.clone(),
    }
}

/// Pods through a reflector; an artifact pass when they changed and on every tick.
pub async fn artifact_loop(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let (reader, writer) = reflector::store();
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let (changed_tx, mut changed_rx) = watch::channel(());
    let stream = reflector(writer, watcher(pods, watcher::Config::default()))
        .default_backoff()
        .applied_objects()
        .for_each(move |_| {
            changed_tx.send_replace(());
            std::future::ready(())
        });
    let watch_task = tokio::spawn(stream);
    let mut failures = 0u32;
    loop {
        let delay = if failures > 0 { crate::reconcile::backoff(failures) } else { ctx.settings.report_every };
        tokio::select! {
            _ = changed_rx.changed() => {},
            _ = tokio::time::sleep(delay) => {},
            _ = stopped(stop.clone()) => break,
        }
        if reader.wait_until_ready().await.is_err() {
            break;
        }
        match artifact_pass(&ctx, &reader.state()).await {
            Ok(()) => {
                failures = 0;
                ctx.metrics.count("artifact", true);
            }
            Err(e) => {
                failures += 1;
                ctx.metrics.count("artifact", false);
                tracing::warn!(error = %e, "artifact discovery failed");
            }
        }
    }
    watch_task.abort();
}

// ---------------------------------------------------------------- k8s apps

fn secret_data(s: &Secret) -> BTreeMap<String, String> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).to_string()))
        .chain(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// meta-Secret → K8sApp CR (same namespace, owned by the Secret).
pub async fn reconcile_meta_secret(secret: Arc<Secret>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = secret.namespace().unwrap_or_default();
    let cfg = ctx.config.borrow().app_discovery.clone();
    if !is_meta_secret(secret.labels())
        || !cfg.enabled
        || !NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(&ns)
        || secret.meta().deletion_timestamp.is_some()
    {
        return Ok(Action::await_change());
    }
    let Some(spec) = app_spec(&secret.name_any(), &secret_data(&secret)) else {
        ctx.event(&secret.object_ref(&()), true, "InvalidMetaSecret", "no block name in the meta-Secret".into()).await;
        return Ok(Action::await_change());
    };
    let api: Api<K8sApp> = Api::namespaced(ctx.client.clone(), &ns);
    let name = object_name(&[&spec.block.name]);
    let mut cr = K8sApp::new(&name, spec.clone());
    cr.metadata.namespace = Some(ns.clone());
    cr.metadata.labels = Some(discovered_labels(&[
        ("k8sapps.nines.dev/block", &spec.block.name),
        ("k8sapps.nines.dev/type", spec.block.type_.as_deref().unwrap_or("")),
    ]));
    cr.metadata.owner_references = secret.controller_owner_ref(&()).map(|o| vec![o]);
    apply_cr(&api, &cr).await?;
    Ok(Action::await_change())
}

/// K8sApp CR → status (state, linked artifacts) and the app inventory.
pub async fn reconcile_k8sapp(cr: Arc<K8sApp>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = cr.name_any();
    let ns = cr.namespace().unwrap_or_default();
    let api: Api<K8sApp> = Api::namespaced(ctx.client.clone(), &ns);
    let generation = cr.metadata.generation;
    let mut status = cr.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let state = installation_state(cr.spec.action.as_ref());
    status.state = Some(state.as_str().into());
    status.installed = state == AppState::Installed;
    let images = ctx.images.lock().expect("not poisoned").clone();
    status.artifacts = linked_artifacts(&ns, &images);
    status.artifact_count = status.artifacts.len() as i64;
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        status.phase = Some("Pending".into());
        status.sync_status = Some("pending".into());
        return wait_for_sync(&ctx, &api, &*cr, status).await;
    };
    let item = app_item(&name, &ns, &cr.spec, &status.artifacts);
    let hash = config_hash(&(&sync.node.id(), &item));
    if status.config_hash.as_deref() != Some(hash.as_str()) {
        match sync.api.put_apps(&sync.node.id(), std::slice::from_ref(&item)).await {
            Ok(r) => status.api_id = r.items.into_iter().next().map(|i| i.id).or(status.api_id),
            Err(e) => {
                status.phase = Some("Error".into());
                status.sync_status = Some("error".into());
                return api_failed(&ctx, &api, &*cr, status, e).await;
            }
        }
        status.config_hash = Some(hash);
        ctx.event(&cr.object_ref(&()), false, "Synced", format!("app {name} is {}", state.as_str())).await;
    }
    report_app_action(&ctx, &sync, &cr, &mut status).await?;
    status.phase = Some("Synced".into());
    status.sync_status = Some("synced".into());
    set_condition(
        &mut status.conditions,
        ready_condition(true, "Synced", "sent to the nines API", generation),
        ctx.now(),
    );
    if cr.status.as_ref() != Some(&status) {
        merge_status(&api, &name, &status).await?;
    }
    // artifacts follow the pods: link again a minute later
    Ok(Action::requeue(Duration::from_secs(60)))
}

/// A K8sApp's finished install or uninstall → an activity of each service
/// the operator knows in the app's namespace (of the cluster when none),
/// at the time the action ran; once per action. Actions older than the API
/// takes (7 days) are remembered without being sent.
async fn report_app_action(
    ctx: &Ctx,
    sync: &crate::runtime::Sync,
    cr: &K8sApp,
    status: &mut K8sAppStatus,
) -> Result<(), Error> {
    let Some(action) = cr.spec.action.as_ref() else { return Ok(()) };
    let state = installation_state(Some(action));
    let kind = match state {
        AppState::Installed | AppState::InstallFailed => "install",
        AppState::Uninstalled => "uninstall",
        AppState::Installing | AppState::Unknown => return Ok(()),
    };
    let key = format!("{}/{}/{}", action.name, action.status, action.last_executed_at.as_deref().unwrap_or(""));
    if status.reported_action.as_deref() == Some(key.as_str()) {
        return Ok(());
    }
    let now = ctx.now();
    let at = action.last_executed_at.as_deref().and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or(now);
    let fresh = now.duration_since(at) < SignedDuration::from_hours(24 * 7 - 1);
    if fresh {
        let ns = cr.namespace().unwrap_or_default();
        let block = &cr.spec.block;
        let version = block.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
        let message = format!(
            "K8sApp {}: {} of {}{version} {}",
            cr.name_any(),
            action.name,
            block.name,
            if state == AppState::InstallFailed { "failed" } else { "succeeded" }
        );
        let services: Vec<crate::mapping::velero::NamespacedService> =
            ctx.known_services().into_iter().filter(|s| s.namespace == ns).collect();
        let targets: Vec<(String, Option<String>)> = if services.is_empty() {
            vec![(sync.node.id(), None)]
        } else {
            services.into_iter().map(|s| (s.node_id, Some(s.service))).collect()
        };
        for (node_id, service) in targets {
            let a = crate::api::Activity {
                kind: kind.into(),
                message: message.clone(),
                node_id,
                service,
                timestamp: at.to_string(),
            };
            sync.api.record_activity(&a).await?;
        }
    }
    status.reported_action = Some(key);
    Ok(())
}

// ---------------------------------------------------------------- it-ops ConfigMaps

/// ConfigMap with `it-ops.yaml` → its services applied, behind the cleanup
/// finalizer; the services registered from it are remembered in its
/// [`REGISTERED_ANNOTATION`]. A service dropped from the document is deleted
/// from the API; so are all of them when the ConfigMap goes, loses the key,
/// or falls out of service discovery (then the finalizer goes too).
/// ConfigMaps without the key are never touched.
pub async fn reconcile_configmap(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cm.namespace().unwrap_or_default();
    let key = format!("configmap/{ns}/{}", cm.name_any());
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    // sync before config: the config loop publishes the OperatorConfig before
    // the sync, so with a sync the config read next is the real one
    let synced = ctx.sync.borrow().is_some();
    let cfg = ctx.config.borrow().service_discovery.clone();
    let has_key = cm.data.as_ref().is_some_and(|d| d.contains_key(CONFIGMAP_KEY));
    let allowed = cfg.enabled && NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(&ns);
    let ours = cm.finalizers().iter().any(|f| f == CLEANUP_FINALIZER);
    if !has_key && !ours {
        ctx.forget_services(&key);
        return Ok(Action::await_change());
    }
    if !synced {
        // nothing can be applied or deleted without the API
        return Ok(Action::requeue(ctx.settings.config_every));
    }
    if has_key && allowed {
        return finalizer(&api, CLEANUP_FINALIZER, cm, |event| async {
            match event {
                FinalizerEvent::Apply(cm) => apply_configmap(&cm, &ctx, &api, &key).await,
                FinalizerEvent::Cleanup(cm) => withdraw_configmap(&cm, &ctx, &key).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(e.to_string()));
    }
    // the key is gone (or discovery no longer covers the ConfigMap): withdraw, then let go
    withdraw_configmap(&cm, &ctx, &key).await?;
    let finalizers: Vec<&String> = cm.finalizers().iter().filter(|f| *f != CLEANUP_FINALIZER).collect();
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers,
        "annotations": {REGISTERED_ANNOTATION: null},
        "resourceVersion": cm.resource_version(),
    }});
    api.patch(&cm.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}

fn registered_services(cm: &ConfigMap) -> Result<Vec<RegisteredService>, Error> {
    parse_registered(cm.annotations().get(REGISTERED_ANNOTATION).map(String::as_str)).map_err(Error::Invalid)
}

async fn remember_registered(
    api: &Api<ConfigMap>,
    cm: &ConfigMap,
    services: &[RegisteredService],
) -> Result<(), Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {REGISTERED_ANNOTATION: render_registered(services)}}});
    api.patch(&cm.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

/// Delete `services` from the API, except those another source still declares.
async fn delete_services(ctx: &Ctx, source: &str, services: &[RegisteredService]) -> Result<usize, Error> {
    if services.is_empty() {
        return Ok(0);
    }
    let sync = ctx.sync.borrow().clone();
    let sync =
        sync.ok_or_else(|| Error::Invalid("cannot delete the API services: API sync is not configured".into()))?;
    let mut deleted = 0;
    for s in services {
        if ctx.declared_elsewhere(source, &s.node_id, &s.service) {
            continue;
        }
        sync.api.delete_service(&s.node_id, &s.service).await?;
        deleted += 1;
    }
    Ok(deleted)
}

async fn apply_configmap(cm: &ConfigMap, ctx: &Ctx, api: &Api<ConfigMap>, key: &str) -> Result<Action, Error> {
    let ns = cm.namespace().unwrap_or_default();
    let text = cm.data.as_ref().and_then(|d| d.get(CONFIGMAP_KEY)).map(String::as_str).unwrap_or_default();
    let parsed = match configmap_documents(text, &ns) {
        Ok(p) => p,
        Err(errs) => {
            // what is registered stays: a typo does not delete services
            let msg = errs.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            ctx.event(&cm.object_ref(&()), true, "InvalidConfig", msg.clone()).await;
            ctx.forget_services(key);
            return Ok(Action::await_change());
        }
    };
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return Ok(Action::requeue(ctx.settings.config_every)) };
    let registered = registered_services(cm)?;
    let plan = plan_services(&registered, &declared_services(&parsed.services));
    if let Some(first) = &plan.remember_first {
        remember_registered(api, cm, first).await?;
    }
    let hash = config_hash(&render(&parsed.documents));
    if !parsed.documents.is_empty() && ctx.sent_hash(key).as_deref() != Some(hash.as_str()) {
        match sync.api.apply(&parsed.documents).await {
            Ok(resp) => {
                ctx.metrics.api_syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ctx.remember_sent(key, hash);
                let note = format!("{} service(s) applied", resp.items.len());
                ctx.event(&cm.object_ref(&()), false, "Applied", note).await;
            }
            Err(e) => {
                ctx.event(&cm.object_ref(&()), true, "ApiError", e.to_string()).await;
                return Err(e.into());
            }
        }
    }
    ctx.remember_services(key, parsed.services, parsed.workloads);
    if !plan.withdraw.is_empty() {
        let n = delete_services(ctx, key, &plan.withdraw).await?;
        let names: Vec<&str> = plan.withdraw.iter().map(|s| s.service.as_str()).collect();
        let note = format!("{n} service(s) no longer declared deleted: {}", names.join(", "));
        ctx.event(&cm.object_ref(&()), false, "Withdrawn", note).await;
    }
    if let Some(last) = &plan.remember_last {
        remember_registered(api, cm, last).await?;
    }
    Ok(resync())
}

/// Delete every service registered from the ConfigMap (finalizer cleanup).
async fn withdraw_configmap(cm: &ConfigMap, ctx: &Ctx, key: &str) -> Result<Action, Error> {
    ctx.forget_services(key);
    let registered = registered_services(cm)?;
    let n = delete_services(ctx, key, &registered).await?;
    if n > 0 {
        ctx.event(&cm.object_ref(&()), false, "Withdrawn", format!("{n} service(s) deleted")).await;
    }
    Ok(Action::await_change())
}

/// Readiness of every workload named by an applied service, reported as health.
pub async fn workload_pass(ctx: &Ctx) -> Result<usize, Error> {
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return Ok(0) };
    let workloads = ctx.known_workloads();
    let mut sent = 0;
    for w in workloads {
        let Some(kind) = WorkloadKind::parse(&w.workload_type) else {
            tracing::warn!(service = %w.service, workload_type = %w.workload_type, "unknown workloadType");
            continue;
        };
        let c = ctx.client.clone();
        let replicas = match kind {
            WorkloadKind::Deployment => {
                let d = Api::<Deployment>::namespaced(c, &w.namespace).get_opt(&w.workload_name).await?;
                if let Some(r) = d.as_ref().and_then(crate::mapping::workload::Rollout::of) {
                    report_rollout(ctx, &sync, &w, r).await?;
                }
                d.map(|d| deployment_replicas(&d))
            }
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(c, &w.namespace)
                .get_opt(&w.workload_name)
                .await?
                .map(|s| statefulset_replicas(&s)),
            WorkloadKind::DaemonSet => Api::<DaemonSet>::namespaced(c, &w.namespace)
                .get_opt(&w.workload_name)
                .await?
                .map(|d| daemonset_replicas(&d)),
        };
        let (status, message) = workload_status(replicas);
        let report = HealthReport {
            service: w.service.clone(),
            status,
            node_id: if w.node_id.is_empty() { sync.node.id() } else { w.node_id.clone() },
            message: Some(message),
            timestamp: ctx.now().to_string(),
            source: Some(nines_core::wire::ReportSource::Operator),
        };
        sync.api.report_health(&report).await?;
        sent += 1;
    }
    Ok(sent)
}

/// A Deployment's rollout → activities of the service it backs, when it
/// changed since the last pass (what the timeline of a downtime shows as
/// "what changed just before").
async fn report_rollout(
    ctx: &Ctx,
    sync: &crate::runtime::Sync,
    w: &crate::mapping::apply::WorkloadRef,
    now: crate::mapping::workload::Rollout,
) -> Result<(), Error> {
    let key = format!("{}/{}/{}", w.namespace, w.workload_name, w.service);
    let before = ctx.rollouts.lock().expect("not poisoned").get(&key).cloned();
    for message in crate::mapping::workload::rollout_changes(&w.workload_name, before.as_ref(), &now) {
        let activity = crate::api::Activity {
            kind: "deployment".into(),
            message,
            node_id: if w.node_id.is_empty() { sync.node.id() } else { w.node_id.clone() },
            service: Some(w.service.clone()),
            timestamp: ctx.now().to_string(),
        };
        // not remembered until sent: a failed pass reports it again
        sync.api.record_activity(&activity).await?;
    }
    ctx.rollouts.lock().expect("not poisoned").insert(key, now);
    Ok(())
}

pub async fn workload_loop(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        let delay = if failures > 0 { crate::reconcile::backoff(failures) } else { ctx.settings.report_every };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {},
            _ = stopped(stop.clone()) => return,
        }
        match workload_pass(&ctx).await {
            Ok(_) => {
                failures = 0;
                ctx.metrics.count("workload", true);
            }
            Err(e) => {
                failures += 1;
                ctx.metrics.count("workload", false);
                tracing::warn!(error = %e, "workload readiness report failed");
            }
        }
    }
}

// ---------------------------------------------------------------- status services

/// StatusService → its nines service, then a health report of the Service's
/// ready endpoints every `report_every`; the finalizer deletes the service.
pub async fn reconcile_status_service(cr: Arc<StatusService>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let api: Api<StatusService> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    finalizer(&api, CLEANUP_FINALIZER, cr, |event| async {
        match event {
            FinalizerEvent::Apply(s) => apply_status_service(&s, &ctx, &api).await,
            FinalizerEvent::Cleanup(s) => {
                let ns = s.namespace().unwrap_or_default();
                if s.status.as_ref().and_then(|st| st.config_hash.as_ref()).is_some() {
                    let sync = ctx.sync.borrow().clone();
                    let sync = sync.ok_or_else(|| {
                        Error::Invalid("cannot delete the API service: API sync is not configured".into())
                    })?;
                    sync.api.delete_service(&sync.node.id(), &status_service_name(&ns, &s.name_any())).await?;
                }
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

async fn apply_status_service(cr: &StatusService, ctx: &Ctx, api: &Api<StatusService>) -> Result<Action, Error> {
    let name = cr.name_any();
    let ns = cr.namespace().unwrap_or_default();
    let generation = cr.metadata.generation;
    let mut status = cr.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return wait_for_sync(ctx, api, cr, status).await };
    let doc = status_service_document(&sync.node, &ns, &name, &cr.spec.display_name, &cr.spec.service_name);
    let hash = config_hash(&render(std::slice::from_ref(&doc)));
    if status.config_hash.as_deref() != Some(hash.as_str()) {
        sync.api.apply(std::slice::from_ref(&doc)).await?;
        status.config_hash = Some(hash);
    }
    let slices: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    let lp = ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={}", cr.spec.service_name));
    let listed = slices.list(&lp).await?;
    let ready = ready_endpoints(listed.items.iter());
    let t = ctx.now();
    let since = status.not_ready_since.as_deref().and_then(|s| s.parse().ok());
    let (state, since) = evaluate(ready, since, t);
    let before = status.state.clone();
    status.state = Some(state.as_str().into());
    status.ready_endpoints = ready as i64;
    status.not_ready_since = since.map(|s| s.to_string());
    let message = match state {
        ServiceState::Ok => format!("{ready} ready endpoint(s)"),
        _ => format!("no ready endpoint of Service {} since {}", cr.spec.service_name, since.unwrap_or(t)),
    };
    let report = HealthReport {
        service: status_service_name(&ns, &name),
        status: state.status(),
        node_id: sync.node.id(),
        message: Some(message.clone()),
        timestamp: t.to_string(),
        source: Some(nines_core::wire::ReportSource::Operator),
    };
    if let Err(e) = sync.api.report_health(&report).await {
        return api_failed(ctx, api, cr, status, e).await;
    }
    status.last_reported_at = Some(t.to_string());
    set_condition(
        &mut status.conditions,
        ready_condition(state == ServiceState::Ok, state_reason(state), message.clone(), generation),
        t,
    );
    merge_status(api, &name, &status).await?;
    if before.as_deref() != Some(state.as_str()) {
        let warning = state != ServiceState::Ok;
        ctx.event(&cr.object_ref(&()), warning, state_reason(state), message).await;
    }
    Ok(Action::requeue(ctx.settings.report_every))
}

fn state_reason(s: ServiceState) -> &'static str {
    match s {
        ServiceState::Ok => "EndpointsReady",
        ServiceState::Warning => "NoReadyEndpoints",
        ServiceState::Error => "NoReadyEndpointsFor10m",
    }
}

/// StatusServiceGroup → the status page group with its members (every
/// StatusService naming the group); the finalizer deletes the group.
pub async fn reconcile_status_group(cr: Arc<StatusServiceGroup>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let api: Api<StatusServiceGroup> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
    finalizer(&api, CLEANUP_FINALIZER, cr, |event| async {
        match event {
            FinalizerEvent::Apply(g) => apply_status_group(&g, &ctx, &api).await,
            FinalizerEvent::Cleanup(g) => {
                if g.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.reason == "Synced")) {
                    let sync = ctx.sync.borrow().clone();
                    let sync = sync
                        .ok_or_else(|| Error::Invalid("cannot delete the group: API sync is not configured".into()))?;
                    sync.api.delete_status_group(&g.name_any()).await?;
                }
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

/// The status page group of a StatusServiceGroup and its member services.
pub fn group_request(group: &StatusServiceGroup, node_id: &str, members: &[StatusService]) -> StatusPageGroup {
    let name = group.name_any();
    StatusPageGroup {
        display_name: if group.spec.display_name.is_empty() { name.clone() } else { group.spec.display_name.clone() },
        description: group.spec.display_description.clone(),
        services: members
            .iter()
            .filter(|s| s.spec.group.as_deref() == Some(name.as_str()))
            .map(|s| GroupMember {
                node_id: node_id.into(),
                service: status_service_name(&s.namespace().unwrap_or_default(), &s.name_any()),
                display_name: if s.spec.display_name.is_empty() { s.name_any() } else { s.spec.display_name.clone() },
                description: s.spec.display_description.clone(),
            })
            .collect(),
    }
}

async fn apply_status_group(g: &StatusServiceGroup, ctx: &Ctx, api: &Api<StatusServiceGroup>) -> Result<Action, Error> {
    let name = g.name_any();
    let mut status = g.status.clone().unwrap_or_default();
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return wait_for_sync(ctx, api, g, status).await };
    let all = Api::<StatusService>::all(ctx.client.clone()).list(&ListParams::default()).await?;
    let members: Vec<StatusService> =
        all.items.into_iter().filter(|s| s.spec.group.as_deref() == Some(name.as_str())).collect();
    let req = group_request(g, &sync.node.id(), &members);
    let states: BTreeMap<String, String> = members
        .iter()
        .map(|s| (s.name_any(), s.status.as_ref().and_then(|st| st.state.clone()).unwrap_or_else(|| "unknown".into())))
        .collect();
    let worst =
        group_state(members.iter().filter_map(|s| match s.status.as_ref().and_then(|st| st.state.as_deref()) {
            Some("ok") => Some(ServiceState::Ok),
            Some("warning") => Some(ServiceState::Warning),
            Some("error") => Some(ServiceState::Error),
            _ => None,
        }));
    let t = ctx.now();
    let hash = config_hash(&req);
    let synced = status.conditions.iter().any(|c| c.reason == "Synced" && c.message.ends_with(&hash));
    if !synced {
        if let Err(e) = sync.api.put_status_group(&name, &req).await {
            return api_failed(ctx, api, g, status, e).await;
        }
        ctx.event(&g.object_ref(&()), false, "Synced", format!("{} member(s)", req.services.len())).await;
    }
    status.members = req.services.len() as i64;
    status.state = Some(worst.as_str().into());
    status.member_states = states;
    let msg = format!("{} member(s); membership {hash}", req.services.len());
    set_condition(&mut status.conditions, ready_condition(true, "Synced", msg, g.metadata.generation), t);
    if g.status.as_ref() != Some(&status) {
        merge_status(api, &name, &status).await?;
    }
    Ok(Action::requeue(ctx.settings.report_every))
}

// ---------------------------------------------------------------- wiring

/// Delete every `K` labelled as discovered, retrying until done or `stop`:
/// what a discovery turned off leaves behind (finalizers on the CRs delete
/// their API objects). Only nines.dev kinds are asked.
pub async fn remove_discovered<K>(ctx: &Ctx, stop: watch::Receiver<bool>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    remove_discovered_where::<K>(ctx, stop, "").await
}

/// [`remove_discovered`] of the objects that also match `more` (a label
/// selector continued: `,key=value`).
pub async fn remove_discovered_where<K>(ctx: &Ctx, stop: watch::Receiver<bool>, more: &str)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let all: Api<K> = Api::all(ctx.client.clone());
    let lp = ListParams::default().labels(&format!("{DISCOVERED_LABEL}=true{more}"));
    let mut failures = 0u32;
    loop {
        let removed = async {
            for cr in all.list(&lp).await?.items {
                let api: Api<K> = Api::namespaced(ctx.client.clone(), &cr.namespace().unwrap_or_default());
                delete_cr(&api, &cr.name_any()).await?;
            }
            Ok::<(), Error>(())
        };
        match removed.await {
            Ok(()) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(kind = %K::kind(&()), error = %e, "removing discovered objects failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(crate::reconcile::backoff(failures)) => {},
            _ = stopped(stop.clone()) => return,
        }
    }
}

/// Service discovery turned off: withdraw the services of every ConfigMap
/// still carrying the cleanup finalizer and let it go (a ConfigMap keeping
/// the finalizer could not be deleted). Lists ConfigMaps until none carries
/// it, then asks nothing more.
async fn release_configmaps(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let all: Api<ConfigMap> = Api::all(ctx.client.clone());
    loop {
        let mut pending = false;
        match all.list(&ListParams::default()).await {
            Ok(list) => {
                for cm in list.items.into_iter().filter(|c| c.finalizers().iter().any(|f| f == CLEANUP_FINALIZER)) {
                    pending = true;
                    let r = reconcile_configmap(Arc::new(cm), ctx.clone()).await;
                    ctx.metrics.count("configmap", r.is_ok());
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "releasing an it-ops ConfigMap failed");
                    }
                }
            }
            Err(e) => {
                pending = true;
                tracing::warn!(error = %e, "listing it-ops ConfigMaps failed");
            }
        }
        if !pending {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.settings.config_every) => {},
            _ = stopped(stop.clone()) => return,
        }
    }
}

/// Start every discovery controller and loop; returns when `stop` turns
/// true. The watchers of each discovery run only while the OperatorConfig
/// has it on (`crate::runtime::gated`); the controllers of the nines.dev kinds always run.
pub async fn run_discovery(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let client = ctx.client.clone();
    let wc = watcher::Config::default;
    let (c, s) = (&ctx, &stop);

    let certificates = run_ctrl(ctrl_all::<Certificate>(&client), reconcile_certificate, c, s, "certificate");
    let backups = run_ctrl(ctrl_all::<Backup>(&client), reconcile_backup, c, s, "backup");
    let apps = run_ctrl(ctrl_all::<K8sApp>(&client), reconcile_k8sapp, c, s, "k8sapp");
    let status_services = run_ctrl(ctrl_all::<StatusService>(&client), reconcile_status_service, c, s, "statusservice");
    let status_groups =
        run_ctrl(ctrl_all::<StatusServiceGroup>(&client), reconcile_status_group, c, s, "statusservicegroup");

    let nodes = gated(
        ctx.clone(),
        stop.clone(),
        "node",
        |c| c.node_discovery.enabled,
        watchers(c, |ctx, stop| async move {
            run_ctrl(ctrl_all::<Node>(&ctx.client), reconcile_node, &ctx, &stop, "node").await
        }),
        None,
    );
    let meta_secrets = gated(
        ctx.clone(),
        stop.clone(),
        "app",
        |c| c.app_discovery.enabled,
        watchers(c, move |ctx, stop| async move {
            let ctrls = crate::mapping::k8sapp::META_TYPE_LABELS.iter().map(|label| {
                let secrets =
                    Controller::new(Api::<Secret>::all(ctx.client.clone()), wc().labels(&format!("{label}=meta")));
                run_ctrl(secrets, reconcile_meta_secret, &ctx, &stop, "meta-secret")
            });
            futures_util::future::join_all(ctrls).await;
        }),
        None,
    );
    let artifacts = gated(
        ctx.clone(),
        stop.clone(),
        "artifact",
        |c| c.artifact_discovery.enabled,
        watchers(c, artifact_loop),
        None,
    );
    let configmaps = gated(
        ctx.clone(),
        stop.clone(),
        "service",
        |c| c.service_discovery.enabled,
        watchers(c, |ctx, stop| async move {
            run_ctrl(ctrl_all::<ConfigMap>(&ctx.client), reconcile_configmap, &ctx, &stop, "configmap").await
        }),
        Some(watchers(c, release_configmaps)),
    );

    // sources whose CRDs may be missing start once they are served
    let crd_poll = ctx.settings.config_every.max(Duration::from_millis(200)) * 2;
    let dynamic = move |client: &kube::Client, ar: &ApiResource| {
        Controller::new_with(Api::<DynamicObject>::all_with(client.clone(), ar), wc(), ar.clone())
    };
    let cert_manager = gated(
        ctx.clone(),
        stop.clone(),
        "certificate",
        |c| c.certificate_discovery.enabled,
        watchers(c, move |ctx, stop| async move {
            let (client, ar) = (ctx.client.clone(), cert_manager_certificates());
            if wait_until_served(&client, &ar, crd_poll, stop.clone()).await {
                let ctrl = dynamic(&client, &ar).owns(Api::<Certificate>::all(client.clone()), wc());
                run_ctrl(ctrl, reconcile_cm_certificate, &ctx, &stop, "cert-manager").await;
            }
        }),
        Some(watchers(c, |ctx, stop| async move { remove_discovered::<Certificate>(&ctx, stop).await })),
    );
    let velero = gated(
        ctx.clone(),
        stop.clone(),
        "backup",
        |c| c.backup_discovery.enabled,
        watchers(c, move |ctx, stop| async move {
            let (client, ar) = (ctx.client.clone(), velero_backups());
            if wait_until_served(&client, &ar, crd_poll, stop.clone()).await {
                let b = dynamic(&client, &ar).owns(Api::<Backup>::all(client.clone()), wc());
                let s = dynamic(&client, &velero_schedules());
                tokio::join!(
                    run_ctrl(b, reconcile_velero_backup, &ctx, &stop, "velero-backup"),
                    run_ctrl(s, reconcile_velero_schedule, &ctx, &stop, "velero-schedule"),
                );
            }
        }),
        Some(watchers(c, |ctx, stop| async move {
            tokio::join!(
                remove_discovered::<Backup>(&ctx, stop.clone()),
                remove_discovered::<BackupSchedule>(&ctx, stop),
            );
        })),
    );
    let cnpg = gated(
        ctx.clone(),
        stop.clone(),
        "cnpg",
        |c| c.backup_discovery.enabled && c.backup_discovery.cnpg_enabled,
        watchers(c, move |ctx, stop| async move {
            let (client, ar) = (ctx.client.clone(), cnpg_backups());
            if wait_until_served(&client, &ar, crd_poll, stop.clone()).await {
                let b = dynamic(&client, &ar).owns(Api::<Backup>::all(client.clone()), wc());
                let s = dynamic(&client, &cnpg_scheduled_backups());
                tokio::join!(
                    run_ctrl(b, reconcile_cnpg_backup, &ctx, &stop, "cnpg-backup"),
                    run_ctrl(s, reconcile_cnpg_scheduled_backup, &ctx, &stop, "cnpg-scheduled-backup"),
                );
            }
        }),
        Some(watchers(c, |ctx, stop| async move {
            let only = format!(",{SOURCE_LABEL}=cnpg");
            tokio::join!(
                remove_discovered_where::<Backup>(&ctx, stop.clone(), &only),
                remove_discovered_where::<BackupSchedule>(&ctx, stop, &only),
            );
        })),
    );
    tokio::join!(
        cnpg,
        certificates,
        backups,
        nodes,
        apps,
        meta_secrets,
        configmaps,
        status_services,
        status_groups,
        cert_manager,
        velero,
        artifacts,
        workload_loop(ctx.clone(), stop.clone()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(ns: &str, name: &str, group: Option<&str>, display: &str) -> StatusService {
        let mut s = StatusService::new(
            name,
            StatusServiceSpec {
                service_name: "svc".into(),
                display_name: display.into(),
                display_description: format!("{name} description"),
                group: group.map(String::from),
            },
        );
        s.metadata.namespace = Some(ns.into());
        s
    }

    #[test]
    fn group_request_lists_its_members_only() {
        let mut g = StatusServiceGroup::new(
            "main",
            StatusServiceGroupSpec { display_name: "Main group".into(), display_description: "the main one".into() },
        );
        g.metadata.namespace = Some("ops".into());
        let members = [
            member("shop", "web", Some("main"), "Web shop"),
            member("blog", "api", Some("main"), ""),
            member("shop", "db", Some("other"), "DB"),
            member("shop", "cache", None, "Cache"),
        ];
        let req = group_request(&g, "acme/k8s/prod/c1", &members);
        assert_eq!(req.display_name, "Main group");
        assert_eq!(req.description, "the main one");
        let got: Vec<(&str, &str)> =
            req.services.iter().map(|m| (m.service.as_str(), m.display_name.as_str())).collect();
        assert_eq!(got, [("status-shop-web", "Web shop"), ("status-blog-api", "api")]);
        assert!(req.services.iter().all(|m| m.node_id == "acme/k8s/prod/c1"));
        let body = serde_json::to_value(&req).unwrap();
        assert_eq!(body["services"][0]["description"], "web description");
        assert_eq!(body["displayName"], "Main group");
        // a group without a display name shows its name
        g.spec.display_name.clear();
        assert_eq!(group_request(&g, "a/b/c/d", &[]).display_name, "main");
    }
}
