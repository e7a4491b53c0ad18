//! The OpenAPI document, generated from the handlers and wire types. A test
//! compares it with the committed `docs/openapi.json`; `nines openapi`
//! regenerates that file. [`docs`] is the same document as a page.

pub mod docs;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
    }
}

/// Every operation documents every status the server can answer it with,
/// from the rules that produce them (the access table, path and query
/// parameters, a body, storage), each with the error format; says which
/// keys may call it; and has a summary.
struct Conformance;

impl Modify for Conformance {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |why: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(why)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Delete, &mut item.delete),
                (HttpMethod::Patch, &mut item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let m = match method {
                    HttpMethod::Get => axum::http::Method::GET,
                    HttpMethod::Put => axum::http::Method::PUT,
                    HttpMethod::Post => axum::http::Method::POST,
                    HttpMethod::Delete => axum::http::Method::DELETE,
                    _ => axum::http::Method::PATCH,
                };
                let need = crate::access::access(&m, path);
                let params = op.parameters.as_deref().unwrap_or_default();
                let is = |p: &RefOr<utoipa::openapi::path::Parameter>, w: ParameterIn| match p {
                    RefOr::T(p) => std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&w),
                    RefOr::Ref(_) => false,
                };
                let in_path = params.iter().any(|p| is(p, ParameterIn::Path));
                let in_query = params.iter().any(|p| is(p, ParameterIn::Query));
                // only an operation that takes a body can fail on one
                let body = op.request_body.is_some();
                let mut add: Vec<(&str, &str)> = Vec::new();
                if need != crate::access::Access::Public {
                    add.push(("401", "No API key, or one that is not valid"));
                    add.push(("403", "The key's role or organization may not do this"));
                }
                if in_path {
                    add.push(("404", "Nothing with this id in the key's organization"));
                }
                if in_path || in_query || body {
                    add.push(("422", "A field, parameter or path segment is not valid; `field` names it"));
                }
                if body {
                    add.push(("400", "The body is not valid JSON (or YAML where the operation takes it)"));
                    add.push(("408", "The body did not arrive in time"));
                    add.push(("413", "The body is larger than the limit"));
                }
                add.push(("503", "The database is unavailable; retry after the `Retry-After` seconds"));
                for (code, why) in add {
                    if !op.responses.responses.contains_key(code) {
                        op.responses.responses.insert(code.to_string(), error(why));
                    }
                }
                if op.summary.is_none() {
                    let first = op.description.as_deref().and_then(|d| d.lines().next()).map(str::to_string);
                    let from_id = op.operation_id.as_deref().map(|id| {
                        let words = id.replace('_', " ");
                        let mut c = words.chars();
                        c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
                    });
                    op.summary = first.or(from_id);
                }
                let line = format!("Access: {} ({}).", need.as_str(), need.who());
                op.description = Some(match op.description.take() {
                    Some(d) if !d.contains("Access: ") => format!("{d}\n\n{line}"),
                    Some(d) => d,
                    None => line,
                });
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "nines", description = "Availability, SLO and status platform: push, read and config API.

Every list answers one envelope, `{\"items\": [...], \"nextCursor\": ...}`, and takes `limit` (1 to 1000, default 100) and `cursor`: pass the `nextCursor` of one page as `cursor` to get the next, until it is null. A cursor names a position in the list's order, not an offset, so items added or removed between two pages neither repeat nor skip the others. Series (an SLO's buckets and days) and reports (the SLO overview, observability summaries) answer the window asked for and are not paged.

Every error answers `{\"error\": {\"code\", \"field\", \"message\"}}`, with the field at fault when there is one."),
    paths(
        api::push::health_report,
        api::push::backup_report,
        api::push::storage_report,
        api::apply::apply,
        api::apply::delete,
        api::read::list_services,
        api::read::get_service,
        api::read::hierarchy,
        api::read::backups,
        api::read::storage,
        api::read::sla_groups,
        api::slo::service_slo,
        api::slo::set_service_slo,
        api::slo::service_daily,
        api::slo::service_buckets,
        api::slo::whoami,
        api::slo::import_openslo,
        api::slo::export_openslo,
        api::slo::group_slo,
        api::slo::set_group_mode,
        api::slo::set_group_targets,
        api::slo::node_slo,
        api::slo::org_slo,
        api::observability::organization,
        api::observability::organizations,
        api::observability::set_labels,
        api::observability::refresh,
        api::audit::list,
        api::slo::overview,
        api::slo::tiers,
        api::slo::list_config,
        api::slo::set_config,
        api::report::generate,
        api::report::list,
        api::report::download,
        api::certificates::report,
        api::certificates::list,
        api::certificates::detail,
        api::certificates::delete,
        api::maintenance::create,
        api::maintenance::list,
        api::maintenance::delete,
        api::maintenance::replace,
        api::maintenance::end,
        api::maintenance::preview,
        api::downtimes::list,
        api::downtimes::detail,
        api::downtimes::create,
        api::downtimes::patch,
        api::downtimes::acknowledge,
        api::downtimes::postmortem,
        api::downtimes::list_updates,
        api::downtimes::post_update,
        api::downtimes::get_note,
        api::downtimes::put_note,
        api::downtimes::activity,
        api::checks::list,
        api::checks::detail,
        api::checks::agent_checks,
        api::checks::agent_results,
        api::checks::agent_heartbeat,
        api::checks::list_agents,
        api::keys::list,
        api::keys::create,
        api::keys::revoke,
        api::notifications::create_channel,
        api::notifications::list_channels,
        api::notifications::get_channel,
        api::notifications::put_channel,
        api::notifications::delete_channel,
        api::notifications::test_channel,
        api::notifications::create_route,
        api::notifications::list_routes,
        api::notifications::get_route,
        api::notifications::put_route,
        api::notifications::delete_route,
        api::notifications::list_deliveries,
        api::inventory::register,
        api::inventory::list_clusters,
        api::inventory::delete_cluster,
        api::inventory::put_artifacts,
        api::inventory::list_artifacts,
        api::inventory::put_apps,
        api::inventory::list_apps,
        api::inventory::put_hosts,
        api::inventory::list_hosts,
        crate::web::public::admin::put_group,
        crate::web::public::admin::list_groups,
        crate::web::public::admin::delete_group,
        crate::web::public::admin::put_public,
        crate::web::public::pages::list_pages,
        crate::web::public::pages::get_page,
        crate::web::public::pages::put_page,
        crate::web::public::pages::delete_page,
        crate::web::public::subscribe::list_subscribers,
        crate::web::public::subscribe::add_subscriber,
        crate::web::public::subscribe::delete_subscriber,
    ),
    modifiers(&ApiKeyAuth, &Conformance)
)]
pub struct ApiDoc;

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn document_json() -> String {
    let mut doc = ApiDoc::openapi();
    // the version comes from the crate, not from whoever generated it
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut s = doc.to_pretty_json().unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// `GET /api/openapi.json`: the document, served as it is generated.
pub async fn serve() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], document_json())
}
