//! SLO/SLA API: reports for services, SLA groups, hierarchy nodes and
//! organizations; the overview; daily series; targets; SystemConfig; tiers.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use nines_core::slo::{self, Tier};
use nines_core::wire::{ErrorBody, Page};
use nines_core::{Criticality, FieldError, OrgScope, check_name};
use nines_store::slo::SloSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::config::{self, ConfigEntry, SloConfig};
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;
use crate::slo::{DayPoint, ObjectRef, OverviewItem, SloCounts, SloReport};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// `30d`, `24h`, `today`, `yesterday`, `month`, `month:YYYY-MM`, `day:YYYY-MM-DD`, or `FROM/TO` (two RFC 3339 instants); default: the SLO window.
    window: Option<String>,
    /// Organization, for keys that span every organization.
    organization: Option<String>,
    /// Hierarchy node (path or prefix of whole segments), for node reports.
    node_id: Option<String>,
}

async fn cfg(s: &AppState) -> ApiResult<SloConfig> {
    Ok(SloConfig::load(&s.store).await?)
}

fn window(q: Option<&str>, default_days: i64, now: i64) -> ApiResult<(slo::Span, String)> {
    let spec = q.map(str::to_string).unwrap_or_else(|| format!("{default_days}d"));
    crate::slo::parse_window(&spec, now).map_err(|r| FieldError::invalid("window", r).into())
}

/// The organization a request is about: the key's own, or the one named.
fn org_for(caller: &Caller, named: Option<&str>) -> ApiResult<String> {
    match (&caller.scope, named) {
        (OrgScope::One(o), None) => Ok(o.clone()),
        (_, Some(n)) => {
            check_name(n).map_err(|r| FieldError::invalid("organization", r))?;
            caller.require_org(n, "organization")?;
            Ok(n.to_string())
        }
        (OrgScope::All, None) => Err(FieldError::missing("organization")
            .with_reason("this key spans every organization: name one with ?organization=")
            .into()),
    }
}

/// Get a service's SLO report over a window
///
/// Availability over the window with the good, bad and excluded time behind it,
/// the SLO and SLA targets, the error budget (consumed, remaining, state),
/// multi-window burn rates and alerts, and the service's tier. `window` is
/// `30d`, `24h`, `today`, `yesterday`, `month`, `month:YYYY-MM`,
/// `day:YYYY-MM-DD` or `FROM/TO`; by default the service's own SLO window.
/// Maintenance, DEGRADED and UNKNOWN time count as SystemConfig and the
/// service's settings say. 404 for a service the key cannot see; 422 for a
/// window that does not parse.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/slo", tag = "slo",
    params(("id" = i64, Path, description = "Service id"), WindowQuery),
    responses((status = 200, body = SloReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn service_slo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<SloReport>> {
    let q: WindowQuery = parse_query(q)?;
    let subj = subject(&s, &caller, &id).await?;
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let spec = q.window.clone().unwrap_or_else(|| crate::slo::default_window(&subj, &cfg));
    let (w, label) =
        crate::slo::parse_window(&spec, now).map_err(|r| ApiError::from(FieldError::invalid("window", r)))?;
    Ok(Json(crate::slo::service_report(&s.store, &subj, w, &label, now, &cfg).await?))
}

async fn subject(s: &AppState, caller: &Caller, id: &str) -> ApiResult<nines_store::slo::SloSubject> {
    let id: i64 = id.parse().map_err(|_| FieldError::invalid("id", format!("{id:?} is not a service id")))?;
    caller.visible(s.store.slo_subject(id).await?, |x| &x.organization, || format!("no service with id {id}"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// Number of days ending today (1 to 400; default 90).
    days: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailySeries {
    pub id: i64,
    pub service: String,
    pub days: Vec<DayPoint>,
}

/// Get a service's daily availability series
///
/// One point per day for the last `days` days (1 to 400, default 90) ending
/// today: availability and the good, bad and excluded time of that day, under
/// the service's SLO policy. 422 for `days` out of range.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/slo/daily", tag = "slo",
    params(("id" = i64, Path, description = "Service id"), DailyQuery),
    responses((status = 200, body = DailySeries), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn service_daily(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<DailySeries>> {
    let q: DailyQuery = parse_query(q)?;
    let days = q.days.unwrap_or(90);
    if !(1..=400).contains(&days) {
        return Err(FieldError::invalid("days", format!("must be from 1 to 400, got {days}")).into());
    }
    let subj = subject(&s, &caller, &id).await?;
    let cfg = cfg(&s).await?;
    let points = crate::slo::daily_series(&s.store, &subj, days, s.clock.now_ms(), &cfg).await?;
    Ok(Json(DailySeries { id: subj.id, service: subj.name, days: points }))
}

/// Per-service SLO settings; absent fields fall back to the defaults.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloSettingsBody {
    pub slo_target: Option<f64>,
    pub sla_target: Option<f64>,
    pub window_days: Option<i64>,
    /// good, bad or excluded.
    pub degraded_counts_as: Option<String>,
    /// excluded, good or bad.
    pub unknown_counts_as: Option<String>,
}

pub fn validate_settings(b: &SloSettingsBody, prefix: &str) -> Result<SloSettings, nines_core::FieldErrors> {
    let mut errs = nines_core::FieldErrors::default();
    for (f, v) in [("sloTarget", b.slo_target), ("slaTarget", b.sla_target)] {
        if let Some(v) = v
            && slo::Target::from_percent(v).is_none()
        {
            errs.push(FieldError::invalid(
                format!("{prefix}{f}"),
                format!("a percentage between 0 and 100 (exclusive), got {v}"),
            ));
        }
    }
    if let (Some(a), Some(b)) = (b.slo_target, b.sla_target)
        && a < b
    {
        errs.push(FieldError::invalid(
            format!("{prefix}sloTarget"),
            format!("{a} is looser than slaTarget {b}; an SLO is the stricter goal"),
        ));
    }
    if let Some(d) = b.window_days
        && !(1..=366).contains(&d)
    {
        errs.push(FieldError::invalid(format!("{prefix}windowDays"), format!("must be from 1 to 366, got {d}")));
    }
    for (f, v) in [("degradedCountsAs", &b.degraded_counts_as), ("unknownCountsAs", &b.unknown_counts_as)] {
        if let Some(v) = v
            && slo::Class::parse(v).is_none()
        {
            errs.push(FieldError::invalid(format!("{prefix}{f}"), format!("one of good, bad, excluded; got {v:?}")));
        }
    }
    errs.into_result(SloSettings {
        slo_target: b.slo_target,
        sla_target: b.sla_target,
        window_days: b.window_days,
        degraded_counts: b.degraded_counts_as.clone(),
        unknown_counts: b.unknown_counts_as.clone(),
    })
}

/// Replace a service's SLO settings and return its new report
///
/// Sets the service's `sloTarget` and `slaTarget` (percentages strictly between
/// 0 and 100; the SLO may not be looser than the SLA), `windowDays` (1 to 366),
/// and how DEGRADED and UNKNOWN time counts (`good`, `bad` or `excluded`). A
/// field left out falls back to the SystemConfig default. Every invalid field
/// is reported at once with 422. The answer is the report over the new default
/// window.
#[utoipa::path(
    put, path = "/api/v1/services/{id}/slo", tag = "slo", request_body = SloSettingsBody,
    params(("id" = i64, Path, description = "Service id")),
    responses((status = 200, body = SloReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn set_service_slo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<SloSettingsBody>,
) -> ApiResult<Json<SloReport>> {
    let subj = subject(&s, &caller, &id).await?;
    let settings = validate_settings(&b, "").map_err(ApiError::from)?;
    let now = s.clock.now_ms();
    s.store.set_slo_settings(subj.id, &settings, now).await?;
    let subj = s.store.slo_subject(subj.id).await?.ok_or_else(|| ApiError::not_found("service vanished"))?;
    let cfg = cfg(&s).await?;
    let (w, label) = crate::slo::parse_window(&crate::slo::default_window(&subj, &cfg), now)
        .map_err(|r| ApiError::from(FieldError::invalid("window", r)))?;
    Ok(Json(crate::slo::service_report(&s.store, &subj, w, &label, now, &cfg).await?))
}

/// Get an SLA group's SLO report over a window
///
/// The group's availability computed from its members under its mode (`all`,
/// `any` or `quorum`), with targets, error budget and burn rates. A key of
/// every organization names the organization with `organization`. The window
/// defaults to the SLA window (SystemConfig). 404 when the organization has no
/// such group.
#[utoipa::path(
    get, path = "/api/v1/sla-groups/{name}/slo", tag = "slo",
    params(("name" = String, Path, description = "SLA group name"), WindowQuery),
    responses((status = 200, body = SloReport), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn group_slo(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<SloReport>> {
    let q: WindowQuery = parse_query(q)?;
    let org = org_for(&caller, q.organization.as_deref())?;
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let (w, label) = window(q.window.as_deref(), cfg.sla_window_days, now)?;
    crate::slo::group_report(&s.store, &org, &name, w, &label, now, &cfg)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no SLA group {name:?} in organization {org:?}")))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupTargetsBody {
    /// The group's own SLO target (%); null: its strictest member's.
    pub slo_target: Option<f64>,
    /// The group's own SLA target (%); null: its strictest member's.
    pub sla_target: Option<f64>,
    pub organization: Option<String>,
}

/// Set an SLA group's own SLO and SLA targets
///
/// By default a group answers to its strictest member's targets. Targets set
/// here replace them in the group's report, the SLO views and the daily
/// report; null goes back to the members'. Each is a percentage between 0
/// and 100 (exclusive), and the SLO target may not be below the SLA target.
/// A group of another organization answers 404.
#[utoipa::path(
    put, path = "/api/v1/sla-groups/{name}/slo", tag = "slo", request_body = GroupTargetsBody,
    params(("name" = String, Path, description = "SLA group")),
    responses((status = 200, body = SloReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn set_group_targets(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<GroupTargetsBody>,
) -> ApiResult<Json<SloReport>> {
    let org = org_for(&caller, b.organization.as_deref())?;
    for (f, v) in [("sloTarget", b.slo_target), ("slaTarget", b.sla_target)] {
        if let Some(v) = v
            && slo::Target::from_percent(v).is_none()
        {
            return Err(FieldError::invalid(f, format!("{v}: a percentage between 0 and 100 (exclusive)")).into());
        }
    }
    if let (Some(a), Some(b)) = (b.slo_target, b.sla_target)
        && a < b
    {
        return Err(FieldError::invalid("sloTarget", format!("{a} is below the SLA target {b}")).into());
    }
    if !s.store.set_group_targets(&org, &name, b.slo_target, b.sla_target, s.clock.now_ms()).await? {
        return Err(ApiError::not_found(format!("no SLA group {name:?} in organization {org:?}")));
    }
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let (w, label) = window(None, cfg.sla_window_days, now)?;
    crate::slo::group_report(&s.store, &org, &name, w, &label, now, &cfg)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no SLA group {name:?} in organization {org:?}")))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupModeBody {
    /// `all` (every member up; the default), `any`, or `quorum`.
    pub mode: String,
    /// K for `quorum`: at least K members up.
    pub quorum: Option<i64>,
    pub organization: Option<String>,
}

/// Set when an SLA group counts as up (all, any or quorum)
///
/// `all` (every member up, the default), `any` (one member up) or `quorum` with
/// `quorum` K (at least K members up). `quorum` is refused with `all` or `any`,
/// and required (at least 1) with `quorum`. A key of every organization names
/// the `organization`. 404 when the organization has no such group; answers
/// 204.
#[utoipa::path(
    put, path = "/api/v1/sla-groups/{name}", tag = "slo", request_body = GroupModeBody,
    params(("name" = String, Path, description = "SLA group name")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn set_group_mode(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(b): JsonBody<GroupModeBody>,
) -> ApiResult<StatusCode> {
    let org = org_for(&caller, b.organization.as_deref())?;
    match (b.mode.as_str(), b.quorum) {
        ("all" | "any", None) => {}
        ("all" | "any", Some(_)) => return Err(FieldError::invalid("quorum", "only with mode quorum").into()),
        ("quorum", Some(k)) if k >= 1 => {}
        ("quorum", _) => return Err(FieldError::invalid("quorum", "mode quorum needs quorum >= 1").into()),
        (other, _) => {
            return Err(
                FieldError::invalid("mode", format!("unknown mode {other:?}; expected all, any or quorum")).into()
            );
        }
    }
    if !s.store.set_group_mode(&org, &name, &b.mode, b.quorum, s.clock.now_ms()).await? {
        return Err(ApiError::not_found(format!("no SLA group {name:?} in organization {org:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Get a hierarchy node's SLO report over a window
///
/// The aggregate report of every service under `nodeId` (required: a node path
/// or a prefix of whole segments), with how many are tracked, at risk and
/// breached. The node's organization must be the key's. The window defaults to
/// the SLA window (SystemConfig).
#[utoipa::path(
    get, path = "/api/v1/hierarchy/slo", tag = "slo", params(WindowQuery),
    responses((status = 200, body = SloReport), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn node_slo(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery) -> ApiResult<Json<SloReport>> {
    let q: WindowQuery = parse_query(q)?;
    let node = q.node_id.clone().ok_or_else(|| ApiError::from(FieldError::missing("nodeId")))?;
    let org = node.split('/').next().unwrap_or_default().to_string();
    caller.require_org(&org, "nodeId")?;
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let (w, label) = window(q.window.as_deref(), cfg.sla_window_days, now)?;
    let b = crate::slo::bulk(&s.store, Some(&org), w, &cfg).await?;
    let object = ObjectRef {
        kind: "node".into(),
        id: node.clone(),
        name: node.rsplit('/').next().unwrap_or_default().into(),
        organization: org,
    };
    Ok(Json(
        crate::slo::aggregate_report(&s.store, &b, |x| crate::slo::in_node(x, &node), object, w, &label, now, &cfg)
            .await?,
    ))
}

/// Get an organization's SLO report over a window
///
/// The aggregate report of every service of the organization, with how many are
/// tracked, at risk and breached. Another organization's name answers 404, like
/// one that does not exist. The window defaults to the SLA window
/// (SystemConfig).
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/slo", tag = "slo",
    params(("org" = String, Path, description = "Organization"), WindowQuery),
    responses((status = 200, body = SloReport), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn org_slo(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<SloReport>> {
    let q: WindowQuery = parse_query(q)?;
    // another organization's name is answered as an unknown one
    let known = caller.scope.allows(&org) && s.store.organizations().await?.contains(&org);
    if !known {
        return Err(ApiError::not_found(format!("no organization {org:?}")));
    }
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let (w, label) = window(q.window.as_deref(), cfg.sla_window_days, now)?;
    let b = crate::slo::bulk(&s.store, Some(&org), w, &cfg).await?;
    let object =
        ObjectRef { kind: "organization".into(), id: org.clone(), name: org.clone(), organization: org.clone() };
    Ok(Json(crate::slo::aggregate_report(&s.store, &b, |_| true, object, w, &label, now, &cfg).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    window: Option<String>,
    organization: Option<String>,
    /// `budget` (least remaining first, default), `availability`, or `name`.
    sort: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub window: crate::slo::WindowView,
    pub counts: SloCounts,
    pub items: Vec<OverviewItem>,
}

/// Get the SLO overview of services with at-risk and breached counts
///
/// One line per service with its availability, targets and error budget over
/// the window (default: the SLO window), and the counts of services tracked, at
/// risk and breached. `sort` is `budget` (least remaining first, the default),
/// `availability` (lowest first) or `name`. A key of every organization sees
/// every organization unless it names one with `organization`.
#[utoipa::path(
    get, path = "/api/v1/slo/overview", tag = "slo", params(OverviewQuery),
    responses((status = 200, body = Overview), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn overview(State(s): State<AppState>, caller: Caller, RawQuery(q): RawQuery) -> ApiResult<Json<Overview>> {
    let q: OverviewQuery = parse_query(q)?;
    let org = match (&caller.scope, q.organization.as_deref()) {
        (OrgScope::All, None) => None,
        (_, named) => Some(org_for(&caller, named)?),
    };
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let (w, label) = window(q.window.as_deref(), cfg.slo_window_days, now)?;
    let b = crate::slo::bulk(&s.store, org.as_deref(), w, &cfg).await?;
    let mut items = crate::slo::overview_items(&b, &cfg);
    match q.sort.as_deref().unwrap_or("budget") {
        "budget" => items.sort_by(|a, b| a.budget_remaining_seconds.total_cmp(&b.budget_remaining_seconds)),
        "availability" => {
            items.sort_by(|a, b| a.availability.unwrap_or(101.0).total_cmp(&b.availability.unwrap_or(101.0)))
        }
        "name" => items.sort_by(|a, b| a.service.cmp(&b.service)),
        other => {
            return Err(FieldError::invalid(
                "sort",
                format!("unknown sort {other:?}; expected budget, availability or name"),
            )
            .into());
        }
    }
    let counts = crate::slo::counts(&items);
    let window = crate::slo::WindowView {
        from: nines_core::clock::rfc3339(w.from),
        to: nines_core::clock::rfc3339(w.to),
        label,
    };
    Ok(Json(Overview { window, counts, items }))
}

/// List the SLA tiers: uptime, response and resolution by criticality
///
/// The fixed table of service levels by criticality: the uptime target, and the
/// minutes within which a downtime must be acknowledged (response) and resolved
/// (resolution). A downtime's due times come from the tier of its most critical
/// member.
#[utoipa::path(
    get, path = "/api/v1/slo/tiers", tag = "slo", params(PageQuery),
    responses((status = 200, body = Page<Tier>), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn tiers(_caller: Caller, RawQuery(q): RawQuery) -> ApiResult<Json<Page<Tier>>> {
    let paging = page::only(q)?;
    // a fixed table: its place in the table is the key
    let rows: Vec<(usize, Tier)> = Criticality::ALL.iter().map(|c| slo::tier(*c)).enumerate().collect();
    Ok(Json(paging.page(rows, |(i, _)| *i)?.map(|(_, t)| t)))
}

/// List the SystemConfig settings with their values
///
/// Every global setting (SLO and SLA defaults and windows, error budget
/// thresholds, how DEGRADED, UNKNOWN and maintenance time counts, the
/// observability backends) with its current value, its default and whether
/// it is overridden.
#[utoipa::path(
    get, path = "/api/v1/system-config", tag = "admin", params(PageQuery),
    responses((status = 200, body = Page<ConfigEntry>), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_config(
    State(s): State<AppState>,
    _caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ConfigEntry>>> {
    let paging = page::only(q)?;
    let rows: Vec<(usize, ConfigEntry)> =
        config::entries(&s.store.system_config().await?).into_iter().enumerate().collect();
    Ok(Json(paging.page(rows, |(i, _)| *i)?.map(|(_, e)| e)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigValue {
    /// The new value, as text, a number or a boolean; null resets to the default.
    #[schema(value_type = Option<String>)]
    pub value: Option<serde_json::Value>,
}

/// Set or reset a SystemConfig setting
///
/// Sets `value` (text, a number or a boolean) for the setting named in the
/// path, or resets it to its default with `null`. SystemConfig is global, so
/// only an admin key of every organization may change it (403 otherwise). 404
/// for an unknown setting; 422 when the value is not valid for the setting or
/// contradicts another one (the budget warning threshold above the critical
/// one).
#[utoipa::path(
    put, path = "/api/v1/system-config/{key}", tag = "admin", request_body = ConfigValue,
    params(("key" = String, Path, description = "Setting, e.g. DEFAULT_SLO_TARGET")),
    responses((status = 200, body = ConfigEntry), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn set_config(
    State(s): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    JsonBody(b): JsonBody<ConfigValue>,
) -> ApiResult<Json<ConfigEntry>> {
    if caller.scope != OrgScope::All {
        return Err(ApiError::forbidden("SystemConfig is global: it needs an admin key of every organization"));
    }
    let def = config::key(&key).ok_or_else(|| ApiError::not_found(format!("no setting {key:?}")).field("key"))?;
    let mut stored = s.store.system_config().await?;
    let value = match &b.value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(v)) => Some(config::validate(def, v)?),
        Some(serde_json::Value::Number(n)) => Some(config::validate(def, &n.to_string())?),
        Some(serde_json::Value::Bool(v)) => Some(config::validate(def, &v.to_string())?),
        Some(_) => return Err(FieldError::invalid("value", "a string, a number or a boolean").into()),
    };
    match &value {
        Some(v) => stored.insert(key.clone(), v.clone()),
        None => stored.remove(&key),
    };
    config::check_consistency(&stored)?;
    s.store.set_system_config(&key, value.as_deref(), s.clock.now_ms()).await?;
    tracing::info!(key = %key, value = ?value, by = %caller.key_id, "system config changed");
    let e = config::entries(&stored)
        .into_iter()
        .find(|e| e.key == key)
        .ok_or_else(|| ApiError::internal("setting vanished"))?;
    Ok(Json(e))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportedSlo {
    pub name: String,
    pub id: i64,
    pub service: String,
    pub node_id: String,
}

/// Import OpenSLO SLO documents onto existing services
///
/// The body holds one or more OpenSLO v1 documents of kind SLO (YAML). Each is
/// attached to the existing service named in `spec.service` (of the key's
/// organization); when the name exists on several nodes, an annotation names
/// the node. Nothing is written unless every document resolves: 404 names a
/// document whose service does not exist, 422 one that is not valid or
/// ambiguous.
#[utoipa::path(
    post, path = "/api/v1/openslo", tag = "slo",
    request_body(content = String, description = "One or more OpenSLO v1 documents of kind SLO (YAML)", content_type = "application/yaml"),
    responses((status = 200, body = [ImportedSlo]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn import_openslo(
    State(s): State<AppState>,
    caller: Caller,
    req: axum::extract::Request,
) -> ApiResult<Json<Vec<ImportedSlo>>> {
    let body = crate::extract::read_body(req, s.config.max_body_bytes).await?;
    let text = std::str::from_utf8(&body).map_err(|_| FieldError::invalid("document", "the body is not UTF-8 text"))?;
    let objectives = nines_core::openslo::import(text).map_err(ApiError::from)?;
    let org = caller.scope.as_option();
    // resolve every service first: nothing is written unless all resolve
    let mut targets = Vec::new();
    for (i, o) in objectives.iter().enumerate() {
        let field = if objectives.len() > 1 { format!("documents[{i}].spec.service") } else { "spec.service".into() };
        let found = s.store.find_services_named(org, &o.service, o.node_id.as_deref()).await?;
        match found.as_slice() {
            [one] => targets.push((one.clone(), o)),
            [] => {
                return Err(ApiError::not_found(format!(
                    "no service {:?} to attach the SLO {:?} to",
                    o.service, o.name
                ))
                .field(field));
            }
            many => {
                let nodes: Vec<&str> = many.iter().map(|m| m.2.as_str()).collect();
                return Err(FieldError::invalid(
                    field,
                    format!(
                        "{:?} exists on several nodes ({}); name one with the annotation {}",
                        o.service,
                        nodes.join(", "),
                        nines_core::openslo::NODE_ANNOTATION
                    ),
                )
                .into());
            }
        }
    }
    let now = s.clock.now_ms();
    let mut out = Vec::new();
    for ((id, _org, node), o) in targets {
        s.store.set_objective(id, o, now).await?;
        out.push(ImportedSlo { name: o.name.clone(), id, service: o.service.clone(), node_id: node });
    }
    Ok(Json(out))
}

/// Export a service's SLO as an OpenSLO document
///
/// The service's SLO (target, rolling or calendar-month window, occurrences or
/// timeslices budgeting) as an OpenSLO v1 document of kind SLO, in YAML, with
/// the service's node in an annotation so `POST /api/v1/openslo` can take it
/// back. 404 for a service the key cannot see.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/openslo", tag = "slo",
    params(("id" = i64, Path, description = "Service id")),
    responses((status = 200, description = "OpenSLO v1 SLO document (YAML)", content_type = "application/yaml", body = Object), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn export_openslo(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<impl axum::response::IntoResponse> {
    use nines_core::openslo::{Budgeting, Objective0, Window};
    let subj = subject(&s, &caller, &id).await?;
    let cfg = cfg(&s).await?;
    let (slo_t, _) = crate::slo::targets_for(&subj, &cfg);
    let o = Objective0 {
        name: subj.slo_name.clone().unwrap_or_else(|| format!("{}-availability", subj.name)),
        service: subj.name.clone(),
        node_id: Some(subj.node_id.clone()),
        target_percent: slo_t.percent(),
        window: if subj.calendar_month {
            Window::CalendarMonth
        } else {
            Window::RollingDays(crate::slo::window_days_for(&subj, &cfg))
        },
        budgeting: match (subj.budgeting.as_deref(), subj.slice_ms, subj.slice_target) {
            (Some("timeslices"), Some(ms), Some(t)) => Budgeting::Timeslices { slice_ms: ms, slice_target: t },
            _ => Budgeting::Occurrences,
        },
    };
    let doc = nines_core::openslo::export(&o, None);
    let text = serde_yaml_ng::to_string(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/yaml")], text))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BucketQuery {
    /// Start (RFC 3339); default: 24 hours ago. Rounded down to 5 minutes.
    from: Option<String>,
    /// End (RFC 3339, exclusive); default: now.
    to: Option<String>,
}

/// One 5-minute bucket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub start: String,
    pub availability: Option<f64>,
    pub good_seconds: f64,
    pub bad_seconds: f64,
    pub excluded_seconds: f64,
    /// The bucket's end plus the settle delay has passed: late reports are in.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// Get a service's availability in 5-minute buckets
///
/// Availability and good, bad and excluded seconds per 5-minute bucket between
/// `from` (default 24 hours ago, rounded down to 5 minutes) and `to` (default
/// now, never later). A bucket is `final` once late reports can no longer
/// change it. The span may be at most 31 days; 422 otherwise.
#[utoipa::path(
    get, path = "/api/v1/services/{id}/slo/buckets", tag = "slo",
    params(("id" = i64, Path, description = "Service id"), BucketQuery),
    responses((status = 200, body = [Bucket]), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn service_buckets(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Vec<Bucket>>> {
    const FIVE: i64 = 300_000;
    let q: BucketQuery = parse_query(q)?;
    let subj = subject(&s, &caller, &id).await?;
    let cfg = cfg(&s).await?;
    let now = s.clock.now_ms();
    let parse = |v: Option<&str>, field: &str, default: i64| -> ApiResult<i64> {
        match v {
            Some(v) => nines_core::clock::parse_rfc3339(v).map_err(|r| FieldError::invalid(field, r).into()),
            None => Ok(default),
        }
    };
    let from = parse(q.from.as_deref(), "from", now - 86_400_000)?.div_euclid(FIVE) * FIVE;
    let to = parse(q.to.as_deref(), "to", now)?.min(now);
    if to <= from || (to - from) / FIVE > 12 * 24 * 31 {
        return Err(FieldError::invalid("from", "the span is empty or longer than 31 days").into());
    }
    let p = crate::slo::policy_for(&subj, &cfg);
    let (initial, trs) = s.store.timeline_window(subj.id, slo::Span { from, to }).await?;
    let mut out = Vec::new();
    let mut b = from;
    while b < to {
        let e = (b + FIVE).min(to);
        let acc = slo::durations(initial, &trs, slo::Span { from: b, to: e }, subj.created_at).classify(&p);
        out.push(Bucket {
            start: nines_core::clock::rfc3339(b),
            availability: acc.availability().map(|a| a * 100.0),
            good_seconds: acc.good_ms as f64 / 1000.0,
            bad_seconds: acc.bad_ms as f64 / 1000.0,
            excluded_seconds: acc.excluded_ms as f64 / 1000.0,
            is_final: b + FIVE + cfg.settle_ms <= now,
        });
        b = e;
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub key_id: String,
    pub name: String,
    /// Null for a key of every organization.
    pub organization: Option<String>,
    pub role: nines_core::Role,
}

/// Show the calling key's id, name, organization and role
///
/// Answers for any valid key, whatever its role: useful to check a key and to
/// see what it may do. `organization` is null for a key of every organization.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "admin", responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)), security(("api_key" = [])))]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI {
        key_id: caller.key_id.clone(),
        name: caller.key_name.clone(),
        organization: caller.scope.as_option().map(str::to_string),
        role: caller.role,
    })
}
