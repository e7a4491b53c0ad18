//! Notifications as stored: channels (their config sealed by the server,
//! opaque here), route rules (JSON, opaque here), events, the conditions
//! currently raised, deliveries and their attempts.
//!
//! Exactly once, across replicas, rests on three conditional writes:
//! - an event row has a unique dedup key and is inserted in the same
//!   transaction as the change it reports (a downtime opening or resolving,
//!   a condition raised or cleared), so it exists once or not at all;
//! - an event is fanned out to deliveries by the one transaction whose
//!   `UPDATE … SET routed_at … WHERE routed_at IS NULL` changed the row, and
//!   a delivery is unique per (event, channel);
//! - a delivery is sent only by the replica whose
//!   `UPDATE … SET claim_token … WHERE state = 'pending' AND (claimed_until
//!   IS NULL OR claimed_until < now)` changed the row; its result is recorded
//!   only under that token. PostgreSQL re-checks the condition after a
//!   concurrent update commits, SQLite serializes writers: on both, one
//!   claimer wins. A claimer that dies leaves a claim that expires.
//!
//! Rendering, routing decisions, channel building and the secrets' sealing
//! live in the server and `nines-notify`.

use std::collections::HashMap;

use nines_core::clock::Millis;
use nines_core::{Criticality, Status};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::Conn;
use crate::{Error, Result, Store};

/// A channel row. `config_sealed` is what the server sealed; the store never
/// sees the secrets in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRow {
    pub id: i64,
    pub organization: String,
    pub name: String,
    pub kind: String,
    pub config_sealed: String,
    pub enabled: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A route rule row; `rule` is the rule's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    pub id: i64,
    pub organization: String,
    pub position: i64,
    pub rule: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An event to notify about. `payload` is a [`DowntimeSnapshot`] for the
/// `downtime_*` kinds and the notification event's JSON for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub dedup_key: String,
    pub kind: String,
    pub organization: String,
    pub payload: String,
    pub at: Millis,
    pub created_at: Millis,
}

/// A delivery waits while an earlier one to the same channel about the same
/// subject is still pending: a downtime's messages arrive in order.
const IN_SUBJECT_ORDER: &str = "AND NOT EXISTS (SELECT 1 FROM notify_events e
    JOIN notify_events e2 ON e2.subject = e.subject JOIN notify_deliveries d2 ON d2.event_id = e2.id
    WHERE e.id = notify_deliveries.event_id AND d2.channel_id = notify_deliveries.channel_id
      AND d2.state = 'pending' AND d2.event_id < notify_deliveries.event_id)";

/// A new event: its dedup key makes a second insert a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub dedup_key: String,
    /// What the event is about (`downtime:12`, a condition's key): one
    /// channel gets a subject's events in order.
    pub subject: Option<String>,
    pub kind: String,
    pub organization: String,
    pub payload: String,
    pub at: Millis,
}

/// A service as a downtime event shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSnapshot {
    pub id: i64,
    pub name: String,
    pub node_id: String,
    pub status: Status,
    pub criticality: Criticality,
    pub tags: Vec<String>,
    /// The reason of the service's latest change on the timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A downtime as it was when the event was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeSnapshot {
    pub id: i64,
    pub title: String,
    /// `critical`, `major` or `minor`.
    pub severity: String,
    pub classification: Option<String>,
    pub organization: String,
    pub services: Vec<ServiceSnapshot>,
    pub started_at: Millis,
    pub resolved_at: Option<Millis>,
    pub counts_towards_sla: bool,
    pub excluded_reason: Option<String>,
}

/// A delivery the caller has claimed: send it, then [`Store::finish_delivery`]
/// with the same token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub token: String,
    pub channel_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub event: EventRow,
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRow {
    pub attempt: i64,
    pub at: Millis,
    pub duration_ms: i64,
    /// `delivered`, `retrying` or `failed`.
    pub outcome: String,
    pub status_code: Option<i64>,
    /// Without secrets: channels never put one in an error.
    pub error: Option<String>,
    pub next_attempt_at: Option<Millis>,
    pub replica: String,
}

/// A delivery with its event and attempts, for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub event_id: i64,
    pub event_kind: String,
    pub dedup_key: String,
    pub event_at: Millis,
    pub channel_id: i64,
    pub channel_name: Option<String>,
    pub organization: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: Vec<AttemptRow>,
    pub next_attempt_at: Option<Millis>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
    pub created_at: Millis,
}

const CH_COLS: &str = "id, organization, name, kind, config_sealed, enabled, created_at, updated_at";

fn channel(r: &sqlx::any::AnyRow) -> ChannelRow {
    ChannelRow {
        id: r.get(0),
        organization: r.get(1),
        name: r.get(2),
        kind: r.get(3),
        config_sealed: r.get(4),
        enabled: r.get::<i64, _>(5) != 0,
        created_at: r.get(6),
        updated_at: r.get(7),
    }
}

fn route(r: &sqlx::any::AnyRow) -> RouteRow {
    RouteRow {
        id: r.get(0),
        organization: r.get(1),
        position: r.get(2),
        rule: r.get(3),
        created_at: r.get(4),
        updated_at: r.get(5),
    }
}

fn event_row(r: &sqlx::any::AnyRow, at: usize) -> EventRow {
    EventRow {
        id: r.get(at),
        dedup_key: r.get(at + 1),
        kind: r.get(at + 2),
        organization: r.get(at + 3),
        payload: r.get(at + 4),
        at: r.get(at + 5),
        created_at: r.get(at + 6),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

fn token() -> String {
    let mut b = [0u8; 16];
    // a claim token only has to differ between claimers; the time is a fallback
    if getrandom::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&crate::now_ms().to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Insert an event unless one with its dedup key exists; true when inserted.
pub(crate) async fn enqueue(conn: &mut Conn, e: &NewEvent, now: Millis) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO notify_events (dedup_key, kind, organization, payload, at, created_at, subject) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(&e.dedup_key)
    .bind(&e.kind)
    .bind(&e.organization)
    .bind(&e.payload)
    .bind(e.at)
    .bind(now)
    .bind(e.subject.clone())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The downtime as it is now, in the caller's transaction.
pub(crate) async fn downtime_snapshot(conn: &mut Conn, id: i64) -> Result<Option<DowntimeSnapshot>> {
    let Some(d) = sqlx::query(
        "SELECT id, title, severity, classification, organization, started_at, resolved_at, counts_towards_sla, excluded_reason
         FROM downtimes WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "SELECT m.service_id, m.name, m.node_id, m.down, s.status, s.criticality, s.tags,
            (SELECT t.reason FROM transitions t WHERE t.service_id = m.service_id ORDER BY t.at DESC, t.id DESC LIMIT 1)
         FROM downtime_members m LEFT JOIN services s ON s.id = m.service_id
         WHERE m.downtime_id = $1 ORDER BY m.joined_at, m.service_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let services = members
        .iter()
        .map(|r| {
            let current = r.get::<Option<String>, _>(4).and_then(|s| s.parse().ok()).unwrap_or(Status::Unknown);
            // a member still down is DOWN whatever was reported since; a
            // recovered one shows what it is now, or OPERATIONAL if it broke
            // again (that is another downtime's business)
            let status = if r.get::<i64, _>(3) != 0 {
                Status::Down
            } else if current == Status::Down {
                Status::Operational
            } else {
                current
            };
            ServiceSnapshot {
                id: r.get(0),
                name: r.get(1),
                node_id: r.get(2),
                status,
                criticality: r.get::<Option<String>, _>(5).and_then(|c| c.parse().ok()).unwrap_or_default(),
                tags: r.get::<Option<String>, _>(6).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
                reason: r.get::<Option<String>, _>(7),
            }
        })
        .collect();
    Ok(Some(DowntimeSnapshot {
        id: d.get(0),
        title: d.get(1),
        severity: d.get(2),
        classification: d.get(3),
        organization: d.get(4),
        services,
        started_at: d.get(5),
        resolved_at: d.get(6),
        counts_towards_sla: d.get::<i64, _>(7) != 0,
        excluded_reason: d.get(8),
    }))
}

/// Record that downtime `id` opened or resolved (`phase`), in the caller's
/// transaction. A downtime without services notifies nobody.
pub(crate) async fn downtime_event(conn: &mut Conn, id: i64, phase: &str, at: Millis, now: Millis) -> Result<()> {
    let Some(mut snap) = downtime_snapshot(conn, id).await? else { return Ok(()) };
    if snap.services.is_empty() {
        return Ok(());
    }
    if phase == "opened" {
        // the opening message shows the downtime as it opened
        snap.resolved_at = None;
    }
    let e = NewEvent {
        dedup_key: format!("downtime:{id}:{phase}"),
        subject: Some(format!("downtime:{id}")),
        kind: format!("downtime_{phase}"),
        organization: snap.organization.clone(),
        payload: serde_json::to_string(&snap).unwrap_or_default(),
        at,
    };
    enqueue(conn, &e, now).await?;
    Ok(())
}

impl Store {
    pub async fn create_channel(
        &self,
        org: &str,
        name: &str,
        kind: &str,
        sealed: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "INSERT INTO notify_channels (organization, name, kind, config_sealed, enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(org)
        .bind(name)
        .bind(kind)
        .bind(sealed)
        .bind(enabled as i64)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await;
        let row = match r {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("organization {org:?} already has a channel named {name:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        w.tx.commit().await?;
        Ok(row.get(0))
    }

    /// Replace a channel's name, kind, config and enabled flag.
    pub async fn update_channel(
        &self,
        id: i64,
        name: &str,
        kind: &str,
        sealed: &str,
        enabled: bool,
        now: Millis,
    ) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE notify_channels SET name = $2, kind = $3, config_sealed = $4, enabled = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(name)
        .bind(kind)
        .bind(sealed)
        .bind(enabled as i64)
        .bind(now)
        .execute(&mut *w.tx)
        .await;
        let r = match r {
            Ok(r) => r,
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("another channel is named {name:?}")));
            }
            Err(e) => return Err(e.into()),
        };
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Delete a channel; its pending deliveries fail (nothing to send them with).
    pub async fn delete_channel(&self, id: i64, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM notify_channels WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        sqlx::query(
            "UPDATE notify_deliveries SET state = 'failed', last_error = 'channel deleted', claim_token = NULL, claimed_until = NULL,
                updated_at = $2 WHERE channel_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn get_channel(&self, id: i64) -> Result<Option<ChannelRow>> {
        let sql = format!("SELECT {CH_COLS} FROM notify_channels WHERE id = $1");
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?.as_ref().map(channel))
    }

    pub async fn list_channels(&self, organization: Option<&str>) -> Result<Vec<ChannelRow>> {
        let sql = format!("SELECT {CH_COLS} FROM notify_channels WHERE ($1 IS NULL OR organization = $1) ORDER BY id");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(organization.map(str::to_string)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(channel).collect())
    }

    pub async fn create_route(&self, org: &str, position: i64, rule: &str, now: Millis) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO notify_routes (organization, position, rule, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(org)
        .bind(position)
        .bind(rule)
        .bind(now)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(row.get(0))
    }

    pub async fn update_route(&self, id: i64, position: i64, rule: &str, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE notify_routes SET position = $2, rule = $3, updated_at = $4 WHERE id = $1")
            .bind(id)
            .bind(position)
            .bind(rule)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn delete_route(&self, id: i64) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM notify_routes WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn get_route(&self, id: i64) -> Result<Option<RouteRow>> {
        let r = sqlx::query(
            "SELECT id, organization, position, rule, created_at, updated_at FROM notify_routes WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(route))
    }

    /// Routes in the order they are walked: by position, then id.
    pub async fn list_routes(&self, organization: Option<&str>) -> Result<Vec<RouteRow>> {
        let rows = sqlx::query(
            "SELECT id, organization, position, rule, created_at, updated_at FROM notify_routes
             WHERE ($1 IS NULL OR organization = $1) ORDER BY organization, position, id",
        )
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(route).collect())
    }

    /// Insert events (each once by its dedup key); how many were new.
    pub async fn enqueue_events(&self, events: &[NewEvent], now: Millis) -> Result<usize> {
        let mut w = self.write_tx().await?;
        let mut n = 0;
        for e in events {
            n += enqueue(&mut w.tx, e, now).await? as usize;
        }
        w.tx.commit().await?;
        Ok(n)
    }

    /// Conditions currently raised whose key starts with `prefix`: key → since.
    pub async fn raised_conditions(&self, prefix: &str) -> Result<HashMap<String, Millis>> {
        // the table holds only what is raised now: small; filter here rather
        // than with LIKE, whose escaping differs between the backends
        let rows = sqlx::query("SELECT key, since FROM notify_conditions").fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .filter(|(k, _)| k.starts_with(prefix))
            .collect())
    }

    /// Raise (`event` says so) or clear condition `key`, recording `event`
    /// in the same transaction — only when the condition's state changed, so
    /// each condition notifies once when it starts and once when it ends,
    /// however many workers or ticks see it. True when it changed.
    pub async fn set_condition(&self, key: &str, raised: bool, event: &NewEvent, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let changed = if raised {
            sqlx::query(
                "INSERT INTO notify_conditions (key, organization, kind, since) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(&event.organization)
            .bind(&event.kind)
            .bind(event.at)
            .execute(&mut *w.tx)
            .await?
            .rows_affected()
                == 1
        } else {
            sqlx::query("DELETE FROM notify_conditions WHERE key = $1")
                .bind(key)
                .execute(&mut *w.tx)
                .await?
                .rows_affected()
                == 1
        };
        if changed {
            enqueue(&mut w.tx, event, now).await?;
        }
        w.tx.commit().await?;
        Ok(changed)
    }

    /// Forget a condition without notifying (its object is gone).
    pub async fn clear_condition_silently(&self, key: &str) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM notify_conditions WHERE key = $1").bind(key).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Events not fanned out to deliveries yet, oldest first.
    pub async fn unrouted_events(&self, limit: i64) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT id, dedup_key, kind, organization, payload, at, created_at FROM notify_events
             WHERE routed_at IS NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| event_row(r, 0)).collect())
    }

    /// Fan event `id` out to `channels`: one delivery each, due now. Only the
    /// caller that marks the event routed creates them; false for the others.
    pub async fn route_event(&self, id: i64, organization: &str, channels: &[i64], now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE notify_events SET routed_at = $2 WHERE id = $1 AND routed_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        for c in channels {
            sqlx::query(
                "INSERT INTO notify_deliveries (event_id, channel_id, organization, state, attempts, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) ON CONFLICT (event_id, channel_id) DO NOTHING",
            )
            .bind(id)
            .bind(c)
            .bind(organization)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(true)
    }

    /// Ids of deliveries due at `now` and not claimed by anyone alive.
    pub async fn due_deliveries(&self, now: Millis, limit: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM notify_deliveries WHERE state = 'pending' AND next_attempt_at <= $1
               AND (claimed_until IS NULL OR claimed_until < $1) {IN_SUBJECT_ORDER}
             ORDER BY next_attempt_at, id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Claim delivery `id` until `until`; `None` when another replica holds
    /// it, it is not due, or it is done.
    pub async fn claim_delivery(&self, id: i64, now: Millis, until: Millis) -> Result<Option<ClaimedDelivery>> {
        let token = token();
        let mut w = self.write_tx().await?;
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE notify_deliveries SET claim_token = $2, claimed_until = $3, updated_at = $4
             WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $4 AND (claimed_until IS NULL OR claimed_until < $4)
               {IN_SUBJECT_ORDER}"
        )))
        .bind(id)
        .bind(&token)
        .bind(until)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT d.channel_id, d.attempts, e.id, e.dedup_key, e.kind, e.organization, e.payload, e.at, e.created_at
             FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id WHERE d.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(Some(ClaimedDelivery { id, token, channel_id: row.get(0), attempts: row.get(1), event: event_row(&row, 2) }))
    }

    /// Extend claims still held (the sender is alive and still sending)
    /// until `until`; a claim lost meanwhile is left alone.
    pub async fn renew_claims(&self, claims: &[(i64, String)], until: Millis) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let mut w = self.write_tx().await?;
        for (id, token) in claims {
            sqlx::query("UPDATE notify_deliveries SET claimed_until = $3 WHERE id = $1 AND claim_token = $2")
                .bind(*id)
                .bind(token)
                .bind(until)
                .execute(&mut *w.tx)
                .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Record the attempt made under a claim and release the claim: the
    /// delivery becomes `delivered`, `failed`, or stays `pending` until
    /// `attempt.next_attempt_at`. False when the claim was lost (expired and
    /// taken): nothing is written then.
    pub async fn finish_delivery(&self, claim: &ClaimedDelivery, attempt: &AttemptRow) -> Result<bool> {
        let state = match attempt.outcome.as_str() {
            "delivered" => "delivered",
            "retrying" => "pending",
            _ => "failed",
        };
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE notify_deliveries SET state = $3, attempts = attempts + 1, next_attempt_at = COALESCE($4, next_attempt_at),
                claim_token = NULL, claimed_until = NULL, last_error = $5, delivered_at = $6, updated_at = $7
             WHERE id = $1 AND claim_token = $2",
        )
        .bind(claim.id)
        .bind(&claim.token)
        .bind(state)
        .bind(attempt.next_attempt_at)
        .bind(attempt.error.clone())
        .bind((state == "delivered").then_some(attempt.at + attempt.duration_ms))
        .bind(attempt.at + attempt.duration_ms)
        .execute(&mut *w.tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO notify_attempts (delivery_id, attempt, at, duration_ms, outcome, status_code, error, next_attempt_at, replica)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(claim.id)
        .bind(attempt.attempt)
        .bind(attempt.at)
        .bind(attempt.duration_ms)
        .bind(&attempt.outcome)
        .bind(attempt.status_code)
        .bind(attempt.error.clone())
        .bind(attempt.next_attempt_at)
        .bind(&attempt.replica)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(true)
    }

    /// Deliveries, newest first, with their attempts.
    pub async fn list_deliveries(
        &self,
        organization: Option<&str>,
        state: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, e.kind, e.dedup_key, e.at, d.channel_id, c.name, d.organization, d.state,
                d.next_attempt_at, d.last_error, d.delivered_at, d.created_at
             FROM notify_deliveries d JOIN notify_events e ON e.id = d.event_id
             LEFT JOIN notify_channels c ON c.id = d.channel_id
             WHERE ($1 IS NULL OR d.organization = $1) AND ($2 IS NULL OR d.state = $2)
               AND ($4 IS NULL OR d.id < $4)
             ORDER BY d.id DESC LIMIT $3",
        )
        .bind(organization.map(str::to_string))
        .bind(state.map(str::to_string))
        .bind(limit)
        .bind(before_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<DeliveryRow> = rows
            .iter()
            .map(|r| {
                let state: String = r.get(8);
                DeliveryRow {
                    id: r.get(0),
                    event_id: r.get(1),
                    event_kind: r.get(2),
                    dedup_key: r.get(3),
                    event_at: r.get(4),
                    channel_id: r.get(5),
                    channel_name: r.get(6),
                    organization: r.get(7),
                    next_attempt_at: (state == "pending").then(|| r.get(9)),
                    state,
                    attempts: Vec::new(),
                    last_error: r.get(10),
                    delivered_at: r.get(11),
                    created_at: r.get(12),
                }
            })
            .collect();
        if out.is_empty() {
            return Ok(out);
        }
        // the attempts of exactly these deliveries (an id range would read other organizations' too)
        let sql = format!(
            "SELECT delivery_id, attempt, at, duration_ms, outcome, status_code, error, next_attempt_at, replica
             FROM notify_attempts WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
            crate::placeholders(self.dialect, 1, out.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for d in &out {
            q = q.bind(d.id);
        }
        let attempts = q.fetch_all(&self.pool).await?;
        let mut by_id: HashMap<i64, Vec<AttemptRow>> = HashMap::new();
        for r in &attempts {
            by_id.entry(r.get(0)).or_default().push(AttemptRow {
                attempt: r.get(1),
                at: r.get(2),
                duration_ms: r.get(3),
                outcome: r.get(4),
                status_code: r.get(5),
                error: r.get(6),
                next_attempt_at: r.get(7),
                replica: r.get(8),
            });
        }
        for d in &mut out {
            d.attempts = by_id.remove(&d.id).unwrap_or_default();
        }
        Ok(out)
    }
}
