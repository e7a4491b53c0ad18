//! Who may call what: the role matrix, enforced in one place.
//!
//! Every route of the server is in [`TABLE`] with the access it needs. The
//! middleware `crate::router::authorize` runs before any handler: it finds the caller
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

use axum::http::Method;
use nines_core::Role;

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
pub fn entry(method: &Method, route: &str) -> Option<Access> {
    let m = if method == Method::HEAD { "GET" } else { method.as_str() };
    let same = |t: &str| t == route || (t.contains("{*") && t.replace("{*", "{") == route);
    TABLE.iter().find(|(tm, tr, _)| *tm == m && same(tr)).map(|(_, _, a)| *a)
}

/// The methods the table lists for a route (the `Allow` of a 405).
pub fn methods_of(route: &str) -> Vec<&'static str> {
    TABLE.iter().filter(|(_, tr, _)| *tr == route).map(|(tm, _, _)| *tm).collect()
}

/// The access a route needs; a route not in the table needs an admin key.
pub fn access(method: &Method, route: &str) -> Access {
    entry(method, route).unwrap_or(Admin)
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
