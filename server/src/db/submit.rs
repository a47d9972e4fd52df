//! Storing a submission with its job, under the queue bound
//! (`limits.max_queued_jobs`) and an optional `Idempotency-Key`, in one
//! immediate transaction: two requests with the same key, or two that
//! race for the last queue place, are decided one after the other.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_SECS: i64 = 24 * 3600;

/// What storing a submission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored now, its job pending.
    New { submission_id: i64, job_id: i64 },
    /// The key was used for this same submission within 24 h: that one.
    Replayed { submission_id: i64, job_id: i64 },
    /// The key was used for another submission within 24 h.
    KeyReused,
    /// `pending` jobs are waiting already, at or over the bound.
    QueueFull { pending: u64 },
}

/// Store `body` (the submission as canonical JSON) and its job, unless the
/// key says it is a repeat or the queue is full. `now_secs`: Unix seconds.
pub fn store_submission(
    conn: &mut Connection,
    body: &str,
    key: Option<&str>,
    max_pending: u64,
    now_secs: i64,
) -> anyhow::Result<Stored> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(key) = key {
        tx.execute(
            "DELETE FROM idempotency_keys WHERE created_at <= ?1",
            params![now_secs - IDEMPOTENCY_SECS],
        )?;
        let seen: Option<(i64, i64, String)> = tx
            .query_row(
                "SELECT k.submission_id, k.job_id, s.body FROM idempotency_keys k
                 JOIN submissions s ON s.id = k.submission_id WHERE k.key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((submission_id, job_id, stored)) = seen {
            tx.commit()?;
            return Ok(if stored == body {
                Stored::Replayed {
                    submission_id,
                    job_id,
                }
            } else {
                Stored::KeyReused
            });
        }
    }
    let pending: i64 = tx.query_row(
        "SELECT COUNT(*) FROM jobs WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?;
    if pending as u64 >= max_pending {
        return Ok(Stored::QueueFull {
            pending: pending as u64,
        });
    }
    let (submission_id, job_id) = super::insert_in(&tx, body)?;
    if let Some(key) = key {
        tx.execute(
            "INSERT INTO idempotency_keys (key, submission_id, job_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![key, submission_id, job_id, now_secs],
        )?;
    }
    tx.commit()?;
    Ok(Stored::New {
        submission_id,
        job_id,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db::Pool;

    fn conn() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let p = Pool::open(&dir.path().join("t.sqlite3"), 1, 0, Duration::from_secs(1)).unwrap();
        (dir, p)
    }

    #[test]
    fn a_key_replays_the_same_body_refuses_another_and_expires_after_a_day() {
        let (_d, p) = conn();
        let mut c = p.get().unwrap();
        let t0 = 1_000_000;
        let Stored::New { job_id, .. } =
            store_submission(&mut c, "{a}", Some("k1"), 10, t0).unwrap()
        else {
            panic!("stored")
        };
        let again = store_submission(&mut c, "{a}", Some("k1"), 10, t0 + 60).unwrap();
        assert!(matches!(again, Stored::Replayed { job_id: j, .. } if j == job_id));
        let other = store_submission(&mut c, "{b}", Some("k1"), 10, t0 + 60).unwrap();
        assert_eq!(other, Stored::KeyReused);
        // A day later the key is free again: a new job.
        let later = store_submission(&mut c, "{b}", Some("k1"), 10, t0 + IDEMPOTENCY_SECS).unwrap();
        assert!(matches!(later, Stored::New { job_id: j, .. } if j != job_id));
    }

    #[test]
    fn the_queue_bound_counts_pending_jobs_only() {
        let (_d, p) = conn();
        let mut c = p.get().unwrap();
        for _ in 0..2 {
            assert!(matches!(
                store_submission(&mut c, "{}", None, 2, 0).unwrap(),
                Stored::New { .. }
            ));
        }
        assert_eq!(
            store_submission(&mut c, "{}", None, 2, 0).unwrap(),
            Stored::QueueFull { pending: 2 }
        );
        // One starts: there is room again.
        let first = crate::db::unfinished_jobs(&c).unwrap()[0].0;
        assert!(crate::db::start_job(&c, first).unwrap());
        assert!(matches!(
            store_submission(&mut c, "{}", None, 2, 0).unwrap(),
            Stored::New { .. }
        ));
    }
}
