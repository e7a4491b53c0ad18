//! Checks: listing with their state, one check's recent results and
//! failures, and the agent protocol (fetch the checks of a location, push
//! results in batches, heartbeat) with the list of agents. Every agent
//! request counts as a sign of life of the agent of its key's organization
//! at its location.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use nines_core::clock::rfc3339;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, check_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;
use crate::probes::{RunResult, runs_at};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub service_id: i64,
    pub service: String,
    pub node_id: String,
    pub locations: Vec<String>,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub states: Vec<LocationState>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocationState {
    pub location: String,
    pub status: nines_core::Status,
    pub consecutive_failures: i64,
    pub consecutive_successes: i64,
    pub last_run: String,
    pub last_outcome: String,
    pub last_message: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    service_id: Option<i64>,
}

async fn views(s: &AppState, caller: &Caller, service_id: Option<i64>, id: Option<&str>) -> ApiResult<Vec<CheckView>> {
    let all = s.probes.checks().await?;
    let mut list: Vec<&nines_store::checks::StoredCheck> = all
        .values()
        .map(|c| &**c)
        .filter(|c| caller.scope.allows(&c.organization))
        .filter(|c| service_id.is_none_or(|x| c.service_id == x))
        .filter(|c| id.is_none_or(|x| c.id == x))
        .collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    let mut sids: Vec<i64> = list.iter().map(|c| c.service_id).collect();
    sids.dedup();
    let states = s.probes.overlay(s.store.check_states_of_services(&sids).await?);
    Ok(list
        .into_iter()
        .map(|c| CheckView {
            id: c.id.clone(),
            name: c.name.clone(),
            kind: c.kind.clone(),
            service_id: c.service_id,
            service: c.service.clone(),
            node_id: c.node_id.clone(),
            locations: c.locations.clone(),
            spec: all.spec_json(c),
            states: states
                .iter()
                .filter(|(_, st)| st.check_id == c.id)
                .map(|(_, st)| LocationState {
                    location: st.location.clone(),
                    status: st.status,
                    consecutive_failures: st.failures,
                    consecutive_successes: st.successes,
                    last_run: rfc3339(st.last_at),
                    last_outcome: st.last_outcome.clone(),
                    last_message: st.last_message.clone(),
                })
                .collect(),
        })
        .collect())
}

/// List checks with their state at each location
///
/// Every check of the key's organization (HTTP, TCP, DNS and the other probe
/// kinds declared in it-ops documents), with its service, the locations that
/// run it, its spec, and per location the status it gives, its consecutive
/// failures and successes and its last run. `serviceId` limits the list to one
/// service's checks.
#[utoipa::path(
    get, path = "/api/v1/checks", tag = "checks", params(CheckQuery, PageQuery),
    responses((status = 200, body = Page<CheckView>), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<CheckView>>> {
    let (paging, q) = page::split(q)?;
    let q: CheckQuery = parse_query(q)?;
    let items = views(&s, &caller, q.service_id, None).await?;
    Ok(Json(paging.page(items, |c| c.id.clone())?))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentRun {
    pub at: String,
    pub outcome: String,
    pub message: String,
    pub error: Option<String>,
    pub http_status: Option<u16>,
    pub dns_ms: Option<f64>,
    pub connect_ms: Option<f64>,
    pub tls_ms: Option<f64>,
    pub first_byte_ms: Option<f64>,
    pub total_ms: f64,
}

/// A run as the engine records it (the same figures an agent sends), with
/// its time in RFC 3339.
impl From<RunResult> for RecentRun {
    fn from(r: RunResult) -> RecentRun {
        RecentRun {
            at: rfc3339(r.at),
            outcome: r.outcome,
            message: r.message,
            error: r.error,
            http_status: r.http_status,
            dns_ms: r.dns_ms,
            connect_ms: r.connect_ms,
            tls_ms: r.tls_ms,
            first_byte_ms: r.first_byte_ms,
            total_ms: r.total_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    pub at: String,
    pub location: String,
    pub outcome: String,
    pub error: Option<String>,
    pub message: String,
    pub http_status: Option<i64>,
    pub total_ms: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckDetail {
    #[serde(flatten)]
    pub check: CheckView,
    /// The last runs this replica recorded, newest first: 100, or fewer when
    /// there are many checks (half a million runs are kept over all checks,
    /// at least 5 per check and location).
    pub recent: Vec<RecentRun>,
    /// The last 20 failures with their messages, newest first.
    pub failures: Vec<FailureView>,
}

/// Get a check with its recent runs and failures
///
/// The check as in the list, plus the last runs this replica recorded (up to
/// 100, fewer with very many checks; with timings: DNS, connect, TLS, first
/// byte, total) and the last 20 failures with
/// their messages. The id is `<serviceId>/<name>`. 404 for a check that does
/// not exist or belongs to another organization.
#[utoipa::path(
    get, path = "/api/v1/checks/{id}", tag = "checks",
    params(("id" = String, Path, description = "Check id: `<serviceId>/<name>`")),
    responses((status = 200, body = CheckDetail), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn detail(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<CheckDetail>> {
    let check = views(&s, &caller, None, Some(&id))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("no check {id:?}")))?;
    let recent =
        s.probes.recent(&id).into_iter().map(|(at, r)| RecentRun::from(RunResult::from_probe(&id, at, &r))).collect();
    let failures = s
        .store
        .check_failures(&id, 20)
        .await?
        .into_iter()
        .map(|f| FailureView {
            at: rfc3339(f.at),
            location: f.location,
            outcome: f.outcome,
            error: f.error_kind,
            message: f.message,
            http_status: f.http_status,
            total_ms: f.total_ms,
        })
        .collect();
    Ok(Json(CheckDetail { check, recent, failures }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// The agent's location name.
    location: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentChecks {
    /// Changes whenever any check changes; agents reload when it does.
    pub version: String,
    pub checks: Vec<AgentCheck>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentCheck {
    pub id: String,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// Fetch the checks an agent runs at its location
///
/// The checks of the key's organization that run at `location`, with their
/// specs, and a `version` that changes whenever any check changes: an agent
/// polls this and reloads when the version moves. The call also counts as the
/// agent's contact, keeping it online.
#[utoipa::path(
    get, path = "/api/v1/agent/checks", tag = "agent", params(LocationQuery),
    responses((status = 200, body = AgentChecks), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn agent_checks(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<AgentChecks>> {
    let q: LocationQuery = parse_query(q)?;
    check_name(&q.location).map_err(|r| FieldError::invalid("location", r))?;
    s.probes.agent_contact(agent_org(&caller), &q.location, None).await?;
    let version = s.store.checks_version().await?;
    let all = s.probes.checks().await?;
    let mut checks: Vec<AgentCheck> = all
        .values()
        .filter(|c| caller.scope.allows(&c.organization) && runs_at(c, &q.location))
        .map(|c| AgentCheck { id: c.id.clone(), spec: all.spec_json(c) })
        .collect();
    checks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Json(AgentChecks { version, checks }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentResults {
    pub location: String,
    pub results: Vec<RunResult>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentAck {
    pub accepted: usize,
    /// Checks that no longer exist (or are not this key's): drop them.
    pub unknown: Vec<String>,
}

/// Submit a batch of an agent's check results
///
/// Up to 50,000 results from `location`, each naming its check, outcome (`up`,
/// `degraded` or `down`), time and timings. Results of checks that no longer
/// exist, do not run at this location or are not the key's organization's are
/// not recorded: their ids come back in `unknown` so the agent drops them. A
/// result in the future or an unknown outcome is refused with 422, naming it
/// (`results[3].outcome`).
#[utoipa::path(
    post, path = "/api/v1/agent/results", tag = "agent", request_body = AgentResults,
    responses((status = 200, body = AgentAck), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn agent_results(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<AgentResults>,
) -> ApiResult<Json<AgentAck>> {
    check_name(&b.location).map_err(|r| FieldError::invalid("location", r))?;
    if b.results.len() > 50_000 {
        return Err(FieldError::invalid("results", "at most 50,000 results a batch").into());
    }
    let now = s.clock.now_ms();
    let all = s.probes.checks().await?;
    let mut mine = Vec::with_capacity(b.results.len());
    let mut unknown = Vec::new();
    for (i, r) in b.results.iter().enumerate() {
        if r.outcome().is_none() {
            return Err(FieldError::invalid(
                format!("results[{i}].outcome"),
                format!("{:?}: expected up, degraded or down", r.outcome),
            )
            .into());
        }
        if r.at > now + nines_core::wire::MAX_FUTURE_SKEW_MS {
            return Err(FieldError::invalid(format!("results[{i}].at"), "in the future").into());
        }
        match all.get(&r.check_id) {
            Some(c) if caller.scope.allows(&c.organization) && runs_at(c, &b.location) => mine.push(r.clone()),
            _ => unknown.push(r.check_id.clone()),
        }
    }
    // alive first: the results then bring its checks back
    s.probes.agent_contact(agent_org(&caller), &b.location, None).await?;
    s.probes.record(&b.location, &mine).await?;
    Ok(Json(AgentAck { accepted: mine.len(), unknown }))
}

/// The organization an agent is recorded under: its key's, or `*`.
fn agent_org(caller: &Caller) -> &str {
    caller.scope.as_option().unwrap_or(nines_store::agents::ANY_ORGANIZATION)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentHeartbeat {
    /// The agent's location name.
    pub location: String,
    /// The agent's version (`nines --version`).
    #[serde(default)]
    pub version: Option<String>,
    /// Results it holds, not yet delivered.
    #[serde(default)]
    pub results_buffered: u64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatAck {
    /// The checks this agent runs.
    pub checks_assigned: usize,
    /// Without a word from it for this long, its checks turn UNKNOWN at its
    /// location: three intervals of its slowest check, at least 60.
    pub silent_after_seconds: i64,
}

/// Send an agent heartbeat with its version and buffered results
///
/// Tells nines the agent at `location` is alive, which version it runs (at most
/// 64 characters), and how many results it holds undelivered. The answer says
/// how many checks it runs and after how many seconds without a word its checks
/// turn UNKNOWN at its location.
#[utoipa::path(
    post, path = "/api/v1/agent/heartbeat", tag = "agent", request_body = AgentHeartbeat,
    responses((status = 200, body = HeartbeatAck), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn agent_heartbeat(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<AgentHeartbeat>,
) -> ApiResult<Json<HeartbeatAck>> {
    check_name(&b.location).map_err(|r| FieldError::invalid("location", r))?;
    let version = b.version.as_deref().map(str::trim).filter(|v| !v.is_empty());
    if version.is_some_and(|v| v.len() > 64) {
        return Err(FieldError::invalid("version", "at most 64 characters").into());
    }
    let buffered = i64::try_from(b.results_buffered).unwrap_or(i64::MAX);
    let (checks, limit) = s.probes.agent_contact(agent_org(&caller), &b.location, Some((version, buffered))).await?;
    Ok(Json(HeartbeatAck { checks_assigned: checks, silent_after_seconds: limit / 1000 }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    /// The organization of the agent's key; `*` for a key of every organization.
    pub organization: String,
    pub location: String,
    pub version: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// The checks it was handed at its last contact.
    pub checks_assigned: i64,
    /// Results it held, not yet delivered, at its last heartbeat.
    pub results_buffered: i64,
    /// `online`, or `silent`: nothing from it for `silentAfterSeconds`
    /// (three intervals of its slowest check, at least 60); its checks are
    /// then UNKNOWN at its location.
    pub state: String,
    pub silent_after_seconds: i64,
}

/// List agents with their last contact and online or silent state
///
/// Every agent location of the key's organization with its version, first and
/// last contact, checks assigned, results buffered, and `online` or `silent`
/// (nothing heard for three intervals of its slowest check, at least 60
/// seconds; its checks are then UNKNOWN at its location).
#[utoipa::path(
    get, path = "/api/v1/agents", tag = "agent", params(PageQuery),
    responses((status = 200, body = Page<AgentView>), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_agents(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<AgentView>>> {
    let paging = page::only(q)?;
    let agents = s.probes.agents(caller.scope.as_option()).await?;
    let items = agents
        .into_iter()
        .map(|a| AgentView {
            state: if a.silent { "silent" } else { "online" }.to_string(),
            silent_after_seconds: a.limit_ms / 1000,
            organization: a.row.organization,
            location: a.row.location,
            version: a.row.version,
            first_seen: rfc3339(a.row.first_seen),
            last_seen: rfc3339(a.row.last_seen),
            checks_assigned: a.row.checks_assigned,
            results_buffered: a.row.results_buffered,
        })
        .collect();
    Ok(Json(paging.page(items, |a| (a.organization.clone(), a.location.clone()))?))
}
