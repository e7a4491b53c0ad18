//! The public page's data, built in one pass: every public service with its
//! current state and its 90 daily states and uptime, the groups, downtimes
//! and maintenance of public services. How a snapshot is cached and
//! refreshed is `super::cache`; what it is served as, `super::output`.
//!
//! Day figures come from the SLO engine: final days from the stored day
//! results (kept in memory and refreshed by what the aggregator wrote
//! since), open days from the status timeline, both turned into states and
//! percentages by `crate::slo::day_status` under each service's policy —
//! the same as `GET /api/v1/services/{id}/slo/daily`.

use axum::body::Bytes;
use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::{DAY_MS, Span, StatusDurations, day_floor, durations};
use nines_core::timeline::Transition;
use nines_store::Store;
use nines_store::maintenance::MaintenanceRow;
use nines_store::slo::SloSubject;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use crate::config::SloConfig;
use crate::slo::{day_status, policy_for};

/// Days in the bar (today included).
pub const DAYS: i64 = 90;
/// Past downtimes listed.
const PAST_DOWNTIMES: usize = 20;

/// The three states of the status-service JSON. MAINTENANCE and UNKNOWN are
/// `warning`: the service may not be fully usable, and nothing is known to
/// be broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Ok,
    Warning,
    Error,
}

impl State {
    pub fn of(s: Status) -> State {
        match s {
            Status::Operational => State::Ok,
            Status::Degraded | Status::Unknown | Status::Maintenance => State::Warning,
            Status::Down => State::Error,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning => "warning",
            State::Error => "error",
        }
    }
}

/// One day of a service's bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayCell {
    /// The engine's day status: OPERATIONAL, DEGRADED, DOWN or UNKNOWN (no time counted).
    pub status: Status,
    /// Percent; None when no time counted.
    pub availability: Option<f64>,
    /// Any time not OPERATIONAL (so the day has incidents to list).
    pub eventful: bool,
}

/// A public service (once, however many groups show it).
#[derive(Debug, Clone)]
pub struct Item {
    pub service_id: i64,
    /// The name it is first shown with (badges, feed, day pages).
    pub name: String,
    pub status: Status,
    /// Oldest first; the last one is today.
    pub days: Vec<DayCell>,
    pub good_ms: i64,
    pub bad_ms: i64,
    pub organization: String,
    /// When the service was first seen: nothing before it is an incident.
    pub created_at: Millis,
}

impl Item {
    /// Uptime over the bar's days, percent.
    pub fn uptime(&self) -> Option<f64> {
        let c = self.good_ms + self.bad_ms;
        (c > 0).then(|| self.good_ms as f64 * 100.0 / c as f64)
    }
}

/// A service as one group shows it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub item: usize,
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Block {
    /// The group's row id: its public handle.
    pub id: i64,
    /// The organization and the group's own name (pages pick groups by them).
    pub organization: String,
    pub group: String,
    pub name: String,
    pub description: Option<String>,
    pub shown: Vec<Shown>,
}

/// A downtime as the public sees it: only its public services, from the
/// first joining to the last recovering.
#[derive(Debug, Clone)]
pub struct PublicDowntime {
    pub id: i64,
    pub from: Millis,
    /// None while a public service is still in it.
    pub to: Option<Millis>,
    pub items: Vec<usize>,
    /// The title a person gave it for the public.
    pub title: Option<String>,
    /// Its public updates, oldest first.
    pub updates: Vec<PublicUpdate>,
}

/// What a person told the public about a downtime.
#[derive(Debug, Clone)]
pub struct PublicUpdate {
    pub id: i64,
    /// investigating, identified, monitoring or resolved.
    pub status: String,
    pub body: String,
    pub at: Millis,
}

/// An active or coming maintenance window over public services.
#[derive(Debug, Clone)]
pub struct PublicMaintenance {
    pub from: Millis,
    pub to: Millis,
    pub active: bool,
    pub items: Vec<usize>,
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Which page a snapshot is: its settings and where its links point.
#[derive(Debug, Clone, Default)]
pub struct PageMeta {
    /// None: the page of every public group (what `/` shows when no page
    /// is the default).
    pub slug: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub logo_url: Option<String>,
    pub links: Vec<nines_store::pages::PageLink>,
    pub footer: Option<String>,
    /// The start of the page's links: `/p/{slug}`, or empty at the root of
    /// its own domain (or for the default page at `/`).
    pub prefix: String,
    /// Whether the page offers email subscriptions (it has an email channel).
    pub subscribe: bool,
}

pub struct Snapshot {
    pub version: u64,
    pub now: Millis,
    /// Start of the bar's first day.
    pub first_day: Millis,
    pub items: Vec<Item>,
    pub by_service: HashMap<i64, usize>,
    pub blocks: Vec<Block>,
    pub downtimes: Vec<PublicDowntime>,
    pub maintenance: Vec<PublicMaintenance>,
    /// How long building this snapshot took.
    pub build_ms: f64,
    /// Where nines is reached from outside (`--public-url`), for the links
    /// that leave the page (the feed's).
    pub base_url: String,
    /// UNKNOWN stretches shorter than this are not shown as incidents
    /// (SystemConfig `STATUS_PAGE_MIN_UNKNOWN_SECONDS`).
    pub unknown_min_ms: i64,
    /// Every configured page (as read with this snapshot).
    pub pages: Arc<Vec<nines_store::pages::PageRow>>,
    /// The page this snapshot is.
    pub meta: PageMeta,
    /// The outputs made from it, each made once (`super::output`).
    pub(super) page: OnceLock<Bytes>,
    pub(super) status_json: OnceLock<Bytes>,
    pub(super) feed: OnceLock<Bytes>,
}

impl Snapshot {
    /// The worst current state of every public service (`ok` when none).
    pub fn overall(&self) -> State {
        self.items.iter().map(|i| State::of(i.status)).max().unwrap_or(State::Ok)
    }
    pub fn etag(&self) -> String {
        format!("\"sp-{}\"", self.version)
    }
    pub fn day_index(&self, day: Millis) -> Option<usize> {
        let i = (day - self.first_day) / DAY_MS;
        (day >= self.first_day && day % DAY_MS == 0 && (i as usize) < DAYS as usize).then_some(i as usize)
    }
}

/// A day result as cached: milliseconds per status (each under a day, so
/// `i32` holds them) and the status the day ended in.
#[derive(Debug, Clone, Copy)]
struct Rec {
    ms: [i32; 6],
    end: Status,
}

impl Rec {
    fn durations(&self) -> StatusDurations {
        let m = self.ms;
        StatusDurations {
            operational_ms: m[0] as i64,
            degraded_ms: m[1] as i64,
            down_ms: m[2] as i64,
            maintenance_ms: m[3] as i64,
            unknown_ms: m[4] as i64,
            absent_ms: m[5] as i64,
        }
    }
    fn of(d: &StatusDurations, end: Status) -> Rec {
        let c = |v: i64| v.clamp(0, i32::MAX as i64) as i32;
        Rec {
            ms: [
                c(d.operational_ms),
                c(d.degraded_ms),
                c(d.down_ms),
                c(d.maintenance_ms),
                c(d.unknown_ms),
                c(d.absent_ms),
            ],
            end,
        }
    }
}

/// Final day results of public services, by service, sorted by day.
#[derive(Default)]
pub(super) struct DayCache {
    /// Rows before this day were never read (the bar's first day less one).
    from: Millis,
    /// Highest `computed_at` seen: later reads take only rows at or after it.
    seen: Millis,
    /// The store's day-results marker at the last read: no change, no read.
    marker: String,
    rows: HashMap<i64, Vec<(Millis, Rec)>>,
    loaded: HashSet<i64>,
    started: bool,
}

impl DayCache {
    fn put(&mut self, id: i64, day: Millis, r: Rec) {
        let v = self.rows.entry(id).or_default();
        match v.binary_search_by_key(&day, |x| x.0) {
            Ok(i) => v[i].1 = r,
            Err(i) => v.insert(i, (day, r)),
        }
    }
    fn get(&self, id: i64, day: Millis) -> Option<Rec> {
        let v = self.rows.get(&id)?;
        v.binary_search_by_key(&day, |x| x.0).ok().map(|i| v[i].1)
    }

    /// Bring the cache up to date for `ids` with the bar starting at `first`.
    async fn sync(&mut self, store: &Store, ids: &HashSet<i64>, first: Millis) -> nines_store::Result<()> {
        let from = first - DAY_MS;
        // read before the rows: a write in between is read again next time
        let marker = store.day_results_marker().await?;
        if !self.started || from < self.from {
            // first use (or a clock moved back): read every row of the bar
            *self = DayCache { from, seen: i64::MIN, started: true, marker, ..Default::default() };
            let rows = store.day_results_since(from, i64::MIN).await?;
            for r in rows {
                self.seen = self.seen.max(r.computed_at);
                if ids.contains(&r.service_id) {
                    self.put(r.service_id, r.start, Rec::of(&r.durations, r.end_status));
                }
            }
            self.loaded = ids.clone();
            return Ok(());
        }
        if from > self.from {
            self.from = from;
            for v in self.rows.values_mut() {
                v.retain(|(d, _)| *d >= from);
            }
        }
        if marker != self.marker {
            // `>=`: rows written later within the same millisecond as the
            // last ones seen count too (one aggregator pass shares its `now`)
            for r in store.day_results_since(from, self.seen).await? {
                self.seen = self.seen.max(r.computed_at);
                if self.loaded.contains(&r.service_id) {
                    self.put(r.service_id, r.start, Rec::of(&r.durations, r.end_status));
                }
            }
            self.marker = marker;
        }
        // services that became public since: read theirs one by one
        let new: Vec<i64> = ids.iter().filter(|i| !self.loaded.contains(i)).copied().collect();
        for id in new {
            for p in store.period_rows(id, "day", from, i64::MAX).await? {
                self.put(id, p.start, Rec::of(&p.durations, p.end_status));
            }
            self.loaded.insert(id);
        }
        self.loaded.retain(|i| ids.contains(i));
        self.rows.retain(|i, _| ids.contains(i));
        Ok(())
    }
}

/// Each public service's status at `at` and transitions from `at` to
/// `now`, reading the day cache for the status where it can.
async fn open_days(
    store: &Store,
    days: &DayCache,
    subjects: &HashMap<i64, &SloSubject>,
    ids: &HashSet<i64>,
    open_from: Millis,
    now: Millis,
) -> nines_store::Result<HashMap<i64, (Status, Vec<Transition>)>> {
    let mut out = HashMap::with_capacity(ids.len());
    if open_from >= now {
        return Ok(out);
    }
    let mut trs = store.transitions_in(None, &[Span { from: open_from, to: now }]).await?;
    for id in ids {
        let created = subjects.get(id).map_or(i64::MIN, |s| s.created_at);
        let initial = match days.get(*id, open_from - DAY_MS) {
            Some(r) => r.end,
            // created after the day boundary: nothing before it counts
            None if created >= open_from => Status::Unknown,
            None => store.timeline_window(*id, Span { from: open_from, to: open_from }).await?.0,
        };
        out.insert(*id, (initial, trs.remove(id).unwrap_or_default()));
    }
    Ok(out)
}

/// Build a snapshot from the store at `now`.
pub(super) async fn build(
    store: &Store,
    days: &mut DayCache,
    now: Millis,
    version: u64,
) -> nines_store::Result<Snapshot> {
    let cfg = SloConfig::load(store).await?;
    let entries = store.public_entries().await?;
    let all_subjects = store.slo_subjects(None).await?;
    let subjects: HashMap<i64, &SloSubject> = all_subjects.iter().map(|s| (s.id, s)).collect();
    let ids: HashSet<i64> = entries.iter().map(|e| e.service_id).collect();
    let today = day_floor(now);
    let first = today - (DAYS - 1) * DAY_MS;
    days.sync(store, &ids, first).await?;
    let cursor = store.days_final_until().await?.unwrap_or(i64::MIN);
    // as the daily series: final days from results, the rest from the timeline
    let open_from = first.max(cursor.min(today + DAY_MS));
    let open = open_days(store, days, &subjects, &ids, open_from, now).await?;

    // items, in the order the page first shows them
    let mut entries = entries;
    entries.sort_by(|a, b| {
        (a.group_position.unwrap_or(i64::MAX), a.group_name == nines_store::statuspage::DEFAULT_GROUP)
            .cmp(&(b.group_position.unwrap_or(i64::MAX), b.group_name == nines_store::statuspage::DEFAULT_GROUP))
            .then_with(|| a.group_display_name.cmp(&b.group_display_name))
            .then_with(|| a.organization.cmp(&b.organization))
            .then(a.group_id.cmp(&b.group_id))
            .then(a.position.cmp(&b.position))
            .then_with(|| a.display_name.cmp(&b.display_name))
            .then(a.service_id.cmp(&b.service_id))
    });
    let mut items: Vec<Item> = Vec::with_capacity(ids.len());
    let mut by_service: HashMap<i64, usize> = HashMap::with_capacity(ids.len());
    let mut blocks: Vec<Block> = Vec::new();
    let absent = StatusDurations { absent_ms: DAY_MS, ..Default::default() };
    for e in &entries {
        let idx = match by_service.get(&e.service_id) {
            Some(i) => *i,
            None => {
                let Some(subj) = subjects.get(&e.service_id) else { continue };
                let p = policy_for(subj, &cfg);
                let mut cells = Vec::with_capacity(DAYS as usize);
                let (mut good, mut bad) = (0, 0);
                let (initial, trs) =
                    open.get(&e.service_id).map(|(i, t)| (*i, t.as_slice())).unwrap_or((Status::Unknown, &[]));
                for k in 0..DAYS {
                    let d = first + k * DAY_MS;
                    let dur = if d >= open_from {
                        if d >= now {
                            absent
                        } else {
                            durations(initial, trs, Span { from: d, to: (d + DAY_MS).min(now) }, subj.created_at)
                        }
                    } else {
                        days.get(e.service_id, d).map_or(absent, |r| r.durations())
                    };
                    let acc = dur.classify(&p);
                    good += acc.good_ms;
                    bad += acc.bad_ms;
                    cells.push(DayCell {
                        status: day_status(&dur, &acc),
                        availability: acc.availability().map(|r| r * 100.0),
                        eventful: dur.degraded_ms + dur.down_ms + dur.maintenance_ms + dur.unknown_ms > 0,
                    });
                }
                items.push(Item {
                    service_id: e.service_id,
                    name: e.display_name.clone(),
                    status: e.status,
                    days: cells,
                    good_ms: good,
                    bad_ms: bad,
                    organization: e.organization.clone(),
                    created_at: subj.created_at,
                });
                by_service.insert(e.service_id, items.len() - 1);
                items.len() - 1
            }
        };
        let shown = Shown { item: idx, name: e.display_name.clone(), description: e.description.clone() };
        match blocks.last_mut() {
            Some(b) if b.id == e.group_id => {
                if !b.shown.iter().any(|s| s.item == idx) {
                    b.shown.push(shown)
                }
            }
            _ => blocks.push(Block {
                id: e.group_id,
                organization: e.organization.clone(),
                group: e.group_name.clone(),
                name: e.group_display_name.clone(),
                description: e.group_description.clone(),
                shown: vec![shown],
            }),
        }
    }

    // downtimes: public members only
    let mut downtimes: Vec<PublicDowntime> = Vec::new();
    for m in store.public_downtime_members(first).await? {
        let Some(&idx) = by_service.get(&m.service_id) else { continue };
        let end = m.recovered_at.or(m.resolved_at);
        match downtimes.last_mut() {
            Some(d) if d.id == m.downtime_id => {
                d.from = d.from.min(m.joined_at);
                d.to = match (d.to, end) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                if !d.items.contains(&idx) {
                    d.items.push(idx);
                }
            }
            _ => downtimes.push(PublicDowntime {
                id: m.downtime_id,
                from: m.joined_at,
                to: end,
                items: vec![idx],
                title: None,
                updates: Vec::new(),
            }),
        }
    }
    let mut current: Vec<PublicDowntime> = downtimes.iter().filter(|d| d.to.is_none()).cloned().collect();
    current.extend(downtimes.into_iter().filter(|d| d.to.is_some()).take(PAST_DOWNTIMES));
    let ids: Vec<i64> = current.iter().map(|d| d.id).collect();
    let titles: HashMap<i64, String> = store.downtime_public_titles(&ids).await?.into_iter().collect();
    let mut updates: HashMap<i64, Vec<PublicUpdate>> = HashMap::new();
    for u in store.downtime_updates(&ids).await? {
        updates.entry(u.downtime_id).or_default().push(PublicUpdate {
            id: u.id,
            status: u.status,
            body: u.body,
            at: u.created_at,
        });
    }
    for d in &mut current {
        d.title = titles.get(&d.id).cloned();
        d.updates = updates.remove(&d.id).unwrap_or_default();
    }

    let maintenance = public_maintenance(&store.list_maintenance(None).await?, &items, &subjects, now);
    Ok(Snapshot {
        version,
        now,
        first_day: first,
        items,
        by_service,
        blocks,
        downtimes: current,
        maintenance,
        build_ms: 0.0,
        page: OnceLock::new(),
        status_json: OnceLock::new(),
        feed: OnceLock::new(),
        base_url: String::new(),
        unknown_min_ms: cfg.public_unknown_min_ms,
        pages: Arc::new(store.status_pages().await?),
        meta: PageMeta { title: "System status".into(), ..Default::default() },
    })
}

/// Active and coming (30 days) maintenance windows over public services.
fn public_maintenance(
    windows: &[MaintenanceRow],
    items: &[Item],
    subjects: &HashMap<i64, &SloSubject>,
    now: Millis,
) -> Vec<PublicMaintenance> {
    let mut out = Vec::new();
    for m in windows {
        let affected: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, it)| {
                subjects.get(&it.service_id).is_some_and(|s| {
                    crate::maintenance::covers(m, &s.organization, s.id, &s.node_id, s.sla_group.as_deref())
                })
            })
            .map(|(i, _)| i)
            .collect();
        if affected.is_empty() {
            continue;
        }
        if let Some(sp) = crate::maintenance::spans(m, Span { from: now, to: now + 30 * DAY_MS }).first() {
            // a span clipped at `now` is the one going on
            let active = sp.from <= now;
            let from = if active {
                crate::maintenance::spans(m, Span { from: now - 7 * DAY_MS, to: now + 1 })
                    .last()
                    .map_or(sp.from, |s| s.from)
            } else {
                sp.from
            };
            out.push(PublicMaintenance {
                from,
                to: sp.to,
                active,
                items: affected,
                title: m.public_title.clone(),
                description: m.public_description.clone(),
            });
        }
    }
    out.sort_by_key(|m| (!m.active, m.from));
    out.truncate(20);
    out
}

/// The part of the snapshot of every public group that a page shows: its
/// groups (`keep`), their services, and the downtimes and maintenance of
/// those services only (a downtime lists only the page's services). Day
/// figures are shared, not recomputed: a service has one set of figures
/// whatever page shows it.
pub fn subset(all: &Snapshot, keep: impl Fn(&Block) -> bool, meta: PageMeta) -> Snapshot {
    let mut items: Vec<Item> = Vec::new();
    let mut by_service: HashMap<i64, usize> = HashMap::new();
    let mut remap: HashMap<usize, usize> = HashMap::new();
    let mut blocks = Vec::new();
    for b in all.blocks.iter().filter(|b| keep(b)) {
        let mut nb = b.clone();
        for sh in &mut nb.shown {
            let n = *remap.entry(sh.item).or_insert_with(|| {
                items.push(all.items[sh.item].clone());
                by_service.insert(all.items[sh.item].service_id, items.len() - 1);
                items.len() - 1
            });
            sh.item = n;
        }
        blocks.push(nb);
    }
    let pick = |list: &[usize]| -> Vec<usize> { list.iter().filter_map(|i| remap.get(i).copied()).collect() };
    let downtimes = all
        .downtimes
        .iter()
        .filter_map(|d| {
            let items = pick(&d.items);
            (!items.is_empty()).then(|| PublicDowntime { items, ..d.clone() })
        })
        .collect();
    let maintenance = all
        .maintenance
        .iter()
        .filter_map(|m| {
            let items = pick(&m.items);
            (!items.is_empty()).then(|| PublicMaintenance { items, ..m.clone() })
        })
        .collect();
    Snapshot {
        version: all.version,
        now: all.now,
        first_day: all.first_day,
        items,
        by_service,
        blocks,
        downtimes,
        maintenance,
        build_ms: all.build_ms,
        base_url: all.base_url.clone(),
        unknown_min_ms: all.unknown_min_ms,
        pages: all.pages.clone(),
        meta,
        page: OnceLock::new(),
        status_json: OnceLock::new(),
        feed: OnceLock::new(),
    }
}

/// A stretch of one status inside a span: what `/status/{id}` and the day
/// pages list (OPERATIONAL stretches are not incidents and are left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub from: Millis,
    pub to: Millis,
    pub status: Status,
}

/// An incident as the day page shows it: the not-OPERATIONAL stretches of
/// public services that overlap or touch, joined into one span, with each
/// affected service once at the worst state it had in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub from: Millis,
    pub to: Millis,
    /// (item, worst state in the incident), in order of first appearance.
    pub services: Vec<(usize, Status)>,
}

impl Incident {
    pub fn worst(&self) -> Status {
        self.services.iter().map(|(_, s)| *s).reduce(Status::worst).unwrap_or(Status::Unknown)
    }
}

/// Join stretches (of any services) into incidents: a stretch that starts
/// at or before the end of the incident so far belongs to it.
pub fn group_incidents(list: &[(usize, Stretch)]) -> Vec<Incident> {
    let mut sorted: Vec<&(usize, Stretch)> = list.iter().collect();
    sorted.sort_by_key(|(i, st)| (st.from, *i));
    let mut out: Vec<Incident> = Vec::new();
    for (i, st) in sorted {
        match out.last_mut() {
            Some(cur) if st.from <= cur.to => {
                cur.to = cur.to.max(st.to);
                match cur.services.iter_mut().find(|(k, _)| k == i) {
                    Some((_, s)) => *s = s.worst(st.status),
                    None => cur.services.push((*i, st.status)),
                }
            }
            _ => out.push(Incident { from: st.from, to: st.to, services: vec![(*i, st.status)] }),
        }
    }
    out
}

/// Stretches of not-OPERATIONAL status in `w`, from the status at `w.from`
/// and the transitions (sorted; earlier ones are skipped). UNKNOWN
/// stretches shorter than `unknown_min_ms` are blips the public is not shown
/// (a probe's hiccup, an agent reconnecting); the SLO still counts them.
pub fn incidents(initial: Status, transitions: &[Transition], w: Span, unknown_min_ms: i64) -> Vec<Stretch> {
    let mut out: Vec<Stretch> = Vec::new();
    let start = transitions.partition_point(|t| t.at <= w.from);
    let mut cur = if start == 0 { initial } else { transitions[start - 1].to };
    let mut t = w.from;
    let close = |out: &mut Vec<Stretch>, from: Millis, to: Millis, s: Status| {
        if s == Status::Operational || to <= from {
            return;
        }
        match out.last_mut() {
            Some(l) if l.status == s && l.to == from => l.to = to,
            _ => out.push(Stretch { from, to, status: s }),
        }
    };
    for tr in &transitions[start..] {
        if tr.at >= w.to {
            break;
        }
        if tr.to != cur {
            close(&mut out, t, tr.at, cur);
            t = tr.at;
            cur = tr.to;
        }
    }
    close(&mut out, t, w.to, cur);
    out.retain(|s| s.status != Status::Unknown || s.to - s.from >= unknown_min_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_core::timeline::Cause;

    fn tr(at: Millis, to: Status) -> Transition {
        Transition { at, from: Status::Unknown, to, cause: Cause::Report }
    }

    #[test]
    fn incidents_are_the_stretches_not_operational() {
        let w = Span { from: 1000, to: 2000 };
        let trs = [
            tr(500, Status::Operational),
            tr(1100, Status::Down),
            tr(1200, Status::Degraded),
            tr(1300, Status::Degraded),
            tr(1400, Status::Operational),
            tr(1900, Status::Maintenance),
            tr(2100, Status::Operational),
        ];
        let got = incidents(Status::Unknown, &trs, w, 0);
        assert_eq!(
            got,
            vec![
                Stretch { from: 1100, to: 1200, status: Status::Down },
                Stretch { from: 1200, to: 1400, status: Status::Degraded },
                Stretch { from: 1900, to: 2000, status: Status::Maintenance },
            ]
        );
        // a stretch going on at the start of the span is cut there
        assert_eq!(
            incidents(Status::Down, &[tr(1500, Status::Operational)], w, 0),
            vec![Stretch { from: 1000, to: 1500, status: Status::Down }]
        );
        assert!(incidents(Status::Operational, &[], w, 0).is_empty());
    }

    #[test]
    fn overlapping_stretches_of_several_services_are_one_incident() {
        let st = |from, to, status| Stretch { from, to, status };
        let list = [
            (0, st(100, 200, Status::Down)),
            (1, st(150, 400, Status::Degraded)),
            (0, st(200, 250, Status::Degraded)),
            (0, st(250, 300, Status::Down)),
            (2, st(500, 600, Status::Unknown)),
        ];
        let got = group_incidents(&list);
        assert_eq!(
            got,
            vec![
                Incident { from: 100, to: 400, services: vec![(0, Status::Down), (1, Status::Degraded)] },
                Incident { from: 500, to: 600, services: vec![(2, Status::Unknown)] },
            ]
        );
        assert_eq!(got[0].worst(), Status::Down);
        assert!(group_incidents(&[]).is_empty());
    }

    #[test]
    fn unknown_blips_shorter_than_the_setting_are_not_incidents() {
        let w = Span { from: 0, to: 600_000 };
        let trs = [
            tr(10_000, Status::Unknown),
            tr(30_000, Status::Operational),
            tr(100_000, Status::Unknown),
            tr(200_000, Status::Operational),
            tr(300_000, Status::Down),
            tr(305_000, Status::Operational),
        ];
        let got: Vec<(Millis, Status)> =
            incidents(Status::Operational, &trs, w, 60_000).iter().map(|s| (s.from, s.status)).collect();
        // the 20 s blip is gone; the 100 s one and a 5 s DOWN stay
        assert_eq!(got, vec![(100_000, Status::Unknown), (300_000, Status::Down)]);
        assert_eq!(incidents(Status::Operational, &trs, w, 0).len(), 3);
    }

    #[test]
    fn states_follow_the_design_mapping() {
        assert_eq!(State::of(Status::Operational), State::Ok);
        assert_eq!(State::of(Status::Degraded), State::Warning);
        assert_eq!(State::of(Status::Unknown), State::Warning);
        assert_eq!(State::of(Status::Maintenance), State::Warning);
        assert_eq!(State::of(Status::Down), State::Error);
        assert!(State::Error > State::Warning && State::Warning > State::Ok);
    }
}
