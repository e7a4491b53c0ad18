//! Downtimes as stored: opened, joined, recovered and resolved by the
//! downtime worker from the status timeline (decisions in
//! `nines_core::downtime`), or created by hand; their log, members, notes and
//! the activities that fall inside them.

use nines_core::clock::Millis;
use nines_core::downtime::{
    Action, Member, OpenDowntime, Subject, due_times, joined, level, log_line, most_critical, severity,
};
use nines_core::{Criticality, Status};
use serde::Serialize;
use sqlx::Row;

use crate::Conn;
use crate::{Arg, Dialect, Error, Result, Script, Store};

/// A transition with what the downtime engine needs of its service.
#[derive(Debug, Clone)]
pub struct TransitionRow {
    pub id: i64,
    pub subject: Subject,
    pub at: Millis,
    pub from: Status,
    pub to: Status,
}

/// Which downtimes [`Store::find_downtimes`] gives.
#[derive(Debug, Clone, Copy, Default)]
pub struct DowntimeFilter<'a> {
    pub organization: Option<&'a str>,
    /// Only open (true) or only resolved (false) downtimes.
    pub open_only: Option<bool>,
    /// Only downtimes that overlap `[from, to)`: started before `to` and
    /// not resolved by `from`.
    pub overlapping: Option<(Millis, Millis)>,
    /// Only downtimes after this one in the list's order: `(started_at, id)`.
    pub after: Option<(Millis, i64)>,
    /// At most this many.
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeRow {
    pub id: i64,
    pub organization: String,
    pub title: String,
    pub source: String,
    pub severity: String,
    pub classification: Option<String>,
    pub counts_towards_sla: bool,
    pub excluded_reason: Option<String>,
    pub started_at: Millis,
    pub resolved_at: Option<Millis>,
    pub acknowledged_at: Option<Millis>,
    pub acknowledged_by: Option<String>,
    pub response_due_at: Millis,
    pub resolution_due_at: Millis,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberRow {
    pub service_id: i64,
    pub name: String,
    pub node_id: String,
    pub down: bool,
    pub joined_at: Millis,
    pub recovered_at: Option<Millis>,
}

/// Changes to apply to a downtime by hand.
#[derive(Debug, Clone, Default)]
pub struct DowntimePatch {
    pub title: Option<String>,
    pub severity: Option<String>,
    pub classification: Option<String>,
    pub counts_towards_sla: Option<bool>,
    pub excluded_reason: Option<String>,
    pub resolved_at: Option<Millis>,
}

const DT_COLS: &str =
    "id, organization, title, source, severity, classification, counts_towards_sla, excluded_reason, started_at,
    resolved_at, acknowledged_at, acknowledged_by, response_due_at, resolution_due_at";

fn dt(r: &sqlx::any::AnyRow) -> DowntimeRow {
    DowntimeRow {
        id: r.get(0),
        organization: r.get(1),
        title: r.get(2),
        source: r.get(3),
        severity: r.get(4),
        classification: r.get(5),
        counts_towards_sla: r.get::<i64, _>(6) != 0,
        excluded_reason: r.get(7),
        started_at: r.get(8),
        resolved_at: r.get(9),
        acknowledged_at: r.get(10),
        acknowledged_by: r.get(11),
        response_due_at: r.get(12),
        resolution_due_at: r.get(13),
    }
}

async fn log(conn: &mut Conn, id: i64, at: Millis, msg: &str) -> Result<()> {
    sqlx::query("INSERT INTO downtime_log (downtime_id, at, message) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(at)
        .bind(msg)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Insert log lines in a few multi-row statements (the order of `lines` is
/// the order of their ids, which the log view sorts ties by).
async fn log_many(conn: &mut Conn, d: crate::Dialect, lines: &[(i64, Millis, String)]) -> Result<()> {
    for chunk in lines.chunks(200) {
        let mut sql = String::from("INSERT INTO downtime_log (downtime_id, at, message) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&crate::placeholders(d, 3 * i + 1, 3));
            sql.push(')');
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, at, msg) in chunk {
            q = q.bind(*id).bind(*at).bind(msg.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The event row of a downtime's opening or resolution (its organization
/// read from the downtime, which the same transaction may have just written).
fn event_statement(d: Dialect, at: Millis, kind: &'static str, id: i64) -> (String, Vec<Arg>) {
    let sql = format!(
        "INSERT INTO events (at, kind, object_id, payload, organization, object_kind)
         SELECT {}, organization, 'downtime' FROM downtimes WHERE id = {}",
        crate::placeholders(d, 1, 4),
        d.ph(5)
    );
    let args = vec![
        Arg::Int(at),
        Arg::Text(kind),
        Arg::OptText(Some(id.to_string())),
        Arg::OptText(Some(serde_json::json!({"downtimeId": id}).to_string())),
        Arg::Int(id),
    ];
    (sql, args)
}

async fn event(conn: &mut Conn, d: Dialect, at: Millis, kind: &'static str, id: i64) -> Result<()> {
    let mut script = Script::default();
    let (sql, args) = event_statement(d, at, kind, id);
    script.push(sql, args);
    script.run(d, conn).await
}

/// A service joining a downtime (again: a member already there is down again).
fn member_statement(d: Dialect, id: i64, s: &Subject, at: Millis) -> (String, Vec<Arg>) {
    let sql = format!(
        "INSERT INTO downtime_members (downtime_id, service_id, name, node_id, joined_at, down) VALUES ({}, 1)
         ON CONFLICT (downtime_id, service_id) DO UPDATE SET down = 1",
        crate::placeholders(d, 1, 5)
    );
    let args = vec![
        Arg::Int(id),
        Arg::Int(s.service_id),
        Arg::OptText(Some(s.name.clone())),
        Arg::OptText(Some(s.node_id.clone())),
        Arg::Int(at),
    ];
    (sql, args)
}

/// Insert a downtime and its first members; returns its id.
#[allow(clippy::too_many_arguments)]
async fn insert_downtime(
    conn: &mut Conn,
    d: Dialect,
    org: &str,
    title: &str,
    source: &str,
    members: &[Subject],
    at: Millis,
    now: Millis,
) -> Result<i64> {
    let crits: Vec<Criticality> = members.iter().map(|m| m.criticality).collect();
    let (response_due, resolution_due) = due_times(most_critical(&crits).unwrap_or(Criticality::Low), at);
    let row = sqlx::query(
        "INSERT INTO downtimes (organization, title, source, severity, started_at, response_due_at, resolution_due_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(org)
    .bind(title)
    .bind(source)
    .bind(severity(&crits))
    .bind(at)
    .bind(response_due)
    .bind(resolution_due)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.get(0);
    let mut script = Script::default();
    for m in members {
        let (sql, args) = member_statement(d, id, m, at);
        script.push(sql, args);
    }
    script.run(d, conn).await?;
    Ok(id)
}

/// What a downtime's level is read back from (see
/// [`nines_core::downtime::level`]): its severity, its start and its
/// members' criticalities (a member whose service is gone has none).
async fn severity_inputs(conn: &mut Conn, id: i64) -> Result<Option<(String, Millis, Vec<Criticality>)>> {
    let rows = sqlx::query(
        "SELECT d.severity, d.started_at, s.criticality FROM downtimes d
         LEFT JOIN downtime_members m ON m.downtime_id = d.id LEFT JOIN services s ON s.id = m.service_id
         WHERE d.id = $1",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let crits = rows.iter().filter_map(|r| r.get::<Option<String>, _>(2)).filter_map(|c| c.parse().ok()).collect();
    Ok(Some((first.get(0), first.get(1), crits)))
}

/// A downtime being joined in a batch: its level so far and its start.
struct JoinedDowntime {
    id: i64,
    level: Criticality,
    started_at: Millis,
}

impl Store {
    /// Open downtimes with their members, for the engine.
    pub async fn open_downtimes(&self) -> Result<Vec<OpenDowntime>> {
        let rows = sqlx::query(
            "SELECT d.id, d.organization, d.started_at, m.service_id, m.name, m.node_id, m.down, s.criticality, g.name
             FROM downtimes d JOIN downtime_members m ON m.downtime_id = d.id
             LEFT JOIN services s ON s.id = m.service_id LEFT JOIN sla_groups g ON g.id = s.sla_group_id
             WHERE d.resolved_at IS NULL AND d.source = 'MONITORING' ORDER BY d.id, m.joined_at",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<OpenDowntime> = Vec::new();
        for r in rows {
            let id: i64 = r.get(0);
            let org: String = r.get(1);
            let m = Member {
                subject: Subject {
                    service_id: r.get(3),
                    name: r.get(4),
                    organization: org.clone(),
                    node_id: r.get(5),
                    sla_group: r.get(8),
                    criticality: r.get::<Option<String>, _>(7).and_then(|c| c.parse().ok()).unwrap_or_default(),
                },
                down: r.get::<i64, _>(6) != 0,
            };
            match out.last_mut() {
                Some(d) if d.id == id => d.members.push(m),
                _ => out.push(OpenDowntime { id, organization: org, started_at: r.get(2), members: vec![m] }),
            }
        }
        Ok(out)
    }

    /// Transitions after `cursor` (by id) with their services.
    pub async fn transitions_after(&self, cursor: i64, limit: i64) -> Result<Vec<TransitionRow>> {
        type Cols = (i64, i64, String, String, String, Option<String>, String, i64, String, String);
        const SELECT: &str = "SELECT t.id AS id, t.service_id AS service_id, s.name AS name,
                s.organization AS organization, s.node_id AS node_id, g.name AS grp, s.criticality AS criticality,
                t.at AS at, t.from_status AS from_status, t.to_status AS to_status
             FROM transitions t JOIN services s ON s.id = t.service_id LEFT JOIN sla_groups g ON g.id = s.sla_group_id
             WHERE t.id > $1 ORDER BY t.id LIMIT $2";
        let rows: Vec<Cols> = match self.dialect {
            Dialect::Sqlite => {
                let sql = format!(
                    "SELECT json_group_array(json_array(id, service_id, name, organization, node_id, grp,
                        criticality, at, from_status, to_status)) FROM ({SELECT})"
                );
                let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cursor).bind(limit);
                let mut rows: Vec<Cols> = crate::fetch_json_rows(q, &self.pool).await?;
                // an aggregate's order is its input's in practice, not by contract
                rows.sort_unstable_by_key(|r| r.0);
                rows
            }
            Dialect::Postgres => {
                crate::fetch_map(sqlx::query(SELECT).bind(cursor).bind(limit), &self.pool, |r| {
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8), r.get(9))
                })
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(id, service_id, name, organization, node_id, sla_group, criticality, at, from, to)| TransitionRow {
                id,
                subject: Subject {
                    service_id,
                    name,
                    organization,
                    node_id,
                    sla_group,
                    criticality: criticality.parse().unwrap_or_default(),
                },
                at,
                from: from.parse().unwrap_or(Status::Unknown),
                to: to.parse().unwrap_or(Status::Unknown),
            })
            .collect())
    }

    pub async fn downtime_cursor(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = 'downtime_cursor'")
            .fetch_optional(&self.pool)
            .await?
            .and_then(|r| r.get::<String, _>(0).parse().ok())
            .unwrap_or(0))
    }

    /// Apply the engine's actions for the transitions after `from` up to
    /// `cursor`, in one transaction that moves the cursor from `from`: each
    /// transition is handled once. Should the cursor have moved meanwhile (a
    /// second replica believed itself leader for a moment: a paused process,
    /// a clock jump), nothing is written and [`Error::Conflict`] says so.
    pub async fn apply_downtime_actions(
        &self,
        actions: &[Action],
        from: i64,
        cursor: i64,
        now: Millis,
    ) -> Result<Vec<i64>> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        // compare-and-set first: on PostgreSQL the row lock also makes a
        // concurrent batch wait here, then find the cursor moved
        let moved = if from == 0 {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('downtime_cursor', $1) ON CONFLICT (key) DO NOTHING")
                .bind(cursor.to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected()
                == 1
                || sqlx::query("UPDATE meta SET value = $1 WHERE key = 'downtime_cursor' AND value = '0'")
                    .bind(cursor.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                    == 1
        } else {
            sqlx::query("UPDATE meta SET value = $1 WHERE key = 'downtime_cursor' AND value = $2")
                .bind(cursor.to_string())
                .bind(from.to_string())
                .execute(&mut *conn)
                .await?
                .rows_affected()
                == 1
        };
        if !moved {
            return Err(Error::Conflict(format!(
                "the downtime cursor is no longer at {from}: another replica handled these transitions"
            )));
        }
        let mut opened = Vec::new();
        // ids the engine made up for downtimes it opened in this batch → real ids
        let mut real: Vec<(i64, i64)> = Vec::new();
        let map = |real: &Vec<(i64, i64)>, id: i64| real.iter().find(|(t, _)| *t == id).map_or(id, |(_, r)| *r);
        let mut temp = -1;
        // log lines and member counts are written once per batch, not per action
        let mut lines: Vec<(i64, Millis, String)> = Vec::new();
        // downtimes joined in this batch: their severity and due times
        // follow the most critical member (written once, with the title)
        let mut joins: Vec<JoinedDowntime> = Vec::new();
        // notification events, recorded after the whole batch so an opening
        // lists the services that joined within the same batch
        let mut notify: Vec<(i64, &str, Millis)> = Vec::new();
        // The member and resolve writes of consecutive actions go out as one
        // script (in order: a member may join, recover and go down again in
        // one batch); an opening, whose id later actions need, flushes it.
        let d = self.dialect;
        let p = |n: usize| d.ph(n);
        let mut script = Script::default();
        for a in actions {
            match a {
                Action::Open { subject, at } => {
                    std::mem::take(&mut script).run(d, conn).await?;
                    let id = insert_downtime(
                        conn,
                        d,
                        &subject.organization,
                        &format!("{} is down", subject.name),
                        "MONITORING",
                        std::slice::from_ref(subject),
                        *at,
                        now,
                    )
                    .await?;
                    real.push((temp, id));
                    temp -= 1;
                    opened.push(id);
                    notify.push((id, "opened", *at));
                    lines.push((id, *at, log_line(a).unwrap_or_default()));
                    event(conn, d, *at, "downtime.opened", id).await?;
                }
                Action::Join { downtime, subject, at } => {
                    let id = map(&real, *downtime);
                    if !joins.iter().any(|j| j.id == id)
                        && let Some((sev, started_at, crits)) = severity_inputs(conn, id).await?
                    {
                        // read before the first join's member row is written
                        // (the script holds no join of it yet): the level is
                        // read back from the members so far
                        joins.push(JoinedDowntime { id, level: level(&sev, &crits), started_at });
                    }
                    let (sql, args) = member_statement(d, id, subject, *at);
                    script.push(sql, args);
                    lines.push((id, *at, log_line(a).unwrap_or_default()));
                    if let Some(j) = joins.iter_mut().find(|j| j.id == id) {
                        let was = severity(&[j.level]);
                        j.level = joined(j.level, subject.criticality);
                        let now_sev = severity(&[j.level]);
                        if now_sev != was {
                            lines.push((id, *at, format!("Severity raised to {now_sev}: {} joined", subject.name)));
                        }
                    }
                }
                Action::Recover { downtime, service_id, at, .. } => {
                    let id = map(&real, *downtime);
                    script.push(
                        format!(
                            "UPDATE downtime_members SET down = 0, recovered_at = {} WHERE downtime_id = {} AND service_id = {}",
                            p(1), p(2), p(3)
                        ),
                        vec![Arg::Int(*at), Arg::Int(id), Arg::Int(*service_id)],
                    );
                    lines.push((id, *at, log_line(a).unwrap_or_default()));
                }
                Action::Changed { downtime, service_id, down, at, .. } => {
                    let id = map(&real, *downtime);
                    script.push(
                        format!(
                            "UPDATE downtime_members SET down = {} WHERE downtime_id = {} AND service_id = {}",
                            p(1),
                            p(2),
                            p(3)
                        ),
                        vec![Arg::Int(*down as i64), Arg::Int(id), Arg::Int(*service_id)],
                    );
                    lines.push((id, *at, log_line(a).unwrap_or_default()));
                }
                Action::Resolve { downtime, at } => {
                    let id = map(&real, *downtime);
                    script.push(
                        format!(
                            "UPDATE downtimes SET resolved_at = {}, updated_at = {} WHERE id = {} AND resolved_at IS NULL",
                            p(1), p(2), p(3)
                        ),
                        vec![Arg::Int(*at), Arg::Int(now), Arg::Int(id)],
                    );
                    let (sql, args) = event_statement(d, *at, "downtime.resolved", id);
                    script.push(sql, args);
                    lines.push((id, *at, "Resolved: every service recovered".to_string()));
                    notify.push((id, "resolved", *at));
                }
            }
        }
        script.run(d, conn).await?;
        for j in joins {
            let n: i64 = sqlx::query("SELECT COUNT(*) FROM downtime_members WHERE downtime_id = $1")
                .bind(j.id)
                .fetch_one(&mut *conn)
                .await?
                .get(0);
            let (response_due, resolution_due) = due_times(j.level, j.started_at);
            sqlx::query(
                "UPDATE downtimes SET title = $2, severity = $3, response_due_at = $4, resolution_due_at = $5,
                    updated_at = $6 WHERE id = $1",
            )
            .bind(j.id)
            .bind(format!("{n} services are down"))
            .bind(severity(&[j.level]))
            .bind(response_due)
            .bind(resolution_due)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        log_many(conn, self.dialect, &lines).await?;
        for (id, phase, at) in notify {
            crate::notifications::downtime_event(conn, id, phase, at, now).await?;
        }
        w.tx.commit().await?;
        Ok(opened)
    }

    /// Downtimes newest first (by start, then id), every one of them.
    pub async fn list_downtimes(
        &self,
        organization: Option<&str>,
        open_only: Option<bool>,
    ) -> Result<Vec<DowntimeRow>> {
        self.find_downtimes(&DowntimeFilter { organization, open_only, ..Default::default() }).await
    }

    /// Downtimes newest first (by start, then id) that match `f`.
    pub async fn find_downtimes(&self, f: &DowntimeFilter<'_>) -> Result<Vec<DowntimeRow>> {
        let sql = format!(
            "SELECT {DT_COLS} FROM downtimes WHERE ($1 IS NULL OR organization = $1)
               AND ($2 IS NULL OR ($2 = 1 AND resolved_at IS NULL) OR ($2 = 0 AND resolved_at IS NOT NULL))
               AND ($3 IS NULL OR started_at < $3)
               AND ($4 IS NULL OR resolved_at IS NULL OR resolved_at > $4)
               AND ($5 IS NULL OR started_at < $5 OR (started_at = $5 AND id < $6))
             ORDER BY started_at DESC, id DESC LIMIT $7"
        );
        let (before_start, before_id) = match f.after {
            Some((at, id)) => (Some(at), Some(id)),
            None => (None, None),
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.organization.map(str::to_string))
            .bind(f.open_only.map(|b| b as i64))
            .bind(f.overlapping.map(|(_, to)| to))
            .bind(f.overlapping.map(|(from, _)| from))
            .bind(before_start)
            .bind(before_id)
            .bind(f.limit.unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(dt).collect())
    }

    pub async fn get_downtime(&self, id: i64) -> Result<Option<(DowntimeRow, Vec<MemberRow>, Vec<(Millis, String)>)>> {
        // one snapshot: the severity, the members and the log of one moment
        let mut tx = self.snapshot().await?;
        let sql = format!("SELECT {DT_COLS} FROM downtimes WHERE id = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *tx).await? else {
            return Ok(None);
        };
        let members = sqlx::query(
            "SELECT service_id, name, node_id, down, joined_at, recovered_at FROM downtime_members WHERE downtime_id = $1 ORDER BY joined_at, service_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| MemberRow {
            service_id: r.get(0),
            name: r.get(1),
            node_id: r.get(2),
            down: r.get::<i64, _>(3) != 0,
            joined_at: r.get(4),
            recovered_at: r.get(5),
        })
        .collect();
        let log = sqlx::query("SELECT at, message FROM downtime_log WHERE downtime_id = $1 ORDER BY at, id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        tx.commit().await?;
        Ok(Some((dt(&row), members, log)))
    }

    /// A downtime opened by hand for the given services.
    pub async fn create_manual_downtime(
        &self,
        org: &str,
        title: &str,
        members: &[Subject],
        at: Millis,
        now: Millis,
    ) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let id = insert_downtime(&mut w.tx, self.dialect, org, title, "MANUAL", members, at, now).await?;
        for m in members {
            log(&mut w.tx, id, at, &format!("Added to downtime: {}", m.name)).await?;
        }
        event(&mut w.tx, self.dialect, at, "downtime.opened", id).await?;
        crate::notifications::downtime_event(&mut w.tx, id, "opened", at, now).await?;
        w.tx.commit().await?;
        Ok(id)
    }

    pub async fn patch_downtime(&self, id: i64, p: &DowntimePatch, now: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        // a severity set by hand sets the due times of its tier (read back
        // from the members, see `nines_core::downtime::level`)
        if let Some(sev) = &p.severity
            && let Some((was, started_at, crits)) = severity_inputs(&mut w.tx, id).await?
        {
            let (response_due, resolution_due) = due_times(level(sev, &crits), started_at);
            sqlx::query("UPDATE downtimes SET response_due_at = $2, resolution_due_at = $3 WHERE id = $1")
                .bind(id)
                .bind(response_due)
                .bind(resolution_due)
                .execute(&mut *w.tx)
                .await?;
            if *sev != was {
                log(&mut w.tx, id, now, &format!("Severity set to {sev} by hand")).await?;
            }
        }
        sqlx::query(
            "UPDATE downtimes SET title = COALESCE($2, title), severity = COALESCE($3, severity),
                classification = COALESCE($4, classification), counts_towards_sla = COALESCE($5, counts_towards_sla),
                excluded_reason = COALESCE($6, excluded_reason), updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(p.title.clone())
        .bind(p.severity.clone())
        .bind(p.classification.clone())
        .bind(p.counts_towards_sla.map(|b| b as i64))
        .bind(p.excluded_reason.clone())
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if let Some(at) = p.resolved_at {
            let r = sqlx::query("UPDATE downtimes SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL")
                .bind(id)
                .bind(at)
                .execute(&mut *w.tx)
                .await?;
            if r.rows_affected() == 1 {
                log(&mut w.tx, id, at, "Resolved by hand").await?;
                event(&mut w.tx, self.dialect, at, "downtime.resolved", id).await?;
                crate::notifications::downtime_event(&mut w.tx, id, "resolved", at, now).await?;
            }
        }
        w.tx.commit().await?;
        Ok(())
    }

    pub async fn acknowledge_downtime(&self, id: i64, by: &str, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE downtimes SET acknowledged_at = $2, acknowledged_by = $3 WHERE id = $1 AND acknowledged_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(by)
        .execute(&mut *w.tx)
        .await?;
        if r.rows_affected() == 1 {
            log(&mut w.tx, id, now, &format!("Acknowledged by {by}")).await?;
        }
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Per member of a downtime classified as not counting towards the SLA:
    /// (service id, joined, recovered — or resolved for a member down again
    /// or still down; None while the downtime is open).
    pub async fn excluded_downtime_spans(
        &self,
        organization: Option<&str>,
    ) -> Result<Vec<(i64, Millis, Option<Millis>)>> {
        let rows = sqlx::query(
            "SELECT m.service_id, m.joined_at, CASE WHEN m.down = 1 THEN d.resolved_at ELSE COALESCE(m.recovered_at, d.resolved_at) END
             FROM downtime_members m JOIN downtimes d ON d.id = m.downtime_id
             WHERE d.counts_towards_sla = 0 AND ($1 IS NULL OR d.organization = $1) ORDER BY m.service_id, m.joined_at",
        )
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Downtimes resolved since `since` whose timeline is not compiled yet.
    pub async fn resolved_without_timeline(&self, since: Millis) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM downtimes WHERE resolved_at IS NOT NULL AND resolved_at > $1 AND timeline IS NULL ORDER BY id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Store the compiled timeline of a downtime (JSON).
    pub async fn set_downtime_timeline(&self, id: i64, timeline: &str) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query("UPDATE downtimes SET timeline = $2 WHERE id = $1")
            .bind(id)
            .bind(timeline)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    pub async fn downtime_timeline(&self, id: i64) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT timeline FROM downtimes WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .and_then(|r| r.get(0)))
    }

    pub async fn record_activity(
        &self,
        org: &str,
        node_id: Option<&str>,
        service: Option<&str>,
        kind: &str,
        message: &str,
        at: Millis,
    ) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO activities (organization, node_id, service, kind, message, at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(org)
        .bind(node_id.map(str::to_string))
        .bind(service.map(str::to_string))
        .bind(kind)
        .bind(message)
        .bind(at)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(row.get(0))
    }

    /// Activities of an organization in `[from, to]`: `(at, kind, node, service, message)`.
    #[allow(clippy::type_complexity)]
    pub async fn activities(
        &self,
        org: &str,
        from: Millis,
        to: Millis,
    ) -> Result<Vec<(Millis, String, Option<String>, Option<String>, String)>> {
        let rows = sqlx::query("SELECT at, kind, node_id, service, message FROM activities WHERE organization = $1 AND at >= $2 AND at <= $3 ORDER BY at, id")
            .bind(org)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect())
    }

    pub async fn create_note(
        &self,
        downtime: Option<i64>,
        org: &str,
        author: &str,
        title: &str,
        body: &str,
        now: Millis,
    ) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO notes (downtime_id, organization, author, title, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(downtime)
        .bind(org)
        .bind(author)
        .bind(title)
        .bind(body)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(row.get(0))
    }

    /// `(id, downtime, organization, author, title, body, created, updated)`.
    #[allow(clippy::type_complexity)]
    pub async fn get_note(
        &self,
        id: i64,
    ) -> Result<Option<(i64, Option<i64>, String, String, String, String, Millis, Millis)>> {
        let r = sqlx::query("SELECT id, downtime_id, organization, author, title, body, created_at, updated_at FROM notes WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7))))
    }

    pub async fn update_note(&self, id: i64, body: &str, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE notes SET body = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(body)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn notes_of_downtime(&self, downtime: i64) -> Result<Vec<(i64, String, String, Millis)>> {
        let rows = sqlx::query("SELECT id, title, author, created_at FROM notes WHERE downtime_id = $1 ORDER BY id")
            .bind(downtime)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }
}
