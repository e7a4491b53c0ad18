//! The kube-rs glue: health and metrics servers, Lease leader election,
//! the OperatorConfig loop (operator key, `whoami`, heartbeat), the Ingress
//! and Endpoint controllers, and the `status` report. Controllers execute
//! the decisions of [`crate::mapping`] and [`crate::reconcile`]; no mapping
//! logic lives here. The other discovery controllers live in
//! [`crate::discovery`] and share [`Ctx`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use nines_core::clock::Clock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::api::{ApiError, HealthReport, NinesClient, WhoAmI};
use crate::mapping::apply::{Node, WorkloadRef, endpoint_document, endpoint_service_name, render};
use crate::mapping::config_hash;
use crate::mapping::endpoint::{
    IngressOutcome, IngressView, SOURCE_INGRESS_LABEL, check_for_endpoint, endpoints_for_ingress,
};
use crate::mapping::image::{ImageRef, ImageUsage};
use crate::mapping::velero::NamespacedService;
use crate::reconcile::{
    ClusterRegistration, Existing, MirrorAction, backoff, cluster_registration, needs_sync, plan_mirror,
    ready_condition, set_condition,
};

use crate::crd::*;
use crate::options::{RunArgs, kube_config};
use crate::table;

/// `:8080` → `0.0.0.0:8080`.
pub fn parse_bind(addr: &str) -> anyhow::Result<SocketAddr> {
    let a = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    a.parse().with_context(|| format!("bad bind address {addr:?}"))
}

/// Shared liveness and readiness flags.
#[derive(Debug, Default)]
pub struct Health {
    pub ready: AtomicBool,
}

pub fn health_router(h: Arc<Health>) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let h = h.clone();
            async move {
                if h.ready.load(Ordering::Relaxed) {
                    (axum::http::StatusCode::OK, "ready")
                } else {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }
        }),
    )
}

/// Reconcile counters per controller; label values are a fixed set (the
/// controller names are `&'static str` constants).
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: Mutex<BTreeMap<(&'static str, bool), u64>>,
    pub api_syncs: AtomicU64,
}

impl Metrics {
    pub fn count(&self, controller: &'static str, ok: bool) {
        *self.reconciles.lock().expect("not poisoned").entry((controller, ok)).or_insert(0) += 1;
    }

    /// Reconciles (or passes) of `controller` so far that ended `ok` or not.
    pub fn reconciles(&self, controller: &str, ok: bool) -> u64 {
        let m = self.reconciles.lock().expect("not poisoned");
        m.iter().filter(|((c, o), _)| *c == controller && *o == ok).map(|(_, n)| *n).sum()
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP nines_operator_reconcile_total Reconciles by controller and result.\n\
             # TYPE nines_operator_reconcile_total counter\n",
        );
        for ((c, ok), n) in self.reconciles.lock().expect("not poisoned").iter() {
            let result = if *ok { "ok" } else { "error" };
            out.push_str(&format!("nines_operator_reconcile_total{{controller=\"{c}\",result=\"{result}\"}} {n}\n"));
        }
        out.push_str(&format!(
            "# HELP nines_operator_api_syncs_total Documents applied to the nines API.\n\
             # TYPE nines_operator_api_syncs_total counter\n\
             nines_operator_api_syncs_total {}\n",
            self.api_syncs.load(Ordering::Relaxed)
        ));
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("finalizer: {0}")]
    Finalizer(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
}

/// The API client and the node the operator writes under, once resolved.
#[derive(Debug, Clone)]
pub struct Sync {
    pub api: NinesClient,
    pub node: Node,
}

/// The services a source declared and the workloads behind them.
pub type Declared = (Vec<NamespacedService>, Vec<WorkloadRef>);

/// A boxed reconcile future.
pub type ReconcileFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Action, Error>> + Send>>;

/// What every reconcile shares.
pub struct Ctx {
    pub client: kube::Client,
    pub config: watch::Receiver<OperatorConfigSpec>,
    pub sync: watch::Receiver<Option<Sync>>,
    pub recorder: Recorder,
    pub failures: Mutex<HashMap<String, u32>>,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// Services the operator applied, by source (`configmap/<ns>/<name>`,
    /// `endpoint/<ns>/<name>`), with their namespaces: backups report to them.
    pub services: Mutex<BTreeMap<String, Declared>>,
    /// The images in use, from the last artifact pass (K8sApps link them by namespace).
    pub images: Mutex<BTreeMap<ImageRef, ImageUsage>>,
    /// Hash of what was last sent per key, for sources without a CR of their own.
    pub sent: Mutex<HashMap<String, String>>,
    /// Clients of the systems tenants are provisioned into.
    pub tenants: crate::tenant::Clients,
    /// The rollout of each Deployment a service is backed by, as last seen
    /// (`<namespace>/<name>`): a change becomes an activity.
    pub rollouts: Mutex<HashMap<String, crate::mapping::workload::Rollout>>,
}

impl Ctx {
    pub(crate) async fn event(&self, obj: &ObjectReference, warning: bool, reason: &str, note: String) {
        let ev = KEvent {
            type_: if warning { EventType::Warning } else { EventType::Normal },
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, obj).await {
            tracing::warn!(error = %e, "publishing event failed");
        }
    }

    pub fn new(
        client: kube::Client,
        config: watch::Receiver<OperatorConfigSpec>,
        sync: watch::Receiver<Option<Sync>>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Ctx {
        Ctx {
            client,
            config,
            sync,
            recorder,
            failures: Mutex::default(),
            metrics,
            settings,
            services: Mutex::default(),
            images: Mutex::default(),
            sent: Mutex::default(),
            tenants: crate::tenant::Clients::default(),
            rollouts: Mutex::default(),
        }
    }

    pub fn known_services(&self) -> Vec<NamespacedService> {
        let m = self.services.lock().expect("not poisoned");
        let mut v: Vec<NamespacedService> = m.values().flat_map(|(s, _)| s.iter().cloned()).collect();
        v.sort();
        v.dedup();
        v
    }

    pub fn known_workloads(&self) -> Vec<WorkloadRef> {
        self.services.lock().expect("not poisoned").values().flat_map(|(_, w)| w.iter().cloned()).collect()
    }

    pub fn remember_services(&self, source: &str, services: Vec<NamespacedService>, workloads: Vec<WorkloadRef>) {
        self.services.lock().expect("not poisoned").insert(source.to_string(), (services, workloads));
    }

    /// Does a source other than `source` declare this service?
    pub fn declared_elsewhere(&self, source: &str, node_id: &str, service: &str) -> bool {
        self.services
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(k, _)| k.as_str() != source)
            .any(|(_, (s, _))| s.iter().any(|s| s.node_id == node_id && s.service == service))
    }

    pub fn forget_services(&self, source: &str) {
        self.services.lock().expect("not poisoned").remove(source);
        self.sent.lock().expect("not poisoned").remove(source);
    }

    pub fn sent_hash(&self, key: &str) -> Option<String> {
        self.sent.lock().expect("not poisoned").get(key).cloned()
    }

    pub fn remember_sent(&self, key: &str, hash: String) {
        self.sent.lock().expect("not poisoned").insert(key.to_string(), hash);
    }

    /// Now, by the operator's clock ([`Settings::clock`]).
    pub fn now(&self) -> Timestamp {
        self.settings.now()
    }

    fn succeeded(&self, key: &str) {
        self.failures.lock().expect("not poisoned").remove(key);
    }

    fn failed(&self, key: &str) -> Duration {
        let mut f = self.failures.lock().expect("not poisoned");
        let n = f.entry(key.to_string()).or_insert(0);
        *n += 1;
        backoff(*n)
    }
}

pub(crate) fn key<K: Resource>(o: &K) -> String {
    format!("{}/{}", o.meta().namespace.as_deref().unwrap_or(""), o.meta().name.as_deref().unwrap_or(""))
}

/// Ingress → Endpoint CRs (create, patch, delete; owner references).
pub async fn reconcile_ingress(ing: Arc<Ingress>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = ing.namespace().unwrap_or_default();
    let cfg = ctx.config.borrow().endpoint_discovery.clone();
    let view = IngressView::from_ingress(&ing);
    let api: Api<Endpoint> = Api::namespaced(ctx.client.clone(), &ns);
    let listed = api.list(&ListParams::default().labels(&format!("{DISCOVERED_LABEL}=true"))).await?;
    let existing: BTreeMap<String, Existing<EndpointSpec>> = listed
        .items
        .into_iter()
        .map(|e| {
            let source = e.labels().get(SOURCE_INGRESS_LABEL).cloned().unwrap_or_default();
            (e.name_any(), Existing { spec: e.spec, source })
        })
        .collect();
    let desired: Vec<(String, EndpointSpec)> = if ing.meta().deletion_timestamp.is_some() {
        Vec::new()
    } else {
        match endpoints_for_ingress(&view, &cfg) {
            Ok(IngressOutcome::Skip(_)) => Vec::new(),
            Ok(IngressOutcome::Endpoints(v)) => v.into_iter().map(|d| (d.name, d.spec)).collect(),
            Err(errs) => {
                let msg = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                ctx.event(&ing.object_ref(&()), true, "InvalidAnnotation", msg).await;
                return Ok(Action::requeue(Duration::from_secs(300)));
            }
        }
    };
    let owner = ing.controller_owner_ref(&());
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    for action in plan_mirror(&view.name, &desired, &existing) {
        match action {
            MirrorAction::Create { name, spec } | MirrorAction::Patch { name, spec } => {
                let mut ep = Endpoint::new(&name, spec);
                ep.metadata.namespace = Some(ns.clone());
                ep.metadata.labels = Some(BTreeMap::from([
                    (DISCOVERED_LABEL.to_string(), "true".to_string()),
                    (SOURCE_INGRESS_LABEL.to_string(), view.name.clone()),
                ]));
                ep.metadata.owner_references = owner.clone().map(|o| vec![o]);
                api.patch(&name, &pp, &Patch::Apply(&ep)).await?;
            }
            MirrorAction::Delete { name } => {
                api.delete(&name, &DeleteParams::default()).await.map(drop).or_else(ignore_not_found)?;
            }
            MirrorAction::Conflict { name, owner } => {
                let note = format!("host already monitored by Endpoint {name} of Ingress {owner}");
                ctx.event(&ing.object_ref(&()), true, "HostConflict", note).await;
            }
        }
    }
    Ok(Action::requeue(Duration::from_secs(600)))
}

pub(crate) fn ignore_not_found(e: kube::Error) -> Result<(), kube::Error> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e),
    }
}

/// How often an unchanged Endpoint is applied again (the server treats it as a no-op).
pub const RESYNC: SignedDuration = SignedDuration::from_mins(10);

/// Come back after [`RESYNC`], when an unchanged CR is sent to the API again.
pub(crate) fn resync() -> Action {
    Action::requeue(Duration::from_secs(RESYNC.as_secs() as u64))
}

/// Endpoint CR → API service with its check, behind the cleanup finalizer.
pub async fn reconcile_endpoint(ep: Arc<Endpoint>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = ep.namespace().unwrap_or_default();
    let api: Api<Endpoint> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, CLEANUP_FINALIZER, ep, |event| async {
        match event {
            FinalizerEvent::Apply(ep) => apply_endpoint(&ep, &ctx, &api).await,
            FinalizerEvent::Cleanup(ep) => cleanup_endpoint(&ep, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))
}

/// Merge `status` into the status subresource of `name`.
/// The object as the API server has it now, not as the controller's cache
/// has it. The cache can lag behind the status the previous pass wrote; a
/// pass that started from it would take what that pass created for found,
/// adopting it (and then not deleting it). One GET per reconcile. An object
/// already gone is passed on as it was (its finalizer handles it).
pub(crate) async fn latest<K>(api: &Api<K>, obj: std::sync::Arc<K>) -> Result<std::sync::Arc<K>, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.get_opt(&name).await? {
        Some(fresh) => Ok(std::sync::Arc::new(fresh)),
        None => Ok(obj),
    }
}

pub(crate) async fn merge_status<K, S>(api: &Api<K>, name: &str, status: &S) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(serde_json::json!({ "status": status }))).await?;
    Ok(())
}

/// A CR status with the `conditions` list every nines status has.
pub(crate) trait Conditioned: Serialize {
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
}

macro_rules! conditioned {
    ($($t:ty),*) => {$(
        impl Conditioned for $t {
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
        }
    )*};
}
conditioned!(
    EndpointStatus,
    CertificateStatus,
    SyncStatus,
    K8sAppStatus,
    StatusServiceStatus,
    StatusServiceGroupStatus
);

/// API sync is not configured yet: `Ready=False ApiSyncNotConfigured` into
/// the status, written, and a look again in a minute.
pub(crate) async fn wait_for_sync<K, S>(ctx: &Ctx, api: &Api<K>, cr: &K, mut status: S) -> Result<Action, Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Conditioned,
{
    let c = ready_condition(false, "ApiSyncNotConfigured", "waiting for OperatorConfig api_sync", cr.meta().generation);
    set_condition(status.conditions_mut(), c, ctx.now());
    merge_status(api, &cr.name_any(), &status).await?;
    Ok(Action::requeue(Duration::from_secs(60)))
}

/// The nines API refused or failed: `Ready=False ApiError` into the status,
/// written, a Warning Event, and the error for the retry backoff.
pub(crate) async fn api_failed<K, S>(
    ctx: &Ctx,
    api: &Api<K>,
    cr: &K,
    mut status: S,
    e: ApiError,
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Conditioned,
{
    let c = ready_condition(false, "ApiError", e.to_string(), cr.meta().generation);
    set_condition(status.conditions_mut(), c, ctx.now());
    merge_status(api, &cr.name_any(), &status).await?;
    ctx.event(&cr.object_ref(&()), true, "ApiError", e.to_string()).await;
    Err(e.into())
}

async fn apply_endpoint(ep: &Endpoint, ctx: &Ctx, api: &Api<Endpoint>) -> Result<Action, Error> {
    let name = ep.name_any();
    let ns = ep.namespace().unwrap_or_default();
    let mut status = ep.status.clone().unwrap_or_default();
    let generation = ep.metadata.generation;
    status.observed_generation = generation;
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        status.phase = Some("pending".into());
        return wait_for_sync(ctx, api, ep, status).await;
    };
    let check = match check_for_endpoint(&ep.spec) {
        Ok(c) => c,
        Err(errs) => {
            let msg = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            status.phase = Some("error".into());
            set_condition(
                &mut status.conditions,
                ready_condition(false, "InvalidSpec", msg.clone(), generation),
                ctx.now(),
            );
            merge_status(api, &name, &status).await?;
            return Err(Error::Invalid(msg));
        }
    };
    let doc = endpoint_document(&sync.node, &ns, &name, &ep.spec, check);
    let hash = config_hash(&render(std::slice::from_ref(&doc)));
    let last = status.last_synced_at.as_deref().and_then(|t| t.parse().ok());
    let t = ctx.now();
    if !needs_sync(&hash, status.config_hash.as_deref(), last, t, RESYNC) {
        return Ok(resync());
    }
    match sync.api.apply(&[doc]).await {
        Ok(resp) => {
            ctx.metrics.api_syncs.fetch_add(1, Ordering::Relaxed);
            let item = resp.items.into_iter().next();
            status.api_id = item.as_ref().map(|i| i.id.clone()).or(status.api_id);
            status.node_id = Some(sync.node.id());
            status.service = Some(endpoint_service_name(&ns, &name));
            status.config_hash = Some(hash);
            ctx.remember_services(
                &format!("endpoint/{ns}/{name}"),
                vec![NamespacedService {
                    namespace: ns.clone(),
                    node_id: sync.node.id(),
                    service: endpoint_service_name(&ns, &name),
                }],
                Vec::new(),
            );
            status.last_synced_at = Some(t.to_string());
            status.phase = Some("synced".into());
            set_condition(
                &mut status.conditions,
                ready_condition(true, "Synced", "applied to the nines API", generation),
                t,
            );
            merge_status(api, &name, &status).await?;
            if item.as_ref().is_some_and(|i| i.action != "unchanged") {
                ctx.event(
                    &ep.object_ref(&()),
                    false,
                    "Synced",
                    format!("service {} applied", endpoint_service_name(&ns, &name)),
                )
                .await;
            }
            Ok(resync())
        }
        Err(e) => {
            status.phase = Some("error".into());
            api_failed(ctx, api, ep, status, e).await
        }
    }
}

async fn cleanup_endpoint(ep: &Endpoint, ctx: &Ctx) -> Result<Action, Error> {
    let status = ep.status.clone().unwrap_or_default();
    let (Some(node_id), Some(service)) = (status.node_id, status.service) else {
        // never synced: nothing exists in the API
        return Ok(Action::await_change());
    };
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        return Err(Error::Invalid("cannot delete the API service: API sync is not configured".into()));
    };
    sync.api.delete_service(&node_id, &service).await?;
    ctx.forget_services(&format!("endpoint/{}/{}", ep.namespace().unwrap_or_default(), ep.name_any()));
    Ok(Action::await_change())
}

pub(crate) fn error_policy<K: Resource>(o: Arc<K>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let delay = ctx.failed(&key(&*o));
    tracing::warn!(object = %key(&*o), error = %e, retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// Reads the OperatorConfig `default` and the operator key every 30 s,
/// resolves the organization with `whoami`, and sends the operator's heartbeat.
async fn config_loop(
    client: kube::Client,
    settings: Settings,
    config_tx: watch::Sender<OperatorConfigSpec>,
    sync_tx: watch::Sender<Option<Sync>>,
    stop: watch::Receiver<bool>,
) {
    let namespace = settings.namespace.clone();
    let every = settings.config_every;
    let now = || settings.now();
    let cfgs: Api<OperatorConfig> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let mut published = false;
    loop {
        match cfgs.get_opt(OPERATOR_CONFIG_NAME).await {
            Ok(Some(oc)) => {
                config_tx.send_replace(oc.spec.clone());
                published = true;
                match resolve_sync(&oc, &secrets).await {
                    Ok(Some((mut sync, whoami))) => {
                        let local = register_local_cluster(&client, &settings, &oc, &mut sync).await;
                        let mut status = serde_json::json!({"status": {
                            "phase": "Ready",
                            "api_sync": {"key_id": whoami.key_id, "organization_name": sync.node.organization,
                                         "workspace_name": sync.node.id(), "role": whoami.role, "resolved_at": now().to_string()},
                            "conditions": [{"type": "Ready", "status": "True", "reason": "ApiSyncReady",
                                            "message": format!("writing under {}", sync.node.id()),
                                            "lastTransitionTime": now().to_string()}]
                        }});
                        if let Some(l) = local {
                            status["status"]["local_cluster"] = serde_json::to_value(l).unwrap_or_default();
                        }
                        let _ = cfgs
                            .patch_status(OPERATOR_CONFIG_NAME, &PatchParams::default(), &Patch::Merge(status))
                            .await;
                        let hb = HealthReport {
                            service: "nines-operator".into(),
                            status: nines_core::Status::Operational,
                            node_id: sync.node.id(),
                            message: Some("heartbeat".into()),
                            timestamp: now().to_string(),
                            source: None,
                        };
                        if let Err(e) = sync.api.report_health(&hb).await {
                            tracing::warn!(error = %e, "heartbeat failed");
                        }
                        sync_tx.send_replace(Some(sync));
                    }
                    Ok(None) => {
                        sync_tx.send_replace(None);
                    }
                    Err(msg) => {
                        tracing::warn!(error = %msg, "API sync not ready");
                        let status = serde_json::json!({"status": {"phase": "Error", "conditions": [
                            {"type": "Ready", "status": "False", "reason": "ApiSyncFailed", "message": msg, "lastTransitionTime": now().to_string()}
                        ]}});
                        let _ = cfgs
                            .patch_status(OPERATOR_CONFIG_NAME, &PatchParams::default(), &Patch::Merge(status))
                            .await;
                    }
                }
            }
            Ok(None) => {
                tracing::info!(%namespace, "no OperatorConfig `default`; using defaults, API sync off");
                // the discoveries wait for a first config: the defaults are it
                config_tx.send_if_modified(|_| !published);
                published = true;
            }
            Err(e) => tracing::warn!(error = %e, "reading OperatorConfig failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = stopped(stop.clone()) => return,
        }
    }
}

/// Local cluster registration (seed: the API's cluster for the workspace
/// wins; a new one only under `cluster_name`; none without). Once the status
/// holds a node, the API is not asked again. The node found replaces the
/// cluster level of `sync.node`.
async fn register_local_cluster(
    client: &kube::Client,
    settings: &Settings,
    oc: &OperatorConfig,
    sync: &mut Sync,
) -> Option<LocalClusterStatus> {
    let status = oc.status.as_ref().and_then(|s| s.local_cluster.clone());
    let name = match cluster_registration(&oc.spec.local_cluster, status.as_ref()) {
        ClusterRegistration::Disabled => return None,
        ClusterRegistration::AlreadyRegistered { node_id } => {
            if let Some(n) = Node::parse(&node_id) {
                sync.node = n;
            }
            return status;
        }
        ClusterRegistration::NoName => None,
        ClusterRegistration::Register { name } => Some(name),
    };
    let version = client.apiserver_version().await.ok().map(|v| v.git_version);
    let req = crate::api::ClusterRegistration {
        workspace: format!("{}/{}/{}", sync.node.organization, sync.node.platform, sync.node.environment),
        cluster_name: name,
        api_server_url: settings.api_server_url.clone(),
        kubernetes_version: version,
    };
    match sync.api.register_cluster(&req).await {
        Ok(r) if r.registered => {
            let node_id = r.node_id.clone()?;
            if let Some(n) = Node::parse(&node_id) {
                sync.node = n;
            }
            tracing::info!(cluster = %node_id, created = r.created, "local cluster registered");
            Some(LocalClusterStatus {
                node_id: Some(node_id),
                created: r.created,
                registered_at: Some(settings.now().to_string()),
            })
        }
        Ok(_) => {
            tracing::info!(
                "no cluster for this workspace in the API and no local_cluster.cluster_name: none registered"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "local cluster registration failed");
            None
        }
    }
}

async fn resolve_sync(oc: &OperatorConfig, secrets: &Api<Secret>) -> Result<Option<(Sync, WhoAmI)>, String> {
    let s = &oc.spec;
    if !s.api_sync.enabled {
        return Ok(None);
    }
    let cred = s.api_sync.credentials_ref.as_ref().ok_or("api_sync.credentials_ref is required")?;
    let secret = secrets.get(&cred.secret_name).await.map_err(|e| format!("secret {}: {e}", cred.secret_name))?;
    let key = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&cred.token_key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
        .ok_or_else(|| format!("secret {} has no key {}", cred.secret_name, cred.token_key))?;
    let api = NinesClient::new(&s.api_sync.api_url, &key).map_err(|e| e.to_string())?;
    let me = api.whoami().await.map_err(|e| e.to_string())?;
    let h = &s.hierarchy;
    let org = h
        .organization
        .clone()
        .or(me.organization.clone())
        .ok_or("the key is for every organization: set hierarchy.organization")?;
    let cluster = h.cluster.clone().or(s.local_cluster.cluster_name.clone()).unwrap_or_else(|| "local".into());
    let node = Node {
        organization: org,
        platform: h.platform.clone().unwrap_or_else(|| "default".into()),
        environment: h.environment.clone().unwrap_or_else(|| "default".into()),
        cluster,
    };
    Node::parse(&node.id()).ok_or_else(|| format!("invalid hierarchy {}", node.id()))?;
    Ok(Some((Sync { api, node }, me)))
}

async fn serve(addr: SocketAddr, router: Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(())
}

/// What differs between a deployment and a test: where the OperatorConfig
/// lives, who we are, how often the periodic loops run, and the clock that
/// decides what is stale (a test moves a manual one instead of waiting).
#[derive(Clone)]
pub struct Settings {
    pub namespace: String,
    pub identity: String,
    /// How often the OperatorConfig and the key are read again (and the heartbeat sent).
    pub config_every: Duration,
    /// How often periodic reports (workload readiness, status services) are sent.
    pub report_every: Duration,
    /// Every instant the operator writes or compares (status times, stale
    /// artifacts, the 10 minutes of a StatusService) comes from here.
    pub clock: Arc<dyn Clock>,
    /// The API server URL of the cluster, sent with the local cluster registration.
    pub api_server_url: Option<String>,
    /// How often an unchanged tenant object is reconciled again (drift repair).
    pub tenant_resync: Duration,
    /// How often a SoftwareDeliveryPlatform's connections are checked and its
    /// credentials re-read.
    pub platform_recheck: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("namespace", &self.namespace)
            .field("identity", &self.identity)
            .field("config_every", &self.config_every)
            .field("report_every", &self.report_every)
            .field("now_ms", &self.clock.now_ms())
            .field("api_server_url", &self.api_server_url)
            .finish()
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> nines_core::clock::Millis {
        Timestamp::now().as_millisecond()
    }
}

impl Settings {
    pub fn new(namespace: &str, identity: &str) -> Self {
        Settings {
            namespace: namespace.into(),
            identity: identity.into(),
            config_every: Duration::from_secs(30),
            report_every: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            api_server_url: None,
            tenant_resync: crate::tenant::TENANT_RESYNC,
            platform_recheck: crate::tenant::SDP_RECHECK,
        }
    }

    /// The clock's instant.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.clock.now_ms()).unwrap_or_else(|_| Timestamp::now())
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// What [`leader_lease`] gives: a receiver that is true while this replica
/// holds the lease, and the task that renews it (dropping every receiver
/// releases the lease).
pub type Leadership = (
    watch::Receiver<bool>,
    tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>,
);

/// Take part in electing the leader of `namespace`'s operators: the Lease
/// `nines-operator`, held for `duration` seconds and renewed `grace` seconds
/// before it runs out. Two replicas never lead at once: taking the Lease is
/// a server-side apply the API server refuses (409) while another holds it.
pub async fn leader_lease(
    client: kube::Client,
    namespace: &str,
    identity: &str,
    duration: u64,
    grace: u64,
) -> anyhow::Result<Leadership> {
    let mgr = kube_lease_manager::LeaseManagerBuilder::new(client, "nines-operator")
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await?;
    Ok(mgr.watch().await)
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = kube_config(&args.kube).await?;
    let api_server_url = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config)?;
    let health = Arc::new(Health::default());
    let metrics = Arc::new(Metrics::default());
    serve(parse_bind(&args.health_probe_bind_address)?, health_router(health.clone())).await?;
    let m = metrics.clone();
    let metrics_router = Router::new().route(
        "/metrics",
        get(move || {
            let m = m.clone();
            async move { m.render() }
        }),
    );
    serve(parse_bind(&args.metrics_bind_address)?, metrics_router).await?;
    tracing::info!(health = %args.health_probe_bind_address, metrics = %args.metrics_bind_address, "listening");

    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| format!("nines-operator-{}", std::process::id()));
    let _lease = if args.leader_elect {
        let (mut leader, task) = leader_lease(client.clone(), &args.namespace, &identity, 15, 5).await?;
        tracing::info!(%identity, "waiting for the leader lease");
        while !*leader.borrow_and_update() {
            leader.changed().await?;
        }
        tracing::info!(%identity, "leading");
        // losing the lease ends the process; the Deployment restarts it as a follower
        let mut lost = leader.clone();
        tokio::spawn(async move {
            while lost.changed().await.is_ok() {
                if !*lost.borrow() {
                    tracing::error!("leader lease lost; exiting");
                    std::process::exit(1);
                }
            }
        });
        Some((leader, task))
    } else {
        None
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing the reconciles in flight");
        stop_tx.send_replace(true);
    });
    health.ready.store(true, Ordering::Relaxed);
    let settings = Settings { api_server_url: Some(api_server_url), ..Settings::new(&args.namespace, &identity) };
    run_controllers(client, settings, metrics, stop_rx).await?;
    tracing::info!("controllers stopped; shutting down");
    Ok(())
}

/// Start every controller and loop on `client`; returns once `stop` turns
/// true and the reconciles in flight have finished.
pub async fn run_controllers(
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (config_tx, config_rx) = watch::channel(OperatorConfigSpec::default());
    let (sync_tx, sync_rx) = watch::channel(None);
    let config_task = tokio::spawn(config_loop(client.clone(), settings.clone(), config_tx, sync_tx, stop.clone()));
    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: Some(settings.identity.clone()) };
    let recorder = Recorder::new(client.clone(), reporter);
    let ctx = Arc::new(Ctx::new(client.clone(), config_rx, sync_rx, recorder, metrics.clone(), settings.clone()));
    let ingress_watchers = watchers(&ctx, |ctx, stop| async move {
        let client = ctx.client.clone();
        let ctrl = ctrl_all::<Ingress>(&client).owns(Api::<Endpoint>::all(client), watcher::Config::default());
        run_ctrl(ctrl, reconcile_ingress, &ctx, &stop, "ingress").await
    });
    // turned off, discovery deletes the Endpoints it made (their finalizer deletes the services)
    let no_endpoints =
        watchers(&ctx, |ctx, stop| async move { crate::discovery::remove_discovered::<Endpoint>(&ctx, stop).await });
    let ingresses = gated(
        ctx.clone(),
        stop.clone(),
        "endpoint",
        |c| c.endpoint_discovery.enabled,
        ingress_watchers,
        Some(no_endpoints),
    );
    let endpoints = run_ctrl(ctrl_all::<Endpoint>(&client), reconcile_endpoint, &ctx, &stop, "endpoint");
    let discovery = crate::discovery::run_discovery(ctx.clone(), stop.clone());
    let tenants = crate::tenant::run_tenants(ctx.clone(), stop.clone());
    tokio::join!(ingresses, endpoints, discovery, tenants);
    let _ = config_task.await;
    Ok(())
}

/// Run one controller the way every controller runs: one reconcile at a
/// time, the shared backoff and error policy, graceful shutdown on `stop`,
/// results counted under `name`.
pub(crate) async fn run_ctrl<K, F, Fut>(
    ctrl: Controller<K>,
    reconcile: F,
    ctx: &Arc<Ctx>,
    stop: &watch::Receiver<bool>,
    name: &'static str,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + std::marker::Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + std::fmt::Debug + Unpin + Send + std::marker::Sync,
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Clone + Send + std::marker::Sync + 'static,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    let store = ctrl.store();
    let run = ctrl
        .with_config(ControllerConfig::default().concurrency(1))
        .reconcile_all_on(sync_ready(ctx))
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(with_backoff(reconcile), error_policy, ctx.clone())
        .for_each(counted(ctx.metrics.clone(), name));
    until_stopped(store, run, stop.clone(), name).await
}

/// Drive a controller (`run`) to its end. On `stop` kube's graceful
/// shutdown waits for the reconciles in flight, but its runner starts only
/// once the controller's store has listed, and after the stop the watch is
/// no longer polled: a controller stopped before its first list completed
/// (a list still on the wire, or in backoff after an error) would wait for
/// it forever. Such a controller has started no reconcile, so it is
/// dropped at once.
pub(crate) async fn until_stopped<K>(
    store: kube::runtime::reflector::Store<K>,
    run: impl std::future::Future<Output = ()>,
    stop: watch::Receiver<bool>,
    name: &'static str,
) where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let unlisted_at_stop = async {
        stopped(stop).await;
        if futures_util::FutureExt::now_or_never(store.wait_until_ready()).is_some() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = run => {}
        () = unlisted_at_stop => {
            tracing::debug!(controller = name, "stopped before its first list; nothing was in flight");
        }
    }
}

/// Fires each time API sync becomes ready (from none to some): objects
/// that reconciled while it was missing (`ApiSyncNotConfigured`, a look
/// again in a minute) reconcile at once. Later passes of the config loop,
/// which publish the sync again, do not fire it.
fn sync_ready(ctx: &Arc<Ctx>) -> impl futures_util::Stream<Item = ()> + Send + 'static {
    let rx = ctx.sync.clone();
    let ready = rx.borrow().is_some();
    futures_util::stream::unfold((rx, ready), |(mut rx, mut was)| async move {
        loop {
            rx.changed().await.ok()?;
            let now = rx.borrow_and_update().is_some();
            let fire = now && !was;
            was = now;
            if fire {
                return Some(((), (rx, was)));
            }
        }
    })
}

/// A discovery switch: is the discovery on in this OperatorConfig?
pub type Switch = fn(&OperatorConfigSpec) -> bool;

/// What a gated discovery runs: a future over the stop signal it is given.
pub type Watchers =
    Box<dyn Fn(watch::Receiver<bool>) -> futures_util::future::BoxFuture<'static, ()> + Send + std::marker::Sync>;

/// [`Watchers`] from an async function of the shared context and a stop signal.
pub(crate) fn watchers<F, Fut>(ctx: &Arc<Ctx>, f: F) -> Watchers
where
    F: Fn(Arc<Ctx>, watch::Receiver<bool>) -> Fut + Send + std::marker::Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let ctx = ctx.clone();
    Box::new(move |stop| Box::pin(f(ctx.clone(), stop)))
}

/// Run the watchers of one discovery only while the OperatorConfig has it
/// on: nothing before the config was first read, started when `on` turns
/// true, stopped when it turns false (the reconciles in flight finish; the
/// watch connections close). `off` runs while the discovery is off and
/// cleans up what the discovery made, requesting nothing of its sources.
/// Returns once `stop` turns true and whatever runs has finished.
pub(crate) async fn gated(
    ctx: Arc<Ctx>,
    stop: watch::Receiver<bool>,
    name: &'static str,
    on: Switch,
    watchers: Watchers,
    off: Option<Watchers>,
) {
    // the receiver in `ctx` is never marked seen: a clone tells whether a config was published yet
    let mut config = ctx.config.clone();
    if !config.has_changed().unwrap_or(false) {
        tokio::select! {
            r = config.changed() => if r.is_err() { return },
            _ = stopped(stop.clone()) => return,
        }
    }
    let mut running: Option<(bool, watch::Sender<bool>, tokio::task::JoinHandle<()>)> = None;
    loop {
        let enabled = on(&config.borrow_and_update());
        if running.as_ref().is_none_or(|(was, _, _)| *was != enabled) {
            if let Some((_, tx, task)) = running.take() {
                tx.send_replace(true);
                let _ = task.await;
            }
            let run = if enabled { Some(&watchers) } else { off.as_ref() };
            tracing::info!(discovery = name, enabled, "discovery switched");
            let (tx, rx) = watch::channel(false);
            let task = match run {
                Some(f) => tokio::spawn(f(rx)),
                None => tokio::spawn(async {}),
            };
            running = Some((enabled, tx, task));
        }
        tokio::select! {
            r = config.changed() => if r.is_err() { break },
            _ = stopped(stop.clone()) => break,
        }
    }
    if let Some((_, tx, task)) = running {
        tx.send_replace(true);
        let _ = task.await;
    }
}

/// A controller of every `K` in the cluster.
pub(crate) fn ctrl_all<K>(client: &kube::Client) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + std::marker::Sync + 'static,
{
    Controller::new(Api::all(client.clone()), watcher::Config::default())
}

/// Wraps a reconcile so that a success resets the object's backoff.
pub(crate) fn with_backoff<K, F, Fut>(f: F) -> impl Fn(Arc<K>, Arc<Ctx>) -> ReconcileFuture
where
    K: Resource + Send + std::marker::Sync + 'static,
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Clone + Send + std::marker::Sync + 'static,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |o: Arc<K>, ctx: Arc<Ctx>| {
        let f = f.clone();
        Box::pin(async move {
            let k = key(&*o);
            let r = f(o, ctx.clone()).await;
            if r.is_ok() {
                ctx.succeeded(&k);
            }
            r
        })
    }
}

/// Counts the results of one controller.
pub(crate) fn counted<T, E>(
    metrics: Arc<Metrics>,
    controller: &'static str,
) -> impl FnMut(Result<T, E>) -> std::future::Ready<()> {
    move |r| {
        metrics.count(controller, r.is_ok());
        std::future::ready(())
    }
}

fn phase(p: &Option<String>) -> String {
    p.clone().unwrap_or_else(|| "-".into())
}

/// The `status` command's report.
pub async fn status_report(client: kube::Client) -> anyhow::Result<String> {
    let mut out = String::from("nines operator status\n=====================\n");
    out.push_str(&format!("Cluster: {}\n", client.default_namespace()));
    let lp = ListParams::default();
    let section = |title: &str, body: String| format!("\n{title}\n{}\n{body}", "-".repeat(title.len()));
    let eps = Api::<Endpoint>::all(client.clone()).list(&lp).await?;
    let rows: Vec<[String; 5]> = eps
        .items
        .iter()
        .map(|e| {
            [
                e.metadata.name.clone().unwrap_or_default(),
                e.metadata.namespace.clone().unwrap_or_default(),
                e.spec.remote_address.clone(),
                e.spec.path.clone(),
                phase(&e.status.as_ref().and_then(|s| s.phase.clone())),
            ]
        })
        .collect();
    out.push_str(&section("Endpoints", table::render(&["NAME", "NAMESPACE", "HOST", "PATH", "PHASE"], &rows)));
    let sdps = Api::<SoftwareDeliveryPlatform>::all(client.clone()).list(&lp).await?;
    let rows: Vec<[String; 7]> = sdps
        .items
        .iter()
        .map(|s| {
            let st = s.status.clone().unwrap_or_default();
            [
                s.metadata.name.clone().unwrap_or_default(),
                s.metadata.namespace.clone().unwrap_or_default(),
                phase(&st.phase),
                crate::tenant::system_mark(&st, "Keycloak", s.spec.keycloak.is_some()),
                crate::tenant::system_mark(&st, "GitLab", s.spec.gitlab.is_some()),
                crate::tenant::system_mark(&st, "Harbor", s.spec.harbor.is_some()),
                crate::tenant::system_mark(&st, "ArgoCD", s.spec.argocd.is_some()),
            ]
        })
        .collect();
    out.push_str(&section(
        "SoftwareDeliveryPlatforms",
        table::render(&["NAME", "NAMESPACE", "PHASE", "KEYCLOAK", "GITLAB", "HARBOR", "ARGOCD"], &rows),
    ));
    let orgs = Api::<Organization>::all(client.clone()).list(&lp).await?;
    let rows: Vec<[String; 8]> = orgs
        .items
        .iter()
        .map(|o| {
            let st = o.status.clone().unwrap_or_default();
            let wanted = |c: &str| st.conditions.iter().any(|x| x.type_ == format!("{c}Ready"));
            [
                o.metadata.name.clone().unwrap_or_default(),
                o.metadata.namespace.clone().unwrap_or_default(),
                o.spec.sdp.clone(),
                phase(&st.phase),
                crate::tenant::system_mark(&st, "Keycloak", wanted("Keycloak")),
                crate::tenant::system_mark(&st, "GitLab", wanted("GitLab")),
                crate::tenant::system_mark(&st, "Harbor", wanted("Harbor")),
                crate::tenant::system_mark(&st, "ArgoCD", wanted("ArgoCD")),
            ]
        })
        .collect();
    out.push_str(&section(
        "Organizations",
        table::render(&["NAME", "NAMESPACE", "SDP", "PHASE", "KEYCLOAK", "GITLAB", "HARBOR", "ARGOCD"], &rows),
    ));
    let clusters = Api::<K8sCluster>::all(client.clone()).list(&lp).await?;
    let rows: Vec<[String; 7]> = clusters
        .items
        .iter()
        .map(|k| {
            let st = k.status.clone().unwrap_or_default();
            let wanted = |c: &str| st.conditions.iter().any(|x| x.type_ == format!("{c}Ready"));
            let or_dash = |s: &str| if s.trim().is_empty() { "-".to_string() } else { s.trim().to_string() };
            [
                k.metadata.name.clone().unwrap_or_default(),
                k.metadata.namespace.clone().unwrap_or_default(),
                or_dash(&k.spec.sdp),
                or_dash(k.spec.workspace.as_deref().unwrap_or_default()),
                phase(&st.phase),
                crate::tenant::system_mark(&st, "Nines", wanted("Nines")),
                crate::tenant::system_mark(&st, "ArgoCD", wanted("ArgoCD")),
            ]
        })
        .collect();
    out.push_str(&section(
        "K8sClusters",
        table::render(&["NAME", "NAMESPACE", "SDP", "WORKSPACE", "PHASE", "NINES", "ARGOCD"], &rows),
    ));
    // what is not in sync, and why; then what exists, with ids
    let mut why = Vec::new();
    let mut have = Vec::new();
    for (kind, name, ns, st) in sdps
        .items
        .iter()
        .map(|s| ("SoftwareDeliveryPlatform", s.metadata.name.clone(), s.metadata.namespace.clone(), s.status.clone()))
        .chain(
            orgs.items
                .iter()
                .map(|o| ("Organization", o.metadata.name.clone(), o.metadata.namespace.clone(), o.status.clone())),
        )
        .chain(
            clusters
                .items
                .iter()
                .map(|k| ("K8sCluster", k.metadata.name.clone(), k.metadata.namespace.clone(), k.status.clone())),
        )
    {
        let st = st.unwrap_or_default();
        let who = format!("{kind} {}/{}", ns.unwrap_or_default(), name.unwrap_or_default());
        for c in st.conditions.iter().filter(|c| c.type_ != "Ready" && c.status != "True") {
            why.push(format!("  {who}: {} {} ({}): {}\n", c.type_, c.status, c.reason, c.message));
        }
        for r in &st.resources {
            let origin = if r.created { "created" } else { "adopted" };
            let id = r.id.clone().unwrap_or_else(|| "-".into());
            have.push([
                who.clone(),
                r.system.clone(),
                r.kind.clone(),
                r.name.clone(),
                id,
                origin.into(),
                r.state.clone(),
            ]);
        }
    }
    if !why.is_empty() {
        out.push_str(&section("Not in sync", why.concat()));
    }
    if !have.is_empty() {
        out.push_str(&section(
            "Provisioned",
            table::render(&["OBJECT", "SYSTEM", "KIND", "NAME", "ID", "ORIGIN", "STATE"], &have),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A controller stopped while its first list is still unanswered ends
    /// (kube's graceful shutdown alone would wait for that list forever).
    #[tokio::test]
    async fn a_controller_stopped_before_its_first_list_ends() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (listed, asked) = tokio::sync::oneshot::channel();
        // accepts the list request and never answers it
        tokio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let _ = listed.send(());
            std::future::pending::<()>().await;
            drop(conn);
        });
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let (stop, rx) = watch::channel(false);
        let ctrl = Controller::new(Api::<ConfigMap>::all(client), watcher::Config::default());
        let store = ctrl.store();
        let run = ctrl
            .graceful_shutdown_on(stopped(rx.clone()))
            .run(
                |_, _| async { Ok::<_, std::io::Error>(Action::await_change()) },
                |_, _, _| Action::await_change(),
                Arc::new(()),
            )
            .for_each(|_| std::future::ready(()));
        let task = tokio::spawn(until_stopped(store, run, rx, "test"));
        asked.await.unwrap();
        assert!(!task.is_finished(), "the controller runs until stopped");
        stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), task).await.expect("the controller ends once stopped").unwrap();
    }

    #[test]
    fn bind_addresses_and_metrics() {
        assert_eq!(parse_bind(":8080").unwrap(), "0.0.0.0:8080".parse().unwrap());
        assert_eq!(parse_bind("127.0.0.1:9").unwrap(), "127.0.0.1:9".parse().unwrap());
        assert!(parse_bind("nope").is_err());
        let m = Metrics::default();
        m.count("endpoint", false);
        m.count("endpoint", false);
        assert!(m.render().contains("nines_operator_reconcile_total{controller=\"endpoint\",result=\"error\"} 2\n"));
    }

    #[tokio::test]
    async fn health_probes() {
        let h = Arc::new(Health::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(axum::serve(listener, health_router(h.clone())).into_future());
        let get =
            |p: &'static str| async move { reqwest::get(format!("http://{addr}{p}")).await.unwrap().status().as_u16() };
        assert_eq!(get("/healthz").await, 200);
        assert_eq!(get("/readyz").await, 503);
        h.ready.store(true, Ordering::Relaxed);
        assert_eq!(get("/readyz").await, 200);
    }
}
