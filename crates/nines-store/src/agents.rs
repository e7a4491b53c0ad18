//! Remote agents (`nines agent`): one row per organization and location,
//! written on every contact (heartbeat, check list, results), and the
//! silence check's one write to check states: a location whose agent went
//! silent turns its checks UNKNOWN there. Deciding who is silent is the
//! server's (`probes::agent_silent`).

use nines_core::Status;
use nines_core::clock::Millis;
use sqlx::Row;

use crate::{Result, Store};

/// The organization of an agent whose key may act on every organization.
pub const ANY_ORGANIZATION: &str = "*";

/// An agent as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    /// The agent key's organization, or [`ANY_ORGANIZATION`].
    pub organization: String,
    pub location: String,
    /// The version it last sent with a heartbeat.
    pub version: Option<String>,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// The checks the server handed it at its last contact.
    pub checks_assigned: i64,
    /// Results it held, not yet delivered, at its last heartbeat.
    pub results_buffered: i64,
}

/// One contact of an agent with the server.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentContact<'a> {
    pub organization: &'a str,
    pub location: &'a str,
    pub at: Millis,
    pub checks_assigned: i64,
    /// `Some` for a heartbeat: (version, results buffered). Any other
    /// request only says the agent is alive.
    pub heartbeat: Option<(Option<&'a str>, i64)>,
}

/// The newer of the stored and the sent `last_seen` (requests of one agent
/// may reach two replicas out of order).
const NEWER_LAST_SEEN: &str =
    "last_seen = CASE WHEN excluded.last_seen > agents.last_seen THEN excluded.last_seen ELSE agents.last_seen END";

impl Store {
    /// Record a contact: insert the agent or bring its row up to date.
    pub async fn agent_contact(&self, c: &AgentContact<'_>) -> Result<()> {
        let mut w = self.write_tx().await?;
        let (version, buffered) = c.heartbeat.unwrap_or((None, 0));
        let sql = if c.heartbeat.is_some() {
            format!(
                "INSERT INTO agents (organization, location, version, first_seen, last_seen, checks_assigned, results_buffered)
                 VALUES ($1, $2, $3, $4, $4, $5, $6)
                 ON CONFLICT (organization, location) DO UPDATE SET {NEWER_LAST_SEEN}, version = excluded.version,
                    checks_assigned = excluded.checks_assigned, results_buffered = excluded.results_buffered"
            )
        } else {
            format!(
                "INSERT INTO agents (organization, location, version, first_seen, last_seen, checks_assigned, results_buffered)
                 VALUES ($1, $2, $3, $4, $4, $5, $6)
                 ON CONFLICT (organization, location) DO UPDATE SET {NEWER_LAST_SEEN},
                    checks_assigned = excluded.checks_assigned"
            )
        };
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(c.organization)
            .bind(c.location)
            .bind(version.map(str::to_string))
            .bind(c.at)
            .bind(c.checks_assigned)
            .bind(buffered)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Every agent (of an organization: its own rows only), by organization
    /// and location.
    pub async fn list_agents(&self, organization: Option<&str>) -> Result<Vec<AgentRow>> {
        let rows = sqlx::query(
            "SELECT organization, location, version, first_seen, last_seen, checks_assigned, results_buffered
             FROM agents WHERE ($1 IS NULL OR organization = $1) ORDER BY organization, location",
        )
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AgentRow {
                organization: r.get(0),
                location: r.get(1),
                version: crate::opt_str(r, "version"),
                first_seen: r.get(3),
                last_seen: r.get(4),
                checks_assigned: r.get(5),
                results_buffered: r.get(6),
            })
            .collect())
    }

    /// Turn check states UNKNOWN: each `(check, location, last_at,
    /// message)` only while its state still holds the run at `last_at` (a
    /// result recorded in between wins) and is not UNKNOWN already. The
    /// consecutive counts restart. Returns, per row, whether it changed.
    pub async fn mark_check_states_unknown(&self, rows: &[(String, String, Millis, String)]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok(out);
        }
        let mut w = self.write_tx().await?;
        for (check, location, last_at, message) in rows {
            let r = sqlx::query(
                "UPDATE check_states SET status = $4, failures = 0, successes = 0, last_message = $5
                 WHERE check_id = $1 AND location = $2 AND last_at = $3 AND status <> $4",
            )
            .bind(check)
            .bind(location)
            .bind(*last_at)
            .bind(Status::Unknown.as_str())
            .bind(message)
            .execute(&mut *w.tx)
            .await?;
            out.push(r.rows_affected() == 1);
        }
        w.tx.commit().await?;
        Ok(out)
    }
}
