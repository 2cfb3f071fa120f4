//! The Redis state store (cluster mode), implementing [`crate::state::StateStore`].
//!
//! Keys (the prefix namespaces one deployment, or one test):
//! - `<prefix>:cache:<sha256 hex>`: the response cache; an optional TTL bounds how long
//!   answers are kept
//! - `<prefix>:job:<id>:bundle`: a job's spec and inputs (what every node rebuilds it from)
//! - `<prefix>:job:<id>:status`: its status (`seedstream.v1.JobStatus`, protobuf)
//! - `<prefix>:job:<id>:cancelled`: present while the job is cancelled
//! - `<prefix>:jobs`: the registry, job ids scored by submission time (ms)
//!
//! A cache put is one `SET` (with `EX` when a TTL is set): visible to every node at
//! once, durable as the server is configured (AOF/RDB), so `flush` has nothing to do.

use async_trait::async_trait;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use seedstream_proto::{prost, v1};

use crate::error::{Error, Result};
use crate::spec::{Job, JobBundle};
use crate::state::{Key, StateStore};

fn rerr(what: &str, e: impl std::fmt::Display) -> Error {
    Error::State(format!("redis: {what}: {e}"))
}

/// A state store in Redis.
#[derive(Clone)]
pub struct RedisState {
    conn: ConnectionManager,
    prefix: String,
    ttl_secs: Option<u64>,
}

impl RedisState {
    /// Connect to `url` (`redis://host:port/db`); keys start with `prefix`.
    pub async fn connect(url: &str, prefix: &str, ttl_secs: Option<u64>) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| rerr(&format!("invalid URL {url:?}"), e))?;
        // Bounded reconnects: a wrong address fails in seconds, not after minutes of retries.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(4)
            .set_max_delay(2000)
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(10));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| rerr(&format!("connecting to {url}"), e))?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            ttl_secs,
        })
    }

    /// Store a job's bundle (what generators and validators rebuild the job from).
    pub async fn put_job(&self, bundle: &JobBundle, job_id: &str) -> Result<()> {
        let mut c = self.conn.clone();
        let bytes = serde_json::to_vec(bundle).expect("bundle serialises");
        c.set::<_, _, ()>(self.job_key(job_id), bytes)
            .await
            .map_err(|e| rerr("SET job", e))
    }

    /// A job's bundle, if it was stored.
    pub async fn get_job(&self, job_id: &str) -> Result<Option<JobBundle>> {
        let mut c = self.conn.clone();
        let bytes: Option<Vec<u8>> = c
            .get(self.job_key(job_id))
            .await
            .map_err(|e| rerr("GET job", e))?;
        bytes
            .map(|b| {
                serde_json::from_slice(&b)
                    .map_err(|e| rerr(&format!("job {job_id} is unreadable"), e))
            })
            .transpose()
    }

    /// The job `job_id`, rebuilt from its bundle; [`Error::UnknownJob`] if it was never
    /// stored in this deployment.
    pub async fn load_job(&self, job_id: &str) -> Result<Job> {
        let bundle = self
            .get_job(job_id)
            .await?
            .ok_or_else(|| Error::UnknownJob(job_id.to_string()))?;
        Job::from_bundle(&bundle)
    }

    /// Record a job's status and register it (idempotent).
    pub async fn put_status(&self, status: &v1::JobStatus) -> Result<()> {
        let mut c = self.conn.clone();
        let key = self.status_key(&status.job_id);
        redis::pipe()
            .atomic()
            .set(key, prost::Message::encode_to_vec(status))
            .ignore()
            .zadd(
                self.registry_key(),
                &status.job_id,
                status.submitted_unix_ms,
            )
            .ignore()
            .query_async::<()>(&mut c)
            .await
            .map_err(|e| rerr("SET status", e))
    }

    /// A job's status, if it was registered.
    pub async fn get_status(&self, job_id: &str) -> Result<Option<v1::JobStatus>> {
        let mut c = self.conn.clone();
        let bytes: Option<Vec<u8>> = c
            .get(self.status_key(job_id))
            .await
            .map_err(|e| rerr("GET status", e))?;
        bytes
            .map(|b| {
                <v1::JobStatus as prost::Message>::decode(b.as_slice())
                    .map_err(|e| rerr(&format!("status of job {job_id} is unreadable"), e))
            })
            .transpose()
    }

    /// Registered jobs, newest first (at most `limit`, 0: all).
    pub async fn list_jobs(&self, limit: usize) -> Result<Vec<v1::JobStatus>> {
        let mut c = self.conn.clone();
        let stop = if limit == 0 { -1 } else { limit as isize - 1 };
        let ids: Vec<String> = c
            .zrevrange(self.registry_key(), 0, stop)
            .await
            .map_err(|e| rerr("ZREVRANGE jobs", e))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip for every status.
        let keys: Vec<String> = ids.iter().map(|id| self.status_key(id)).collect();
        let blobs: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .map_err(|e| rerr("MGET statuses", e))?;
        ids.iter()
            .zip(blobs)
            .filter_map(|(id, b)| b.map(|b| (id, b)))
            .map(|(id, b)| {
                <v1::JobStatus as prost::Message>::decode(b.as_slice())
                    .map_err(|e| rerr(&format!("status of job {id} is unreadable"), e))
            })
            .collect()
    }

    /// Mark a job cancelled (generators drop its work) or clear the mark.
    pub async fn set_cancelled(&self, job_id: &str, cancelled: bool) -> Result<()> {
        let mut c = self.conn.clone();
        let key = format!("{}:job:{job_id}:cancelled", self.prefix);
        if cancelled {
            c.set::<_, _, ()>(key, 1).await
        } else {
            c.del::<_, ()>(key).await
        }
        .map_err(|e| rerr("SET cancelled", e))
    }

    /// Whether a job is marked cancelled.
    pub async fn is_cancelled(&self, job_id: &str) -> Result<bool> {
        let mut c = self.conn.clone();
        c.exists(format!("{}:job:{job_id}:cancelled", self.prefix))
            .await
            .map_err(|e| rerr("EXISTS cancelled", e))
    }

    /// Whether Redis answers (readiness).
    pub async fn ping(&self) -> Result<()> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(|e| rerr("PING", e))
    }

    fn status_key(&self, job_id: &str) -> String {
        format!("{}:job:{job_id}:status", self.prefix)
    }

    fn members_key(&self, group: &str) -> String {
        format!("{}:members:{group}", self.prefix)
    }

    fn registry_key(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    fn job_key(&self, job_id: &str) -> String {
        format!("{}:job:{job_id}:bundle", self.prefix)
    }

    fn cache_key(&self, key: &Key) -> String {
        format!("{}:cache:{}", self.prefix, hex::encode(key))
    }
}

/// Members of a consumer group as a sorted set scored by their last heartbeat (ms).
#[async_trait]
impl crate::kafka::Membership for RedisState {
    async fn heartbeat(&self, group: &str, member: &str) -> Result<Vec<String>> {
        let mut c = self.conn.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let expired = now - crate::kafka::MEMBER_EXPIRY.as_millis() as i64;
        let key = self.members_key(group);
        let (members,): (Vec<String>,) = redis::pipe()
            .atomic()
            .zadd(&key, member, now)
            .ignore()
            .zrembyscore(&key, "-inf", expired)
            .ignore()
            .zrange(&key, 0, -1)
            .query_async(&mut c)
            .await
            .map_err(|e| rerr("heartbeat", e))?;
        let mut members = members;
        members.sort();
        Ok(members)
    }

    async fn leave(&self, group: &str, member: &str) {
        let mut c = self.conn.clone();
        let _ = c.zrem::<_, _, ()>(self.members_key(group), member).await;
    }
}

#[async_trait]
impl StateStore for RedisState {
    async fn cache_get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let mut c = self.conn.clone();
        c.get(self.cache_key(key)).await.map_err(|e| rerr("GET", e))
    }

    async fn cache_put(&self, key: Key, value: Vec<u8>) -> Result<()> {
        let mut c = self.conn.clone();
        let k = self.cache_key(&key);
        match self.ttl_secs {
            Some(ttl) => c.set_ex::<_, _, ()>(k, value, ttl).await,
            None => c.set::<_, _, ()>(k, value).await,
        }
        .map_err(|e| rerr("SET", e))
    }

    async fn flush(&self) -> Result<()> {
        Ok(())
    }
}
