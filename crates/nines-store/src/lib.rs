//! Storage for nines.
//!
//! One interface, [`Store`], over two backends: SQLite (the zero-config
//! default, WAL mode, one writer) and PostgreSQL (several `nines serve`
//! replicas share one). Both run the same SQL through sqlx's `Any` driver;
//! queries use `$n` placeholders, which both backends accept, and avoid
//! dialect features except where [`Dialect`] says otherwise. Migrations are
//! embedded, one file each for both backends (`migrations/`; where the two
//! differ a file names the difference, spelled out once in `DIALECT`),
//! and run at start.
//!
//! Hot-path writes (health reports) arrive in batches: one transaction per
//! batch, however many reports it holds. On PostgreSQL a batch is a few
//! multi-row statements; on SQLite, batches of known services are written by
//! a thread that owns a connection of its own and keeps its statements
//! prepared (`health::FastWriter`, `sqlite_raw`).
//!
//! What does not live here: HTTP, authentication decisions, the timeline
//! rules themselves (those are pure functions in `nines-core::timeline`).

pub mod agents;
pub mod audit;
mod backup;
pub mod certificates;
pub mod checks;
pub mod downtimes;
mod health;
pub mod inventory;
mod keys;
mod lease;
pub mod maintenance;
pub mod notifications;
pub mod observability;
pub mod pages;
mod read;
pub mod reports;
mod services;
pub mod slo;
mod sqlite_raw;
pub mod statuspage;
pub mod testing;
pub mod ui;

pub use backup::{BackupTarget, StorageOp};
pub use health::HealthOp;
pub use keys::{ApiKey, generate_key, hash_key, parse_key_id};
pub use lease::LeaseState;
pub use read::{ServiceFilter, ServiceRecord, transition_view};
pub use services::NewService;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// An error of the SQLite connection the health-report writer owns.
    #[error("database: {0}")]
    Sqlite(String),
    #[error("unsupported database url {0:?}: expected sqlite://PATH or postgres://...")]
    BadUrl(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connection to either backend, as the modules' writes take it (a
/// transaction derefs to one).
pub(crate) type Conn = sqlx::AnyConnection;

/// The SQL dialect differences the store cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Row locks for read-modify-write in a transaction. SQLite needs none:
    /// its writes are serialized by [`Store`]'s one writer connection.
    fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// The storage handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Reads.
    pool: AnyPool,
    /// Write transactions: on SQLite a pool of one connection, so writers
    /// queue instead of meeting SQLITE_BUSY (holding it is the right to
    /// write, for the health-report writer thread too); on PostgreSQL the
    /// same pool as reads.
    writer: AnyPool,
    dialect: Dialect,
    /// On SQLite (a file), the thread that writes batches of health reports
    /// for known services.
    fast: Option<Arc<health::FastWriter>>,
    /// (organization, node, name) → service id. Ids never change once
    /// committed, so this is safe across replicas; entries are added only
    /// after the transaction that created them commits.
    service_ids: Arc<std::sync::RwLock<std::collections::HashMap<String, i64>>>,
    /// Every service's SLO subject, with the `services_version` it was read at.
    subjects: Arc<std::sync::RwLock<Option<SubjectCache>>>,
}

/// The SLO subjects and the `services_version` they were read at.
type SubjectCache = (String, Arc<Vec<slo::SloSubject>>);

/// Cache key of a service identity.
pub(crate) fn identity(org: &str, node: &str, name: &str) -> String {
    let mut k = String::with_capacity(org.len() + node.len() + name.len() + 2);
    k.push_str(org);
    k.push('\0');
    k.push_str(node);
    k.push('\0');
    k.push_str(name);
    k
}

/// The schema, one file per migration for both databases, applied in this
/// order. Where the two differ, a file says `{{name}}` and [`DIALECT`]
/// gives each database's words.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_slo.sql")),
    (3, include_str!("../migrations/0003_cumulative_openslo.sql")),
    (4, include_str!("../migrations/0004_checks.sql")),
    (5, include_str!("../migrations/0005_downtimes.sql")),
    (6, include_str!("../migrations/0006_maintenance.sql")),
    (7, include_str!("../migrations/0007_certificates.sql")),
    (8, include_str!("../migrations/0008_notifications.sql")),
    (9, include_str!("../migrations/0009_reports.sql")),
    (10, include_str!("../migrations/0010_inventory.sql")),
    (11, include_str!("../migrations/0011_status_page.sql")),
    (12, include_str!("../migrations/0012_ui_sessions.sql")),
    (13, include_str!("../migrations/0013_drop_services_stale.sql")),
    (14, include_str!("../migrations/0014_sources.sql")),
    (15, include_str!("../migrations/0015_agents.sql")),
    (16, include_str!("../migrations/0016_event_subjects.sql")),
    (17, include_str!("../migrations/0017_observability.sql")),
    (18, include_str!("../migrations/0018_audit.sql")),
    (19, include_str!("../migrations/0019_ui_documents.sql")),
    (20, include_str!("../migrations/0020_group_targets.sql")),
    (21, include_str!("../migrations/0021_status_pages.sql")),
    (22, include_str!("../migrations/0022_oidc_sessions.sql")),
];

/// What each placeholder of a migration says on (SQLite, PostgreSQL).
const DIALECT: &[(&str, &str, &str)] = &[(
    "{{id_primary_key}}",
    "INTEGER PRIMARY KEY AUTOINCREMENT",
    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
)];

/// A migration in the words of `dialect`.
fn migration_sql(sql: &str, dialect: Dialect) -> String {
    DIALECT.iter().fold(sql.to_string(), |sql, (name, sqlite, postgres)| {
        sql.replace(
            name,
            match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            },
        )
    })
}

/// Where a database URL points, for messages: the SQLite file, or
/// PostgreSQL's host and port (never the password).
fn database_place(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return format!("SQLite database {}", sqlite_file(url).unwrap_or_else(|| url.to_string()));
    }
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = host.split(['/', '?']).next().unwrap_or(host);
    let host = if host.is_empty() {
        "localhost:5432".to_string()
    } else if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    format!("PostgreSQL at {host}")
}

/// A start-up message for a failed [`Store::connect`]: what was tried, what
/// went wrong in plain words, and what to do.
pub fn describe_connect_error(url: &str, e: &Error) -> String {
    let place = database_place(url);
    let cause = match e {
        Error::Db(sqlx::Error::Io(io)) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                "the connection was refused: is the server running and listening there?".to_string()
            }
            _ => format!("{io}"),
        },
        Error::Db(sqlx::Error::PoolTimedOut) => {
            "no answer within 10 s: is the address right, and the port open?".to_string()
        }
        Error::Db(sqlx::Error::Database(d)) => d.message().to_string(),
        Error::Db(sqlx::Error::Configuration(c)) => format!("the URL is not valid: {c}"),
        Error::Invalid { message, .. } => return message.clone(),
        other => other.to_string(),
    };
    format!("cannot open the {place}: {cause}")
}

impl Store {
    /// Connect to `url` (`sqlite://PATH` or `postgres://…`) and run pending
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(Error::BadUrl(url.to_string()));
        };
        let (pool, writer) = match dialect {
            Dialect::Sqlite => {
                if let Some(path) = sqlite_file(url)
                    && let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty())
                    && !dir.is_dir()
                {
                    return Err(Error::Invalid {
                        field: "database".into(),
                        message: format!(
                            "the directory {} of the SQLite database {path} does not exist; create it, or use --data-dir",
                            dir.display()
                        ),
                    });
                }
                let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
                // SQLite takes one writer at a time: every write goes
                // through a pool of one connection, which queues the writers
                // (none meets SQLITE_BUSY). The health-report writer thread
                // writes on a connection of its own, but only while its
                // caller holds this pool's connection: it is the write
                // token. Readers have their own pool; in WAL mode they never
                // block the writer.
                let writer = sqlite_pool(1, 8 * 1024).connect(&url).await?;
                let readers = sqlite_pool(4, 4 * 1024).connect(&url).await?;
                (readers, writer)
            }
            Dialect::Postgres => {
                // one connection first: the pool would report only that it
                // timed out, not why (refused, unknown host, password)
                let first = tokio::time::timeout(
                    Duration::from_secs(10),
                    <sqlx::AnyConnection as sqlx::Connection>::connect(url),
                )
                .await;
                match first {
                    Ok(Ok(c)) => {
                        let _ = sqlx::Connection::close(c).await;
                    }
                    Ok(Err(e)) => return Err(Error::Db(e)),
                    Err(_) => return Err(Error::Db(sqlx::Error::PoolTimedOut)),
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
        };
        let mut store = Store {
            pool,
            writer,
            dialect,
            fast: None,
            service_ids: Arc::new(std::sync::RwLock::new(std::collections::HashMap::new())),
            subjects: Arc::new(std::sync::RwLock::new(None)),
        };
        store.migrate().await?;
        if dialect == Dialect::Sqlite
            && let Some(path) = sqlite_file(url)
        {
            // opened after the migrations: the file exists by now. Without
            // it every batch takes the general path: slower, just as exact.
            match health::FastWriter::start(path, 16 * 1024).await {
                Ok(w) => store.fast = Some(Arc::new(w)),
                Err(e) => tracing::warn!(error = %e, "no SQLite writer thread; health reports take the slower path"),
            }
        }
        Ok(store)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        if self.dialect == Dialect::Postgres {
            // replicas starting together migrate one at a time
            sqlx::query("SELECT pg_advisory_xact_lock(7277489)").execute(&mut *tx).await?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let done: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        for (version, sql) in MIGRATIONS {
            if done.contains(version) {
                continue;
            }
            tracing::info!(version, "applying database migration");
            sqlx::raw_sql(sqlx::AssertSqlSafe(migration_sql(sql, self.dialect))).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Begin a write transaction (on SQLite, on the one writer connection).
    /// SQLite's takes the write lock at once (IMMEDIATE): a transaction that
    /// read first and asked for the lock at its first write would fail
    /// outright, not wait, had the health-report writer's own connection
    /// committed in between.
    async fn write_tx(&self) -> Result<WriteTx> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.writer.begin().await?,
        };
        Ok(WriteTx { tx })
    }

    /// Begin a read-only transaction on one snapshot: the statements of a
    /// read that spans tables (a downtime, its members and its log) see the
    /// same committed state, never half of a write that commits meanwhile.
    /// SQLite's deferred transaction holds its snapshot from the first read;
    /// PostgreSQL needs REPEATABLE READ for that.
    pub(crate) async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin().await?,
            Dialect::Postgres => self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
        })
    }

    pub(crate) fn cached_id(&self, key: &str) -> Option<i64> {
        self.service_ids.read().ok()?.get(key).copied()
    }

    pub(crate) fn remember_ids(&self, entries: impl IntoIterator<Item = (String, i64)>) {
        if let Ok(mut m) = self.service_ids.write() {
            if m.len() > 2_000_000 {
                m.clear();
            }
            m.extend(entries);
        }
    }

    /// Cheap liveness check for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Claim a one-time action (e.g. creating the first admin key). Returns
    /// true for exactly one caller, even across replicas.
    pub async fn claim_once(&self, key: &str, value: &str) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }
}

/// A value bound to a statement of a [`Script`].
pub(crate) enum Arg {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'static str),
    OptText(Option<String>),
}

/// Statements that run together: on SQLite in one round trip to the
/// connection's thread (one SQL text of several statements, one argument
/// list), on PostgreSQL one after the other (its protocol binds arguments to
/// one statement at a time). The writer runs them inside its transaction, so
/// either all of them land or none.
#[derive(Default)]
pub(crate) struct Script {
    statements: Vec<(String, Vec<Arg>)>,
}

impl Script {
    pub(crate) fn push(&mut self, sql: String, args: Vec<Arg>) {
        self.statements.push((sql, args));
    }

    pub(crate) async fn run(self, d: Dialect, conn: &mut Conn) -> Result<()> {
        fn bind<'q>(
            q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
            arg: Arg,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
            match arg {
                Arg::Int(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
            }
        }
        match d {
            Dialect::Sqlite if !self.statements.is_empty() => {
                let sql = self.statements.iter().map(|(sql, _)| sql.as_str()).collect::<Vec<_>>().join(";\n");
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for arg in self.statements.into_iter().flat_map(|(_, args)| args) {
                    q = bind(q, arg);
                }
                q.execute(&mut *conn).await?;
            }
            Dialect::Sqlite => {}
            Dialect::Postgres => {
                for (sql, args) in self.statements {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                    for arg in args {
                        q = bind(q, arg);
                    }
                    q.execute(&mut *conn).await?;
                }
            }
        }
        Ok(())
    }
}

/// Run a query and hand each row to `f` as it arrives. The driver's rows
/// are never all held at once: on large results (every service, a day of
/// transitions) they weigh many times what is kept of them.
pub(crate) async fn for_each_row<'c, E>(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    executor: E,
    mut f: impl FnMut(&sqlx::any::AnyRow),
) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    use futures_util::TryStreamExt;
    let mut rows = q.fetch(executor);
    while let Some(r) = rows.try_next().await? {
        f(&r);
    }
    Ok(())
}

/// On SQLite, the rows of a query that aggregates them into one row of JSON
/// (`json_group_array(json_array(…))`), decoded: a multi-row result crosses
/// from sqlx's connection thread row by row, each with its own hand-off;
/// one row crosses once.
pub(crate) async fn fetch_json_rows<'c, T, E>(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    executor: E,
) -> Result<Vec<T>>
where
    T: serde::de::DeserializeOwned,
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let json: String = q.fetch_one(executor).await?.get(0);
    serde_json::from_str(&json).map_err(|e| Error::Db(sqlx::Error::Decode(Box::new(e))))
}

/// [`for_each_row`], collecting what `f` makes of each row.
pub(crate) async fn fetch_map<'c, T, E>(
    q: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    executor: E,
    mut f: impl FnMut(&sqlx::any::AnyRow) -> T,
) -> Result<Vec<T>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let mut out = Vec::new();
    for_each_row(q, executor, |r| out.push(f(r))).await?;
    Ok(out)
}

struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

/// Options of a pool of SQLite connections, each with `cache_kib` of page cache.
fn sqlite_pool(connections: u32, cache_kib: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .min_connections(1)
        // a local file: an acquired connection needs no round trip to prove it is alive
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite_pragmas(cache_kib))).execute(conn).await?;
                Ok(())
            })
        })
}

/// The settings of every SQLite connection, with `cache_kib` of page cache.
/// WAL: readers never block the writer. NORMAL sync in WAL mode loses
/// nothing on a process crash (kill -9); only a power cut can drop the last
/// commits.
pub(crate) fn sqlite_pragmas(cache_kib: u32) -> String {
    format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;
         PRAGMA foreign_keys=ON; PRAGMA cache_size=-{cache_kib};"
    )
}

/// The file of a `sqlite:` URL, as sqlx reads it; None for an in-memory or
/// read-only database, which a second connection cannot write to.
fn sqlite_file(url: &str) -> Option<String> {
    use std::str::FromStr;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename().to_str()?.to_string();
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let special = path.is_empty() || path.starts_with("file:") || path == ":memory:";
    (!special && !query.contains("mode=memory") && !query.contains("mode=ro")).then_some(path)
}

/// Wall-clock milliseconds, only for bookkeeping columns (migration time).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Dialect {
    /// The placeholder for the `n`th (1-based) parameter of a statement
    /// whose parameters are all bound in order. SQLite gets anonymous `?`:
    /// resolving named ones costs it time linear in their count, per
    /// parameter, which is quadratic in a multi-row insert.
    fn ph(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${n}"),
        }
    }
}

/// `$a, $b, …` for `n` placeholders starting at `start` (bound in order).
pub(crate) fn placeholders(d: Dialect, start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 4);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&d.ph(start + i));
    }
    s
}

/// `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `cols` columns.
fn value_rows(d: Dialect, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        s.push_str(&placeholders(d, 1 + r * cols, cols));
        s.push(')');
    }
    s
}

fn opt_str(row: &AnyRow, col: &str) -> Option<String> {
    row.try_get::<Option<String>, _>(col).ok().flatten()
}

fn opt_i64(row: &AnyRow, col: &str) -> Option<i64> {
    row.try_get::<Option<i64>, _>(col).ok().flatten()
}

fn opt_f64(row: &AnyRow, col: &str) -> Option<f64> {
    match row.try_get::<Option<f64>, _>(col) {
        Ok(v) => v,
        // SQLite hands back whole numbers stored in REAL columns as integers
        Err(_) => opt_i64(row, col).map(|v| v as f64),
    }
}

/// An optional double bound to a query on either backend. sqlx 0.9's Any
/// driver sends a NULL `Option<f64>` to PostgreSQL as a `real` and a value
/// as a `double precision`: a cached prepared statement first run with the
/// NULL then fails on a value ("incorrect binary data format in bind
/// parameter"). Every nullable double goes through this, which sends the
/// NULL as a `double precision` too; the scenario suite binds NULL then a
/// value on every such write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptF64(pub Option<f64>);

impl sqlx::Type<sqlx::Any> for OptF64 {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Any> for OptF64 {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(v) => <f64 as sqlx::Encode<'_, sqlx::Any>>::encode_by_ref(&v, buf),
            // the Any driver sends a NULL `f32` to PostgreSQL as a NULL
            // `double precision` (and a NULL `f64` as a `real`)
            None => <Option<f32> as sqlx::Encode<'_, sqlx::Any>>::encode_by_ref(&None, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_is_listed_in_order_and_speaks_both_dialects() {
        let versions: Vec<i64> = super::MIGRATIONS.iter().map(|m| m.0).collect();
        // 1, 2, 3, … with no gap: a migration is applied in this order
        assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let files = std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count();
        assert_eq!(files, versions.len(), "every migration file is listed");
        for (version, sql) in super::MIGRATIONS {
            for dialect in [super::Dialect::Sqlite, super::Dialect::Postgres] {
                let out = super::migration_sql(sql, dialect);
                assert!(!out.contains("{{"), "migration {version} has a placeholder {dialect:?} does not know");
            }
        }
        let sqlite = super::migration_sql("id {{id_primary_key}},", super::Dialect::Sqlite);
        let postgres = super::migration_sql("id {{id_primary_key}},", super::Dialect::Postgres);
        assert_eq!(sqlite, "id INTEGER PRIMARY KEY AUTOINCREMENT,");
        assert_eq!(postgres, "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,");
    }

    #[test]
    fn only_sqlite_files_get_a_second_connection() {
        use super::sqlite_file;
        assert_eq!(sqlite_file("sqlite:///var/lib/nines/nines.db").as_deref(), Some("/var/lib/nines/nines.db"));
        assert_eq!(sqlite_file("sqlite://data/n%23s.db?mode=rwc").as_deref(), Some("data/n#s.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=ro"), None);
    }

    #[test]
    fn value_rows_numbers_placeholders() {
        use super::Dialect::*;
        assert_eq!(super::value_rows(Postgres, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(Postgres, 3, 2), "$3, $4");
        assert_eq!(super::value_rows(Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
