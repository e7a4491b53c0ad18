//! A stateful GitLab double for the provisioning tests: an axum server on
//! loopback that keeps groups (nested, by id and full path), users and
//! direct memberships in memory, and answers the REST API v4 calls nines
//! makes the way GitLab does, status codes and error bodies included.
//!
//! GitLab's OpenAPI document is too large to carry, so [`ENDPOINTS`] writes
//! down, from GitLab's REST API documentation (`doc/api/groups.md`,
//! `members.md`, `users.md`, `rest/index.md`), what each endpoint nines
//! calls accepts: method, path, parameters with their documented types,
//! which are required. Every request is held to it; whatever it does not
//! declare (an unknown endpoint, a path with a raw `/` in a group's full
//! path, an undeclared or mistyped parameter, a missing required one, a body
//! that is not JSON) is recorded as a violation, and tests assert there are
//! none ([`GitLabDouble::assert_no_violations`]).
//!
//! Behaviour switches for the tests: another token, an administrator or not,
//! delayed deletion (Premium), the error shape of `POST /groups` by GitLab
//! version, answers injected in front of everything (`429` with GitLab's
//! rate-limit headers, `503`), a "down" mode whose connections end before
//! any answer, and races: something else creating a group or a membership
//! right after nines looked for it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::vendor_spec::{parse_query, percent_decode};

/// The token [`GitLabDouble::start`] accepts.
pub const TOKEN: &str = "glpat-nines-double-0123456789";

/// The user the token belongs to.
pub const BOT: &str = "nines-bot";

/// The day groups are marked to go in delayed-deletion mode, unless
/// [`GitLabDouble::enable_delayed_deletion`] says another.
pub const DELETION_DAY: &str = "2026-03-08";

// ---------------------------------------------------------------------------
// What GitLab's documentation says the endpoints accept
// ---------------------------------------------------------------------------

/// A documented parameter type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Int,
    Str,
    Bool,
    /// `integer/string`: an id or a URL-encoded path, or ids separated by
    /// commas.
    IntOrStr,
    /// `YEAR-MONTH-DAY`.
    Date,
    /// ISO 8601.
    DateTime,
    /// An object (`hash`).
    Hash,
    IntArray,
    StrArray,
    /// A string among these.
    Enum(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    ty: Ty,
    required: bool,
}

const fn opt(name: &'static str, ty: Ty) -> Param {
    Param { name, ty, required: false }
}

const fn req(name: &'static str, ty: Ty) -> Param {
    Param { name, ty, required: true }
}

/// Which handler answers an endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Route {
    Me,
    Users,
    User,
    Group,
    CreateGroup,
    UpdateGroup,
    DeleteGroup,
    Member,
    AddMember,
    UpdateMember,
    RemoveMember,
}

/// One endpoint as GitLab documents it.
struct Endpoint {
    method: &'static str,
    /// `/api/v4/groups/:id`: `:name` segments are path parameters.
    path: &'static str,
    path_params: &'static [(&'static str, Ty)],
    /// Query parameters, or body fields: GitLab (Grape) reads both alike.
    params: &'static [Param],
    /// At least one of these is required, and at most one may be given.
    one_of: &'static [&'static str],
    /// The documentation section, named in violations.
    doc: &'static str,
    route: Route,
}

const VISIBILITY: Ty = Ty::Enum(&["private", "internal", "public"]);
const PROJECT_CREATION_LEVEL: Ty = Ty::Enum(&["noone", "maintainer", "developer"]);
const SUBGROUP_CREATION_LEVEL: Ty = Ty::Enum(&["owner", "maintainer"]);
const GIT_ACCESS_PROTOCOL: Ty = Ty::Enum(&["ssh", "http", "all"]);
const WIKI_ACCESS_LEVEL: Ty = Ty::Enum(&["disabled", "private", "enabled"]);
const SHARED_RUNNERS_SETTING: Ty =
    Ty::Enum(&["enabled", "disabled_and_overridable", "disabled_and_unoverridable", "disabled_with_override"]);

/// `GET /users` (users.md "List users": for everyone, then administrators
/// only), with offset pagination (rest/index.md).
const LIST_USERS: &[Param] = &[
    opt("username", Ty::Str),
    opt("search", Ty::Str),
    opt("active", Ty::Bool),
    opt("external", Ty::Bool),
    opt("blocked", Ty::Bool),
    opt("humans", Ty::Bool),
    opt("created_after", Ty::DateTime),
    opt("created_before", Ty::DateTime),
    opt("exclude_active", Ty::Bool),
    opt("exclude_external", Ty::Bool),
    opt("exclude_humans", Ty::Bool),
    opt("exclude_internal", Ty::Bool),
    opt("without_project_bots", Ty::Bool),
    opt("extern_uid", Ty::Str),
    opt("provider", Ty::Str),
    opt("order_by", Ty::Enum(&["id", "name", "username", "created_at", "updated_at"])),
    opt("sort", Ty::Enum(&["asc", "desc"])),
    opt("two_factor", Ty::Enum(&["enabled", "disabled"])),
    opt("without_projects", Ty::Bool),
    opt("admins", Ty::Bool),
    opt("auditors", Ty::Bool),
    opt("skip_ldap", Ty::Bool),
    opt("with_custom_attributes", Ty::Bool),
    opt("page", Ty::Int),
    opt("per_page", Ty::Int),
];

/// `POST /groups` (groups.md "New group"; `avatar` is a multipart upload,
/// never JSON).
const CREATE_GROUP: &[Param] = &[
    req("name", Ty::Str),
    req("path", Ty::Str),
    opt("auto_devops_enabled", Ty::Bool),
    opt("default_branch", Ty::Str),
    opt("default_branch_protection", Ty::Int),
    opt("default_branch_protection_defaults", Ty::Hash),
    opt("description", Ty::Str),
    opt("enabled_git_access_protocol", GIT_ACCESS_PROTOCOL),
    opt("emails_disabled", Ty::Bool),
    opt("emails_enabled", Ty::Bool),
    opt("lfs_enabled", Ty::Bool),
    opt("mentions_disabled", Ty::Bool),
    opt("organization_id", Ty::Int),
    opt("parent_id", Ty::Int),
    opt("project_creation_level", PROJECT_CREATION_LEVEL),
    opt("request_access_enabled", Ty::Bool),
    opt("require_two_factor_authentication", Ty::Bool),
    opt("share_with_group_lock", Ty::Bool),
    opt("subgroup_creation_level", SUBGROUP_CREATION_LEVEL),
    opt("two_factor_grace_period", Ty::Int),
    opt("visibility", VISIBILITY),
    opt("membership_lock", Ty::Bool),
    opt("extra_shared_runners_minutes_limit", Ty::Int),
    opt("shared_runners_minutes_limit", Ty::Int),
    opt("wiki_access_level", WIKI_ACCESS_LEVEL),
];

/// `PUT /groups/:id` (groups.md "Update group").
const UPDATE_GROUP: &[Param] = &[
    opt("name", Ty::Str),
    opt("path", Ty::Str),
    opt("auto_devops_enabled", Ty::Bool),
    opt("default_branch", Ty::Str),
    opt("default_branch_protection", Ty::Int),
    opt("default_branch_protection_defaults", Ty::Hash),
    opt("description", Ty::Str),
    opt("enabled_git_access_protocol", GIT_ACCESS_PROTOCOL),
    opt("emails_disabled", Ty::Bool),
    opt("emails_enabled", Ty::Bool),
    opt("lfs_enabled", Ty::Bool),
    opt("mentions_disabled", Ty::Bool),
    opt("prevent_sharing_groups_outside_hierarchy", Ty::Bool),
    opt("project_creation_level", PROJECT_CREATION_LEVEL),
    opt("request_access_enabled", Ty::Bool),
    opt("require_two_factor_authentication", Ty::Bool),
    opt("shared_runners_setting", SHARED_RUNNERS_SETTING),
    opt("share_with_group_lock", Ty::Bool),
    opt("subgroup_creation_level", SUBGROUP_CREATION_LEVEL),
    opt("two_factor_grace_period", Ty::Int),
    opt("visibility", VISIBILITY),
    opt("extra_shared_runners_minutes_limit", Ty::Int),
    opt("file_template_project_id", Ty::Int),
    opt("membership_lock", Ty::Bool),
    opt("prevent_forking_outside_group", Ty::Bool),
    opt("shared_runners_minutes_limit", Ty::Int),
    opt("unique_project_download_limit", Ty::Int),
    opt("unique_project_download_limit_interval_in_seconds", Ty::Int),
    opt("unique_project_download_limit_allowlist", Ty::StrArray),
    opt("unique_project_download_limit_alertlist", Ty::IntArray),
    opt("auto_ban_user_on_excessive_projects_download", Ty::Bool),
    opt("ip_restriction_ranges", Ty::Str),
    opt("wiki_access_level", WIKI_ACCESS_LEVEL),
    opt("math_rendering_limits_enabled", Ty::Bool),
    opt("lock_math_rendering_limits_enabled", Ty::Bool),
    opt("duo_features_enabled", Ty::Bool),
    opt("lock_duo_features_enabled", Ty::Bool),
];

/// The endpoints nines calls, as documented.
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/api/v4/user",
        path_params: &[],
        params: &[],
        one_of: &[],
        doc: "users.md: Get the current user",
        route: Route::Me,
    },
    Endpoint {
        method: "GET",
        path: "/api/v4/users",
        path_params: &[],
        params: LIST_USERS,
        one_of: &[],
        doc: "users.md: List users",
        route: Route::Users,
    },
    Endpoint {
        method: "GET",
        path: "/api/v4/users/:id",
        path_params: &[("id", Ty::Int)],
        params: &[],
        one_of: &[],
        doc: "users.md: Get a single user",
        route: Route::User,
    },
    Endpoint {
        method: "GET",
        path: "/api/v4/groups/:id",
        path_params: &[("id", Ty::IntOrStr)],
        params: &[opt("with_custom_attributes", Ty::Bool), opt("with_projects", Ty::Bool)],
        one_of: &[],
        doc: "groups.md: Details of a group",
        route: Route::Group,
    },
    Endpoint {
        method: "POST",
        path: "/api/v4/groups",
        path_params: &[],
        params: CREATE_GROUP,
        one_of: &[],
        doc: "groups.md: New group",
        route: Route::CreateGroup,
    },
    Endpoint {
        method: "PUT",
        path: "/api/v4/groups/:id",
        path_params: &[("id", Ty::Int)],
        params: UPDATE_GROUP,
        one_of: &[],
        doc: "groups.md: Update group",
        route: Route::UpdateGroup,
    },
    Endpoint {
        method: "DELETE",
        path: "/api/v4/groups/:id",
        path_params: &[("id", Ty::IntOrStr)],
        params: &[opt("permanently_remove", Ty::Bool), opt("full_path", Ty::Str)],
        one_of: &[],
        doc: "groups.md: Delete group",
        route: Route::DeleteGroup,
    },
    Endpoint {
        method: "GET",
        path: "/api/v4/groups/:id/members/:user_id",
        path_params: &[("id", Ty::IntOrStr), ("user_id", Ty::Int)],
        params: &[],
        one_of: &[],
        doc: "members.md: Get a member of a group or project",
        route: Route::Member,
    },
    Endpoint {
        method: "POST",
        path: "/api/v4/groups/:id/members",
        path_params: &[("id", Ty::IntOrStr)],
        params: &[
            opt("user_id", Ty::IntOrStr),
            opt("username", Ty::Str),
            req("access_level", Ty::Int),
            opt("expires_at", Ty::Date),
            opt("invite_source", Ty::Str),
            opt("member_role_id", Ty::Int),
        ],
        one_of: &["user_id", "username"],
        doc: "members.md: Add a member to a group or project",
        route: Route::AddMember,
    },
    Endpoint {
        method: "PUT",
        path: "/api/v4/groups/:id/members/:user_id",
        path_params: &[("id", Ty::IntOrStr), ("user_id", Ty::Int)],
        params: &[req("access_level", Ty::Int), opt("expires_at", Ty::Date), opt("member_role_id", Ty::Int)],
        one_of: &[],
        doc: "members.md: Edit a member of a group or project",
        route: Route::UpdateMember,
    },
    Endpoint {
        method: "DELETE",
        path: "/api/v4/groups/:id/members/:user_id",
        path_params: &[("id", Ty::IntOrStr), ("user_id", Ty::Int)],
        params: &[opt("skip_subresources", Ty::Bool), opt("unassign_issuables", Ty::Bool)],
        one_of: &[],
        doc: "members.md: Remove a member from a group or project",
        route: Route::RemoveMember,
    },
];

/// A parameter's value and where it came from.
#[derive(Debug, Clone)]
enum Given {
    /// A query parameter: always text.
    Query(String),
    /// A field of the JSON body.
    Json(Value),
}

impl Given {
    fn as_value(&self) -> Value {
        match self {
            Given::Query(s) => Value::String(s.clone()),
            Given::Json(v) => v.clone(),
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Given::Query(s) => Some(s.clone()),
            Given::Json(Value::String(s)) => Some(s.clone()),
            Given::Json(Value::Number(n)) => Some(n.to_string()),
            Given::Json(Value::Bool(b)) => Some(b.to_string()),
            Given::Json(_) => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Given::Json(Value::Number(n)) => n.as_i64(),
            other => other.text()?.trim().parse().ok(),
        }
    }

    fn truthy(&self) -> bool {
        matches!(self.text().as_deref(), Some("true" | "1" | "yes"))
    }
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok()
}

fn is_datetime(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok() || s.parse::<jiff::civil::DateTime>().is_ok() || is_date(s)
}

/// Whether `given` is of the documented type `ty`: query text as Grape
/// would coerce it, JSON by its JSON type (a number sent as a string is not
/// an integer).
fn type_error(ty: Ty, given: &Given) -> Option<String> {
    let ok = match (ty, given) {
        (_, Given::Json(Value::Null)) => return Some(format!("null where the documentation says {ty:?}")),
        (Ty::Str, Given::Query(_)) | (Ty::IntOrStr, Given::Query(_)) => true,
        (Ty::Int, Given::Query(s)) => s.parse::<i64>().is_ok(),
        (Ty::Bool, Given::Query(s)) => matches!(s.as_str(), "true" | "false"),
        (Ty::Date, Given::Query(s)) => is_date(s),
        (Ty::DateTime, Given::Query(s)) => is_datetime(s),
        (Ty::IntArray, Given::Query(s)) => s.split(',').all(|p| p.trim().parse::<i64>().is_ok()),
        (Ty::StrArray, Given::Query(_)) => true,
        (Ty::Hash, Given::Query(_)) => false,
        (Ty::Enum(values), Given::Query(s)) => values.contains(&s.as_str()),
        (Ty::Str, Given::Json(v)) => v.is_string(),
        (Ty::Int, Given::Json(v)) => v.is_i64() || v.is_u64(),
        (Ty::Bool, Given::Json(v)) => v.is_boolean(),
        (Ty::IntOrStr, Given::Json(v)) => v.is_i64() || v.is_u64() || v.is_string(),
        (Ty::Date, Given::Json(v)) => v.as_str().is_some_and(is_date),
        (Ty::DateTime, Given::Json(v)) => v.as_str().is_some_and(is_datetime),
        (Ty::Hash, Given::Json(v)) => v.is_object(),
        (Ty::IntArray, Given::Json(v)) => v.as_array().is_some_and(|a| a.iter().all(|x| x.is_i64())),
        (Ty::StrArray, Given::Json(v)) => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        (Ty::Enum(values), Given::Json(v)) => v.as_str().is_some_and(|s| values.contains(&s)),
    };
    (!ok).then(|| format!("{} is not {ty:?}", given.as_value()))
}

/// A request held to [`ENDPOINTS`]: the endpoint, its decoded path
/// parameters and its parameters, and what does not match the
/// documentation.
struct Checked {
    endpoint: Option<&'static Endpoint>,
    path: BTreeMap<String, String>,
    params: BTreeMap<String, Given>,
    violations: Vec<String>,
}

fn match_path(pattern: &str, raw: &str) -> Option<BTreeMap<String, String>> {
    let want: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let got: Vec<&str> = raw.trim_start_matches('/').split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let mut values = BTreeMap::new();
    for (w, g) in want.iter().zip(&got) {
        match w.strip_prefix(':') {
            Some(name) if !g.is_empty() => {
                values.insert(name.to_string(), percent_decode(g));
            }
            Some(_) => return None,
            None if w == g => {}
            None => return None,
        }
    }
    Some(values)
}

fn check_request(method: &str, raw_path: &str, raw_query: &str, body: &SentBody) -> Checked {
    let mut violations = vec![];
    let at = format!("{method} {raw_path}");
    let Some((endpoint, path)) =
        ENDPOINTS.iter().filter(|e| e.method == method).find_map(|e| match_path(e.path, raw_path).map(|p| (e, p)))
    else {
        violations.push(format!("{at}: no documented endpoint has this method and path"));
        return Checked { endpoint: None, path: BTreeMap::new(), params: BTreeMap::new(), violations };
    };
    let at = format!("{method} {} ({})", endpoint.path, endpoint.doc);
    for (name, ty) in endpoint.path_params {
        if let Some(e) = path.get(*name).and_then(|v| type_error(*ty, &Given::Query(v.clone()))) {
            violations.push(format!("{at}: path parameter {name}: {e}"));
        }
    }

    let mut params: BTreeMap<String, Given> = BTreeMap::new();
    for (k, v) in parse_query(raw_query) {
        if params.insert(k.clone(), Given::Query(v)).is_some() {
            violations.push(format!("{at}: query parameter {k} given twice"));
        }
    }
    match body {
        SentBody::None => {}
        SentBody::Json(v) if matches!(method, "POST" | "PUT") => match v.as_object() {
            Some(fields) => {
                for (k, v) in fields {
                    if params.insert(k.clone(), Given::Json(v.clone())).is_some() {
                        violations.push(format!("{at}: {k} given in both the query and the body"));
                    }
                }
            }
            None => violations.push(format!("{at}: the JSON body is no object")),
        },
        SentBody::Other if matches!(method, "POST" | "PUT") => {
            violations.push(format!("{at}: the body is not JSON (application/json)"));
        }
        SentBody::Json(_) | SentBody::Other => violations.push(format!("{at}: a body GitLab does not take here")),
    }

    for (name, given) in &params {
        match endpoint.params.iter().find(|p| p.name == name) {
            None => violations.push(format!("{at}: {name} is not a documented parameter")),
            Some(p) => {
                if let Some(e) = type_error(p.ty, given) {
                    violations.push(format!("{at}: {name}: {e}"));
                }
            }
        }
    }
    for p in endpoint.params.iter().filter(|p| p.required) {
        if !params.contains_key(p.name) {
            violations.push(format!("{at}: required parameter {} missing", p.name));
        }
    }
    if !endpoint.one_of.is_empty() {
        let n = endpoint.one_of.iter().filter(|k| params.contains_key(**k)).count();
        if n != 1 {
            violations.push(format!("{at}: exactly one of {} is required, {n} given", endpoint.one_of.join(", ")));
        }
    }
    Checked { endpoint: Some(endpoint), path, params, violations }
}

/// A request body as received.
enum SentBody {
    None,
    Json(Value),
    /// Not empty, and not JSON.
    Other,
}

// ---------------------------------------------------------------------------
// What the double keeps
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct DGroup {
    id: i64,
    name: String,
    path: String,
    parent_id: Option<i64>,
    visibility: String,
    description: String,
    marked_for_deletion_on: Option<String>,
}

#[derive(Debug, Clone)]
struct DUser {
    id: i64,
    username: String,
    name: String,
    /// The primary address: shown to administrators only.
    email: String,
    /// Empty when the user shows none, as GitLab answers it.
    public_email: String,
    admin: bool,
}

/// One request the double answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// As sent: still percent-encoded.
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
    /// Answered by an injection rather than by the double's GitLab.
    pub injected: bool,
}

/// An answer given in front of everything, as a rate limiter or a proxy in
/// front of GitLab would.
#[derive(Debug, Clone)]
pub struct Injection {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    content_type: &'static str,
    method: Option<String>,
    path_prefix: String,
    times: usize,
}

impl Injection {
    /// GitLab's rate limiter (Rack::Attack): `429`, `Retry-After` and the
    /// `RateLimit-*` headers, the text `Retry later`.
    pub fn rate_limited(retry_after_secs: u64) -> Injection {
        let reset = jiff::Timestamp::now().as_second() + retry_after_secs as i64;
        let reset_time = jiff::Timestamp::from_second(reset).unwrap();
        let headers = vec![
            ("Retry-After".to_string(), retry_after_secs.to_string()),
            ("RateLimit-Name".to_string(), "throttle_authenticated_api".to_string()),
            ("RateLimit-Limit".to_string(), "60".to_string()),
            ("RateLimit-Observed".to_string(), "61".to_string()),
            ("RateLimit-Remaining".to_string(), "0".to_string()),
            ("RateLimit-Reset".to_string(), reset.to_string()),
            (
                "RateLimit-ResetTime".to_string(),
                jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&reset_time).unwrap(),
            ),
        ];
        Injection {
            status: 429,
            headers,
            body: "Retry later\n".into(),
            content_type: "text/plain",
            method: None,
            path_prefix: String::new(),
            times: 1,
        }
    }

    /// A `503` from the proxy in front of a GitLab that is restarting.
    pub fn unavailable() -> Injection {
        Injection {
            status: 503,
            headers: vec![],
            body: "<html><body><h1>503 Service Unavailable</h1>GitLab is not responding.</body></html>".into(),
            content_type: "text/html",
            method: None,
            path_prefix: String::new(),
            times: 1,
        }
    }

    /// Leaves out `Retry-After`, as some of GitLab's limiters and older
    /// versions do, leaving the `RateLimit-*` headers.
    pub fn without_retry_after(mut self) -> Injection {
        self.headers.retain(|(k, _)| k != "Retry-After");
        self
    }

    /// Only requests with this method whose path starts with `prefix`.
    pub fn only(mut self, method: &str, prefix: &str) -> Injection {
        self.method = Some(method.to_string());
        self.path_prefix = prefix.to_string();
        self
    }

    /// For the next `n` matching requests (1 by default).
    pub fn times(mut self, n: usize) -> Injection {
        self.times = n;
        self
    }
}

/// Someone else's write, made right after nines' next lookup of it missed.
#[derive(Debug, Clone)]
enum Race {
    Group { full_path: String, name: String, visibility: String },
    Member { group_id: i64, user_id: i64, level: u32 },
}

/// Shapes of a refused `POST /groups`, by GitLab version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CreateErrors {
    /// `{"message": {"path": ["has already been taken"]}}` (older versions).
    Object,
    /// `{"message": "Failed to save group {:path=>[\"has already been
    /// taken\"]}"}` (newer versions: `render_api_error!` with the errors).
    Text,
}

struct World {
    token: String,
    me: i64,
    groups: BTreeMap<i64, DGroup>,
    users: BTreeMap<i64, DUser>,
    /// (group, user) → access level
    members: BTreeMap<(i64, i64), u32>,
    next_group: i64,
    next_user: i64,
    /// The day groups are marked to go, when deletion is delayed.
    delayed_deletion: Option<String>,
    create_errors: CreateErrors,
    injections: Vec<Injection>,
    races: Vec<Race>,
    seen: Vec<Seen>,
    violations: Vec<String>,
}

/// One answer: status, JSON (or text) body, extra headers.
struct Answer {
    status: u16,
    json: Option<Value>,
    text: Option<(String, &'static str)>,
    headers: Vec<(String, String)>,
}

impl Answer {
    fn json(status: u16, body: Value) -> Answer {
        Answer { status, json: Some(body), text: None, headers: vec![] }
    }

    fn empty(status: u16) -> Answer {
        Answer { status, json: None, text: None, headers: vec![] }
    }

    /// `{"message": "..."}`, GitLab's `render_api_error!`.
    fn message(status: u16, text: &str) -> Answer {
        Answer::json(status, json!({ "message": text }))
    }

    /// `404 {"message": "404 Group Not Found"}`, GitLab's `not_found!`.
    fn not_found(what: &str) -> Answer {
        Answer::message(404, &format!("404 {what} Not Found"))
    }

    /// `400 {"message": {field: [text]}}`, GitLab's
    /// `render_validation_error!`.
    fn invalid(field: &str, text: &str) -> Answer {
        Answer::json(400, json!({ "message": { field: [text] } }))
    }

    /// `400 {"error": "..."}`, Grape's parameter checks.
    fn bad_param(text: &str) -> Answer {
        Answer::json(400, json!({ "error": text }))
    }
}

/// Visibility levels in GitLab's order.
fn visibility_rank(v: &str) -> u8 {
    match v {
        "public" => 20,
        "internal" => 10,
        _ => 0,
    }
}

fn role_name(level: u32) -> &'static str {
    match level {
        10 => "Guest",
        15 => "Planner",
        20 => "Reporter",
        30 => "Developer",
        40 => "Maintainer",
        50 => "Owner",
        _ => "Unknown",
    }
}

/// GitLab's rule for a group path: letters, digits, `_`, `-`, `.`; not
/// starting with `-` or `.`, not ending in `.`, `.git` or `.atom`.
fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !path.starts_with(['-', '.'])
        && !path.ends_with('.')
        && !path.ends_with(".git")
        && !path.ends_with(".atom")
}

const PATH_RULE: &str =
    "can contain only letters, digits, '_', '-' and '.'. Cannot start with '-', end in '.git' or end in '.atom'";

impl World {
    fn is_admin(&self) -> bool {
        self.users.get(&self.me).is_some_and(|u| u.admin)
    }

    fn full_path(&self, id: i64) -> String {
        let mut parts = vec![];
        let mut at = self.groups.get(&id);
        while let Some(g) = at {
            parts.push(g.path.clone());
            at = g.parent_id.and_then(|p| self.groups.get(&p));
        }
        parts.reverse();
        parts.join("/")
    }

    fn full_name(&self, id: i64) -> String {
        let mut parts = vec![];
        let mut at = self.groups.get(&id);
        while let Some(g) = at {
            parts.push(g.name.clone());
            at = g.parent_id.and_then(|p| self.groups.get(&p));
        }
        parts.reverse();
        parts.join(" / ")
    }

    /// Parents first, the group itself last.
    fn lineage(&self, id: i64) -> Vec<i64> {
        let mut out = vec![];
        let mut at = Some(id);
        while let Some(g) = at.and_then(|i| self.groups.get(&i)) {
            out.push(g.id);
            at = g.parent_id;
        }
        out.reverse();
        out
    }

    fn descendants(&self, id: i64) -> Vec<i64> {
        self.groups.keys().copied().filter(|g| *g != id && self.lineage(*g).contains(&id)).collect()
    }

    /// A group by id or full path (case-insensitive, as GitLab's routes).
    fn find_group(&self, key: &str) -> Option<i64> {
        if let Ok(id) = key.parse::<i64>() {
            return self.groups.contains_key(&id).then_some(id);
        }
        self.groups.keys().copied().find(|id| self.full_path(*id).eq_ignore_ascii_case(key.trim_matches('/')))
    }

    fn group_json(&self, id: i64, with_projects: bool) -> Value {
        let g = &self.groups[&id];
        let full_path = self.full_path(id);
        let mut v = json!({
            "id": g.id,
            "web_url": format!("http://gitlab.example.com/groups/{full_path}"),
            "name": g.name,
            "path": g.path,
            "description": g.description,
            "visibility": g.visibility,
            "share_with_group_lock": false,
            "require_two_factor_authentication": false,
            "two_factor_grace_period": 48,
            "project_creation_level": "developer",
            "auto_devops_enabled": null,
            "subgroup_creation_level": "maintainer",
            "emails_enabled": true,
            "mentions_disabled": null,
            "lfs_enabled": true,
            "default_branch": null,
            "avatar_url": null,
            "request_access_enabled": true,
            "full_name": self.full_name(id),
            "full_path": full_path,
            "created_at": "2026-01-15T12:36:29.590Z",
            "parent_id": g.parent_id,
            "shared_with_groups": [],
        });
        // Premium shows the attribute on every group, null when unmarked
        if self.delayed_deletion.is_some() {
            v["marked_for_deletion_on"] = json!(g.marked_for_deletion_on);
        }
        if with_projects {
            v["projects"] = json!([]);
            v["shared_projects"] = json!([]);
        }
        v
    }

    fn user_basic(u: &DUser) -> Value {
        json!({
            "id": u.id,
            "username": u.username,
            "name": u.name,
            "state": "active",
            "locked": false,
            "avatar_url": null,
            "web_url": format!("http://gitlab.example.com/{}", u.username),
        })
    }

    /// A user in a list: addresses for administrators only.
    fn user_in_list(&self, u: &DUser) -> Value {
        let mut v = World::user_basic(u);
        if self.is_admin() {
            v["email"] = json!(u.email);
            v["public_email"] = json!(u.public_email);
            v["is_admin"] = json!(u.admin);
        }
        v
    }

    /// A single user: the public address for everyone, the primary one for
    /// administrators and the user itself.
    fn user_detail(&self, u: &DUser) -> Value {
        let mut v = World::user_basic(u);
        v["public_email"] = json!(u.public_email);
        v["bio"] = json!("");
        v["bot"] = json!(false);
        if self.is_admin() || u.id == self.me {
            v["email"] = json!(u.email);
            v["is_admin"] = json!(u.admin);
        }
        v
    }

    fn member_json(&self, group_id: i64, user_id: i64) -> Value {
        let u = &self.users[&user_id];
        let mut v = World::user_basic(u);
        v["access_level"] = json!(self.members[&(group_id, user_id)]);
        v["created_at"] = json!("2026-01-15T12:36:29.590Z");
        v["expires_at"] = Value::Null;
        v["group_saml_identity"] = Value::Null;
        v
    }

    fn add_group(&mut self, path: &str, name: &str, visibility: &str, parent_id: Option<i64>) -> i64 {
        let id = self.next_group;
        self.next_group += 1;
        self.groups.insert(
            id,
            DGroup {
                id,
                name: name.into(),
                path: path.into(),
                parent_id,
                visibility: visibility.into(),
                description: String::new(),
                marked_for_deletion_on: None,
            },
        );
        id
    }

    fn remove_group(&mut self, id: i64) {
        let mut gone = self.descendants(id);
        gone.push(id);
        for g in gone {
            self.groups.remove(&g);
            self.members.retain(|(mg, _), _| *mg != g);
        }
    }

    /// Someone else's pending write of `full_path`, applied now; true if
    /// there was one (the lookup that triggers it still misses).
    fn race_group(&mut self, full_path: &str) -> bool {
        let Some(i) = self
            .races
            .iter()
            .position(|r| matches!(r, Race::Group { full_path: p, .. } if p.eq_ignore_ascii_case(full_path)))
        else {
            return false;
        };
        let Race::Group { full_path, name, visibility } = self.races.remove(i) else { unreachable!() };
        let (parent, path) = match full_path.rsplit_once('/') {
            Some((parent, path)) => (self.find_group(parent), path.to_string()),
            None => (None, full_path.clone()),
        };
        self.add_group(&path, &name, &visibility, parent);
        true
    }

    fn race_member(&mut self, group_id: i64, user_id: i64) -> bool {
        let Some(i) = self
            .races
            .iter()
            .position(|r| matches!(r, Race::Member { group_id: g, user_id: u, .. } if *g == group_id && *u == user_id))
        else {
            return false;
        };
        let Race::Member { level, .. } = self.races.remove(i) else { unreachable!() };
        self.members.insert((group_id, user_id), level);
        true
    }

    /// GitLab's refusal of a level below one inherited from a parent group.
    fn inherited_refusal(&self, group_id: i64, user_id: i64, level: u32) -> Option<Answer> {
        let lineage = self.lineage(group_id);
        for ancestor in &lineage[..lineage.len() - 1] {
            if let Some(&inherited) = self.members.get(&(*ancestor, user_id))
                && inherited > level
            {
                let text = format!(
                    "should be greater than or equal to {} inherited membership from group {}",
                    role_name(inherited),
                    self.groups[ancestor].name
                );
                return Some(Answer::invalid("access_level", &text));
            }
        }
        None
    }

    fn answer(&mut self, c: &Checked, method: &str) -> Answer {
        let Some(endpoint) = c.endpoint else {
            return Answer::json(404, json!({"error": "404 Not Found"}));
        };
        let p = |k: &str| c.params.get(k);
        let path = |k: &str| c.path.get(k).cloned().unwrap_or_default();
        match endpoint.route {
            Route::Me => Answer::json(200, self.user_detail(&self.users[&self.me])),
            Route::Users => self.list_users(p("username"), p("search"), p("page"), p("per_page")),
            Route::User => match path("id").parse::<i64>().ok().and_then(|id| self.users.get(&id)) {
                Some(u) => Answer::json(200, self.user_detail(u)),
                None => Answer::not_found("User"),
            },
            Route::Group => {
                let key = path("id");
                if self.race_group(&key) {
                    return Answer::not_found("Group");
                }
                match self.find_group(&key) {
                    Some(id) => Answer::json(200, self.group_json(id, p("with_projects").is_none_or(Given::truthy))),
                    None => Answer::not_found("Group"),
                }
            }
            Route::CreateGroup => self.create_group(&c.params),
            Route::UpdateGroup => match self.find_group(&path("id")) {
                Some(id) => self.update_group(id, &c.params),
                None => Answer::not_found("Group"),
            },
            Route::DeleteGroup => match self.find_group(&path("id")) {
                Some(id) => self.delete_group(id, &c.params),
                None => Answer::not_found("Group"),
            },
            Route::Member | Route::AddMember | Route::UpdateMember | Route::RemoveMember => {
                let Some(group_id) = self.find_group(&path("id")) else {
                    return Answer::not_found("Group");
                };
                if endpoint.route == Route::AddMember {
                    return self.add_member(group_id, &c.params);
                }
                let user_id = path("user_id").parse::<i64>().unwrap_or(-1);
                if method == "GET" && self.race_member(group_id, user_id) {
                    return Answer::message(404, "404 Not found");
                }
                if !self.members.contains_key(&(group_id, user_id)) {
                    return Answer::message(404, "404 Not found");
                }
                match endpoint.route {
                    Route::Member => Answer::json(200, self.member_json(group_id, user_id)),
                    Route::UpdateMember => self.update_member(group_id, user_id, &c.params),
                    _ => {
                        self.members.remove(&(group_id, user_id));
                        Answer::empty(204)
                    }
                }
            }
        }
    }

    fn list_users(
        &self,
        username: Option<&Given>,
        search: Option<&Given>,
        page: Option<&Given>,
        per_page: Option<&Given>,
    ) -> Answer {
        let admin = self.is_admin();
        let mut users: Vec<&DUser> = self.users.values().collect();
        if let Some(name) = username.and_then(Given::text) {
            users.retain(|u| u.username.eq_ignore_ascii_case(&name));
        }
        if let Some(s) = search.and_then(Given::text) {
            let needle = s.to_lowercase();
            users.retain(|u| {
                u.username.to_lowercase().contains(&needle)
                    || u.name.to_lowercase().contains(&needle)
                    || (!u.public_email.is_empty() && u.public_email.eq_ignore_ascii_case(&s))
                    || (admin && u.email.eq_ignore_ascii_case(&s))
            });
        }
        let per_page = per_page.and_then(Given::int).unwrap_or(20).clamp(1, 100) as usize;
        let page = page.and_then(Given::int).unwrap_or(1).max(1) as usize;
        let list: Vec<Value> =
            users.into_iter().skip((page - 1) * per_page).take(per_page).map(|u| self.user_in_list(u)).collect();
        Answer::json(200, Value::Array(list))
    }

    /// `400` for a refused create, in this double's GitLab version's shape.
    fn create_refused(&self, errors: &BTreeMap<&str, Vec<String>>) -> Answer {
        match self.create_errors {
            CreateErrors::Object => Answer::json(400, json!({ "message": errors })),
            CreateErrors::Text => {
                // Ruby's Hash#inspect, as "#{group.errors.messages}" prints
                let fields: Vec<String> = errors
                    .iter()
                    .map(|(k, msgs)| {
                        let list: Vec<String> = msgs.iter().map(|m| format!("{m:?}")).collect();
                        format!(":{k}=>[{}]", list.join(", "))
                    })
                    .collect();
                Answer::message(400, &format!("Failed to save group {{{}}}", fields.join(", ")))
            }
        }
    }

    fn create_group(&mut self, params: &BTreeMap<String, Given>) -> Answer {
        let text = |k: &str| params.get(k).and_then(Given::text);
        let (Some(name), Some(path)) = (text("name"), text("path")) else {
            return Answer::bad_param("name is missing, path is missing");
        };
        let visibility = text("visibility").unwrap_or_else(|| "private".into());
        if visibility_rank(&visibility) == 0 && visibility != "private" {
            return Answer::bad_param("visibility does not have a valid value");
        }
        let parent_id = match params.get("parent_id") {
            Some(g) => match g.int().filter(|id| self.groups.contains_key(id)) {
                Some(id) => Some(id),
                None => return Answer::not_found("Group"),
            },
            None => None,
        };
        let mut errors: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        if !valid_path(&path) {
            errors.entry("path").or_default().push(PATH_RULE.into());
        }
        let siblings: Vec<&DGroup> = self.groups.values().filter(|g| g.parent_id == parent_id).collect();
        // top-level groups share one namespace with users
        let user_has_it = parent_id.is_none() && self.users.values().any(|u| u.username.eq_ignore_ascii_case(&path));
        if user_has_it || siblings.iter().any(|g| g.path.eq_ignore_ascii_case(&path)) {
            errors.entry("path").or_default().push("has already been taken".into());
        }
        if siblings.iter().any(|g| g.name.eq_ignore_ascii_case(&name)) {
            errors.entry("name").or_default().push("has already been taken".into());
        }
        if let Some(parent) = parent_id.map(|p| &self.groups[&p])
            && visibility_rank(&visibility) > visibility_rank(&parent.visibility)
        {
            errors.entry("visibility_level").or_default().push(format!(
                "{visibility} is not allowed since the parent group has a {} visibility.",
                parent.visibility
            ));
        }
        if !errors.is_empty() {
            return self.create_refused(&errors);
        }
        let id = self.add_group(&path, &name, &visibility, parent_id);
        if let Some(d) = text("description") {
            self.groups.get_mut(&id).unwrap().description = d;
        }
        // GitLab makes the creator an owner of the group
        self.members.insert((id, self.me), 50);
        Answer::json(201, self.group_json(id, true))
    }

    fn update_group(&mut self, id: i64, params: &BTreeMap<String, Given>) -> Answer {
        let text = |k: &str| params.get(k).and_then(Given::text);
        if let Some(v) = text("visibility") {
            if visibility_rank(&v) == 0 && v != "private" {
                return Answer::bad_param("visibility does not have a valid value");
            }
            let g = &self.groups[&id];
            if let Some(parent) = g.parent_id.map(|p| &self.groups[&p])
                && visibility_rank(&v) > visibility_rank(&parent.visibility)
            {
                let text = format!("{v} is not allowed since the parent group has a {} visibility.", parent.visibility);
                return Answer::invalid("visibility_level", &text);
            }
            let higher_children = self
                .groups
                .values()
                .any(|c| c.parent_id == Some(id) && visibility_rank(&c.visibility) > visibility_rank(&v));
            if higher_children {
                let text = format!("{v} is not allowed since there are sub-groups with higher visibility.");
                return Answer::invalid("visibility_level", &text);
            }
            self.groups.get_mut(&id).unwrap().visibility = v;
        }
        if let Some(name) = text("name") {
            self.groups.get_mut(&id).unwrap().name = name;
        }
        if let Some(path) = text("path") {
            if !valid_path(&path) {
                return Answer::invalid("path", PATH_RULE);
            }
            self.groups.get_mut(&id).unwrap().path = path;
        }
        if let Some(d) = text("description") {
            self.groups.get_mut(&id).unwrap().description = d;
        }
        Answer::json(200, self.group_json(id, true))
    }

    fn delete_group(&mut self, id: i64, params: &BTreeMap<String, Given>) -> Answer {
        let accepted = || Answer::message(202, "202 Accepted");
        if params.get("permanently_remove").is_some_and(Given::truthy) {
            let g = &self.groups[&id];
            if g.parent_id.is_none() {
                return Answer::message(400, "`permanently_remove` option is only available for subgroups.");
            }
            if g.marked_for_deletion_on.is_none() {
                return Answer::message(400, "Group must be marked for deletion first.");
            }
            if params.get("full_path").and_then(Given::text) != Some(self.full_path(id)) {
                return Answer::message(
                    400,
                    "`full_path` is incorrect. You must enter the complete path for the subgroup.",
                );
            }
            self.remove_group(id);
            return accepted();
        }
        let Some(day) = self.delayed_deletion.clone() else {
            self.remove_group(id);
            return accepted();
        };
        let lineage = self.lineage(id);
        if self.groups[&id].marked_for_deletion_on.is_some() {
            return Answer::message(400, "Group has been already marked for deletion");
        }
        // a subgroup of a marked group goes with it
        if lineage[..lineage.len() - 1].iter().any(|a| self.groups[a].marked_for_deletion_on.is_some()) {
            return accepted();
        }
        self.groups.get_mut(&id).unwrap().marked_for_deletion_on = Some(day);
        accepted()
    }

    fn valid_level(params: &BTreeMap<String, Given>) -> Result<u32, Answer> {
        let Some(level) = params.get("access_level").and_then(Given::int) else {
            return Err(Answer::bad_param("access_level is missing"));
        };
        match level {
            10 | 15 | 20 | 30 | 40 | 50 => Ok(level as u32),
            _ => Err(Answer::invalid("access_level", "is not included in the list")),
        }
    }

    fn add_member(&mut self, group_id: i64, params: &BTreeMap<String, Given>) -> Answer {
        let user = match (params.get("user_id"), params.get("username")) {
            (None, None) => {
                return Answer::bad_param("user_id, username are missing, at least one parameter must be provided");
            }
            (Some(_), Some(_)) => return Answer::bad_param("user_id, username are mutually exclusive"),
            (Some(id), None) => id.int().filter(|id| self.users.contains_key(id)),
            (None, Some(name)) => {
                let name = name.text().unwrap_or_default();
                self.users.values().find(|u| u.username.eq_ignore_ascii_case(&name)).map(|u| u.id)
            }
        };
        let Some(user_id) = user else { return Answer::not_found("User") };
        if self.members.contains_key(&(group_id, user_id)) {
            return Answer::message(409, "Member already exists");
        }
        let level = match World::valid_level(params) {
            Ok(l) => l,
            Err(a) => return a,
        };
        if let Some(refusal) = self.inherited_refusal(group_id, user_id, level) {
            return refusal;
        }
        self.members.insert((group_id, user_id), level);
        Answer::json(201, self.member_json(group_id, user_id))
    }

    fn update_member(&mut self, group_id: i64, user_id: i64, params: &BTreeMap<String, Given>) -> Answer {
        let level = match World::valid_level(params) {
            Ok(l) => l,
            Err(a) => return a,
        };
        if let Some(refusal) = self.inherited_refusal(group_id, user_id, level) {
            return refusal;
        }
        self.members.insert((group_id, user_id), level);
        Answer::json(200, self.member_json(group_id, user_id))
    }
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

struct Shared {
    world: Mutex<World>,
    down: Arc<AtomicBool>,
}

/// A listener whose connections end before any answer while "down", as a
/// GitLab that is not running.
struct Switchable {
    inner: tokio::net::TcpListener,
    down: Arc<AtomicBool>,
}

impl axum::serve::Listener for Switchable {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            if !self.down.load(Ordering::SeqCst) {
                return (io, addr);
            }
            drop(io);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The double: a GitLab on loopback.
pub struct GitLabDouble {
    /// `http://127.0.0.1:<port>`: the base URL for clients.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitLabDouble {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GitLabDouble {
    /// A GitLab on a free port with one user, [`BOT`], whose token is
    /// [`TOKEN`] and who is an administrator.
    pub async fn start() -> GitLabDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let mut world = World {
            token: TOKEN.to_string(),
            me: 1,
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            members: BTreeMap::new(),
            next_group: 100,
            next_user: 1,
            delayed_deletion: None,
            create_errors: CreateErrors::Object,
            injections: vec![],
            races: vec![],
            seen: vec![],
            violations: vec![],
        };
        world.users.insert(
            1,
            DUser {
                id: 1,
                username: BOT.into(),
                name: "nines".into(),
                email: "nines-bot@example.com".into(),
                public_email: String::new(),
                admin: true,
            },
        );
        world.next_user = 2;
        let shared = Arc::new(Shared { world: Mutex::new(world), down: down.clone() });
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(Switchable { inner: listener, down }, app).await.unwrap();
        });
        GitLabDouble { url, shared, task }
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.shared.world.lock().unwrap()
    }

    // --- switches ---------------------------------------------------------

    /// Accept `token` instead.
    pub fn set_token(&self, token: &str) {
        self.world().token = token.to_string();
    }

    /// Whether the token's user is an administrator (it is at start).
    pub fn set_admin(&self, admin: bool) {
        let mut w = self.world();
        let me = w.me;
        w.users.get_mut(&me).unwrap().admin = admin;
    }

    /// Premium's delayed deletion: `DELETE /groups/:id` marks the group to
    /// go on `day` instead of removing it.
    pub fn enable_delayed_deletion(&self, day: &str) {
        self.world().delayed_deletion = Some(day.to_string());
    }

    /// The shape of a refused `POST /groups`.
    pub fn set_create_errors(&self, shape: CreateErrors) {
        self.world().create_errors = shape;
    }

    /// Answer requests with `injection` before anything else (also before
    /// the token is checked, as GitLab's rate limiter does).
    pub fn inject(&self, injection: Injection) {
        self.world().injections.push(injection);
    }

    /// Down: every connection ends before an answer. Every answer closes
    /// its connection, so none is left open to reuse.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    // --- state ------------------------------------------------------------

    /// A user; `public_email` is the address it shows (None: none).
    pub fn add_user(&self, username: &str, name: &str, email: &str, public_email: Option<&str>) -> i64 {
        let mut w = self.world();
        let id = w.next_user;
        w.next_user += 1;
        w.users.insert(
            id,
            DUser {
                id,
                username: username.into(),
                name: name.into(),
                email: email.into(),
                public_email: public_email.unwrap_or_default().into(),
                admin: false,
            },
        );
        id
    }

    /// A group made by someone else (nines' user is no member of it).
    pub fn add_group(&self, path: &str, name: &str, visibility: &str, parent_id: Option<i64>) -> i64 {
        self.world().add_group(path, name, visibility, parent_id)
    }

    pub fn add_member(&self, group_id: i64, user_id: i64, level: u32) {
        self.world().members.insert((group_id, user_id), level);
    }

    /// Marks a group for deletion on `day`, as an owner did in GitLab.
    pub fn mark_for_deletion(&self, group_id: i64, day: &str) {
        self.world().groups.get_mut(&group_id).unwrap().marked_for_deletion_on = Some(day.to_string());
    }

    /// Someone else creates group `full_path` right after nines' next
    /// lookup of it (which still answers 404).
    pub fn race_group(&self, full_path: &str, name: &str, visibility: &str) {
        let race = Race::Group { full_path: full_path.into(), name: name.into(), visibility: visibility.into() };
        self.world().races.push(race);
    }

    /// Someone else adds `user_id` to `group_id` at `level` right after
    /// nines' next read of that membership (which still answers 404).
    pub fn race_member(&self, group_id: i64, user_id: i64, level: u32) {
        self.world().races.push(Race::Member { group_id, user_id, level });
    }

    // --- inspection -------------------------------------------------------

    /// The group at `full_path`, as `GET /groups/:id?with_projects=false`
    /// would answer it.
    pub fn group(&self, full_path: &str) -> Option<Value> {
        let w = self.world();
        w.find_group(full_path).map(|id| w.group_json(id, false))
    }

    pub fn group_id(&self, full_path: &str) -> Option<i64> {
        self.world().find_group(full_path)
    }

    /// The direct access level of `user_id` in `group_id`.
    pub fn member_level(&self, group_id: i64, user_id: i64) -> Option<u32> {
        self.world().members.get(&(group_id, user_id)).copied()
    }

    pub fn user_id(&self, username: &str) -> Option<i64> {
        self.world().users.values().find(|u| u.username == username).map(|u| u.id)
    }

    /// Every request since the start or the last [`GitLabDouble::reset_requests`].
    pub fn requests(&self) -> Vec<Seen> {
        self.world().seen.clone()
    }

    /// Requests by method since the start or the last reset.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in self.world().seen.iter() {
            *out.entry(s.method.clone()).or_insert(0) += 1;
        }
        out
    }

    /// Requests other than `GET` since the start or the last reset.
    pub fn writes(&self) -> usize {
        self.world().seen.iter().filter(|s| s.method != "GET").count()
    }

    /// Forgets the requests seen (not the violations).
    pub fn reset_requests(&self) {
        self.world().seen.clear();
    }

    /// Every request that did not match GitLab's documentation, since the
    /// start.
    pub fn violations(&self) -> Vec<String> {
        self.world().violations.clone()
    }

    /// Panics listing the violations and the requests, if any.
    pub fn assert_no_violations(&self) {
        let w = self.world();
        if !w.violations.is_empty() {
            let seen: Vec<String> = w
                .seen
                .iter()
                .map(|s| format!("  {} {}?{} {:?} -> {}", s.method, s.path, s.query, s.body, s.status))
                .collect();
            panic!(
                "requests outside GitLab's documentation:\n  {}\nrequests:\n{}",
                w.violations.join("\n  "),
                seen.join("\n")
            );
        }
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let raw_path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let is_json = header_text(&parts.headers, "content-type").is_some_and(|ct| ct.starts_with("application/json"));
    let body = if bytes.is_empty() {
        SentBody::None
    } else if is_json {
        serde_json::from_slice(&bytes).map(SentBody::Json).unwrap_or(SentBody::Other)
    } else {
        SentBody::Other
    };

    let checked = check_request(&method, &raw_path, &raw_query, &body);
    let mut guard = shared.world.lock().unwrap();
    let w = &mut *guard;
    w.violations.extend(checked.violations.iter().cloned());
    let mut seen = Seen {
        method: method.clone(),
        path: raw_path.clone(),
        query: raw_query,
        body: match &body {
            SentBody::Json(v) => Some(v.clone()),
            _ => None,
        },
        status: 0,
        injected: false,
    };

    let injected = w.injections.iter_mut().find(|i| {
        i.times > 0 && i.method.as_ref().is_none_or(|m| *m == method) && raw_path.starts_with(&i.path_prefix)
    });
    let answer = if let Some(i) = injected {
        i.times -= 1;
        seen.injected = true;
        Answer {
            status: i.status,
            json: None,
            text: Some((i.body.clone(), i.content_type)),
            headers: i.headers.clone(),
        }
    } else if header_text(&parts.headers, "private-token") != Some(w.token.as_str()) {
        Answer::message(401, "401 Unauthorized")
    } else {
        w.answer(&checked, &method)
    };
    w.injections.retain(|i| i.times > 0);
    seen.status = answer.status;
    w.seen.push(seen);
    drop(guard);

    let mut resp = Response::builder().status(answer.status).header("connection", "close");
    for (k, v) in &answer.headers {
        resp = resp.header(k.as_str(), v.as_str());
    }
    match (answer.json, answer.text) {
        (Some(v), _) => resp.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
        (None, Some((text, ct))) => resp.header("content-type", ct).body(Body::from(text)).unwrap(),
        (None, None) => resp.body(Body::empty()).unwrap(),
    }
}
