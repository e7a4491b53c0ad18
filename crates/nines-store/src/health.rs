//! Health observations: the batched ingest path, late observations, and the
//! stale detector's tick. The timeline rules are `nines_core::timeline`'s;
//! this module only loads state, calls them and writes what they return.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::timeline::{self, Cause, LiveState, Observation, Origin, Sources, StaleRule, Transition};
use nines_core::wire::HealthAck;
use sqlx::Row;
use std::collections::HashMap;

use crate::Conn;
use crate::services::{NewService, ensure_service};
use crate::{Arg, Dialect, Error, Result, Script, Store, placeholders, value_rows};

/// One health report, validated and resolved to its organization and node.
#[derive(Debug, Clone)]
pub struct HealthOp {
    pub service: NewService,
    pub status: Status,
    pub message: Option<String>,
    /// Event time.
    pub at: Millis,
    pub received_at: Millis,
    pub cause: Cause,
}

struct Row0 {
    state: LiveState,
    stale_watch: bool,
    /// When the service is tracked from: its earliest observation's event
    /// time, or its registration when that came first.
    created_at: Millis,
}

pub(crate) fn parse_status(s: &str) -> Status {
    s.parse().unwrap_or(Status::Unknown)
}

/// The columns of a service's live state, in the order [`live_state`] and
/// the writes below take them.
const STATE_COLS: &str =
    "status, last_real_at, stale_stage, last_mark_at, push_at, push_status, checks_status, operator_status";

/// A service's live state from its row's columns ([`STATE_COLS`]).
#[allow(clippy::too_many_arguments)]
fn live_state(
    status: &str,
    last_real_at: Option<i64>,
    stale_stage: i64,
    last_mark_at: Option<i64>,
    push_at: Option<i64>,
    push: Option<&str>,
    checks: Option<&str>,
    operator: Option<&str>,
) -> LiveState {
    LiveState {
        status: parse_status(status),
        last_real_at,
        push_at,
        stale_stage: stale_stage.clamp(0, 2) as u8,
        last_mark_at,
        sources: Sources {
            push: push.map(parse_status),
            checks: checks.map(parse_status),
            operator: operator.map(parse_status),
        },
    }
}

fn opt_status(s: Option<Status>) -> Option<&'static str> {
    s.map(Status::as_str)
}

/// A transition with the words of its reason.
pub(crate) type Reasoned = (i64, Transition, Option<String>);

/// The reasons of a step's transitions: a stale mark's silence, or the
/// message of the observation the step was run for.
fn step_reasons<'a>(
    step: &'a timeline::Step,
    rule: &'a StaleRule,
    message: &'a Option<String>,
) -> impl Iterator<Item = Option<String>> + 'a {
    step.origins().map(move |m| match m {
        Some(mark) => Some(rule.reason(mark)),
        None => message.clone(),
    })
}

/// Observation rows waiting for a multi-row insert.
#[derive(Default)]
struct Pending {
    obs: Vec<(i64, Millis, Status, Cause, Option<String>, Millis)>,
    transitions: Vec<Reasoned>,
}

impl Pending {
    /// Add the inserts of what is pending to `script`, and forget it.
    fn write_into(&mut self, d: Dialect, script: &mut Script) {
        // 6 columns a row; stay well inside every backend's parameter limit
        for chunk in self.obs.chunks(1000) {
            let sql = format!(
                "INSERT INTO observations (service_id, at, status, cause, message, received_at) VALUES {}",
                value_rows(d, chunk.len(), 6)
            );
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for (id, at, st, cause, msg, rec) in chunk {
                args.extend([
                    Arg::Int(*id),
                    Arg::Int(*at),
                    Arg::Text(st.as_str()),
                    Arg::Text(cause.as_str()),
                    Arg::OptText(msg.clone()),
                    Arg::Int(*rec),
                ]);
            }
            script.push(sql, args);
        }
        for chunk in self.transitions.chunks(1000) {
            let sql = format!(
                "INSERT INTO transitions (service_id, at, from_status, to_status, cause, reason) VALUES {}",
                value_rows(d, chunk.len(), 6)
            );
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for (id, t, reason) in chunk {
                args.extend([
                    Arg::Int(*id),
                    Arg::Int(t.at),
                    Arg::Text(t.from.as_str()),
                    Arg::Text(t.to.as_str()),
                    Arg::Text(t.cause.as_str()),
                    Arg::OptText(reason.clone()),
                ]);
            }
            script.push(sql, args);
        }
        self.obs.clear();
        self.transitions.clear();
    }

    async fn flush(&mut self, d: Dialect, conn: &mut Conn) -> Result<()> {
        let mut script = Script::default();
        self.write_into(d, &mut script);
        script.run(d, conn).await
    }
}

/// The live state of `ids`. On SQLite the rows come back as one row of JSON
/// ([`crate::fetch_json_rows`]); PostgreSQL reads plain rows (with
/// `for_update` row locks).
async fn load_states(d: Dialect, conn: &mut Conn, ids: &[i64], for_update: &str) -> Result<HashMap<i64, Row0>> {
    type Cols = (
        i64,
        i64,
        i64,
        String,
        Option<i64>,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let cols = format!("id, stale_watch, created_at, {STATE_COLS}");
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        let list = placeholders(d, 1, chunk.len());
        let sql = match d {
            Dialect::Sqlite => {
                format!("SELECT json_group_array(json_array({cols})) FROM services WHERE id IN ({list})")
            }
            Dialect::Postgres => format!("SELECT {cols} FROM services WHERE id IN ({list}) ORDER BY id{for_update}"),
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for id in chunk {
            q = q.bind(*id);
        }
        let rows: Vec<Cols> = match d {
            Dialect::Sqlite => crate::fetch_json_rows(q, &mut *conn).await?,
            Dialect::Postgres => q
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| {
                    let c = |i| r.get::<Option<String>, _>(i);
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), c(8), c(9), c(10))
                })
                .collect(),
        };
        for (id, watch, created_at, status, real_at, stage, mark_at, push_at, push, checks, operator) in rows {
            let state = live_state(
                &status,
                real_at,
                stage,
                mark_at,
                push_at,
                push.as_deref(),
                checks.as_deref(),
                operator.as_deref(),
            );
            out.insert(id, Row0 { state, stale_watch: watch != 0, created_at });
        }
    }
    Ok(out)
}

/// Add the update of many services' live state to `script`, one statement
/// per 500 services.
fn save_states(d: Dialect, script: &mut Script, rows: &[(i64, LiveState, bool, Option<String>, Millis)]) {
    for chunk in rows.chunks(500) {
        let mut values = String::new();
        for i in 0..chunk.len() {
            let b = i * 12;
            if i > 0 {
                values.push_str(", ");
            }
            match d {
                // the columns' affinity types the values
                Dialect::Sqlite => values.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                // PostgreSQL types a VALUES list from its first row: say it
                Dialect::Postgres => {
                    let p = |k: usize| d.ph(b + k);
                    values.push_str(&format!(
                        "(CAST({} AS BIGINT), CAST({} AS TEXT), CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS TEXT), CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS BIGINT), CAST({} AS TEXT), CAST({} AS TEXT), CAST({} AS TEXT))",
                        p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(12)
                    ));
                }
            }
        }
        let sql = format!(
            "UPDATE services SET status = v.column2, last_real_at = v.column3, stale_stage = v.column4,
                stale_watch = v.column5, message = v.column6, last_seen_at = v.column7, updated_at = v.column7,
                last_mark_at = v.column8, push_at = v.column9, push_status = v.column10,
                checks_status = v.column11, operator_status = v.column12
             FROM (VALUES {values}) AS v WHERE services.id = v.column1"
        );
        let mut args = Vec::with_capacity(chunk.len() * 12);
        for (id, st, watch, msg, seen) in chunk {
            args.extend([
                Arg::Int(*id),
                Arg::Text(st.status.as_str()),
                Arg::OptInt(st.last_real_at),
                Arg::Int(st.stale_stage as i64),
                Arg::Int(*watch as i64),
                Arg::OptText(msg.clone()),
                Arg::Int(*seen),
                Arg::OptInt(st.last_mark_at),
                Arg::OptInt(st.push_at),
                Arg::OptText(opt_status(st.sources.push).map(str::to_string)),
                Arg::OptText(opt_status(st.sources.checks).map(str::to_string)),
                Arg::OptText(opt_status(st.sources.operator).map(str::to_string)),
            ]);
        }
        script.push(sql, args);
    }
}

/// Does a service get stale detection? Every service whose health is
/// pushed: silence touches its push source only, and a stale push source
/// stops counting once checks or the operator speak for the service
/// ([`timeline::combine`]). Probe results and the operator's sync have
/// liveness of their own.
fn watched(cause: Cause) -> bool {
    cause == Cause::Report
}

/// What a batch of reports does to the services it names: the rows to
/// insert, the live states to write, and which reports came late.
struct Plan {
    pending: Pending,
    /// Index (into the ops) of each report older than its service's live state.
    late: Vec<usize>,
    /// The newest message and receive time of each service with an in-order report.
    last_msg: HashMap<i64, (Option<String>, Millis)>,
    /// Services tracked from earlier than their row said: a report (an
    /// agent's buffer, a back-fill) older than the registration.
    earlier: HashMap<i64, Millis>,
}

/// Run the timeline rules over a batch: `states` (loaded for every id in
/// `ids`) becomes the state after the batch.
fn plan(
    ops: &[HealthOp],
    ids: &[i64],
    states: &mut HashMap<i64, Row0>,
    rule: &StaleRule,
    floor: Millis,
) -> Result<Plan> {
    let mut plan =
        Plan { pending: Pending::default(), late: Vec::new(), last_msg: HashMap::new(), earlier: HashMap::new() };
    for (i, op) in ops.iter().enumerate() {
        let id = ids[i];
        let row = states.get_mut(&id).ok_or_else(|| Error::NotFound(format!("service {id}")))?;
        row.stale_watch |= watched(op.cause);
        if op.at < row.created_at {
            row.created_at = op.at;
            plan.earlier.insert(id, op.at);
        }
        if row.state.is_late(op.at) {
            plan.late.push(i);
            continue;
        }
        let r = if row.stale_watch { Some(rule) } else { None };
        let obs = Observation { at: op.at, status: op.status, cause: op.cause };
        let step = timeline::on_report(&mut row.state, obs, r, floor);
        for m in &step.marks {
            plan.pending.obs.push((id, m.at, m.status, m.cause, None, op.received_at));
        }
        plan.pending.obs.push((id, op.at, op.status, op.cause, op.message.clone(), op.received_at));
        let reasons = step_reasons(&step, rule, &op.message);
        plan.pending.transitions.extend(step.transitions.iter().zip(reasons).map(|(t, r)| (id, *t, r)));
        plan.last_msg.insert(id, (op.message.clone(), op.received_at));
    }
    for &i in &plan.late {
        let op = &ops[i];
        plan.pending.obs.push((ids[i], op.at, op.status, op.cause, op.message.clone(), op.received_at));
    }
    Ok(plan)
}

/// Each id of a batch once, in order (the order rows are locked in).
fn unique_ids(ids: &[i64]) -> Vec<i64> {
    let mut unique = ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    unique
}

fn acks(
    ops: &[HealthOp],
    ids: &[i64],
    created: &[bool],
    states: &HashMap<i64, Row0>,
    late: &[usize],
) -> Vec<HealthAck> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| HealthAck {
            id: ids[i],
            service: op.service.name.clone(),
            node_id: op.service.node_id.clone(),
            status: states.get(&ids[i]).map_or(op.status, |r| r.state.status),
            created: created[i],
            late: late.contains(&i),
        })
        .collect()
}

/// The thread that writes batches of known services on SQLite, through a
/// connection of its own ([`crate::sqlite_raw`]): the live states are read,
/// the timeline rules run, and the rows and states written and committed in
/// one go, without a hand-off between threads per statement. It writes only
/// while the task that sent the batch holds the writer pool's one
/// connection, the store's write token, so it never races the other writers
/// for SQLite's lock.
pub(crate) struct FastWriter {
    jobs: std::sync::mpsc::Sender<FastJob>,
    /// Set once the thread is found gone: batches then go straight to the
    /// general path (and it is said once, not per batch).
    stopped: std::sync::atomic::AtomicBool,
}

/// The acks of a batch written, None when the batch is not one for this path.
type FastReply = std::result::Result<Option<Vec<HealthAck>>, crate::sqlite_raw::SqliteError>;

struct FastJob {
    ops: std::sync::Arc<Vec<HealthOp>>,
    ids: Vec<i64>,
    rule: StaleRule,
    floor: Millis,
    reply: tokio::sync::oneshot::Sender<FastReply>,
}

/// The write token lent to a batch on the writer thread, and the thread's
/// answer. Should the caller stop waiting (its future dropped mid-batch), the
/// token stays held until the thread has answered, so no other write starts
/// while the batch still runs.
struct InFlight {
    token: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    answer: Option<tokio::sync::oneshot::Receiver<FastReply>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let (Some(token), Some(answer)) = (self.token.take(), self.answer.take())
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = answer.await;
                drop(token);
            });
        }
    }
}

const SELECT_STATE: &str = "SELECT stale_watch, status, last_real_at, stale_stage, last_mark_at, push_at,
    push_status, checks_status, operator_status, created_at FROM services WHERE id = ?1";
const LOWER_CREATED: &str = "UPDATE services SET created_at = ?2 WHERE id = ?1 AND created_at > ?2";
const INSERT_OBSERVATION: &str =
    "INSERT INTO observations (service_id, at, status, cause, message, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const INSERT_TRANSITION: &str =
    "INSERT INTO transitions (service_id, at, from_status, to_status, cause, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const UPDATE_STATE: &str = "UPDATE services SET status = ?2, last_real_at = ?3, stale_stage = ?4, stale_watch = ?5,
    message = ?6, last_seen_at = ?7, updated_at = ?7, last_mark_at = ?8, push_at = ?9, push_status = ?10,
    checks_status = ?11, operator_status = ?12 WHERE id = ?1";

impl FastWriter {
    /// Open the database at `path` on a new thread and wait until it is open.
    pub(crate) async fn start(path: String, cache_kib: u32) -> Result<FastWriter> {
        let (jobs, rx) = std::sync::mpsc::channel::<FastJob>();
        let (opened, ready) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("nines-sqlite-writer".into())
            .spawn(move || {
                let conn = crate::sqlite_raw::Connection::open(&path).and_then(|mut c| {
                    c.execute_batch(&crate::sqlite_pragmas(cache_kib))?;
                    Ok(c)
                });
                let mut conn = match conn {
                    Ok(c) => {
                        let _ = opened.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                        return;
                    }
                };
                // until every Store clone (and so every sender) is gone
                while let Ok(job) = rx.recv() {
                    // a fault in one batch fails that batch, not the thread
                    let run = std::panic::AssertUnwindSafe(|| write_known_batch(&mut conn, &job));
                    let out = std::panic::catch_unwind(run).unwrap_or_else(|_| {
                        Err(crate::sqlite_raw::SqliteError {
                            code: libsqlite3_sys::SQLITE_INTERNAL,
                            message: "the writer thread failed on this batch".into(),
                        })
                    });
                    // nothing written (None), or an error on the way: end the
                    // transaction before answering, while the caller still
                    // holds the write token
                    let stuck =
                        conn.in_transaction() && conn.execute_batch("ROLLBACK").is_err() && conn.in_transaction();
                    let _ = job.reply.send(out);
                    if stuck {
                        // closing the connection is what releases its lock now;
                        // later batches take the general path
                        tracing::error!("the SQLite writer thread could not roll back; it closes its connection");
                        break;
                    }
                }
            })
            .map_err(|e| Error::Sqlite(format!("starting the writer thread: {e}")))?;
        match ready.await {
            Ok(Ok(())) => Ok(FastWriter { jobs, stopped: Default::default() }),
            Ok(Err(e)) => Err(Error::Sqlite(e.to_string())),
            Err(_) => Err(Error::Sqlite("the writer thread stopped while opening the database".into())),
        }
    }
}

/// One batch on the writer thread, in one transaction: None (having written
/// nothing) when a service is gone or a report is late — the general path
/// takes such batches. A transaction it leaves open (None, or an error) is
/// rolled back by the thread's loop.
fn write_known_batch(conn: &mut crate::sqlite_raw::Connection, job: &FastJob) -> FastReply {
    use crate::sqlite_raw::Value::{Int, Text};
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let unique = unique_ids(&job.ids);
    let mut states = HashMap::with_capacity(unique.len());
    {
        let mut q = conn.statement(SELECT_STATE)?;
        for id in unique {
            q.bind(&[Int(id)])?;
            if !q.step()? {
                return Ok(None);
            }
            let (push, checks, operator) = (q.opt_text(6), q.opt_text(7), q.opt_text(8));
            let state = live_state(
                &q.text(1),
                q.opt_int(2),
                q.int(3),
                q.opt_int(4),
                q.opt_int(5),
                push.as_deref(),
                checks.as_deref(),
                operator.as_deref(),
            );
            states.insert(id, Row0 { state, stale_watch: q.int(0) != 0, created_at: q.int(9) });
        }
    }
    let Ok(plan) = plan(&job.ops, &job.ids, &mut states, &job.rule, job.floor) else {
        return Ok(None);
    };
    if !plan.late.is_empty() {
        return Ok(None);
    }
    {
        let mut q = conn.statement(INSERT_OBSERVATION)?;
        for (id, at, st, cause, msg, rec) in &plan.pending.obs {
            let msg = msg.as_deref().into();
            q.execute(&[Int(*id), Int(*at), Text(st.as_str()), Text(cause.as_str()), msg, Int(*rec)])?;
        }
    }
    {
        let mut q = conn.statement(INSERT_TRANSITION)?;
        for (id, t, reason) in &plan.pending.transitions {
            let reason = reason.as_deref().into();
            q.execute(&[
                Int(*id),
                Int(t.at),
                Text(t.from.as_str()),
                Text(t.to.as_str()),
                Text(t.cause.as_str()),
                reason,
            ])?;
        }
    }
    {
        let mut q = conn.statement(UPDATE_STATE)?;
        for (id, (msg, seen)) in &plan.last_msg {
            let row = &states[id];
            let st = &row.state;
            q.execute(&[
                Int(*id),
                Text(st.status.as_str()),
                st.last_real_at.into(),
                Int(st.stale_stage as i64),
                Int(row.stale_watch as i64),
                msg.as_deref().into(),
                Int(*seen),
                st.last_mark_at.into(),
                st.push_at.into(),
                opt_status(st.sources.push).into(),
                opt_status(st.sources.checks).into(),
                opt_status(st.sources.operator).into(),
            ])?;
        }
    }
    if !plan.earlier.is_empty() {
        let mut q = conn.statement(LOWER_CREATED)?;
        for (id, at) in &plan.earlier {
            q.execute(&[Int(*id), Int(*at)])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(Some(acks(&job.ops, &job.ids, &vec![false; job.ops.len()], &states, &[])))
}

impl Store {
    /// Ingest a batch of health reports in one transaction. Returns one ack
    /// per op, in order. `floor` is when nines began listening (silence
    /// before it is not counted).
    pub async fn ingest_health(&self, ops: &[HealthOp], rule: &StaleRule, floor: Millis) -> Result<Vec<HealthAck>> {
        match &self.fast {
            Some(_) => self.ingest_health_shared(std::sync::Arc::new(ops.to_vec()), rule, floor).await,
            None => self.ingest_in_transaction(ops, rule, floor).await,
        }
    }

    /// [`Store::ingest_health`] of a batch the caller gives up: on SQLite
    /// the writer thread reads it where it is, without a copy.
    pub async fn ingest_health_shared(
        &self,
        ops: std::sync::Arc<Vec<HealthOp>>,
        rule: &StaleRule,
        floor: Millis,
    ) -> Result<Vec<HealthAck>> {
        if let Some(fast) = &self.fast
            && !fast.stopped.load(std::sync::atomic::Ordering::Relaxed)
            && let Some(acks) = self.ingest_known_sqlite(fast, &ops, rule, floor).await?
        {
            return Ok(acks);
        }
        self.ingest_in_transaction(&ops, rule, floor).await
    }

    /// The common case on SQLite, on the writer thread ([`FastWriter`]):
    /// every service already known and no report late. Returns None (having
    /// written nothing) when the batch is not such a case.
    async fn ingest_known_sqlite(
        &self,
        fast: &FastWriter,
        ops: &std::sync::Arc<Vec<HealthOp>>,
        rule: &StaleRule,
        floor: Millis,
    ) -> Result<Option<Vec<HealthAck>>> {
        let mut ids = Vec::with_capacity(ops.len());
        for op in ops.iter() {
            let s = &op.service;
            match self.cached_id(&crate::identity(&s.organization, &s.node_id, &s.name)) {
                Some(id) => ids.push(id),
                None => return Ok(None),
            }
        }
        // the write token: no other write of this store runs until it is back
        let mut flight = InFlight { token: Some(self.writer.acquire().await?), answer: None };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || {
            // should the thread ever be gone, the general path still writes
            if !fast.stopped.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::error!("the SQLite writer thread has stopped; health reports take the slower path");
            }
            Ok(None)
        };
        if fast.jobs.send(FastJob { ops: ops.clone(), ids, rule: *rule, floor, reply }).is_err() {
            return gone();
        }
        let answered = flight.answer.insert(answer).await;
        flight.answer = None;
        let acks = match answered {
            Ok(Ok(acks)) => acks,
            Ok(Err(e)) => return Err(Error::Sqlite(e.to_string())),
            Err(_) => return gone(),
        };
        // back to the pool now, not from a task spawned by its drop: the
        // next batch is already waiting for it
        if let Some(mut token) = flight.token.take() {
            token.return_to_pool().await;
        }
        Ok(acks)
    }

    async fn ingest_in_transaction(&self, ops: &[HealthOp], rule: &StaleRule, floor: Millis) -> Result<Vec<HealthAck>> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let mut ids = Vec::with_capacity(ops.len());
        let mut created = Vec::with_capacity(ops.len());
        let mut learned = Vec::new();
        for op in ops {
            let s = &op.service;
            let key = crate::identity(&s.organization, &s.node_id, &s.name);
            if let Some(id) = self.cached_id(&key) {
                ids.push(id);
                created.push(false);
                continue;
            }
            let (id, c) = ensure_service(conn, s, op.received_at).await?;
            ids.push(id);
            created.push(c);
            learned.push((key, id));
        }
        let unique = unique_ids(&ids);
        let mut states = load_states(self.dialect, conn, &unique, self.dialect.for_update()).await?;
        let Plan { mut pending, late, last_msg, earlier } = plan(ops, &ids, &mut states, rule, floor)?;
        let mut rows = Vec::with_capacity(states.len());
        for (id, row) in &states {
            let (msg, seen) = match last_msg.get(id) {
                Some(m) => m.clone(),
                None => match late.iter().rev().find(|&&i| ids[i] == *id) {
                    // only late reports: keep the newest message, but note we heard from it
                    Some(&i) => (None, ops[i].received_at),
                    None => continue,
                },
            };
            rows.push((*id, row.state, row.stale_watch, msg, seen));
        }
        // a late-only service keeps its message: write it without touching message
        let (late_only, normal): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| !last_msg.contains_key(&r.0));
        let mut script = Script::default();
        pending.write_into(self.dialect, &mut script);
        save_states(self.dialect, &mut script, &normal);
        script.run(self.dialect, conn).await?;
        for (id, at) in &earlier {
            sqlx::query("UPDATE services SET created_at = $2 WHERE id = $1 AND created_at > $2")
                .bind(*id)
                .bind(*at)
                .execute(&mut *conn)
                .await?;
        }
        for (id, _, watch, _, seen) in &late_only {
            sqlx::query("UPDATE services SET stale_watch = $2, last_seen_at = $3 WHERE id = $1")
                .bind(*id)
                .bind(*watch as i64)
                .bind(*seen)
                .execute(&mut *conn)
                .await?;
        }
        let mut rebuilt: HashMap<i64, Millis> = HashMap::new();
        for &i in &late {
            let id = ids[i];
            let from = rebuilt.get(&id).map_or(ops[i].at, |&f| f.min(ops[i].at));
            rebuilt.insert(id, from);
        }
        for (id, from) in rebuilt {
            let watch = states.get(&id).is_some_and(|r| r.stale_watch);
            let st = rebuild_from(
                self.dialect,
                conn,
                id,
                from,
                if watch { Some(rule) } else { None },
                ops[0].received_at,
                floor,
            )
            .await?;
            if let Some(r) = states.get_mut(&id) {
                r.state = st;
            }
        }
        w.tx.commit().await?;
        self.remember_ids(learned);
        Ok(acks(ops, &ids, &created, &states, &late))
    }

    /// One run of the stale detector at `now`: places the UNKNOWN and DOWN
    /// marks that silence has earned. Returns the transitions it wrote.
    pub async fn stale_tick(&self, rule: &StaleRule, now: Millis, floor: Millis) -> Result<Vec<(i64, Transition)>> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let sql = format!(
            "SELECT id FROM services WHERE stale_watch = 1 AND stale_stage < 2 AND push_at IS NOT NULL AND push_at <= $1 ORDER BY id{}",
            self.dialect.for_update()
        );
        let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now - rule.unknown_after_ms.min(rule.down_after_ms))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut states = load_states(self.dialect, conn, &ids, "").await?;
        let mut pending = Pending::default();
        let mut changed = Vec::new();
        let mut out = Vec::new();
        for id in ids {
            let Some(row) = states.get_mut(&id) else { continue };
            let before = row.state;
            let step = timeline::on_tick(&mut row.state, rule, now, floor);
            if row.state == before {
                continue;
            }
            for m in &step.marks {
                pending.obs.push((id, m.at, m.status, m.cause, None, now));
            }
            for (t, reason) in step.transitions.iter().zip(step_reasons(&step, rule, &None)) {
                pending.transitions.push((id, *t, reason));
                out.push((id, *t));
            }
            changed.push((id, row.state));
        }
        pending.flush(self.dialect, conn).await?;
        for (id, st) in changed {
            sqlx::query(
                "UPDATE services SET status = $2, stale_stage = $3, updated_at = $4, last_mark_at = $5, push_status = $6
                 WHERE id = $1",
            )
            .bind(id)
            .bind(st.status.as_str())
            .bind(st.stale_stage as i64)
            .bind(now)
            .bind(st.last_mark_at)
            .bind(opt_status(st.sources.push))
            .execute(&mut *conn)
            .await?;
        }
        w.tx.commit().await?;
        Ok(out)
    }
}

/// Recompute a service's timeline from `from` on after a late observation:
/// stale marks and transitions at or after `from` are replaced by what the
/// stored real observations say.
async fn rebuild_from(
    d: Dialect,
    conn: &mut Conn,
    id: i64,
    from: Millis,
    rule: Option<&StaleRule>,
    now: Millis,
    floor: Millis,
) -> Result<LiveState> {
    let prev = sqlx::query(
        "SELECT to_status FROM transitions WHERE service_id = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT 1",
    )
    .bind(id)
    .bind(from)
    .fetch_optional(&mut *conn)
    .await?
    .map_or(Status::Unknown, |r| parse_status(&r.get::<String, _>(0)));
    let start = timeline::state_from(prev, &state_before(conn, id, from).await?);
    let rows = sqlx::query(
        "SELECT at, status, cause, message FROM observations WHERE service_id = $1 AND at >= $2 AND cause <> 'stale' ORDER BY at, id",
    )
    .bind(id)
    .bind(from)
    .fetch_all(&mut *conn)
    .await?;
    let real: Vec<Observation> = rows.iter().map(observation).collect();
    let messages: Vec<Option<String>> = rows.iter().map(|r| r.get::<Option<String>, _>(3)).collect();
    let rebuilt = timeline::rebuild(start, &real, rule, now, floor);
    let reason = |o: &Origin| match o {
        Origin::Mark(m) => rule.map(|r| r.reason(*m)),
        Origin::Real(i) => messages.get(*i).cloned().flatten(),
    };
    sqlx::query("DELETE FROM observations WHERE service_id = $1 AND at >= $2 AND cause = 'stale'")
        .bind(id)
        .bind(from)
        .execute(&mut *conn)
        .await?;
    // Keep the stored transitions the rebuild agrees with (they keep their
    // ids, so consumers of the timeline do not see them twice); replace the rest.
    let old: Vec<(i64, Transition)> = sqlx::query(
        "SELECT id, at, from_status, to_status, cause FROM transitions WHERE service_id = $1 AND at >= $2 ORDER BY at, id",
    )
    .bind(id)
    .bind(from)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        (
            r.get::<i64, _>(0),
            Transition {
                at: r.get(1),
                from: parse_status(&r.get::<String, _>(2)),
                to: parse_status(&r.get::<String, _>(3)),
                cause: Cause::parse(&r.get::<String, _>(4)).unwrap_or(Cause::Report),
            },
        )
    })
    .collect();
    let same = old.iter().zip(&rebuilt.transitions).take_while(|((_, a), b)| a == *b).count();
    if let Some((first_diff, _)) = old.get(same) {
        sqlx::query(
            "DELETE FROM transitions WHERE service_id = $1 AND at >= $2 AND (at > $3 OR (at = $3 AND id >= $4))",
        )
        .bind(id)
        .bind(from)
        .bind(old[same].1.at)
        .bind(*first_diff)
        .execute(&mut *conn)
        .await?;
    }
    let mut pending = Pending::default();
    for m in &rebuilt.marks {
        pending.obs.push((id, m.at, m.status, m.cause, None, now));
    }
    pending
        .transitions
        .extend(rebuilt.transitions.iter().zip(&rebuilt.origins).skip(same).map(|(t, o)| (id, *t, reason(o))));
    pending.flush(d, conn).await?;
    let st = &rebuilt.state;
    sqlx::query(
        "UPDATE services SET status = $2, last_real_at = $3, stale_stage = $4, last_mark_at = $5, push_at = $6,
            push_status = $7, checks_status = $8, operator_status = $9 WHERE id = $1",
    )
    .bind(id)
    .bind(st.status.as_str())
    .bind(st.last_real_at)
    .bind(st.stale_stage as i64)
    .bind(st.last_mark_at)
    .bind(st.push_at)
    .bind(opt_status(st.sources.push))
    .bind(opt_status(st.sources.checks))
    .bind(opt_status(st.sources.operator))
    .execute(&mut *conn)
    .await?;
    // finished periods from `from` on no longer hold: the aggregator redoes them
    let prev_dirty = sqlx::query("SELECT from_at FROM period_dirty WHERE service_id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.get::<i64, _>(0));
    let from_at = prev_dirty.map_or(from, |p| p.min(from));
    sqlx::query(
        "INSERT INTO period_dirty (service_id, from_at) VALUES ($1, $2) ON CONFLICT (service_id) DO UPDATE SET from_at = excluded.from_at",
    )
    .bind(id)
    .bind(from_at)
    .execute(&mut *conn)
    .await?;
    Ok(rebuilt.state)
}

fn observation(r: &sqlx::any::AnyRow) -> Observation {
    Observation {
        at: r.get::<i64, _>(0),
        status: parse_status(&r.get::<String, _>(1)),
        cause: Cause::parse(&r.get::<String, _>(2)).unwrap_or(Cause::Report),
    }
}

/// What was stored of a service before `from` that its live state then
/// depends on, in time order: the latest push with the stale marks placed
/// after it, the latest check result and the latest operator sync.
async fn state_before(conn: &mut Conn, id: i64, from: Millis) -> Result<Vec<Observation>> {
    let latest = "SELECT at, status, cause FROM observations WHERE service_id = $1 AND at < $2 AND cause = $3
                  ORDER BY at DESC, id DESC LIMIT 1";
    let mut out = Vec::with_capacity(5);
    for cause in [Cause::Report, Cause::Probe, Cause::Operator] {
        let row = sqlx::query(latest).bind(id).bind(from).bind(cause.as_str()).fetch_optional(&mut *conn).await?;
        out.extend(row.as_ref().map(observation));
    }
    let push_at = out.iter().find(|o| o.cause == Cause::Report).map(|o| o.at);
    if let Some(p) = push_at {
        let marks = sqlx::query(
            "SELECT at, status, cause FROM observations WHERE service_id = $1 AND at > $2 AND at < $3
             AND cause = 'stale' ORDER BY at, id",
        )
        .bind(id)
        .bind(p)
        .bind(from)
        .fetch_all(&mut *conn)
        .await?;
        out.extend(marks.iter().map(observation));
    }
    // stable: at one instant the push comes before marks (none is ever placed at a push's instant)
    out.sort_by_key(|o| o.at);
    Ok(out)
}
