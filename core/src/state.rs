//! The state store: the content-addressed response cache (DESIGN.md invariant 4).
//!
//! [`StateStore`] is what Redis implements in cluster mode; here are the embedded
//! implementation ([`RedbState`], on disk, survives `kill -9`) and an in-memory one.
//! Both pass the same contract tests ([`contract`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
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

/// On-disk store: one redb file plus an append-only journal.
///
/// A put is appended to the journal at once (one `write`, no fsync: the OS keeps it if
/// the process is killed) and committed to redb in batches by a background task (every
/// `flush_every` or 4096 entries, with an fsync), so an fsync is paid per batch, not per
/// response. At each batch the journal is rotated; a journal whose entries are all in
/// redb is deleted. On open, journals left by a killed run are replayed into redb, so a
/// `kill -9` loses no answer that was received (a power cut may lose the last batch).
pub struct RedbState {
    db: Arc<Database>,
    pending: Mutex<HashMap<Key, Vec<u8>>>,
    journal: Mutex<Journal>,
    kick: tokio::sync::Notify,
    /// Serialises flushes (the timer and `flush` callers).
    flushing: tokio::sync::Mutex<()>,
}

struct Journal {
    dir: PathBuf,
    seq: u64,
    file: std::fs::File,
}

fn journal_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("journal-{seq:010}.log"))
}

/// FNV-1a: a checksum that detects a torn journal tail (not an adversary).
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Journal entry: value length (u32 LE), key (32 bytes), value, checksum (u64 LE).
fn encode_entry(key: &Key, value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + 32 + value.len() + 8);
    e.extend_from_slice(&(value.len() as u32).to_le_bytes());
    e.extend_from_slice(key);
    e.extend_from_slice(value);
    e.extend_from_slice(&fnv64(&[key, value]).to_le_bytes());
    e
}

/// Every whole, intact entry of a journal; stops at the first torn or corrupt one.
fn decode_entries(bytes: &[u8]) -> Vec<(Key, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() >= at + 4 + 32 + 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + 4 + 32 + len + 8;
        if bytes.len() < end {
            break;
        }
        let key: Key = bytes[at + 4..at + 36].try_into().expect("32 bytes");
        let value = &bytes[at + 36..at + 36 + len];
        let sum = u64::from_le_bytes(bytes[end - 8..end].try_into().expect("8 bytes"));
        if sum != fnv64(&[&key, value]) {
            break;
        }
        out.push((key, value));
        at = end;
    }
    out
}

fn state_err(e: impl std::fmt::Display) -> Error {
    Error::State(e.to_string())
}

impl RedbState {
    /// Open (or create) the store at `path` (journals beside it), replaying journals a
    /// killed run left; starts the flusher, which stops with `cancel`.
    pub fn open(
        path: &Path,
        flush_every: Duration,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let db =
            Database::create(path).map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        // Replay what a killed run journaled but had not committed.
        let mut old: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let seq = name
                    .strip_prefix("journal-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((seq, e.path()))
            })
            .collect();
        old.sort();
        {
            let mut w = db.begin_write().map_err(state_err)?;
            w.set_durability(Durability::Immediate).map_err(state_err)?;
            {
                let mut t = w.open_table(CACHE).map_err(state_err)?;
                for (_, p) in &old {
                    let bytes = std::fs::read(p).map_err(|e| Error::io(p, e))?;
                    for (k, v) in decode_entries(&bytes) {
                        t.insert(&k, v).map_err(state_err)?;
                    }
                }
            }
            w.commit().map_err(state_err)?;
        }
        for (_, p) in &old {
            std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
        }
        let seq = old.last().map(|(s, _)| s + 1).unwrap_or(0);
        let jp = journal_path(&dir, seq);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jp)
            .map_err(|e| Error::io(&jp, e))?;
        let me = Arc::new(Self {
            db: Arc::new(db),
            pending: Mutex::default(),
            journal: Mutex::new(Journal { dir, seq, file }),
            kick: tokio::sync::Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
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

    /// Entries committed to redb (tests and the manifest).
    pub fn committed_entries(&self) -> Result<u64> {
        use redb::ReadableTableMetadata;
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(CACHE).map_err(state_err)?;
        t.len().map_err(state_err)
    }
}

#[async_trait]
impl StateStore for RedbState {
    async fn cache_get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.pending.lock().expect("lock").get(key) {
            return Ok(Some(v.clone()));
        }
        // A point read is a few microseconds against the page cache: cheap enough inline.
        let r = self.db.begin_read().map_err(state_err)?;
        let t = r.open_table(CACHE).map_err(state_err)?;
        let v = t.get(key).map_err(state_err)?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    async fn cache_put(&self, key: Key, value: Vec<u8>) -> Result<()> {
        let entry = encode_entry(&key, &value);
        // Journal first, under the journal lock, so a rotation never splits an entry
        // from its pending copy.
        let n = {
            let mut j = self.journal.lock().expect("lock");
            let jp = journal_path(&j.dir, j.seq);
            j.file.write_all(&entry).map_err(|e| Error::io(jp, e))?;
            let mut p = self.pending.lock().expect("lock");
            p.insert(key, value);
            p.len()
        };
        if n >= 4096 {
            self.kick.notify_one();
        }
        Ok(())
    }

    async fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        // Rotate the journal and snapshot the pending entries together: everything in
        // journals up to `done` is in the snapshot.
        let (batch, done, dir) = {
            let mut j = self.journal.lock().expect("lock");
            let p = self.pending.lock().expect("lock");
            if p.is_empty() {
                return Ok(());
            }
            let batch: Vec<(Key, Vec<u8>)> = p.iter().map(|(k, v)| (*k, v.clone())).collect();
            let done = j.seq;
            let next = journal_path(&j.dir, done + 1);
            j.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&next)
                .map_err(|e| Error::io(&next, e))?;
            j.seq = done + 1;
            (batch, done, j.dir.clone())
        };
        let db = self.db.clone();
        let keys: Vec<Key> = batch.iter().map(|(k, _)| *k).collect();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut w = db.begin_write().map_err(state_err)?;
            w.set_durability(Durability::Immediate).map_err(state_err)?;
            {
                let mut t = w.open_table(CACHE).map_err(state_err)?;
                for (k, v) in &batch {
                    t.insert(k, v.as_slice()).map_err(state_err)?;
                }
            }
            w.commit().map_err(state_err)
        })
        .await
        .map_err(|e| Error::State(format!("flush task: {e}")))??;
        // Committed: drop the entries from memory (a get between never misses) and the
        // journals they came from.
        {
            let mut p = self.pending.lock().expect("lock");
            for k in keys {
                p.remove(&k);
            }
        }
        for seq in (0..=done).rev() {
            let jp = journal_path(&dir, seq);
            match std::fs::remove_file(&jp) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(Error::io(jp, e)),
            }
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
        assert_eq!(
            s.cache_get(&k1).await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        s.flush().await.unwrap();
        assert_eq!(
            s.cache_get(&k1).await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
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
            assert_eq!(s.committed_entries().unwrap(), 802);
            cancel.cancel();
        }
        // Reopened: everything flushed is there.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let s =
            RedbState::open(&path, Duration::from_millis(20), CancellationToken::new()).unwrap();
        assert_eq!(
            s.cache_get(&[1u8; 32]).await.unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(s.committed_entries().unwrap(), 802);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn journal_survives_a_crash_before_the_batch_commit() {
        let dir = std::env::temp_dir().join(format!("seedstream-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("cache.redb");
        {
            // Never flushed (an hour between batches): only the journal has the entries.
            let s = RedbState::open(&path, Duration::from_secs(3600), CancellationToken::new())
                .unwrap();
            for i in 0..50u8 {
                s.cache_put([i; 32], vec![i; 100]).await.unwrap();
            }
            assert_eq!(s.committed_entries().unwrap(), 0);
            // A torn last entry, as a kill in the middle of a write leaves.
            let j = s.journal.lock().unwrap();
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(journal_path(&j.dir, j.seq))
                .unwrap();
            f.write_all(&encode_entry(&[99u8; 32], &[1, 2, 3])[..20])
                .unwrap();
        }
        // The runtime's flusher holds the old handle until the test ends; a second open in
        // this process would fail on redb's lock, so copy the files as a crash leaves them.
        let copy = dir.join("after-crash");
        std::fs::create_dir_all(&copy).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
            }
        }
        let s = RedbState::open(
            &copy.join("cache.redb"),
            Duration::from_secs(3600),
            CancellationToken::new(),
        )
        .unwrap();
        assert_eq!(s.committed_entries().unwrap(), 50, "journal not replayed");
        assert_eq!(s.cache_get(&[7u8; 32]).await.unwrap(), Some(vec![7u8; 100]));
        assert_eq!(
            s.cache_get(&[99u8; 32]).await.unwrap(),
            None,
            "a torn entry was replayed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn journal_entries_roundtrip_and_stop_at_corruption() {
        let mut bytes = encode_entry(&[1; 32], b"one");
        bytes.extend(encode_entry(&[2; 32], b""));
        let mut bad = encode_entry(&[3; 32], b"three");
        let n = bad.len();
        bad[n - 1] ^= 1;
        bytes.extend(bad);
        bytes.extend(encode_entry(&[4; 32], b"four"));
        let e = decode_entries(&bytes);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0], ([1; 32], &b"one"[..]));
        assert_eq!(e[1].1, b"");
    }
}
