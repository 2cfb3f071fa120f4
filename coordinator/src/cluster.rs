//! Cluster mode, coordinator side: drive one job over Kafka. Generators and validators
//! are other processes (`seedstream generator`, `seedstream validator`); the job's
//! bundle is in Redis for them; the response cache is Redis.
//!
//! The coordinator keeps no state of its own: it reads the job's verdicts from the start
//! of the results topic (a consumer group of its own per run, so a restarted coordinator
//! replays every verdict and rebuilds the same decisions), and republishes the shards of
//! the rounds it plans; shards answered before are served from the response cache, and
//! verdicts of slots already decided are ignored, so a restart costs time, not data.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use seedstream_core::bus::{Consumer, Delivery};
use seedstream_core::kafka::{KafkaConfig, KafkaPublisher, Topics};
use seedstream_core::messages::{ShardTask, Verdict};
use seedstream_core::redis_state::RedisState;
use seedstream_core::spec::Job;
use seedstream_core::Result;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::assemble::Assembler;
use crate::drive::{drive, finish, Outcome, Pacing};
use crate::progress::Progress;

/// Passes on only the verdicts of one job (others are acknowledged and skipped).
struct OneJob<C> {
    inner: C,
    job_id: String,
}

#[async_trait]
impl<C: Consumer<Verdict>> Consumer<Verdict> for OneJob<C> {
    async fn recv(&mut self) -> Result<Option<Delivery<Verdict>>> {
        loop {
            match self.inner.recv().await? {
                Some(d) if d.msg.candidate.job_id != self.job_id => {
                    d.ack();
                }
                other => return Ok(other),
            }
        }
    }
}

/// Where a cluster job runs.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The broker.
    pub kafka: KafkaConfig,
    /// Redis URL.
    pub redis_url: String,
    /// Key prefix in Redis.
    pub redis_prefix: String,
    /// Topic names.
    pub topics: Topics,
    /// Re-dispatch undecided shards after this long without progress (longer than any
    /// one request with its retries, or a slow endpoint is asked twice). `None`: the
    /// job's own [`default_redispatch_after`].
    pub redispatch_after: Option<std::time::Duration>,
    /// Say what a job is waiting for when it decides nothing for this long.
    pub stall_warn: std::time::Duration,
}

/// The longest one request of `job` may take with its retries, at least a minute.
pub fn default_redispatch_after(job: &Job) -> std::time::Duration {
    let m = &job.spec.model;
    std::time::Duration::from_millis(
        (m.timeout_ms * (m.max_retries as u64 + 1) + m.backoff_max_ms * m.max_retries as u64)
            .max(60_000),
    )
}

/// What every job of a coordinator shares: the Redis connection, and the producers of
/// shard tasks and accepted records (each librdkafka client has threads and broker
/// connections of its own: one per process, not one per job).
#[derive(Clone)]
pub struct Shared {
    state: RedisState,
    shards: KafkaPublisher<ShardTask>,
    accepted: KafkaPublisher<Vec<u8>>,
}

impl Shared {
    /// Connect to Redis, create the topics if missing, make the producers.
    pub async fn connect(cfg: &ClusterConfig) -> Result<Shared> {
        let state = RedisState::connect(&cfg.redis_url, &cfg.redis_prefix, None).await?;
        let t = &cfg.topics;
        t.ensure(&cfg.kafka).await?;
        Ok(Shared {
            state,
            shards: cfg.kafka.publisher::<ShardTask>(&t.shards)?,
            accepted: cfg.kafka.publisher::<Vec<u8>>(&t.accepted)?,
        })
    }

    /// The Redis state.
    pub fn state(&self) -> &RedisState {
        &self.state
    }
}

/// Store `job` for the other nodes and drive it to the end; the dataset goes to
/// `job.output_dir`, accepted records also to the accepted topic. `progress` is kept
/// up to date.
pub async fn run_job(
    job: Arc<Job>,
    cfg: &ClusterConfig,
    shared: &Shared,
    progress: Arc<Progress>,
    cancel: CancellationToken,
) -> Result<Outcome> {
    let started = Instant::now();
    shared.state.put_job(&job.bundle(), &job.id).await?;
    let t = &cfg.topics;
    let (shard_tx, accepted_tx) = (&shared.shards, &shared.accepted);
    // A group of its own for every run: read the job's verdicts from the beginning.
    // (Wall-clock time and pid: a reused group would resume from its committed offsets
    // and miss verdicts.)
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let nonce = now.as_nanos() ^ ((std::process::id() as u128) << 64);
    let group = format!("seedstream-coordinator-{}-{nonce:x}", job.id);
    let mut verdicts = OneJob {
        inner: cfg.kafka.consumer::<Verdict>(&t.results, &group)?,
        job_id: job.id.clone(),
    };
    std::fs::create_dir_all(&job.output_dir)
        .map_err(|e| seedstream_core::Error::io(&job.output_dir, e))?;
    let mut assembler = Assembler::new(job.clone(), &job.output_dir)?;
    assembler.stream_accepted();
    let mut workers = JoinSet::new();
    let mut publishers = JoinSet::new();
    let run_cancel = cancel.child_token();
    let (result, planned, rounds) = drive(
        &job,
        &mut assembler,
        shard_tx,
        &mut verdicts,
        &mut workers,
        &mut publishers,
        Pacing {
            window_slots: 4096,
            redispatch_after: Some(
                cfg.redispatch_after
                    .unwrap_or_else(|| default_redispatch_after(&job)),
            ),
            stall_warn: cfg.stall_warn,
        },
        Some(accepted_tx),
        &progress,
        &run_cancel,
        &cancel,
    )
    .await;
    run_cancel.cancel();
    publishers.abort_all();
    result?;
    finish(
        &job,
        assembler,
        planned,
        rounds,
        Default::default(),
        Default::default(),
        started,
    )
}
