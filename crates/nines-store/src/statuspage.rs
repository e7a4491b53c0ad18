//! What the public status page shows: its groups (display name,
//! description, position, members named by node and service), the services
//! marked public one by one (they form the group "Default"), and the reads
//! the page's cache needs (every public entry in one query, a cheap change
//! fingerprint, day results changed since a point, downtimes of public
//! services).
//!
//! Nothing here decides what is shown; the server's public page does.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::StatusDurations;
use sqlx::Row;

use crate::Conn;
use crate::{Result, Store};

/// The group public services land in when no group names them.
pub const DEFAULT_GROUP: &str = "Default";

/// A member of a group as written through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMember {
    pub node_id: String,
    pub service: String,
    pub display_name: String,
    pub description: Option<String>,
}

/// A member as read back: the service it resolves to, when it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub member: GroupMember,
    pub service_id: Option<i64>,
}

/// A service marked public one by one.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicFlag {
    pub service_id: i64,
    pub display_name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub id: i64,
    pub organization: String,
    pub name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub position: Option<i64>,
    pub members: Vec<MemberRow>,
    /// Only for the group "Default": the services marked public.
    pub flagged: Vec<PublicFlag>,
}

/// One service as shown in one group (a service may be in several).
#[derive(Debug, Clone, PartialEq)]
pub struct PublicEntry {
    pub group_id: i64,
    pub organization: String,
    pub group_name: String,
    pub group_display_name: String,
    pub group_description: Option<String>,
    pub group_position: Option<i64>,
    pub service_id: i64,
    pub display_name: String,
    pub description: Option<String>,
    /// Order inside the group: members in the order given, then the
    /// services marked public.
    pub position: i64,
    pub status: Status,
}

/// A day result of one service, as the page's cache keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayResult {
    pub service_id: i64,
    pub start: Millis,
    pub durations: StatusDurations,
    pub end_status: Status,
    pub computed_at: Millis,
}

/// A downtime member that is a public service.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicDowntimeMember {
    pub downtime_id: i64,
    pub started_at: Millis,
    pub resolved_at: Option<Millis>,
    pub service_id: i64,
    pub joined_at: Millis,
    pub recovered_at: Option<Millis>,
}

pub(crate) async fn bump_version(conn: &mut Conn) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('statuspage_version', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn ensure_group(conn: &mut Conn, org: &str, name: &str, display: &str, now: Millis) -> Result<i64> {
    sqlx::query(
        "INSERT INTO status_groups (organization, name, display_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (organization, name) DO NOTHING",
    )
    .bind(org)
    .bind(name)
    .bind(display)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT id FROM status_groups WHERE organization = $1 AND name = $2")
        .bind(org)
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.get(0))
}

impl Store {
    /// Create or replace a group: its display fields and its whole
    /// membership, in one transaction. Returns true when it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_status_group(
        &self,
        organization: &str,
        name: &str,
        display_name: &str,
        description: Option<&str>,
        position: Option<i64>,
        members: &[GroupMember],
        now: Millis,
    ) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let existed = sqlx::query("SELECT id FROM status_groups WHERE organization = $1 AND name = $2")
            .bind(organization)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        let id = ensure_group(conn, organization, name, display_name, now).await?;
        sqlx::query(
            "UPDATE status_groups SET display_name = $2, description = $3, position = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(display_name)
        .bind(description.map(str::to_string))
        .bind(position)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM status_group_services WHERE group_id = $1").bind(id).execute(&mut *conn).await?;
        for (i, m) in members.iter().enumerate() {
            sqlx::query(
                "INSERT INTO status_group_services (group_id, node_id, service, display_name, description, position)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&m.node_id)
            .bind(&m.service)
            .bind(&m.display_name)
            .bind(m.description.clone())
            .bind(i as i64)
            .execute(&mut *conn)
            .await?;
        }
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(!existed)
    }

    /// Groups of an organization (None: all), ordered as the page shows them.
    pub async fn status_groups(&self, organization: Option<&str>) -> Result<Vec<GroupRow>> {
        let org = organization.map(str::to_string);
        let groups = sqlx::query(
            "SELECT id, organization, name, display_name, description, position FROM status_groups
             WHERE ($1 IS NULL OR organization = $1) ORDER BY organization, name",
        )
        .bind(org.clone())
        .fetch_all(&self.pool)
        .await?;
        let members = sqlx::query(
            "SELECT m.group_id, m.node_id, m.service, m.display_name, m.description, s.id
             FROM status_group_services m JOIN status_groups g ON g.id = m.group_id
             LEFT JOIN services s ON s.organization = g.organization AND s.node_id = m.node_id AND s.name = m.service
             WHERE ($1 IS NULL OR g.organization = $1) ORDER BY m.group_id, m.position",
        )
        .bind(org.clone())
        .fetch_all(&self.pool)
        .await?;
        let flags = sqlx::query(
            "SELECT p.service_id, p.organization, p.display_name, p.description FROM public_services p
             JOIN services s ON s.id = p.service_id WHERE ($1 IS NULL OR p.organization = $1) ORDER BY p.display_name, p.service_id",
        )
        .bind(org)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<GroupRow> = groups
            .iter()
            .map(|g| GroupRow {
                id: g.get(0),
                organization: g.get(1),
                name: g.get(2),
                display_name: g.get(3),
                description: g.get(4),
                position: g.get(5),
                members: Vec::new(),
                flagged: Vec::new(),
            })
            .collect();
        for m in &members {
            let gid: i64 = m.get(0);
            if let Some(g) = out.iter_mut().find(|g| g.id == gid) {
                g.members.push(MemberRow {
                    member: GroupMember {
                        node_id: m.get(1),
                        service: m.get(2),
                        display_name: m.get(3),
                        description: m.get(4),
                    },
                    service_id: m.get(5),
                });
            }
        }
        for f in &flags {
            let org: String = f.get(1);
            if let Some(g) = out.iter_mut().find(|g| g.organization == org && g.name == DEFAULT_GROUP) {
                g.flagged.push(PublicFlag { service_id: f.get(0), display_name: f.get(2), description: f.get(3) });
            }
        }
        Ok(out)
    }

    /// Delete a group and its membership. Returns false when there was none.
    pub async fn delete_status_group(&self, organization: &str, name: &str) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let Some(row) = sqlx::query("SELECT id FROM status_groups WHERE organization = $1 AND name = $2")
            .bind(organization)
            .bind(name)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(false);
        };
        let id: i64 = row.get(0);
        sqlx::query("DELETE FROM status_group_services WHERE group_id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM status_groups WHERE id = $1").bind(id).execute(&mut *conn).await?;
        if name == DEFAULT_GROUP {
            // the services marked public belong to "Default": unmark them too
            sqlx::query("DELETE FROM public_services WHERE organization = $1")
                .bind(organization)
                .execute(&mut *conn)
                .await?;
        }
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(true)
    }

    /// Mark a service public (with the name and description shown) or
    /// private again (`None`).
    pub async fn set_service_public(
        &self,
        service_id: i64,
        organization: &str,
        shown: Option<(&str, Option<&str>)>,
        now: Millis,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        sqlx::query("DELETE FROM public_services WHERE service_id = $1").bind(service_id).execute(&mut *conn).await?;
        if let Some((name, description)) = shown {
            ensure_group(conn, organization, DEFAULT_GROUP, DEFAULT_GROUP, now).await?;
            sqlx::query(
                "INSERT INTO public_services (service_id, organization, display_name, description, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(service_id)
            .bind(organization)
            .bind(name)
            .bind(description.map(str::to_string))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        bump_version(conn).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Every service shown on the public page, once per group it is shown
    /// in, with its current status. Members naming no existing service are
    /// left out.
    pub async fn public_entries(&self) -> Result<Vec<PublicEntry>> {
        let rows = sqlx::query(
            "SELECT g.id, g.organization, g.name, g.display_name, g.description, g.position, s.id, m.display_name, m.description,
                    m.position, s.status
             FROM status_group_services m JOIN status_groups g ON g.id = m.group_id
             JOIN services s ON s.organization = g.organization AND s.node_id = m.node_id AND s.name = m.service
             UNION ALL
             SELECT g.id, g.organization, g.name, g.display_name, g.description, g.position, s.id, p.display_name, p.description,
                    1000000000, s.status
             FROM public_services p JOIN services s ON s.id = p.service_id
             JOIN status_groups g ON g.organization = s.organization AND g.name = 'Default'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PublicEntry {
                group_id: r.get(0),
                organization: r.get(1),
                group_name: r.get(2),
                group_display_name: r.get(3),
                group_description: r.get(4),
                group_position: r.get(5),
                service_id: r.get(6),
                display_name: r.get(7),
                description: r.get(8),
                position: r.get(9),
                status: crate::health::parse_status(&r.get::<String, _>(10)),
            })
            .collect())
    }

    /// A string that changes whenever anything the public page shows may
    /// have changed: a transition, services or their settings, the page's
    /// groups, final day results, downtimes. Cheap: every part is an index
    /// lookup or a small table.
    pub async fn statuspage_fingerprint(&self) -> Result<String> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE((SELECT MAX(id) FROM transitions), 0) AS BIGINT),
                    CAST(COALESCE((SELECT MAX(computed_at) FROM period_results), 0) AS BIGINT),
                    CAST(COALESCE((SELECT COUNT(*) FROM downtimes), 0) AS BIGINT),
                    CAST(COALESCE((SELECT COUNT(resolved_at) FROM downtimes), 0) AS BIGINT),
                    CAST(COALESCE((SELECT MAX(updated_at) FROM downtimes), 0) AS BIGINT),
                    CAST(COALESCE((SELECT COUNT(*) FROM downtime_members), 0) AS BIGINT),
                    CAST(COALESCE((SELECT COUNT(recovered_at) FROM downtime_members), 0) AS BIGINT),
                    COALESCE((SELECT value FROM meta WHERE key = 'services_version'), ''),
                    COALESCE((SELECT value FROM meta WHERE key = 'statuspage_version'), ''),
                    COALESCE((SELECT value FROM meta WHERE key = 'days_final_until'), ''),
                    CAST(COALESCE((SELECT COUNT(*) FROM period_dirty), 0) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut s = String::new();
        for i in 0..7 {
            s.push_str(&r.get::<i64, _>(i).to_string());
            s.push('/');
        }
        for i in 7..10 {
            s.push_str(&r.get::<String, _>(i));
            s.push('/');
        }
        s.push_str(&r.get::<i64, _>(10).to_string());
        Ok(s)
    }

    /// Changes whenever day results were written or rewritten: the latest
    /// `computed_at`, the final-days cursor and the pending rewrites (a
    /// rewrite may share its `computed_at` with rows read before).
    pub async fn day_results_marker(&self) -> Result<String> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE((SELECT MAX(computed_at) FROM period_results), 0) AS BIGINT),
                    COALESCE((SELECT value FROM meta WHERE key = 'days_final_until'), ''),
                    CAST(COALESCE((SELECT COUNT(*) FROM period_dirty), 0) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(format!("{}/{}/{}", r.get::<i64, _>(0), r.get::<String, _>(1), r.get::<i64, _>(2)))
    }

    /// Day results starting at or after `from` that were computed at or
    /// after `computed_since` (the page's cache reads all of them once, then
    /// only what the aggregator wrote or rewrote since).
    pub async fn day_results_since(&self, from: Millis, computed_since: Millis) -> Result<Vec<DayResult>> {
        const COLS: &str = "service_id, start_at, operational_ms, degraded_ms, down_ms, maintenance_ms, unknown_ms, absent_ms, end_status, computed_at";
        // The first read walks the (kind, start) index; later ones the
        // computed_at index (the `+ 0` / `|| ''` keep the planner off the other).
        let sql = if computed_since == i64::MIN {
            format!("SELECT {COLS} FROM period_results WHERE kind = 'day' AND start_at >= $1 AND computed_at >= $2")
        } else {
            format!(
                "SELECT {COLS} FROM period_results WHERE computed_at >= $2 AND (kind || '') = 'day' AND (start_at + 0) >= $1"
            )
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(computed_since).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| DayResult {
                service_id: r.get(0),
                start: r.get(1),
                durations: StatusDurations {
                    operational_ms: r.get(2),
                    degraded_ms: r.get(3),
                    down_ms: r.get(4),
                    maintenance_ms: r.get(5),
                    unknown_ms: r.get(6),
                    absent_ms: r.get(7),
                },
                end_status: crate::health::parse_status(&r.get::<String, _>(8)),
                computed_at: r.get(9),
            })
            .collect())
    }

    /// Members of downtimes started or still open since `since` that are
    /// public services (marked public or named by a group), newest first.
    pub async fn public_downtime_members(&self, since: Millis) -> Result<Vec<PublicDowntimeMember>> {
        let rows = sqlx::query(
            "SELECT d.id, d.started_at, d.resolved_at, m.service_id, m.joined_at, m.recovered_at
             FROM downtimes d JOIN downtime_members m ON m.downtime_id = d.id
             WHERE (d.started_at >= $1 OR d.resolved_at IS NULL OR d.resolved_at >= $1)
               AND (m.service_id IN (SELECT service_id FROM public_services)
                    OR m.service_id IN (SELECT s.id FROM status_group_services x JOIN status_groups g ON g.id = x.group_id
                                        JOIN services s ON s.organization = g.organization AND s.node_id = x.node_id AND s.name = x.service))
             ORDER BY d.started_at DESC, d.id DESC, m.joined_at, m.service_id",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| PublicDowntimeMember {
                downtime_id: r.get(0),
                started_at: r.get(1),
                resolved_at: r.get(2),
                service_id: r.get(3),
                joined_at: r.get(4),
                recovered_at: r.get(5),
            })
            .collect())
    }
}
