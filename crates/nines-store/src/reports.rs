//! Storage side of the daily SLA report: the index of the report files on
//! disk (one row per organization and day, claimed before a scheduled run so
//! several replicas make it once), the bulk timeline read the report's
//! figures come from, and the retention of raw observations.
//!
//! The files themselves and the figures are the server's; here are only
//! reads and writes.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::timeline::Transition;
use sqlx::Row;
use std::collections::HashMap;

use crate::{Result, Store};

/// One indexed report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub organization: String,
    /// `YYYY-MM-DD` in the report time zone.
    pub report_date: String,
    /// `claimed` while being made, `done` once the files are on disk.
    pub state: String,
    pub claimed_by: String,
    pub claimed_at: Millis,
    pub generated_at: Option<Millis>,
    pub json_path: Option<String>,
    pub pdf_path: Option<String>,
    pub json_bytes: Option<i64>,
    pub pdf_bytes: Option<i64>,
    pub pushed_at: Option<Millis>,
    pub push_error: Option<String>,
}

const COLS: &str = "organization, report_date, state, claimed_by, claimed_at, generated_at, json_path, pdf_path, \
                    json_bytes, pdf_bytes, pushed_at, push_error";

fn row(r: &sqlx::any::AnyRow) -> ReportRow {
    ReportRow {
        organization: r.get(0),
        report_date: r.get(1),
        state: r.get(2),
        claimed_by: r.get(3),
        claimed_at: r.get(4),
        generated_at: crate::opt_i64(r, "generated_at"),
        json_path: crate::opt_str(r, "json_path"),
        pdf_path: crate::opt_str(r, "pdf_path"),
        json_bytes: crate::opt_i64(r, "json_bytes"),
        pdf_bytes: crate::opt_i64(r, "pdf_bytes"),
        pushed_at: crate::opt_i64(r, "pushed_at"),
        push_error: crate::opt_str(r, "push_error"),
    }
}

/// Where a finished report's files are.
#[derive(Debug, Clone)]
pub struct ReportFiles<'a> {
    pub json_path: &'a str,
    pub pdf_path: &'a str,
    pub json_bytes: i64,
    pub pdf_bytes: i64,
}

impl Store {
    /// Claim the making of `(organization, date)` for `holder`. True for
    /// exactly one caller: the row did not exist, or an earlier claim is
    /// older than `stale_before` and never finished (its maker died).
    pub async fn claim_report(
        &self,
        organization: &str,
        date: &str,
        holder: &str,
        now: Millis,
        stale_before: Millis,
    ) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "INSERT INTO sla_reports (organization, report_date, state, claimed_by, claimed_at)
             VALUES ($1, $2, 'claimed', $3, $4)
             ON CONFLICT (organization, report_date) DO UPDATE
               SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at
               WHERE sla_reports.state = 'claimed' AND sla_reports.claimed_at < $5",
        )
        .bind(organization)
        .bind(date)
        .bind(holder)
        .bind(now)
        .bind(stale_before)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Record a finished report (made by a claim or on demand; a second
    /// generation of the same day overwrites the first).
    pub async fn report_done(
        &self,
        organization: &str,
        date: &str,
        holder: &str,
        now: Millis,
        f: &ReportFiles<'_>,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO sla_reports (organization, report_date, state, claimed_by, claimed_at, generated_at,
                json_path, pdf_path, json_bytes, pdf_bytes)
             VALUES ($1, $2, 'done', $3, $4, $4, $5, $6, $7, $8)
             ON CONFLICT (organization, report_date) DO UPDATE
               SET state = 'done', claimed_by = excluded.claimed_by, generated_at = excluded.generated_at,
                   json_path = excluded.json_path, pdf_path = excluded.pdf_path,
                   json_bytes = excluded.json_bytes, pdf_bytes = excluded.pdf_bytes,
                   pushed_at = NULL, push_error = NULL",
        )
        .bind(organization)
        .bind(date)
        .bind(holder)
        .bind(now)
        .bind(f.json_path)
        .bind(f.pdf_path)
        .bind(f.json_bytes)
        .bind(f.pdf_bytes)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Give up a claim whose report could not be made, so a later run retries.
    pub async fn release_report_claim(&self, organization: &str, date: &str, holder: &str) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query(
            "DELETE FROM sla_reports WHERE organization = $1 AND report_date = $2 AND state = 'claimed' AND claimed_by = $3",
        )
        .bind(organization)
        .bind(date)
        .bind(holder)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Record the outcome of pushing a report to the SLA portal.
    pub async fn report_pushed(
        &self,
        organization: &str,
        date: &str,
        pushed_at: Option<Millis>,
        error: Option<&str>,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query(
            "UPDATE sla_reports SET pushed_at = $3, push_error = $4 WHERE organization = $1 AND report_date = $2",
        )
        .bind(organization)
        .bind(date)
        .bind(pushed_at)
        .bind(error.map(str::to_string))
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Reports of an organization (or all), newest day first.
    pub async fn list_reports(&self, organization: Option<&str>) -> Result<Vec<ReportRow>> {
        let sql = format!(
            "SELECT {COLS} FROM sla_reports WHERE ($1 IS NULL OR organization = $1)
             ORDER BY report_date DESC, organization"
        );
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(organization.map(str::to_string)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(row).collect())
    }

    pub async fn get_report(&self, organization: &str, date: &str) -> Result<Option<ReportRow>> {
        let sql = format!("SELECT {COLS} FROM sla_reports WHERE organization = $1 AND report_date = $2");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(organization).bind(date).fetch_optional(&self.pool).await?;
        Ok(r.as_ref().map(row))
    }

    /// Reports of days before `date` (`YYYY-MM-DD`), for retention.
    pub async fn reports_before(&self, date: &str) -> Result<Vec<ReportRow>> {
        let sql = format!("SELECT {COLS} FROM sla_reports WHERE report_date < $1 ORDER BY report_date");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(date).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(row).collect())
    }

    pub async fn delete_report(&self, organization: &str, date: &str) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM sla_reports WHERE organization = $1 AND report_date = $2")
            .bind(organization)
            .bind(date)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Every organization that has a service, in name order.
    pub async fn organizations(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT organization FROM services ORDER BY organization")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// For every service of an organization: its status in effect at `base`
    /// and its transitions in `[base, to)` in order — what
    /// [`Store::timeline_window`] returns per service, in two queries. Any
    /// window inside `[base, to)` can be accounted from it.
    pub async fn timelines_since(
        &self,
        organization: &str,
        base: Millis,
        to: Millis,
    ) -> Result<HashMap<i64, (Status, Vec<Transition>)>> {
        let rows = sqlx::query(
            "SELECT s.id, (SELECT t.to_status FROM transitions t WHERE t.service_id = s.id AND t.at < $2
                            ORDER BY t.at DESC, t.id DESC LIMIT 1)
             FROM services s WHERE s.organization = $1",
        )
        .bind(organization)
        .bind(base)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<i64, (Status, Vec<Transition>)> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let st = r
                .try_get::<Option<String>, _>(1)
                .ok()
                .flatten()
                .map_or(Status::Unknown, |s| crate::health::parse_status(&s));
            out.insert(r.get(0), (st, Vec::new()));
        }
        let rows = sqlx::query(
            "SELECT t.service_id, t.at, t.from_status, t.to_status, t.cause FROM transitions t
             JOIN services s ON s.id = t.service_id
             WHERE s.organization = $1 AND t.at >= $2 AND t.at < $3 ORDER BY t.service_id, t.at, t.id",
        )
        .bind(organization)
        .bind(base)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let id: i64 = r.get(0);
            out.entry(id).or_insert((Status::Unknown, Vec::new())).1.push(crate::slo::transition(r, 1));
        }
        Ok(out)
    }

    /// Remove raw observations (health reports, probe results, stale marks)
    /// older than `before`. The timeline, period results and reports stay:
    /// every figure is computed from those.
    pub async fn prune_observations(&self, before: Millis) -> Result<u64> {
        self.prune_observations_by(before, 5000).await
    }

    /// [`Store::prune_observations`], `chunk` rows a transaction, oldest
    /// first: the one writer is held for one chunk at a time, so reports
    /// keep being written while a large backlog goes. Pruning stopped half
    /// way (a crash, a restart) has removed only rows it was meant to
    /// remove; the next run takes the rest.
    pub async fn prune_observations_by(&self, before: Millis, chunk: i64) -> Result<u64> {
        let mut removed = 0;
        loop {
            let mut w = self.write_tx().await?;
            let n = sqlx::query(
                "DELETE FROM observations WHERE id IN (SELECT id FROM observations WHERE at < $1 ORDER BY at LIMIT $2)",
            )
            .bind(before)
            .bind(chunk)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            w.tx.commit().await?;
            removed += n;
            if n < chunk as u64 {
                return Ok(removed);
            }
        }
    }

    /// How many raw observations are older than `before`.
    pub async fn observations_before(&self, before: Millis) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM observations WHERE at < $1")
            .bind(before)
            .fetch_one(&self.pool)
            .await?
            .get::<i64, _>(0))
    }
}
