//! Who may call what: the role matrix, enforced in one place.
//!
//! Every route of the server is in [`TABLE`] with the access it needs. The
//! [`authorize`] middleware runs before any handler: it finds the caller
//! (API key header, or the dashboard's session cookie under `/ui`, of an API
//! key or of a person signed in through the OpenID Connect provider, who
//! acts as the role their groups give in the organization they look at), answers
//! 401 without one and 403 when the role is not enough, and hands the
//! caller to the handler. Handlers check only the organization. A route
//! missing from the table needs an admin key, so a forgotten entry fails
//! closed.
//!
//! | access | read-only | agent | operator | admin |
//! |---|---|---|---|---|
//! | `public` (no key) | ✔ | ✔ | ✔ | ✔ |
//! | `any key` | ✔ | ✔ | ✔ | ✔ |
//! | `push` (reports, the agent's checks, results, heartbeats) | | ✔ | ✔ | ✔ |
//! | `read` (every GET of the API, dashboard and `/metrics`) | ✔ | | ✔ | ✔ |
//! | `operator` (apply, inventory, certificates, clusters, status-page groups, activities) | | | ✔ | ✔ |
//! | `admin` (everything else in its organization) | | | | ✔ |

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nines_core::Role;
use nines_store::ui::{PersonSession, UiSession};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// What a route needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: health probes, the public status page, badges, the feed.
    Public,
    /// Any valid key, whatever its role.
    AnyKey,
    /// Reports and an agent's own checks: agent, operator and admin keys.
    Push,
    /// Reads: read-only, operator and admin keys (not agent keys).
    Read,
    /// What the operator writes: operator and admin keys.
    Operator,
    /// Everything else: admin keys.
    Admin,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::AnyKey => true,
            Access::Push => matches!(role, Role::Agent | Role::Operator | Role::Admin),
            Access::Read => matches!(role, Role::ReadOnly | Role::Operator | Role::Admin),
            Access::Operator => matches!(role, Role::Operator | Role::Admin),
            Access::Admin => role == Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::AnyKey => "any key",
            Access::Push => "push",
            Access::Read => "read",
            Access::Operator => "operator",
            Access::Admin => "admin",
        }
    }

    /// The roles allowed, for messages and the OpenAPI document.
    pub fn who(self) -> &'static str {
        match self {
            Access::Public | Access::AnyKey => "any key",
            Access::Push => "an agent, operator or admin key",
            Access::Read => "a read-only, operator or admin key",
            Access::Operator => "an operator or admin key",
            Access::Admin => "an admin key",
        }
    }
}

use Access::*;

/// Every route: method, path template (as the router has it), access.
pub const TABLE: &[(&str, &str, Access)] = &[
    // probes, documents, the public status page
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/api/openapi.json", Public),
    ("GET", "/api/docs", Public),
    ("GET", "/", Public),
    ("GET", "/status-page", Public),
    ("GET", "/status-page/group/{id}", Public),
    ("GET", "/status-page/day/{day}", Public),
    ("GET", "/status-page/assets/{file}", Public),
    ("GET", "/status", Public),
    ("GET", "/status/currentState", Public),
    ("GET", "/status/{id}", Public),
    ("GET", "/badge/service/{file}", Public),
    ("GET", "/badge/group/{file}", Public),
    ("GET", "/feed.atom", Public),
    ("GET", "/p/{slug}", Public),
    ("GET", "/badge/service/{id}/{file}", Public),
    ("GET", "/badge/{file}", Public),
    ("POST", "/subscribe", Public),
    ("GET", "/subscribe/confirm", Public),
    ("POST", "/subscribe/confirm", Public),
    ("GET", "/unsubscribe", Public),
    ("POST", "/unsubscribe", Public),
    ("GET", "/p/{slug}/status-page/group/{id}", Public),
    ("GET", "/p/{slug}/status-page/day/{day}", Public),
    ("GET", "/p/{slug}/status", Public),
    ("GET", "/p/{slug}/status/currentState", Public),
    ("GET", "/p/{slug}/status/{id}", Public),
    ("GET", "/p/{slug}/badge/{file}", Public),
    ("GET", "/p/{slug}/feed.atom", Public),
    ("POST", "/p/{slug}/subscribe", Public),
    ("GET", "/p/{slug}/subscribe/confirm", Public),
    ("POST", "/p/{slug}/subscribe/confirm", Public),
    ("GET", "/p/{slug}/unsubscribe", Public),
    ("POST", "/p/{slug}/unsubscribe", Public),
    ("GET", "/ui/login", Public),
    ("POST", "/ui/login", Public),
    ("POST", "/ui/logout", Public),
    // sign-in through the OpenID Connect provider; the organization switch
    // checks the person's own session (any role may look at another of
    // their organizations)
    ("GET", "/ui/login/oidc", Public),
    ("GET", "/ui/login/oidc/callback", Public),
    ("POST", "/ui/session/organization", Public),
    ("GET", "/ui/assets/{name}", Public),
    ("GET", "/api/v1/whoami", AnyKey),
    // pushes and agents
    ("POST", "/api/v1/health/report", Push),
    ("POST", "/api/v1/backup/report", Push),
    ("POST", "/api/v1/storage/report", Push),
    ("GET", "/api/v1/agent/checks", Push),
    ("POST", "/api/v1/agent/results", Push),
    ("POST", "/api/v1/agent/heartbeat", Push),
    // reads
    ("GET", "/metrics", Read),
    ("GET", "/api/v1/services", Read),
    ("GET", "/api/v1/services/{id}", Read),
    ("GET", "/api/v1/hierarchy", Read),
    ("GET", "/api/v1/backups", Read),
    ("GET", "/api/v1/storage", Read),
    ("GET", "/api/v1/sla-groups", Read),
    ("GET", "/api/v1/services/{id}/slo", Read),
    ("GET", "/api/v1/services/{id}/slo/daily", Read),
    ("GET", "/api/v1/services/{id}/slo/buckets", Read),
    ("GET", "/api/v1/services/{id}/openslo", Read),
    ("GET", "/api/v1/maintenance", Read),
    ("GET", "/api/v1/downtimes", Read),
    ("GET", "/api/v1/downtimes/{id}", Read),
    ("GET", "/api/v1/notes/{id}", Read),
    ("GET", "/api/v1/certificates", Read),
    ("GET", "/api/v1/certificates/{id}", Read),
    ("GET", "/api/v1/checks", Read),
    ("GET", "/api/v1/checks/{*id}", Read),
    ("GET", "/api/v1/agents", Read),
    ("GET", "/api/v1/sla-groups/{name}/slo", Read),
    ("GET", "/api/v1/hierarchy/slo", Read),
    ("GET", "/api/v1/organizations/{org}/slo", Read),
    ("GET", "/api/v1/organizations/{org}/observability", Read),
    ("GET", "/api/v1/observability/organizations", Read),
    ("GET", "/api/v1/slo/overview", Read),
    ("GET", "/api/v1/slo/tiers", Read),
    ("GET", "/api/v1/system-config", Read),
    ("GET", "/api/v1/sla/reports", Read),
    ("GET", "/api/v1/sla/reports/{file}", Read),
    ("GET", "/api/v1/notifications/channels", Read),
    ("GET", "/api/v1/notifications/channels/{id}", Read),
    ("GET", "/api/v1/notifications/routes", Read),
    ("GET", "/api/v1/notifications/routes/{id}", Read),
    ("GET", "/api/v1/notifications/deliveries", Read),
    ("GET", "/api/v1/clusters", Read),
    ("GET", "/api/v1/inventory/artifacts", Read),
    ("GET", "/api/v1/inventory/apps", Read),
    ("GET", "/api/v1/inventory/hosts", Read),
    ("GET", "/api/v1/status-page/groups", Read),
    ("GET", "/api/v1/status-pages", Read),
    ("GET", "/api/v1/status-pages/{slug}", Read),
    ("GET", "/api/v1/downtimes/{id}/updates", Read),
    ("GET", "/ui", Read),
    ("GET", "/ui/services/{id}", Read),
    ("GET", "/ui/backups", Read),
    ("GET", "/ui/storage", Read),
    ("GET", "/ui/slo", Read),
    ("GET", "/ui/organizations/{org}", Read),
    ("GET", "/ui/downtimes", Read),
    ("GET", "/ui/downtimes/{id}", Read),
    ("GET", "/ui/notes/{id}", Read),
    ("GET", "/ui/maintenance", Read),
    ("GET", "/ui/agents", Read),
    ("GET", "/ui/certificates", Read),
    ("GET", "/ui/events", Read),
    // what the operator writes
    ("POST", "/api/v1/services/apply", Operator),
    ("DELETE", "/api/v1/services", Operator),
    ("POST", "/api/v1/openslo", Operator),
    ("POST", "/api/v1/certificates", Operator),
    ("POST", "/api/v1/certificates/report", Operator),
    ("DELETE", "/api/v1/certificates/{id}", Operator),
    ("POST", "/api/v1/clusters/register", Operator),
    ("DELETE", "/api/v1/clusters/{id}", Operator),
    ("PUT", "/api/v1/inventory/artifacts", Operator),
    ("PUT", "/api/v1/inventory/apps", Operator),
    ("PUT", "/api/v1/inventory/hosts", Operator),
    ("PUT", "/api/v1/status-page/groups/{name}", Operator),
    ("DELETE", "/api/v1/status-page/groups/{name}", Operator),
    ("PUT", "/api/v1/services/{id}/public", Operator),
    ("POST", "/api/v1/activities", Operator),
    // admin
    ("PUT", "/api/v1/services/{id}/slo", Admin),
    ("PUT", "/api/v1/sla-groups/{name}", Admin),
    ("PUT", "/api/v1/sla-groups/{name}/slo", Admin),
    ("PUT", "/api/v1/system-config/{key}", Admin),
    ("PUT", "/api/v1/organizations/{org}/observability/labels", Admin),
    ("POST", "/api/v1/observability/refresh", Admin),
    ("POST", "/api/v1/sla/report/generate", Admin),
    ("POST", "/api/v1/maintenance", Admin),
    ("DELETE", "/api/v1/maintenance/{id}", Admin),
    ("PUT", "/api/v1/maintenance/{id}", Admin),
    ("POST", "/api/v1/maintenance/{id}/end", Admin),
    ("POST", "/api/v1/maintenance/preview", Admin),
    ("POST", "/api/v1/downtimes", Admin),
    ("PATCH", "/api/v1/downtimes/{id}", Admin),
    ("POST", "/api/v1/downtimes/{id}/acknowledge", Admin),
    ("POST", "/api/v1/downtimes/{id}/updates", Admin),
    ("POST", "/api/v1/downtimes/{id}/postmortem", Admin),
    ("PUT", "/api/v1/notes/{id}", Admin),
    ("GET", "/api/v1/apikeys", Admin),
    ("PUT", "/api/v1/status-pages/{slug}", Admin),
    ("DELETE", "/api/v1/status-pages/{slug}", Admin),
    ("GET", "/api/v1/status-pages/{slug}/subscribers", Admin),
    ("POST", "/api/v1/status-pages/{slug}/subscribers", Admin),
    ("DELETE", "/api/v1/status-pages/{slug}/subscribers/{id}", Admin),
    ("GET", "/api/v1/audit", Admin),
    ("POST", "/api/v1/apikeys", Admin),
    ("DELETE", "/api/v1/apikeys/{id}", Admin),
    ("POST", "/api/v1/notifications/channels", Admin),
    ("PUT", "/api/v1/notifications/channels/{id}", Admin),
    ("DELETE", "/api/v1/notifications/channels/{id}", Admin),
    ("POST", "/api/v1/notifications/channels/{id}/test", Admin),
    ("POST", "/api/v1/notifications/routes", Admin),
    ("PUT", "/api/v1/notifications/routes/{id}", Admin),
    ("DELETE", "/api/v1/notifications/routes/{id}", Admin),
    ("POST", "/ui/downtimes/{id}/postmortem", Admin),
    ("POST", "/ui/notes/{id}", Admin),
    ("GET", "/ui/admin", Admin),
    ("GET", "/ui/services/new", Operator),
    ("GET", "/ui/groups", Operator),
    ("GET", "/ui/notifications", Admin),
];

/// The table's entry for a method on a route, `None` when it has none. A
/// route is the router's template (`/api/v1/checks/{*id}`) or the OpenAPI
/// document's path, which writes a catch-all as `{id}`; HEAD is answered by
/// the GET route.
fn entry(method: &Method, route: &str) -> Option<Access> {
    let m = if method == Method::HEAD { "GET" } else { method.as_str() };
    let same = |t: &str| t == route || (t.contains("{*") && t.replace("{*", "{") == route);
    TABLE.iter().find(|(tm, tr, _)| *tm == m && same(tr)).map(|(_, _, a)| *a)
}

/// The access a route needs; a route not in the table needs an admin key.
pub fn access(method: &Method, route: &str) -> Access {
    entry(method, route).unwrap_or(Admin)
}

/// The header with which the dashboard's script calls the JSON API on its
/// session cookie (`X-Nines-Session: 1`).
pub const SESSION_HEADER: &str = "x-nines-session";

/// The caller a request names: an API key header anywhere, or the
/// dashboard's session cookie under `/ui` (and on the API with
/// [`SESSION_HEADER`]). `None` when it names none.
///
/// A person's session (signed in through the OpenID Connect provider) comes
/// with the [`PersonSession`] for the page header (name, organizations).
async fn find_caller(
    s: &AppState,
    headers: &HeaderMap,
    dashboard: bool,
) -> Result<Option<(Caller, Option<PersonSession>)>, ApiError> {
    if headers.contains_key("x-api-key") || headers.contains_key(axum::http::header::AUTHORIZATION) {
        return crate::extract::key_caller(s, headers).await.map(|c| Some((c, None)));
    }
    if dashboard {
        // the first live session among the cookies sent (an old one may linger)
        for token in crate::web::dashboard::cookie::cookie_tokens(headers) {
            match s.store.ui_session(token, s.clock.now_ms()).await? {
                Some(UiSession::Key(key)) => {
                    let c = Caller { key_id: key.id, key_name: key.name, scope: key.scope, role: key.role };
                    return Ok(Some((c, None)));
                }
                Some(UiSession::Person(p)) => {
                    if let Some(c) = Caller::of_person(&p) {
                        return Ok(Some((c, Some(p))));
                    }
                }
                None => {}
            }
        }
    }
    Ok(None)
}

/// The middleware: the caller, checked against the table, before any handler.
pub async fn authorize(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()) else {
        return next.run(req).await;
    };
    // a method the table has no entry for, on a route it knows: 405, whatever
    // the key (a handler missing from the table is unreachable, not open)
    let need = match entry(req.method(), &route) {
        Some(a) => a,
        None => {
            let allowed: Vec<&str> = TABLE.iter().filter(|(_, tr, _)| *tr == route).map(|(tm, _, _)| *tm).collect();
            if !allowed.is_empty() {
                return crate::api::method_not_allowed_answer(req.method(), &route, &allowed);
            }
            Admin
        }
    };
    if need == Public {
        return next.run(req).await;
    }
    let dashboard = route == "/ui" || route.starts_with("/ui/");
    // the dashboard's own calls of the JSON API: the session cookie, with a
    // header a page of another site cannot send (a cross-site form sends no
    // custom header; a cross-site fetch with one needs a CORS preflight,
    // which nines never grants)
    let from_dashboard = !dashboard && req.headers().get(SESSION_HEADER).is_some_and(|v| v.as_bytes() == b"1");
    let fail = |e: ApiError| {
        if dashboard { crate::web::dashboard::UiError(e).into_response() } else { e.into_response() }
    };
    if from_dashboard && let Err(e) = crate::web::dashboard::same_origin(req.headers()) {
        return e.0.into_response();
    }
    let found = find_caller(&s, req.headers(), dashboard || from_dashboard).await;
    match found {
        Ok(Some((caller, person))) => {
            let via = if dashboard || from_dashboard { "dashboard" } else { "api" };
            // writes are actions: logged with their outcome. Not logged:
            // reads, telemetry pushes, and the API writes of operator-role
            // keys (the Kubernetes operator's syncs, every few seconds); a
            // person acting in the dashboard with such a key is logged.
            let audit = need != Push
                && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
                && !(via == "api" && caller.role == Role::Operator);
            // built only for what is logged: pushes, the hot path, are not
            let path =
                if audit { req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/") } else { "" }.to_string();
            let entry = |status: u16, c: &Caller, method: &Method| nines_store::audit::AuditEntry {
                id: 0,
                at: s.clock.now_ms(),
                key_id: c.key_id.clone(),
                actor: c.key_name.clone(),
                organization: c.scope.as_option().unwrap_or("*").to_string(),
                role: c.role.as_str().to_string(),
                via: via.to_string(),
                method: method.as_str().to_string(),
                route: route.clone(),
                path: path.clone(),
                status: i64::from(status),
            };
            if !need.allows(caller.role) {
                if audit {
                    let e = entry(403, &caller, req.method());
                    if let Err(err) = s.store.audit(&e).await {
                        tracing::error!(error = %err, route = %e.route, "cannot write the audit log");
                    }
                }
                // a person is told their role in the organization they look at
                let message = match person.as_ref() {
                    Some(p) => format!(
                        "{} is {} in {} and cannot do this: {} {route} needs {}",
                        p.display_name,
                        caller.role.as_str(),
                        caller.scope.as_option().unwrap_or("every organization"),
                        req.method(),
                        need.who().trim_end_matches(" key")
                    ),
                    None => format!(
                        "{} key cannot do this: {} {route} needs {}",
                        if caller.role == Role::ReadOnly {
                            "a read-only".to_string()
                        } else {
                            format!("an {}", caller.role.as_str())
                        },
                        req.method(),
                        need.who()
                    ),
                };
                return fail(ApiError::forbidden(message));
            }
            let pending = audit.then(|| entry(0, &caller, req.method()));
            req.extensions_mut().insert(caller);
            if let Some(p) = person {
                req.extensions_mut().insert(p);
            }
            let resp = next.run(req).await;
            if let Some(mut e) = pending {
                e.status = i64::from(resp.status().as_u16());
                e.at = s.clock.now_ms();
                if let Err(err) = s.store.audit(&e).await {
                    tracing::error!(error = %err, route = %e.route, "cannot write the audit log");
                }
            }
            resp
        }
        // the dashboard's pages send the browser to the login page
        Ok(None) if dashboard => next.run(req).await,
        Ok(None) => fail(
            ApiError::unauthorized("missing API key: send it in the X-API-Key header or as Authorization: Bearer")
                .field("X-API-Key"),
        ),
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_holds() {
        use Role::*;
        let roles = [ReadOnly, Agent, Operator, Admin];
        let allowed = |a: Access| roles.iter().filter(|r| a.allows(**r)).copied().collect::<Vec<_>>();
        assert_eq!(allowed(Push), vec![Agent, Operator, Admin]);
        assert_eq!(allowed(Read), vec![ReadOnly, Operator, Admin]);
        assert_eq!(allowed(Access::Operator), vec![Operator, Admin]);
        assert_eq!(allowed(Access::Admin), vec![Admin]);
        assert_eq!(allowed(AnyKey), roles.to_vec());
    }

    #[test]
    fn no_route_is_listed_twice_and_unknown_ones_need_admin() {
        for (i, (m, r, _)) in TABLE.iter().enumerate() {
            assert!(!TABLE[..i].iter().any(|(m2, r2, _)| m2 == m && r2 == r), "{m} {r} listed twice");
        }
        assert_eq!(access(&Method::POST, "/api/v1/not-in-the-table"), Access::Admin);
        assert_eq!(access(&Method::HEAD, "/healthz"), Public);
        assert_eq!(access(&Method::DELETE, "/api/v1/certificates/{id}"), Access::Operator);
        assert_eq!(access(&Method::PUT, "/api/v1/notes/{id}"), Access::Admin);
    }
}
