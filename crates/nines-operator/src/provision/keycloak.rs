//! Keycloak through its Admin REST API: the groups a tenant is made of and
//! the memberships of its users, in one realm.
//!
//! nines authenticates as a confidential client with a service account
//! (client-credentials grant). The least privilege a platform team can give
//! it is the `realm-admin` role of the realm's own `realm-management` client;
//! a client of another realm (typically `master`) works too when
//! [`KeycloakAdmin::with_token_realm`] names that realm.
//!
//! What this module keeps to, because Keycloak answers that way:
//!
//! - A created object's id is only in the `Location` header of the `201`.
//! - A name taken by a sibling is `409 Conflict`: the existing group is looked
//!   up and returned instead ([`Outcome::Adopted`], or [`Outcome::Unchanged`]
//!   when it carries nines' [`CREATED_BY`] marker from an earlier run).
//! - Lists are paged with `first`/`max`, and a page is short only at the end
//!   (subgroups default to pages of 10): every list here is read to its end.
//! - `PUT /groups/{id}` replaces the attributes as a whole, so changing some
//!   is read-modify-write of the full representation.
//!
//! The client decides nothing about tenants: the controller asks, this module
//! answers with [`Outcome`]s and [`ProvisionError`]s. It never logs the
//! client secret nor a token.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{CREATED_BY, ErrorKind, Outcome, ProvisionError, Result, System};

/// The value of the [`CREATED_BY`] attribute on groups nines created.
pub const CREATED_BY_NINES: &str = "nines";

/// Items asked for per page when reading a list.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// A Keycloak group, with the fields nines reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: String,
    pub name: String,
    /// `/parent/child`; Keycloak fills it on every read.
    #[serde(default)]
    pub path: String,
    /// Absent from brief representations (the groups of a user).
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_group_count: Option<u64>,
}

/// A Keycloak user, with the fields nines reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// How an existing group was met by a create: nines' own from an earlier run
/// is left as it is, anything else is taken over.
fn existing_outcome(group: &Group) -> Outcome {
    if KeycloakAdmin::created_by_nines(group) { Outcome::Unchanged } else { Outcome::Adopted }
}

/// The Keycloak Admin REST API of one realm.
pub struct KeycloakAdmin {
    http: reqwest::Client,
    /// Without a trailing slash; may hold a context path (`/auth`).
    base: String,
    realm: String,
    token_realm: String,
    client_id: String,
    client_secret: String,
    page_size: u32,
    token: Mutex<Option<Token>>,
}

/// A bearer token and when to stop using it.
struct Token {
    value: String,
    renew_at: Instant,
}

impl fmt::Debug for KeycloakAdmin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeycloakAdmin")
            .field("base", &self.base)
            .field("realm", &self.realm)
            .field("token_realm", &self.token_realm)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// When to fetch a new token: before it expires by the smaller of 30 s and a
/// tenth of its lifetime, so a call never starts with a token about to lapse
/// yet a short-lived token is still reused.
pub fn renew_at(obtained: Instant, lifetime: Duration) -> Instant {
    obtained + lifetime.saturating_sub(Duration::from_secs(30).min(lifetime / 10))
}

/// Percent-encodes one path segment (or a form value): everything but the
/// unreserved characters of RFC 3986, so a name never changes the path.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A group path (`/acme/dev` or `acme/dev`) as the tail of a
/// `group-by-path` URL: each name encoded, the separators kept. Keycloak
/// matches the decoded path, so a name holding `/` cannot be told apart from
/// two levels; nines' tenant names never hold one.
pub fn encode_group_path(path: &str) -> String {
    path.trim_start_matches('/').split('/').map(encode_segment).collect::<Vec<_>>().join("/")
}

/// The id of a created object from the `Location` header of a `201`
/// (`.../groups/<id>`): its last non-empty path segment.
pub fn id_from_location(location: &str) -> Option<String> {
    let path = location.split(['?', '#']).next().unwrap_or_default();
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    (!last.is_empty() && !last.contains(':')).then(|| last.to_string())
}

/// What a failed answer asks of the controller.
pub fn error_kind(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Unauthorized,
        408 | 429 => ErrorKind::Transient,
        400..=499 => ErrorKind::Refused,
        500..=599 => ErrorKind::Transient,
        // a redirect (not followed) means the base URL is wrong
        300..=399 => ErrorKind::Refused,
        _ => ErrorKind::Transient,
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let secs = at.as_second() - now.as_second();
    Some(Duration::from_secs(secs.max(0) as u64))
}

/// Keycloak's own words from an error body: `errorMessage` (admin API),
/// `error` with `error_description` (token endpoint), or the text itself.
fn error_detail(body: &str) -> Option<String> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(m) = text("errorMessage") {
            return Some(m.to_string());
        }
        match (text("error"), text("error_description")) {
            (Some(e), Some(d)) => return Some(format!("{e}: {d}")),
            (Some(e), None) | (None, Some(e)) => return Some(e.to_string()),
            (None, None) => {}
        }
    }
    let mut s: String = body.chars().take(200).collect();
    if s.len() < body.len() {
        s.push('…');
    }
    Some(s)
}

/// The error for a failed answer: `{what}: 403 Forbidden (detail)`.
pub fn answer_error(what: &str, status: StatusCode, body: &str, retry_after: Option<Duration>) -> ProvisionError {
    let mut message = format!("{what}: {status}");
    if let Some(d) = error_detail(body) {
        message.push_str(&format!(" ({d})"));
    }
    ProvisionError {
        system: System::Keycloak,
        kind: error_kind(status.as_u16()),
        message,
        retry_after: if error_kind(status.as_u16()) == ErrorKind::Transient { retry_after } else { None },
    }
}

fn transport_error(what: &str, e: &reqwest::Error) -> ProvisionError {
    super::transport_error(System::Keycloak, what, e)
}

fn unexpected(what: &str, detail: impl fmt::Display) -> ProvisionError {
    super::unexpected(System::Keycloak, what, detail)
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

async fn json_body<T: DeserializeOwned>(what: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().await.map_err(|e| transport_error(what, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| unexpected(what, e))
}

/// The id of what a `201` created.
fn created_id(what: &str, resp: &Response) -> Result<String> {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(id_from_location)
        .ok_or_else(|| unexpected(what, "201 without a Location header naming the new id"))
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: u64,
}

impl KeycloakAdmin {
    /// A client of `realm` at `base_url` (`https://sso.example.com`, or with
    /// its context path), authenticating as `client_id` of the same realm.
    /// A base URL that is no http(s) URL fails every call as `Refused`.
    pub fn new(base_url: &str, realm: &str, client_id: &str, client_secret: &str) -> KeycloakAdmin {
        let http = super::http_client();
        KeycloakAdmin {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            realm: realm.to_string(),
            token_realm: realm.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            page_size: DEFAULT_PAGE_SIZE,
            token: Mutex::new(None),
        }
    }

    /// The client lives in `realm` (e.g. `master`) rather than in the realm
    /// it administers.
    pub fn with_token_realm(mut self, realm: &str) -> KeycloakAdmin {
        self.token_realm = realm.to_string();
        self
    }

    /// Items per page when reading lists (at least 1).
    pub fn with_page_size(mut self, size: u32) -> KeycloakAdmin {
        self.page_size = size.max(1);
        self
    }

    /// The realm administered.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Whether nines created `group` (it carries the [`CREATED_BY`] marker),
    /// and so may delete it.
    pub fn created_by_nines(group: &Group) -> bool {
        group.attributes.get(CREATED_BY).is_some_and(|v| v.iter().any(|x| x == CREATED_BY_NINES))
    }

    /// The base URL, if it is one nines can call.
    fn checked_base(&self) -> Result<&str> {
        match reqwest::Url::parse(&self.base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Ok(&self.base),
            _ => Err(ProvisionError::new(
                System::Keycloak,
                ErrorKind::Refused,
                format!("invalid base URL {:?}: not an http(s) URL without a query", self.base),
            )),
        }
    }

    /// The admin URL of `tail` (already encoded) in the realm.
    fn url(&self, tail: &str) -> String {
        format!("{}/admin/realms/{}{tail}", self.base, encode_segment(&self.realm))
    }

    /// A valid token: the cached one, or a new one.
    async fn token(&self) -> Result<String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let what = format!("getting a token for client {:?} in realm {:?}", self.client_id, self.token_realm);
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.checked_base()?,
            encode_segment(&self.token_realm)
        );
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            encode_segment(&self.client_id),
            encode_segment(&self.client_secret)
        );
        let obtained = Instant::now();
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| transport_error(&what, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let mut err = fail(&what, resp).await;
            // the token endpoint says 400 for a client not allowed the grant
            // (no service account) and 401 for a wrong secret: both are the
            // credentials' fault
            if status == StatusCode::BAD_REQUEST
                && ["unauthorized_client", "invalid_client", "invalid_grant"].iter().any(|e| err.message.contains(e))
            {
                err.kind = ErrorKind::Unauthorized;
            }
            return Err(err);
        }
        let answer: TokenAnswer = json_body(&what, resp).await?;
        tracing::debug!(client_id = %self.client_id, realm = %self.token_realm, expires_in = answer.expires_in, "keycloak token obtained");
        let token =
            Token { value: answer.access_token, renew_at: renew_at(obtained, Duration::from_secs(answer.expires_in)) };
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets `used` if it is still the cached token.
    async fn forget_token(&self, used: &str) {
        let mut cached = self.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.value == used) {
            *cached = None;
        }
    }

    /// Sends one admin request with a bearer token; a `401` (the token was
    /// revoked or expired early) is retried once with a new token. Every
    /// other answer is the caller's to read.
    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
    ) -> Result<Response> {
        self.checked_base()?;
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut req = self.http.request(method.clone(), url).bearer_auth(&token);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| transport_error(what, &e))?;
            tracing::debug!(%method, url, status = resp.status().as_u16(), "keycloak admin call");
            if resp.status() == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                self.forget_token(&token).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Checks that the credentials work and reach the realm.
    pub async fn check(&self) -> Result<()> {
        let what = format!("reading realm {:?} as client {:?}", self.realm, self.client_id);
        let resp = self.send(Method::GET, &self.url(""), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(ProvisionError::new(
                System::Keycloak,
                ErrorKind::Refused,
                format!("{what}: 404 Not Found (no such realm)"),
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let mut err = fail(&what, resp).await;
                err.message.push_str(
                    "; the client's service account needs the realm-admin role of the realm's realm-management client",
                );
                Err(err)
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The group at `path` (`/acme/dev`), or None.
    pub async fn group_by_path(&self, path: &str) -> Result<Option<Group>> {
        let what = format!("finding group by path {path:?}");
        let url = self.url(&format!("/group-by-path/{}", encode_group_path(path)));
        let resp = self.send(Method::GET, &url, &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body(&what, resp).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The group with `id` (full representation), or None.
    pub async fn get_group(&self, id: &str) -> Result<Option<Group>> {
        let what = format!("reading group {id}");
        let resp = self.send(Method::GET, &self.group_url(id), &[], None, &what).await?;
        match resp.status() {
            StatusCode::OK => json_body(&what, resp).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(fail(&what, resp).await),
        }
    }

    fn group_url(&self, id: &str) -> String {
        self.url(&format!("/groups/{}", encode_segment(id)))
    }

    /// The representation of a group nines creates: `attributes` plus the
    /// [`CREATED_BY`] marker. Never an `id`: POSTing a representation with
    /// one moves that group instead of creating one.
    fn new_group(name: &str, attributes: &BTreeMap<String, Vec<String>>) -> Value {
        let mut attributes = attributes.clone();
        attributes.insert(CREATED_BY.to_string(), vec![CREATED_BY_NINES.to_string()]);
        json!({"name": name, "attributes": attributes})
    }

    /// Reads back what a `201` created.
    async fn created_group(&self, what: &str, resp: &Response) -> Result<Group> {
        let id = created_id(what, resp)?;
        self.get_group(&id).await?.ok_or_else(|| {
            ProvisionError::new(System::Keycloak, ErrorKind::Transient, format!("{what}: group {id} gone right after"))
        })
    }

    /// Creates the top-level group `name` with `attributes` (and the
    /// [`CREATED_BY`] marker). If the name is taken, the existing group is
    /// returned as found: its attributes are not touched.
    pub async fn create_group(
        &self,
        name: &str,
        attributes: &BTreeMap<String, Vec<String>>,
    ) -> Result<(Group, Outcome)> {
        let what = format!("creating group {name:?}");
        let body = Self::new_group(name, attributes);
        let resp = self.send(Method::POST, &self.url("/groups"), &[], Some(&body), &what).await?;
        match resp.status() {
            StatusCode::CREATED => Ok((self.created_group(&what, &resp).await?, Outcome::Created)),
            StatusCode::CONFLICT => match self.group_by_path(&format!("/{name}")).await? {
                Some(g) => {
                    let outcome = existing_outcome(&g);
                    Ok((g, outcome))
                }
                None => Err(ProvisionError::new(
                    System::Keycloak,
                    ErrorKind::Transient,
                    format!("{what}: 409 Conflict, yet no group at path \"/{name}\""),
                )),
            },
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The subgroup `name` of `parent_id`: the existing one, or a new one
    /// with `attributes` (and the [`CREATED_BY`] marker). An existing
    /// group's attributes are not touched.
    pub async fn ensure_child_group(
        &self,
        parent_id: &str,
        name: &str,
        attributes: &BTreeMap<String, Vec<String>>,
    ) -> Result<(Group, Outcome)> {
        let found = |children: Vec<Group>| children.into_iter().find(|g| g.name == name);
        if let Some(g) = found(self.children(parent_id).await?) {
            let outcome = existing_outcome(&g);
            return Ok((g, outcome));
        }
        let what = format!("creating group {name:?} under group {parent_id}");
        let body = Self::new_group(name, attributes);
        let url = self.url(&format!("/groups/{}/children", encode_segment(parent_id)));
        let resp = self.send(Method::POST, &url, &[], Some(&body), &what).await?;
        match resp.status() {
            StatusCode::CREATED => Ok((self.created_group(&what, &resp).await?, Outcome::Created)),
            // created by someone else since the listing above
            StatusCode::CONFLICT => match found(self.children(parent_id).await?) {
                Some(g) => {
                    let outcome = existing_outcome(&g);
                    Ok((g, outcome))
                }
                None => Err(ProvisionError::new(
                    System::Keycloak,
                    ErrorKind::Transient,
                    format!("{what}: 409 Conflict, yet no such subgroup"),
                )),
            },
            StatusCode::NOT_FOUND => Err(ProvisionError::new(
                System::Keycloak,
                ErrorKind::Refused,
                format!("{what}: 404 Not Found (no parent group {parent_id})"),
            )),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Every page of a list, read until a short page.
    async fn paged<T: DeserializeOwned>(&self, url: &str, query: &[(&str, String)], what: &str) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut first: u64 = 0;
        loop {
            let mut q = query.to_vec();
            q.push(("first", first.to_string()));
            q.push(("max", self.page_size.to_string()));
            let resp = self.send(Method::GET, url, &q, None, what).await?;
            if resp.status() != StatusCode::OK {
                return Err(fail(what, resp).await);
            }
            let page: Vec<T> = json_body(what, resp).await?;
            let n = page.len() as u64;
            all.extend(page);
            // a longer page than asked for means the server ignored paging
            // and sent everything
            if n != u64::from(self.page_size) {
                return Ok(all);
            }
            first += n;
        }
    }

    /// The direct members of group `group_id` (not those of its subgroups).
    pub async fn group_members(&self, group_id: &str) -> Result<Vec<User>> {
        let what = format!("listing members of group {group_id}");
        let url = self.url(&format!("/groups/{}/members", encode_segment(group_id)));
        self.paged(&url, &[("briefRepresentation", "true".to_string())], &what).await
    }

    /// Every subgroup of `parent_id`, with attributes.
    pub async fn children(&self, parent_id: &str) -> Result<Vec<Group>> {
        let what = format!("listing subgroups of group {parent_id}");
        let url = self.url(&format!("/groups/{}/children", encode_segment(parent_id)));
        self.paged(&url, &[("briefRepresentation", "false".into())], &what).await
    }

    /// Sets the attributes named in `attributes` on group `id`, leaving every
    /// other attribute as it is; an empty list removes that attribute.
    /// Value order does not matter. Read-modify-write: Keycloak has no
    /// version to make it atomic, so a concurrent writer of the same group
    /// can lose its change.
    pub async fn set_attributes(&self, id: &str, attributes: &BTreeMap<String, Vec<String>>) -> Result<Outcome> {
        let what = format!("updating attributes of group {id}");
        let url = self.group_url(id);
        let resp = self.send(Method::GET, &url, &[], None, &what).await?;
        let mut rep: Value = match resp.status() {
            StatusCode::OK => json_body(&what, resp).await?,
            StatusCode::NOT_FOUND => {
                return Err(ProvisionError::new(
                    System::Keycloak,
                    ErrorKind::Refused,
                    format!("{what}: 404 Not Found (no such group)"),
                ));
            }
            _ => return Err(fail(&what, resp).await),
        };
        let current: BTreeMap<String, Vec<String>> = match rep.get("attributes") {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| unexpected(&what, e))?,
            _ => BTreeMap::new(),
        };
        let wanted = merge_attributes(&current, attributes);
        if same_attributes(&current, &wanted) {
            return Ok(Outcome::Unchanged);
        }
        rep["attributes"] = json!(wanted);
        let resp = self.send(Method::PUT, &url, &[], Some(&rep), &what).await?;
        if resp.status().is_success() { Ok(Outcome::Updated) } else { Err(fail(&what, resp).await) }
    }

    /// Deletes group `id` and its subgroups: true if it was there.
    pub async fn delete_group(&self, id: &str) -> Result<bool> {
        let what = format!("deleting group {id}");
        let resp = self.send(Method::DELETE, &self.group_url(id), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(fail(&what, resp).await),
        }
    }

    /// The user with exactly this username, else exactly this email (both
    /// compared without case, as Keycloak stores them lower-cased).
    pub async fn find_user(&self, username: Option<&str>, email: Option<&str>) -> Result<Option<User>> {
        if let Some(name) = username {
            let what = format!("finding user {name:?}");
            let query = [("username", name.to_string()), ("exact", "true".into())];
            let users: Vec<User> = self.list(&self.url("/users"), &query, &what).await?;
            if let Some(u) = users.into_iter().find(|u| u.username.to_lowercase() == name.to_lowercase()) {
                return Ok(Some(u));
            }
        }
        if let Some(email) = email {
            let what = format!("finding user with email {email:?}");
            let query = [("email", email.to_string()), ("exact", "true".into())];
            let users: Vec<User> = self.list(&self.url("/users"), &query, &what).await?;
            let wanted = email.to_lowercase();
            return Ok(users.into_iter().find(|u| u.email.as_deref().is_some_and(|e| e.to_lowercase() == wanted)));
        }
        Ok(None)
    }

    /// One unpaged list (an exact search answers a handful at most).
    async fn list<T: DeserializeOwned>(&self, url: &str, query: &[(&str, String)], what: &str) -> Result<Vec<T>> {
        let resp = self.send(Method::GET, url, query, None, what).await?;
        if resp.status() != StatusCode::OK {
            return Err(fail(what, resp).await);
        }
        json_body(what, resp).await
    }

    /// Every group `user_id` is a direct member of (brief representations:
    /// no attributes).
    pub async fn user_groups(&self, user_id: &str) -> Result<Vec<Group>> {
        let what = format!("listing groups of user {user_id}");
        let url = self.url(&format!("/users/{}/groups", encode_segment(user_id)));
        self.paged(&url, &[], &what).await
    }

    fn membership_url(&self, user_id: &str, group_id: &str) -> String {
        self.url(&format!("/users/{}/groups/{}", encode_segment(user_id), encode_segment(group_id)))
    }

    /// Makes `user_id` a member of `group_id` (idempotent).
    pub async fn add_member(&self, user_id: &str, group_id: &str) -> Result<()> {
        let what = format!("adding user {user_id} to group {group_id}");
        let resp = self.send(Method::PUT, &self.membership_url(user_id, group_id), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => {
                let mut err = fail(&what, resp).await;
                err.message.push_str("; the user or the group does not exist");
                Err(err)
            }
            _ => Err(fail(&what, resp).await),
        }
    }

    /// Ends the membership of `user_id` in `group_id`; a user or group that
    /// is gone counts as done.
    pub async fn remove_member(&self, user_id: &str, group_id: &str) -> Result<()> {
        let what = format!("removing user {user_id} from group {group_id}");
        let resp = self.send(Method::DELETE, &self.membership_url(user_id, group_id), &[], None, &what).await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Ok(()),
            _ => Err(fail(&what, resp).await),
        }
    }
}

/// `current` with the keys of `changes` set (an empty list removes a key).
pub fn merge_attributes(
    current: &BTreeMap<String, Vec<String>>,
    changes: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = current.clone();
    for (k, v) in changes {
        if v.is_empty() {
            out.remove(k);
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Equal as Keycloak keeps them: value order is not kept, and a key without
/// values is no key.
fn same_attributes(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>) -> bool {
    let norm = |m: &BTreeMap<String, Vec<String>>| {
        m.iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort();
                (k.clone(), v)
            })
            .collect::<BTreeMap<_, _>>()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn error_kinds_by_status() {
        let table = [
            (400, ErrorKind::Refused),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Unauthorized),
            (404, ErrorKind::Refused),
            (408, ErrorKind::Transient),
            (409, ErrorKind::Refused),
            (429, ErrorKind::Transient),
            (500, ErrorKind::Transient),
            (502, ErrorKind::Transient),
            (503, ErrorKind::Transient),
            (302, ErrorKind::Refused),
        ];
        for (status, kind) in table {
            assert_eq!(error_kind(status), kind, "{status}");
        }
    }

    #[test]
    fn answer_errors_name_the_call_and_keycloaks_words() {
        let s = |c: u16| StatusCode::from_u16(c).unwrap();
        let table = [
            (
                403,
                r#"{"error":"HTTP 403 Forbidden"}"#,
                None,
                r#"Keycloak: creating group "acme-corp": 403 Forbidden (HTTP 403 Forbidden)"#,
                None,
            ),
            (
                409,
                r#"{"errorMessage":"Top level group named 'acme-corp' already exists."}"#,
                None,
                r#"Keycloak: creating group "acme-corp": 409 Conflict (Top level group named 'acme-corp' already exists.)"#,
                None,
            ),
            (
                401,
                r#"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#,
                None,
                r#"Keycloak: creating group "acme-corp": 401 Unauthorized (unauthorized_client: Invalid client or Invalid client credentials)"#,
                None,
            ),
            (503, "", Some(7), r#"Keycloak: creating group "acme-corp": 503 Service Unavailable"#, Some(7)),
            // a Retry-After on a refusal is no reason to retry
            (400, "bad input", Some(7), r#"Keycloak: creating group "acme-corp": 400 Bad Request (bad input)"#, None),
            (
                429,
                "<html>slow down</html>",
                Some(2),
                r#"Keycloak: creating group "acme-corp": 429 Too Many Requests (<html>slow down</html>)"#,
                Some(2),
            ),
        ];
        for (status, body, retry, message, kept) in table {
            let e = answer_error(r#"creating group "acme-corp""#, s(status), body, retry.map(Duration::from_secs));
            assert_eq!(e.to_string(), message);
            assert_eq!(e.kind, error_kind(status));
            assert_eq!(e.retry_after, kept.map(Duration::from_secs), "{status}");
        }
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        let now: jiff::Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn ids_from_location_headers() {
        let table = [
            ("http://kc:8080/admin/realms/acme/groups/0b4f-11", Some("0b4f-11")),
            ("https://kc/auth/admin/realms/acme/users/abc/", Some("abc")),
            ("/admin/realms/acme/groups/abc?x=1", Some("abc")),
            ("abc", Some("abc")),
            ("", None),
            ("http://kc:8080", None),
        ];
        for (location, id) in table {
            assert_eq!(id_from_location(location).as_deref(), id, "{location}");
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        let table = [
            ("acme-corp", "acme-corp"),
            ("a b", "a%20b"),
            ("a/b", "a%2Fb"),
            ("a?b#c", "a%3Fb%23c"),
            ("100%", "100%25"),
            ("é", "%C3%A9"),
            ("x+y&z=1", "x%2By%26z%3D1"),
            ("a.b_c~d", "a.b_c~d"),
        ];
        for (raw, encoded) in table {
            assert_eq!(encode_segment(raw), encoded, "{raw}");
        }
        assert_eq!(encode_group_path("/acme/dev team"), "acme/dev%20team");
        assert_eq!(encode_group_path("acme"), "acme");
        assert_eq!(encode_group_path("/a?/b#"), "a%3F/b%23");
    }

    #[test]
    fn token_renewal_leaves_a_margin() {
        let t0 = Instant::now();
        assert_eq!(renew_at(t0, Duration::from_secs(300)), t0 + Duration::from_secs(270));
        assert_eq!(renew_at(t0, Duration::from_secs(3600)), t0 + Duration::from_secs(3570));
        assert_eq!(renew_at(t0, Duration::from_secs(10)), t0 + Duration::from_secs(9));
        assert_eq!(renew_at(t0, Duration::ZERO), t0);
    }

    #[test]
    fn attributes_merge_and_compare() {
        let current = attrs(&[("a", &["1"]), ("b", &["x", "y"]), (CREATED_BY, &["nines"])]);
        let merged = merge_attributes(&current, &attrs(&[("a", &["2"]), ("c", &["3"]), ("b", &[])]));
        assert_eq!(merged, attrs(&[("a", &["2"]), ("c", &["3"]), (CREATED_BY, &["nines"])]));
        assert!(same_attributes(&current, &attrs(&[("a", &["1"]), ("b", &["y", "x"]), (CREATED_BY, &["nines"])])));
        assert!(same_attributes(&attrs(&[("a", &[])]), &BTreeMap::new()));
        assert!(!same_attributes(&current, &merged));
    }

    #[test]
    fn created_by_marker() {
        let mut g = Group {
            id: "1".into(),
            name: "acme".into(),
            path: "/acme".into(),
            attributes: BTreeMap::new(),
            sub_group_count: None,
        };
        assert!(!KeycloakAdmin::created_by_nines(&g));
        g.attributes.insert(CREATED_BY.into(), vec!["someone-else".into()]);
        assert!(!KeycloakAdmin::created_by_nines(&g));
        g.attributes.insert(CREATED_BY.into(), vec!["nines".into()]);
        assert!(KeycloakAdmin::created_by_nines(&g));
        assert_eq!(existing_outcome(&g), Outcome::Unchanged);
        g.attributes.clear();
        assert_eq!(existing_outcome(&g), Outcome::Adopted);
        let body = KeycloakAdmin::new_group("acme", &attrs(&[("tier", &["gold"])]));
        assert_eq!(body, json!({"name": "acme", "attributes": {"tier": ["gold"], CREATED_BY: ["nines"]}}));
    }

    #[test]
    fn debug_redacts_the_secret() {
        let kc = KeycloakAdmin::new("http://127.0.0.1:1/", "acme", "nines", "s3cret");
        let shown = format!("{kc:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(kc.base_url(), "http://127.0.0.1:1");
    }

    #[tokio::test]
    async fn a_bad_base_url_is_refused_without_a_call() {
        for base in ["ftp://kc", "not a url", "https://kc/?realm=x"] {
            let err = KeycloakAdmin::new(base, "acme", "nines", "s").check().await.unwrap_err();
            assert_eq!(err.kind, ErrorKind::Refused, "{base}");
            assert!(err.message.starts_with("invalid base URL"), "{err}");
        }
    }
}
