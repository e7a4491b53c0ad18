//! Storage side of the SLO engine: per-service SLO settings, the status
//! timeline read for windows, daily and monthly period results (written once
//! final, rewritten when a late observation changes a finished period),
//! SystemConfig, burn-rate alert state and events.
//!
//! The arithmetic is `nines_core::slo`'s; here are only reads and writes.

use nines_core::clock::Millis;
use nines_core::slo::{DAY_MS, Span, StatusDurations, day_floor, durations};
use nines_core::timeline::{Cause, Transition};
use nines_core::{Criticality, Status};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;

use crate::Conn;
use crate::health::parse_status;
use crate::services::bump_services_version;
use crate::{Result, Store, value_rows};

/// What the engine needs to know about a service.
#[derive(Debug, Clone)]
pub struct SloSubject {
    pub id: i64,
    pub organization: String,
    pub node_id: String,
    pub name: String,
    pub criticality: Criticality,
    pub sla_group: Option<String>,
    pub created_at: Millis,
    pub slo_target: Option<f64>,
    pub sla_target: Option<f64>,
    pub window_days: Option<i64>,
    pub degraded_counts: Option<String>,
    pub unknown_counts: Option<String>,
    /// OpenSLO objective name, when one was imported.
    pub slo_name: Option<String>,
    /// `timeslices` or None (occurrences: every second counts).
    pub budgeting: Option<String>,
    pub slice_ms: Option<i64>,
    pub slice_target: Option<f64>,
    /// The window is the calendar month rather than rolling days.
    pub calendar_month: bool,
}

const SUBJECT_COLS: &str = "s.id, s.organization, s.node_id, s.name, s.criticality, g.name AS sla_group, s.created_at,
    s.slo_target, s.sla_target, s.slo_window_days, s.degraded_counts, s.unknown_counts, s.slo_name, s.slo_budgeting,
    s.slo_slice_ms, s.slo_slice_target, s.slo_calendar_month";

fn subject(r: &sqlx::any::AnyRow) -> SloSubject {
    SloSubject {
        id: r.get(0),
        organization: r.get(1),
        node_id: r.get(2),
        name: r.get(3),
        criticality: r.get::<String, _>(4).parse().unwrap_or_default(),
        sla_group: r.get(5),
        created_at: r.get(6),
        slo_target: crate::opt_f64(r, "slo_target"),
        sla_target: crate::opt_f64(r, "sla_target"),
        window_days: r.get(9),
        degraded_counts: r.get(10),
        unknown_counts: r.get(11),
        slo_name: r.get(12),
        budgeting: r.get(13),
        slice_ms: r.get(14),
        slice_target: crate::opt_f64(r, "slo_slice_target"),
        calendar_month: r.get::<i64, _>(16) != 0,
    }
}

/// A transition from the row's columns at, from, to, cause starting at `offset`.
pub(crate) fn transition(r: &sqlx::any::AnyRow, offset: usize) -> Transition {
    Transition {
        at: r.get(offset),
        from: parse_status(&r.get::<String, _>(offset + 1)),
        to: parse_status(&r.get::<String, _>(offset + 2)),
        cause: Cause::parse(&r.get::<String, _>(offset + 3)).unwrap_or(Cause::Report),
    }
}

/// A daily or monthly period result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodRow {
    pub start: Millis,
    pub end: Millis,
    pub durations: StatusDurations,
    /// Running total of day results up to and including this one.
    pub cumulative: StatusDurations,
    pub start_status: Status,
    pub end_status: Status,
}

/// Per-service SLO settings written through the API or config.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloSettings {
    pub slo_target: Option<f64>,
    pub sla_target: Option<f64>,
    pub window_days: Option<i64>,
    pub degraded_counts: Option<String>,
    pub unknown_counts: Option<String>,
}

/// Start of the UTC month containing `t`.
pub fn month_floor(t: Millis) -> Millis {
    let ts = jiff::Timestamp::from_millisecond(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    jiff::civil::date(d.year(), d.month(), 1)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(t)
}

/// Start of the UTC month after the one containing `t`.
pub fn next_month(t: Millis) -> Millis {
    let ts = jiff::Timestamp::from_millisecond(month_floor(t)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let z = ts.to_zoned(jiff::tz::TimeZone::UTC);
    z.checked_add(jiff::Span::new().months(1)).map(|z| z.timestamp().as_millisecond()).unwrap_or(t + 31 * DAY_MS)
}

impl Store {
    /// Every service's SLO subject (of an organization). Read once per
    /// change of services (creation, declaration, targets) and cached.
    pub async fn slo_subjects(&self, organization: Option<&str>) -> Result<Vec<SloSubject>> {
        let version: String = sqlx::query("SELECT value FROM meta WHERE key = 'services_version'")
            .fetch_optional(&self.pool)
            .await?
            .map_or_else(|| "0".to_string(), |r| r.get(0));
        let cached =
            self.subjects.read().ok().and_then(|g| g.as_ref().filter(|(v, _)| *v == version).map(|(_, s)| s.clone()));
        let all = match cached {
            Some(a) => a,
            None => {
                let sql = format!(
                    "SELECT {SUBJECT_COLS} FROM services s LEFT JOIN sla_groups g ON g.id = s.sla_group_id ORDER BY s.id"
                );
                let a = Arc::new(crate::fetch_map(sqlx::query(sqlx::AssertSqlSafe(sql)), &self.pool, subject).await?);
                if let Ok(mut g) = self.subjects.write() {
                    *g = Some((version, a.clone()));
                }
                a
            }
        };
        Ok(all.iter().filter(|s| organization.is_none_or(|o| s.organization == o)).cloned().collect())
    }

    pub async fn slo_subject(&self, id: i64) -> Result<Option<SloSubject>> {
        let sql = format!(
            "SELECT {SUBJECT_COLS} FROM services s LEFT JOIN sla_groups g ON g.id = s.sla_group_id WHERE s.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(subject))
    }

    pub async fn set_slo_settings(&self, id: i64, s: &SloSettings, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE services SET slo_target = $2, sla_target = $3, slo_window_days = $4, degraded_counts = $5, unknown_counts = $6,
                updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(crate::OptF64(s.slo_target))
        .bind(crate::OptF64(s.sla_target))
        .bind(s.window_days)
        .bind(s.degraded_counts.clone())
        .bind(s.unknown_counts.clone())
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        bump_services_version(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Set a service's objective from an imported OpenSLO document.
    pub async fn set_objective(&self, id: i64, o: &nines_core::openslo::Objective0, now: Millis) -> Result<()> {
        use nines_core::openslo::{Budgeting, Window};
        let (budgeting, slice_ms, slice_target) = match o.budgeting {
            Budgeting::Occurrences => (None, None, None),
            Budgeting::Timeslices { slice_ms, slice_target } => {
                (Some("timeslices"), Some(slice_ms), Some(slice_target))
            }
        };
        let (days, month) = match o.window {
            Window::RollingDays(d) => (Some(d), 0i64),
            Window::CalendarMonth => (None, 1),
        };
        let mut w = self.write_tx().await?;
        sqlx::query(
            "UPDATE services SET slo_name = $2, slo_target = $3, slo_window_days = $4, slo_calendar_month = $5, slo_budgeting = $6,
                slo_slice_ms = $7, slo_slice_target = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(id)
        .bind(&o.name)
        .bind(o.target_percent)
        .bind(days)
        .bind(month)
        .bind(budgeting)
        .bind(slice_ms)
        .bind(crate::OptF64(slice_target))
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        bump_services_version(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Services named `name` in `organization`, optionally on one node.
    pub async fn find_services_named(
        &self,
        organization: Option<&str>,
        name: &str,
        node: Option<&str>,
    ) -> Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT id, organization, node_id FROM services WHERE name = $1 AND ($2 IS NULL OR organization = $2) AND ($3 IS NULL OR node_id = $3) ORDER BY id",
        )
        .bind(name)
        .bind(organization.map(str::to_string))
        .bind(node.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// The status in effect at `at` and the transitions in `[at, to)`.
    pub async fn timeline_window(&self, id: i64, w: Span) -> Result<(Status, Vec<Transition>)> {
        let initial = sqlx::query(
            "SELECT to_status FROM transitions WHERE service_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(id)
        .bind(w.from)
        .fetch_optional(&self.pool)
        .await?
        .map_or(Status::Unknown, |r| parse_status(&r.get::<String, _>(0)));
        let rows = sqlx::query(
            "SELECT at, from_status, to_status, cause FROM transitions WHERE service_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(id)
        .bind(w.from)
        .bind(w.to)
        .fetch_all(&self.pool)
        .await?;
        Ok((initial, rows.iter().map(|r| transition(r, 0)).collect()))
    }

    /// Days are final up to this instant (a UTC midnight), or None before the
    /// first aggregation.
    pub async fn days_final_until(&self) -> Result<Option<Millis>> {
        let row =
            sqlx::query("SELECT value FROM meta WHERE key = 'days_final_until'").fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| r.get::<String, _>(0).parse().ok()))
    }

    /// Finalize every day whose end plus `settle_ms` has passed (at most
    /// `max_days` per call), and redo the finished periods of services a late
    /// observation touched. Returns the number of days finalized.
    pub async fn aggregate(&self, now: Millis, settle_ms: i64, max_days: usize) -> Result<usize> {
        let mut done = 0;
        loop {
            if done >= max_days {
                break;
            }
            let cursor = match self.days_final_until().await? {
                Some(c) => c,
                None => {
                    let first = sqlx::query("SELECT MIN(created_at) FROM services").fetch_one(&self.pool).await?;
                    match first.try_get::<Option<i64>, _>(0).ok().flatten() {
                        Some(t) => day_floor(t),
                        None => return Ok(0),
                    }
                }
            };
            if cursor + DAY_MS + settle_ms > now {
                break;
            }
            self.finalize_day(cursor, now).await?;
            done += 1;
        }
        self.redo_dirty(now).await?;
        Ok(done)
    }

    async fn finalize_day(&self, day: Millis, now: Millis) -> Result<()> {
        let span = Span { from: day, to: day + DAY_MS };
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let services: Vec<(i64, Millis)> =
            sqlx::query("SELECT id, created_at FROM services WHERE created_at < $1 ORDER BY id")
                .bind(span.to)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
        let starts = start_statuses(conn, day).await?;
        let mut trs: HashMap<i64, Vec<Transition>> = HashMap::new();
        for r in sqlx::query(
            "SELECT service_id, at, from_status, to_status, cause FROM transitions WHERE at >= $1 AND at < $2 ORDER BY service_id, at, id",
        )
        .bind(span.from)
        .bind(span.to)
        .fetch_all(&mut *conn)
        .await?
        {
            trs.entry(r.get(0)).or_default().push(transition(&r, 1));
        }
        let mut rows = Vec::with_capacity(services.len());
        for (id, created) in services {
            let list = trs.remove(&id).unwrap_or_default();
            let (initial, base) = match starts.get(&id) {
                Some((s, c)) => (*s, *c),
                None => (initial_without_row(conn, id, day).await?, StatusDurations::default()),
            };
            let mut row = period_row(initial, &list, span, created);
            row.cumulative = base;
            row.cumulative.merge(&row.durations);
            rows.push((id, row));
        }
        write_rows(self.dialect, conn, "day", &rows, now).await?;
        let next = span.to;
        sqlx::query("INSERT INTO meta (key, value) VALUES ('days_final_until', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(next.to_string())
            .execute(&mut *conn)
            .await?;
        if month_floor(next) == next {
            // the month that just ended is final too
            write_month(self.dialect, conn, month_floor(day), None, now).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    async fn redo_dirty(&self, now: Millis) -> Result<()> {
        let Some(cursor) = self.days_final_until().await? else { return Ok(()) };
        let dirty: Vec<(i64, Millis)> = sqlx::query("SELECT service_id, from_at FROM period_dirty")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (id, from) in dirty {
            let mut w = self.write_tx().await?;
            let conn: &mut Conn = &mut w.tx;
            let first_day = day_floor(from);
            if first_day < cursor {
                let created: Option<i64> = sqlx::query("SELECT created_at FROM services WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.get(0));
                if let Some(created) = created {
                    let initial = sqlx::query(
                        "SELECT to_status FROM transitions WHERE service_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1",
                    )
                    .bind(id)
                    .bind(first_day)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map_or(Status::Unknown, |r| parse_status(&r.get::<String, _>(0)));
                    let list: Vec<Transition> = sqlx::query(
                        "SELECT at, from_status, to_status, cause FROM transitions WHERE service_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
                    )
                    .bind(id)
                    .bind(first_day)
                    .bind(cursor)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| transition(r, 0))
                    .collect();
                    let mut rows = Vec::new();
                    let mut day = first_day.max(day_floor(created));
                    let mut status = nines_core::slo::status_after(initial, &list, day - 1);
                    let mut cum = sqlx::query(
                        "SELECT cum_operational_ms, cum_degraded_ms, cum_down_ms, cum_maintenance_ms, cum_unknown_ms, cum_absent_ms
                         FROM period_results WHERE service_id = $1 AND kind = 'day' AND start_at = $2",
                    )
                    .bind(id)
                    .bind(day - DAY_MS)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map_or(StatusDurations::default(), |r| cum_at(&r, 0));
                    while day < cursor {
                        let span = Span { from: day, to: day + DAY_MS };
                        let mut row = period_row(status, &list, span, created);
                        status = row.end_status;
                        cum.merge(&row.durations);
                        row.cumulative = cum;
                        rows.push((id, row));
                        day += DAY_MS;
                    }
                    sqlx::query("DELETE FROM period_results WHERE service_id = $1 AND kind = 'day' AND start_at >= $2")
                        .bind(id)
                        .bind(first_day)
                        .execute(&mut *conn)
                        .await?;
                    write_rows(self.dialect, conn, "day", &rows, now).await?;
                    let mut m = month_floor(first_day);
                    while next_month(m) <= cursor {
                        write_month(self.dialect, conn, m, Some(id), now).await?;
                        m = next_month(m);
                    }
                }
            }
            sqlx::query("DELETE FROM period_dirty WHERE service_id = $1 AND from_at = $2")
                .bind(id)
                .bind(from)
                .execute(&mut *conn)
                .await?;
            w.tx.commit().await?;
        }
        Ok(())
    }

    /// Period results of one service and kind in `[from, to)`.
    pub async fn period_rows(&self, id: i64, kind: &str, from: Millis, to: Millis) -> Result<Vec<PeriodRow>> {
        let rows = sqlx::query(
            "SELECT start_at, end_at, operational_ms, degraded_ms, down_ms, maintenance_ms, unknown_ms, absent_ms, start_status, end_status
             FROM period_results WHERE service_id = $1 AND kind = $2 AND start_at >= $3 AND start_at < $4 ORDER BY start_at",
        )
        .bind(id)
        .bind(kind)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(read_period).collect())
    }

    /// For every service (of an organization): the summed time per status
    /// of its day results in `[from, to)`, the start status of the day at
    /// `first_day` and the end status of the day before `to`.
    pub async fn day_sums(
        &self,
        organization: Option<&str>,
        first_day: Millis,
        from: Millis,
        to: Millis,
    ) -> Result<HashMap<i64, (StatusDurations, Option<Status>, Option<Status>)>> {
        // The sum over days [from, to) is the running total at the last day
        // less the one the day before `from`: one joined row a service.
        let before = from - DAY_MS;
        let last = to - DAY_MS;
        let with_sum = last >= from;
        let rows = sqlx::query(
            "SELECT l.service_id, l.end_status, f.start_status,
                    l.cum_operational_ms - COALESCE(b.cum_operational_ms, 0), l.cum_degraded_ms - COALESCE(b.cum_degraded_ms, 0),
                    l.cum_down_ms - COALESCE(b.cum_down_ms, 0), l.cum_maintenance_ms - COALESCE(b.cum_maintenance_ms, 0),
                    l.cum_unknown_ms - COALESCE(b.cum_unknown_ms, 0), l.cum_absent_ms - COALESCE(b.cum_absent_ms, 0)
             FROM period_results l
             LEFT JOIN period_results b ON b.service_id = l.service_id AND b.kind = 'day' AND b.start_at = $2
             LEFT JOIN period_results f ON f.service_id = l.service_id AND f.kind = 'day' AND f.start_at = $3
             WHERE l.kind = 'day' AND l.start_at = $1",
        )
        .bind(last)
        .bind(before)
        .bind(first_day)
        .fetch_all(&self.pool)
        .await?;
        let ids: Option<std::collections::HashSet<i64>> = match organization {
            Some(o) => Some(self.slo_subjects(Some(o)).await?.iter().map(|s| s.id).collect()),
            None => None,
        };
        let mut out = HashMap::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.get(0);
            if ids.as_ref().is_some_and(|set| !set.contains(&id)) {
                continue;
            }
            let sum = if with_sum { cum_at(r, 3) } else { StatusDurations::default() };
            let start = r.get::<Option<String>, _>(2).map(|s| parse_status(&s));
            out.insert(id, (sum, start, Some(parse_status(&r.get::<String, _>(1)))));
        }
        Ok(out)
    }

    /// Transitions of every service (of an organization) in the given
    /// spans, by service, in time order. Only instants and new statuses are
    /// read: that is all the accounting needs.
    pub async fn transitions_in(
        &self,
        organization: Option<&str>,
        spans: &[Span],
    ) -> Result<HashMap<i64, Vec<Transition>>> {
        let ids: Option<std::collections::HashSet<i64>> = match organization {
            Some(o) => Some(self.slo_subjects(Some(o)).await?.iter().map(|s| s.id).collect()),
            None => None,
        };
        let mut out: HashMap<i64, Vec<Transition>> = HashMap::new();
        for s in spans {
            if s.to <= s.from {
                continue;
            }
            let q = sqlx::query("SELECT service_id, at, to_status FROM transitions WHERE at >= $1 AND at < $2")
                .bind(s.from)
                .bind(s.to);
            crate::for_each_row(q, &self.pool, |r| {
                let id: i64 = r.get(0);
                if ids.as_ref().is_some_and(|set| !set.contains(&id)) {
                    return;
                }
                let to = parse_status(&r.get::<String, _>(2));
                // `from` is filled in below once the list is in order
                out.entry(id).or_default().push(Transition { at: r.get(1), from: to, to, cause: Cause::Report });
            })
            .await?;
        }
        for v in out.values_mut() {
            v.sort_by_key(|t| t.at);
            for i in 1..v.len() {
                v[i].from = v[i - 1].to;
            }
        }
        Ok(out)
    }

    pub async fn system_config(&self) -> Result<HashMap<String, String>> {
        let rows = sqlx::query("SELECT key, value FROM system_config").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn set_system_config(&self, key: &str, value: Option<&str>, now: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO system_config (key, value, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(v)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM system_config WHERE key = $1").bind(key).execute(&mut *w.tx).await?;
            }
        }
        w.tx.commit().await?;
        Ok(())
    }

    pub async fn set_group_mode(
        &self,
        organization: &str,
        name: &str,
        mode: &str,
        quorum: Option<i64>,
        now: Millis,
    ) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE sla_groups SET mode = $3, quorum = $4, updated_at = $5 WHERE organization = $1 AND name = $2",
        )
        .bind(organization)
        .bind(name)
        .bind(mode)
        .bind(quorum)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// An SLA group's own `(SLO, SLA)` targets (%), each `None` when unset.
    pub async fn group_target_overrides(&self, organization: &str, name: &str) -> Result<(Option<f64>, Option<f64>)> {
        let row = sqlx::query("SELECT slo_target, sla_target FROM sla_groups WHERE organization = $1 AND name = $2")
            .bind(organization)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => (crate::opt_f64(&r, "slo_target"), crate::opt_f64(&r, "sla_target")),
            None => (None, None),
        })
    }

    /// Set (or clear, with `None`) an SLA group's own targets. False when
    /// there is no such group.
    pub async fn set_group_targets(
        &self,
        organization: &str,
        name: &str,
        slo: Option<f64>,
        sla: Option<f64>,
        now: Millis,
    ) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE sla_groups SET slo_target = $3, sla_target = $4, updated_at = $5 WHERE organization = $1 AND name = $2",
        )
        .bind(organization)
        .bind(name)
        .bind(crate::OptF64(slo))
        .bind(crate::OptF64(sla))
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// `(mode, quorum, member ids)` of a group.
    pub async fn group(&self, organization: &str, name: &str) -> Result<Option<(String, Option<i64>, Vec<i64>)>> {
        let Some(g) = sqlx::query("SELECT id, mode, quorum FROM sla_groups WHERE organization = $1 AND name = $2")
            .bind(organization)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let gid: i64 = g.get(0);
        let ids = sqlx::query("SELECT id FROM services WHERE sla_group_id = $1 ORDER BY id")
            .bind(gid)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        Ok(Some((g.get(1), g.get(2), ids)))
    }

    /// Alerts currently raised: `(object_kind, object_id, severity) → since`.
    pub async fn active_alerts(&self) -> Result<HashMap<(String, String, String), Millis>> {
        let rows =
            sqlx::query("SELECT object_kind, object_id, severity, since FROM slo_alerts").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3))).collect())
    }

    /// Raise or clear an alert and record the event, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_alert(
        &self,
        object_kind: &str,
        object_id: &str,
        severity: &str,
        organization: &str,
        raised: bool,
        payload: &serde_json::Value,
        now: Millis,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        if raised {
            sqlx::query(
                "INSERT INTO slo_alerts (object_kind, object_id, severity, organization, since) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (object_kind, object_id, severity) DO NOTHING",
            )
            .bind(object_kind)
            .bind(object_id)
            .bind(severity)
            .bind(organization)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM slo_alerts WHERE object_kind = $1 AND object_id = $2 AND severity = $3")
                .bind(object_kind)
                .bind(object_id)
                .bind(severity)
                .execute(&mut *w.tx)
                .await?;
        }
        let kind = format!("slo.burn_rate.{severity}.{}", if raised { "raised" } else { "cleared" });
        sqlx::query("INSERT INTO events (at, kind, organization, object_kind, object_id, payload) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now)
            .bind(kind)
            .bind(organization)
            .bind(object_kind)
            .bind(object_id)
            .bind(payload.to_string())
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Events after `after_id`, oldest first: `(id, at, kind, organization, object_kind, object_id, payload)`.
    #[allow(clippy::type_complexity)]
    pub async fn events_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Millis, String, String, String, String, String)>> {
        let rows = sqlx::query(
            "SELECT id, at, kind, organization, object_kind, object_id, payload FROM events WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))).collect())
    }
}

fn read_period(r: &sqlx::any::AnyRow) -> PeriodRow {
    PeriodRow {
        cumulative: StatusDurations::default(),
        start: r.get(0),
        end: r.get(1),
        durations: StatusDurations {
            operational_ms: r.get(2),
            degraded_ms: r.get(3),
            down_ms: r.get(4),
            maintenance_ms: r.get(5),
            unknown_ms: r.get(6),
            absent_ms: r.get(7),
        },
        start_status: parse_status(&r.get::<String, _>(8)),
        end_status: parse_status(&r.get::<String, _>(9)),
    }
}

fn period_row(initial: Status, transitions: &[Transition], span: Span, created: Millis) -> PeriodRow {
    let d = durations(initial, transitions, span, created);
    let end_status = nines_core::slo::status_after(initial, transitions, span.to - 1);
    let start_status = if created >= span.from { Status::Unknown } else { initial };
    PeriodRow {
        start: span.from,
        end: span.to,
        durations: d,
        cumulative: StatusDurations::default(),
        start_status,
        end_status,
    }
}

/// Status of every service at `day` and its running totals, from the
/// previous day's results.
async fn start_statuses(conn: &mut Conn, day: Millis) -> Result<HashMap<i64, (Status, StatusDurations)>> {
    let rows = sqlx::query(
        "SELECT service_id, end_status, cum_operational_ms, cum_degraded_ms, cum_down_ms, cum_maintenance_ms, cum_unknown_ms, cum_absent_ms
         FROM period_results WHERE kind = 'day' AND start_at = $1",
    )
    .bind(day - DAY_MS)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.iter().map(|r| (r.get(0), (parse_status(&r.get::<String, _>(1)), cum_at(r, 2)))).collect())
}

fn cum_at(r: &sqlx::any::AnyRow, i: usize) -> StatusDurations {
    StatusDurations {
        operational_ms: r.get(i),
        degraded_ms: r.get(i + 1),
        down_ms: r.get(i + 2),
        maintenance_ms: r.get(i + 3),
        unknown_ms: r.get(i + 4),
        absent_ms: r.get(i + 5),
    }
}

/// Status at `day` of a service without a result for the day before: the
/// latest transition before it (or UNKNOWN).
async fn initial_without_row(conn: &mut Conn, id: i64, day: Millis) -> Result<Status> {
    Ok(sqlx::query(
        "SELECT to_status FROM transitions WHERE service_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(id)
    .bind(day)
    .fetch_optional(&mut *conn)
    .await?
    .map_or(Status::Unknown, |r| parse_status(&r.get::<String, _>(0))))
}

async fn write_rows(
    d: crate::Dialect,
    conn: &mut Conn,
    kind: &str,
    rows: &[(i64, PeriodRow)],
    now: Millis,
) -> Result<()> {
    for chunk in rows.chunks(300) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO period_results (service_id, kind, start_at, end_at, operational_ms, degraded_ms, down_ms, maintenance_ms,
                unknown_ms, absent_ms, start_status, end_status, computed_at, cum_operational_ms, cum_degraded_ms, cum_down_ms,
                cum_maintenance_ms, cum_unknown_ms, cum_absent_ms) VALUES {}
             ON CONFLICT (service_id, kind, start_at) DO UPDATE SET end_at = excluded.end_at,
                operational_ms = excluded.operational_ms, degraded_ms = excluded.degraded_ms, down_ms = excluded.down_ms,
                maintenance_ms = excluded.maintenance_ms, unknown_ms = excluded.unknown_ms, absent_ms = excluded.absent_ms,
                start_status = excluded.start_status, end_status = excluded.end_status, computed_at = excluded.computed_at,
                cum_operational_ms = excluded.cum_operational_ms, cum_degraded_ms = excluded.cum_degraded_ms,
                cum_down_ms = excluded.cum_down_ms, cum_maintenance_ms = excluded.cum_maintenance_ms,
                cum_unknown_ms = excluded.cum_unknown_ms, cum_absent_ms = excluded.cum_absent_ms",
            value_rows(d, chunk.len(), 19)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for (id, r) in chunk {
            let x = &r.durations;
            q = q
                .bind(*id)
                .bind(kind)
                .bind(r.start)
                .bind(r.end)
                .bind(x.operational_ms)
                .bind(x.degraded_ms)
                .bind(x.down_ms)
                .bind(x.maintenance_ms)
                .bind(x.unknown_ms)
                .bind(x.absent_ms)
                .bind(r.start_status.as_str())
                .bind(r.end_status.as_str())
                .bind(now);
            let c = &r.cumulative;
            q = q
                .bind(c.operational_ms)
                .bind(c.degraded_ms)
                .bind(c.down_ms)
                .bind(c.maintenance_ms)
                .bind(c.unknown_ms)
                .bind(c.absent_ms);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Month results as sums of the month's day results (for one service or all).
async fn write_month(d: crate::Dialect, conn: &mut Conn, month: Millis, only: Option<i64>, now: Millis) -> Result<()> {
    let end = next_month(month);
    let rows = sqlx::query(
        "SELECT service_id, start_at, end_at, operational_ms, degraded_ms, down_ms, maintenance_ms, unknown_ms, absent_ms, start_status, end_status
         FROM period_results WHERE kind = 'day' AND start_at >= $1 AND start_at < $2 AND ($3 IS NULL OR service_id = $3)
         ORDER BY service_id, start_at",
    )
    .bind(month)
    .bind(end)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut by: Vec<(i64, PeriodRow)> = Vec::new();
    for r in &rows {
        let id: i64 = r.get(0);
        let mut p = PeriodRow {
            start: r.get(1),
            end: r.get(2),
            durations: StatusDurations {
                operational_ms: r.get(3),
                degraded_ms: r.get(4),
                down_ms: r.get(5),
                maintenance_ms: r.get(6),
                unknown_ms: r.get(7),
                absent_ms: r.get(8),
            },
            cumulative: StatusDurations::default(),
            start_status: parse_status(&r.get::<String, _>(9)),
            end_status: parse_status(&r.get::<String, _>(10)),
        };
        match by.last_mut() {
            Some((last, m)) if *last == id => {
                m.durations.merge(&p.durations);
                m.end_status = p.end_status;
                m.end = p.end;
            }
            _ => {
                // days before the service existed count as absent
                p.durations.absent_ms += p.start - month;
                p.start = month;
                by.push((id, p));
            }
        }
    }
    for (_, m) in by.iter_mut() {
        m.end = end;
    }
    write_rows(d, conn, "month", &by, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let t = nines_core::clock::parse_rfc3339("2026-02-14T10:00:00Z").unwrap();
        assert_eq!(month_floor(t), nines_core::clock::parse_rfc3339("2026-02-01T00:00:00Z").unwrap());
        assert_eq!(next_month(t), nines_core::clock::parse_rfc3339("2026-03-01T00:00:00Z").unwrap());
        let dec = nines_core::clock::parse_rfc3339("2026-12-31T23:59:59Z").unwrap();
        assert_eq!(next_month(dec), nines_core::clock::parse_rfc3339("2027-01-01T00:00:00Z").unwrap());
    }
}
