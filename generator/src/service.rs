//! The `seedstream generator` process: consumes shard tasks from Kafka as a member of
//! the generators' consumer group, rebuilds each job from its bundle in Redis, answers
//! from the shared response cache (Redis) or the job's endpoints, and publishes
//! candidates. Any number of these run side by side; a killed one costs time, not data
//! (its unacknowledged shards are redelivered to the others).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedstream_core::client::EndpointPool;
use seedstream_core::kafka::{KafkaConfig, Topics};
use seedstream_core::messages::{Candidate, ShardTask};
use seedstream_core::redis_state::RedisState;
use seedstream_core::spec::Backend as BackendKind;
use seedstream_core::{Error, Result};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{Backend, Generator, Generators};

/// Configuration of a generator process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The broker.
    pub kafka: KafkaConfig,
    /// Redis URL.
    pub redis_url: String,
    /// Key prefix in Redis (one deployment).
    pub redis_prefix: String,
    /// How long cached answers are kept in Redis (`None`: until deleted).
    pub cache_ttl_s: Option<u64>,
    /// Topic names.
    pub topics: Topics,
    /// Consumer group of the generators.
    pub group: String,
    /// Environment variables a job may name in `model.api_key_env` (read in `main`).
    pub env: HashMap<String, String>,
}

/// Jobs rebuilt from Redis, one [`Generator`] each, kept for the life of the process.
struct ClusterJobs {
    state: RedisState,
    env: HashMap<String, String>,
    jobs: Mutex<HashMap<String, Arc<Generator>>>,
    /// Cancellation marks as last read, and when.
    cancelled: std::sync::Mutex<HashMap<String, (Instant, bool)>>,
}

#[async_trait::async_trait]
impl Generators for ClusterJobs {
    async fn cancelled(&self, job_id: &str) -> bool {
        if let Some((at, c)) = self.cancelled.lock().expect("lock").get(job_id) {
            if at.elapsed() < Duration::from_secs(1) {
                return *c;
            }
        }
        // Unknown (Redis down): keep working; the work is not lost either way.
        let c = self.state.is_cancelled(job_id).await.unwrap_or(false);
        self.cancelled
            .lock()
            .expect("lock")
            .insert(job_id.to_string(), (Instant::now(), c));
        c
    }

    async fn for_job(&self, job_id: &str) -> Result<Arc<Generator>> {
        let mut jobs = self.jobs.lock().await;
        if let Some(g) = jobs.get(job_id) {
            return Ok(g.clone());
        }
        let job = Arc::new(self.state.load_job(job_id).await?);
        let model = &job.spec.model;
        if model.backend != BackendKind::Openai {
            return Err(Error::Endpoint(format!(
                "job {job_id}: cluster generators serve OpenAI-compatible endpoints only"
            )));
        }
        let api_key = seedstream_core::spec::api_key(model.api_key_env.as_deref(), |v| {
            self.env.get(v).cloned()
        })
        .map_err(|e| Error::Endpoint(format!("job {job_id}: {e} on this generator")))?;
        let gen = Generator::new(
            job.clone(),
            Backend::Remote(EndpointPool::new(model, api_key)),
            Arc::new(self.state.clone()),
        );
        tracing::info!(job_id, "serving job");
        jobs.insert(job_id.to_string(), gen.clone());
        Ok(gen)
    }
}

/// Run a generator process until `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<()> {
    let state = RedisState::connect(&cfg.redis_url, &cfg.redis_prefix, cfg.cache_ttl_s).await?;
    let t = &cfg.topics;
    t.ensure(&cfg.kafka).await?;
    let shards =
        cfg.kafka
            .member_consumer::<ShardTask>(&t.shards, &cfg.group, Arc::new(state.clone()))?;
    let candidates = cfg.kafka.publisher::<Candidate>(&t.candidates)?;
    let jobs = ClusterJobs {
        state,
        env: cfg.env,
        jobs: Mutex::default(),
        cancelled: Default::default(),
    };
    crate::run(jobs, shards, candidates, shutdown).await
}
