//! GitLab through its REST API v4: the groups a tenant is made of and the
//! direct memberships of its users, on one GitLab instance.
//!
//! nines authenticates with a personal, group or service-account access
//! token with the `api` scope, sent as `PRIVATE-TOKEN`. Its user needs the
//! Owner role of the groups it manages (an administrator has it everywhere);
//! creating a top-level group also needs the right to create groups, which
//! GitLab.com grants to nobody through the API.
//!
//! What this module keeps to, because GitLab answers that way:
//!
//! - A group is addressed by its id or by its full path with every `/`
//!   encoded (`acme%2Fdev`): a raw `/` would make it two path segments.
//!   Lookups by path are case-insensitive, as GitLab's routes are.
//! - A taken path or name is `400 Bad Request`, in one of two shapes by
//!   GitLab version: `{"message": {"path": ["has already been taken"]}}`
//!   (older versions), or the text `Failed to save group {:path=>["has
//!   already been taken"]}` (newer ones). Both are recognised. A top-level
//!   path can be taken by a *user* (users and groups share one namespace),
//!   which no group lookup finds: that is reported, not retried.
//! - `DELETE /groups/:id` answers `202 Accepted` whatever it did: on
//!   instances with delayed deletion (Premium, and every tier in recent
//!   versions) it only sets `marked_for_deletion_on`, and a subgroup of a
//!   group already marked is left to go with it. A read after the delete tells which, and
//!   [`Deletion::Scheduled`] carries the date so the status can say so.
//!   nines never restores a group marked for deletion, nor forces its
//!   removal (`permanently_remove`): it reports it as [`ErrorKind::Blocked`].
//! - Errors are `{"message": ...}` where the message is a string or an
//!   object of field → messages, or `{"error": "..."}` for a request GitLab's
//!   parameter checks refuse: [`error_message`] flattens them all into one
//!   line.
//! - `401` is a token GitLab does not accept (expired, revoked, mistyped);
//!   `403` is a token it accepts whose user may not do this (not Owner of the
//!   group, no right to create groups, or a token without the `api` scope).
//!   Both are [`ErrorKind::Unauthorized`]: the fix is in GitLab's permissions
//!   of nines' user or in its token, not in the custom resource.
//! - Rate limits answer `429` with `Retry-After` and GitLab's `RateLimit-*`
//!   headers; some limiters and older versions send only `RateLimit-Reset`
//!   (a Unix time) or `RateLimit-ResetTime` (an HTTP date). The first of
//!   them found becomes the error's `retry_after`.
//!
//! Group links to LDAP or SAML groups are out of scope: memberships here are
//! direct memberships of users. The client decides nothing about tenants:
//! the controller asks, this module answers with [`Outcome`]s and
//! [`ProvisionError`]s. It never logs the token.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::keycloak::{encode_segment, error_kind, parse_retry_after};
use super::{ErrorKind, Outcome, ProvisionError, Result, System};

/// Users read from a search by email address: one page, the largest GitLab
/// serves. A full address matches exactly, so a handful come back at most.
const SEARCH_PAGE_SIZE: u32 = 100;

/// GitLab nests groups at most 20 levels deep: the bound of every walk up
/// the parents.
const MAX_DEPTH: usize = 20;

/// GitLab's roles as `access_level`s (`Gitlab::Access`): the ones a direct
/// group membership can hold. `planner` exists from GitLab 17.7 on; an older
/// instance refuses it with its own message.
pub const ACCESS_LEVELS: [(u32, &str); 6] =
    [(10, "guest"), (15, "planner"), (20, "reporter"), (30, "developer"), (40, "maintainer"), (50, "owner")];

/// The role name of an access level, if it is one a membership can hold.
pub fn access_level_name(level: u32) -> Option<&'static str> {
    ACCESS_LEVELS.iter().find(|(l, _)| *l == level).map(|(_, n)| *n)
}

/// `developer (30)`, or the bare number GitLab would refuse.
fn level_label(level: u32) -> String {
    match access_level_name(level) {
        Some(name) => format!("{name} ({level})"),
        None => level.to_string(),
    }
}

/// Who can see a group and its projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub const ALL: [Visibility; 3] = [Visibility::Private, Visibility::Internal, Visibility::Public];

    /// GitLab's word for it, in requests and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }
}

impl FromStr for Visibility {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Visibility, String> {
        let wanted = s.trim().to_ascii_lowercase();
        Visibility::ALL
            .into_iter()
            .find(|v| v.as_str() == wanted)
            .ok_or_else(|| format!("unknown GitLab visibility {s:?} (private, internal or public)"))
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A GitLab group, with the fields nines reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    /// The last segment of [`Group::full_path`].
    pub path: String,
    /// `acme/dev`: what the group is looked up by.
    pub full_path: String,
    /// `private`, `internal` or `public`, as GitLab says it.
    pub visibility: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parent_id: Option<i64>,
    /// Set when delayed deletion marked the group: the day it is removed.
    /// Absent on instances without delayed deletion.
    #[serde(default)]
    pub marked_for_deletion_on: Option<jiff::civil::Date>,
}

/// A GitLab user, with the fields nines reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub name: String,
    /// `active`, `blocked`, `deactivated`...
    #[serde(default)]
    pub state: Option<String>,
    /// The primary address: in answers to administrators only.
    #[serde(default)]
    pub email: Option<String>,
    /// The address the user chose to show; absent from lists read by
    /// non-administrators, present on a single user.
    #[serde(default)]
    pub public_email: Option<String>,
}

/// A direct member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The user's id.
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub state: Option<String>,
    pub access_level: u32,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// What deleting a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Gone, or being removed by GitLab's background job.
    Deleted,
    /// Only marked: GitLab removes it on this day (delayed deletion), with
    /// it or with the ancestor that was marked.
    Scheduled(jiff::civil::Date),
    /// There was no such group.
    NotFound,
}

/// A full group path (`acme/dev`) as one path segment: `acme%2Fdev`.
pub fn encode_full_path(full_path: &str) -> String {
    encode_segment(full_path.trim_matches('/'))
}

/// GitLab's own words from an error body, on one line: `message` (a string,
/// or an object of field → messages, flattened as `path has already been
/// taken`), `error` with `error_description` (parameter and token checks),
/// or the text itself. An HTML page (GitLab's or a proxy's error page) says
/// nothing the status does not, and is left out.
pub fn error_message(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() || body.starts_with('<') {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let mut parts = vec![];
        if let Some(m) = v.get("message") {
            flatten(None, m, &mut parts);
        }
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        match (text("error"), text("error_description")) {
            (Some(e), Some(d)) => parts.push(format!("{e}: {d}")),
            (Some(e), None) | (None, Some(e)) => parts.push(e.to_string()),
            (None, None) => {}
        }
        if !parts.is_empty() {
            return Some(parts.join("; "));
        }
    }
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push('…');
    }
    Some(s)
}

/// The messages in `v`, each prefixed by its field as Rails' full messages
/// are (`base` and `error` name no field).
fn flatten(field: Option<&str>, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => out.push(match field {
            Some(f) if !matches!(f, "base" | "error") => format!("{f} {s}"),
            _ => s.clone(),
        }),
        Value::Array(items) => items.iter().for_each(|i| flatten(field, i, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(Some(k), v, out)),
        other => out.push(other.to_string()),
    }
}

/// Whether a `400` says a path or name is taken, in either of GitLab's
/// shapes.
pub fn already_taken(body: &str) -> bool {
    error_message(body).is_some_and(|m| m.contains("has already been taken"))
}

/// How long a `429` asks to wait: `Retry-After` (seconds or an HTTP date),
/// else `RateLimit-Reset` (a Unix time, as GitLab sends it; a small number
/// is taken as seconds from now, as the IETF draft has it), else
/// `RateLimit-ResetTime` (an HTTP date).
pub fn retry_after(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(d) = text("retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    if let Some(reset) = text("ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok()) {
        let secs = if reset < 1_000_000_000 { reset } else { reset - now.as_second() };
        return Some(Duration::from_secs(secs.max(0) as u64));
    }
    text("ratelimit-resettime").and_then(|v| parse_retry_after(v, now))
}

/// The error for a failed answer: `{what}: 403 Forbidden (detail)`, with a
/// hint where GitLab's status alone leaves the reader guessing.
pub fn answer_error(what: &str, status: StatusCode, body: &str, retry_after: Option<Duration>) -> ProvisionError {
    let kind = error_kind(status.as_u16());
    let mut message = format!("{what}: {status}");
    if let Some(d) = error_message(body) {
        message.push_str(&format!(" ({d})"));
    }
    match status.as_u16() {
        401 => message.push_str("; GitLab does not accept the token: expired, revoked or mistyped"),
        403 => message.push_str(
            "; nines' GitLab user may not do this: it needs the Owner role of the group (or to be an \
             administrator), the right to create groups for a top-level group, and a token with the api scope",
        ),
        300..=399 => message.push_str("; GitLab redirected: the base URL is likely wrong (http for https?)"),
        _ => {}
    }
    ProvisionError {
        system: System::GitLab,
        kind,
        message,
        retry_after: if kind == ErrorKind::Transient { retry_after } else { None },
    }
}

fn refused(message: String) -> ProvisionError {
    ProvisionError::new(System::GitLab, ErrorKind::Refused, message)
}

fn transport_error(what: &str, e: &reqwest::Error) -> ProvisionError {
    super::transport_error(System::GitLab, what, e)
}

fn unexpected(what: &str, detail: impl fmt::Display) -> ProvisionError {
    super::unexpected(System::GitLab, what, detail)
}

/// The error for a non-success answer, reading its body.
async fn fail(what: &str, resp: Response) -> ProvisionError {
    let status = resp.status();
    let wait = retry_after(resp.headers(), jiff::Timestamp::now());
    let body = resp.text().await.unwrap_or_default();
    answer_error(what, status, &body, wait)
}

async fn json_body<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| transport_error(what, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| unexpected(what, e))
}

/// A group nines found marked for deletion: it neither restores it nor
/// works around it, and waits for it to go (or for someone to restore it).
fn marked_error(group: &Group, on: jiff::civil::Date) -> ProvisionError {
    ProvisionError::new(
        System::GitLab,
        ErrorKind::Blocked,
        format!(
            "group {:?} (id {}) is only marked for deletion and will be removed on {on} (GitLab's delayed \
             deletion): an owner can restore it in GitLab, else nines recreates it once it is gone",
            group.full_path, group.id
        ),
    )
}

/// GitLab's answer to a membership request an administrator must approve
/// first ("Request queued for administrator approval."), if it is one.
fn queued_for_approval(body: &Value) -> Option<String> {
    if body.get("access_level").is_some() {
        return None;
    }
    let mut parts = vec![];
    for key in ["message", "queued_users"] {
        if let Some(v) = body.get(key) {
            flatten(None, v, &mut parts);
        }
    }
    let text = parts.join("; ");
    text.to_ascii_lowercase().contains("approval").then_some(text)
}

/// The REST API v4 of one GitLab instance.
pub struct GitLabClient {
    http: reqwest::Client,
    /// Without a trailing slash nor `/api/v4`; may hold a relative URL root
    /// (`https://example.com/gitlab`).
    base: String,
    /// None when the token cannot be an HTTP header value.
    token: Option<HeaderValue>,
}

impl fmt::Debug for GitLabClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitLabClient").field("base", &self.base).field("token", &"<redacted>").finish_non_exhaustive()
    }
}

impl GitLabClient {
    /// A client of the instance at `url` (`https://gitlab.example.com`, with
    /// its relative URL root if any; a trailing `/api/v4` is accepted too),
    /// authenticating with `token`. A URL that is no http(s) URL, or a token
    /// no header can carry, fails every call as `Refused`.
    pub fn new(url: &str, token: &str) -> GitLabClient {
        let http = super::http_client();
        let base = url.trim().trim_end_matches('/');
        let base = base.strip_suffix("/api/v4").unwrap_or(base).trim_end_matches('/');
        let token = HeaderValue::from_str(token.trim()).ok().map(|mut v| {
            v.set_sensitive(true);
            v
        });
        GitLabClient { http, base: base.to_string(), token }
    }

    /// The base URL, without a trailing slash nor `/api/v4`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The base URL, if it is one nines can call.
    fn checked_base(&self) -> Result<&str> {
        match reqwest::Url::parse(&self.base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Ok(&self.base),
            _ => Err(refused(format!("invalid base URL {:?}: not an http(s) URL without a query", self.base))),
        }
    }

    /// The API URL of `tail` (already encoded).
    fn api(&self, tail: &str) -> String {
        format!("{}/api/v4{tail}", self.base)
    }

    fn group_url(&self, id: i64) -> String {
        self.api(&format!("/groups/{id}"))
    }

    fn member_url(&self, group_id: i64, user_id: i64) -> String {
        self.api(&format!("/groups/{group_id}/members/{user_id}"))
    }

    /// Sends one request with the token; every answer is the caller's to
    /// read.
    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response> {
        self.checked_base()?;
        let token = self.token.clone().ok_or_else(|| {
            ProvisionError::new(
                System::GitLab,
                ErrorKind::Unauthorized,
                format!("{what}: the token holds characters no HTTP header can carry"),
            )
        })?;
        let mut req = self.http.request(method.clone(), url).header("PRIVATE-TOKEN", token);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| transport_error(what, &e))?;
        tracing::debug!(%method, url, status = resp.status().as_u16(), "gitlab call");
        Ok(resp)
    }

    /// Checks that GitLab accepts the token: the username it belongs to.
    pub async fn check(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct Me {
            username: String,
        }
        let what = "reading the token's user";
        let resp = self.send(Method::GET, &self.api("/user"), &[], None, what).await?;
        if resp.status() != StatusCode::OK {
            return Err(fail(what, resp).await);
        }
        let me: Me = json_body(what, resp).await?;
        Ok(me.username)
    }

    /// One group read, or None on `404`.
    async fn read_group(&self, url: &str, what: &str) -> Result<Option<Group>> {
        // projects are left out: they are not needed, and GitLab would
        // otherwise send up to a hundred of them
        let query = [("with_projects", "false".to_string())];
        let resp = self.send(Method::GET, url, &query, None, what).await?;
        match resp.status() {
            StatusCode::OK => json_body(what, resp).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(fail(what, resp).await),
        }
    }

    /// The group at `full_path` (`acme/dev`), or None: also when nines'
    /// user may not see it (GitLab answers `404` for a private group of
    /// others).
    pub async fn group(&self, full_path: &str) -> Result<Option<Group>> {
        let what = format!("finding group {full_path:?}");
        self.read_group(&self.api(&format!("/groups/{}", encode_full_path(full_path))), &what).await
    }

    /// The group with `id`, or None.
    pub async fn group_by_id(&self, id: i64) -> Result<Option<Group>> {
        self.read_group(&self.group_url(id), &format!("reading group {id}")).await
    }

    /// The group `path` (one segment) named `name` under `parent_id` (or at
    /// the top): the existing one, with its visibility changed if it is not
    /// `visibility`, or a new one.
    ///
    /// Only the visibility is kept in line: an existing group's name and
    /// description are its owners' to change. A group found at the path is
    /// [`Outcome::Unchanged`] (or `Updated`); one that appeared between the
    /// lookup and the create (the create answered "taken") is
    /// [`Outcome::Adopted`]. A group marked for deletion, or under a parent
    /// marked for deletion, is reported as [`ErrorKind::Blocked`].
    pub async fn ensure_group(
        &self,
        path: &str,
        name: &str,
        visibility: Visibility,
        parent_id: Option<i64>,
    ) -> Result<(Group, Outcome)> {
        if path.is_empty() || path.contains('/') {
            return Err(refused(format!(
                "group path {path:?}: one path segment expected (the parent is given by its id)"
            )));
        }
        let full_path = match parent_id {
            None => path.to_string(),
            Some(pid) => {
                let parent = self.group_by_id(pid).await?.ok_or_else(|| {
                    refused(format!("creating group {path:?} under group {pid}: 404 Not Found (no such parent group)"))
                })?;
                if let Some(on) = parent.marked_for_deletion_on {
                    return Err(marked_error(&parent, on));
                }
                format!("{}/{path}", parent.full_path)
            }
        };
        if let Some(g) = self.group(&full_path).await? {
            return self.converge(g, visibility, Outcome::Unchanged).await;
        }

        let what = format!("creating group {full_path:?}");
        let mut body = json!({"name": name, "path": path, "visibility": visibility.as_str()});
        if let Some(pid) = parent_id {
            body["parent_id"] = json!(pid);
        }
        let resp = self.send(Method::POST, &self.api("/groups"), &[], Some(&body), &what).await?;
        match resp.status() {
            StatusCode::CREATED => Ok((json_body(&what, resp).await?, Outcome::Created)),
            StatusCode::BAD_REQUEST => {
                let text = resp.text().await.unwrap_or_default();
                if !already_taken(&text) {
                    return Err(answer_error(&what, StatusCode::BAD_REQUEST, &text, None));
                }
                // created by someone else since the lookup, or taken by
                // what no group lookup finds
                match self.group(&full_path).await? {
                    Some(g) => self.converge(g, visibility, Outcome::Adopted).await,
                    None => Err(refused(format!(
                        "{what}: 400 Bad Request ({}), yet no group {full_path:?} is visible to nines: another group \
                         under the same parent has that name, or the path belongs to a user or to a group nines' \
                         user cannot see",
                        error_message(&text).unwrap_or_default()
                    ))),
                }
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// `group` with `visibility`: as found (`found`), or changed to it.
    async fn converge(&self, group: Group, visibility: Visibility, found: Outcome) -> Result<(Group, Outcome)> {
        if let Some(on) = group.marked_for_deletion_on {
            return Err(marked_error(&group, on));
        }
        if group.visibility == visibility.as_str() {
            return Ok((group, found));
        }
        let what = format!(
            "changing the visibility of group {:?} (id {}) from {} to {visibility}",
            group.full_path, group.id, group.visibility
        );
        let body = json!({"visibility": visibility.as_str()});
        let resp = self.send(Method::PUT, &self.group_url(group.id), &[], Some(&body), &what).await?;
        match resp.status() {
            StatusCode::OK => Ok((json_body(&what, resp).await?, Outcome::Updated)),
            // deleted since it was read: the next run creates it
            StatusCode::NOT_FOUND => Err(ProvisionError::new(
                System::GitLab,
                ErrorKind::Transient,
                format!("{what}: 404 Not Found (the group went away meanwhile)"),
            )),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Deletes group `id` with its subgroups and projects, or has GitLab
    /// schedule that (see the module documentation).
    pub async fn delete_group(&self, id: i64) -> Result<Deletion> {
        let what = format!("deleting group {id}");
        let resp = self.send(Method::DELETE, &self.group_url(id), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => self.after_delete(id).await,
            StatusCode::NOT_FOUND => Ok(Deletion::NotFound),
            // "Group has been already marked for deletion", among others
            StatusCode::BAD_REQUEST => {
                let err = fail(&what, resp).await;
                match self.group_by_id(id).await? {
                    Some(Group { marked_for_deletion_on: Some(on), .. }) => Ok(Deletion::Scheduled(on)),
                    _ => Err(err),
                }
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// What an accepted delete did: the group is gone, marked, or left to go
    /// with a marked ancestor; one still there unmarked is being removed by
    /// GitLab's background job (instances without delayed deletion).
    async fn after_delete(&self, id: i64) -> Result<Deletion> {
        let Some(mut group) = self.group_by_id(id).await? else {
            return Ok(Deletion::Deleted);
        };
        for _ in 0..MAX_DEPTH {
            if let Some(on) = group.marked_for_deletion_on {
                return Ok(Deletion::Scheduled(on));
            }
            let Some(parent) = group.parent_id else { break };
            let Some(g) = self.group_by_id(parent).await? else { break };
            group = g;
        }
        Ok(Deletion::Deleted)
    }

    /// The user with exactly this username (case-insensitive, as GitLab
    /// compares them), else with exactly this email address.
    ///
    /// GitLab shows a user's primary address to administrators only: with
    /// the token of an administrator the address may be a user's primary or
    /// public one; with any other token only users who made that address
    /// their public email are found.
    pub async fn find_user(&self, username: Option<&str>, email: Option<&str>) -> Result<Option<User>> {
        if let Some(name) = username {
            let what = format!("finding user {name:?}");
            let users: Vec<User> = self.list(&self.api("/users"), &[("username", name.to_string())], &what).await?;
            if let Some(u) = users.into_iter().find(|u| u.username.eq_ignore_ascii_case(name)) {
                return Ok(Some(u));
            }
        }
        let Some(email) = email else { return Ok(None) };
        let what = format!("finding user with email {email:?}");
        // a search by a full address matches it exactly (and names and
        // usernames by substring, which the comparison below drops)
        let query = [("search", email.to_string()), ("per_page", SEARCH_PAGE_SIZE.to_string())];
        let candidates: Vec<User> = self.list(&self.api("/users"), &query, &what).await?;
        let matches = |u: &User| {
            [&u.email, &u.public_email].into_iter().flatten().any(|e| e.trim().eq_ignore_ascii_case(email.trim()))
        };
        for candidate in candidates {
            if matches(&candidate) {
                return Ok(Some(candidate));
            }
            if candidate.public_email.is_some() {
                continue;
            }
            // lists read by non-administrators carry no address at all; a
            // single user shows its public one
            if let Some(user) = self.user(candidate.id).await?
                && matches(&user)
            {
                return Ok(Some(user));
            }
        }
        Ok(None)
    }

    /// The user with `id`, or None.
    async fn user(&self, id: i64) -> Result<Option<User>> {
        let what = format!("reading user {id}");
        let resp = self.send(Method::GET, &self.api(&format!("/users/{id}")), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body(&what, resp).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// One page of a list (lookups here answer a handful at most).
    async fn list<T: DeserializeOwned>(&self, url: &str, query: &[(&str, String)], what: &str) -> Result<Vec<T>> {
        let resp = self.send(Method::GET, url, query, None, what).await?;
        if resp.status() != StatusCode::OK {
            return Err(fail(what, resp).await);
        }
        json_body(what, resp).await
    }

    /// The direct membership of `user_id` in `group_id` (inherited ones do
    /// not count), or None. A missing group is an error, not None.
    pub async fn member(&self, group_id: i64, user_id: i64) -> Result<Option<Member>> {
        let what = format!("reading the membership of user {user_id} in group {group_id}");
        let resp = self.send(Method::GET, &self.member_url(group_id, user_id), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body(&what, resp).await.map(Some),
            StatusCode::NOT_FOUND => {
                let text = resp.text().await.unwrap_or_default();
                if error_message(&text).is_some_and(|m| m.contains("Group Not Found")) {
                    return Err(answer_error(&what, StatusCode::NOT_FOUND, &text, None));
                }
                Ok(None)
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Makes `user_id` a direct member of `group_id` at `access_level` (one
    /// of [`ACCESS_LEVELS`], checked before anything is sent).
    ///
    /// Reads first, so an unchanged membership costs one read. A member
    /// added by someone else between the read and the add (`409 Member
    /// already exists`) is [`Outcome::Adopted`], or `Updated` when its level
    /// had to change. GitLab refuses a level below one the user inherits
    /// from a parent group, in its own words. On instances where an
    /// administrator approves promotions to billable roles, the request
    /// waits for that approval: [`ErrorKind::Blocked`].
    pub async fn ensure_member(&self, group_id: i64, user_id: i64, access_level: u32) -> Result<Outcome> {
        let what = format!("adding user {user_id} to group {group_id} as {}", level_label(access_level));
        if access_level_name(access_level).is_none() {
            let known: Vec<String> = ACCESS_LEVELS.iter().map(|(l, n)| format!("{l} {n}")).collect();
            return Err(refused(format!(
                "{what}: {access_level} is no access level a membership can hold ({})",
                known.join(", ")
            )));
        }
        match self.member(group_id, user_id).await? {
            Some(m) if m.access_level == access_level => return Ok(Outcome::Unchanged),
            Some(m) => return self.set_level(group_id, user_id, m.access_level, access_level).await,
            None => {}
        }
        let body = json!({"user_id": user_id, "access_level": access_level});
        let url = self.api(&format!("/groups/{group_id}/members"));
        let resp = self.send(Method::POST, &url, &[], Some(&body), &what).await?;
        match resp.status() {
            s if s.is_success() => {
                let answer: Value = json_body(&what, resp).await?;
                match queued_for_approval(&answer) {
                    Some(words) => Err(awaiting_approval(&what, &words)),
                    None => Ok(Outcome::Created),
                }
            }
            StatusCode::CONFLICT => match self.member(group_id, user_id).await? {
                Some(m) if m.access_level == access_level => Ok(Outcome::Adopted),
                Some(m) => self.set_level(group_id, user_id, m.access_level, access_level).await,
                None => Err(ProvisionError::new(
                    System::GitLab,
                    ErrorKind::Transient,
                    format!("{what}: 409 Conflict (Member already exists), yet no such member when read back"),
                )),
            },
            StatusCode::NOT_FOUND => {
                let mut err = fail(&what, resp).await;
                err.message.push_str("; the user or the group does not exist");
                Err(err)
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Changes the level of an existing direct member.
    async fn set_level(&self, group_id: i64, user_id: i64, from: u32, to: u32) -> Result<Outcome> {
        let what = format!(
            "changing the access of user {user_id} in group {group_id} from {} to {}",
            level_label(from),
            level_label(to)
        );
        let body = json!({"access_level": to});
        let resp = self.send(Method::PUT, &self.member_url(group_id, user_id), &[], Some(&body), &what).await?;
        match resp.status() {
            s if s.is_success() => {
                let answer: Value = json_body(&what, resp).await?;
                match queued_for_approval(&answer) {
                    Some(words) => Err(awaiting_approval(&what, &words)),
                    None => Ok(Outcome::Updated),
                }
            }
            // removed since it was read: the next run adds it
            StatusCode::NOT_FOUND => Err(ProvisionError::new(
                System::GitLab,
                ErrorKind::Transient,
                format!("{what}: 404 Not Found (the membership went away meanwhile)"),
            )),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Ends the direct membership of `user_id` in `group_id`: true if there
    /// was one. A missing group or membership counts as done.
    pub async fn remove_member(&self, group_id: i64, user_id: i64) -> Result<bool> {
        let what = format!("removing user {user_id} from group {group_id}");
        let resp = self.send(Method::DELETE, &self.member_url(group_id, user_id), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(fail(&what, resp).await),
        }
    }
}

fn awaiting_approval(what: &str, words: &str) -> ProvisionError {
    ProvisionError::new(
        System::GitLab,
        ErrorKind::Blocked,
        format!("{what}: waiting for a GitLab administrator to approve it ({words})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn error_kinds_by_status() {
        let table = [
            (400, ErrorKind::Refused),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Unauthorized),
            (404, ErrorKind::Refused),
            (405, ErrorKind::Refused),
            (409, ErrorKind::Refused),
            (422, ErrorKind::Refused),
            (429, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (502, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (301, ErrorKind::Refused),
        ];
        for (code, kind) in table {
            let e = answer_error("x", status(code), "", Some(Duration::from_secs(3)));
            assert_eq!(e.kind, kind, "{code}");
            assert_eq!(e.system, System::GitLab);
        }
    }

    #[test]
    fn gitlabs_error_bodies_flatten_to_one_line() {
        let table = [
            (r#"{"message":"404 Group Not Found"}"#, Some("404 Group Not Found")),
            (r#"{"message":{"path":["has already been taken"]}}"#, Some("path has already been taken")),
            (
                r#"{"message":{"name":["has already been taken"],"path":["has already been taken","is reserved"]}}"#,
                Some("name has already been taken; path has already been taken; path is reserved"),
            ),
            (
                r#"{"message":"Failed to save group {:path=>[\"has already been taken\"]}"}"#,
                Some(r#"Failed to save group {:path=>["has already been taken"]}"#),
            ),
            (
                r#"{"message":{"error":"This endpoint has been requested too many times. Try again later."}}"#,
                Some("This endpoint has been requested too many times. Try again later."),
            ),
            (r#"{"message":{"base":["Group is archived"]}}"#, Some("Group is archived")),
            (r#"{"error":"access_level is missing"}"#, Some("access_level is missing")),
            (
                r#"{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}"#,
                Some("insufficient_scope: The request requires higher privileges than provided by the access token."),
            ),
            ("Retry later\n", Some("Retry later")),
            ("<html><body>502 Bad Gateway</body></html>", None),
            ("   ", None),
            (r#"{"unexpected":true}"#, Some(r#"{"unexpected":true}"#)),
        ];
        for (body, message) in table {
            assert_eq!(error_message(body).as_deref(), message, "{body}");
        }
        let long = "x".repeat(300);
        assert_eq!(error_message(&long).unwrap().chars().count(), 201);
    }

    #[test]
    fn taken_in_either_shape() {
        assert!(already_taken(r#"{"message":{"path":["has already been taken"]}}"#));
        assert!(already_taken(r#"{"message":{"name":["has already been taken"]}}"#));
        assert!(already_taken(r#"{"message":"Failed to save group {:path=>[\"has already been taken\"]}"}"#));
        assert!(already_taken(r#"{"message":"Failed to save group {path: [\"has already been taken\"]}"}"#));
        assert!(!already_taken(r#"{"message":{"path":["is reserved"]}}"#));
        assert!(!already_taken(""));
    }

    #[test]
    fn answer_errors_name_the_call_and_gitlabs_words() {
        let table = [
            (
                400,
                r#"{"message":{"visibility_level":["public is not allowed since the parent group has a private visibility."]}}"#,
                None,
                r#"GitLab: creating group "acme/dev": 400 Bad Request (visibility_level public is not allowed since the parent group has a private visibility.)"#,
                None,
            ),
            (
                401,
                r#"{"message":"401 Unauthorized"}"#,
                None,
                r#"GitLab: creating group "acme/dev": 401 Unauthorized (401 Unauthorized); GitLab does not accept the token: expired, revoked or mistyped"#,
                None,
            ),
            // a Retry-After on a refusal is no reason to retry
            (
                409,
                r#"{"message":"Member already exists"}"#,
                Some(5),
                r#"GitLab: creating group "acme/dev": 409 Conflict (Member already exists)"#,
                None,
            ),
            (
                429,
                "Retry later\n",
                Some(30),
                r#"GitLab: creating group "acme/dev": 429 Too Many Requests (Retry later)"#,
                Some(30),
            ),
            (503, "", Some(7), r#"GitLab: creating group "acme/dev": 503 Service Unavailable"#, Some(7)),
        ];
        for (code, body, retry, message, kept) in table {
            let e = answer_error(r#"creating group "acme/dev""#, status(code), body, retry.map(Duration::from_secs));
            assert_eq!(e.to_string(), message);
            assert_eq!(e.retry_after, kept.map(Duration::from_secs), "{code}");
        }
        let forbidden = answer_error("deleting group 7", status(403), r#"{"message":"403 Forbidden"}"#, None);
        assert!(forbidden.message.contains("needs the Owner role"), "{forbidden}");
    }

    #[test]
    fn retry_after_from_gitlabs_headers() {
        let now: jiff::Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        let secs = |s| Some(Duration::from_secs(s));
        // Retry-After wins over the rest
        let all = headers(&[
            ("Retry-After", "42"),
            ("RateLimit-Reset", &(now.as_second() + 60).to_string()),
            ("RateLimit-ResetTime", "Sun, 01 Mar 2026 12:02:00 GMT"),
        ]);
        assert_eq!(retry_after(&all, now), secs(42));
        assert_eq!(retry_after(&headers(&[("Retry-After", "Sun, 01 Mar 2026 12:00:30 GMT")]), now), secs(30));
        let reset = (now.as_second() + 60).to_string();
        assert_eq!(retry_after(&headers(&[("RateLimit-Reset", &reset)]), now), secs(60));
        assert_eq!(retry_after(&headers(&[("RateLimit-Reset", "15")]), now), secs(15));
        let past = (now.as_second() - 60).to_string();
        assert_eq!(retry_after(&headers(&[("RateLimit-Reset", &past)]), now), secs(0));
        assert_eq!(retry_after(&headers(&[("RateLimit-ResetTime", "Sun, 01 Mar 2026 12:01:00 GMT")]), now), secs(60));
        // an unreadable Retry-After falls through to the next header
        assert_eq!(retry_after(&headers(&[("Retry-After", "soon"), ("RateLimit-Reset", "9")]), now), secs(9));
        assert_eq!(retry_after(&headers(&[]), now), None);
    }

    #[test]
    fn full_paths_are_one_segment() {
        let table = [
            ("acme", "acme"),
            ("acme/dev", "acme%2Fdev"),
            ("/acme/dev/", "acme%2Fdev"),
            ("acme/dev.team_1-x", "acme%2Fdev.team_1-x"),
            ("acme/dev team", "acme%2Fdev%20team"),
            ("a?b#c", "a%3Fb%23c"),
        ];
        for (raw, encoded) in table {
            assert_eq!(encode_full_path(raw), encoded, "{raw}");
        }
    }

    #[test]
    fn visibilities_and_access_levels() {
        assert_eq!(" Internal ".parse::<Visibility>(), Ok(Visibility::Internal));
        assert_eq!(Visibility::Public.to_string(), "public");
        assert!("secret".parse::<Visibility>().unwrap_err().contains("private, internal or public"));
        for (level, name) in ACCESS_LEVELS {
            assert_eq!(access_level_name(level), Some(name));
            // the names are the ones the CRD mapping takes
            assert_eq!(crate::mapping::tenant::gitlab_access_level(name), Ok(level));
        }
        for level in [0, 5, 25, 35, 60] {
            assert_eq!(access_level_name(level), None, "{level}");
        }
        assert_eq!(level_label(30), "developer (30)");
        assert_eq!(level_label(35), "35");
    }

    #[test]
    fn approval_queue_answers() {
        let queued = json!({"message": {"alice": "Request queued for administrator approval."}});
        assert_eq!(queued_for_approval(&queued).as_deref(), Some("alice Request queued for administrator approval."));
        let many =
            json!({"queued_users": {"alice": "Request queued for administrator approval."}, "status": "success"});
        assert!(queued_for_approval(&many).is_some());
        assert_eq!(queued_for_approval(&json!({"id": 5, "username": "alice", "access_level": 30})), None);
    }

    #[test]
    fn base_urls_and_redaction() {
        let table = [
            ("https://gitlab.example.com", "https://gitlab.example.com"),
            ("https://gitlab.example.com/", "https://gitlab.example.com"),
            ("https://gitlab.example.com/api/v4/", "https://gitlab.example.com"),
            ("https://example.com/gitlab/api/v4", "https://example.com/gitlab"),
        ];
        for (url, base) in table {
            assert_eq!(GitLabClient::new(url, "t").base_url(), base, "{url}");
        }
        let client = GitLabClient::new("https://gitlab.example.com", "glpat-s3cret");
        let shown = format!("{client:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[tokio::test]
    async fn bad_settings_are_refused_without_a_call() {
        for base in ["ftp://gitlab", "not a url", "https://gitlab/?x=1"] {
            let err = GitLabClient::new(base, "t").check().await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Refused, "{base}");
            assert!(err.message.starts_with("invalid base URL"), "{err}");
        }
        let err = GitLabClient::new("http://127.0.0.1:1", "bad\ntoken").check().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
        let client = GitLabClient::new("http://127.0.0.1:1", "t");
        let err = client.ensure_member(1, 2, 35).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused);
        assert!(err.message.contains("35 is no access level"), "{err}");
        let err = client.ensure_group("acme/dev", "Dev", Visibility::Private, None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused);
    }
}
