//! The OpenAPI document, generated from the handlers and wire types. A test
//! compares it with the committed `docs/openapi.json`; `nines openapi`
//! regenerates that file.

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

#[derive(OpenApi)]
#[openapi(
    info(title = "nines", description = "Availability, SLO and status platform: push, read and config API."),
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
        api::slo::node_slo,
        api::slo::org_slo,
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
        api::downtimes::list,
        api::downtimes::detail,
        api::downtimes::create,
        api::downtimes::patch,
        api::downtimes::acknowledge,
        api::downtimes::postmortem,
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
    ),
    modifiers(&ApiKeyAuth)
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
