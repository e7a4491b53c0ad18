//! Databases made by a released nines open unchanged under this one.
//!
//! `tests/fixtures/release-0346348.{db,dump}` are what `nines serve` of
//! commit 0346348 (the last release with one copy of each migration per
//! database) left after some use: two organizations, six services with
//! checks, a downtime opened and closed. `tests/fixtures/release_db.py`
//! makes them again from any binary.
//!
//! Each test opens the released database with this store, reads what the
//! release wrote, writes more, and compares the schema with a database this
//! store makes from nothing: the migrations, now one file each, must give
//! both databases exactly the schema the release gave them.

use nines_store::testing::{DEFAULT_PG_URL, ScratchDir, require_all};
use nines_store::{ServiceFilter, Store};
use sqlx::{Connection, Row};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// What the release wrote is read back, and new writes take new ids.
async fn reads_and_writes(store: &Store) {
    for org in ["acme", "globex"] {
        let f = ServiceFilter { organization: Some(org.into()), ..Default::default() };
        let names: Vec<String> =
            store.list_services(&f).await.unwrap().into_iter().map(|s| s.view.service.clone()).collect();
        assert_eq!(names.len(), 3, "{org}: {names:?}");
        assert_eq!(store.list_checks(Some(org)).await.unwrap().len(), 3, "{org}");
        let downtimes = store.list_downtimes(Some(org), None).await.unwrap();
        assert_eq!(downtimes.len(), 1, "{org}: the downtime the release recorded");
        assert!(downtimes[0].resolved_at.is_some(), "{org}: and closed");
    }
    let before = store.list_services(&ServiceFilter::default()).await.unwrap();
    let max_id = before.iter().map(|s| s.view.id).max().unwrap();
    let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: core, environment: prod, cluster: c1}\nservice: {name: queue}\n";
    let specs = nines_core::apply::parse_documents(doc).unwrap();
    store.apply(&specs, nines_core::model::Source::Config, 1_900_000_000_000).await.unwrap();
    let after = store.list_services(&ServiceFilter::default()).await.unwrap();
    assert_eq!(after.len(), before.len() + 1);
    let queue = after.iter().find(|s| s.view.service == "queue").unwrap();
    assert!(queue.view.id > max_id, "a new row takes an id after the release's rows");
}

#[tokio::test]
async fn a_sqlite_database_of_the_release_opens_unchanged() {
    let dir = ScratchDir::new("upgrade");
    let path = dir.0.join("nines.db");
    std::fs::copy(format!("{FIXTURES}/release-0346348.db"), &path).unwrap();
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("the release's database opens");
    reads_and_writes(&store).await;
    store.close().await;

    let fresh_dir = ScratchDir::new("fresh");
    let fresh_url = format!("sqlite://{}", fresh_dir.0.join("nines.db").display());
    Store::connect(&fresh_url).await.unwrap().close().await;
    let (old, new) = (sqlite_schema(&url).await, sqlite_schema(&fresh_url).await);
    assert!(old.len() > 40, "{} objects", old.len());
    assert_eq!(old, new, "the schema of a new database is the release's");
}

/// Every table, index and trigger with the statement that made it.
async fn sqlite_schema(url: &str) -> Vec<(String, String, Option<String>)> {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows =
        sqlx::query("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
            .fetch_all(&mut c)
            .await
            .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

#[tokio::test]
async fn a_postgres_database_of_the_release_opens_unchanged() {
    let base = std::env::var("NINES_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string());
    let mut admin = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) if !require_all() => {
            eprintln!("SKIP postgres: {base} unreachable ({e})");
            return;
        }
        Err(e) => panic!("NINES_TEST_REQUIRE_ALL=1 but PostgreSQL at {base} is unreachable: {e}"),
    };
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    // what a failed run left behind (an hour ago or more)
    let left: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'nines_upgrade_%'")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    for db in left {
        let made: u128 = db.rsplit('_').next().and_then(|t| t.parse().ok()).unwrap_or(0);
        if made + 3_600_000 > now_ms {
            continue;
        }
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
            .execute(&mut admin)
            .await;
    }
    // the dump names its objects `public.…`: it gets a database of its own
    let name = format!("nines_upgrade_{}_{now_ms}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
    let url = with_database(&base, &name);
    let dump = std::fs::read_to_string(format!("{FIXTURES}/release-0346348.dump")).unwrap();
    {
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(dump)).execute(&mut c).await.expect("the release's dump loads");
        c.close().await.unwrap();
    }
    let outcome = async {
        let store = Store::connect(&url).await.expect("the release's database opens");
        reads_and_writes(&store).await;
        store.close().await;
        let fresh = nines_store::testing::postgres_url().await.expect("PostgreSQL answered above");
        Store::connect(&fresh).await.unwrap().close().await;
        (pg_schema(&url).await, pg_schema(&fresh).await)
    };
    let (old, new) = outcome.await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).execute(&mut admin).await.unwrap();
    assert!(old.len() > 200, "{} columns and indexes", old.len());
    assert_eq!(old, new, "the schema of a new database is the release's");
}

fn with_database(base: &str, db: &str) -> String {
    let (head, query) = base.split_once('?').map_or((base, None), |(h, q)| (h, Some(q)));
    let head = head.rsplit_once('/').map_or(head, |(h, _)| h);
    match query {
        Some(q) => format!("{head}/{db}?{q}"),
        None => format!("{head}/{db}"),
    }
}

/// Every column (type, nullability, identity, default) and index of the
/// schema the connection works in, with that schema's name left out.
async fn pg_schema(url: &str) -> Vec<String> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&mut c).await.unwrap();
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text, is_identity::text,
                coalesce(column_default::text, '')
           FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let indexes = sqlx::query(
        "SELECT tablename::text, indexname::text, indexdef::text FROM pg_indexes WHERE schemaname = current_schema()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out: Vec<String> = columns
        .iter()
        .map(|r| {
            let f: Vec<String> = (0..6).map(|i| r.get::<String, _>(i)).collect();
            format!("column {}", f.join(" | "))
        })
        .chain(indexes.iter().map(|r| {
            format!("index {} | {} | {}", r.get::<String, _>(0), r.get::<String, _>(1), r.get::<String, _>(2))
        }))
        .map(|s| s.replace(&format!("{schema}."), "").replace(&format!("\"{schema}\"."), ""))
        .collect();
    out.sort();
    out
}
