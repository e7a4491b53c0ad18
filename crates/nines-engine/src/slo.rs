//! The SLO engine: every availability, budget, burn rate and condition nines
//! shows comes from here — the API, the dashboard, the status page, the
//! report and /metrics. It reads the status timeline (directly for one
//! object, through the final daily results plus the timeline at the edges
//! for many) and does the arithmetic with `nines_core::slo`.

use nines_core::clock::{Millis, rfc3339};
use nines_core::slo::{
    self, Accounting, BURN_WINDOWS, BurnAlerts, BurnRates, Class, Condition, DAY_MS, ErrorBudget, GroupMode, Policy,
    Span, StatusDurations, Target, Tier, day_floor, durations,
};
use nines_core::timeline::Transition;
use nines_core::{Criticality, Status};
use nines_store::Store;
use nines_store::slo::SloSubject;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

use crate::config::SloConfig;

/// The policy of one service: its own settings over SystemConfig's.
pub fn policy_for(s: &SloSubject, cfg: &SloConfig) -> Policy {
    Policy {
        degraded: s.degraded_counts.as_deref().and_then(Class::parse).unwrap_or(cfg.policy.degraded),
        unknown: s.unknown_counts.as_deref().and_then(Class::parse).unwrap_or(cfg.policy.unknown),
        maintenance: cfg.policy.maintenance,
    }
}

/// `(SLO, SLA)` targets of a service: its own, else the SLA target of its
/// criticality tier and an SLO target of DEFAULT_SLO_TARGET but never looser
/// than that SLA.
pub fn targets_for(s: &SloSubject, cfg: &SloConfig) -> (Target, Target) {
    let tier_sla = Target::from_percent(slo::tier(s.criticality).uptime_target).unwrap_or(cfg.default_sla);
    let sla = s.sla_target.and_then(Target::from_percent).unwrap_or(tier_sla);
    let slo = s.slo_target.and_then(Target::from_percent).unwrap_or(cfg.default_slo.max(sla));
    (slo, sla)
}

pub fn window_days_for(s: &SloSubject, cfg: &SloConfig) -> i64 {
    s.window_days.unwrap_or(cfg.slo_window_days)
}

/// The window a service's figures use when none is asked for.
pub fn default_window(s: &SloSubject, cfg: &SloConfig) -> String {
    if s.calendar_month { "month".into() } else { format!("{}d", window_days_for(s, cfg)) }
}

/// Timeslice budgeting of a service, when it has one.
fn timeslices_of(s: &SloSubject) -> Option<(i64, f64)> {
    match (s.budgeting.as_deref(), s.slice_ms, s.slice_target) {
        (Some("timeslices"), Some(ms), Some(t)) if ms > 0 => Some((ms, t)),
        _ => None,
    }
}

/// Time that does not count towards the SLA: maintenance windows that do not
/// count, and the time a service spent in a downtime classified as not
/// counting (`countsTowardsSla: false`, with its excluded reason).
#[derive(Debug, Default)]
pub struct Exclusions {
    windows: Vec<nines_store::maintenance::MaintenanceRow>,
    downtimes: HashMap<i64, Vec<Span>>,
}

impl Exclusions {
    pub async fn load(store: &Store, organization: Option<&str>) -> nines_store::Result<Exclusions> {
        let windows = store.list_maintenance(organization).await?;
        let mut downtimes: HashMap<i64, Vec<Span>> = HashMap::new();
        for (service, from, to) in store.excluded_downtime_spans(organization).await? {
            downtimes.entry(service).or_default().push(Span { from, to: to.unwrap_or(Millis::MAX) });
        }
        Ok(Exclusions { windows, downtimes })
    }

    /// The excluded spans of `s` within `w`, merged and sorted.
    pub fn spans_for(&self, s: &SloSubject, w: Span) -> Vec<Span> {
        let mut all =
            if self.windows.is_empty() { Vec::new() } else { crate::maintenance::excluded_spans(&self.windows, s, w) };
        if let Some(d) = self.downtimes.get(&s.id) {
            all.extend(
                d.iter().map(|x| Span { from: x.from.max(w.from), to: x.to.min(w.to) }).filter(|x| x.from < x.to),
            );
            all = slo::merge_spans(all);
        }
        all
    }
}

/// A service's accounting over `w` under its budgeting method, with the
/// excluded time ([`Exclusions`]) left out.
pub async fn service_accounting(
    store: &Store,
    s: &SloSubject,
    w: Span,
    cfg: &SloConfig,
) -> nines_store::Result<Accounting> {
    let ex = Exclusions::load(store, Some(&s.organization)).await?;
    accounting_with(store, s, w, cfg, &ex).await
}

/// [`service_accounting`] with the exclusions already loaded.
async fn accounting_with(
    store: &Store,
    s: &SloSubject,
    w: Span,
    cfg: &SloConfig,
    ex: &Exclusions,
) -> nines_store::Result<Accounting> {
    let (initial, trs) = store.timeline_window(s.id, w).await?;
    Ok(accounting_from(s, initial, &trs, w, cfg, ex))
}

/// A service's accounting over `w` from its status at some instant at or
/// before `w.from` and its transitions since (they may start before `w.from`):
/// the arithmetic of [`service_accounting`] without the read, so a caller
/// that loaded a longer timeline once (the report) gets the same figures.
pub fn accounting_from(
    s: &SloSubject,
    initial: Status,
    trs: &[Transition],
    w: Span,
    cfg: &SloConfig,
    ex: &Exclusions,
) -> Accounting {
    let p = policy_for(s, cfg);
    let excluded = ex.spans_for(s, w);
    match timeslices_of(s) {
        Some((ms, t)) => slo::timeslices(initial, trs, w, s.created_at, &p, ms, t),
        None if excluded.is_empty() => durations(initial, trs, w, s.created_at).classify(&p),
        None => {
            // before the service existed: excluded; then the classes, less maintenance
            let from = w.from.max(s.created_at).min(w.to);
            let mut acc = slo::account(initial, trs, Span { from, to: w.to }, &p, &excluded);
            acc.excluded_ms += from - w.from;
            acc
        }
    }
}

/// What an SLO figure is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `service`, `slaGroup`, `node` or `organization`.
    pub kind: String,
    pub id: String,
    pub name: String,
    pub organization: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowView {
    pub from: String,
    pub to: String,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    #[serde(flatten)]
    pub budget: ErrorBudget,
    /// At the last hour's burn rate, seconds until the budget is gone; null
    /// when nothing burns.
    pub time_to_exhaustion_seconds: Option<f64>,
}

/// The SLO/SLA figures of one object over one window.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SloReport {
    pub object: ObjectRef,
    pub window: WindowView,
    /// Percent; null when no time in the window counted.
    pub availability: Option<f64>,
    pub slo_target: f64,
    pub sla_target: f64,
    pub good_seconds: f64,
    pub bad_seconds: f64,
    pub excluded_seconds: f64,
    pub error_budget: BudgetView,
    pub burn_rates: BurnRates,
    pub alerts: BurnAlerts,
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Set for aggregates: services counted, at risk and breached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<SloCounts>,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SloCounts {
    pub tracked: u32,
    pub at_risk: u32,
    pub breached: u32,
}

fn ratio_percent(a: &Accounting) -> Option<f64> {
    a.availability().map(|r| r * 100.0)
}

/// Assemble a report from an accounting and the burn windows' accountings.
#[allow(clippy::too_many_arguments)]
pub fn report(
    object: ObjectRef,
    w: Span,
    label: &str,
    acc: &Accounting,
    burn: &[(&str, Accounting)],
    slo_t: Target,
    sla_t: Target,
    cfg: &SloConfig,
    tier: Option<Tier>,
) -> SloReport {
    let budget = slo::error_budget(acc, slo_t, cfg.thresholds);
    let enough = cfg.thresholds.enough(acc);
    // too little history: no rates (a blip minutes after install is not a
    // budget burning 1000 times too fast), and nothing alerted on
    let mut rates = BurnRates::default();
    if enough {
        for (name, a) in burn {
            rates.set(name, slo::burn_rate(a, slo_t));
        }
    }
    let hour = burn.iter().find(|(n, _)| *n == "1h").map(|(_, a)| *a).unwrap_or_default();
    let tte = if budget.state != slo::BudgetState::InsufficientData && hour.bad_ms > 0 && hour.counted_ms() > 0 {
        let frac = hour.bad_ms as f64 / hour.counted_ms() as f64;
        Some((budget.remaining_seconds / frac).max(0.0))
    } else {
        None
    };
    SloReport {
        object,
        window: WindowView { from: rfc3339(w.from), to: rfc3339(w.to), label: label.to_string() },
        availability: ratio_percent(acc),
        slo_target: slo_t.percent(),
        sla_target: sla_t.percent(),
        good_seconds: acc.good_ms as f64 / 1000.0,
        bad_seconds: acc.bad_ms as f64 / 1000.0,
        excluded_seconds: acc.excluded_ms as f64 / 1000.0,
        error_budget: BudgetView { budget, time_to_exhaustion_seconds: tte },
        alerts: if enough { slo::burn_alerts(&rates) } else { Default::default() },
        burn_rates: rates,
        conditions: slo::conditions(acc, slo_t, sla_t, cfg.thresholds),
        tier,
        counts: None,
    }
}

/// Accountings of the burn windows ending at `now` from a service's status
/// at `base` and its transitions since.
pub fn burn_accounts(
    initial: Status,
    trs: &[Transition],
    now: Millis,
    created: Millis,
    p: &Policy,
) -> Vec<(&'static str, Accounting)> {
    BURN_WINDOWS
        .iter()
        .map(|(name, len)| (*name, durations(initial, trs, Span { from: now - len, to: now }, created).classify(p)))
        .collect()
}

/// Time per status of one service over `w`, straight from its timeline.
pub async fn service_durations(store: &Store, s: &SloSubject, w: Span) -> nines_store::Result<StatusDurations> {
    let (initial, trs) = store.timeline_window(s.id, w).await?;
    Ok(durations(initial, &trs, w, s.created_at))
}

pub async fn service_report(
    store: &Store,
    s: &SloSubject,
    w: Span,
    label: &str,
    now: Millis,
    cfg: &SloConfig,
) -> nines_store::Result<SloReport> {
    let p = policy_for(s, cfg);
    let acc = service_accounting(store, s, w, cfg).await?;
    let recent = Span { from: now - BURN_WINDOWS[BURN_WINDOWS.len() - 1].1, to: now };
    let (ri, rt) = store.timeline_window(s.id, recent).await?;
    let burn = burn_accounts(ri, &rt, now, s.created_at, &p);
    let (slo_t, sla_t) = targets_for(s, cfg);
    let object = ObjectRef {
        kind: "service".into(),
        id: s.id.to_string(),
        name: s.name.clone(),
        organization: s.organization.clone(),
    };
    Ok(report(object, w, label, &acc, &burn, slo_t, sla_t, cfg, Some(slo::tier(s.criticality))))
}

/// Time per status over `w` of every service of an organization (or all),
/// from final daily results plus the timeline at both edges. Same figures as
/// [`service_durations`], at a cost that does not grow with the window.
pub async fn bulk_durations(
    store: &Store,
    subjects: &[SloSubject],
    organization: Option<&str>,
    w: Span,
) -> nines_store::Result<HashMap<i64, StatusDurations>> {
    let cursor = store.days_final_until().await?;
    let first_day = day_floor(w.from);
    let usable = cursor.is_some_and(|c| first_day < c) && w.to - w.from >= 2 * DAY_MS;
    let mut out = HashMap::with_capacity(subjects.len());
    if !usable {
        for s in subjects {
            out.insert(s.id, service_durations(store, s, w).await?);
        }
        return Ok(out);
    }
    let cursor = cursor.unwrap_or(first_day);
    let l = first_day + DAY_MS;
    let s_edge = l.max(day_floor(w.to).min(cursor));
    let sums = store.day_sums(organization, first_day, l, s_edge).await?;
    let trs =
        store.transitions_in(organization, &[Span { from: first_day, to: l }, Span { from: s_edge, to: w.to }]).await?;
    let empty = Vec::new();
    for s in subjects {
        let (mid, start, end) = sums.get(&s.id).copied().unwrap_or_default();
        let list = trs.get(&s.id).unwrap_or(&empty);
        let split = list.partition_point(|t| t.at < l);
        let (pre, post) = list.split_at(split);
        let mut d = durations(start.unwrap_or(Status::Unknown), pre, Span { from: w.from, to: l }, s.created_at);
        d.merge(&mid);
        // days before the service existed have no results: absent time
        let covered =
            mid.operational_ms + mid.degraded_ms + mid.down_ms + mid.maintenance_ms + mid.unknown_ms + mid.absent_ms;
        d.absent_ms += (s_edge - l) - covered;
        d.merge(&durations(end.unwrap_or(Status::Unknown), post, Span { from: s_edge, to: w.to }, s.created_at));
        out.insert(s.id, d);
    }
    Ok(out)
}

/// Each service's status at `base` and transitions since, for the burn
/// windows of many services at once.
pub async fn bulk_recent(
    store: &Store,
    subjects: &[SloSubject],
    organization: Option<&str>,
    now: Millis,
) -> nines_store::Result<HashMap<i64, (Status, Vec<Transition>)>> {
    let base = day_floor(now - BURN_WINDOWS[BURN_WINDOWS.len() - 1].1);
    let cursor = store.days_final_until().await?;
    let mut out = HashMap::with_capacity(subjects.len());
    if cursor.is_none_or(|c| base >= c) {
        for s in subjects {
            out.insert(s.id, store.timeline_window(s.id, Span { from: base, to: now }).await?);
        }
        return Ok(out);
    }
    let starts = store.day_sums(organization, base, base, base + DAY_MS).await?;
    let mut trs = store.transitions_in(organization, &[Span { from: base, to: now }]).await?;
    for s in subjects {
        let initial = starts.get(&s.id).and_then(|x| x.1).unwrap_or(Status::Unknown);
        out.insert(s.id, (initial, trs.remove(&s.id).unwrap_or_default()));
    }
    Ok(out)
}

/// One line of the SLO overview.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverviewItem {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    pub criticality: Criticality,
    pub availability: Option<f64>,
    pub slo_target: f64,
    pub sla_target: f64,
    pub budget_remaining_seconds: f64,
    pub budget_consumed_percent: f64,
    pub budget_state: slo::BudgetState,
    /// How many budgets were used, when exhausted.
    pub budget_overspent_times: Option<f64>,
    pub conditions: Vec<Condition>,
}

/// Figures of many services at once, plus their weighted aggregate.
pub struct Bulk {
    pub items: Vec<(SloSubject, Accounting, Target, Target)>,
}

pub async fn bulk(store: &Store, organization: Option<&str>, w: Span, cfg: &SloConfig) -> nines_store::Result<Bulk> {
    let subjects = store.slo_subjects(organization).await?;
    let d = bulk_durations(store, &subjects, organization, w).await?;
    let ex = Exclusions::load(store, organization).await?;
    let mut items = Vec::with_capacity(subjects.len());
    for s in subjects {
        // timeslice objectives and excluded time need the timeline itself
        let excluded = !ex.spans_for(&s, w).is_empty();
        let acc = if timeslices_of(&s).is_some() || excluded {
            accounting_with(store, &s, w, cfg, &ex).await?
        } else {
            d.get(&s.id).copied().unwrap_or_default().classify(&policy_for(&s, cfg))
        };
        let (a, b) = targets_for(&s, cfg);
        items.push((s, acc, a, b));
    }
    Ok(Bulk { items })
}

pub fn overview_items(b: &Bulk, cfg: &SloConfig) -> Vec<OverviewItem> {
    b.items
        .iter()
        .map(|(s, acc, slo_t, sla_t)| {
            let budget = slo::error_budget(acc, *slo_t, cfg.thresholds);
            OverviewItem {
                id: s.id,
                service: s.name.clone(),
                node_id: s.node_id.clone(),
                criticality: s.criticality,
                availability: ratio_percent(acc),
                slo_target: slo_t.percent(),
                sla_target: sla_t.percent(),
                budget_remaining_seconds: budget.remaining_seconds,
                budget_consumed_percent: budget.consumed_percent,
                budget_state: budget.state,
                budget_overspent_times: budget.overspent_times,
                conditions: slo::conditions(acc, *slo_t, *sla_t, cfg.thresholds),
            }
        })
        .collect()
}

/// Tracked (some time counted), at risk (SLO_WARNING) and breached objects.
pub fn counts(items: &[OverviewItem]) -> SloCounts {
    let mut c = SloCounts::default();
    for i in items {
        if i.availability.is_some() {
            c.tracked += 1;
        }
        if i.conditions.iter().any(|c| matches!(c, Condition::SloBreach | Condition::SlaBreach)) {
            c.breached += 1;
        } else if i.conditions.contains(&Condition::SloWarning) {
            c.at_risk += 1;
        }
    }
    c
}

/// Does `node` (a path or a prefix of whole segments) contain the service?
pub fn in_node(s: &SloSubject, node: &str) -> bool {
    let node = node.trim_end_matches('/');
    if node == s.organization {
        return true;
    }
    let full =
        if s.node_id == nines_core::UNKNOWN_NODE { format!("{}/unknown", s.organization) } else { s.node_id.clone() };
    full == node || full.starts_with(&format!("{node}/"))
}

/// The weighted aggregate report of a set of services (a node or an organization).
#[allow(clippy::too_many_arguments)]
pub async fn aggregate_report(
    store: &Store,
    b: &Bulk,
    keep: impl Fn(&SloSubject) -> bool,
    object: ObjectRef,
    w: Span,
    label: &str,
    now: Millis,
    cfg: &SloConfig,
) -> nines_store::Result<SloReport> {
    let members: Vec<&(SloSubject, Accounting, Target, Target)> = b.items.iter().filter(|(s, ..)| keep(s)).collect();
    let acc = slo::weighted(&members.iter().map(|(s, a, ..)| (*a, slo::weight(s.criticality))).collect::<Vec<_>>());
    let subjects: Vec<SloSubject> = members.iter().map(|(s, ..)| s.clone()).collect();
    let org = if object.kind == "organization" { Some(object.organization.as_str()) } else { None };
    let recent = bulk_recent(store, &subjects, org, now).await?;
    let mut per_window: Vec<(&str, Vec<(Accounting, i64)>)> =
        BURN_WINDOWS.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for s in &subjects {
        if let Some((i, t)) = recent.get(&s.id) {
            for (k, (_, a)) in burn_accounts(*i, t, now, s.created_at, &policy_for(s, cfg)).into_iter().enumerate() {
                per_window[k].1.push((a, slo::weight(s.criticality)));
            }
        }
    }
    let burn: Vec<(&str, Accounting)> = per_window.iter().map(|(n, v)| (*n, slo::weighted(v))).collect();
    let items: Vec<OverviewItem> = overview_items(&Bulk { items: members.into_iter().cloned().collect() }, cfg);
    let mut r = report(object, w, label, &acc, &burn, cfg.default_slo, cfg.default_sla, cfg, None);
    r.counts = Some(counts(&items));
    Ok(r)
}

/// A member's class step function over `w`, excluded before it existed and
/// during its `excluded` spans ([`Exclusions::spans_for`]), so a group's
/// figures leave out what its members' figures leave out.
pub fn member_classes(
    initial: Status,
    trs: &[Transition],
    created: Millis,
    p: &Policy,
    excluded: &[Span],
) -> (Class, Vec<(Millis, Class)>) {
    let (init, mut ch) = slo::classes(initial, trs, p);
    if created > i64::MIN {
        // before creation: excluded; from creation: the class then
        let at_created = ch.iter().take_while(|(at, _)| *at <= created).last().map_or(init, |(_, c)| *c);
        ch.retain(|(at, _)| *at > created);
        let mut v = vec![(created, at_created)];
        v.extend(ch);
        return overlay_excluded(Class::Excluded, v, excluded);
    }
    overlay_excluded(init, ch, excluded)
}

/// The step function `(init, ch)` with `spans` (sorted, disjoint) set to
/// [`Class::Excluded`].
fn overlay_excluded(init: Class, ch: Vec<(Millis, Class)>, spans: &[Span]) -> (Class, Vec<(Millis, Class)>) {
    if spans.is_empty() {
        return (init, ch);
    }
    let mut points: Vec<Millis> = ch.iter().map(|c| c.0).chain(spans.iter().flat_map(|s| [s.from, s.to])).collect();
    points.sort_unstable();
    points.dedup();
    let (mut base, mut i, mut j) = (init, 0, 0);
    let mut out = Vec::with_capacity(points.len());
    let mut last = init;
    for t in points {
        while i < ch.len() && ch[i].0 <= t {
            base = ch[i].1;
            i += 1;
        }
        while j < spans.len() && spans[j].to <= t {
            j += 1;
        }
        let c = if j < spans.len() && spans[j].from <= t { Class::Excluded } else { base };
        if c != last {
            out.push((t, c));
            last = c;
        }
    }
    (init, out)
}

pub fn group_mode(mode: &str, quorum: Option<i64>) -> GroupMode {
    match (mode, quorum) {
        ("any", _) => GroupMode::Any,
        ("quorum", Some(k)) if k > 0 => GroupMode::Quorum(k as u32),
        _ => GroupMode::All,
    }
}

/// An SLA group's report: members combined by the group's mode at every
/// instant, then accounted like one service.
pub async fn group_report(
    store: &Store,
    organization: &str,
    name: &str,
    w: Span,
    label: &str,
    now: Millis,
    cfg: &SloConfig,
) -> nines_store::Result<Option<SloReport>> {
    let Some((mode, quorum, ids)) = store.group(organization, name).await? else { return Ok(None) };
    let mode = group_mode(&mode, quorum);
    let mut subjects = Vec::new();
    for id in &ids {
        if let Some(s) = store.slo_subject(*id).await? {
            subjects.push(s);
        }
    }
    let recent_span = Span { from: now - BURN_WINDOWS[BURN_WINDOWS.len() - 1].1, to: now };
    let ex = Exclusions::load(store, Some(organization)).await?;
    let mut main = Vec::new();
    let mut recent = Vec::new();
    for s in &subjects {
        let p = policy_for(s, cfg);
        let (i, t) = store.timeline_window(s.id, w).await?;
        main.push(member_classes(i, &t, s.created_at, &p, &ex.spans_for(s, w)));
        let (i, t) = store.timeline_window(s.id, recent_span).await?;
        recent.push(member_classes(i, &t, s.created_at, &p, &ex.spans_for(s, recent_span)));
    }
    let (gi, gc) = slo::combine_group(&main, mode);
    let acc = slo::account_classes(gi, &gc, w, &[]);
    let (ri, rc) = slo::combine_group(&recent, mode);
    let burn: Vec<(&str, Accounting)> = BURN_WINDOWS
        .iter()
        .map(|(n, len)| (*n, slo::account_classes(ri, &rc, Span { from: now - len, to: now }, &[])))
        .collect();
    let (mut slo_t, mut sla_t, crit) = group_targets(&subjects, cfg);
    let (slo_o, sla_o) = store.group_target_overrides(organization, name).await?;
    if let Some(t) = slo_o.and_then(Target::from_percent) {
        slo_t = t;
    }
    if let Some(t) = sla_o.and_then(Target::from_percent) {
        sla_t = t;
    }
    let object = ObjectRef {
        kind: "slaGroup".into(),
        id: name.to_string(),
        name: name.to_string(),
        organization: organization.to_string(),
    };
    Ok(Some(report(object, w, label, &acc, &burn, slo_t, sla_t, cfg, crit.map(slo::tier))))
}

/// `(SLO, SLA, criticality)` of an SLA group: it answers to its strictest
/// member, and its tier is its most critical member's. A group's own
/// targets, when set, replace the first two (`Store::group_target_overrides`).
pub fn group_targets(subjects: &[SloSubject], cfg: &SloConfig) -> (Target, Target, Option<Criticality>) {
    let (mut slo_t, mut sla_t) = (cfg.default_slo, cfg.default_sla);
    let mut crit: Option<Criticality> = None;
    for s in subjects {
        let (a, b) = targets_for(s, cfg);
        slo_t = slo_t.max(a);
        sla_t = sla_t.max(b);
        crit = Some(match crit {
            Some(c) if c.tier() <= s.criticality.tier() => c,
            _ => s.criticality,
        });
    }
    (slo_t, sla_t, crit)
}

/// One day of a daily series.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayPoint {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub availability: Option<f64>,
    pub good_seconds: f64,
    pub bad_seconds: f64,
    pub excluded_seconds: f64,
    /// The day's result is final (its end plus the settle delay has passed).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Worst status of the day: DOWN if any bad time, else DEGRADED, else OPERATIONAL; UNKNOWN without data.
    pub status: Status,
}

/// A service's daily series over `days` days ending today: final days from
/// stored results, the rest from the timeline.
pub async fn daily_series(
    store: &Store,
    s: &SloSubject,
    days: i64,
    now: Millis,
    cfg: &SloConfig,
) -> nines_store::Result<Vec<DayPoint>> {
    let p = policy_for(s, cfg);
    let today = day_floor(now);
    let first = today - (days - 1) * DAY_MS;
    let cursor = store.days_final_until().await?.unwrap_or(i64::MIN);
    let rows = store.period_rows(s.id, "day", first, today + DAY_MS).await?;
    let mut by_day: HashMap<Millis, StatusDurations> = rows.into_iter().map(|r| (r.start, r.durations)).collect();
    let open_from = first.max(cursor.min(today + DAY_MS));
    if open_from < now {
        let (i, t) = store.timeline_window(s.id, Span { from: open_from, to: now }).await?;
        let mut d = open_from;
        while d < now {
            let span = Span { from: d, to: (d + DAY_MS).min(now) };
            by_day.insert(d, durations(i, &t, span, s.created_at));
            d += DAY_MS;
        }
    }
    let ex = Exclusions::load(store, Some(&s.organization)).await?;
    let mut out = Vec::with_capacity(days as usize);
    let mut d = first;
    while d <= today {
        let dur = by_day.get(&d).copied().unwrap_or(StatusDurations { absent_ms: DAY_MS, ..Default::default() });
        let day = Span { from: d, to: (d + DAY_MS).min(now) };
        // a day with excluded time (or a timeslice objective) is figured the
        // way every other window is, so the series and the window agree
        let acc = if day.from < day.to && (timeslices_of(s).is_some() || !ex.spans_for(s, day).is_empty()) {
            accounting_with(store, s, day, cfg, &ex).await?
        } else {
            dur.classify(&p)
        };
        out.push(day_point_with(d, &dur, acc, now, cfg));
        d += DAY_MS;
    }
    Ok(out)
}

/// One day of a daily series from the day's time per status (a final day
/// result, or the timeline for days not final yet). The daily series and
/// the public status page's bars both come from here.
pub fn day_point(day: Millis, dur: &StatusDurations, p: &Policy, now: Millis, cfg: &SloConfig) -> DayPoint {
    day_point_with(day, dur, dur.classify(p), now, cfg)
}

/// [`day_point`] with the day's accounting already made (a day with excluded
/// time is accounted over the timeline, see [`daily_series`]).
pub fn day_point_with(day: Millis, dur: &StatusDurations, acc: Accounting, now: Millis, cfg: &SloConfig) -> DayPoint {
    DayPoint {
        day: rfc3339(day)[..10].to_string(),
        availability: ratio_percent(&acc),
        good_seconds: acc.good_ms as f64 / 1000.0,
        bad_seconds: acc.bad_ms as f64 / 1000.0,
        excluded_seconds: acc.excluded_ms as f64 / 1000.0,
        is_final: day + DAY_MS + cfg.settle_ms <= now,
        status: day_status(dur, &acc),
    }
}

/// Worst status of a day: DOWN if any bad time, else DEGRADED, else
/// OPERATIONAL; UNKNOWN when no time counted.
pub fn day_status(dur: &StatusDurations, acc: &Accounting) -> Status {
    if acc.counted_ms() == 0 {
        Status::Unknown
    } else if dur.down_ms > 0 || acc.bad_ms > 0 {
        Status::Down
    } else if dur.degraded_ms > 0 {
        Status::Degraded
    } else {
        Status::Operational
    }
}

/// Parse a window: `30d`, `24h`, `90m`, `today`, `yesterday`, `month`
/// (the current calendar month so far), `month:YYYY-MM`, `day:YYYY-MM-DD`,
/// or an interval `FROM/TO` of two RFC 3339 instants (days in any time zone,
/// as the report draws them).
pub fn parse_window(spec: &str, now: Millis) -> Result<(Span, String), String> {
    let spec = spec.trim();
    let unit = |s: &str, mult: i64| -> Result<(Span, String), String> {
        let n: i64 = s.parse().map_err(|_| format!("{spec:?} is not a window"))?;
        if n <= 0 || n * mult > 400 * DAY_MS {
            return Err(format!("{spec:?}: a window is longer than 0 and at most 400 days"));
        }
        Ok((Span { from: now - n * mult, to: now }, spec.to_string()))
    };
    let numeric = spec.chars().next().is_some_and(|c| c.is_ascii_digit());
    if numeric {
        if let Some(n) = spec.strip_suffix('d') {
            return unit(n, DAY_MS);
        }
        if let Some(n) = spec.strip_suffix('h') {
            return unit(n, 3_600_000);
        }
        if let Some(n) = spec.strip_suffix('m') {
            return unit(n, 60_000);
        }
    }
    let day_of = |d: &str| -> Result<Millis, String> {
        nines_core::clock::parse_rfc3339(&format!("{d}T00:00:00Z"))
            .map_err(|_| format!("{d:?} is not a date (YYYY-MM-DD)"))
    };
    // an ISO 8601 interval of two instants, `2026-11-01T00:00:00Z/2026-11-21T00:00:00Z`
    if let Some((a, b)) = spec.split_once('/') {
        let at = |x: &str| nines_core::clock::parse_rfc3339(x).map_err(|r| format!("{spec:?}: {r}"));
        let (from, to) = (at(a)?, at(b)?.min(now));
        if to <= from || to - from > 400 * DAY_MS {
            return Err(format!("{spec:?}: an interval is non-empty, not in the future and at most 400 days"));
        }
        return Ok((Span { from, to }, spec.to_string()));
    }
    match spec {
        "today" => Ok((Span { from: day_floor(now), to: now }, "today".into())),
        "yesterday" => Ok((Span { from: day_floor(now) - DAY_MS, to: day_floor(now) }, "yesterday".into())),
        "month" => Ok((Span { from: nines_store::slo::month_floor(now), to: now }, "month".into())),
        _ => {
            if let Some(m) = spec.strip_prefix("month:") {
                let start = day_of(&format!("{m}-01"))?;
                let end = nines_store::slo::next_month(start).min(now);
                if start >= now {
                    return Err(format!("{spec:?} has not begun"));
                }
                return Ok((Span { from: start, to: end }, spec.into()));
            }
            if let Some(d) = spec.strip_prefix("day:") {
                let start = day_of(d)?;
                if start >= now {
                    return Err(format!("{spec:?} has not begun"));
                }
                return Ok((Span { from: start, to: (start + DAY_MS).min(now) }, spec.into()));
            }
            Err(format!("unknown window {spec:?}; use e.g. 30d, 24h, today, month, month:2026-10, day:2026-11-20"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excluded_spans_overlay_a_members_classes() {
        use nines_core::slo::Class::{Bad, Excluded, Good};
        let span = |from, to| Span { from, to };
        // good, bad at 10, good at 20; excluded 5..15 and 30..40
        let (i, ch) = super::overlay_excluded(Good, vec![(10, Bad), (20, Good)], &[span(5, 15), span(30, 40)]);
        assert_eq!(i, Good);
        assert_eq!(ch, vec![(5, Excluded), (15, Bad), (20, Good), (30, Excluded), (40, Good)]);
        // nothing excluded: unchanged
        assert_eq!(super::overlay_excluded(Bad, vec![(3, Good)], &[]), (Bad, vec![(3, Good)]));
        // a span covering a change hides it
        let (_, ch) = super::overlay_excluded(Good, vec![(10, Bad)], &[span(0, 50)]);
        assert_eq!(ch, vec![(0, Excluded), (50, Bad)]);
    }

    #[test]
    fn windows_parse() {
        let now = nines_core::clock::parse_rfc3339("2026-11-21T10:00:00Z").unwrap();
        let (w, _) = parse_window("30d", now).unwrap();
        assert_eq!(w.to - w.from, 30 * DAY_MS);
        let (w, _) = parse_window("month:2026-10", now).unwrap();
        assert_eq!(rfc3339(w.from), "2026-10-01T00:00:00.000Z");
        assert_eq!(rfc3339(w.to), "2026-11-01T00:00:00.000Z");
        let (w, _) = parse_window("day:2026-11-20", now).unwrap();
        assert_eq!(w.to - w.from, DAY_MS);
        let (w, _) = parse_window("month", now).unwrap();
        assert_eq!(rfc3339(w.from), "2026-11-01T00:00:00.000Z");
        assert!(parse_window("0d", now).is_err());
        assert!(parse_window("fortnight", now).is_err());
        assert!(parse_window("day:2026-12-01", now).is_err());
        let (w, _) = parse_window("2026-11-19T23:00:00Z/2026-11-20T23:00:00Z", now).unwrap();
        assert_eq!(w.to - w.from, DAY_MS);
        assert!(parse_window("2026-11-20T00:00:00Z/2026-11-19T00:00:00Z", now).is_err());
    }
}
