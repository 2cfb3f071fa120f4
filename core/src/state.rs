//! The state store: the content-addressed response cache (DESIGN.md invariant 4).
//!
//! [`StateStore`] is what Redis implements in cluster mode; here are the embedded
//! implementation ([`RedbState`], on disk, survives `kill -9`) and an in-memory one.
//! Both pass the same contract tests ([`contract`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, Durability, TableDefinition};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// A 32-byte content address.
pub type Key = [u8; 32];

/// Shared state of a job.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The cached response for `key`, if any.
    async fn cache_get(&self, key: &Key) -> Result<Option<Vec<u8>>>;
    /// Cache `value` under `key`. Visible to `cache_get` at once; durable after `flush`
    /// (or shortly after, by the store's own schedule).
    async fn cache_put(&self, key: Key, value: Vec<u8>) -> Result<()>;
    /// Make every put so far durable.
    async fn flush(&self) -> Result<()>;
}

/// In-memory store (tests, and jobs that need no resume).
#[derive(Default)]
pub struct MemoryState {
    map: Mutex<HashMap<Key, Vec<u8>>>,
}

#[async_trait]
impl StateStore for MemoryState {
    async fn cache_get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        Ok(self.map.lock().expect("lock").get(key).cloned())
    }
    async fn cache_put(&self, key: Key, value: Vec<u8>) -> Result<()> {
        self.map.lock().expect("lock").insert(key, value);
        Ok(())
    }
    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}

const CACHE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("response_cache");

/// On-disk store in one redb file. Puts are buffered and committed in batches (every
/// `flush_every` or 256 entries) by a background task, so a commit's fsync is paid per
/// batch, not per response; a crash loses at most the last unflushed batch, which a
/// rerun asks again.
pub struct RedbState {
    db: Arc<Database>,
    pending: Arc<Mutex<HashMap<Key, Vec<u8>>>>,
    path: PathBuf,
    kick: Arc<tokio::sync::Notify>,
}

impl RedbState {
    /// Open (or create) the store at `path`; starts its flusher, which stops with `cancel`
    /// after a last flush.
    pub fn open(path: &Path, flush_every: Duration, cancel: CancellationToken) -> Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let db = Database::create(path).map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        {
            let w = db.begin_write().map_err(|e| Error::State(e.to_string()))?;
            w.open_table(CACHE).map_err(|e| Error::State(e.to_string()))?;
            w.commit().map_err(|e| Error::State(e.to_string()))?;
        }
        let me = Arc::new(Self {
            db: Arc::new(db),
            pending: Arc::default(),
            path: path.to_path_buf(),
            kick: Arc::default(),
        });
        let bg = me.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(flush_every) => {}
                    _ = bg.kick.notified() => {}
                    _ = cancel.cancelled() => break,
                }
                if let Err(e) = bg.flush().await {
                    tracing::error!(error = %e, "flushing the response cache");
                }
            }
        });
        Ok(me)
    }

    /// Entries on disk (tests and the manifest).
    pub fn len(&self) -> Result<u64> {
        use redb::ReadableTableMetadata;
        let r = self.db.begin_read().map_err(|e| Error::State(e.to_string()))?;
        let t = r.open_table(CACHE).map_err(|e| Error::State(e.to_string()))?;
        t.len().map_err(|e| Error::State(e.to_string()))
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl StateStore for RedbState {
    async fn cache_get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.lock().expect("lock").get(key) {
            return Ok(Some(v.clone()));
        }
        let db = self.db.clone();
        let key = *key;
        // A point read is a few microseconds against the page cache: cheap enough inline.
        let r = db.begin_read().map_err(|e| Error::State(e.to_string()))?;
        let t = r.open_table(CACHE).map_err(|e| Error::State(e.to_string()))?;
        let v = t.get(&key).map_err(|e| Error::State(e.to_string()))?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    async fn cache_put(&self, key: Key, value: Vec<u8>) -> Result<()> {
        let n = {
            let mut p = self.pending.lock().expect("lock");
            p.insert(key, value);
            p.len()
        };
        if n >= 256 {
            self.kick.notify_one();
        }
        Ok(())
    }

    async fn flush(&self) -> Result<()> {
        let batch: Vec<(Key, Vec<u8>)> = {
            let p = self.pending.lock().expect("lock");
            if p.is_empty() {
                return Ok(());
            }
            p.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let db = self.db.clone();
        let keys: Vec<Key> = batch.iter().map(|(k, _)| *k).collect();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut w = db.begin_write().map_err(|e| Error::State(e.to_string()))?;
            w.set_durability(Durability::Immediate);
            {
                let mut t = w.open_table(CACHE).map_err(|e| Error::State(e.to_string()))?;
                for (k, v) in &batch {
                    t.insert(k, v.as_slice()).map_err(|e| Error::State(e.to_string()))?;
                }
            }
            w.commit().map_err(|e| Error::State(e.to_string()))
        })
        .await
        .map_err(|e| Error::State(format!("flush task: {e}")))??;
        // Only now drop them from the buffer: a get between never misses.
        let mut p = self.pending.lock().expect("lock");
        for k in keys {
            p.remove(&k);
        }
        Ok(())
    }
}

/// Contract tests every [`StateStore`] must pass; each implementation's tests call them.
pub mod contract {
    use super::*;

    /// Put, get, overwrite-is-idempotent, miss.
    pub async fn cache_roundtrip(s: &dyn StateStore) {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        assert_eq!(s.cache_get(&k1).await.unwrap(), None);
        s.cache_put(k1, b"one".to_vec()).await.unwrap();
        assert_eq!(s.cache_get(&k1).await.unwrap().as_deref(), Some(&b"one"[..]));
        s.flush().await.unwrap();
        assert_eq!(s.cache_get(&k1).await.unwrap().as_deref(), Some(&b"one"[..]));
        // Content-addressed: a second put of the same key is a no-op in effect.
        s.cache_put(k1, b"one".to_vec()).await.unwrap();
        assert_eq!(s.cache_get(&k2).await.unwrap(), None);
        s.cache_put(k2, vec![0u8; 10_000]).await.unwrap();
        s.flush().await.unwrap();
        assert_eq!(s.cache_get(&k2).await.unwrap().unwrap().len(), 10_000);
    }

    /// Many concurrent writers and readers see every value.
    pub async fn cache_concurrent(s: Arc<dyn StateStore>) {
        let mut tasks = Vec::new();
        for t in 0..8u8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100u8 {
                    let mut k = [0u8; 32];
                    k[0] = t;
                    k[1] = i;
                    k[31] = 9;
                    s.cache_put(k, vec![t, i]).await.unwrap();
                    assert_eq!(s.cache_get(&k).await.unwrap(), Some(vec![t, i]));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        s.flush().await.unwrap();
        for t in 0..8u8 {
            for i in (0..100u8).step_by(7) {
                let mut k = [0u8; 32];
                k[0] = t;
                k[1] = i;
                k[31] = 9;
                assert_eq!(s.cache_get(&k).await.unwrap(), Some(vec![t, i]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_contract() {
        contract::cache_roundtrip(&MemoryState::default()).await;
        contract::cache_concurrent(Arc::new(MemoryState::default())).await;
    }

    #[tokio::test]
    async fn redb_contract_and_durability() {
        let dir = std::env::temp_dir().join(format!("seedstream-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cancel = CancellationToken::new();
        let path = dir.join("cache.redb");
        {
            let s = RedbState::open(&path, Duration::from_millis(20), cancel.clone()).unwrap();
            contract::cache_roundtrip(s.as_ref()).await;
            contract::cache_concurrent(s.clone()).await;
            assert_eq!(s.len().unwrap(), 802);
            cancel.cancel();
        }
        // Reopened: everything flushed is there.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s = RedbState::open(&path, Duration::from_millis(20), CancellationToken::new()).unwrap();
        assert_eq!(s.cache_get(&[1u8; 32]).await.unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(s.len().unwrap(), 802);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
