//! Argo CD through its REST API (`/api/v1`): the AppProject a tenant gets,
//! and the clusters K8sCluster resources register.
//!
//! nines authenticates with a bearer token (of a local account, typically
//! `nines`, given `projects` and `clusters` rights in `argocd-rbac-cm`).
//!
//! What this module keeps to, because Argo CD answers that way:
//!
//! - Argo CD checks RBAC before it looks: a project nines may not read is
//!   `403` whether it exists or not. So 403 is
//!   [`ErrorKind::Unauthorized`] (the account's policy needs `projects`
//!   rights), never "absent". Clusters are the other way round: Argo CD
//!   answers 403 for a cluster that does not exist, to hide which servers it
//!   knows, so a 403 on a cluster read means "not there" and a 403 on a
//!   delete is settled by listing the clusters nines can see.
//! - `POST /projects` with `upsert: false` answers 200 with the existing
//!   project when its spec is identical and 400 "existing project spec is
//!   different" otherwise (409 only in a race): both mean the name is taken,
//!   and the project is adopted.
//! - An update is read-modify-write of the whole AppProject: the PUT replaces
//!   it, so everything nines does not own (sync windows, resource lists,
//!   other roles, status) is sent back as read, and
//!   `metadata.resourceVersion` from the read makes a concurrent change a
//!   409 instead of a lost write. That 409 is [`ErrorKind::Transient`]: the
//!   next attempt reads again.
//! - `roles[].jwtTokens` (and `status.jwtTokensByRole`) list the tokens
//!   issued for a role; a token no longer listed is revoked. nines never
//!   changes them, not even in roles it owns.
//! - Argo CD rewrites each policy as `p, a, b, ...` (components after the
//!   first trimmed, joined with `", "`): nines compares policies in that form,
//!   or every pass would update.
//! - A project still used by applications is refused with 400 "project is
//!   referenced by N applications": that is [`ErrorKind::Blocked`].
//! - A cluster's credentials never come back in a read. nines stores a
//!   digest of what it sent in an annotation ([`CONFIG_DIGEST`]) and writes
//!   only when that changes: a change made to the credentials outside nines
//!   is not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keycloak::{CREATED_BY_NINES, encode_segment, error_kind, parse_retry_after};
use super::{CREATED_BY, ErrorKind, Outcome, ProvisionError, Result, System};

/// The annotation on a cluster holding the digest of the configuration nines
/// sent (see the module documentation).
pub const CONFIG_DIGEST: &str = "nines.dev/config-sha256";

/// gRPC status codes Argo CD puts in error bodies.
const GRPC_FAILED_PRECONDITION: i64 = 9;

/// An Argo CD AppProject as read: the fields nines owns are typed, the rest
/// is kept as read so that an update sends it back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppProject {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: AppProjectSpec,
    /// `status` (the issued tokens) and anything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<ProjectRole>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Where a project's applications may deploy: a cluster by `server` URL or
/// by `name`, and a namespace (`*` for any).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Destination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Destination {
    /// The cluster at `server` (`https://kubernetes.default.svc`).
    pub fn server(server: &str, namespace: &str) -> Destination {
        Destination { server: Some(server.to_string()), name: None, namespace: Some(namespace.to_string()) }
    }

    /// The cluster registered as `name`.
    pub fn named(name: &str, namespace: &str) -> Destination {
        Destination { server: None, name: Some(name.to_string()), namespace: Some(namespace.to_string()) }
    }

    /// Empty fields count as absent, as Argo CD reads them.
    fn normalized(&self) -> Destination {
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Destination { server: some(&self.server), name: some(&self.name), namespace: some(&self.namespace) }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectRole {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The tokens issued for this role: never changed by nines (dropping one
    /// revokes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_tokens: Option<Vec<Value>>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// The project nines wants: the fields it owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectSpecWanted {
    pub name: String,
    pub description: String,
    pub source_repos: Vec<String>,
    pub destinations: Vec<Destination>,
    pub roles: Vec<RoleWanted>,
    /// Groups nines bound to roles it no longer names (role → groups), to
    /// take back. Only those: a role's other groups, its policies and its
    /// tokens stay, and so does the role.
    pub revoke: BTreeMap<String, Vec<String>>,
}

/// A project role nines owns: its policies (see
/// `mapping::tenant::project_policy`) and the OIDC groups bound to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoleWanted {
    pub name: String,
    pub description: String,
    pub policies: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserInfo {
    #[serde(default)]
    logged_in: bool,
    #[serde(default)]
    username: Option<String>,
}

/// A policy as Argo CD keeps it: components after the first trimmed, joined
/// with `", "` (Argo CD's `normalizePolicy`).
pub fn normalize_policy(policy: &str) -> String {
    let mut parts = policy.split(',');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str(", ");
        out.push_str(part.trim());
    }
    out
}

fn set_of<'a, I: IntoIterator<Item = &'a String>>(items: I) -> BTreeSet<&'a str> {
    items.into_iter().map(String::as_str).collect()
}

fn policies_of(policies: &[String]) -> BTreeSet<String> {
    policies.iter().map(|p| normalize_policy(p)).collect()
}

/// Sets the fields nines owns in `project` to `wanted`, leaving everything
/// else (other roles, every role's tokens, status, resourceVersion) as it is.
/// True if anything changed. Lists compare as sets: their order means
/// nothing to Argo CD.
pub fn apply_wanted(project: &mut AppProject, wanted: &ProjectSpecWanted) -> bool {
    let spec = &mut project.spec;
    let mut changed = false;
    if spec.description.as_deref().unwrap_or_default() != wanted.description {
        spec.description = Some(wanted.description.clone()).filter(|d| !d.is_empty());
        changed = true;
    }
    if set_of(&spec.source_repos) != set_of(&wanted.source_repos) {
        spec.source_repos = wanted.source_repos.clone();
        changed = true;
    }
    let dest_set = |d: &[Destination]| d.iter().map(Destination::normalized).collect::<BTreeSet<_>>();
    if dest_set(&spec.destinations) != dest_set(&wanted.destinations) {
        spec.destinations = wanted.destinations.iter().map(Destination::normalized).collect();
        changed = true;
    }
    changed |= take_back(project, &wanted.revoke, &wanted.roles);
    let spec = &mut project.spec;
    for want in &wanted.roles {
        let policies: Vec<String> = want.policies.iter().map(|p| normalize_policy(p)).collect();
        match spec.roles.iter_mut().find(|r| r.name == want.name) {
            Some(role) => {
                if role.description.as_deref().unwrap_or_default() != want.description {
                    role.description = Some(want.description.clone()).filter(|d| !d.is_empty());
                    changed = true;
                }
                if policies_of(&role.policies) != policies_of(&policies) {
                    role.policies = policies;
                    changed = true;
                }
                if set_of(&role.groups) != set_of(&want.groups) {
                    role.groups = want.groups.clone();
                    changed = true;
                }
            }
            None => {
                spec.roles.push(ProjectRole {
                    name: want.name.clone(),
                    description: Some(want.description.clone()).filter(|d| !d.is_empty()),
                    policies,
                    groups: want.groups.clone(),
                    jwt_tokens: None,
                    rest: Map::new(),
                });
                changed = true;
            }
        }
    }
    changed
}

/// Takes the groups of `revoke` (role → groups) out of those roles, except
/// roles `named` (whose groups nines sets whole). Nothing else of a role
/// changes, its `jwtTokens` least of all. True if anything changed.
pub fn take_back(project: &mut AppProject, revoke: &BTreeMap<String, Vec<String>>, named: &[RoleWanted]) -> bool {
    let mut changed = false;
    for (name, groups) in revoke {
        if named.iter().any(|r| &r.name == name) {
            continue;
        }
        if let Some(role) = project.spec.roles.iter_mut().find(|r| &r.name == name) {
            let before = role.groups.len();
            role.groups.retain(|g| !groups.contains(g));
            changed |= role.groups.len() != before;
        }
    }
    changed
}

/// The role bindings (role, group) of `project`.
pub fn bindings_of(project: &AppProject) -> BTreeSet<(String, String)> {
    project.spec.roles.iter().flat_map(|r| r.groups.iter().map(|g| (r.name.clone(), g.clone()))).collect()
}

/// The AppProject nines creates for `wanted`, marked as its own.
pub fn new_project(wanted: &ProjectSpecWanted) -> AppProject {
    let mut project = AppProject {
        metadata: ObjectMeta {
            name: wanted.name.clone(),
            resource_version: None,
            labels: [(CREATED_BY.to_string(), CREATED_BY_NINES.to_string())].into(),
            rest: Map::new(),
        },
        spec: AppProjectSpec::default(),
        rest: Map::new(),
    };
    apply_wanted(&mut project, wanted);
    project
}

/// `caData` for Argo CD: base64 of the PEM. `ca` may be the PEM itself or,
/// as in a kubeconfig's `certificate-authority-data`, base64 of it.
pub fn ca_data_base64(ca: &str) -> std::result::Result<String, String> {
    let ca = ca.trim();
    if ca.starts_with("-----BEGIN") {
        let mut pem = ca.to_string();
        pem.push('\n');
        return Ok(base64(pem.as_bytes()));
    }
    // k8s-openapi's ByteString is base64 in JSON: its decoder checks the text
    let decoded: std::result::Result<k8s_openapi::ByteString, _> =
        serde_json::from_value(Value::String(ca.split_whitespace().collect()));
    match decoded {
        Ok(bytes) if String::from_utf8_lossy(&bytes.0).trim_start().starts_with("-----BEGIN") => {
            Ok(ca.split_whitespace().collect())
        }
        _ => Err("the CA certificate is neither PEM nor base64 of PEM".to_string()),
    }
}

fn base64(bytes: &[u8]) -> String {
    match serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())) {
        Ok(Value::String(s)) => s,
        _ => unreachable!("a ByteString serializes as a base64 string"),
    }
}

/// The digest of a cluster's configuration, as [`CONFIG_DIGEST`] keeps it.
pub fn config_digest(name: &str, server: &str, bearer_token: &str, ca_data: Option<&str>) -> String {
    let mut h = Sha256::new();
    for part in [name, server, bearer_token, ca_data.unwrap_or_default()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Argo CD's words from an error body (`{"error","code","message"}`), or
/// the text itself.
fn error_detail(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(m) = text("message").or_else(|| text("error")) {
            return Some(m.to_string());
        }
    }
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push('…');
    }
    Some(s)
}

/// The gRPC code of an error body, if it has one.
fn grpc_code(body: &str) -> Option<i64> {
    serde_json::from_str::<Value>(body).ok()?.get("code")?.as_i64()
}

/// The error for a failed answer: `{what}: 400 Bad Request (detail)`. A
/// `Retry-After` is kept only where retrying is the answer.
pub fn answer_error(what: &str, status: StatusCode, body: &str, retry_after: Option<Duration>) -> ProvisionError {
    let mut message = format!("{what}: {status}");
    if let Some(d) = error_detail(body) {
        message.push_str(&format!(" ({d})"));
    }
    let kind = error_kind(status.as_u16());
    ProvisionError {
        system: System::ArgoCd,
        kind,
        message,
        retry_after: if kind == ErrorKind::Transient { retry_after } else { None },
    }
}

/// Whether a refused delete says applications still use the project.
pub fn is_in_use(status: StatusCode, body: &str) -> bool {
    matches!(status.as_u16(), 400 | 409 | 412)
        && (body.contains("is referenced by") || grpc_code(body) == Some(GRPC_FAILED_PRECONDITION))
}

/// Whether a refused create says the project exists already.
fn is_existing(status: StatusCode, body: &str) -> bool {
    status == StatusCode::CONFLICT || (status == StatusCode::BAD_REQUEST && body.contains("existing project spec"))
}

fn transport_error(what: &str, e: &reqwest::Error) -> ProvisionError {
    super::transport_error(System::ArgoCd, what, e)
}

fn unexpected(what: &str, detail: impl fmt::Display) -> ProvisionError {
    super::unexpected(System::ArgoCd, what, detail)
}

/// A failed answer: its status, `Retry-After` and body text.
struct Failed {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

impl Failed {
    async fn read(resp: Response) -> Failed {
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        Failed { status, retry_after, body: resp.text().await.unwrap_or_default() }
    }

    fn error(&self, what: &str) -> ProvisionError {
        answer_error(what, self.status, &self.body, self.retry_after)
    }

    fn error_with(&self, what: &str, kind: ErrorKind, hint: &str) -> ProvisionError {
        let mut err = self.error(what);
        err.kind = kind;
        if !hint.is_empty() {
            err.message.push_str("; ");
            err.message.push_str(hint);
        }
        err
    }
}

async fn fail(what: &str, resp: Response) -> ProvisionError {
    Failed::read(resp).await.error(what)
}

async fn json_body<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| transport_error(what, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| unexpected(what, e))
}

const RBAC_HINT: &str = "Argo CD checks RBAC before it looks, so this says nothing of the project: \
                         nines' account needs `projects` rights in argocd-rbac-cm";

/// The Argo CD API of one Argo CD.
pub struct ArgoCdClient {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: String,
    token: String,
}

impl fmt::Debug for ArgoCdClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgoCdClient").field("base", &self.base).field("token", &"<redacted>").finish_non_exhaustive()
    }
}

impl ArgoCdClient {
    /// A client of the Argo CD at `base_url` (`https://argocd.example.com`)
    /// with an API token. A base URL that is no http(s) URL fails every call
    /// as `Refused`.
    pub fn new(base_url: &str, token: &str) -> ArgoCdClient {
        let http = super::http_client();
        ArgoCdClient { http, base: base_url.trim_end_matches('/').to_string(), token: token.to_string() }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether nines created `project`: it carries the [`CREATED_BY`] label.
    pub fn created_by_nines(project: &AppProject) -> bool {
        project.metadata.labels.get(CREATED_BY).is_some_and(|v| v == CREATED_BY_NINES)
    }

    fn checked_base(&self) -> Result<&str> {
        match reqwest::Url::parse(&self.base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Ok(&self.base),
            _ => Err(ProvisionError::new(
                System::ArgoCd,
                ErrorKind::Refused,
                format!("invalid base URL {:?}: not an http(s) URL without a query", self.base),
            )),
        }
    }

    /// Sends one API request (`path` after `/api/v1`, already encoded).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response> {
        let url = format!("{}/api/v1{path}", self.checked_base()?);
        let mut req = self.http.request(method.clone(), &url).bearer_auth(&self.token);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, &e))?;
        tracing::debug!(%method, path, status = resp.status().as_u16(), "argocd call");
        Ok(resp)
    }

    fn project_path(name: &str) -> String {
        format!("/projects/{}", encode_segment(name))
    }

    /// Checks that the token is accepted: the account's username. Argo CD
    /// answers this call even without a valid token, with `loggedIn: false`.
    pub async fn check(&self) -> Result<String> {
        let what = "reading the session's user".to_string();
        let resp = self.send(Method::GET, "/session/userinfo", &[], None, &what).await?;
        if resp.status() != StatusCode::OK {
            return Err(fail(&what, resp).await);
        }
        let info: UserInfo = json_body(&what, resp).await?;
        match info.username.filter(|_| info.logged_in) {
            Some(username) => Ok(username),
            None => Err(ProvisionError::new(
                System::ArgoCd,
                ErrorKind::Unauthorized,
                format!("{what}: not logged in (the token was not accepted: expired, revoked or of another Argo CD)"),
            )),
        }
    }

    /// The project `name`, or None when there is none.
    pub async fn project(&self, name: &str) -> Result<Option<AppProject>> {
        let what = format!("reading project {name:?}");
        let resp = self.send(Method::GET, &Self::project_path(name), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body(&what, resp).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::FORBIDDEN => {
                Err(Failed::read(resp).await.error_with(&what, ErrorKind::Unauthorized, RBAC_HINT))
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The project `wanted.name` with the fields nines owns as wanted. A new
    /// project is [`Outcome::Created`] with nines' label; an existing one is
    /// changed where it differs and is [`Outcome::Adopted`] when it lacks the
    /// label, else `Updated` or `Unchanged`. An existing project that
    /// matches costs one read.
    pub async fn ensure_project(&self, wanted: &ProjectSpecWanted) -> Result<Outcome> {
        self.ensure_project_bindings(wanted).await.map(|(o, _)| o)
    }

    /// [`Self::ensure_project`], also answering which role bindings (role,
    /// group) the project had as nines found it: of the bindings it wants,
    /// nines granted the others (so it may take them back one day).
    pub async fn ensure_project_bindings(
        &self,
        wanted: &ProjectSpecWanted,
    ) -> Result<(Outcome, BTreeSet<(String, String)>)> {
        if let Some(existing) = self.project(&wanted.name).await? {
            let found = bindings_of(&existing);
            return Ok((self.converge(existing, wanted, false).await?, found));
        }
        let what = format!("creating project {:?}", wanted.name);
        let project = serde_json::to_value(new_project(wanted)).map_err(|e| unexpected(&what, e))?;
        let body = json!({"project": project, "upsert": false});
        let resp = self.send(Method::POST, "/projects", &[], Some(&body), &what).await?;
        // 200 is also Argo CD's answer when an identical project appeared
        // since the read above: identical, it is as good as created
        if resp.status() == StatusCode::OK {
            return Ok((Outcome::Created, BTreeSet::new()));
        }
        let failed = Failed::read(resp).await;
        if !is_existing(failed.status, &failed.body) {
            return Err(match failed.status {
                StatusCode::FORBIDDEN => failed.error_with(&what, ErrorKind::Unauthorized, RBAC_HINT),
                _ => failed.error(&what),
            });
        }
        // created by someone else since the read above
        match self.project(&wanted.name).await? {
            Some(existing) => {
                let found = bindings_of(&existing);
                Ok((self.converge(existing, wanted, true).await?, found))
            }
            None => Err(failed.error_with(&what, ErrorKind::Transient, "yet no project of that name")),
        }
    }

    /// Takes the groups of `revoke` (role → groups) out of those roles of
    /// the project `name`, read-modify-write, leaving everything else (the
    /// roles themselves, their policies and tokens). True if it wrote;
    /// false when there was nothing to take back or no project.
    pub async fn revoke_bindings(&self, name: &str, revoke: &BTreeMap<String, Vec<String>>) -> Result<bool> {
        let Some(mut project) = self.project(name).await? else { return Ok(false) };
        if !take_back(&mut project, revoke, &[]) {
            return Ok(false);
        }
        self.put_project(name, &project).await?;
        Ok(true)
    }

    async fn converge(
        &self,
        existing: AppProject,
        wanted: &ProjectSpecWanted,
        met_by_conflict: bool,
    ) -> Result<Outcome> {
        let adopted = met_by_conflict || !Self::created_by_nines(&existing);
        let mut next = existing;
        if !apply_wanted(&mut next, wanted) {
            return Ok(if adopted { Outcome::Adopted } else { Outcome::Unchanged });
        }
        self.put_project(&wanted.name, &next).await?;
        Ok(if adopted { Outcome::Adopted } else { Outcome::Updated })
    }

    /// Writes back a project as read and changed: the whole AppProject, with
    /// the `resourceVersion` of the read (a concurrent change is a 409).
    async fn put_project(&self, name: &str, next: &AppProject) -> Result<()> {
        let what = format!(
            "updating project {name:?} (resourceVersion {})",
            next.metadata.resource_version.as_deref().unwrap_or("none")
        );
        let project = serde_json::to_value(next).map_err(|e| unexpected(&what, e))?;
        let resp =
            self.send(Method::PUT, &Self::project_path(name), &[], Some(&json!({"project": project})), &what).await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::CONFLICT => Err(Failed::read(resp).await.error_with(
                &what,
                ErrorKind::Transient,
                "changed by someone else since nines read it: read again on the next attempt",
            )),
            StatusCode::FORBIDDEN => {
                Err(Failed::read(resp).await.error_with(&what, ErrorKind::Unauthorized, RBAC_HINT))
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Deletes the project `name`: true if it was there. A project still
    /// used by applications is [`ErrorKind::Blocked`].
    pub async fn delete_project(&self, name: &str) -> Result<bool> {
        let what = format!("deleting project {name:?}");
        let resp = self.send(Method::DELETE, &Self::project_path(name), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::FORBIDDEN => {
                Err(Failed::read(resp).await.error_with(&what, ErrorKind::Unauthorized, RBAC_HINT))
            }
            _ => {
                let failed = Failed::read(resp).await;
                if is_in_use(failed.status, &failed.body) {
                    Err(failed.error_with(
                        &what,
                        ErrorKind::Blocked,
                        "applications still use the project: retry after they are deleted or moved, never forced",
                    ))
                } else {
                    Err(failed.error(&what))
                }
            }
        }
    }

    fn cluster_path(server: &str) -> String {
        format!("/clusters/{}", encode_segment(server))
    }

    /// The cluster at `server` as Argo CD shows it (credentials left out),
    /// or None. Argo CD answers 403 for a cluster it does not know.
    async fn cluster(&self, server: &str, what: &str) -> Result<Option<Map<String, Value>>> {
        let resp = self.send(Method::GET, &Self::cluster_path(server), &[], None, what).await?;
        match resp.status() {
            StatusCode::OK => json_body(what, resp).await.map(Some),
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
            _ => Err(fail(what, resp).await),
        }
    }

    /// The cluster `name` at `server`, reached with `bearer_token` and
    /// trusting `ca_data` (PEM, or base64 of PEM; None for the system's
    /// roots). Written only when what nines sends changed since it last
    /// wrote it; labels, annotations and settings made outside nines are
    /// kept.
    pub async fn ensure_cluster(
        &self,
        name: &str,
        server: &str,
        bearer_token: &str,
        ca_data: Option<&str>,
    ) -> Result<Outcome> {
        let what = format!("registering cluster {name:?} at {server}");
        let ca = ca_data
            .map(ca_data_base64)
            .transpose()
            .map_err(|e| ProvisionError::new(System::ArgoCd, ErrorKind::Refused, format!("{what}: {e}")))?;
        let digest = config_digest(name, server, bearer_token, ca.as_deref());
        let existing = self.cluster(server, &what).await?;
        let label = |c: &Map<String, Value>, key: &str, field: &str| {
            c.get(field).and_then(|l| l.get(key)).and_then(Value::as_str).map(str::to_string)
        };
        let outcome = match &existing {
            None => Outcome::Created,
            Some(c) => {
                let ours = label(c, CREATED_BY, "labels").as_deref() == Some(CREATED_BY_NINES);
                let same = label(c, CONFIG_DIGEST, "annotations").as_deref() == Some(digest.as_str())
                    && c.get("name").and_then(Value::as_str) == Some(name);
                // only nines writes the digest: the same one means nines
                // wrote this configuration, to its own cluster or to one it
                // adopted
                match (ours, same) {
                    (true, true) => return Ok(Outcome::Unchanged),
                    (false, true) => return Ok(Outcome::Adopted),
                    (true, false) => Outcome::Updated,
                    (false, false) => Outcome::Adopted,
                }
            }
        };
        // an upsert replaces the cluster whole: start from what Argo CD
        // shows, less what it computes
        let mut body = existing.unwrap_or_default();
        for computed in ["connectionState", "info", "serverVersion", "refreshRequestedAt"] {
            body.remove(computed);
        }
        body.insert("name".into(), json!(name));
        body.insert("server".into(), json!(server));
        let mut tls = json!({"insecure": false});
        if let Some(ca) = &ca {
            tls["caData"] = json!(ca);
        }
        body.insert("config".into(), json!({"bearerToken": bearer_token, "tlsClientConfig": tls}));
        if outcome == Outcome::Created {
            let labels = body.entry("labels").or_insert_with(|| json!({}));
            labels[CREATED_BY] = json!(CREATED_BY_NINES);
        }
        let annotations = body.entry("annotations").or_insert_with(|| json!({}));
        annotations[CONFIG_DIGEST] = json!(digest);
        let resp = self
            .send(Method::POST, "/clusters", &[("upsert", "true".to_string())], Some(&Value::Object(body)), &what)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(outcome),
            StatusCode::FORBIDDEN => Err(Failed::read(resp).await.error_with(
                &what,
                ErrorKind::Unauthorized,
                "nines' account needs `clusters` create and update rights in argocd-rbac-cm",
            )),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Removes the cluster at `server` from Argo CD: true if it was there.
    pub async fn delete_cluster(&self, server: &str) -> Result<bool> {
        let what = format!("removing cluster {server}");
        let resp = self.send(Method::DELETE, &Self::cluster_path(server), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::FORBIDDEN => {
                let failed = Failed::read(resp).await;
                // Argo CD says 403 for an unknown cluster too: a cluster
                // nines cannot see in the list is gone (or hidden from it,
                // which nines' rights do not allow for)
                let list: Value = json_body(
                    &what,
                    self.send(Method::GET, "/clusters", &[("server", server.to_string())], None, &what).await?,
                )
                .await?;
                let listed = list["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|c| c["server"].as_str() == Some(server)));
                if listed {
                    Err(failed.error_with(
                        &what,
                        ErrorKind::Unauthorized,
                        "nines' account needs `clusters` delete rights in argocd-rbac-cm",
                    ))
                } else {
                    Ok(false)
                }
            }
            _ => Err(fail(&what, resp).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    fn wanted() -> ProjectSpecWanted {
        ProjectSpecWanted {
            name: "acme".into(),
            description: "Acme Corp".into(),
            source_repos: vec!["https://git.example.com/acme/*".into()],
            destinations: vec![Destination::server("https://kubernetes.default.svc", "acme-*")],
            roles: vec![RoleWanted {
                name: "developers".into(),
                description: "Acme developers".into(),
                policies: vec!["p,proj:acme:developers,applications,sync,acme/*,allow".into()],
                groups: vec!["acme-developers".into()],
            }],
            revoke: BTreeMap::new(),
        }
    }

    #[test]
    fn answers_map_to_kinds_with_argos_words() {
        let what = r#"deleting project "acme""#;
        let table = [
            (
                401,
                r#"{"error":"invalid session: token signature is invalid","code":16,"message":"invalid session: token signature is invalid"}"#,
                None,
                ErrorKind::Unauthorized,
                r#"ArgoCD: deleting project "acme": 401 Unauthorized (invalid session: token signature is invalid)"#,
                None,
            ),
            (
                403,
                r#"{"error":"permission denied","code":7}"#,
                None,
                ErrorKind::Unauthorized,
                r#"ArgoCD: deleting project "acme": 403 Forbidden (permission denied)"#,
                None,
            ),
            (
                400,
                r#"{"code":3,"message":"name 'default' is reserved and cannot be deleted"}"#,
                Some(5),
                ErrorKind::Refused,
                r#"ArgoCD: deleting project "acme": 400 Bad Request (name 'default' is reserved and cannot be deleted)"#,
                None,
            ),
            (
                503,
                "upstream connect error",
                Some(9),
                ErrorKind::Transient,
                r#"ArgoCD: deleting project "acme": 503 Service Unavailable (upstream connect error)"#,
                Some(9),
            ),
            (
                429,
                "",
                Some(1),
                ErrorKind::Transient,
                r#"ArgoCD: deleting project "acme": 429 Too Many Requests"#,
                Some(1),
            ),
        ];
        for (status, body, retry, kind, message, kept) in table {
            let e = answer_error(what, s(status), body, retry.map(Duration::from_secs));
            assert_eq!(e.kind, kind, "{status}");
            assert_eq!(e.to_string(), message);
            assert_eq!(e.retry_after, kept.map(Duration::from_secs), "{status}");
        }
    }

    #[test]
    fn in_use_and_existing_answers_are_recognized() {
        let in_use = r#"{"error":"project is referenced by 2 applications","code":3,"message":"project is referenced by 2 applications"}"#;
        assert!(is_in_use(s(400), in_use));
        assert!(is_in_use(s(400), r#"{"code":9,"message":"applications exist"}"#));
        assert!(!is_in_use(s(400), r#"{"code":3,"message":"name 'default' is reserved"}"#));
        assert!(!is_in_use(s(500), in_use));
        assert!(is_existing(s(409), ""));
        assert!(is_existing(
            s(400),
            r#"{"message":"existing project spec is different; use upsert flag to force update"}"#
        ));
        assert!(!is_existing(s(400), r#"{"message":"invalid policy"}"#));
    }

    #[test]
    fn policies_are_compared_as_argo_keeps_them() {
        let table = [
            ("p,proj:a:r,applications,get,a/*,allow", "p, proj:a:r, applications, get, a/*, allow"),
            ("p, proj:a:r,  applications ,get,a/*,allow", "p, proj:a:r, applications, get, a/*, allow"),
            ("g, x", "g, x"),
            ("", ""),
        ];
        for (raw, kept) in table {
            assert_eq!(normalize_policy(raw), kept, "{raw}");
            assert_eq!(normalize_policy(kept), kept, "normalizing is idempotent");
        }
    }

    #[test]
    fn a_new_project_is_labelled_and_normalized() {
        let v = serde_json::to_value(new_project(&wanted())).unwrap();
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "acme", "labels": {CREATED_BY: "nines"}},
                "spec": {
                    "description": "Acme Corp",
                    "sourceRepos": ["https://git.example.com/acme/*"],
                    "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "acme-*"}],
                    "roles": [{
                        "name": "developers",
                        "description": "Acme developers",
                        "policies": ["p, proj:acme:developers, applications, sync, acme/*, allow"],
                        "groups": ["acme-developers"],
                    }],
                },
            })
        );
    }

    #[test]
    fn updates_touch_only_what_nines_owns() {
        let read = json!({
            "metadata": {"name": "acme", "resourceVersion": "41", "uid": "u-1", "labels": {"team": "x"}},
            "spec": {
                "description": "old",
                "sourceRepos": ["https://git.example.com/acme/*"],
                "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "acme-*"}],
                "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h"}],
                "roles": [
                    {"name": "developers", "policies": ["p, proj:acme:developers, applications, get, acme/*, allow"],
                     "groups": ["old-group"], "jwtTokens": [{"iat": 1700000000, "id": "t-1"}]},
                    {"name": "ci", "policies": ["p, proj:acme:ci, applications, sync, acme/*, allow"],
                     "jwtTokens": [{"iat": 1700000001, "id": "t-2", "exp": 1800000000}]},
                ],
            },
            "status": {"jwtTokensByRole": {"developers": {"items": [{"iat": 1700000000, "id": "t-1"}]}}},
        });
        let mut project: AppProject = serde_json::from_value(read.clone()).unwrap();
        assert!(apply_wanted(&mut project, &wanted()));
        let after = serde_json::to_value(&project).unwrap();
        let mut expected = read.clone();
        expected["spec"]["description"] = json!("Acme Corp");
        expected["spec"]["roles"][0]["description"] = json!("Acme developers");
        expected["spec"]["roles"][0]["policies"] =
            json!(["p, proj:acme:developers, applications, sync, acme/*, allow"]);
        expected["spec"]["roles"][0]["groups"] = json!(["acme-developers"]);
        assert_eq!(after, expected);

        // applying again changes nothing; nor does another order
        assert!(!apply_wanted(&mut project, &wanted()));
        let mut reordered = wanted();
        reordered.source_repos.reverse();
        reordered.roles[0].policies = vec!["p, proj:acme:developers,applications, sync, acme/*, allow".into()];
        assert!(!apply_wanted(&mut project, &reordered));
        assert!(!ArgoCdClient::created_by_nines(&project));
    }

    #[test]
    fn bindings_are_taken_back_only_from_roles_no_longer_named() {
        let read = json!({
            "metadata": {"name": "acme", "resourceVersion": "7"},
            "spec": {"roles": [
                {"name": "developers", "groups": ["acme-developers"]},
                {"name": "viewers", "policies": ["p, proj:acme:viewers, applications, get, acme/*, allow"],
                 "groups": ["acme-viewers", "by-hand"], "jwtTokens": [{"iat": 1700000000, "id": "t-1"}]},
            ]},
        });
        let mut project: AppProject = serde_json::from_value(read.clone()).unwrap();
        assert_eq!(bindings_of(&project).len(), 3);
        let mut w = wanted();
        // developers is still named: its groups are set whole, not revoked
        w.revoke = [
            ("viewers".to_string(), vec!["acme-viewers".to_string()]),
            ("developers".to_string(), vec!["acme-developers".to_string()]),
            ("gone".to_string(), vec!["x".to_string()]),
        ]
        .into();
        assert!(apply_wanted(&mut project, &w));
        let after = serde_json::to_value(&project).unwrap();
        assert_eq!(after["spec"]["roles"][0]["groups"], json!(["acme-developers"]));
        let mut viewers = read["spec"]["roles"][1].clone();
        viewers["groups"] = json!(["by-hand"]);
        assert_eq!(after["spec"]["roles"][1], viewers, "policies and tokens as they were");
        assert!(!apply_wanted(&mut project, &w), "taken back once");
    }

    #[test]
    fn ca_data_is_base64_of_pem() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        let encoded = ca_data_base64(pem).unwrap();
        assert_eq!(encoded, base64(format!("{pem}\n").as_bytes()));
        assert_eq!(ca_data_base64(&encoded).unwrap(), encoded, "already base64: kept");
        assert!(ca_data_base64("not a certificate").is_err());
        assert!(ca_data_base64(&base64(b"plain text")).is_err());
        assert_eq!(base64(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn config_digests_change_with_any_part() {
        let d = config_digest("c", "https://k", "t", None);
        assert_eq!(d.len(), 64);
        assert_eq!(d, config_digest("c", "https://k", "t", None));
        assert_ne!(d, config_digest("c", "https://k", "t2", None));
        assert_ne!(d, config_digest("c", "https://k", "t", Some("x")));
        assert_ne!(config_digest("ab", "c", "", None), config_digest("a", "bc", "", None));
    }

    #[test]
    fn debug_redacts_the_token() {
        let shown = format!("{:?}", ArgoCdClient::new("http://127.0.0.1:1/", "tok3n"));
        assert!(!shown.contains("tok3n"), "{shown}");
    }

    #[tokio::test]
    async fn a_bad_base_url_is_refused_without_a_call() {
        for base in ["ftp://argo", "not a url", "https://argo/?x=1"] {
            let err = ArgoCdClient::new(base, "t").check().await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Refused, "{base}");
        }
    }
}
