//! A byte-bounded least-recently-used cache of values computed once.
//!
//! Used for transformed variants (per fake) and for synthetic catalogue
//! photos and scenes (per process, since tests start many fakes). Concurrent
//! requests for one key wait for one computation (`OnceLock`) instead of
//! repeating it; an entry still being computed is never evicted; a failed
//! computation is dropped so it can be retried.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, OnceLock};

type Cell<V, E> = Arc<OnceLock<Result<V, E>>>;

struct Entry<V, E> {
    cell: Cell<V, E>,
    /// 0 while computing.
    size: u64,
    last_used: u64,
}

struct Inner<K, V, E> {
    entries: HashMap<K, Entry<V, E>>,
    total: u64,
    tick: u64,
}

/// See the module docs.
pub struct OnceCache<K, V, E> {
    inner: Mutex<Inner<K, V, E>>,
    limit: u64,
}

impl<K, V, E> OnceCache<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: Clone,
{
    /// A cache holding at most `limit` bytes of finished values (one value
    /// larger than the limit is still kept, alone).
    pub fn new(limit: u64) -> Self {
        OnceCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                total: 0,
                tick: 0,
            }),
            limit,
        }
    }

    /// The value of `key`, computing it with `compute` if absent; `size`
    /// tells a value's weight in bytes.
    pub fn get_or_compute(
        &self,
        key: &K,
        compute: impl FnOnce() -> Result<V, E>,
        size: impl FnOnce(&V) -> u64,
    ) -> Result<V, E> {
        let cell = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let entry = inner.entries.entry(key.clone()).or_insert_with(|| Entry {
                cell: Arc::default(),
                size: 0,
                last_used: tick,
            });
            entry.last_used = tick;
            entry.cell.clone()
        };
        let mut computed = false;
        let result = cell
            .get_or_init(|| {
                computed = true;
                compute()
            })
            .clone();
        if computed {
            self.account(key, result.as_ref().ok().map(size));
        }
        result
    }

    /// Bytes held by finished values.
    pub fn bytes(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V, E>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a new value's size (`None`: it failed) and evict
    /// least-recently-used finished values over the limit.
    fn account(&self, key: &K, size: Option<u64>) {
        let mut inner = self.lock();
        let Some(size) = size else {
            inner.entries.remove(key);
            return;
        };
        // At least 1, so a finished empty value is told from one computing.
        let size = size.max(1);
        if let Some(entry) = inner.entries.get_mut(key) {
            entry.size = size;
            inner.total += size;
        }
        while inner.total > self.limit {
            let victim = inner
                .entries
                .iter()
                .filter(|(k, e)| e.size > 0 && *k != key)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some(entry) = inner.entries.remove(&victim) {
                inner.total -= entry.size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_computed_once_and_evicted_over_the_limit() {
        let cache: OnceCache<u32, Vec<u8>, String> = OnceCache::new(10);
        let mut calls = 0;
        for _ in 0..2 {
            let v = cache
                .get_or_compute(
                    &1,
                    || {
                        calls += 1;
                        Ok(vec![0; 6])
                    },
                    |v| v.len() as u64,
                )
                .unwrap();
            assert_eq!(v.len(), 6);
        }
        assert_eq!(calls, 1);
        cache
            .get_or_compute(&2, || Ok(vec![0; 6]), |v| v.len() as u64)
            .unwrap();
        assert_eq!(cache.bytes(), 6, "key 1 evicted");
        let failed = cache.get_or_compute(&3, || Err("no".to_string()), |_| 0);
        assert!(failed.is_err());
        let retried = cache.get_or_compute(&3, || Ok(vec![1]), |v| v.len() as u64);
        assert_eq!(retried.unwrap(), vec![1]);
    }
}
