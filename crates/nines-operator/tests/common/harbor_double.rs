//! A stateful Harbor on loopback for the Harbor client's tests: projects,
//! their storage quotas, OIDC group members and (as a count) repositories,
//! kept in memory and answered with Harbor API v2.0's semantics.
//!
//! Every request it receives is held to Harbor's published document
//! (`tests/vendor/harbor-v2.0-swagger.yaml`) with [`VendorSpec::check_request`]
//! and every answer it gives with [`VendorSpec::check_response`]; what does
//! not fit is a violation ([`HarborDouble::violations`]), and each test ends
//! asserting there are none.
//!
//! The Harbor semantics it keeps: basic auth (401 otherwise); a `sid` cookie
//! on every answer and Harbor's CSRF refusal (403) of a write that carries a
//! cookie; a project addressed by name only with `X-Is-Resource-Name: true`
//! (else digits are an id); 201 with the new id in `Location`; 409 for a
//! taken name or an existing member; 412 for deleting a project that holds
//! repositories; 403 for a project that exists but is hidden from the
//! account; member search by any part of the name, paged.
//!
//! Test hooks: seed and inspect state ([`HarborDouble::seed_project`],
//! [`HarborDouble::add_repository`], [`HarborDouble::hide_project`],
//! [`HarborDouble::project`], [`HarborDouble::members`]), inject failures
//! ([`HarborDouble::fail_next`], [`HarborDouble::fail_next_matching`]), go
//! down ([`HarborDouble::set_down`] answers 503 to everything,
//! [`HarborDouble::go_offline`] refuses connections until
//! [`HarborDouble::come_online`]), and read what was asked
//! ([`HarborDouble::requests`], [`HarborDouble::count`],
//! [`HarborDouble::writes`]).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use nines_operator::provision::harbor::HarborClient;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::vendor_spec::{VendorSpec, parse_query, percent_decode, specs_dir};

/// The path every API call starts with.
pub const API: &str = "/api/v2.0";

/// Harbor's document, loaded once per test binary.
pub fn harbor_spec() -> &'static VendorSpec {
    static SPEC: OnceLock<VendorSpec> = OnceLock::new();
    SPEC.get_or_init(|| VendorSpec::load(specs_dir().join("harbor-v2.0-swagger.yaml")))
}

const TIME: &str = "2026-01-01T00:00:00.000Z";
/// The user id of the double's account (1 is Harbor's `admin`).
const ACCOUNT_ID: i64 = 3;

/// One request the double received, and the status it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// As sent: still percent-encoded.
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
    /// It carried a `Cookie` header.
    pub cookie: bool,
}

/// A project as the double keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectState {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner_id: i64,
    pub owner_name: String,
    pub repositories: BTreeSet<String>,
}

/// A project member as the double keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberState {
    pub id: i64,
    pub project_id: i64,
    pub group_id: i64,
    pub group_name: String,
    pub group_type: i64,
    pub role_id: i64,
}

#[derive(Debug, Clone)]
struct QuotaState {
    id: i64,
    project_id: i64,
    storage_hard: i64,
    storage_used: i64,
}

/// A failure answered instead of Harbor's answer.
#[derive(Debug, Clone)]
struct Fault {
    method: Option<String>,
    path_prefix: String,
    status: u16,
    retry_after: Option<String>,
    times: usize,
}

struct DoubleState {
    username: String,
    password: String,
    next_id: i64,
    projects: BTreeMap<i64, ProjectState>,
    quotas: BTreeMap<i64, QuotaState>,
    members: BTreeMap<i64, MemberState>,
    /// OIDC groups Harbor onboarded: name -> id.
    groups: BTreeMap<String, i64>,
    hidden: BTreeSet<String>,
    default_storage_limit: i64,
    faults: VecDeque<Fault>,
    down: bool,
    seen: Vec<Seen>,
    violations: Vec<String>,
    sessions: u64,
}

/// What the double answers.
struct Answer {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer { status, body: Some(body), headers: vec![] }
    }

    fn empty(status: u16) -> Answer {
        Answer { status, body: None, headers: vec![] }
    }

    /// Harbor's error shape.
    fn error(status: u16, code: &str, message: impl Into<String>) -> Answer {
        Answer::json(status, json!({"errors": [{"code": code, "message": message.into()}]}))
    }

    fn not_found(what: impl Into<String>) -> Answer {
        Answer::error(404, "NOT_FOUND", what)
    }

    fn bad_request(what: impl Into<String>) -> Answer {
        Answer::error(400, "BAD_REQUEST", what)
    }

    fn with_header(mut self, name: &'static str, value: String) -> Answer {
        self.headers.push((name, value));
        self
    }
}

/// A project name as Harbor accepts it: lower-case letters and digits,
/// separated by single `.`, `_` or `-`, at most 255 characters.
fn valid_project_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let mut prev_sep = true;
    for c in name.chars() {
        let sep = matches!(c, '.' | '_' | '-');
        if sep && prev_sep || !(sep || c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return false;
        }
        prev_sep = sep;
    }
    !prev_sep
}

/// Harbor reads metadata booleans with Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A storage limit Harbor accepts: -1 (none) or positive.
fn valid_storage(v: &Value) -> Option<i64> {
    v.as_i64().filter(|n| *n == -1 || *n > 0)
}

fn role_name(role_id: i64) -> &'static str {
    match role_id {
        1 => "projectAdmin",
        2 => "developer",
        3 => "guest",
        4 => "maintainer",
        5 => "limitedGuest",
        _ => "unknown",
    }
}

fn base64(bytes: &[u8]) -> String {
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())).unwrap().as_str().unwrap().to_string()
}

impl DoubleState {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn project_json(&self, p: &ProjectState) -> Value {
        json!({
            "project_id": p.id,
            "owner_id": p.owner_id,
            "name": p.name,
            "creation_time": TIME,
            "update_time": TIME,
            "deleted": false,
            "owner_name": p.owner_name,
            "togglable": true,
            "current_user_role_id": 1,
            "current_user_role_ids": [1],
            "repo_count": p.repositories.len(),
            "metadata": {"public": p.public.to_string()},
            "cve_allowlist": {"id": 0, "project_id": p.id, "items": [], "creation_time": TIME, "update_time": TIME},
        })
    }

    fn member_json(&self, m: &MemberState) -> Value {
        json!({
            "id": m.id,
            "project_id": m.project_id,
            "entity_name": m.group_name,
            "role_name": role_name(m.role_id),
            "role_id": m.role_id,
            "entity_id": m.group_id,
            "entity_type": "g",
        })
    }

    fn quota_json(&self, q: &QuotaState) -> Value {
        let name = self.projects.get(&q.project_id).map(|p| p.name.clone()).unwrap_or_default();
        json!({
            "id": q.id,
            "ref": {"id": q.project_id, "name": name, "owner_name": self.username},
            "hard": {"storage": q.storage_hard},
            "used": {"storage": q.storage_used},
            "creation_time": TIME,
            "update_time": TIME,
        })
    }

    /// The project a `{project_name_or_id}` names: a name with
    /// `X-Is-Resource-Name: true`, else an id when it is a number.
    fn resolve(&self, key: &str, by_name: bool) -> Option<i64> {
        if !by_name && let Ok(id) = key.parse::<i64>() {
            return self.projects.contains_key(&id).then_some(id);
        }
        self.projects.values().find(|p| p.name == key).map(|p| p.id)
    }

    fn create_project(&mut self, name: &str, public: bool, owner_id: i64, owner_name: &str, storage: i64) -> i64 {
        let id = self.id();
        self.projects.insert(
            id,
            ProjectState {
                id,
                name: name.to_string(),
                public,
                owner_id,
                owner_name: owner_name.to_string(),
                repositories: BTreeSet::new(),
            },
        );
        let qid = self.id();
        self.quotas.insert(qid, QuotaState { id: qid, project_id: id, storage_hard: storage, storage_used: 0 });
        id
    }

    /// The answer to one request that passed authentication.
    fn route(
        &mut self,
        method: &str,
        segs: &[String],
        query: &[(String, String)],
        by_name: bool,
        body: Option<&Value>,
    ) -> Answer {
        let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (method, seg.as_slice()) {
            ("GET", ["users", "current"]) => Answer::json(
                200,
                json!({
                    "user_id": ACCOUNT_ID,
                    "username": self.username,
                    "email": format!("{}@example.com", self.username),
                    "realname": "nines operator",
                    "comment": "",
                    "sysadmin_flag": true,
                    "admin_role_in_auth": false,
                    "creation_time": TIME,
                    "update_time": TIME,
                }),
            ),
            ("POST", ["projects"]) => self.post_project(body),
            (_, ["projects", key, rest @ ..]) => {
                let hidden_name = self.hidden.contains(*key)
                    || self.resolve(key, by_name).is_some_and(|id| self.hidden.contains(&self.projects[&id].name));
                if hidden_name {
                    return Answer::error(403, "FORBIDDEN", "forbidden");
                }
                let Some(pid) = self.resolve(key, by_name) else {
                    return Answer::not_found(format!("project {key} not found"));
                };
                match (method, rest) {
                    ("GET", []) => Answer::json(200, self.project_json(&self.projects[&pid])),
                    ("PUT", []) => self.put_project(pid, body),
                    ("DELETE", []) => self.delete_project(pid),
                    ("GET", ["members"]) => self.list_members(pid, query),
                    ("POST", ["members"]) => self.post_member(pid, key, body),
                    (_, ["members", mid]) => {
                        let Some(mid) = mid
                            .parse::<i64>()
                            .ok()
                            .filter(|m| self.members.get(m).is_some_and(|member| member.project_id == pid))
                        else {
                            return Answer::not_found(format!("member {mid} not found"));
                        };
                        match method {
                            "GET" => Answer::json(200, self.member_json(&self.members[&mid])),
                            "PUT" => match body.and_then(|b| b.get("role_id")).and_then(Value::as_i64) {
                                Some(r @ 1..=5) => {
                                    self.members.get_mut(&mid).unwrap().role_id = r;
                                    Answer::empty(200)
                                }
                                _ => Answer::bad_request("invalid role_id"),
                            },
                            "DELETE" => {
                                self.members.remove(&mid);
                                Answer::empty(200)
                            }
                            _ => Answer::error(405, "METHOD_NOT_ALLOWED", "method not allowed"),
                        }
                    }
                    _ => Answer::not_found("no such resource"),
                }
            }
            ("GET", ["quotas"]) => {
                let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                let (reference, reference_id) = (get("reference"), get("reference_id"));
                let list: Vec<Value> = self
                    .quotas
                    .values()
                    // every quota of the double is a project's
                    .filter(|_| reference.as_deref().is_none_or(|r| r == "project"))
                    .filter(|q| reference_id.as_deref().is_none_or(|r| r == q.project_id.to_string()))
                    .map(|q| self.quota_json(q))
                    .collect();
                let total = list.len();
                Answer::json(200, Value::Array(list)).with_header("X-Total-Count", total.to_string())
            }
            (_, ["quotas", id]) => {
                let Some(qid) = id.parse::<i64>().ok().filter(|q| self.quotas.contains_key(q)) else {
                    return Answer::not_found(format!("quota {id} not found"));
                };
                match method {
                    "GET" => Answer::json(200, self.quota_json(&self.quotas[&qid])),
                    "PUT" => {
                        let Some(hard) = body.and_then(|b| b.get("hard")).and_then(Value::as_object) else {
                            return Answer::bad_request("hard is required");
                        };
                        if let Some(k) = hard.keys().find(|k| *k != "storage") {
                            return Answer::bad_request(format!("resource {k} not support"));
                        }
                        match hard.get("storage").map(valid_storage) {
                            Some(Some(bytes)) => {
                                self.quotas.get_mut(&qid).unwrap().storage_hard = bytes;
                                Answer::empty(200)
                            }
                            Some(None) => Answer::bad_request("invalid storage limit: -1 or a positive number"),
                            None => Answer::empty(200),
                        }
                    }
                    _ => Answer::error(405, "METHOD_NOT_ALLOWED", "method not allowed"),
                }
            }
            _ => Answer::not_found("no such resource"),
        }
    }

    fn post_project(&mut self, body: Option<&Value>) -> Answer {
        let Some(body) = body else { return Answer::bad_request("project is required") };
        let Some(name) = body.get("project_name").and_then(Value::as_str) else {
            return Answer::bad_request("project_name is required");
        };
        if !valid_project_name(name) {
            return Answer::bad_request(format!("project name {name:?} is invalid"));
        }
        if body.get("registry_id").is_some_and(|v| !v.is_null()) {
            return Answer::bad_request("the double has no registries for proxy cache projects");
        }
        let public = match body.pointer("/metadata/public").and_then(Value::as_str) {
            None => body.get("public").and_then(Value::as_bool).unwrap_or(false),
            Some(s) => match parse_bool(s) {
                Some(b) => b,
                None => return Answer::bad_request(format!("invalid metadata.public {s:?}")),
            },
        };
        let storage = match body.get("storage_limit").filter(|v| !v.is_null()) {
            None => self.default_storage_limit,
            Some(v) => match valid_storage(v) {
                Some(n) => n,
                None => return Answer::bad_request("invalid storage limit: -1 or a positive number"),
            },
        };
        if self.projects.values().any(|p| p.name == name) {
            return Answer::error(409, "CONFLICT", format!("The project named {name} already exists"));
        }
        let owner = self.username.clone();
        let id = self.create_project(name, public, ACCOUNT_ID, &owner, storage);
        Answer::empty(201).with_header("Location", format!("{API}/projects/{id}"))
    }

    fn put_project(&mut self, pid: i64, body: Option<&Value>) -> Answer {
        let public = body.and_then(|b| b.pointer("/metadata/public")).and_then(Value::as_str);
        if let Some(s) = public {
            match parse_bool(s) {
                Some(b) => self.projects.get_mut(&pid).unwrap().public = b,
                None => return Answer::bad_request(format!("invalid metadata.public {s:?}")),
            }
        }
        Answer::empty(200)
    }

    fn delete_project(&mut self, pid: i64) -> Answer {
        let p = &self.projects[&pid];
        if !p.repositories.is_empty() {
            return Answer::error(
                412,
                "PRECONDITION",
                format!("the project {} contains repositories, can not be deleted", p.name),
            );
        }
        self.projects.remove(&pid);
        self.quotas.retain(|_, q| q.project_id != pid);
        self.members.retain(|_, m| m.project_id != pid);
        Answer::empty(200)
    }

    fn list_members(&self, pid: i64, query: &[(String, String)]) -> Answer {
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let entity = get("entityname").unwrap_or_default();
        let page: usize = get("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
        let size: usize = get("page_size").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(10).min(100);
        // Harbor matches any part of the name
        let matching: Vec<&MemberState> =
            self.members.values().filter(|m| m.project_id == pid && m.group_name.contains(&entity)).collect();
        let total = matching.len();
        let page: Vec<Value> =
            matching.into_iter().skip((page - 1) * size).take(size).map(|m| self.member_json(m)).collect();
        Answer::json(200, Value::Array(page)).with_header("X-Total-Count", total.to_string())
    }

    fn post_member(&mut self, pid: i64, key: &str, body: Option<&Value>) -> Answer {
        let Some(body) = body else { return Answer::bad_request("project_member is required") };
        let role_id = match body.get("role_id").and_then(Value::as_i64) {
            Some(r @ 1..=5) => r,
            _ => return Answer::bad_request("invalid role_id"),
        };
        if body.get("member_user").is_some_and(|v| !v.is_null()) {
            return Answer::bad_request("the double knows no users: only OIDC groups");
        }
        let Some(group) = body.get("member_group").filter(|g| g.is_object()) else {
            return Answer::bad_request("member_user or member_group is required");
        };
        let name = group.get("group_name").and_then(Value::as_str).unwrap_or_default().to_string();
        let group_type = group.get("group_type").and_then(Value::as_i64).unwrap_or(0);
        if group_type != 3 {
            return Answer::bad_request(format!("group_type {group_type} is not supported in OIDC auth mode"));
        }
        if name.is_empty() {
            return Answer::bad_request("group_name is required for an OIDC group");
        }
        let group_id = match self.groups.get(&name) {
            Some(id) => *id,
            None => {
                let id = self.id();
                self.groups.insert(name.clone(), id);
                id
            }
        };
        if self.members.values().any(|m| m.project_id == pid && m.group_id == group_id) {
            return Answer::error(409, "CONFLICT", format!("the user group with id {group_id} is already a member"));
        }
        let mid = self.id();
        self.members
            .insert(mid, MemberState { id: mid, project_id: pid, group_id, group_name: name, group_type, role_id });
        Answer::empty(201).with_header("Location", format!("{API}/projects/{key}/members/{mid}"))
    }
}

struct Shared {
    state: Mutex<DoubleState>,
    basic: String,
}

impl Shared {
    /// One exchange: recorded, held to the document, answered.
    fn exchange(&self, method: &str, path: &str, query: &str, headers: &HeaderMap, bytes: &[u8]) -> Answer {
        let spec = harbor_spec();
        let mut st = self.state.lock().unwrap();
        let body: Option<Value> = if bytes.is_empty() {
            None
        } else {
            let json_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json"));
            if !json_type {
                st.violations.push(format!("request {method} {path}: a body without Content-Type application/json"));
            }
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
        let answer = st.answer(self, method, path, query, headers, body.as_ref());
        if let Err(e) = spec.check_response(method, path, answer.status, answer.body.as_ref()) {
            st.violations.push(format!("answer {e}"));
        }
        st.seen.push(Seen {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            body,
            status: answer.status,
            cookie: headers.contains_key("cookie"),
        });
        st.sessions += 1;
        let sid = format!("{:032x}", st.sessions);
        answer.with_header("Set-Cookie", format!("sid={sid}; Path=/; HttpOnly"))
    }
}

impl DoubleState {
    fn answer(
        &mut self,
        shared: &Shared,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: Option<&Value>,
    ) -> Answer {
        if self.down {
            return Answer::error(503, "SERVICE_UNAVAILABLE", "the double is down");
        }
        if let Some(i) = self.faults.iter().position(|f| {
            f.times > 0 && f.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&f.path_prefix)
        }) {
            let f = &mut self.faults[i];
            f.times -= 1;
            let answer = Answer::error(f.status, "INJECTED", format!("injected {}", f.status));
            let answer = match &f.retry_after {
                Some(r) => answer.with_header("Retry-After", r.clone()),
                None => answer,
            };
            if f.times == 0 {
                self.faults.remove(i);
            }
            return answer;
        }
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(shared.basic.as_str()) {
            return Answer::error(401, "UNAUTHORIZED", "unauthorized");
        }
        // Harbor holds a request with a session cookie to its CSRF check
        if headers.contains_key("cookie") && !matches!(method, "GET" | "HEAD") {
            return Answer::error(403, "FORBIDDEN", "CSRF token invalid");
        }
        let Some(tail) = path.strip_prefix(API) else { return Answer::not_found("no such resource") };
        let segs: Vec<String> = tail.trim_start_matches('/').split('/').map(percent_decode).collect();
        let by_name = headers
            .get("x-is-resource-name")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        self.route(method, &segs, &parse_query(query), by_name, body)
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

/// A Harbor double on a free loopback port.
pub struct HarborDouble {
    /// `http://127.0.0.1:<port>`: the base URL for clients.
    pub url: String,
    pub username: String,
    pub password: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl HarborDouble {
    /// A double whose account is `nines`, with no projects.
    pub async fn start() -> HarborDouble {
        let username = "nines".to_string();
        let password = "harbor-Secret-1".to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            basic: format!("Basic {}", base64(format!("{username}:{password}").as_bytes())),
            state: Mutex::new(DoubleState {
                username: username.clone(),
                password: password.clone(),
                next_id: 0,
                projects: BTreeMap::new(),
                quotas: BTreeMap::new(),
                members: BTreeMap::new(),
                groups: BTreeMap::new(),
                hidden: BTreeSet::new(),
                default_storage_limit: -1,
                faults: VecDeque::new(),
                down: false,
                seen: vec![],
                violations: vec![],
                sessions: 0,
            }),
        });
        let running = serve(listener, shared.clone());
        HarborDouble {
            url: format!("http://{addr}"),
            username,
            password,
            addr,
            shared,
            running: Mutex::new(Some(running)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DoubleState> {
        self.shared.state.lock().unwrap()
    }

    /// A client with the double's credentials.
    pub fn client(&self) -> HarborClient {
        HarborClient::new(&self.url, &self.username, &self.password)
    }

    /// A project created outside nines (owned by Harbor's `admin`), with
    /// no storage limit: its id.
    pub fn seed_project(&self, name: &str, public: bool) -> i64 {
        self.state().create_project(name, public, 1, "admin", -1)
    }

    /// The storage limit a project created without one gets.
    pub fn set_default_storage_limit(&self, bytes: i64) {
        self.state().default_storage_limit = bytes;
    }

    /// Pushes a repository into project `name` (as `docker push` would).
    pub fn add_repository(&self, project: &str, repository: &str) {
        let mut st = self.state();
        let p = st.projects.values_mut().find(|p| p.name == project).expect("no such project in the double");
        p.repositories.insert(repository.to_string());
    }

    /// Deletes every repository of project `name`.
    pub fn clear_repositories(&self, project: &str) {
        if let Some(p) = self.state().projects.values_mut().find(|p| p.name == project) {
            p.repositories.clear();
        }
    }

    /// Makes the project `name` invisible to the account: Harbor's 403.
    pub fn hide_project(&self, name: &str) {
        self.state().hidden.insert(name.to_string());
    }

    pub fn project(&self, name: &str) -> Option<ProjectState> {
        self.state().projects.values().find(|p| p.name == name).cloned()
    }

    /// The storage limit of project `name`'s quota, in bytes.
    pub fn storage_quota(&self, name: &str) -> Option<i64> {
        let st = self.state();
        let pid = st.projects.values().find(|p| p.name == name)?.id;
        st.quotas.values().find(|q| q.project_id == pid).map(|q| q.storage_hard)
    }

    /// The members of project `name`.
    pub fn members(&self, name: &str) -> Vec<MemberState> {
        let st = self.state();
        let Some(pid) = st.projects.values().find(|p| p.name == name).map(|p| p.id) else { return vec![] };
        st.members.values().filter(|m| m.project_id == pid).cloned().collect()
    }

    /// Adds OIDC group `group` to project `name` with `role_id`, as
    /// someone else would: the member id.
    pub fn seed_member(&self, project: &str, group: &str, role_id: i64) -> i64 {
        let mut st = self.state();
        let pid = st.projects.values().find(|p| p.name == project).expect("no such project in the double").id;
        let group_id = match st.groups.get(group) {
            Some(id) => *id,
            None => {
                let id = st.id();
                st.groups.insert(group.to_string(), id);
                id
            }
        };
        let mid = st.id();
        st.members.insert(
            mid,
            MemberState { id: mid, project_id: pid, group_id, group_name: group.to_string(), group_type: 3, role_id },
        );
        mid
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

    /// Requests and answers outside Harbor's document.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// No request or answer so far was outside Harbor's document, and no
    /// request carried a cookie.
    pub fn assert_no_violations(&self) {
        let violations = self.violations();
        assert!(violations.is_empty(), "outside Harbor's API document:\n{}", violations.join("\n"));
        let with_cookie: Vec<String> =
            self.requests().iter().filter(|s| s.cookie).map(|s| format!("{} {}", s.method, s.path)).collect();
        assert!(with_cookie.is_empty(), "requests carrying a cookie: {with_cookie:?}");
    }
}

impl Drop for HarborDouble {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().unwrap().take() {
            r.task.abort();
        }
    }
}
