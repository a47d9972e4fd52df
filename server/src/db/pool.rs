//! A pool of SQLite connections with SQLAlchemy's `QueuePool` semantics.
//!
//! Why a hand-written pool: the modelled app's memory depends on how many
//! connections stay open (`pool_size`) and how many more open under load and
//! are closed when returned (`max_overflow`); no Rust pool has exactly those
//! semantics. Connections are blocking (rusqlite): callers on the async
//! runtime go through `spawn_blocking`.
//!
//! Which idle connection a checkout gets matters too. `QueuePool` is a FIFO
//! queue by default (`use_lifo=False`): the connection idle the longest is
//! handed out first, so under steady light load every kept connection is
//! used in turn and each keeps its own SQLite page cache warm. With
//! `use_lifo=True` the most recently returned one is reused and the others
//! stay cold. [`PoolOrder`] models both.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::Connection;
use serde::Serialize;

/// Which idle connection a checkout takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolOrder {
    /// The connection idle the longest (SQLAlchemy's default).
    Fifo,
    /// The connection returned last (`use_lifo=True`).
    Lifo,
}

impl PoolOrder {
    /// The order for SQLAlchemy's `use_lifo` flag (`db.use_lifo`).
    pub fn from_use_lifo(use_lifo: bool) -> PoolOrder {
        if use_lifo {
            PoolOrder::Lifo
        } else {
            PoolOrder::Fifo
        }
    }
}

/// How a pool is sized and ordered.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// Connections kept open (`pool_size`).
    pub pool_size: usize,
    /// Extra connections opened under load, closed when returned.
    pub max_overflow: usize,
    /// Wait for a connection before giving up (`pool_timeout`).
    pub timeout: Duration,
    pub order: PoolOrder,
    /// The most bytes the database file may grow to (`db.max_bytes`).
    pub max_bytes: Option<u64>,
}

impl PoolOptions {
    pub fn from_settings(s: &crate::settings::DbSettings) -> PoolOptions {
        PoolOptions {
            pool_size: s.pool_size,
            max_overflow: s.max_overflow,
            timeout: Duration::from_secs_f64(s.pool_timeout_secs),
            order: PoolOrder::from_use_lifo(s.use_lifo),
            max_bytes: s.max_bytes,
        }
    }
}

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
    order: PoolOrder,
    max_bytes: Option<u64>,
    state: Mutex<PoolState>,
    returned: Condvar,
}

/// An open connection and its number (1 for the first one the pool opened),
/// so which connection a checkout got can be told apart.
struct Slot {
    conn: Connection,
    serial: u64,
}

#[derive(Default)]
struct PoolState {
    /// Returned connections, oldest return at the front.
    idle: VecDeque<Slot>,
    open: usize,
    peak_open: usize,
    opened_total: u64,
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
    slot: Option<Slot>,
    pool: Arc<PoolInner>,
}

impl PooledConn {
    /// Which of the pool's connections this is (1 for the first opened).
    pub fn serial(&self) -> u64 {
        self.slot.as_ref().map_or(0, |s| s.serial)
    }
}

impl std::ops::Deref for PooledConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self
            .slot
            .as_ref()
            .expect("connection present until drop")
            .conn
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self
            .slot
            .as_mut()
            .expect("connection present until drop")
            .conn
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        let slot = self.slot.take();
        let mut st = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
        match slot {
            // Returned to the back of the queue, as QueuePool's `put`.
            Some(s) if st.idle.len() < self.pool.pool_size => st.idle.push_back(s),
            _ => st.open -= 1, // overflow connection: closed on return
        }
        drop(st);
        self.pool.returned.notify_one();
    }
}

impl Pool {
    /// Open (creating) the database at `path`, run migrations; idle
    /// connections are handed out oldest first, as SQLAlchemy's default.
    pub fn open(
        path: &Path,
        pool_size: usize,
        max_overflow: usize,
        timeout: Duration,
    ) -> anyhow::Result<Pool> {
        Pool::open_with(
            path,
            PoolOptions {
                pool_size,
                max_overflow,
                timeout,
                order: PoolOrder::Fifo,
                max_bytes: None,
            },
        )
    }

    /// Open (creating) the database at `path` with `options`, run migrations.
    pub fn open_with(path: &Path, options: PoolOptions) -> anyhow::Result<Pool> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data directory {}", dir.display()))?;
        }
        let pool = Pool {
            inner: Arc::new(PoolInner {
                path: path.to_path_buf(),
                pool_size: options.pool_size,
                max_open: options.pool_size + options.max_overflow,
                timeout: options.timeout,
                order: options.order,
                max_bytes: options.max_bytes,
                state: Mutex::new(PoolState::default()),
                returned: Condvar::new(),
            }),
        };
        let mut conn = pool.get()?;
        super::migrate(&mut conn)?;
        Ok(pool)
    }

    /// Check out a connection, waiting up to `pool_timeout`.
    pub fn get(&self) -> anyhow::Result<PooledConn> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.timeout;
        let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let idle = match inner.order {
                PoolOrder::Fifo => st.idle.pop_front(),
                PoolOrder::Lifo => st.idle.pop_back(),
            };
            if let Some(slot) = idle {
                return Ok(PooledConn {
                    slot: Some(slot),
                    pool: inner.clone(),
                });
            }
            if st.open < inner.max_open {
                st.open += 1;
                st.peak_open = st.peak_open.max(st.open);
                st.opened_total += 1;
                let serial = st.opened_total;
                drop(st);
                return match open_connection(&inner.path, inner.max_bytes) {
                    Ok(conn) => Ok(PooledConn {
                        slot: Some(Slot { conn, serial }),
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

fn open_connection(path: &Path, max_bytes: Option<u64>) -> anyhow::Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("opening the database {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if let Some(max) = max_bytes {
        // Per connection, not stored in the file. A write past it fails
        // with SQLITE_FULL, the code SQLite gives an ENOSPC, and is rolled
        // back the same way. (A cap below the file's size holds it there.)
        let page: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        conn.pragma_update(None, "max_page_count", max / page.max(512))?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(size: usize, overflow: usize, order: PoolOrder) -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let p = Pool::open_with(
            &dir.path().join("t.sqlite3"),
            PoolOptions {
                pool_size: size,
                max_overflow: overflow,
                timeout: Duration::from_millis(200),
                order,
                max_bytes: None,
            },
        )
        .unwrap();
        (dir, p)
    }

    /// Check out three connections, return them first to last, and say
    /// which connection each of three new checkouts gets.
    fn reuse_after_returning_in_order(order: PoolOrder) -> (Vec<u64>, Vec<u64>) {
        let (_d, p) = pool(3, 0, order);
        let held: Vec<PooledConn> = (0..3).map(|_| p.get().unwrap()).collect();
        let returned: Vec<u64> = held.iter().map(PooledConn::serial).collect();
        drop(held); // dropped front to back: returned in that order
        let again: Vec<PooledConn> = (0..3).map(|_| p.get().unwrap()).collect();
        (returned, again.iter().map(PooledConn::serial).collect())
    }

    #[test]
    fn by_default_the_connection_idle_longest_is_reused_first() {
        let (returned, reused) = reuse_after_returning_in_order(PoolOrder::Fifo);
        assert_eq!(reused, returned, "FIFO: first returned, first reused");
        // One connection in and out: the next checkout rotates to the
        // oldest idle one, not the one just returned.
        let (_d, p) = pool(2, 0, PoolOrder::Fifo);
        let (a, b) = (p.get().unwrap(), p.get().unwrap());
        let (sa, sb) = (a.serial(), b.serial());
        drop(a);
        drop(b);
        let c = p.get().unwrap();
        assert_eq!(c.serial(), sa);
        drop(c);
        assert_eq!(
            p.get().unwrap().serial(),
            sb,
            "every kept connection is used in turn"
        );
    }

    #[test]
    fn with_use_lifo_the_connection_returned_last_is_reused_first() {
        let (returned, reused) = reuse_after_returning_in_order(PoolOrder::Lifo);
        let mut newest_first = returned.clone();
        newest_first.reverse();
        assert_eq!(reused, newest_first, "LIFO: last returned, first reused");
        let (_d, p) = pool(2, 0, PoolOrder::Lifo);
        let (a, b) = (p.get().unwrap(), p.get().unwrap());
        let sb = b.serial();
        drop(a);
        drop(b);
        for _ in 0..3 {
            assert_eq!(p.get().unwrap().serial(), sb, "the same warm connection");
        }
    }

    #[test]
    fn pool_keeps_pool_size_and_closes_overflow_on_return() {
        let (_d, p) = pool(2, 1, PoolOrder::Fifo);
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
    fn use_lifo_in_settings_picks_the_order() {
        let mut s = crate::settings::DbSettings::default();
        assert_eq!(PoolOptions::from_settings(&s).order, PoolOrder::Fifo);
        s.use_lifo = true;
        assert_eq!(PoolOptions::from_settings(&s).order, PoolOrder::Lifo);
    }
}
