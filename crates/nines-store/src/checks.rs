//! Active checks as declared (JSON of the probe engine's `CheckSpec`), their
//! state per location, and their recent failures. Parsing and running checks
//! is the probe engine's; deciding statuses is the server's.

use nines_core::Status;
use nines_core::clock::Millis;
use sqlx::Row;
use std::collections::HashMap;

use crate::Conn;
use crate::{Result, Store};

/// A declared check, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    pub name: String,
    pub kind: String,
    /// The check's spec as JSON.
    pub spec: String,
    pub locations: Vec<String>,
}

/// A stored check.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheck {
    pub id: String,
    pub service_id: i64,
    pub organization: String,
    pub name: String,
    pub kind: String,
    pub spec: String,
    pub locations: Vec<String>,
    pub service: String,
    pub node_id: String,
}

/// The state of a check at one location.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckStateRow {
    pub check_id: String,
    pub location: String,
    pub status: Status,
    pub failures: i64,
    pub successes: i64,
    pub last_at: Millis,
    pub last_outcome: String,
    pub last_message: String,
}

/// One failed (or degraded) run.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRow {
    pub check_id: String,
    pub location: String,
    pub at: Millis,
    pub outcome: String,
    pub error_kind: Option<String>,
    pub message: String,
    pub http_status: Option<i64>,
    pub total_ms: Option<f64>,
}

pub fn check_id(service_id: i64, name: &str) -> String {
    format!("{service_id}/{name}")
}

/// Replace a service's checks with `rows` (inside the apply transaction).
pub(crate) async fn replace_checks(
    conn: &mut Conn,
    service_id: i64,
    org: &str,
    rows: &[CheckRow],
    now: Millis,
) -> Result<bool> {
    let existing: HashMap<String, (String, String)> =
        sqlx::query("SELECT id, spec, locations FROM checks WHERE service_id = $1")
            .bind(service_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
    let mut changed = false;
    let mut keep = Vec::new();
    for c in rows {
        let id = check_id(service_id, &c.name);
        let locations = serde_json::to_string(&c.locations).unwrap_or_else(|_| "[]".into());
        keep.push(id.clone());
        match existing.get(&id) {
            Some((spec, loc)) if *spec == c.spec && *loc == locations => {}
            Some(_) => {
                sqlx::query("UPDATE checks SET kind = $2, spec = $3, locations = $4, updated_at = $5 WHERE id = $1")
                    .bind(&id)
                    .bind(&c.kind)
                    .bind(&c.spec)
                    .bind(&locations)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                changed = true;
            }
            None => {
                sqlx::query(
                    "INSERT INTO checks (id, service_id, organization, name, kind, spec, locations, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(&id)
                .bind(service_id)
                .bind(org)
                .bind(&c.name)
                .bind(&c.kind)
                .bind(&c.spec)
                .bind(&locations)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                changed = true;
            }
        }
    }
    for id in existing.keys().filter(|id| !keep.contains(id)) {
        sqlx::query("DELETE FROM checks WHERE id = $1").bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM check_states WHERE check_id = $1").bind(id).execute(&mut *conn).await?;
        changed = true;
    }
    if changed {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('checks_version', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(changed)
}

fn stored(r: &sqlx::any::AnyRow) -> StoredCheck {
    StoredCheck {
        id: r.get(0),
        service_id: r.get(1),
        organization: r.get(2),
        name: r.get(3),
        kind: r.get(4),
        spec: r.get(5),
        locations: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        service: r.get(7),
        node_id: r.get(8),
    }
}

const CHECK_COLS: &str =
    "c.id, c.service_id, c.organization, c.name, c.kind, c.spec, c.locations, s.name AS service, s.node_id";

impl Store {
    /// Bumped whenever any check is added, changed or removed.
    pub async fn checks_version(&self) -> Result<String> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = 'checks_version'")
            .fetch_optional(&self.pool)
            .await?
            .map_or_else(|| "0".to_string(), |r| r.get(0)))
    }

    /// Every check (of an organization).
    pub async fn list_checks(&self, organization: Option<&str>) -> Result<Vec<StoredCheck>> {
        let sql = format!(
            "SELECT {CHECK_COLS} FROM checks c JOIN services s ON s.id = c.service_id
             WHERE ($1 IS NULL OR c.organization = $1) ORDER BY c.id"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(organization.map(str::to_string)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(stored).collect())
    }

    /// Every check, handed to `f` one at a time in id order (the probe
    /// engine loads 100,000 checks without holding all their rows at once).
    pub async fn for_each_check(&self, mut f: impl FnMut(StoredCheck)) -> Result<()> {
        let sql = format!("SELECT {CHECK_COLS} FROM checks c JOIN services s ON s.id = c.service_id ORDER BY c.id");
        crate::for_each_row(sqlx::query(sqlx::AssertSqlSafe(sql)), &self.pool, |r| f(stored(r))).await
    }

    pub async fn get_check(&self, id: &str) -> Result<Option<StoredCheck>> {
        let sql = format!("SELECT {CHECK_COLS} FROM checks c JOIN services s ON s.id = c.service_id WHERE c.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(stored))
    }

    /// States of the checks of the given services, every location.
    pub async fn check_states_of_services(&self, service_ids: &[i64]) -> Result<Vec<(i64, CheckStateRow)>> {
        let mut out = Vec::new();
        for chunk in service_ids.chunks(500) {
            let sql = format!(
                "SELECT c.service_id, st.check_id, st.location, st.status, st.failures, st.successes, st.last_at, st.last_outcome,
                        st.last_message
                 FROM check_states st JOIN checks c ON c.id = st.check_id WHERE c.service_id IN ({})",
                crate::placeholders(self.dialect, 1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push((
                    r.get(0),
                    CheckStateRow {
                        check_id: r.get(1),
                        location: r.get(2),
                        status: r.get::<String, _>(3).parse().unwrap_or(Status::Unknown),
                        failures: r.get(4),
                        successes: r.get(5),
                        last_at: r.get(6),
                        last_outcome: r.get(7),
                        last_message: r.get(8),
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Save check states and failures in one transaction.
    pub async fn save_check_results(&self, states: &[CheckStateRow], failures: &[FailureRow]) -> Result<()> {
        let mut w = self.write_tx().await?;
        for s in states {
            sqlx::query(
                "INSERT INTO check_states (check_id, location, status, failures, successes, last_at, last_outcome, last_message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (check_id, location) DO UPDATE SET status = excluded.status, failures = excluded.failures,
                    successes = excluded.successes, last_at = excluded.last_at, last_outcome = excluded.last_outcome,
                    last_message = excluded.last_message",
            )
            .bind(&s.check_id)
            .bind(&s.location)
            .bind(s.status.as_str())
            .bind(s.failures)
            .bind(s.successes)
            .bind(s.last_at)
            .bind(&s.last_outcome)
            .bind(&s.last_message)
            .execute(&mut *w.tx)
            .await?;
        }
        for f in failures {
            sqlx::query(
                "INSERT INTO check_failures (check_id, location, at, outcome, error_kind, message, http_status, total_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&f.check_id)
            .bind(&f.location)
            .bind(f.at)
            .bind(&f.outcome)
            .bind(f.error_kind.clone())
            .bind(&f.message)
            .bind(f.http_status)
            .bind(crate::OptF64(f.total_ms))
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// The last `limit` failures of a check, newest first.
    pub async fn check_failures(&self, check_id: &str, limit: i64) -> Result<Vec<FailureRow>> {
        let rows = sqlx::query(
            "SELECT check_id, location, at, outcome, error_kind, message, http_status, total_ms FROM check_failures
             WHERE check_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(check_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FailureRow {
                check_id: r.get(0),
                location: r.get(1),
                at: r.get(2),
                outcome: r.get(3),
                error_kind: r.get(4),
                message: r.get(5),
                http_status: r.get(6),
                total_ms: crate::opt_f64(r, "total_ms"),
            })
            .collect())
    }

    /// Drop failures older than `before` (retention).
    pub async fn prune_check_failures(&self, before: Millis) -> Result<u64> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM check_failures WHERE at < $1").bind(before).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected())
    }
}
