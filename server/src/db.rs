//! The database: SQLite behind a connection pool with SQLAlchemy's
//! `QueuePool` semantics ([`pool`]), embedded migrations, and the queries of
//! the app.

mod pool;
mod submit;

pub use pool::{Pool, PoolOptions, PoolOrder, PoolStatus, PooledConn};
pub use submit::{IDEMPOTENCY_SECS, Stored, store_submission};

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::jobs::{DegradedPhoto, Notes};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_degraded_photos.sql"),
    include_str!("../migrations/0003_idempotency_keys.sql"),
];

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
    /// Photos shown as a placeholder or partly (`jobs::degraded`).
    pub degraded_photos: Vec<DegradedPhoto>,
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
    let ids = insert_in(&tx, body)?;
    tx.commit()?;
    Ok(ids)
}

/// The two inserts of a submission, inside the caller's transaction.
fn insert_in(tx: &rusqlite::Transaction<'_>, body: &str) -> anyhow::Result<(i64, i64)> {
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
    Ok(claim_job(conn, job_id)?.is_some())
}

/// [`start_job`] that returns the attempt number this start got (the job's
/// `attempts` after it), the token [`finish_claimed`] compares; `None` when
/// the job is finished already.
pub fn claim_job(conn: &Connection, job_id: i64) -> anyhow::Result<Option<u32>> {
    conn.query_row(
        "UPDATE jobs SET status = 'processing', progress = 10, stage = 'load', attempts = attempts + 1, started_at = ?2, error = NULL
         WHERE id = ?1 AND status IN ('pending', 'processing') RETURNING attempts",
        params![job_id, now()],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|a| a.map(|a| a as u32))
    .map_err(Into::into)
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
    let notes = Notes {
        warnings: warnings.to_vec(),
        degraded: Vec::new(),
    };
    record_end(conn, job_id, None, status, error, &notes, stages)?;
    Ok(())
}

/// Record the end of the start that got `attempt` from [`claim_job`], if the
/// job is still that start's: a compare-and-set on `(status, attempts)`.
/// `false` when another start took the job over (a re-delivery after this
/// worker's lease ran out) or it is finished: a job is completed once.
pub fn finish_claimed(
    conn: &Connection,
    job_id: i64,
    attempt: u32,
    status: &str,
    error: Option<&str>,
    notes: &Notes,
    stages: &serde_json::Value,
) -> anyhow::Result<bool> {
    Ok(record_end(conn, job_id, Some(attempt), status, error, notes, stages)? == 1)
}

fn record_end(
    conn: &Connection,
    job_id: i64,
    attempt: Option<u32>,
    status: &str,
    error: Option<&str>,
    notes: &Notes,
    stages: &serde_json::Value,
) -> anyhow::Result<usize> {
    let progress = if status == memstats::JobStatus::Completed.as_str() {
        100
    } else {
        -1
    };
    let n = conn.execute(
        "UPDATE jobs SET status = ?2, error = ?3, warnings = ?4, stages = ?5, finished_at = ?6,
           degraded_photos = ?9,
           progress = CASE WHEN ?7 >= 0 THEN ?7 ELSE progress END,
           stage = CASE WHEN ?2 = 'completed' THEN 'complete' ELSE stage END
         WHERE id = ?1 AND (?8 IS NULL OR (status = 'processing' AND attempts = ?8))",
        params![
            job_id,
            status,
            error,
            serde_json::to_string(&notes.warnings)?,
            stages.to_string(),
            now(),
            progress,
            attempt.map(i64::from),
            serde_json::to_string(&notes.degraded)?,
        ],
    )?;
    Ok(n)
}

pub fn get_job(conn: &Connection, job_id: i64) -> anyhow::Result<Option<JobRow>> {
    conn.query_row(
        "SELECT id, submission_id, status, progress, stage, error, warnings, attempts, stages,
                pdf_url, pdf_bytes, xlsx_url, xlsx_bytes, created_at, started_at, finished_at,
                degraded_photos
         FROM jobs WHERE id = ?1",
        params![job_id],
        |r| {
            let warnings: Option<String> = r.get(6)?;
            let stages: Option<String> = r.get(8)?;
            let degraded: Option<String> = r.get(16)?;
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
                degraded_photos: degraded
                    .and_then(|d| serde_json::from_str(&d).ok())
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

/// Jobs stored as pending, oldest first (the periodic re-queue of the
/// Redis backend).
pub fn pending_jobs(conn: &Connection) -> anyhow::Result<Vec<i64>> {
    let mut stmt = conn.prepare("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
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
    use std::time::Duration;

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

    #[test]
    fn only_the_latest_start_of_a_job_can_record_its_end() {
        let (_d, p) = pool(1, 0);
        let mut c = p.get().unwrap();
        let (_, jid) = insert_submission(&mut c, "{}").unwrap();
        let first = claim_job(&c, jid).unwrap().unwrap();
        // The first worker's lease ran out: the job was delivered again.
        let second = claim_job(&c, jid).unwrap().unwrap();
        assert_eq!((first, second), (1, 2));
        let j = serde_json::json!([]);
        let n = Notes::default();
        assert!(!finish_claimed(&c, jid, first, "completed", None, &n, &j).unwrap());
        assert!(finish_claimed(&c, jid, second, "completed", None, &n, &j).unwrap());
        assert!(
            !finish_claimed(&c, jid, second, "completed", None, &n, &j).unwrap(),
            "completed twice"
        );
        assert_eq!(claim_job(&c, jid).unwrap(), None);
    }
}
