//! The kube-rs glue: health and metrics servers, Lease leader election,
//! the OperatorConfig loop (operator key, `whoami`, heartbeat), the Ingress
//! and Endpoint controllers, and the `status` report. Controllers execute
//! the decisions of [`crate::mapping`] and [`crate::reconcile`]; no mapping
//! logic lives here. Not yet wired: certificate, Velero, node, artifact,
//! K8sApp, StatusService and ConfigMap/workload controllers.

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
use tokio::sync::watch;

use crate::api::{ApiError, HealthReport, NinesClient, WhoAmI};
use crate::mapping::apply::{Node, endpoint_document, endpoint_service_name, render};
use crate::mapping::config_hash;
use crate::mapping::endpoint::{
    IngressOutcome, IngressView, SOURCE_INGRESS_LABEL, check_for_endpoint, endpoints_for_ingress,
};
use crate::reconcile::{Existing, MirrorAction, backoff, needs_sync, plan_mirror, ready_condition, set_condition};

use crate::cli::{RunArgs, kube_client};
use crate::crd::*;
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

/// Reconcile counters per controller; label values are a fixed set.
#[derive(Debug, Default)]
pub struct Metrics {
    pub ingress_ok: AtomicU64,
    pub ingress_err: AtomicU64,
    pub endpoint_ok: AtomicU64,
    pub endpoint_err: AtomicU64,
    pub api_syncs: AtomicU64,
}

impl Metrics {
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP nines_operator_reconcile_total Reconciles by controller and result.\n\
             # TYPE nines_operator_reconcile_total counter\n\
             nines_operator_reconcile_total{{controller=\"ingress\",result=\"ok\"}} {}\n\
             nines_operator_reconcile_total{{controller=\"ingress\",result=\"error\"}} {}\n\
             nines_operator_reconcile_total{{controller=\"endpoint\",result=\"ok\"}} {}\n\
             nines_operator_reconcile_total{{controller=\"endpoint\",result=\"error\"}} {}\n\
             # HELP nines_operator_api_syncs_total Documents applied to the nines API.\n\
             # TYPE nines_operator_api_syncs_total counter\n\
             nines_operator_api_syncs_total {}\n",
            g(&self.ingress_ok),
            g(&self.ingress_err),
            g(&self.endpoint_ok),
            g(&self.endpoint_err),
            g(&self.api_syncs)
        )
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
}

/// The API client and the node the operator writes under, once resolved.
#[derive(Debug, Clone)]
pub struct Sync {
    pub api: NinesClient,
    pub node: Node,
}

/// What every reconcile shares.
pub struct Ctx {
    pub client: kube::Client,
    pub config: watch::Receiver<OperatorConfigSpec>,
    pub sync: watch::Receiver<Option<Sync>>,
    pub recorder: Recorder,
    pub failures: Mutex<HashMap<String, u32>>,
    pub metrics: Arc<Metrics>,
}

impl Ctx {
    async fn event(&self, obj: &ObjectReference, warning: bool, reason: &str, note: String) {
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

fn key<K: Resource>(o: &K) -> String {
    format!("{}/{}", o.meta().namespace.as_deref().unwrap_or(""), o.meta().name.as_deref().unwrap_or(""))
}

fn now() -> Timestamp {
    Timestamp::now()
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

fn ignore_not_found(e: kube::Error) -> Result<(), kube::Error> {
    match e {
        kube::Error::Api(s) if s.code == 404 => Ok(()),
        e => Err(e),
    }
}

/// How often an unchanged Endpoint is applied again (the server treats it as a no-op).
pub const RESYNC: SignedDuration = SignedDuration::from_mins(10);

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

async fn patch_status(api: &Api<Endpoint>, name: &str, status: &EndpointStatus) -> Result<(), Error> {
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(serde_json::json!({ "status": status }))).await?;
    Ok(())
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
        set_condition(
            &mut status.conditions,
            ready_condition(false, "ApiSyncNotConfigured", "waiting for OperatorConfig api_sync", generation),
            now(),
        );
        patch_status(api, &name, &status).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    };
    let check = match check_for_endpoint(&ep.spec) {
        Ok(c) => c,
        Err(errs) => {
            let msg = errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            status.phase = Some("error".into());
            set_condition(
                &mut status.conditions,
                ready_condition(false, "InvalidSpec", msg.clone(), generation),
                now(),
            );
            patch_status(api, &name, &status).await?;
            return Err(Error::Invalid(msg));
        }
    };
    let doc = endpoint_document(&sync.node, &ns, &name, &ep.spec, check);
    let hash = config_hash(&render(std::slice::from_ref(&doc)));
    let last = status.last_synced_at.as_deref().and_then(|t| t.parse().ok());
    let t = now();
    if !needs_sync(&hash, status.config_hash.as_deref(), last, t, RESYNC) {
        return Ok(Action::requeue(Duration::from_secs(RESYNC.as_secs() as u64)));
    }
    match sync.api.apply(&[doc]).await {
        Ok(resp) => {
            ctx.metrics.api_syncs.fetch_add(1, Ordering::Relaxed);
            let item = resp.items.into_iter().next();
            status.api_id = item.as_ref().map(|i| i.id.clone()).or(status.api_id);
            status.node_id = Some(sync.node.id());
            status.service = Some(endpoint_service_name(&ns, &name));
            status.config_hash = Some(hash);
            status.last_synced_at = Some(t.to_string());
            status.phase = Some("synced".into());
            set_condition(
                &mut status.conditions,
                ready_condition(true, "Synced", "applied to the nines API", generation),
                t,
            );
            patch_status(api, &name, &status).await?;
            if item.as_ref().is_some_and(|i| i.action != "unchanged") {
                ctx.event(
                    &ep.object_ref(&()),
                    false,
                    "Synced",
                    format!("service {} applied", endpoint_service_name(&ns, &name)),
                )
                .await;
            }
            Ok(Action::requeue(Duration::from_secs(RESYNC.as_secs() as u64)))
        }
        Err(e) => {
            status.phase = Some("error".into());
            set_condition(&mut status.conditions, ready_condition(false, "ApiError", e.to_string(), generation), t);
            patch_status(api, &name, &status).await?;
            ctx.event(&ep.object_ref(&()), true, "ApiError", e.to_string()).await;
            Err(e.into())
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
    Ok(Action::await_change())
}

fn error_policy<K: Resource>(o: Arc<K>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let delay = ctx.failed(&key(&*o));
    tracing::warn!(object = %key(&*o), error = %e, retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// Reads the OperatorConfig `default` and the operator key every 30 s,
/// resolves the organization with `whoami`, and sends the operator's heartbeat.
async fn config_loop(
    client: kube::Client,
    namespace: String,
    config_tx: watch::Sender<OperatorConfigSpec>,
    sync_tx: watch::Sender<Option<Sync>>,
) {
    let cfgs: Api<OperatorConfig> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    loop {
        match cfgs.get_opt(OPERATOR_CONFIG_NAME).await {
            Ok(Some(oc)) => {
                config_tx.send_replace(oc.spec.clone());
                match resolve_sync(&oc, &secrets).await {
                    Ok(Some((sync, whoami))) => {
                        let status = serde_json::json!({"status": {
                            "phase": "Ready",
                            "api_sync": {"key_id": whoami.key_id, "organization_name": sync.node.organization,
                                         "workspace_name": sync.node.id(), "role": whoami.role, "resolved_at": now().to_string()}
                        }});
                        let _ = cfgs
                            .patch_status(OPERATOR_CONFIG_NAME, &PatchParams::default(), &Patch::Merge(status))
                            .await;
                        let hb = HealthReport {
                            service: "nines-operator".into(),
                            status: nines_core::Status::Operational,
                            node_id: sync.node.id(),
                            message: Some("heartbeat".into()),
                            timestamp: now().to_string(),
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
            Ok(None) => tracing::info!(%namespace, "no OperatorConfig `default`; using defaults, API sync off"),
            Err(e) => tracing::warn!(error = %e, "reading OperatorConfig failed"),
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
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

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = kube_client(&args.kube).await?;
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
        let mgr = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "nines-operator")
            .with_namespace(&args.namespace)
            .with_identity(&identity)
            .with_duration(15)
            .with_grace(5)
            .build()
            .await?;
        let (mut leader, task) = mgr.watch().await;
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

    let (config_tx, config_rx) = watch::channel(OperatorConfigSpec::default());
    let (sync_tx, sync_rx) = watch::channel(None);
    tokio::spawn(config_loop(client.clone(), args.namespace.clone(), config_tx, sync_tx));
    let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: Some(identity) };
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        config: config_rx,
        sync: sync_rx,
        recorder: Recorder::new(client.clone(), reporter),
        failures: Mutex::default(),
        metrics: metrics.clone(),
    });
    let one = || ControllerConfig::default().concurrency(1);
    let ingresses = Controller::new(Api::<Ingress>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Endpoint>::all(client.clone()), watcher::Config::default())
        .with_config(one())
        .shutdown_on_signal()
        .run(reconcile_ingress, error_policy, ctx.clone())
        .for_each(|r| {
            let m = metrics.clone();
            async move {
                match r {
                    Ok(_) => m.ingress_ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => m.ingress_err.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    let ctx2 = ctx.clone();
    let endpoints = Controller::new(Api::<Endpoint>::all(client.clone()), watcher::Config::default())
        .with_config(one())
        .shutdown_on_signal()
        .run(
            |ep, ctx: Arc<Ctx>| async move {
                let k = key(&*ep);
                let r = reconcile_endpoint(ep, ctx.clone()).await;
                if r.is_ok() {
                    ctx.succeeded(&k);
                }
                r
            },
            error_policy,
            ctx2,
        )
        .for_each(|r| {
            let m = metrics.clone();
            async move {
                match r {
                    Ok(_) => m.endpoint_ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => m.endpoint_err.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    health.ready.store(true, Ordering::Relaxed);
    tokio::join!(ingresses, endpoints);
    tracing::info!("controllers stopped; shutting down");
    Ok(())
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
    let tick = |b: bool| if b { "✓" } else { "-" }.to_string();
    let rows: Vec<[String; 7]> = sdps
        .items
        .iter()
        .map(|s| {
            [
                s.metadata.name.clone().unwrap_or_default(),
                s.metadata.namespace.clone().unwrap_or_default(),
                phase(&s.status.as_ref().and_then(|s| s.phase.clone())),
                tick(s.spec.keycloak.is_some()),
                tick(s.spec.gitlab.is_some()),
                tick(s.spec.harbor.is_some()),
                tick(s.spec.argocd.is_some()),
            ]
        })
        .collect();
    out.push_str(&section(
        "SoftwareDeliveryPlatforms",
        table::render(&["NAME", "NAMESPACE", "PHASE", "KEYCLOAK", "GITLAB", "HARBOR", "ARGOCD"], &rows),
    ));
    let orgs = Api::<Organization>::all(client.clone()).list(&lp).await?;
    let rows: Vec<[String; 4]> = orgs
        .items
        .iter()
        .map(|o| {
            [
                o.metadata.name.clone().unwrap_or_default(),
                o.metadata.namespace.clone().unwrap_or_default(),
                o.spec.sdp.clone(),
                phase(&o.status.as_ref().and_then(|s| s.phase.clone())),
            ]
        })
        .collect();
    out.push_str(&section("Organizations", table::render(&["NAME", "NAMESPACE", "SDP", "PHASE"], &rows)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_and_metrics() {
        assert_eq!(parse_bind(":8080").unwrap(), "0.0.0.0:8080".parse().unwrap());
        assert_eq!(parse_bind("127.0.0.1:9").unwrap(), "127.0.0.1:9".parse().unwrap());
        assert!(parse_bind("nope").is_err());
        let m = Metrics::default();
        m.endpoint_err.fetch_add(2, Ordering::Relaxed);
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
