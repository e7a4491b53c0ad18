//! The server's router: every route (the API, the dashboard, the status
//! pages, the OpenAPI document and its page) and the [`authorize`]
//! middleware, which checks each request's caller against the access table
//! ([`crate::access`]) before any handler runs.
//!
//! What does not live here: the table itself (`access`), the handlers
//! (`api`, `web`, `openapi`) and how a key is read (`extract`).

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nines_core::Role;
use nines_store::ui::{PersonSession, UiSession};

use crate::access::{self, Access::*};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::web::dashboard::cookie::cookie_tokens;
use crate::web::dashboard::{UiError, same_origin};
use crate::{AppState, api, openapi, web};

/// Every route, behind the access check and in the error format.
pub fn router(state: AppState) -> Router {
    // the fallbacks follow every route they answer for; the document is
    // added after them, as it always was
    api::routes()
        .merge(web::routes())
        .merge(openapi::docs::routes())
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .route("/api/openapi.json", axum::routing::get(openapi::serve))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        .layer(axum::middleware::from_fn(api::error_format))
        .with_state(state)
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
        for token in cookie_tokens(headers) {
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
    let need = match access::entry(req.method(), &route) {
        Some(a) => a,
        None => {
            let allowed = access::methods_of(&route);
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
        if dashboard { UiError(e).into_response() } else { e.into_response() }
    };
    if from_dashboard && let Err(e) = same_origin(req.headers()) {
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
