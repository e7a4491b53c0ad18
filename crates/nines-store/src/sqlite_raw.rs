//! One SQLite connection used on the thread that opened it.
//!
//! sqlx runs each SQLite connection on a thread of its own and talks to it
//! over a channel: every statement, and every row of a result, is a hand-off
//! between threads. The health-report writer ([`crate::health`]) runs a whole
//! batch — read the live states, insert the rows, update the states, commit —
//! as plain calls on its own thread through this connection instead, with
//! statements prepared once and kept.
//!
//! Only what that writer needs is here: open, run a script, prepared
//! statements with integer, text and NULL parameters, and reading integer and
//! text columns. The connection is not `Send` (it holds raw pointers): it is
//! opened, used and closed on one thread.

use libsqlite3_sys as ffi;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;

/// A parameter value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Int(i64),
    Text(&'a str),
    Null,
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

pub(crate) struct Connection {
    db: *mut ffi::sqlite3,
    /// Prepared statements by their SQL text, finalized when the connection closes.
    prepared: HashMap<&'static str, *mut ffi::sqlite3_stmt>,
}

/// A SQLite error: its message and result code.
#[derive(Debug)]
pub(crate) struct SqliteError {
    pub code: c_int,
    pub message: String,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLite code {})", self.message, self.code)
    }
}

pub(crate) type Result<T> = std::result::Result<T, SqliteError>;

impl Connection {
    /// Open the existing database at `path` for reading and writing (never
    /// creating it).
    pub(crate) fn open(path: &str) -> Result<Connection> {
        let c_path = CString::new(path)
            .map_err(|_| SqliteError { code: ffi::SQLITE_MISUSE, message: "path holds a NUL byte".into() })?;
        let mut db = ptr::null_mut();
        // NOMUTEX: this connection never leaves its thread
        let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_NOMUTEX;
        // SAFETY: c_path is a valid C string; db receives the handle, which
        // sqlite3_open_v2 sets even on failure (closed by Drop below).
        let rc = unsafe { ffi::sqlite3_open_v2(c_path.as_ptr(), &mut db, flags, ptr::null()) };
        let conn = Connection { db, prepared: HashMap::new() };
        if rc != ffi::SQLITE_OK {
            return Err(conn.error(rc));
        }
        Ok(conn)
    }

    fn error(&self, code: c_int) -> SqliteError {
        let message = if self.db.is_null() {
            "out of memory".to_string()
        } else {
            // SAFETY: db is a live handle; errmsg returns a string it owns,
            // valid until the next call on this connection, copied here.
            unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }.to_string_lossy().into_owned()
        };
        SqliteError { code, message }
    }

    /// Run statements without parameters or results (pragmas, BEGIN, COMMIT).
    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<()> {
        let c_sql = CString::new(sql)
            .map_err(|_| SqliteError { code: ffi::SQLITE_MISUSE, message: "SQL holds a NUL byte".into() })?;
        // SAFETY: db is live, c_sql a valid C string; no callback, no error buffer.
        let rc = unsafe { ffi::sqlite3_exec(self.db, c_sql.as_ptr(), None, ptr::null_mut(), ptr::null_mut()) };
        if rc != ffi::SQLITE_OK {
            return Err(self.error(rc));
        }
        Ok(())
    }

    /// Is a transaction open?
    pub(crate) fn in_transaction(&self) -> bool {
        // SAFETY: db is live.
        unsafe { ffi::sqlite3_get_autocommit(self.db) == 0 }
    }

    /// The statement for `sql`, prepared the first time and kept.
    pub(crate) fn statement(&mut self, sql: &'static str) -> Result<Statement<'_>> {
        let stmt = match self.prepared.get(sql) {
            Some(&s) => s,
            None => {
                let Ok(len) = c_int::try_from(sql.len()) else {
                    return Err(SqliteError { code: ffi::SQLITE_TOOBIG, message: "statement too long".into() });
                };
                let mut stmt = ptr::null_mut();
                // SAFETY: db is live; sql is valid for its given length (no
                // NUL needed when the length is passed); stmt receives the
                // prepared statement or NULL.
                let rc = unsafe {
                    ffi::sqlite3_prepare_v3(
                        self.db,
                        sql.as_ptr() as *const c_char,
                        len,
                        ffi::SQLITE_PREPARE_PERSISTENT,
                        &mut stmt,
                        ptr::null_mut(),
                    )
                };
                if rc != ffi::SQLITE_OK {
                    return Err(self.error(rc));
                }
                if stmt.is_null() {
                    return Err(SqliteError { code: ffi::SQLITE_MISUSE, message: format!("no statement in {sql:?}") });
                }
                self.prepared.insert(sql, stmt);
                stmt
            }
        };
        Ok(Statement { conn: self, stmt })
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: every statement was prepared on db and is finalized once,
        // before the close, which then succeeds; closing NULL is a no-op.
        unsafe {
            for (_, stmt) in self.prepared.drain() {
                ffi::sqlite3_finalize(stmt);
            }
            ffi::sqlite3_close(self.db);
        }
    }
}

/// A prepared statement in use. Dropping it resets it, ending its read if it
/// was stepped part-way ([`Statement::bind`] clears the parameters of the
/// next use).
pub(crate) struct Statement<'c> {
    /// Borrowed from `Connection::statement(&mut self)`: while a statement
    /// is in use, nothing else runs on the connection and nothing finalizes it.
    conn: &'c Connection,
    stmt: *mut ffi::sqlite3_stmt,
}

impl Statement<'_> {
    /// Start the statement over with `values` bound to parameters 1, 2, ….
    pub(crate) fn bind(&mut self, values: &[Value<'_>]) -> Result<()> {
        // SAFETY: stmt is live; parameters can be bound only to a statement
        // that is reset (its last step's error, if any, was returned then);
        // cleared, no parameter keeps a value from the last use
        unsafe {
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
        }
        for (i, v) in values.iter().enumerate() {
            let n = i as c_int + 1;
            // SAFETY: stmt is live; text is copied by SQLite (TRANSIENT)
            // before bind_text returns, so the borrow need not outlive it.
            let rc = unsafe {
                match *v {
                    Value::Int(x) => ffi::sqlite3_bind_int64(self.stmt, n, x),
                    Value::Null => ffi::sqlite3_bind_null(self.stmt, n),
                    // the 64-bit length: no length can turn negative
                    // (which would make SQLite read up to a NUL)
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        self.stmt,
                        n,
                        s.as_ptr() as *const c_char,
                        s.len() as u64,
                        ffi::SQLITE_TRANSIENT(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(self.conn.error(rc));
            }
        }
        Ok(())
    }

    /// Step once: true when a row is ready to read, false when done.
    pub(crate) fn step(&mut self) -> Result<bool> {
        // SAFETY: stmt is live.
        match unsafe { ffi::sqlite3_step(self.stmt) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(self.conn.error(rc)),
        }
    }

    /// Bind `values` and run to the end (an INSERT or UPDATE).
    pub(crate) fn execute(&mut self, values: &[Value<'_>]) -> Result<()> {
        self.bind(values)?;
        while self.step()? {}
        Ok(())
    }

    fn is_null(&self, col: c_int) -> bool {
        // SAFETY: stmt is live and on a row (callers read only after step() == true).
        unsafe { ffi::sqlite3_column_type(self.stmt, col) == ffi::SQLITE_NULL }
    }

    /// Integer column `col` (0-based) of the current row; NULL reads as None.
    pub(crate) fn opt_int(&self, col: c_int) -> Option<i64> {
        // SAFETY: as in is_null.
        (!self.is_null(col)).then(|| unsafe { ffi::sqlite3_column_int64(self.stmt, col) })
    }

    /// Integer column `col` of the current row; NULL reads as 0.
    pub(crate) fn int(&self, col: c_int) -> i64 {
        self.opt_int(col).unwrap_or(0)
    }

    /// Text column `col` of the current row, None when NULL.
    pub(crate) fn opt_text(&self, col: c_int) -> Option<String> {
        (!self.is_null(col)).then(|| self.text(col))
    }

    /// Text column `col` of the current row; NULL reads as "".
    pub(crate) fn text(&self, col: c_int) -> String {
        // SAFETY: stmt is live and on a row. column_text returns a pointer
        // valid until the next step/reset, and column_bytes (called after
        // it, as SQLite asks) its length; the bytes are copied at once.
        unsafe {
            let p = ffi::sqlite3_column_text(self.stmt, col);
            if p.is_null() {
                return String::new();
            }
            let n = ffi::sqlite3_column_bytes(self.stmt, col) as usize;
            String::from_utf8_lossy(std::slice::from_raw_parts(p, n)).into_owned()
        }
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: stmt is live; reset never leaves it unusable (it repeats
        // the last step's error code, which was returned then).
        unsafe { ffi::sqlite3_reset(self.stmt) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> (crate::testing::ScratchDir, Connection) {
        let dir = crate::testing::ScratchDir::new("raw");
        let path = dir.0.join("t.db");
        assert!(Connection::open(path.to_str().unwrap()).is_err(), "open never creates a database");
        std::fs::File::create(&path).unwrap();
        let conn = Connection::open(path.to_str().unwrap()).unwrap();
        (dir, conn)
    }

    #[test]
    fn statements_bind_step_and_read_back_every_kind_of_value() {
        let (_dir, mut c) = scratch();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, n BIGINT, s TEXT)").unwrap();
        assert!(!c.in_transaction());
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert!(c.in_transaction());
        let ins = "INSERT INTO t (id, n, s) VALUES (?1, ?2, ?3)";
        c.statement(ins).unwrap().execute(&[Value::Int(1), Value::Int(-7), Value::Text("héllo")]).unwrap();
        c.statement(ins).unwrap().execute(&[Value::Int(2), Value::Null, Value::Null]).unwrap();
        c.statement(ins).unwrap().execute(&[Value::Int(3), Some(5).into(), Some("").into()]).unwrap();
        c.execute_batch("COMMIT").unwrap();
        assert_eq!(c.prepared.len(), 1, "one statement, prepared once");

        let mut rows = Vec::new();
        let mut q = c.statement("SELECT id, n, s FROM t WHERE id >= ?1 ORDER BY id").unwrap();
        q.bind(&[Value::Int(1)]).unwrap();
        while q.step().unwrap() {
            rows.push((q.int(0), q.opt_int(1), q.text(2)));
        }
        // a statement stopped on a row starts over with new parameters
        q.bind(&[Value::Int(3)]).unwrap();
        assert!(q.step().unwrap());
        assert_eq!(q.int(0), 3);
        q.bind(&[Value::Int(2)]).unwrap();
        assert!(q.step().unwrap());
        assert_eq!((q.int(0), q.opt_int(1)), (2, None));
        drop(q);
        assert_eq!(rows, [(1, Some(-7), "héllo".to_string()), (2, None, String::new()), (3, Some(5), String::new())]);
    }

    #[test]
    fn errors_carry_sqlites_message_and_code() {
        let (_dir, mut c) = scratch();
        c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
        let ins = "INSERT INTO t (id) VALUES (?1)";
        c.statement(ins).unwrap().execute(&[Value::Int(1)]).unwrap();
        let e = c.statement(ins).unwrap().execute(&[Value::Int(1)]).unwrap_err();
        assert_eq!(e.code & 0xff, ffi::SQLITE_CONSTRAINT, "{e}");
        assert!(e.message.contains("UNIQUE"), "{e}");
        // the statement is usable again after its error
        c.statement(ins).unwrap().execute(&[Value::Int(2)]).unwrap();
        let e = c.statement("SELECT nope FROM t").err().expect("a bad column fails to prepare");
        assert!(e.message.contains("nope"), "{e}");
    }
}
