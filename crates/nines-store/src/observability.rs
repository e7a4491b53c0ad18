//! Observability accounting: hourly rows of log lines and bytes
//! (VictoriaLogs) and of active series (VictoriaMetrics) per label value,
//! which intervals the backends answered in full, and each backend's last
//! success and error. Every window nines shows is a sum or an average over
//! these rows; nothing here talks to a backend.

use nines_core::clock::Millis;
use sqlx::Row;
use std::collections::HashMap;

use crate::{Result, Store};

pub const HOUR_MS: i64 = 3_600_000;
/// The series sampling interval.
pub const SLOT_MS: i64 = 300_000;

/// One label value's logs in one closed hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHour {
    pub label_value: String,
    pub hour: Millis,
    pub lines: i64,
    pub bytes: i64,
}

/// One 5-minute evaluation: the active series of each label value that had any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSample {
    pub at: Millis,
    pub counts: Vec<(String, i64)>,
}

/// A backend's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendState {
    pub backend: String,
    pub last_success: Option<Millis>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Millis>,
    pub last_queries: Option<i64>,
    pub last_duration_ms: Option<i64>,
}

/// Sums over three nested windows ending at the same time, widest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums3 {
    pub w1h: i64,
    pub w24h: i64,
    pub w30d: i64,
}

/// The three windows' starts (1 h, 24 h, 30 d before `to`) and their common end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub from_1h: Millis,
    pub from_24h: Millis,
    pub from_30d: Millis,
    pub to: Millis,
}

/// A label value's per-organization override.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelOverride {
    pub logs: Option<String>,
    pub metrics: Option<String>,
}

impl Store {
    /// The hours in `[from, to)` that VictoriaLogs answered in full.
    pub async fn obs_log_covered(&self, from: Millis, to: Millis) -> Result<Vec<Millis>> {
        let rows = sqlx::query("SELECT hour FROM obs_log_covered WHERE hour >= $1 AND hour < $2 ORDER BY hour")
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The 5-minute slots in `[from, to)` that VictoriaMetrics answered in full.
    pub async fn obs_series_covered(&self, from: Millis, to: Millis) -> Result<Vec<Millis>> {
        let rows = sqlx::query("SELECT at FROM obs_series_slots WHERE at >= $1 AND at < $2 ORDER BY at")
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Record one complete answer of VictoriaLogs for the hours `[from, to)`:
    /// the hours' rows are replaced by `rows` (late logs absorbed), and every
    /// hour of the range is marked covered. One transaction. Two runs that
    /// overlap (a refresh on another replica) both write what the backend
    /// answered: an upsert replaces, it never adds.
    pub async fn obs_put_log_hours(&self, from: Millis, to: Millis, rows: &[LogHour], now: Millis) -> Result<()> {
        // one row per value and hour, whatever the caller handed in
        let mut merged: std::collections::BTreeMap<(&str, Millis), (i64, i64)> = Default::default();
        for r in rows.iter().filter(|r| r.hour >= from && r.hour < to) {
            let e = merged.entry((r.label_value.as_str(), r.hour)).or_default();
            e.0 += r.lines;
            e.1 += r.bytes;
        }
        let merged: Vec<_> = merged.into_iter().collect();
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM obs_log_hours WHERE hour >= $1 AND hour < $2")
            .bind(from)
            .bind(to)
            .execute(&mut *w.tx)
            .await?;
        for chunk in merged.chunks(200) {
            let mut sql = String::from("INSERT INTO obs_log_hours (label_value, hour, lines, bytes) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                let b = i * 4;
                sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
            }
            sql.push_str(
                " ON CONFLICT (label_value, hour) DO UPDATE SET lines = excluded.lines, bytes = excluded.bytes",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((v, h), (n, b)) in chunk {
                q = q.bind(*v).bind(*h).bind(*n).bind(*b);
            }
            q.execute(&mut *w.tx).await?;
        }
        let hours: Vec<Millis> = (0..).map(|i| from + i * HOUR_MS).take_while(|h| *h < to).collect();
        for chunk in hours.chunks(300) {
            let mut sql = String::from("INSERT INTO obs_log_covered (hour, sampled_at) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, $1)", i + 2));
            }
            sql.push_str(" ON CONFLICT (hour) DO UPDATE SET sampled_at = excluded.sampled_at");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
            for h in chunk {
                q = q.bind(*h);
            }
            q.execute(&mut *w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Record complete VictoriaMetrics answers for 5-minute slots. A slot
    /// already recorded (by an earlier run or another replica) is skipped, so
    /// no sample counts twice; the counts of a new slot are added to its
    /// hour's sums. The newest slot becomes "current" when it is newer than
    /// the one held. Returns how many slots were new. One transaction.
    pub async fn obs_add_series_samples(&self, samples: &[SeriesSample], now: Millis) -> Result<usize> {
        let mut w = self.write_tx().await?;
        let mut added = 0;
        let mut newest: Option<&SeriesSample> = None;
        for s in samples {
            let r = sqlx::query(
                "INSERT INTO obs_series_slots (at, sampled_at) VALUES ($1, $2) ON CONFLICT (at) DO NOTHING",
            )
            .bind(s.at)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
            if r.rows_affected() != 1 {
                continue;
            }
            added += 1;
            let hour = s.at.div_euclid(HOUR_MS) * HOUR_MS;
            for chunk in s.counts.chunks(300) {
                let mut sql = String::from("INSERT INTO obs_series_hours (label_value, hour, series_sum) VALUES ");
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push(',');
                    }
                    let b = i * 2 + 1;
                    sql.push_str(&format!("(${}, $1, ${})", b + 1, b + 2));
                }
                sql.push_str(
                    " ON CONFLICT (label_value, hour) DO UPDATE SET series_sum = obs_series_hours.series_sum + excluded.series_sum",
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(hour);
                for (v, n) in chunk {
                    q = q.bind(v.as_str()).bind(*n);
                }
                q.execute(&mut *w.tx).await?;
            }
            if newest.is_none_or(|n| s.at > n.at) {
                newest = Some(s);
            }
        }
        if let Some(n) = newest {
            // the time of the sample held, kept beside the counts so that
            // a sample in which no value had a series still has a time
            let held: Option<i64> =
                sqlx::query("SELECT last_success FROM obs_backends WHERE backend = 'metrics-current'")
                    .fetch_optional(&mut *w.tx)
                    .await?
                    .and_then(|r| r.try_get(0).ok().flatten());
            if held.is_none_or(|h| n.at > h) {
                // replaced as a whole; upserts, so a replica doing the same
                // at the same moment meets no duplicate key
                sqlx::query("DELETE FROM obs_series_latest").execute(&mut *w.tx).await?;
                for chunk in n.counts.chunks(300) {
                    let mut sql = String::from("INSERT INTO obs_series_latest (label_value, series, at) VALUES ");
                    for i in 0..chunk.len() {
                        if i > 0 {
                            sql.push(',');
                        }
                        sql.push_str(&format!("(${}, ${}, $1)", 2 * i + 2, 2 * i + 3));
                    }
                    sql.push_str(" ON CONFLICT (label_value) DO UPDATE SET series = excluded.series, at = excluded.at");
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(n.at);
                    for (v, c) in chunk {
                        q = q.bind(v.as_str()).bind(*c);
                    }
                    q.execute(&mut *w.tx).await?;
                }
                sqlx::query(
                    "INSERT INTO obs_backends (backend, last_success) VALUES ('metrics-current', $1)
                     ON CONFLICT (backend) DO UPDATE SET last_success = excluded.last_success",
                )
                .bind(n.at)
                .execute(&mut *w.tx)
                .await?;
            }
        }
        w.tx.commit().await?;
        Ok(added)
    }

    /// The newest sample: its time and each label value's active series.
    pub async fn obs_series_current(&self) -> Result<(Option<Millis>, HashMap<String, i64>)> {
        let at: Option<i64> = sqlx::query("SELECT last_success FROM obs_backends WHERE backend = 'metrics-current'")
            .fetch_optional(&self.pool)
            .await?
            .and_then(|r| r.try_get(0).ok().flatten());
        let rows = sqlx::query("SELECT label_value, series FROM obs_series_latest").fetch_all(&self.pool).await?;
        Ok((at, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    /// Note a run of `backend` ('logs' or 'metrics'): a success (error
    /// `None`) or a failure with its reason.
    pub async fn obs_note_run(
        &self,
        backend: &str,
        at: Millis,
        error: Option<&str>,
        queries: i64,
        duration_ms: i64,
    ) -> Result<()> {
        let mut w = self.write_tx().await?;
        match error {
            None => sqlx::query(
                "INSERT INTO obs_backends (backend, last_success, last_queries, last_duration_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (backend) DO UPDATE SET last_success = excluded.last_success,
                   last_queries = excluded.last_queries, last_duration_ms = excluded.last_duration_ms",
            )
            .bind(backend)
            .bind(at)
            .bind(queries)
            .bind(duration_ms)
            .execute(&mut *w.tx)
            .await?,
            Some(e) => sqlx::query(
                "INSERT INTO obs_backends (backend, last_error, last_error_at, last_queries, last_duration_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (backend) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at,
                   last_queries = excluded.last_queries, last_duration_ms = excluded.last_duration_ms",
            )
            .bind(backend)
            .bind(e)
            .bind(at)
            .bind(queries)
            .bind(duration_ms)
            .execute(&mut *w.tx)
            .await?,
        };
        w.tx.commit().await?;
        Ok(())
    }

    /// The records of the 'logs' and 'metrics' backends (those that ran).
    pub async fn obs_backends(&self) -> Result<HashMap<String, BackendState>> {
        let rows = sqlx::query(
            "SELECT backend, last_success, last_error, last_error_at, last_queries, last_duration_ms
             FROM obs_backends WHERE backend IN ('logs', 'metrics')",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let b: String = r.get(0);
                (
                    b.clone(),
                    BackendState {
                        backend: b,
                        last_success: r.try_get(1).ok().flatten(),
                        last_error: r.try_get(2).ok().flatten(),
                        last_error_at: r.try_get(3).ok().flatten(),
                        last_queries: r.try_get(4).ok().flatten(),
                        last_duration_ms: r.try_get(5).ok().flatten(),
                    },
                )
            })
            .collect())
    }

    /// Log lines and bytes per label value over the three windows (hours
    /// whose start lies in `[from, to)`), for one label value or all.
    pub async fn obs_log_sums(&self, w: Windows, value: Option<&str>) -> Result<HashMap<String, (Sums3, Sums3)>> {
        let filter = if value.is_some() { " AND label_value = $5" } else { "" };
        let sql = format!(
            "SELECT label_value,
               CAST(SUM(CASE WHEN hour >= $1 THEN lines ELSE 0 END) AS BIGINT),
               CAST(SUM(CASE WHEN hour >= $2 THEN lines ELSE 0 END) AS BIGINT),
               CAST(SUM(lines) AS BIGINT),
               CAST(SUM(CASE WHEN hour >= $1 THEN bytes ELSE 0 END) AS BIGINT),
               CAST(SUM(CASE WHEN hour >= $2 THEN bytes ELSE 0 END) AS BIGINT),
               CAST(SUM(bytes) AS BIGINT)
             FROM obs_log_hours WHERE hour >= $3 AND hour < $4{filter} GROUP BY label_value"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(w.from_1h).bind(w.from_24h).bind(w.from_30d).bind(w.to);
        if let Some(v) = value {
            q = q.bind(v);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let g = |i: usize| r.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0));
                Ok((
                    r.try_get(0)?,
                    (Sums3 { w1h: g(1)?, w24h: g(2)?, w30d: g(3)? }, Sums3 { w1h: g(4)?, w24h: g(5)?, w30d: g(6)? }),
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// Active-series sums per label value over the three windows.
    pub async fn obs_series_sums(&self, w: Windows, value: Option<&str>) -> Result<HashMap<String, Sums3>> {
        let filter = if value.is_some() { " AND label_value = $5" } else { "" };
        let sql = format!(
            "SELECT label_value,
               CAST(SUM(CASE WHEN hour >= $1 THEN series_sum ELSE 0 END) AS BIGINT),
               CAST(SUM(CASE WHEN hour >= $2 THEN series_sum ELSE 0 END) AS BIGINT),
               CAST(SUM(series_sum) AS BIGINT)
             FROM obs_series_hours WHERE hour >= $3 AND hour < $4{filter} GROUP BY label_value"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(w.from_1h).bind(w.from_24h).bind(w.from_30d).bind(w.to);
        if let Some(v) = value {
            q = q.bind(v);
        }
        let rows = q.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let g = |i: usize| r.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0));
                Ok((r.try_get(0)?, Sums3 { w1h: g(1)?, w24h: g(2)?, w30d: g(3)? }))
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    /// How many hours (logs) and slots (series) of each window were covered.
    pub async fn obs_coverage(&self, w: Windows) -> Result<(Sums3, Sums3)> {
        let count = |table: &'static str, col: &'static str| {
            let sql = format!(
                "SELECT CAST(SUM(CASE WHEN {col} >= $1 THEN 1 ELSE 0 END) AS BIGINT),
                        CAST(SUM(CASE WHEN {col} >= $2 THEN 1 ELSE 0 END) AS BIGINT), COUNT(*)
                 FROM {table} WHERE {col} >= $3 AND {col} < $4"
            );
            async move {
                let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(w.from_1h)
                    .bind(w.from_24h)
                    .bind(w.from_30d)
                    .bind(w.to)
                    .fetch_one(&self.pool)
                    .await?;
                let g = |i: usize| r.try_get::<Option<i64>, _>(i).map(|v| v.unwrap_or(0));
                Ok::<_, crate::Error>(Sums3 { w1h: g(0)?, w24h: g(1)?, w30d: g(2)? })
            }
        };
        Ok((count("obs_log_covered", "hour").await?, count("obs_series_slots", "at").await?))
    }

    /// Per UTC day in `[from, to)` (day starts, ms): covered log hours and
    /// covered series slots.
    pub async fn obs_daily_coverage(&self, from: Millis, to: Millis) -> Result<(HashMap<i64, i64>, HashMap<i64, i64>)> {
        let by_day = |table: &'static str, col: &'static str| {
            let sql = format!(
                "SELECT {col} / 86400000, COUNT(*) FROM {table} WHERE {col} >= $1 AND {col} < $2 GROUP BY {col} / 86400000"
            );
            async move {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch_all(&self.pool).await?;
                Ok::<_, crate::Error>(
                    rows.iter()
                        .map(|r| (r.get::<i64, _>(0) * 86_400_000, r.get::<i64, _>(1)))
                        .collect::<HashMap<_, _>>(),
                )
            }
        };
        Ok((by_day("obs_log_covered", "hour").await?, by_day("obs_series_slots", "at").await?))
    }

    /// Per UTC day in `[from, to)`: the log lines and bytes of one label value.
    pub async fn obs_daily_logs(&self, value: &str, from: Millis, to: Millis) -> Result<HashMap<i64, (i64, i64)>> {
        let rows = sqlx::query(
            "SELECT hour / 86400000, CAST(SUM(lines) AS BIGINT), CAST(SUM(bytes) AS BIGINT) FROM obs_log_hours
             WHERE label_value = $1 AND hour >= $2 AND hour < $3 GROUP BY hour / 86400000",
        )
        .bind(value)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0) * 86_400_000, (r.get(1), r.get(2)))).collect())
    }

    /// Per UTC day in `[from, to)`: the series sum of one label value.
    pub async fn obs_daily_series(&self, value: &str, from: Millis, to: Millis) -> Result<HashMap<i64, i64>> {
        let rows = sqlx::query(
            "SELECT hour / 86400000, CAST(SUM(series_sum) AS BIGINT) FROM obs_series_hours
             WHERE label_value = $1 AND hour >= $2 AND hour < $3 GROUP BY hour / 86400000",
        )
        .bind(value)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0) * 86_400_000, r.get(1))).collect())
    }

    /// Forget rows older than `before` (kept: a little over the 30-day window).
    pub async fn obs_prune(&self, before: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        for sql in [
            "DELETE FROM obs_log_hours WHERE hour < $1",
            "DELETE FROM obs_log_covered WHERE hour < $1",
            "DELETE FROM obs_series_hours WHERE hour < $1",
            "DELETE FROM obs_series_slots WHERE at < $1",
        ] {
            sqlx::query(sql).bind(before).execute(&mut *w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(())
    }

    /// Every organization's label-value overrides.
    pub async fn obs_overrides(&self) -> Result<HashMap<String, LabelOverride>> {
        let rows = sqlx::query("SELECT organization, logs_value, metrics_value FROM obs_label_overrides")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (r.get(0), LabelOverride { logs: r.try_get(1).ok().flatten(), metrics: r.try_get(2).ok().flatten() })
            })
            .collect())
    }

    /// Set (or, with both `None`, remove) an organization's overrides.
    /// Refused (`Conflict`) when another organization already reads its
    /// rows under one of these values (as its override or as its name, when
    /// that organization has services or an override of its own): one
    /// tenant's volume is never billed to two.
    pub async fn obs_set_override(&self, organization: &str, o: &LabelOverride, now: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        for (col, value) in [("logs_value", &o.logs), ("metrics_value", &o.metrics)] {
            let Some(v) = value else { continue };
            let sql = format!(
                "SELECT organization FROM obs_label_overrides WHERE {col} = $1 AND organization <> $2
                 UNION SELECT organization FROM services WHERE organization = $1 AND organization <> $2
                 UNION SELECT organization FROM obs_label_overrides WHERE organization = $1 AND organization <> $2"
            );
            let other: Option<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(v.as_str())
                .bind(organization)
                .fetch_optional(&mut *w.tx)
                .await?
                .map(|r| r.get(0));
            if let Some(other) = other {
                return Err(crate::Error::Conflict(format!(
                    "{}: the value {v:?} already names organization {other:?}'s rows",
                    if col == "logs_value" { "logs" } else { "metrics" }
                )));
            }
        }
        if o.logs.is_none() && o.metrics.is_none() {
            sqlx::query("DELETE FROM obs_label_overrides WHERE organization = $1")
                .bind(organization)
                .execute(&mut *w.tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO obs_label_overrides (organization, logs_value, metrics_value, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (organization) DO UPDATE SET logs_value = excluded.logs_value,
                   metrics_value = excluded.metrics_value, updated_at = excluded.updated_at",
            )
            .bind(organization)
            .bind(o.logs.as_deref())
            .bind(o.metrics.as_deref())
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }
}
