//! The database: SQLite behind a connection pool with SQLAlchemy's
//! `QueuePool` semantics, embedded migrations, and the queries of the app.
//!
//! Why a hand-written pool: the modelled app's memory depends on how many
//! connections stay open (`pool_size`) and how many more open under load and
//! are closed when returned (`max_overflow`); no Rust pool has exactly those
//! semantics. Connections are blocking (rusqlite): callers on the async
//! runtime go through `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

/// Pool of SQLite connections: `pool_size` kept, up to `pool_size +
/// max_overflow` open at peak, extras closed when returned.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    path: PathBuf,
    pool_size: usize,
    max_open: usize,
    timeout: Duration,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    open: usize,
    peak_open: usize,
}

/// Counters of the pool, for `/metrics`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PoolStatus {
    pub open: usize,
    pub idle: usize,
    pub peak_open: usize,
    pub pool_size: usize,
    pub max_open: usize,
}

/// A checked-out connection, returned on drop.
pub struct PooledConn {
    conn: Option<Connection>,
    pool: Arc<PoolInner>,
}

impl std::ops::Deref for PooledConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let conn = self.conn.take();
        let mut st = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        match conn {
            Some(c) if st.idle.len() < self.pool.pool_size => st.idle.push(c),
            _ => st.open -= 1, // overflow connection: closed on return
        }
        drop(st);
        self.pool.returned.notify_one();
    }
}

impl Pool {
    /// Open (creating) the database at `path`, run migrations.
    pub fn open(
        path: &Path,
        pool_size: usize,
        max_overflow: usize,
        timeout: Duration,
    ) -> anyhow::Result<Pool> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        let pool = Pool {
            inner: Arc::new(PoolInner {
                path: path.to_path_buf(),
                pool_size,
                max_open: pool_size + max_overflow,
                timeout,
                state: Mutex::new(PoolState::default()),
                returned: Condvar::new(),
            }),
        };
        let mut conn = pool.get()?;
        migrate(&mut conn)?;
        Ok(pool)
    }

    /// Check out a connection, waiting up to `pool_timeout`.
    pub fn get(&self) -> anyhow::Result<PooledConn> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.timeout;
        let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(conn) = st.idle.pop() {
                return Ok(PooledConn {
                    conn: Some(conn),
                    pool: inner.clone(),
                });
            }
            if st.open < inner.max_open {
                st.open += 1;
                st.peak_open = st.peak_open.max(st.open);
                drop(st);
                return match open_connection(&inner.path) {
                    Ok(conn) => Ok(PooledConn {
                        conn: Some(conn),
                        pool: inner.clone(),
                    }),
                    Err(e) => {
                        inner.state.lock().unwrap_or_else(|e| e.into_inner()).open -= 1;
                        inner.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                anyhow::bail!(
                    "database pool exhausted: {} connections in use, waited {:.1} s (db.pool_timeout_secs)",
                    inner.max_open,
                    inner.timeout.as_secs_f64()
                );
            }
            st = inner
                .returned
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    pub fn status(&self) -> PoolStatus {
        let st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        PoolStatus {
            open: st.open,
            idle: st.idle.len(),
            peak_open: st.peak_open,
            pool_size: self.inner.pool_size,
            max_open: self.inner.max_open,
        }
    }
}

fn open_connection(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A job's row.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub submission_id: i64,
    pub status: String,
    pub progress: u8,
    pub stage: Option<String>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub attempts: u32,
    pub stages: serde_json::Value,
    pub pdf_url: Option<String>,
    pub pdf_bytes: Option<u64>,
    pub xlsx_url: Option<String>,
    pub xlsx_bytes: Option<u64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Store a submission and its job in one transaction; returns
/// `(submission_id, job_id)`. The answer is sent only after this commits.
pub fn insert_submission(conn: &mut Connection, body: &str) -> anyhow::Result<(i64, i64)> {
    let tx = conn.transaction()?;
    let ts = now();
    tx.execute(
        "INSERT INTO submissions (body, created_at) VALUES (?1, ?2)",
        params![body, ts],
    )?;
    let submission_id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO jobs (submission_id, status, progress, created_at) VALUES (?1, 'pending', 0, ?2)",
        params![submission_id, ts],
    )?;
    let job_id = tx.last_insert_rowid();
    tx.commit()?;
    Ok((submission_id, job_id))
}

pub fn load_submission(conn: &Connection, job_id: i64) -> anyhow::Result<String> {
    conn.query_row(
        "SELECT s.body FROM submissions s JOIN jobs j ON j.submission_id = s.id WHERE j.id = ?1",
        params![job_id],
        |r| r.get(0),
    )
    .with_context(|| format!("loading the submission of job {job_id}"))
}

/// Mark a job as taken up by a worker; counts the attempt. Returns `false`
/// when the job is no longer pending (already done by someone).
pub fn start_job(conn: &Connection, job_id: i64) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE jobs SET status = 'processing', progress = 10, stage = 'load', attempts = attempts + 1, started_at = ?2, error = NULL
         WHERE id = ?1 AND status IN ('pending', 'processing')",
        params![job_id, now()],
    )?;
    Ok(n == 1)
}

pub fn set_progress(
    conn: &Connection,
    job_id: i64,
    progress: u8,
    stage: &str,
    stages: &serde_json::Value,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE jobs SET progress = ?2, stage = ?3, stages = ?4 WHERE id = ?1",
        params![job_id, progress, stage, stages.to_string()],
    )?;
    Ok(())
}

pub fn set_result(
    conn: &Connection,
    job_id: i64,
    kind: ReportKind,
    url: &str,
    bytes: u64,
) -> anyhow::Result<()> {
    let sql = match kind {
        ReportKind::Pdf => "UPDATE jobs SET pdf_url = ?2, pdf_bytes = ?3 WHERE id = ?1",
        ReportKind::Xlsx => "UPDATE jobs SET xlsx_url = ?2, xlsx_bytes = ?3 WHERE id = ?1",
    };
    conn.execute(sql, params![job_id, url, bytes as i64])?;
    Ok(())
}

pub fn finish_job(
    conn: &Connection,
    job_id: i64,
    status: &str,
    error: Option<&str>,
    warnings: &[String],
    stages: &serde_json::Value,
) -> anyhow::Result<()> {
    let progress = if status == "completed" { 100 } else { -1 };
    conn.execute(
        "UPDATE jobs SET status = ?2, error = ?3, warnings = ?4, stages = ?5, finished_at = ?6,
           progress = CASE WHEN ?7 >= 0 THEN ?7 ELSE progress END,
           stage = CASE WHEN ?2 = 'completed' THEN 'complete' ELSE stage END
         WHERE id = ?1",
        params![
            job_id,
            status,
            error,
            serde_json::to_string(warnings)?,
            stages.to_string(),
            now(),
            progress
        ],
    )?;
    Ok(())
}

pub fn get_job(conn: &Connection, job_id: i64) -> anyhow::Result<Option<JobRow>> {
    conn.query_row(
        "SELECT id, submission_id, status, progress, stage, error, warnings, attempts, stages,
                pdf_url, pdf_bytes, xlsx_url, xlsx_bytes, created_at, started_at, finished_at
         FROM jobs WHERE id = ?1",
        params![job_id],
        |r| {
            let warnings: Option<String> = r.get(6)?;
            let stages: Option<String> = r.get(8)?;
            Ok(JobRow {
                id: r.get(0)?,
                submission_id: r.get(1)?,
                status: r.get(2)?,
                progress: r.get::<_, i64>(3)?.clamp(0, 100) as u8,
                stage: r.get(4)?,
                error: r.get(5)?,
                warnings: warnings
                    .and_then(|w| serde_json::from_str(&w).ok())
                    .unwrap_or_default(),
                attempts: r.get::<_, i64>(7)? as u32,
                stages: stages
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or(serde_json::Value::Array(vec![])),
                pdf_url: r.get(9)?,
                pdf_bytes: r.get::<_, Option<i64>>(10)?.map(|b| b as u64),
                xlsx_url: r.get(11)?,
                xlsx_bytes: r.get::<_, Option<i64>>(12)?.map(|b| b as u64),
                created_at: r.get(13)?,
                started_at: r.get(14)?,
                finished_at: r.get(15)?,
            })
        },
    )
    .optional()
    .map_err(Into::into)
}

/// Jobs to take up on start: pending ones, and processing ones a crash
/// interrupted, oldest first.
pub fn unfinished_jobs(conn: &Connection) -> anyhow::Result<Vec<(i64, u32)>> {
    let mut stmt = conn.prepare(
        "SELECT id, attempts FROM jobs WHERE status IN ('pending', 'processing') ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u32)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Which stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Pdf,
    Xlsx,
}

impl ReportKind {
    pub fn parse(name: &str) -> Option<ReportKind> {
        match name {
            "report.pdf" => Some(ReportKind::Pdf),
            "report.xlsx" => Some(ReportKind::Xlsx),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportKind::Pdf => "application/pdf",
            ReportKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            ReportKind::Pdf => "report.pdf",
            ReportKind::Xlsx => "report.xlsx",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(size: usize, overflow: usize) -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let p = Pool::open(
            &dir.path().join("t.sqlite3"),
            size,
            overflow,
            Duration::from_millis(200),
        )
        .unwrap();
        (dir, p)
    }

    #[test]
    fn pool_keeps_pool_size_and_closes_overflow_on_return() {
        let (_d, p) = pool(2, 1);
        let a = p.get().unwrap();
        let b = p.get().unwrap();
        let c = p.get().unwrap();
        assert_eq!(p.status().open, 3);
        let err = p.get().err().expect("the fourth checkout must time out");
        assert!(err.to_string().contains("pool exhausted"), "{err}");
        drop((a, b, c));
        let s = p.status();
        assert_eq!((s.open, s.idle, s.peak_open), (2, 2, 3));
    }

    #[test]
    fn submission_and_job_are_stored_together_and_found_unfinished() {
        let (_d, p) = pool(1, 0);
        let mut c = p.get().unwrap();
        let (sid, jid) = insert_submission(&mut c, "{}").unwrap();
        assert_eq!(load_submission(&c, jid).unwrap(), "{}");
        let job = get_job(&c, jid).unwrap().unwrap();
        assert_eq!((job.submission_id, job.status.as_str()), (sid, "pending"));
        assert_eq!(unfinished_jobs(&c).unwrap(), vec![(jid, 0)]);
        assert!(start_job(&c, jid).unwrap());
        finish_job(&c, jid, "completed", None, &[], &serde_json::json!([])).unwrap();
        assert!(unfinished_jobs(&c).unwrap().is_empty());
        assert!(
            !start_job(&c, jid).unwrap(),
            "a finished job is never redone"
        );
        assert_eq!(get_job(&c, jid).unwrap().unwrap().progress, 100);
    }
}
