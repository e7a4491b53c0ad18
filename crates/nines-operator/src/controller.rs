//! The kube-rs glue: health and metrics servers, Lease leader election,
//! the OperatorConfig loop (operator key, `whoami`, heartbeat), the Ingress
//! and Endpoint controllers, starting every controller, and the `status`
//! report. Controllers execute the decisions of [`crate::mapping`] and
//! [`crate::reconcile`]; no mapping logic lives here. The other discovery
//! controllers live in [`crate::discovery`], the tenant controllers in
//! [`crate::tenant`] and [`crate::tenant_kinds`]; they all run on
//! [`crate::runtime`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use tokio::sync::watch;

use crate::api::{HealthReport, NinesClient, WhoAmI};
use crate::mapping::apply::{Node, endpoint_document, endpoint_service_name, render};
use crate::mapping::config_hash;
use crate::mapping::endpoint::{
    IngressOutcome, IngressView, SOURCE_INGRESS_LABEL, check_for_endpoint, endpoints_for_ingress,
};
use crate::mapping::velero::NamespacedService;
use crate::reconcile::{
    ClusterRegistration, Existing, MirrorAction, cluster_registration, needs_sync, plan_mirror, ready_condition,
    set_condition,
};

use crate::crd::*;
use crate::options::{RunArgs, kube_config};
use crate::runtime::{
    Ctx, Error, Metrics, RESYNC, Settings, Sync, api_failed, ctrl_all, gated, ignore_not_found, merge_status, resync,
    run_ctrl, stopped, wait_for_sync, watchers,
};
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
    let tenant_kinds = crate::tenant_kinds::run_standalone(ctx.clone(), stop.clone());
    tokio::join!(ingresses, endpoints, discovery, tenants, tenant_kinds);
    let _ = config_task.await;
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
