//! A stateful Argo CD on loopback for the Argo CD client's tests:
//! AppProjects, clusters and (by name and project only) applications, kept
//! in memory and answered with Argo CD's REST semantics.
//!
//! Every request it receives is held to Argo CD's published document
//! (`tests/vendor/argocd-swagger.json`) with [`VendorSpec::check_request`]
//! and every answer it gives with [`VendorSpec::check_response`]; what does
//! not fit is a violation ([`ArgoCdDouble::violations`]), and each test ends
//! asserting there are none.
//!
//! The Argo CD semantics it keeps: a bearer token (401 otherwise, and
//! `loggedIn: false` from `/session/userinfo`); RBAC checked before
//! existence (a hidden project is 403 whether it exists or not); project
//! create with `upsert: false` answering the existing project when its spec
//! is identical and 400 otherwise; policies rewritten as Argo CD does and
//! validated against the project and role; `metadata.resourceVersion`
//! bumped on every write, required on update and a stale one refused with
//! 409; deletion refused with 400 "project is referenced by N applications";
//! 403 for an unknown cluster; cluster credentials never shown.
//!
//! One way it is stricter than Argo CD: Argo CD unions the tokens of
//! `spec.roles[].jwtTokens` and `status.jwtTokensByRole` on update, the
//! double keeps what the update carries, so a client dropping either shows.
//!
//! Test hooks: seed and inspect ([`ArgoCdDouble::seed_project`],
//! [`ArgoCdDouble::issue_token`], [`ArgoCdDouble::add_application`],
//! [`ArgoCdDouble::hide_project`], [`ArgoCdDouble::project`],
//! [`ArgoCdDouble::cluster`]), race ([`ArgoCdDouble::write_after_next_read`]),
//! inject failures ([`ArgoCdDouble::fail_next`],
//! [`ArgoCdDouble::fail_next_matching`]), go down
//! ([`ArgoCdDouble::set_down`], [`ArgoCdDouble::go_offline`] /
//! [`ArgoCdDouble::come_online`]) and read what was asked
//! ([`ArgoCdDouble::requests`], [`ArgoCdDouble::count`],
//! [`ArgoCdDouble::writes`]).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use nines_operator::provision::argocd::{ArgoCdClient, normalize_policy};
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::vendor_spec::{VendorSpec, parse_query, percent_decode, specs_dir};

/// Argo CD's document, loaded once per test binary.
pub fn argocd_spec() -> &'static VendorSpec {
    static SPEC: OnceLock<VendorSpec> = OnceLock::new();
    SPEC.get_or_init(|| VendorSpec::load(specs_dir().join("argocd-swagger.json")))
}

const TIME: &str = "2026-01-01T00:00:00Z";
const NAMESPACE: &str = "argocd";

/// gRPC codes Argo CD puts in error bodies.
const INVALID_ARGUMENT: i64 = 3;
const NOT_FOUND: i64 = 5;
const PERMISSION_DENIED: i64 = 7;
const RESOURCE_EXHAUSTED: i64 = 8;
const ABORTED: i64 = 10;
const INTERNAL: i64 = 13;
const UNAVAILABLE: i64 = 14;
const UNAUTHENTICATED: i64 = 16;

/// One request the double received, and the status it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// As sent: still percent-encoded.
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Fault {
    method: Option<String>,
    path_prefix: String,
    status: u16,
    retry_after: Option<String>,
    times: usize,
}

struct DoubleState {
    token: String,
    username: String,
    resource_version: u64,
    uids: u64,
    projects: BTreeMap<String, Value>,
    /// server URL -> the cluster as stored, credentials included.
    clusters: BTreeMap<String, Value>,
    /// application name -> its project.
    applications: BTreeMap<String, String>,
    hidden: BTreeSet<String>,
    /// Projects to change right after their next read.
    race: BTreeSet<String>,
    faults: VecDeque<Fault>,
    down: bool,
    seen: Vec<Seen>,
    violations: Vec<String>,
}

struct Answer {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer { status, body: Some(body), headers: vec![] }
    }

    /// Argo CD's (grpc-gateway's) error shape.
    fn error(status: u16, code: i64, message: impl Into<String>) -> Answer {
        let message = message.into();
        Answer::json(status, json!({"error": message, "code": code, "message": message, "details": []}))
    }

    fn invalid(message: impl Into<String>) -> Answer {
        Answer::error(400, INVALID_ARGUMENT, message)
    }

    fn denied() -> Answer {
        Answer::error(403, PERMISSION_DENIED, "permission denied")
    }
}

/// The gRPC code grpc-gateway turns into `status`.
fn grpc_code_of(status: u16) -> i64 {
    match status {
        400 => INVALID_ARGUMENT,
        401 => UNAUTHENTICATED,
        403 => PERMISSION_DENIED,
        404 => NOT_FOUND,
        409 => ABORTED,
        429 => RESOURCE_EXHAUSTED,
        503 => UNAVAILABLE,
        _ => INTERNAL,
    }
}

/// A role name as Argo CD accepts it.
fn valid_role_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// Argo CD's `validateProject`, for what the double models: destinations
/// name a cluster, roles have valid unique names, policies are of the role
/// and the project.
fn validate_project(project: &Value) -> Result<(), String> {
    let name = project.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        return Err("project name is required".into());
    }
    let spec = &project["spec"];
    for d in spec["destinations"].as_array().into_iter().flatten() {
        let has = |k: &str| d[k].as_str().is_some_and(|s| !s.is_empty());
        if !has("server") && !has("name") {
            return Err("destination has neither server nor name".into());
        }
    }
    for r in spec["sourceRepos"].as_array().into_iter().flatten() {
        if r.as_str().is_none_or(str::is_empty) {
            return Err("source repository is empty".into());
        }
    }
    let mut seen = BTreeSet::new();
    for role in spec["roles"].as_array().into_iter().flatten() {
        let role_name = role["name"].as_str().unwrap_or_default();
        if !valid_role_name(role_name) {
            return Err(format!("invalid role name '{role_name}'"));
        }
        if !seen.insert(role_name) {
            return Err(format!("role '{role_name}' already exists"));
        }
        for policy in role["policies"].as_array().into_iter().flatten() {
            let policy = policy.as_str().unwrap_or_default();
            let parts: Vec<&str> = policy.split(',').map(str::trim).collect();
            if parts.len() != 6 || parts[0] != "p" {
                return Err(format!(
                    "invalid policy rule '{policy}': must be of the form: 'p, sub, res, act, obj, eff'"
                ));
            }
            let subject = format!("proj:{name}:{role_name}");
            if parts[1] != subject {
                return Err(format!(
                    "invalid policy rule '{policy}': policy subject must be: '{subject}', not '{}'",
                    parts[1]
                ));
            }
            if !parts[4].starts_with(&format!("{name}/")) {
                return Err(format!(
                    "invalid policy rule '{policy}': object must be of form '{name}/*' or '{name}/<APPNAME>'"
                ));
            }
            if !matches!(parts[5], "allow" | "deny") {
                return Err(format!("invalid policy rule '{policy}': effect must be: 'allow' or 'deny'"));
            }
        }
        let mut groups = BTreeSet::new();
        for g in role["groups"].as_array().into_iter().flatten() {
            let g = g.as_str().unwrap_or_default();
            if g.trim().is_empty() || !groups.insert(g) {
                return Err(format!("invalid group '{g}' in role '{role_name}'"));
            }
        }
    }
    Ok(())
}

/// Argo CD's `NormalizePolicies`.
fn normalize_policies(project: &mut Value) {
    if let Some(roles) = project.pointer_mut("/spec/roles").and_then(Value::as_array_mut) {
        for role in roles {
            if let Some(policies) = role.get_mut("policies").and_then(Value::as_array_mut) {
                for p in policies.iter_mut() {
                    *p = json!(normalize_policy(p.as_str().unwrap_or_default()));
                }
            }
        }
    }
}

/// A cluster as Argo CD shows it: no credentials.
fn redacted(cluster: &Value) -> Value {
    let mut c = cluster.clone();
    if let Some(config) = c.get_mut("config").and_then(Value::as_object_mut) {
        config.remove("bearerToken");
        config.remove("password");
        if let Some(tls) = config.get_mut("tlsClientConfig").and_then(Value::as_object_mut) {
            tls.remove("keyData");
        }
    }
    c["connectionState"] = json!({"status": "Successful", "message": "", "attemptedAt": TIME});
    c["info"] = json!({"serverVersion": "1.33", "connectionState": c["connectionState"].clone()});
    c
}

impl DoubleState {
    fn bump(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Stores `project` as new: system metadata filled in.
    fn insert_project(&mut self, mut project: Value) -> Value {
        let name = project.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        self.uids += 1;
        let rv = self.bump();
        let meta = project["metadata"].as_object_mut().unwrap();
        meta.insert("namespace".into(), json!(NAMESPACE));
        meta.insert("uid".into(), json!(format!("00000000-0000-0000-0000-{:012}", self.uids)));
        meta.insert("resourceVersion".into(), json!(rv));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!(TIME));
        if project.get("spec").is_none_or(Value::is_null) {
            project["spec"] = json!({});
        }
        if project.get("status").is_none_or(Value::is_null) {
            project["status"] = json!({});
        }
        self.projects.insert(name, project.clone());
        project
    }

    fn route(&mut self, method: &str, segs: &[String], query: &[(String, String)], body: Option<&Value>) -> Answer {
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (method, seg.as_slice()) {
            ("POST", ["projects"]) => self.create_project(body),
            (_, ["projects", name]) if self.hidden.contains(*name) => Answer::denied(),
            ("GET", ["projects", name]) => match self.projects.get(*name).cloned() {
                Some(p) => {
                    if self.race.remove(*name) {
                        // someone else writes right after this read
                        let rv = self.bump();
                        self.projects.get_mut(*name).unwrap()["metadata"]["resourceVersion"] = json!(rv);
                    }
                    Answer::json(200, p)
                }
                None => Answer::error(404, NOT_FOUND, format!("appprojects.argoproj.io \"{name}\" not found")),
            },
            ("PUT", ["projects", name]) => self.update_project(name, body),
            ("DELETE", ["projects", name]) => self.delete_project(name),
            ("POST", ["clusters"]) => {
                let upsert = query.iter().any(|(k, v)| k == "upsert" && v == "true");
                self.create_cluster(body, upsert)
            }
            ("GET", ["clusters"]) => {
                let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let (server, name) = (get("server"), get("name"));
                let items: Vec<Value> = self
                    .clusters
                    .values()
                    .filter(|c| server.as_deref().is_none_or(|s| c["server"] == s))
                    .filter(|c| name.as_deref().is_none_or(|n| c["name"] == n))
                    .map(redacted)
                    .collect();
                Answer::json(200, json!({"metadata": {}, "items": items}))
            }
            // Argo CD hides which clusters it knows: an unknown one is 403
            ("GET", ["clusters", server]) => match self.clusters.get(*server) {
                Some(c) => Answer::json(200, redacted(c)),
                None => Answer::denied(),
            },
            ("DELETE", ["clusters", server]) => match self.clusters.remove(*server) {
                Some(_) => Answer::json(200, json!({})),
                None => Answer::denied(),
            },
            _ => Answer::error(404, NOT_FOUND, "Not Found"),
        }
    }

    fn create_project(&mut self, body: Option<&Value>) -> Answer {
        let Some(mut project) = body.and_then(|b| b.get("project")).filter(|p| p.is_object()).cloned() else {
            return Answer::invalid("missing payload 'project' in request");
        };
        let upsert = body.and_then(|b| b.get("upsert")).and_then(Value::as_bool).unwrap_or(false);
        let name = project.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if self.hidden.contains(&name) {
            return Answer::denied();
        }
        if project.pointer("/metadata/resourceVersion").is_some_and(|v| !v.is_null()) {
            return Answer::invalid("resourceVersion should not be set on objects to be created");
        }
        normalize_policies(&mut project);
        if let Err(e) = validate_project(&project) {
            return Answer::error(400, INVALID_ARGUMENT, format!("error validating project: {e}"));
        }
        if let Some(existing) = self.projects.get(&name).cloned() {
            let spec = |p: &Value| p.get("spec").cloned().filter(|s| !s.is_null()).unwrap_or_else(|| json!({}));
            if spec(&existing) == spec(&project) {
                return Answer::json(200, existing);
            }
            if !upsert {
                return Answer::invalid("existing project spec is different; use upsert flag to force update");
            }
            let mut updated = existing;
            updated["spec"] = spec(&project);
            updated["metadata"]["resourceVersion"] = json!(self.bump());
            self.projects.insert(name, updated.clone());
            return Answer::json(200, updated);
        }
        Answer::json(200, self.insert_project(project))
    }

    fn update_project(&mut self, name: &str, body: Option<&Value>) -> Answer {
        let Some(mut project) = body.and_then(|b| b.get("project")).filter(|p| p.is_object()).cloned() else {
            return Answer::invalid("missing payload 'project' in request");
        };
        // the path names the project (grpc-gateway fills it into the body)
        project["metadata"]["name"] = json!(name);
        normalize_policies(&mut project);
        if let Err(e) = validate_project(&project) {
            return Answer::error(400, INVALID_ARGUMENT, format!("error validating project: {e}"));
        }
        let Some(stored) = self.projects.get(name).cloned() else {
            return Answer::error(404, NOT_FOUND, format!("appprojects.argoproj.io \"{name}\" not found"));
        };
        match project.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
            None => {
                return Answer::invalid(format!(
                    "AppProject.argoproj.io \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
                ));
            }
            Some(rv) if Some(rv) != stored.pointer("/metadata/resourceVersion").and_then(Value::as_str) => {
                return Answer::error(
                    409,
                    ABORTED,
                    format!(
                        "Operation cannot be fulfilled on appprojects.argoproj.io \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
            }
            Some(_) => {}
        }
        // system metadata stays the server's
        let mut meta: Map<String, Value> = stored["metadata"].as_object().cloned().unwrap_or_default();
        for key in ["labels", "annotations", "finalizers"] {
            match project["metadata"].get(key) {
                Some(v) if !v.is_null() => meta.insert(key.into(), v.clone()),
                _ => meta.remove(key),
            };
        }
        let generation = meta.get("generation").and_then(Value::as_i64).unwrap_or(1);
        if project.get("spec") != stored.get("spec") {
            meta.insert("generation".into(), json!(generation + 1));
        }
        meta.insert("resourceVersion".into(), json!(self.bump()));
        project["metadata"] = Value::Object(meta);
        if project.get("spec").is_none_or(Value::is_null) {
            project["spec"] = json!({});
        }
        if project.get("status").is_none_or(Value::is_null) {
            project["status"] = json!({});
        }
        self.projects.insert(name.to_string(), project.clone());
        Answer::json(200, project)
    }

    fn delete_project(&mut self, name: &str) -> Answer {
        if name == "default" {
            return Answer::invalid("name 'default' is reserved and cannot be deleted");
        }
        if !self.projects.contains_key(name) {
            return Answer::error(404, NOT_FOUND, format!("appprojects.argoproj.io \"{name}\" not found"));
        }
        let using = self.applications.values().filter(|p| *p == name).count();
        if using > 0 {
            return Answer::invalid(format!("project is referenced by {using} applications"));
        }
        self.projects.remove(name);
        self.bump();
        Answer::json(200, json!({}))
    }

    fn create_cluster(&mut self, body: Option<&Value>, upsert: bool) -> Answer {
        let Some(cluster) = body.filter(|b| b.is_object()).cloned() else {
            return Answer::invalid("missing cluster");
        };
        let Some(server) = cluster["server"].as_str().filter(|s| !s.is_empty()).map(str::to_string) else {
            return Answer::invalid("cluster server is required");
        };
        if let Some(ca) = cluster.pointer("/config/tlsClientConfig/caData") {
            let decoded: Result<k8s_openapi::ByteString, _> = serde_json::from_value(ca.clone());
            if decoded.is_err() {
                return Answer::invalid("config.tlsClientConfig.caData is not base64");
            }
        }
        if let Some(existing) = self.clusters.get(&server)
            && existing != &cluster
            && !upsert
        {
            return Answer::invalid("existing cluster spec is different; use upsert flag to force update");
        }
        self.bump();
        self.clusters.insert(server, cluster.clone());
        Answer::json(200, redacted(&cluster))
    }
}

struct Shared {
    state: Mutex<DoubleState>,
}

impl Shared {
    fn exchange(&self, method: &str, path: &str, query: &str, headers: &HeaderMap, bytes: &[u8]) -> Answer {
        let spec = argocd_spec();
        let mut st = self.state.lock().unwrap();
        let body: Option<Value> = if bytes.is_empty() {
            None
        } else {
            match serde_json::from_slice(bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    st.violations.push(format!("request {method} {path}: body is no JSON ({e})"));
                    None
                }
            }
        };
        if let Err(e) = spec.check_request(method, path, query, body.as_ref()) {
            st.violations.push(format!("request {e}"));
        }
        let answer = st.answer(method, path, query, headers, body.as_ref());
        if let Err(e) = spec.check_response(method, path, answer.status, answer.body.as_ref()) {
            st.violations.push(format!("answer {e}"));
        }
        st.seen.push(Seen {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body,
            status: answer.status,
        });
        answer
    }
}

impl DoubleState {
    fn answer(&mut self, method: &str, path: &str, query: &str, headers: &HeaderMap, body: Option<&Value>) -> Answer {
        if self.down {
            return Answer::error(503, UNAVAILABLE, "the double is down");
        }
        if let Some(i) = self.faults.iter().position(|f| {
            f.times > 0 && f.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&f.path_prefix)
        }) {
            let f = &mut self.faults[i];
            f.times -= 1;
            let mut answer = Answer::error(f.status, grpc_code_of(f.status), format!("injected {}", f.status));
            if let Some(r) = &f.retry_after {
                answer.headers.push(("Retry-After", r.clone()));
            }
            if f.times == 0 {
                self.faults.remove(i);
            }
            return answer;
        }
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let authenticated = token == Some(self.token.as_str());
        if method == "GET" && path == "/api/v1/session/userinfo" {
            // answered without a valid token too, as Argo CD does
            return if authenticated {
                Answer::json(200, json!({"loggedIn": true, "username": self.username, "iss": "argocd"}))
            } else {
                Answer::json(200, json!({"loggedIn": false}))
            };
        }
        match token {
            None => return Answer::error(401, UNAUTHENTICATED, "no session information"),
            Some(_) if !authenticated => {
                return Answer::error(401, UNAUTHENTICATED, "invalid session: token signature is invalid");
            }
            Some(_) => {}
        }
        let Some(tail) = path.strip_prefix("/api/v1/") else {
            return Answer::error(404, NOT_FOUND, "Not Found");
        };
        let segs: Vec<String> = tail.split('/').map(percent_decode).collect();
        self.route(method, &segs, &parse_query(query), body)
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let answer = shared.exchange(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &bytes,
    );
    let mut resp = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        resp = resp.header(*name, value);
    }
    match answer.body {
        Some(b) => resp.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => resp.body(Body::empty()).unwrap(),
    }
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> Running {
    let app = axum::Router::new().fallback(handle).with_state(shared);
    let (shutdown, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Running { shutdown, task }
}

/// An Argo CD double on a free loopback port.
pub struct ArgoCdDouble {
    /// `http://127.0.0.1:<port>`: the base URL for clients.
    pub url: String,
    /// The token the double accepts, of the account `nines`.
    pub token: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl ArgoCdDouble {
    pub async fn start() -> ArgoCdDouble {
        let token = "argocd-token-of-nines".to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(DoubleState {
                token: token.clone(),
                username: "nines".into(),
                resource_version: 1000,
                uids: 0,
                projects: BTreeMap::new(),
                clusters: BTreeMap::new(),
                applications: BTreeMap::new(),
                hidden: BTreeSet::new(),
                race: BTreeSet::new(),
                faults: VecDeque::new(),
                down: false,
                seen: vec![],
                violations: vec![],
            }),
        });
        let running = serve(listener, shared.clone());
        ArgoCdDouble { url: format!("http://{addr}"), token, addr, shared, running: Mutex::new(Some(running)) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DoubleState> {
        self.shared.state.lock().unwrap()
    }

    /// A client with the double's token.
    pub fn client(&self) -> ArgoCdClient {
        ArgoCdClient::new(&self.url, &self.token)
    }

    /// Stores `project` (`{"metadata": {"name", ...}, "spec": ...}`) as
    /// someone else created it: its resourceVersion.
    pub fn seed_project(&self, project: Value) -> String {
        let stored = self.state().insert_project(project);
        stored["metadata"]["resourceVersion"].as_str().unwrap().to_string()
    }

    /// The project `name` as stored.
    pub fn project(&self, name: &str) -> Option<Value> {
        self.state().projects.get(name).cloned()
    }

    /// Issues a token for `role` of `project`, as `argocd proj role
    /// create-token` does: listed in the role and in the status.
    pub fn issue_token(&self, project: &str, role: &str, id: &str, iat: i64) {
        let mut st = self.state();
        let rv = st.bump();
        let p = st.projects.get_mut(project).expect("no such project in the double");
        let token = json!({"iat": iat, "id": id});
        let roles = p["spec"]["roles"].as_array_mut().expect("the project has roles");
        let r = roles.iter_mut().find(|r| r["name"] == role).expect("no such role");
        match r.get_mut("jwtTokens").and_then(Value::as_array_mut) {
            Some(tokens) => tokens.push(token.clone()),
            None => r["jwtTokens"] = json!([token.clone()]),
        }
        let items = &mut p["status"]["jwtTokensByRole"][role]["items"];
        match items.as_array_mut() {
            Some(list) => list.push(token),
            None => *items = json!([token]),
        }
        p["metadata"]["resourceVersion"] = json!(rv);
    }

    /// An application of `project`: the project cannot be deleted while it
    /// exists.
    pub fn add_application(&self, name: &str, project: &str) {
        self.state().applications.insert(name.to_string(), project.to_string());
    }

    pub fn remove_application(&self, name: &str) {
        self.state().applications.remove(name);
    }

    /// Denies the account every call on project `name`, existing or not.
    pub fn hide_project(&self, name: &str) {
        self.state().hidden.insert(name.to_string());
    }

    /// Right after the next read of project `name`, someone else writes it
    /// (its resourceVersion moves on).
    pub fn write_after_next_read(&self, name: &str) {
        self.state().race.insert(name.to_string());
    }

    /// The cluster at `server` as stored, credentials included.
    pub fn cluster(&self, server: &str) -> Option<Value> {
        self.state().clusters.get(server).cloned()
    }

    /// Stores a cluster registered outside nines.
    pub fn seed_cluster(&self, cluster: Value) {
        let server = cluster["server"].as_str().expect("a cluster has a server").to_string();
        self.state().clusters.insert(server, cluster);
    }

    /// Answers the next `times` requests with `status`.
    pub fn fail_next(&self, times: usize, status: u16) {
        self.fail_next_matching(None, "/", status, times, None);
    }

    /// Answers the next `times` requests of `method` (any when None) whose
    /// path starts with `path_prefix` with `status`, and a `Retry-After`
    /// when given.
    pub fn fail_next_matching(
        &self,
        method: Option<&str>,
        path_prefix: &str,
        status: u16,
        times: usize,
        retry_after: Option<&str>,
    ) {
        self.state().faults.push_back(Fault {
            method: method.map(str::to_string),
            path_prefix: path_prefix.to_string(),
            status,
            retry_after: retry_after.map(str::to_string),
            times,
        });
    }

    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// Stops listening: connections are refused until [`Self::come_online`].
    pub async fn go_offline(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(r) = running {
            let _ = r.shutdown.send(());
            let abort = r.task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), r.task).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Listens again on the same port, with the same state.
    pub async fn come_online(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        *self.running.lock().unwrap() = Some(serve(listener, self.shared.clone()));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Seen> {
        self.state().seen.clone()
    }

    /// How many requests of `method` were received.
    pub fn count(&self, method: &str) -> usize {
        self.state().seen.iter().filter(|s| s.method == method).count()
    }

    /// How many requests of each method were received.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in &self.state().seen {
            *out.entry(s.method.clone()).or_default() += 1;
        }
        out
    }

    /// How many requests were not reads.
    pub fn writes(&self) -> usize {
        self.state().seen.iter().filter(|s| !matches!(s.method.as_str(), "GET" | "HEAD")).count()
    }

    /// Forgets the requests so far (not the violations).
    pub fn reset_requests(&self) {
        self.state().seen.clear();
    }

    /// Requests and answers outside Argo CD's document.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "outside Argo CD's API document:\n{}", violations.join("\n"));
    }
}

impl Drop for ArgoCdDouble {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().unwrap().take() {
            r.task.abort();
        }
    }
}
