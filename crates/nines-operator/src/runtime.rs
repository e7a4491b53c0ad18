//! What every controller of the operator runs on: the shared context
//! ([`Ctx`]: the kube client, the OperatorConfig and API sync as they
//! change, events, back-off, the services and images seen so far, the
//! clients of the tenant systems), the error type, the settings, the
//! reconcile counters of `/metrics`, and the plumbing that runs a
//! controller until the operator stops (gated by the OperatorConfig
//! switches, with back-off and counting).
//!
//! Not here: what a controller decides ([`crate::mapping`],
//! [`crate::reconcile`]), the controllers themselves ([`crate::controller`],
//! [`crate::discovery`], [`crate::tenant`], [`crate::tenant_kinds`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event as KEvent, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use nines_core::clock::Clock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::api::{ApiError, NinesClient};
use crate::mapping::apply::{Node, WorkloadRef};
use crate::mapping::image::{ImageRef, ImageUsage};
use crate::mapping::velero::NamespacedService;
use crate::reconcile::{backoff, ready_condition, set_condition};

use crate::crd::*;

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
    pub tenants: crate::provision::Clients,
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
            tenants: crate::provision::Clients::default(),
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

pub(crate) fn error_policy<K: Resource>(o: Arc<K>, e: &Error, ctx: Arc<Ctx>) -> Action {
    let delay = ctx.failed(&key(&*o));
    tracing::warn!(object = %key(&*o), error = %e, retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
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
            tenant_resync: TENANT_RESYNC,
            platform_recheck: SDP_RECHECK,
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

/// How often an unchanged tenant object is reconciled again.
pub const TENANT_RESYNC: Duration = Duration::from_secs(300);

/// How often a platform's connections are checked again, which also
/// re-reads its credentials: a rotated Secret is in use within this time
/// (nines reads the Secrets it is named, by name; it does not watch
/// Secrets).
pub const SDP_RECHECK: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use kube::runtime::watcher;

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
}
