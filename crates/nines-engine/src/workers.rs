//! Background workers: the stale detector and the passes of the engines
//! that run only on the replica holding the `workers` lease (who holds it:
//! `leadership`); and a downtime's timeline, compiled once when it
//! resolves ([`compile_timeline`], which the API also uses for an open one).

use crate::leadership::{Leadership, Passes};
use nines_core::clock::Clock;
use nines_core::clock::{Millis, rfc3339};
use nines_core::timeline::StaleRule;
use nines_store::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;

/// The stale detector: every `every`, while leader, place the stale marks
/// that silence has earned.
pub async fn stale_detector(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    rule: StaleRule,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut ticks = me.ticks(every, stop);
    while ticks.next().await {
        let floor = me.floor.load(Ordering::SeqCst);
        match store.stale_tick(&rule, clock.now_ms(), floor).await {
            Ok(changes) => {
                for (id, t) in &changes {
                    tracing::info!(service_id = id, from = %t.from, to = %t.to, at = %nines_core::clock::rfc3339(t.at), "stale: no report");
                }
            }
            Err(e) => tracing::error!(error = %e, "stale detection failed"),
        }
        Passes::done(&me.passes.stale);
    }
}

/// The SLO worker: while leader, finalize daily and monthly results once the
/// settle delay has passed, redo periods a late observation changed, and
/// raise or clear burn-rate alerts as events. On every replica, refresh the
/// figures /metrics serves.
pub async fn slo_worker(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    metrics: Arc<crate::metrics::Metrics>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let cfg = match crate::config::SloConfig::load(&store).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot read SystemConfig");
                continue;
            }
        };
        let now = clock.now_ms();
        if me.leads() {
            match store.aggregate(now, cfg.settle_ms, 31).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(days = n, "finalized daily results"),
                Err(e) => tracing::error!(error = %e, "aggregation failed"),
            }
            if let Err(e) = evaluate_burn_rates(&store, now, &cfg).await {
                tracing::error!(error = %e, "burn-rate evaluation failed");
            }
            Passes::done(&me.passes.slo);
        }
        if let Err(e) = metrics.refresh(&store, now, &cfg).await {
            tracing::error!(error = %e, "refreshing SLO metrics failed");
        }
    }
}

/// Compare every service's multi-window burn rates with the alerts raised
/// and record what changed.
pub async fn evaluate_burn_rates(
    store: &Store,
    now: i64,
    cfg: &crate::config::SloConfig,
) -> nines_store::Result<usize> {
    let subjects = store.slo_subjects(None).await?;
    let recent = crate::slo::bulk_recent(store, &subjects, None, now).await?;
    let active = store.active_alerts().await?;
    let mut changes = 0;
    // what the notifier should know: (service, severity, on, rates, target)
    let mut seen = Vec::new();
    for s in &subjects {
        let Some((initial, trs)) = recent.get(&s.id) else { continue };
        let p = crate::slo::policy_for(s, cfg);
        let (slo_t, _) = crate::slo::targets_for(s, cfg);
        let burn = crate::slo::burn_accounts(*initial, trs, now, s.created_at, &p);
        let mut rates = nines_core::slo::BurnRates::default();
        for (n, a) in &burn {
            rates.set(n, nines_core::slo::burn_rate(a, slo_t));
        }
        // a service with less counted history than SLO_MIN_HISTORY_MINUTES
        // raises no burn alert (its longest window holds all it has)
        let known = burn.iter().map(|(_, a)| *a).max_by_key(|a| a.counted_ms()).unwrap_or_default();
        let alerts =
            if cfg.thresholds.enough(&known) { nines_core::slo::burn_alerts(&rates) } else { Default::default() };
        seen.push((s, nines_notify::event::BurnSeverity::Page, alerts.page, rates, slo_t.percent()));
        seen.push((s, nines_notify::event::BurnSeverity::Ticket, alerts.ticket, rates, slo_t.percent()));
        for (severity, on) in [("page", alerts.page), ("ticket", alerts.ticket)] {
            let key = ("service".to_string(), s.id.to_string(), severity.to_string());
            let was = active.contains_key(&key);
            if on != was {
                let payload = serde_json::json!({
                    "service": s.name, "nodeId": s.node_id, "id": s.id, "severity": severity,
                    "sloTarget": slo_t.percent(), "burnRates": rates,
                });
                store.set_alert("service", &s.id.to_string(), severity, &s.organization, on, &payload, now).await?;
                tracing::info!(service = %s.name, severity, raised = on, "burn-rate alert");
                changes += 1;
            }
        }
    }
    notify_burn_rates(store, &seen, now).await?;
    Ok(changes)
}

type BurnSeen<'a> =
    (&'a nines_store::slo::SloSubject, nines_notify::event::BurnSeverity, bool, nines_core::slo::BurnRates, f64);

/// Raise and clear the burn-rate notification conditions. Kept apart from
/// the alert rows above so a crash between the two heals on the next pass.
async fn notify_burn_rates(store: &Store, seen: &[BurnSeen<'_>], now: i64) -> nines_store::Result<()> {
    let raised = store.raised_conditions("slo:").await?;
    let key = |s: &nines_store::slo::SloSubject, sev: nines_notify::event::BurnSeverity| {
        format!("slo:{}:{}", s.id, sev.as_str())
    };
    let keys: Vec<String> = seen.iter().map(|(s, sev, ..)| key(s, *sev)).collect();
    let known: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    // only the conditions whose state differs from what is raised are built
    // (a fleet has two a service; most passes change a few or none)
    let changed: Vec<&BurnSeen<'_>> =
        seen.iter().zip(&keys).filter(|((.., on, _, _), k)| *on != raised.contains_key(*k)).map(|(x, _)| x).collect();
    if changed.is_empty() && raised.keys().all(|k| known.contains(k.as_str())) {
        return Ok(());
    }
    // A fleet-wide change (every service's budget burning at once) changes
    // thousands: build and apply them a slice at a time, so memory stays
    // flat however many there are.
    for slice in changed.chunks(500) {
        // tags and status for routing and the message
        let mut ids: Vec<i64> = slice.iter().map(|(s, ..)| s.id).collect();
        ids.dedup();
        let records: std::collections::HashMap<i64, nines_store::ServiceRecord> =
            store.services_by_id(&ids).await?.into_iter().map(|r| (r.view.id, r)).collect();
        let conditions: Vec<crate::notify::Condition> = slice
            .iter()
            .map(|(s, sev, on, rates, target)| {
                let service = match records.get(&s.id) {
                    Some(r) => crate::notify::service_ref(r),
                    None => nines_notify::event::ServiceRef {
                        id: s.id.to_string(),
                        name: s.name.clone(),
                        node_id: s.node_id.clone(),
                        status: nines_core::Status::Unknown,
                        criticality: s.criticality,
                        tags: Vec::new(),
                        url: None,
                        reason: None,
                    },
                };
                crate::notify::burn_condition(service, &s.organization, *sev, *on, *rates, *target, now)
            })
            .collect();
        crate::notify::apply_conditions(store, &conditions, &raised, now).await?;
    }
    crate::notify::drop_gone(store, &raised, &known).await
}

/// The downtime worker: while leader, turn new transitions into downtimes
/// (open, join, recover, resolve), each transition once, and compile the
/// timeline of every downtime that resolved.
pub async fn downtime_worker(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut ticks = me.ticks(every, stop);
    while ticks.next().await {
        if let Err(e) = process_downtimes(&store, clock.now_ms()).await {
            tracing::error!(error = %e, "downtime processing failed");
        }
        Passes::done(&me.passes.downtimes);
    }
}

/// One pass of the downtime engine over transitions not handled yet.
///
/// The open downtimes and maintenance windows are read once per pass and
/// kept up to date in memory across batches; each batch is one write
/// transaction. Timelines are compiled once for the downtimes that resolved.
pub async fn process_downtimes(store: &Store, now: i64) -> nines_store::Result<usize> {
    let cfg = crate::config::SloConfig::load(store).await?;
    let mut handled = 0;
    let mut open: Option<nines_core::downtime::OpenSet> = None;
    let mut windows = None;
    // the cursor is read once; each committed batch moves it to its last row
    let mut cursor = store.downtime_cursor().await?;
    loop {
        let rows = store.transitions_after(cursor, 1000).await?;
        let Some(last) = rows.last().map(|r| r.id) else { break };
        let open = match &mut open {
            Some(o) => o,
            None => open.insert(nines_core::downtime::OpenSet::new(store.open_downtimes().await?)),
        };
        let windows = match &windows {
            Some(w) => w,
            None => windows.insert(store.list_maintenance(None).await?),
        };
        let batch = rows.iter().map(|r| (&r.subject, r.from, r.to, r.at));
        // planned work: no downtime, so no notification (a member of an open
        // downtime going into maintenance is still followed)
        let all = nines_core::downtime::decide_batch(open, batch, cfg.correlation_ms, |open, s, at| {
            open.of_service(s.service_id).is_none()
                && crate::maintenance::active(
                    windows,
                    &s.organization,
                    s.service_id,
                    &s.node_id,
                    s.sla_group.as_deref(),
                    at,
                )
                .is_some()
        });
        let opened = match store.apply_downtime_actions(&all, cursor, last, now).await {
            Ok(o) => o,
            Err(nines_store::Error::Conflict(why)) => {
                // another replica got there first; what it did stands
                tracing::warn!(%why, "downtime batch skipped");
                return Ok(handled);
            }
            Err(e) => return Err(e),
        };
        open.adopt_ids(&opened);
        cursor = last;
        handled += rows.len();
    }
    // compile once the timeline of what resolved (by the engine or by hand)
    for id in store.resolved_without_timeline(now - 3_600_000).await? {
        let t = compile_timeline(store, id, now).await?;
        store.set_downtime_timeline(id, &t.to_string()).await?;
    }
    Ok(handled)
}

/// The timeline of a downtime: members' status changes, the log, and
/// activities of the organization, in time order.
pub async fn compile_timeline(store: &Store, id: i64, now: Millis) -> nines_store::Result<Value> {
    let Some((d, members, log)) = store.get_downtime(id).await? else { return Ok(json!([])) };
    let end = d.resolved_at.unwrap_or(now);
    let mut items: Vec<(Millis, u8, Value)> = Vec::new();
    let ids: Vec<i64> = members.iter().map(|m| m.service_id).collect();
    let mut timelines = store.timelines(&ids, d.started_at - 1, end + 1).await?;
    for m in &members {
        for (t, reason) in timelines.remove(&m.service_id).unwrap_or_default() {
            items.push((t.at, 0, json!({"at": rfc3339(t.at), "kind": "status", "service": m.name, "serviceId": m.service_id, "from": t.from, "to": t.to, "reason": reason})));
        }
    }
    for (at, msg) in log {
        items.push((at, 1, json!({"at": rfc3339(at), "kind": "log", "text": msg})));
    }
    for (at, kind, node, service, msg) in store.activities(&d.organization, d.started_at - 3_600_000, end).await? {
        items.push((at, 2, json!({"at": rfc3339(at), "kind": "activity", "activity": kind, "nodeId": node, "service": service, "text": msg})));
    }
    items.sort_by_key(|(at, k, _)| (*at, *k));
    Ok(Value::Array(items.into_iter().map(|(_, _, v)| v).collect()))
}
