//! Databases for tests: a fresh SQLite file, and a fresh PostgreSQL schema
//! when a server is reachable (`NINES_TEST_DATABASE_URL`, default the local
//! `postgres://postgres@127.0.0.1:5432/test`). Without PostgreSQL the tests
//! say so and run on SQLite only — unless `NINES_TEST_REQUIRE_ALL=1`, when
//! they fail instead.

use sqlx::Connection;
use std::path::PathBuf;

use crate::Store;

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn require_all() -> bool {
    std::env::var("NINES_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

fn rand_suffix() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A scratch directory under the system temp dir, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        let p = std::env::temp_dir().join(format!("nines-test-{label}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&p).expect("create scratch dir");
        ScratchDir(p)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One database under test.
pub struct TestDb {
    pub label: &'static str,
    pub url: String,
    pub store: Store,
    _dir: Option<ScratchDir>,
}

pub async fn sqlite() -> TestDb {
    let dir = ScratchDir::new("db");
    let url = format!("sqlite://{}", dir.0.join("nines.db").display());
    let store = Store::connect(&url).await.expect("open sqlite");
    TestDb { label: "sqlite", url, store, _dir: Some(dir) }
}

/// A URL for a fresh, empty PostgreSQL schema, or None (with a printed
/// reason) when no server answers.
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var("NINES_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) => {
            if require_all() {
                panic!("NINES_TEST_REQUIRE_ALL=1 but PostgreSQL at {base} is unreachable: {e}");
            }
            eprintln!("SKIP postgres: {base} unreachable ({e}); running on SQLite only");
            return None;
        }
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // drop what earlier crashed runs left behind (older than an hour)
    if let Ok(rows) =
        sqlx::query_scalar::<_, String>("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'nines_t_%'")
            .fetch_all(&mut conn)
            .await
    {
        for name in rows {
            let ts: u64 = name.split('_').nth(2).and_then(|s| s.parse().ok()).unwrap_or(0);
            if ts + 3600 < now {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
    let schema = format!("nines_t_{now}_{}", rand_suffix());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

pub async fn postgres() -> Option<TestDb> {
    let url = postgres_url().await?;
    let store = Store::connect(&url).await.expect("open postgres schema");
    Some(TestDb { label: "postgres", url, store, _dir: None })
}

/// Every backend available here: SQLite always, PostgreSQL when reachable.
pub async fn all() -> Vec<TestDb> {
    let mut v = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        v.push(pg);
    }
    v
}

/// Write transitions straight into the timeline (benchmarks and fixtures
/// that need months of history in seconds). Rows: `(service_id, at, from, to)`.
pub async fn insert_transitions(
    store: &Store,
    rows: &[(i64, i64, nines_core::Status, nines_core::Status)],
) -> crate::Result<()> {
    let mut w = store.write_tx().await?;
    for chunk in rows.chunks(5000) {
        let sql = format!(
            "INSERT INTO transitions (service_id, at, from_status, to_status, cause) VALUES {}",
            crate::value_rows(store.dialect, chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for (id, at, f, t) in chunk {
            q = q.bind(*id).bind(*at).bind(f.as_str()).bind(t.as_str()).bind("report");
        }
        q.execute(&mut *w.tx).await?;
    }
    w.tx.commit().await?;
    Ok(())
}

/// Set the live status of a service to match inserted history.
pub async fn set_status(store: &Store, id: i64, status: nines_core::Status) -> crate::Result<()> {
    sqlx::query("UPDATE services SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status.as_str())
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Bytes the database takes on disk (SQLite: the file and its WAL).
pub async fn database_bytes(url: &str) -> Option<u64> {
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    let mut total = 0;
    for suffix in ["", "-wal"] {
        total += std::fs::metadata(format!("{path}{suffix}")).map(|m| m.len()).unwrap_or(0);
    }
    Some(total)
}

/// Every value of every row of `table` as text, for tests that must show a
/// secret is not stored (only trusted table names: this is test code).
pub async fn table_text(store: &Store, table: &str) -> crate::Result<String> {
    use sqlx::{Column, Row};
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"))).fetch_all(&store.pool).await?;
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.columns().iter().enumerate() {
            let v = r
                .try_get::<Option<String>, _>(i)
                .ok()
                .flatten()
                .or_else(|| r.try_get::<Option<i64>, _>(i).ok().flatten().map(|n| n.to_string()))
                .or_else(|| {
                    r.try_get::<Option<Vec<u8>>, _>(i).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
                })
                .unwrap_or_default();
            out.push_str(c.name());
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
    }
    Ok(out)
}
