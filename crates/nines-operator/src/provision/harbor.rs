//! Harbor through its API v2.0: the project a tenant gets, the project's
//! storage quota, and the OIDC groups that are its members.
//!
//! nines authenticates with HTTP basic auth as a Harbor user with the system
//! administrator role: creating projects may be restricted to
//! administrators, and only they may change quotas.
//!
//! What this module keeps to, because Harbor answers that way:
//!
//! - No cookies. Harbor answers every call with a session cookie, and a
//!   request that carries one is held to its CSRF check, which refuses any
//!   write without the token only a browser session has. This client keeps
//!   no cookie store (reqwest keeps none unless built with
//!   `cookie_store(true)`, and nines never does), so every call stands on
//!   basic auth alone.
//! - A project is addressed by name with `X-Is-Resource-Name: true`: without
//!   it, a name made of digits would be read as a project id.
//! - `GET /projects/{name}` answers 404 only for a project that does not
//!   exist. 403 means it exists and nines' account may not see it: that is
//!   [`ErrorKind::Unauthorized`], never "absent" (creating it would only
//!   meet a 409).
//! - A created project's id is in the `Location` header of the `201`; the
//!   project is read back by that id.
//! - A project's metadata takes a fixed set of keys, so nines cannot mark
//!   what it creates. Its owner (the account that created it) is the mark:
//!   a project owned by nines' account is nines' own, anything else was
//!   adopted. A project created through a robot account is owned by
//!   Harbor's admin, so with robot credentials every project reads as
//!   adopted.
//! - `DELETE /projects/{name}` answers 412 while the project holds
//!   repositories. nines never deletes repositories (they are the tenant's
//!   images): the deletion is [`ErrorKind::Blocked`] until someone empties
//!   the project.
//! - 403 on a write is [`ErrorKind::Unauthorized`] too: Harbor says 403 when
//!   the account lacks a permission (not an administrator), and the fix is
//!   the account's role, not the custom resource.
//!
//! The client decides nothing about tenants: the controller asks, this module
//! answers with [`Outcome`]s and [`ProvisionError`]s. It never logs the
//! password.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::keycloak::{encode_segment, error_kind, id_from_location, parse_retry_after};
use super::{ErrorKind, Outcome, ProvisionError, Result, System};

/// Harbor's `group_type` of an OIDC group (1 is LDAP, 2 HTTP).
pub const OIDC_GROUP_TYPE: i64 = 3;

/// Items asked for per page when reading a list: Harbor's maximum.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Harbor's value for "no limit" in a quota.
pub const UNLIMITED: i64 = -1;

/// The header that makes `{project_name_or_id}` a name.
const IS_RESOURCE_NAME: &str = "X-Is-Resource-Name";

/// A Harbor project, with the fields nines reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub project_id: i64,
    pub name: String,
    /// `metadata.public`: anyone may pull.
    pub public: bool,
    /// The account that created it.
    pub owner_name: Option<String>,
    pub repo_count: u64,
}

/// An OIDC group that is a member of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id (not the group's).
    pub id: i64,
    pub group_name: String,
    pub role_id: u32,
}

#[derive(Deserialize)]
struct ProjectAnswer {
    project_id: i64,
    name: String,
    #[serde(default)]
    owner_name: Option<String>,
    #[serde(default)]
    repo_count: Option<i64>,
    #[serde(default)]
    metadata: Option<MetadataAnswer>,
}

#[derive(Deserialize)]
struct MetadataAnswer {
    #[serde(default)]
    public: Option<String>,
}

impl From<ProjectAnswer> for Project {
    fn from(a: ProjectAnswer) -> Project {
        Project {
            project_id: a.project_id,
            name: a.name,
            // Harbor keeps booleans of the metadata as the strings "true"
            // and "false"
            public: a.metadata.and_then(|m| m.public).is_some_and(|p| p.eq_ignore_ascii_case("true")),
            owner_name: a.owner_name,
            repo_count: a.repo_count.unwrap_or(0).max(0) as u64,
        }
    }
}

#[derive(Deserialize)]
struct MemberAnswer {
    id: i64,
    #[serde(default)]
    entity_name: String,
    /// `u` for a user, `g` for a group.
    #[serde(default)]
    entity_type: String,
    #[serde(default)]
    role_id: i64,
}

#[derive(Deserialize)]
struct QuotaAnswer {
    id: i64,
    #[serde(default, rename = "ref")]
    reference: Option<Value>,
    #[serde(default)]
    hard: Option<BTreeMap<String, i64>>,
}

#[derive(Deserialize)]
struct UserAnswer {
    username: String,
}

/// Harbor's own words from an error body (`{"errors":[{"code","message"}]}`),
/// or the text itself.
fn error_detail(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body)
        && let Some(errors) = v.get("errors").and_then(Value::as_array)
    {
        let messages: Vec<&str> =
            errors.iter().filter_map(|e| e.get("message").and_then(Value::as_str)).filter(|m| !m.is_empty()).collect();
        if !messages.is_empty() {
            return Some(messages.join("; "));
        }
    }
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push('…');
    }
    Some(s)
}

/// The error for a failed answer: `{what}: 412 Precondition Failed (detail)`.
/// A `Retry-After` is kept only where retrying is the answer.
pub fn answer_error(what: &str, status: StatusCode, body: &str, retry_after: Option<Duration>) -> ProvisionError {
    let mut message = format!("{what}: {status}");
    if let Some(d) = error_detail(body) {
        message.push_str(&format!(" ({d})"));
    }
    let kind = error_kind(status.as_u16());
    ProvisionError {
        system: System::Harbor,
        kind,
        message,
        retry_after: if kind == ErrorKind::Transient { retry_after } else { None },
    }
}

fn transport_error(what: &str, e: &reqwest::Error) -> ProvisionError {
    super::transport_error(System::Harbor, what, e)
}

fn unexpected(what: &str, detail: impl fmt::Display) -> ProvisionError {
    super::unexpected(System::Harbor, what, detail)
}

/// The error for a non-success answer, reading its body.
async fn fail(what: &str, resp: Response) -> ProvisionError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
    let body = resp.text().await.unwrap_or_default();
    answer_error(what, status, &body, retry_after)
}

/// [`fail`] with a hint appended to the message.
async fn fail_with(what: &str, resp: Response, hint: &str) -> ProvisionError {
    let mut err = fail(what, resp).await;
    err.message.push_str("; ");
    err.message.push_str(hint);
    err
}

async fn json_body<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| transport_error(what, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| unexpected(what, e))
}

/// The body of a create or update: `metadata.public` as Harbor keeps it (the
/// top-level `public` is deprecated), and the storage limit on creation.
pub fn project_request(name: Option<&str>, public: bool, storage_bytes: Option<i64>) -> Value {
    let mut body = json!({"metadata": {"public": public.to_string()}});
    if let Some(name) = name {
        body["project_name"] = json!(name);
    }
    if let Some(bytes) = storage_bytes {
        body["storage_limit"] = json!(bytes);
    }
    body
}

/// The Harbor API v2.0 of one Harbor.
pub struct HarborClient {
    http: reqwest::Client,
    /// Without a trailing slash nor the `/api/v2.0` prefix.
    base: String,
    username: String,
    password: String,
    page_size: u32,
}

impl fmt::Debug for HarborClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarborClient")
            .field("base", &self.base)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl HarborClient {
    /// A client of the Harbor at `base_url` (`https://harbor.example.com`),
    /// as `username`. A base URL that is no http(s) URL fails every call as
    /// `Refused`.
    pub fn new(base_url: &str, username: &str, password: &str) -> HarborClient {
        // no cookie store: see the module documentation
        let http = super::http_client();
        let base = base_url.trim_end_matches('/');
        // a base given with the API prefix means the same Harbor
        let base = base.strip_suffix("/api/v2.0").unwrap_or(base);
        HarborClient {
            http,
            base: base.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Items per page when reading lists (1 to Harbor's maximum of 100).
    pub fn with_page_size(mut self, size: u32) -> HarborClient {
        self.page_size = size.clamp(1, DEFAULT_PAGE_SIZE);
        self
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether nines created `project`: its owner is nines' account.
    pub fn created_by_nines(&self, project: &Project) -> bool {
        project.owner_name.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(&self.username))
    }

    fn checked_base(&self) -> Result<&str> {
        match reqwest::Url::parse(&self.base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Ok(&self.base),
            _ => Err(ProvisionError::new(
                System::Harbor,
                ErrorKind::Refused,
                format!("invalid base URL {:?}: not an http(s) URL without a query", self.base),
            )),
        }
    }

    /// Sends one API request; `by_name` says the path's project is a name.
    /// Every answer is the caller's to read.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        by_name: bool,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response> {
        let url = format!("{}/api/v2.0{path}", self.checked_base()?);
        let mut req = self.http.request(method.clone(), &url).basic_auth(&self.username, Some(&self.password));
        if by_name {
            req = req.header(IS_RESOURCE_NAME, "true");
        }
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, &e))?;
        tracing::debug!(%method, path, status = resp.status().as_u16(), "harbor call");
        Ok(resp)
    }

    fn project_path(name: &str) -> String {
        format!("/projects/{}", encode_segment(name))
    }

    /// Checks that the credentials work: the account's username.
    pub async fn check(&self) -> Result<String> {
        let what = format!("reading the current user as {:?}", self.username);
        let resp = self.send(Method::GET, "/users/current", &[], false, None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body::<UserAnswer>(&what, resp).await.map(|u| u.username),
            // a robot account: authenticated, but Harbor keeps no profile
            // for it
            StatusCode::PRECONDITION_FAILED => Ok(self.username.clone()),
            StatusCode::UNAUTHORIZED => Err(fail_with(&what, resp, "the username or password is wrong").await),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The project `name`, or None when there is none.
    pub async fn project(&self, name: &str) -> Result<Option<Project>> {
        let what = format!("reading project {name:?}");
        let resp = self.send(Method::GET, &Self::project_path(name), &[], true, None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body::<ProjectAnswer>(&what, resp).await.map(|p| Some(p.into())),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::FORBIDDEN => Err(fail_with(
                &what,
                resp,
                "the project exists but nines' account may not see it (it needs Harbor's system administrator role)",
            )
            .await),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The project with `id`, or None.
    async fn project_by_id(&self, id: i64, what: &str) -> Result<Option<Project>> {
        // without X-Is-Resource-Name a number is an id
        let resp = self.send(Method::GET, &format!("/projects/{id}"), &[], false, None, what).await?;
        match resp.status() {
            StatusCode::OK => json_body::<ProjectAnswer>(what, resp).await.map(|p| Some(p.into())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(fail(what, resp).await),
        }
    }

    /// The project `name`, public or not as asked, with `storage_bytes` as
    /// its storage quota when given ([`UNLIMITED`] for none). A new project
    /// is [`Outcome::Created`]; an existing one is changed where it differs
    /// and is [`Outcome::Adopted`] when it is not nines' own (see
    /// [`HarborClient::created_by_nines`]), else `Updated` or `Unchanged`.
    /// An existing project that matches costs reads only.
    pub async fn ensure_project(
        &self,
        name: &str,
        public: bool,
        storage_bytes: Option<i64>,
    ) -> Result<(Project, Outcome)> {
        if let Some(existing) = self.project(name).await? {
            return self.converge(existing, public, storage_bytes, false).await;
        }
        let what = format!("creating project {name:?}");
        let body = project_request(Some(name), public, storage_bytes);
        let resp = self.send(Method::POST, "/projects", &[], false, Some(&body), &what).await?;
        match resp.status() {
            StatusCode::CREATED => {
                let id = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(id_from_location)
                    .and_then(|id| id.parse::<i64>().ok())
                    .ok_or_else(|| unexpected(&what, "201 without a Location header naming the new project's id"))?;
                match self.project_by_id(id, &what).await? {
                    Some(p) => Ok((p, Outcome::Created)),
                    None => Err(ProvisionError::new(
                        System::Harbor,
                        ErrorKind::Transient,
                        format!("{what}: project {id} gone right after"),
                    )),
                }
            }
            // created by someone else since the read above
            StatusCode::CONFLICT => match self.project(name).await? {
                Some(existing) => self.converge(existing, public, storage_bytes, true).await,
                None => Err(ProvisionError::new(
                    System::Harbor,
                    ErrorKind::Transient,
                    format!("{what}: 409 Conflict, yet no project of that name"),
                )),
            },
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Brings an existing project to what is asked.
    async fn converge(
        &self,
        mut project: Project,
        public: bool,
        storage_bytes: Option<i64>,
        met_by_conflict: bool,
    ) -> Result<(Project, Outcome)> {
        let adopted = met_by_conflict || !self.created_by_nines(&project);
        let mut changed = false;
        if project.public != public {
            let what = format!("making project {:?} {}", project.name, if public { "public" } else { "private" });
            let body = project_request(None, public, None);
            let resp =
                self.send(Method::PUT, &Self::project_path(&project.name), &[], true, Some(&body), &what).await?;
            if !resp.status().is_success() {
                return Err(fail(&what, resp).await);
            }
            project.public = public;
            changed = true;
        }
        if let Some(bytes) = storage_bytes
            && self.set_storage_quota(project.project_id, bytes).await? == Outcome::Updated
        {
            changed = true;
        }
        let outcome = match (adopted, changed) {
            (true, _) => Outcome::Adopted,
            (false, true) => Outcome::Updated,
            (false, false) => Outcome::Unchanged,
        };
        Ok((project, outcome))
    }

    /// The storage limit of project `project_id` in bytes ([`UNLIMITED`]
    /// for none), written only when it differs.
    pub async fn set_storage_quota(&self, project_id: i64, bytes: i64) -> Result<Outcome> {
        let what = format!("setting the storage quota of project {project_id} to {bytes} bytes");
        let query = [("reference", "project".to_string()), ("reference_id", project_id.to_string())];
        let resp = self.send(Method::GET, "/quotas", &query, false, None, &what).await?;
        if resp.status() != StatusCode::OK {
            return Err(fail(&what, resp).await);
        }
        let quotas: Vec<QuotaAnswer> = json_body(&what, resp).await?;
        let refers_to_project = |q: &QuotaAnswer| {
            q.reference.as_ref().and_then(|r| r.get("id")).and_then(Value::as_i64).is_none_or(|id| id == project_id)
        };
        let Some(quota) = quotas.into_iter().find(refers_to_project) else {
            return Err(ProvisionError::new(
                System::Harbor,
                ErrorKind::Refused,
                format!("{what}: Harbor keeps no quota for this project (are per-project quotas turned off?)"),
            ));
        };
        if quota.hard.as_ref().and_then(|h| h.get("storage")) == Some(&bytes) {
            return Ok(Outcome::Unchanged);
        }
        let body = json!({"hard": {"storage": bytes}});
        let resp = self.send(Method::PUT, &format!("/quotas/{}", quota.id), &[], false, Some(&body), &what).await?;
        if resp.status().is_success() { Ok(Outcome::Updated) } else { Err(fail(&what, resp).await) }
    }

    /// The OIDC group `group_name` among the members of `project`, or None.
    /// None too when the project does not exist.
    pub async fn group_member(&self, project: &str, group_name: &str) -> Result<Option<GroupMember>> {
        let what = format!("finding group {group_name:?} among the members of project {project:?}");
        let path = format!("{}/members", Self::project_path(project));
        let mut page: u32 = 1;
        loop {
            let query = [
                ("entityname", group_name.to_string()),
                ("page", page.to_string()),
                ("page_size", self.page_size.to_string()),
            ];
            let resp = self.send(Method::GET, &path, &query, true, None, &what).await?;
            match resp.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                _ => return Err(fail(&what, resp).await),
            }
            let members: Vec<MemberAnswer> = json_body(&what, resp).await?;
            let n = members.len();
            // `entityname` matches any part of a name, of users and groups
            // alike: only the group of exactly this name is the one
            if let Some(m) = members.into_iter().find(|m| m.entity_type == "g" && m.entity_name == group_name) {
                return Ok(Some(GroupMember {
                    id: m.id,
                    group_name: m.entity_name,
                    role_id: u32::try_from(m.role_id).unwrap_or(0),
                }));
            }
            if n < self.page_size as usize {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// The OIDC group `group_name` as a member of `project` with `role_id`
    /// (see `mapping::tenant::harbor_role_id`). Harbor creates the group on
    /// first use.
    pub async fn ensure_group_member(&self, project: &str, group_name: &str, role_id: u32) -> Result<Outcome> {
        if let Some(m) = self.group_member(project, group_name).await? {
            return self.set_member_role(project, &m, role_id).await;
        }
        let what = format!("adding group {group_name:?} to project {project:?} with role {role_id}");
        let path = format!("{}/members", Self::project_path(project));
        let body = json!({
            "role_id": role_id,
            "member_group": {"group_name": group_name, "group_type": OIDC_GROUP_TYPE},
        });
        let resp = self.send(Method::POST, &path, &[], true, Some(&body), &what).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Outcome::Created),
            // added by someone else since the read above
            StatusCode::CONFLICT => match self.group_member(project, group_name).await? {
                Some(m) => self.set_member_role(project, &m, role_id).await,
                None => Err(ProvisionError::new(
                    System::Harbor,
                    ErrorKind::Transient,
                    format!("{what}: 409 Conflict, yet the group is no member"),
                )),
            },
            StatusCode::NOT_FOUND => Err(fail_with(&what, resp, "no such project").await),
            _ => Err(fail(&what, resp).await),
        }
    }

    async fn set_member_role(&self, project: &str, member: &GroupMember, role_id: u32) -> Result<Outcome> {
        if member.role_id == role_id {
            return Ok(Outcome::Unchanged);
        }
        let what = format!(
            "changing the role of group {:?} in project {project:?} from {} to {role_id}",
            member.group_name, member.role_id
        );
        let path = format!("{}/members/{}", Self::project_path(project), member.id);
        let resp = self.send(Method::PUT, &path, &[], true, Some(&json!({"role_id": role_id})), &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(Outcome::Updated),
            // removed by someone else since the read: the next attempt adds it
            StatusCode::NOT_FOUND => {
                let mut err = fail_with(&what, resp, "the membership went away meanwhile").await;
                err.kind = ErrorKind::Transient;
                Err(err)
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Ends the membership of the OIDC group `group_name` in `project`: true
    /// if it was a member.
    pub async fn remove_group_member(&self, project: &str, group_name: &str) -> Result<bool> {
        let Some(m) = self.group_member(project, group_name).await? else { return Ok(false) };
        let what = format!("removing group {group_name:?} from project {project:?}");
        let path = format!("{}/members/{}", Self::project_path(project), m.id);
        let resp = self.send(Method::DELETE, &path, &[], true, None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Deletes the project `name`: true if it was there. A project that
    /// still holds repositories is [`ErrorKind::Blocked`]: nines never
    /// deletes them.
    pub async fn delete_project(&self, name: &str) -> Result<bool> {
        let what = format!("deleting project {name:?}");
        let resp = self.send(Method::DELETE, &Self::project_path(name), &[], true, None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::PRECONDITION_FAILED => {
                let mut err = fail_with(
                    &what,
                    resp,
                    "the project still holds repositories (or has pending tasks); nines never deletes them: \
                     retry later, never forced",
                )
                .await;
                err.kind = ErrorKind::Blocked;
                Err(err)
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

    #[test]
    fn answers_map_to_kinds_with_harbors_words() {
        let what = r#"creating project "acme""#;
        let table = [
            (
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"unauthorized"}]}"#,
                None,
                ErrorKind::Unauthorized,
                r#"Harbor: creating project "acme": 401 Unauthorized (unauthorized)"#,
                None,
            ),
            (
                403,
                r#"{"errors":[{"code":"FORBIDDEN","message":"Only system admin can create project"}]}"#,
                None,
                ErrorKind::Unauthorized,
                r#"Harbor: creating project "acme": 403 Forbidden (Only system admin can create project)"#,
                None,
            ),
            (
                400,
                r#"{"errors":[{"code":"BAD_REQUEST","message":"project name is invalid"},{"code":"BAD_REQUEST","message":"storage limit is invalid"}]}"#,
                Some(3),
                ErrorKind::Refused,
                r#"Harbor: creating project "acme": 400 Bad Request (project name is invalid; storage limit is invalid)"#,
                None,
            ),
            (
                503,
                "",
                Some(7),
                ErrorKind::Transient,
                r#"Harbor: creating project "acme": 503 Service Unavailable"#,
                Some(7),
            ),
            (
                429,
                "slow down",
                Some(2),
                ErrorKind::Transient,
                r#"Harbor: creating project "acme": 429 Too Many Requests (slow down)"#,
                Some(2),
            ),
            (
                500,
                r#"{"errors":[]}"#,
                None,
                ErrorKind::Transient,
                r#"Harbor: creating project "acme": 500 Internal Server Error ({"errors":[]})"#,
                None,
            ),
        ];
        for (status, body, retry, kind, message, kept) in table {
            let e = answer_error(what, s(status), body, retry.map(Duration::from_secs));
            assert_eq!(e.kind, kind, "{status}");
            assert_eq!(e.to_string(), message);
            assert_eq!(e.retry_after, kept.map(Duration::from_secs), "{status}");
            assert_eq!(e.system, System::Harbor);
        }
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "x".repeat(500);
        let e = answer_error("reading project \"a\"", s(502), &body, None);
        assert!(e.message.ends_with("…)"), "{}", e.message);
        assert!(e.message.len() < 300);
    }

    #[test]
    fn project_requests_use_the_metadata_flag() {
        assert_eq!(
            project_request(Some("acme"), true, Some(53_687_091_200)),
            json!({"project_name": "acme", "metadata": {"public": "true"}, "storage_limit": 53_687_091_200i64})
        );
        assert_eq!(
            project_request(Some("acme"), false, None),
            json!({"project_name": "acme", "metadata": {"public": "false"}})
        );
        assert_eq!(project_request(None, false, None), json!({"metadata": {"public": "false"}}));
    }

    #[test]
    fn projects_read_from_harbors_answer() {
        let answer: ProjectAnswer = serde_json::from_value(json!({
            "project_id": 7, "name": "acme", "owner_name": "nines", "repo_count": 2,
            "metadata": {"public": "true", "auto_scan": null}, "cve_allowlist": {"items": []}
        }))
        .unwrap();
        let p: Project = answer.into();
        assert_eq!(
            p,
            Project {
                project_id: 7,
                name: "acme".into(),
                public: true,
                owner_name: Some("nines".into()),
                repo_count: 2
            }
        );
        let bare: Project =
            serde_json::from_value::<ProjectAnswer>(json!({"project_id": 8, "name": "b"})).unwrap().into();
        assert!(!bare.public);
        assert_eq!(bare.repo_count, 0);

        let client = HarborClient::new("https://harbor.example.com/api/v2.0/", "Nines", "pw");
        assert_eq!(client.base_url(), "https://harbor.example.com");
        assert!(client.created_by_nines(&p), "owner names compare without case");
        assert!(!client.created_by_nines(&bare));
    }

    #[test]
    fn debug_redacts_the_password() {
        let shown = format!("{:?}", HarborClient::new("http://127.0.0.1:1", "nines", "s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[tokio::test]
    async fn a_bad_base_url_is_refused_without_a_call() {
        for base in ["ftp://harbor", "not a url", "https://harbor/?x=1"] {
            let err = HarborClient::new(base, "nines", "pw").check().await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Refused, "{base}");
            assert!(err.message.starts_with("invalid base URL"), "{err}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_harbor_is_transient() {
        // a port nothing listens on: bound, then released
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = HarborClient::new(&format!("http://127.0.0.1:{port}"), "nines", "pw").project("a").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Transient);
        assert!(err.message.starts_with(r#"reading project "a": unreachable"#), "{err}");
    }
}
