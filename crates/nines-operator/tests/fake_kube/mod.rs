//! An in-process, stateful fake of the Kubernetes API server, for tests of
//! the operator's kube-rs glue (no API server can be installed here).
//!
//! It speaks the REST protocol `kube::Client` uses: list (with label and
//! field selectors) and watch from a `resourceVersion`, get, create, replace,
//! delete, and patch in the four content types (JSON patch, merge patch,
//! strategic merge treated as merge on built-in kinds and refused with 415 on
//! custom resources, server-side apply with per-manager field removal and
//! conflicts between managers' applied fields, 409 unless `force`). A
//! `resourceVersion` in a PUT or a patch is a precondition (409). It keeps the semantics the controllers rely on: one global
//! `resourceVersion` counter, `generation` bumped on spec changes, the status
//! subresource (writes to the main resource keep the old status; writes to
//! `/status` change only the status), finalizers with `deletionTimestamp`
//! (the object goes when its last finalizer does), and background garbage
//! collection of dependents by owner reference.
//!
//! Kinds: the built-in ones the controllers watch are known from the start;
//! custom resources become known when their CustomResourceDefinition is
//! created (as on a real server), so a test can leave cert-manager or Velero
//! "not installed". A watch with a label or field selector sees an object
//! that stops matching as DELETED and one that starts matching as ADDED; a
//! watch from a resourceVersion older than the last [`FakeKube::compact`]
//! gets a 410 Expired event. Custom resources are pruned (unknown fields,
//! nulls) and validated (types, int-or-string, required) against their CRD's
//! schema, 422 naming the field. What it does not do: other admission,
//! pagination (a list returns everything), watch bookmarks; nor
//! does it enforce RBAC, but it records every request as an [`Access`] (verb,
//! group, resource, subresource, namespace, and the user a client named with
//! [`FakeKube::client_as`]) for tests to hold against the chart's rules.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A kind the server knows.
#[derive(Debug, Clone)]
struct Kind {
    group: String,
    version: String,
    kind: String,
    namespaced: bool,
    status_subresource: bool,
    /// Defined by a CustomResourceDefinition: no strategic merge patch.
    custom: bool,
    /// The CRD's `openAPIV3Schema`: objects are pruned and validated against it.
    schema: Option<Value>,
}

impl Kind {
    fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
}

/// (group, plural)
type KindKey = (String, String);
/// (namespace, name); namespace empty for cluster-scoped objects.
type ObjKey = (String, String);

#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    kind: KindKey,
    namespace: String,
    type_: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    rv: u64,
    uid: u64,
    kinds: HashMap<KindKey, Kind>,
    objects: HashMap<KindKey, BTreeMap<ObjKey, Value>>,
    /// Last configuration applied per (kind, object, field manager), for server-side apply.
    applied: HashMap<(KindKey, ObjKey, String), Value>,
    log: Vec<Change>,
    /// Changes up to this resourceVersion are compacted away: a watch from
    /// before it is told 410 Gone, as etcd's compaction makes the server do.
    compacted: u64,
    /// Requests by method and path, for tests that assert what was called.
    requests: Vec<String>,
    /// Requests as RBAC sees them, for tests that hold them against the chart's rules.
    accesses: Vec<Access>,
    /// Watches still open, by user and (group, plural).
    open_watches: HashMap<(Option<String>, KindKey), usize>,
}

/// Counts a watch as open while it lives.
struct OpenWatch {
    state: Arc<Mutex<State>>,
    key: (Option<String>, KindKey),
}

impl OpenWatch {
    fn new(state: &Arc<Mutex<State>>, user: Option<String>, kind: &KindKey) -> OpenWatch {
        let key = (user, kind.clone());
        *state.lock().unwrap().open_watches.entry(key.clone()).or_insert(0) += 1;
        OpenWatch { state: state.clone(), key }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        if let Ok(mut st) = self.state.lock()
            && let Some(n) = st.open_watches.get_mut(&self.key)
        {
            *n -= 1;
        }
    }
}

/// Header naming who sends a request (the fake's stand-in for authentication).
pub const USER_HEADER: &str = "x-fake-kube-user";

/// One request as RBAC authorizes it: who, which verb, on what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    /// From [`USER_HEADER`]; `None` for clients that send none (test setup).
    pub user: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// `status`, or empty.
    pub subresource: String,
    /// Empty for cluster-scoped requests and requests across all namespaces.
    pub namespace: String,
    /// A path outside the resource API (`/version`), else empty.
    pub non_resource_path: String,
}

/// The RBAC verb of a request.
fn rbac_verb(method: &Method, named: bool, q: &HashMap<String, String>) -> &'static str {
    match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// A running fake API server.
pub struct FakeKube {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<State>>,
    latest: watch::Sender<u64>,
}

fn builtin(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool, status: bool) -> (KindKey, Kind) {
    (
        (group.to_string(), plural.to_string()),
        Kind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespaced,
            status_subresource: status,
            custom: false,
            schema: None,
        },
    )
}

impl FakeKube {
    /// Forget the changes so far, as etcd's compaction does: a watch from a
    /// resourceVersion before now is answered 410 Gone.
    pub fn compact(&self) {
        let mut st = self.state.lock().unwrap();
        st.compacted = st.rv;
        st.log.clear();
    }

    pub async fn start() -> FakeKube {
        let mut st = State::default();
        for (k, v) in [
            builtin("", "v1", "namespaces", "Namespace", false, true),
            builtin("", "v1", "nodes", "Node", false, true),
            builtin("", "v1", "pods", "Pod", true, true),
            builtin("", "v1", "secrets", "Secret", true, false),
            builtin("", "v1", "configmaps", "ConfigMap", true, false),
            builtin("", "v1", "services", "Service", true, true),
            builtin("", "v1", "events", "Event", true, false),
            builtin("events.k8s.io", "v1", "events", "Event", true, false),
            builtin("networking.k8s.io", "v1", "ingresses", "Ingress", true, true),
            builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, false),
            builtin("apps", "v1", "deployments", "Deployment", true, true),
            builtin("apps", "v1", "statefulsets", "StatefulSet", true, true),
            builtin("apps", "v1", "daemonsets", "DaemonSet", true, true),
            builtin("coordination.k8s.io", "v1", "leases", "Lease", true, false),
            builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, true),
        ] {
            st.kinds.insert(k, v);
        }
        let state = Arc::new(Mutex::new(st));
        let (latest, _) = watch::channel(0u64);
        let shared = Shared { state: state.clone(), latest };
        let app = Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            let s = shared.clone();
            async move { handle(s, m, u, h, b).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeKube { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this server, with `default` as its default namespace.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url().parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// A client whose requests are recorded as `user`'s (see [`FakeKube::accesses`]).
    pub fn client_as(&self, user: &str) -> kube::Client {
        let mut config = kube::Config::new(self.url().parse().unwrap());
        config.headers.push((USER_HEADER.parse().unwrap(), user.parse().unwrap()));
        kube::Client::try_from(config).unwrap()
    }

    /// Every request so far as RBAC sees it.
    pub fn accesses(&self) -> Vec<Access> {
        self.state.lock().unwrap().accesses.clone()
    }

    /// The watches of `user` on `group`/`plural` open now (the client has
    /// not gone away).
    pub fn open_watches(&self, user: &str, group: &str, plural: &str) -> usize {
        let key = (Some(user.to_string()), (group.to_string(), plural.to_string()));
        self.state.lock().unwrap().open_watches.get(&key).copied().unwrap_or(0)
    }

    /// Every request so far as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Whether a kind (by group and plural) is served, e.g. after its CRD was created.
    pub fn knows(&self, group: &str, plural: &str) -> bool {
        self.state.lock().unwrap().kinds.contains_key(&(group.to_string(), plural.to_string()))
    }
}

fn status_error(code: u16, reason: &str, message: impl Into<String>) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message.into(), "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

/// What a path addresses.
struct Target {
    kind: KindKey,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match *segs.first()? {
        "api" if segs.len() >= 3 => ("".to_string(), &segs[2..]),
        "apis" if segs.len() >= 3 => (segs[1].to_string(), &segs[3..]),
        _ => return None,
    };
    let (namespace, rest) =
        if rest.len() >= 3 && rest[0] == "namespaces" { (Some(rest[1].to_string()), &rest[2..]) } else { (None, rest) };
    let plural = rest.first()?.to_string();
    let name = rest.get(1).map(|s| s.to_string());
    let status = match rest.get(2) {
        None => false,
        Some(&"status") => true,
        Some(_) => return None,
    };
    Some(Target { kind: (group, plural), namespace, name, status })
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex =
            b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Label selector terms: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`.
fn labels_match(selector: &str, labels: &serde_json::Map<String, Value>) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in selector.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            get(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            get(k.trim()) == Some(v.trim())
        } else if let Some((k, set)) = t.split_once(" notin ") {
            let set: Vec<&str> = set.trim().trim_matches(|c| c == '(' || c == ')').split(',').map(str::trim).collect();
            get(k.trim()).is_none_or(|v| !set.contains(&v))
        } else if let Some((k, set)) = t.split_once(" in ") {
            let set: Vec<&str> = set.trim().trim_matches(|c| c == '(' || c == ')').split(',').map(str::trim).collect();
            get(k.trim()).is_some_and(|v| set.contains(&v))
        } else if let Some(k) = t.strip_prefix('!') {
            get(k).is_none()
        } else {
            get(t).is_some()
        }
    })
}

fn fields_match(selector: &str, obj: &Value) -> bool {
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|t| {
        let (path, want, neg) = match t.split_once("!=") {
            Some((p, v)) => (p, v, true),
            None => match t.split_once("==").or_else(|| t.split_once('=')) {
                Some((p, v)) => (p, v, false),
                None => return true,
            },
        };
        let pointer = format!("/{}", path.trim().replace('.', "/"));
        let got = obj.pointer(&pointer).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
        (got.as_deref() == Some(want.trim())) != neg
    })
}

fn matches(obj: &Value, q: &HashMap<String, String>) -> bool {
    let empty = serde_json::Map::new();
    let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
    q.get("labelSelector").is_none_or(|s| labels_match(s, labels))
        && q.get("fieldSelector").is_none_or(|s| fields_match(s, obj))
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).unwrap().to_string()
}

impl State {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, kind: &KindKey, ns: &str, type_: &'static str, object: Value) {
        let rv = self.rv;
        self.log.push(Change { rv, kind: kind.clone(), namespace: ns.to_string(), type_, object });
    }

    /// Store `obj` as the new version of an existing object (or a new one),
    /// removing it when it is being deleted and has no finalizer left.
    fn store(&mut self, kind: &KindKey, key: &ObjKey, mut obj: Value, created: bool) -> Value {
        // a write that changes nothing is no change: same resourceVersion, no watch event
        if let Some(old) = self.objects.get(kind).and_then(|m| m.get(key)).filter(|_| !created) {
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if *old == obj {
                return obj;
            }
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        if kind.1 == "customresourcedefinitions" {
            // served at once: the fake has no schema to compile
            obj["status"]["conditions"] = json!([
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "served by the fake"}
            ]);
        }
        let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        let no_finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(|a| a.is_empty());
        if deleting && no_finalizers {
            self.remove(kind, key, obj.clone());
            return obj;
        }
        self.objects.entry(kind.clone()).or_default().insert(key.clone(), obj.clone());
        if kind.1 == "customresourcedefinitions" {
            self.register_crd(&obj);
        }
        self.record(kind, &key.0, if created { "ADDED" } else { "MODIFIED" }, obj.clone());
        obj
    }

    fn remove(&mut self, kind: &KindKey, key: &ObjKey, obj: Value) {
        if let Some(m) = self.objects.get_mut(kind) {
            m.remove(key);
        }
        self.applied.retain(|(k, o, _), _| !(k == kind && o == key));
        self.record(kind, &key.0, "DELETED", obj.clone());
        // background garbage collection of dependents
        let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default().to_string();
        let dependents: Vec<(KindKey, ObjKey)> = self
            .objects
            .iter()
            .flat_map(|(k, m)| {
                m.iter()
                    .filter(|(_, o)| {
                        o.pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(|refs| refs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
                    })
                    .map(move |(ok, _)| (k.clone(), ok.clone()))
            })
            .collect();
        for (k, ok) in dependents {
            self.delete(&k, &ok);
        }
    }

    /// Delete as the API server does: with finalizers the object only gets
    /// its `deletionTimestamp`; without, it goes (and its dependents with it).
    fn delete(&mut self, kind: &KindKey, key: &ObjKey) -> Option<Value> {
        let mut obj = self.objects.get(kind)?.get(key)?.clone();
        let has_finalizers =
            obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null) {
                obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                return Some(self.store(kind, key, obj, false));
            }
            return Some(obj);
        }
        let rv = self.next_rv();
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.remove(kind, key, obj.clone());
        Some(obj)
    }

    fn register_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let (Some(group), Some(plural), Some(kind)) =
            (spec["group"].as_str(), spec["names"]["plural"].as_str(), spec["names"]["kind"].as_str())
        else {
            return;
        };
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        let v = versions.iter().find(|v| v["storage"].as_bool() == Some(true)).or(versions.first());
        let Some(v) = v else { return };
        let status_subresource = v.pointer("/subresources/status").is_some();
        self.kinds.insert(
            (group.to_string(), plural.to_string()),
            Kind {
                group: group.into(),
                version: v["name"].as_str().unwrap_or("v1").into(),
                kind: kind.into(),
                namespaced: spec["scope"].as_str() != Some("Cluster"),
                status_subresource,
                custom: true,
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            },
        );
    }
}

/// What the API server does with a custom resource before storing it:
/// unknown fields and nulls are pruned, then types and required fields are
/// checked against the CRD's schema (422 with the field's path).
fn admit(kind: &Kind, obj: &mut Value) -> Result<(), String> {
    let Some(schema) = &kind.schema else { return Ok(()) };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    let Some(o) = obj.as_object_mut() else { return Err("the object is not a JSON object".into()) };
    o.retain(|k, v| {
        matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || (props.contains_key(k) && !v.is_null())
    });
    let mut errors = Vec::new();
    for (k, v) in o.iter_mut() {
        if let Some(s) = props.get(k) {
            prune_and_check(s, v, k, &mut errors);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

fn prune_and_check(schema: &Value, v: &mut Value, path: &str, errors: &mut Vec<String>) {
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let ok = match (ty, &*v) {
        _ if int_or_string => v.is_string() || v.is_i64() || v.is_u64(),
        ("", _) => true,
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Value::Number(_)) => true,
        ("array", Value::Array(_)) | ("object", Value::Object(_)) => true,
        _ => false,
    };
    if !ok {
        errors.push(format!(
            "{path}: Invalid value: must be of type {}",
            if int_or_string { "int-or-string" } else { ty }
        ));
        return;
    }
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            m.retain(|k, c| {
                !c.is_null()
                    && (preserve || extra.is_some() || props.is_some_and(|p| p.contains_key(k)) || props.is_none())
            });
            for (k, c) in m.iter_mut() {
                let sub = props.and_then(|p| p.get(k)).or(extra);
                if let Some(sub) = sub {
                    prune_and_check(sub, c, &format!("{path}.{k}"), errors);
                }
            }
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(r) = r.as_str()
                    && !m.contains_key(r)
                {
                    errors.push(format!("{path}.{r}: Required value"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, c) in items.iter_mut().enumerate() {
                    prune_and_check(sub, c, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// The part of an object `generation` follows: everything but metadata and status.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

/// Carry over what a client cannot change, and keep the status subresource
/// (or everything but the status, for `/status` writes) from the old object.
fn merge_update(kind: &Kind, old: &Value, mut new: Value, status_write: bool) -> Value {
    if status_write {
        let mut out = old.clone();
        out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        if out["status"].is_null() {
            out.as_object_mut().unwrap().remove("status");
        }
        return out;
    }
    if kind.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    for f in ["uid", "creationTimestamp", "deletionTimestamp", "namespace", "name"] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    new["metadata"]["generation"] = json!(if spec_part(old) != spec_part(&new) { generation + 1 } else { generation });
    new["apiVersion"] = json!(kind.api_version());
    new["kind"] = json!(kind.kind);
    new
}

/// Remove from `obj` what `old_applied` set and `new_applied` no longer
/// sets (maps recursively; lists and scalars as a whole), as server-side
/// apply does for the fields a manager owned.
fn prune_unapplied(obj: &mut Value, old_applied: &Value, new_applied: &Value) {
    let (Some(o), Some(old)) = (obj.as_object_mut(), old_applied.as_object()) else { return };
    for (k, ov) in old {
        match new_applied.get(k) {
            None => {
                o.remove(k);
            }
            Some(nv) if nv.is_object() && ov.is_object() => {
                if let Some(child) = o.get_mut(k) {
                    prune_unapplied(child, ov, nv);
                }
            }
            Some(_) => {}
        }
    }
}

/// Deep merge for apply: maps merge, everything else replaces.
fn apply_merge(obj: &mut Value, applied: &Value) {
    match (obj.as_object_mut(), applied.as_object()) {
        (Some(o), Some(a)) => {
            for (k, v) in a {
                match o.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => apply_merge(existing, v),
                    _ => {
                        o.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *obj = applied.clone(),
    }
}

async fn handle(s: Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.state.lock().unwrap().requests.push(format!("{method} {}", uri.path()));
    let user = headers.get(USER_HEADER).and_then(|v| v.to_str().ok()).map(String::from);
    let path = uri.path();
    if path == "/version" {
        s.state.lock().unwrap().accesses.push(Access {
            user,
            verb: "get".into(),
            group: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            non_resource_path: path.into(),
        });
        return axum::Json(json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-fake"})).into_response();
    }
    let Some(t) = parse_path(path) else {
        return status_error(404, "NotFound", format!("the server could not find the requested resource {path}"));
    };
    let q = query(&uri);
    s.state.lock().unwrap().accesses.push(Access {
        user: user.clone(),
        verb: rbac_verb(&method, t.name.is_some(), &q).into(),
        group: t.kind.0.clone(),
        resource: t.kind.1.clone(),
        subresource: if t.status { "status".into() } else { String::new() },
        namespace: t.namespace.clone().unwrap_or_default(),
        non_resource_path: String::new(),
    });
    let kind = match s.state.lock().unwrap().kinds.get(&t.kind).cloned() {
        Some(k) => k,
        None => {
            return status_error(404, "NotFound", format!("the server could not find the requested resource {path}"));
        }
    };
    let ns = if kind.namespaced { t.namespace.clone() } else { None };
    match (method.clone(), t.name.clone()) {
        (Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(s, t, kind, q, user).await
        }
        (Method::GET, None) => list(&s, &t, &kind, &q),
        (Method::GET, Some(name)) => {
            let st = s.state.lock().unwrap();
            match st.objects.get(&t.kind).and_then(|m| m.get(&(ns.unwrap_or_default(), name.clone()))) {
                Some(o) => axum::Json(o.clone()).into_response(),
                None => status_error(404, "NotFound", format!("{} \"{name}\" not found", t.kind.1)),
            }
        }
        (Method::POST, None) => {
            let Ok(mut obj) = serde_json::from_slice::<Value>(&body) else {
                return status_error(400, "BadRequest", "body is not JSON");
            };
            let ns = if kind.namespaced {
                t.namespace
                    .clone()
                    .or_else(|| obj.pointer("/metadata/namespace").and_then(Value::as_str).map(String::from))
            } else {
                None
            };
            let mut st = s.state.lock().unwrap();
            let name = match obj.pointer("/metadata/name").and_then(Value::as_str) {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => match obj.pointer("/metadata/generateName").and_then(Value::as_str) {
                    Some(prefix) => {
                        st.uid += 1;
                        format!("{prefix}{:05x}", st.uid)
                    }
                    None => return status_error(422, "Invalid", "metadata.name: Required value"),
                },
            };
            let key = (ns.clone().unwrap_or_default(), name.clone());
            if st.objects.get(&t.kind).is_some_and(|m| m.contains_key(&key)) {
                return status_error(409, "AlreadyExists", format!("{} \"{name}\" already exists", t.kind.1));
            }
            create_meta(&mut st, &kind, &mut obj, &name, ns.as_deref());
            if let Err(e) = admit(&kind, &mut obj) {
                return status_error(422, "Invalid", e);
            }
            let out = st.store(&t.kind, &key, obj, true);
            drop(st);
            s.latest.send_replace(out_rv(&out));
            (StatusCode::CREATED, axum::Json(out)).into_response()
        }
        (Method::PUT, Some(name)) => {
            let Ok(new) = serde_json::from_slice::<Value>(&body) else {
                return status_error(400, "BadRequest", "body is not JSON");
            };
            let key = (ns.unwrap_or_default(), name.clone());
            let mut st = s.state.lock().unwrap();
            let Some(old) = st.objects.get(&t.kind).and_then(|m| m.get(&key)).cloned() else {
                return status_error(404, "NotFound", format!("{} \"{name}\" not found", t.kind.1));
            };
            let want_rv = new.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            if !want_rv.is_empty() && Some(want_rv) != old.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            {
                return status_error(
                    409,
                    "Conflict",
                    "the object has been modified; please apply your changes to the latest version and try again",
                );
            }
            let mut merged = merge_update(&kind, &old, new, t.status);
            if let Err(e) = admit(&kind, &mut merged) {
                return status_error(422, "Invalid", e);
            }
            let out = st.store(&t.kind, &key, merged, false);
            drop(st);
            s.latest.send_replace(out_rv(&out));
            axum::Json(out).into_response()
        }
        (Method::PATCH, Some(name)) => patch(&s, &t, &kind, ns, &name, &headers, &q, &body),
        (Method::DELETE, Some(name)) => {
            let key = (ns.unwrap_or_default(), name.clone());
            let mut st = s.state.lock().unwrap();
            let out = st.delete(&t.kind, &key);
            let rv = st.rv;
            drop(st);
            s.latest.send_replace(rv);
            match out {
                Some(o) => axum::Json(o).into_response(),
                None => status_error(404, "NotFound", format!("{} \"{name}\" not found", t.kind.1)),
            }
        }
        _ => status_error(405, "MethodNotAllowed", format!("{method} not supported on {path}")),
    }
}

fn out_rv(o: &Value) -> u64 {
    o.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn create_meta(st: &mut State, kind: &Kind, obj: &mut Value, name: &str, ns: Option<&str>) {
    st.uid += 1;
    let uid = format!("00000000-0000-4000-8000-{:012x}", st.uid);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    let m = &mut obj["metadata"];
    m["name"] = json!(name);
    match ns {
        Some(n) => m["namespace"] = json!(n),
        None => {
            m.as_object_mut().unwrap().remove("namespace");
        }
    }
    m["uid"] = json!(uid);
    m["creationTimestamp"] = json!(now_rfc3339());
    m["generation"] = json!(1);
    m.as_object_mut().unwrap().remove("deletionTimestamp");
    obj["apiVersion"] = json!(kind.api_version());
    obj["kind"] = json!(kind.kind);
}

#[allow(clippy::too_many_arguments)]
fn patch(
    s: &Shared,
    t: &Target,
    kind: &Kind,
    ns: Option<String>,
    name: &str,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let key = (ns.clone().unwrap_or_default(), name.to_string());
    let mut st = s.state.lock().unwrap();
    let old = st.objects.get(&t.kind).and_then(|m| m.get(&key)).cloned();
    let result = if ct.starts_with("application/apply-patch") {
        let applied: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => match serde_yaml_ng::from_slice(body) {
                Ok(v) => v,
                Err(e) => return status_error(400, "BadRequest", format!("apply body: {e}")),
            },
        };
        let Some(manager) = q.get("fieldManager").filter(|m| !m.is_empty()).cloned() else {
            return status_error(422, "Invalid", "fieldManager is required for apply patch");
        };
        let part = |v: &Value| -> Value {
            if t.status {
                json!({"status": v.get("status").cloned().unwrap_or(Value::Null)})
            } else {
                let mut v = v.clone();
                if kind.status_subresource {
                    v.as_object_mut().map(|m| m.remove("status"));
                }
                v
            }
        };
        let applied = part(&applied);
        let akey = (t.kind.clone(), key.clone(), format!("{manager}{}", if t.status { "/status" } else { "" }));
        // fields another manager applied with another value conflict, as
        // on the API server; `force` takes them over
        let force = q.get("force").is_some_and(|f| f == "true");
        let mine = leaves(&applied);
        let mut conflicts: Vec<(String, String)> = Vec::new();
        for ((k, o, m), theirs) in &st.applied {
            if *k != t.kind || *o != key || *m == akey.2 || m.ends_with("/status") != t.status {
                continue;
            }
            let theirs = leaves(theirs);
            for (path, v) in &mine {
                if theirs.get(path).is_some_and(|tv| tv != v) {
                    conflicts.push((m.trim_end_matches("/status").to_string(), path.clone()));
                }
            }
        }
        if !conflicts.is_empty() {
            if !force {
                let list: Vec<String> = conflicts.iter().map(|(m, p)| format!("conflict with \"{m}\": {p}")).collect();
                return status_error(
                    409,
                    "Conflict",
                    format!("Apply failed with {} conflict(s): {}", conflicts.len(), list.join(", ")),
                );
            }
            for (m, path) in &conflicts {
                let suffix = if t.status { "/status" } else { "" };
                if let Some(theirs) = st.applied.get_mut(&(t.kind.clone(), key.clone(), format!("{m}{suffix}"))) {
                    remove_leaf(theirs, path);
                }
            }
        }
        let last = st.applied.get(&akey).cloned().unwrap_or(json!({}));
        let created = old.is_none();
        if created
            && let Some(a) = st.accesses.iter_mut().rev().find(|a| {
                a.verb == "patch" && a.resource == t.kind.1 && a.namespace == key.0 && a.subresource.is_empty()
            })
        {
            // applying an object that does not exist creates it: RBAC asks for `create`
            a.verb = "create".into();
        }
        let mut obj = match old.clone() {
            Some(o) => o,
            None => {
                if t.status {
                    return status_error(404, "NotFound", format!("{} \"{name}\" not found", t.kind.1));
                }
                let mut o = json!({"metadata": {}});
                create_meta(&mut st, kind, &mut o, name, ns.as_deref());
                o
            }
        };
        let fixed = obj.clone();
        prune_unapplied(&mut obj, &last, &applied);
        apply_merge(&mut obj, &applied);
        st.applied.insert(akey, applied);
        let merged = if created { obj } else { merge_update(kind, &fixed, obj, t.status) };
        if created {
            let mut m = merged;
            if let Err(e) = admit(kind, &mut m) {
                return status_error(422, "Invalid", e);
            }
            create_meta_keep(&fixed, &mut m);
            let out = st.store(&t.kind, &key, m, true);
            drop(st);
            s.latest.send_replace(out_rv(&out));
            return (StatusCode::CREATED, axum::Json(out)).into_response();
        }
        Ok(merged)
    } else {
        let Some(old) = old.clone() else {
            return status_error(404, "NotFound", format!("{} \"{name}\" not found", t.kind.1));
        };
        if kind.custom && ct.starts_with("application/strategic-merge-patch") {
            return status_error(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            );
        }
        let mut doc = old.clone();
        if ct.starts_with("application/json-patch") {
            let ops: Vec<Value> = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return status_error(400, "BadRequest", format!("json patch: {e}")),
            };
            // a `test` for null on a missing path passes on the API server (the field is unset)
            let ops: Vec<Value> = ops
                .into_iter()
                .filter(|op| {
                    !(op["op"] == "test"
                        && op["value"].is_null()
                        && doc.pointer(op["path"].as_str().unwrap_or("")).is_none())
                })
                .collect();
            let ops: json_patch::Patch = match serde_json::from_value(Value::Array(ops)) {
                Ok(p) => p,
                Err(e) => return status_error(400, "BadRequest", format!("json patch: {e}")),
            };
            json_patch::patch(&mut doc, &ops).map_err(|e| e.to_string())
        } else {
            let p: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return status_error(400, "BadRequest", format!("patch: {e}")),
            };
            json_patch::merge(&mut doc, &p);
            Ok(())
        }
        .and_then(|()| {
            // a resourceVersion in the patched object is a precondition, as on PUT
            let want = doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            let have = old.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("");
            if want.is_empty() || want == have { Ok(()) } else { Err(CONFLICT.to_string()) }
        })
        .map(|()| merge_update(kind, &old, doc, t.status))
    };
    match result {
        Ok(mut merged) => {
            if let Err(e) = admit(kind, &mut merged) {
                return status_error(422, "Invalid", e);
            }
            let out = st.store(&t.kind, &key, merged, false);
            drop(st);
            s.latest.send_replace(out_rv(&out));
            axum::Json(out).into_response()
        }
        Err(e) if e == CONFLICT => status_error(409, "Conflict", e),
        Err(e) => status_error(422, "Invalid", e),
    }
}

const CONFLICT: &str = "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again";

/// The leaf fields of an applied object by path (`.spec.a.b`); maps are
/// descended, anything else is a leaf. `apiVersion`, `kind`, and the name
/// and namespace are nobody's to conflict over.
fn leaves(v: &Value) -> BTreeMap<String, Value> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, c) in m {
                    walk(c, format!("{path}.{k}"), out);
                }
            }
            _ => {
                out.insert(path, v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    for skip in [".apiVersion", ".kind", ".metadata.name", ".metadata.namespace"] {
        out.remove(skip);
    }
    out
}

/// Remove the leaf at `path` (as [`leaves`] names it) from an applied object.
fn remove_leaf(v: &mut Value, path: &str) {
    let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
    let mut cur = v;
    for p in &parts[..parts.len() - 1] {
        match cur.get_mut(*p) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(parts[parts.len() - 1]);
    }
}

/// Keep the server-set metadata of a freshly created object through apply.
fn create_meta_keep(fresh: &Value, obj: &mut Value) {
    for f in ["uid", "creationTimestamp", "generation", "name", "namespace"] {
        if let Some(v) = fresh["metadata"].get(f) {
            obj["metadata"][f] = v.clone();
        }
    }
    obj["apiVersion"] = fresh["apiVersion"].clone();
    obj["kind"] = fresh["kind"].clone();
}

fn list(s: &Shared, t: &Target, kind: &Kind, q: &HashMap<String, String>) -> Response {
    let st = s.state.lock().unwrap();
    let items: Vec<Value> = st
        .objects
        .get(&t.kind)
        .map(|m| {
            m.iter()
                .filter(|((ns, _), _)| t.namespace.as_ref().is_none_or(|want| want == ns) || !kind.namespaced)
                .map(|(_, o)| o)
                .filter(|o| matches(o, q))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({
        "apiVersion": kind.api_version(),
        "kind": format!("{}List", kind.kind),
        "metadata": {"resourceVersion": st.rv.to_string()},
        "items": items,
    }))
    .into_response()
}

async fn watch(s: Shared, t: Target, kind: Kind, q: HashMap<String, String>, user: Option<String>) -> Response {
    let open = OpenWatch::new(&s.state, user, &t.kind);
    let timeout = q.get("timeoutSeconds").and_then(|v| v.parse::<u64>().ok()).unwrap_or(290).min(290);
    let from: Option<u64> =
        q.get("resourceVersion").filter(|v| !v.is_empty() && *v != "0").and_then(|v| v.parse().ok());
    let compacted = s.state.lock().unwrap().compacted;
    if let Some(rv) = from.filter(|rv| *rv < compacted) {
        // the answer is 200 with one ERROR event, then the stream ends
        let ev = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "reason": "Expired", "code": 410,
            "message": format!("too old resource version: {rv} ({compacted})")}});
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(format!("{ev}\n")))
            .unwrap();
    }
    let key_of = |o: &Value| {
        (
            o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string(),
            o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string(),
        )
    };
    // what this watch has shown as matching its selectors: an object that
    // stops matching is DELETED for it, one that starts matching ADDED
    let mut visible: std::collections::HashSet<ObjKey> = {
        let st = s.state.lock().unwrap();
        st.objects
            .get(&t.kind)
            .map(|m| {
                m.iter()
                    .filter(|((ns, _), _)| t.namespace.as_ref().is_none_or(|w| w == ns) || !kind.namespaced)
                    .filter(|(_, o)| matches(o, &q))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    };
    // without a resourceVersion a watch starts with the current objects as ADDED
    let (mut cursor, initial) = {
        let st = s.state.lock().unwrap();
        match from {
            Some(rv) => (rv, Vec::new()),
            None => {
                let objs: Vec<Value> = st
                    .objects
                    .get(&t.kind)
                    .map(|m| {
                        m.iter()
                            .filter(|((ns, _), _)| t.namespace.as_ref().is_none_or(|w| w == ns) || !kind.namespaced)
                            .map(|(_, o)| o.clone())
                            .filter(|o| matches(o, &q))
                            .collect()
                    })
                    .unwrap_or_default();
                (st.rv, objs.into_iter().map(|o| json!({"type": "ADDED", "object": o})).collect())
            }
        }
    };
    let mut rx = s.latest.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let (tx, out_rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        // open until the client goes away, the timeout passes or the server stops
        let _open = open;
        for ev in initial {
            if tx.send(Ok(Bytes::from(format!("{ev}\n")))).await.is_err() {
                return;
            }
        }
        loop {
            let batch: Vec<Value> = {
                let st = s.state.lock().unwrap();
                let evs: Vec<Value> = st
                    .log
                    .iter()
                    .filter(|c| c.rv > cursor && c.kind == t.kind)
                    .filter(|c| t.namespace.as_ref().is_none_or(|w| *w == c.namespace) || !kind.namespaced)
                    .filter_map(|c| {
                        let key = key_of(&c.object);
                        let now = matches(&c.object, &q);
                        let was = visible.contains(&key);
                        let type_ = match (c.type_, was, now) {
                            ("DELETED", true, _) | ("DELETED", false, true) => "DELETED",
                            ("DELETED", false, false) => return None,
                            (_, true, true) => c.type_,
                            (_, false, true) => "ADDED",
                            (_, true, false) => "DELETED",
                            (_, false, false) => return None,
                        };
                        if type_ == "DELETED" {
                            visible.remove(&key);
                        } else {
                            visible.insert(key);
                        }
                        Some(json!({"type": type_, "object": c.object}))
                    })
                    .collect();
                cursor = st.rv;
                evs
            };
            for ev in batch {
                if tx.send(Ok(Bytes::from(format!("{ev}\n")))).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
    Response::builder().status(200).header("content-type", "application/json").body(Body::from_stream(stream)).unwrap()
}
