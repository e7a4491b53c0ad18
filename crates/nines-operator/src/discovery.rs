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
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::api::{GroupMember, HealthReport, StatusPageGroup};
use crate::controller::{
    Ctx, Error, RESYNC, counted, error_policy, ignore_not_found, now, resync, stopped, with_backoff,
};
use crate::crd::*;
use crate::mapping::apply::{CONFIGMAP_KEY, configmap_documents, render, status_service_document, status_service_name};
use crate::mapping::certmanager::{
    CmCertificate, certificate_report, certificate_spec, cr_name as cert_cr_name, issuer_allowed,
};
use crate::mapping::image::aggregate_pods;
use crate::mapping::k8sapp::{AppState, app_item, app_spec, installation_state, is_meta_secret, linked_artifacts};
use crate::mapping::node::node_inventory;
use crate::mapping::status_service::{SERVICE_NAME_LABEL, ServiceState, evaluate, group_state, ready_endpoints};
use crate::mapping::velero::{VeleroBackup, VeleroSchedule, backup_reports, backup_spec, schedule_spec};
use crate::mapping::workload::{
    WorkloadKind, daemonset_replicas, deployment_replicas, statefulset_replicas, workload_status,
};
use crate::mapping::{NamespaceFilter, config_hash, label_value, object_name, selector_matches};
use crate::reconcile::{ArtifactAction, needs_sync, plan_artifacts, ready_condition, set_condition};

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

async fn merge_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(serde_json::json!({ "status": status }))).await?;
    Ok(())
}

async fn delete_cr<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.delete(name, &DeleteParams::default()).await.map(drop).or_else(ignore_not_found)?;
    Ok(())
}

fn not_synced(conditions: &mut Vec<Condition>, generation: Option<i64>) {
    set_condition(
        conditions,
        ready_condition(false, "ApiSyncNotConfigured", "waiting for OperatorConfig api_sync", generation),
        now(),
    );
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
    let spec = certificate_spec(&name, &ns, &obj.uid().unwrap_or_default(), &cm, now());
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
        not_synced(&mut status.conditions, generation);
        merge_status(api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
    let report = certificate_report(&cr.spec, &sync.node.id());
    let hash = config_hash(&report);
    let t = now();
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
            set_condition(&mut status.conditions, ready_condition(false, "ApiError", e.to_string(), generation), t);
            merge_status(api, &name, &status).await?;
            ctx.event(&cr.object_ref(&()), true, "ApiError", e.to_string()).await;
            Err(e.into())
        }
    }
}

// ---------------------------------------------------------------- velero

fn velero_namespace_ok(ctx: &Ctx, ns: &str) -> bool {
    let cfg = ctx.config.borrow().backup_discovery.clone();
    cfg.enabled && ns == cfg.velero_namespace
}

/// Velero Backup → Backup CR (same namespace, owned by the source).
pub async fn reconcile_velero_backup(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<Backup> = Api::namespaced(ctx.client.clone(), &ns);
    let crn = object_name(&["velero", &name]);
    if !velero_namespace_ok(&ctx, &ns) || obj.meta().deletion_timestamp.is_some() {
        delete_cr(&api, &crn).await?;
        return Ok(Action::await_change());
    }
    let b: VeleroBackup = serde_json::from_value(obj.data.clone())
        .map_err(|e| Error::Invalid(format!("velero Backup {ns}/{name}: {e}")))?;
    let spec = backup_spec(&name, &ns, &obj.uid().unwrap_or_default(), obj.labels(), &b);
    let mut cr = Backup::new(&crn, spec.clone());
    cr.metadata.namespace = Some(ns.clone());
    cr.metadata.labels = Some(discovered_labels(&[("backups.nines.dev/status", &spec.status)]));
    cr.metadata.owner_references = obj.controller_owner_ref(&velero_backups()).map(|o| vec![o]);
    apply_cr(&api, &cr).await?;
    Ok(Action::await_change())
}

/// Velero Schedule → BackupSchedule CR.
pub async fn reconcile_velero_schedule(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<BackupSchedule> = Api::namespaced(ctx.client.clone(), &ns);
    let crn = object_name(&["velero", &name]);
    if !velero_namespace_ok(&ctx, &ns) || obj.meta().deletion_timestamp.is_some() {
        delete_cr(&api, &crn).await?;
        return Ok(Action::await_change());
    }
    let s: VeleroSchedule = serde_json::from_value(obj.data.clone())
        .map_err(|e| Error::Invalid(format!("velero Schedule {ns}/{name}: {e}")))?;
    let mut cr = BackupSchedule::new(&crn, schedule_spec(&name, &ns, &obj.uid().unwrap_or_default(), &s));
    cr.metadata.namespace = Some(ns.clone());
    cr.metadata.labels = Some(discovered_labels(&[]));
    cr.metadata.owner_references = obj.controller_owner_ref(&velero_schedules()).map(|o| vec![o]);
    apply_cr(&api, &cr).await?;
    let mut status = cr.status.clone().unwrap_or_default();
    set_condition(
        &mut status.conditions,
        ready_condition(true, "Discovered", "mirrors the Velero schedule", None),
        now(),
    );
    status.phase = Some("Discovered".into());
    merge_status(&api, &crn, &status).await?;
    Ok(Action::await_change())
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
        not_synced(&mut status.conditions, generation);
        merge_status(&api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
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
        set_condition(&mut status.conditions, ready_condition(true, "NothingToReport", why, generation), now());
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
            set_condition(&mut status.conditions, ready_condition(false, "ApiError", e.to_string(), generation), now());
            merge_status(&api, &name, &status).await?;
            ctx.event(&cr.object_ref(&()), true, "ApiError", e.to_string()).await;
            return Err(e.into());
        }
    }
    status.config_hash = Some(hash);
    status.last_synced_at = Some(now().to_string());
    status.sync_status = Some("synced".into());
    status.phase = Some("Reported".into());
    status.reported_services = reports.iter().map(|r| format!("{}/{}", r.node_id, r.service)).collect();
    let msg = format!("reported to {} service(s)", reports.len());
    set_condition(&mut status.conditions, ready_condition(true, "Reported", msg.clone(), generation), now());
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
    let existing: BTreeMap<String, (i64, Option<Timestamp>)> = listed
        .items
        .iter()
        .map(|a| {
            let st = a.status.clone().unwrap_or_default();
            (a.name_any(), (st.total_pod_count, st.last_seen_at.as_deref().and_then(|s| s.parse().ok())))
        })
        .collect();
    let old_status: BTreeMap<String, ArtifactStatus> =
        listed.items.iter().map(|a| (a.name_any(), a.status.clone().unwrap_or_default())).collect();
    let by_name: BTreeMap<String, _> = images.iter().map(|(r, u)| (r.cr_name(), (r, u))).collect();
    let t = now();
    let stale = SignedDuration::from_hours(cfg.cleanup.stale_threshold_hours.max(1) as i64);
    let in_use: Vec<String> = by_name.keys().cloned().collect();
    for action in plan_artifacts(&in_use, &existing, t, cfg.cleanup.enabled, stale) {
        match action {
            ArtifactAction::Upsert { name } => {
                let (r, u) = by_name[&name];
                let mut cr = Artifact::new(&name, r.spec());
                cr.metadata.labels = Some(discovered_labels(&[
                    ("artifacts.nines.dev/registry", &r.registry),
                    ("artifacts.nines.dev/repository", &r.repository.replace('/', "-")),
                    ("artifacts.nines.dev/tag", r.tag.as_deref().unwrap_or("")),
                ]));
                apply_cr(&api, &cr).await?;
                let old = old_status.get(&name).cloned().unwrap_or_default();
                let first_seen = |ns: &str| {
                    old.used_in_namespaces.iter().find(|n| n.name == ns).and_then(|n| n.first_seen_at.clone())
                };
                let status = ArtifactStatus {
                    phase: Some("Discovered".into()),
                    conditions: old.conditions.clone(),
                    used_in_namespaces: u
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
                    total_pod_count: u.total(),
                    sync_status: old.sync_status.clone(),
                };
                // only write when the usage changed, so a quiet cluster writes nothing
                let same = old.total_pod_count == status.total_pod_count
                    && old
                        .used_in_namespaces
                        .iter()
                        .map(|n| (&n.name, n.pod_count))
                        .eq(status.used_in_namespaces.iter().map(|n| (&n.name, n.pod_count)));
                if !same || old.phase.is_none() {
                    merge_status(&api, &name, &status).await?;
                }
            }
            ArtifactAction::MarkUnused { name } => {
                merge_status(
                    &api,
                    &name,
                    &serde_json::json!({"total_pod_count": 0, "used_in_namespaces": [], "phase": "Unused"}),
                )
                .await?;
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
    sync.api.put_artifacts(&sync.node.id(), &items).await?;
    ctx.remember_sent("artifacts", hash);
    for name in by_name.keys() {
        merge_status(&api, name, &serde_json::json!({"sync_status": "synced"})).await.ok();
    }
    Ok(())
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
        not_synced(&mut status.conditions, generation);
        merge_status(&api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
    let item = app_item(&name, &ns, &cr.spec, &status.artifacts);
    let hash = config_hash(&(&sync.node.id(), &item));
    if status.config_hash.as_deref() != Some(hash.as_str()) {
        if let Err(e) = sync.api.put_apps(&sync.node.id(), std::slice::from_ref(&item)).await {
            status.phase = Some("Error".into());
            status.sync_status = Some("error".into());
            set_condition(&mut status.conditions, ready_condition(false, "ApiError", e.to_string(), generation), now());
            merge_status(&api, &name, &status).await?;
            ctx.event(&cr.object_ref(&()), true, "ApiError", e.to_string()).await;
            return Err(e.into());
        }
        status.config_hash = Some(hash);
        ctx.event(&cr.object_ref(&()), false, "Synced", format!("app {name} is {}", state.as_str())).await;
    }
    status.phase = Some("Synced".into());
    status.sync_status = Some("synced".into());
    set_condition(&mut status.conditions, ready_condition(true, "Synced", "sent to the nines API", generation), now());
    if cr.status.as_ref() != Some(&status) {
        merge_status(&api, &name, &status).await?;
    }
    // artifacts follow the pods: link again a minute later
    Ok(Action::requeue(Duration::from_secs(60)))
}

// ---------------------------------------------------------------- it-ops ConfigMaps

/// ConfigMap with `it-ops.yaml` → its services applied; its services and
/// workloads remembered for backup reports and readiness.
pub async fn reconcile_configmap(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cm.namespace().unwrap_or_default();
    let key = format!("configmap/{ns}/{}", cm.name_any());
    let cfg = ctx.config.borrow().service_discovery.clone();
    let text = cm.data.as_ref().and_then(|d| d.get(CONFIGMAP_KEY));
    let allowed = cfg.enabled && NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(&ns);
    let (Some(text), true, None) = (text, allowed, cm.meta().deletion_timestamp.as_ref()) else {
        ctx.forget_services(&key);
        return Ok(Action::await_change());
    };
    let parsed = match configmap_documents(text, &ns) {
        Ok(p) => p,
        Err(errs) => {
            let msg = errs.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            ctx.event(&cm.object_ref(&()), true, "InvalidConfig", msg.clone()).await;
            ctx.forget_services(&key);
            return Ok(Action::await_change());
        }
    };
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else { return Ok(Action::requeue(Duration::from_secs(60))) };
    let hash = config_hash(&render(&parsed.documents));
    if ctx.sent_hash(&key).as_deref() != Some(hash.as_str()) {
        match sync.api.apply(&parsed.documents).await {
            Ok(resp) => {
                ctx.metrics.api_syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ctx.remember_sent(&key, hash);
                let note = format!("{} service(s) applied", resp.items.len());
                ctx.event(&cm.object_ref(&()), false, "Applied", note).await;
            }
            Err(e) => {
                ctx.event(&cm.object_ref(&()), true, "ApiError", e.to_string()).await;
                return Err(e.into());
            }
        }
    }
    ctx.remember_services(&key, parsed.services, parsed.workloads);
    Ok(resync())
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
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(c, &w.namespace)
                .get_opt(&w.workload_name)
                .await?
                .map(|d| deployment_replicas(&d)),
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
            timestamp: now().to_string(),
        };
        sync.api.report_health(&report).await?;
        sent += 1;
    }
    Ok(sent)
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
    let Some(sync) = sync else {
        not_synced(&mut status.conditions, generation);
        merge_status(api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
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
    let t = now();
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
    };
    if let Err(e) = sync.api.report_health(&report).await {
        set_condition(&mut status.conditions, ready_condition(false, "ApiError", e.to_string(), generation), t);
        merge_status(api, &name, &status).await?;
        return Err(e.into());
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
    let Some(sync) = sync else {
        not_synced(&mut status.conditions, g.metadata.generation);
        merge_status(api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
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
    let t = now();
    let hash = config_hash(&req);
    let synced = status.conditions.iter().any(|c| c.reason == "Synced" && c.message.ends_with(&hash));
    if !synced {
        if let Err(e) = sync.api.put_status_group(&name, &req).await {
            set_condition(
                &mut status.conditions,
                ready_condition(false, "ApiError", e.to_string(), g.metadata.generation),
                t,
            );
            merge_status(api, &name, &status).await?;
            ctx.event(&g.object_ref(&()), true, "ApiError", e.to_string()).await;
            return Err(e.into());
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

/// Start every discovery controller and loop; returns when `stop` turns true.
pub async fn run_discovery(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let client = ctx.client.clone();
    let one = || ControllerConfig::default().concurrency(1);
    let m = ctx.metrics.clone();
    let wc = watcher::Config::default;

    let certificates = Controller::new(Api::<Certificate>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_certificate), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "certificate"));
    let backups = Controller::new(Api::<Backup>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_backup), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "backup"));
    let nodes = Controller::new(Api::<Node>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_node), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "node"));
    let apps = Controller::new(Api::<K8sApp>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_k8sapp), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "k8sapp"));
    let mut secret_controllers = Vec::new();
    for label in crate::mapping::k8sapp::META_TYPE_LABELS {
        secret_controllers.push(
            Controller::new(Api::<Secret>::all(client.clone()), wc().labels(&format!("{label}=meta")))
                .with_config(one())
                .graceful_shutdown_on(stopped(stop.clone()))
                .run(with_backoff(reconcile_meta_secret), error_policy, ctx.clone())
                .for_each(counted(m.clone(), "meta-secret")),
        );
    }
    let configmaps = Controller::new(Api::<ConfigMap>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_configmap), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "configmap"));
    let status_services = Controller::new(Api::<StatusService>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_status_service), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "statusservice"));
    let status_groups = Controller::new(Api::<StatusServiceGroup>::all(client.clone()), wc())
        .with_config(one())
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile_status_group), error_policy, ctx.clone())
        .for_each(counted(m.clone(), "statusservicegroup"));

    // sources whose CRDs may be missing start once they are served
    let crd_poll = ctx.settings.config_every.max(Duration::from_millis(200)) * 2;
    let (c1, ctx1, s1) = (client.clone(), ctx.clone(), stop.clone());
    let cert_manager = async move {
        let ar = cert_manager_certificates();
        if !wait_until_served(&c1, &ar, crd_poll, s1.clone()).await {
            return;
        }
        Controller::new_with(Api::<DynamicObject>::all_with(c1.clone(), &ar), watcher::Config::default(), ar)
            .owns(Api::<Certificate>::all(c1.clone()), watcher::Config::default())
            .with_config(ControllerConfig::default().concurrency(1))
            .graceful_shutdown_on(stopped(s1.clone()))
            .run(with_backoff(reconcile_cm_certificate), error_policy, ctx1.clone())
            .for_each(counted(ctx1.metrics.clone(), "cert-manager"))
            .await;
    };
    let (c2, ctx2, s2) = (client.clone(), ctx.clone(), stop.clone());
    let velero = async move {
        let ar = velero_backups();
        if !wait_until_served(&c2, &ar, crd_poll, s2.clone()).await {
            return;
        }
        let sr = velero_schedules();
        let b = Controller::new_with(Api::<DynamicObject>::all_with(c2.clone(), &ar), watcher::Config::default(), ar)
            .owns(Api::<Backup>::all(c2.clone()), watcher::Config::default())
            .with_config(ControllerConfig::default().concurrency(1))
            .graceful_shutdown_on(stopped(s2.clone()))
            .run(with_backoff(reconcile_velero_backup), error_policy, ctx2.clone())
            .for_each(counted(ctx2.metrics.clone(), "velero-backup"));
        let s = Controller::new_with(Api::<DynamicObject>::all_with(c2.clone(), &sr), watcher::Config::default(), sr)
            .with_config(ControllerConfig::default().concurrency(1))
            .graceful_shutdown_on(stopped(s2.clone()))
            .run(with_backoff(reconcile_velero_schedule), error_policy, ctx2.clone())
            .for_each(counted(ctx2.metrics.clone(), "velero-schedule"));
        tokio::join!(b, s);
    };
    let artifacts = artifact_loop(ctx.clone(), stop.clone());
    let workloads = workload_loop(ctx.clone(), stop.clone());
    tokio::join!(
        certificates,
        backups,
        nodes,
        apps,
        futures_util::future::join_all(secret_controllers),
        configmaps,
        status_services,
        status_groups,
        cert_manager,
        velero,
        artifacts,
        workloads,
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
