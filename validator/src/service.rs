//! Validators as services: the loop that scores candidates into verdicts (embedded and
//! cluster alike), and the `seedstream validator` process (Kafka in and out, jobs from
//! Redis).
//!
//! Only per-record checks run here, in any order, on any node; decisions that depend on
//! other records (near-duplicates, the target) are the coordinator's, in canonical order.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use seedstream_core::bus::{Consumer, Publisher};
use seedstream_core::kafka::{KafkaConfig, Topics};
use seedstream_core::messages::{Candidate, Verdict};
use seedstream_core::metrics::{self, METRICS};
use seedstream_core::plan::{plan_slot, RoundPlan};
use seedstream_core::redis_state::RedisState;
use seedstream_core::spec::Job;
use seedstream_core::{Error, Result};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{PreparedChunk, Validator};

/// Scores candidates of one job; chunks are prepared once, on first use.
pub struct JobScorer {
    job: Arc<Job>,
    validator: Validator,
    chunks: Vec<OnceLock<PreparedChunk>>,
}

impl JobScorer {
    /// A scorer for `job` with its `validate` thresholds.
    pub fn new(job: Arc<Job>) -> Arc<Self> {
        let validator = Validator::new(&job.spec.validate, &job.spec.task.fields);
        let chunks = (0..job.chunks.len()).map(|_| OnceLock::new()).collect();
        Arc::new(Self {
            job,
            validator,
            chunks,
        })
    }

    /// Score one candidate against its chunk (per-record checks only).
    pub fn score(&self, c: Candidate) -> Verdict {
        match &c.outcome {
            Ok(done) => {
                let job = &self.job;
                let round = RoundPlan {
                    round: c.key.round,
                    slots: 0,
                    shard_size: job.spec.shard_size,
                };
                let chunk = plan_slot(job, &round, c.key.shard, c.key.slot).chunk;
                let prepared = self.chunks[chunk]
                    .get_or_init(|| self.validator.prepare_chunk(&job.chunks[chunk].text));
                let s = self.validator.score_prepared(&done.fields, prepared);
                Verdict {
                    scores: s.scores,
                    reasons: s.reasons,
                    exact: s.signature.exact,
                    minhash: s.signature.minhash,
                    candidate: c,
                }
            }
            Err(_) => Verdict {
                candidate: c,
                scores: Default::default(),
                reasons: vec![],
                exact: 0,
                minhash: vec![],
            },
        }
    }
}

/// Finds the scorer of a candidate's job.
#[async_trait::async_trait]
pub trait Scorers: Send + Sync {
    /// The scorer for `job_id`.
    async fn for_job(&self, job_id: &str) -> Result<Arc<JobScorer>>;
}

/// One job (embedded mode).
#[async_trait::async_trait]
impl Scorers for Arc<JobScorer> {
    async fn for_job(&self, job_id: &str) -> Result<Arc<JobScorer>> {
        if job_id == self.job.id {
            Ok(self.clone())
        } else {
            Err(Error::Bus(format!(
                "candidate of job {job_id} on a validator of job {}",
                self.job.id
            )))
        }
    }
}

/// One validator loop: score each candidate and publish its verdict, then ack it.
pub async fn validate_loop<S, C, P>(
    scorers: S,
    mut rx: C,
    tx: P,
    cancel: CancellationToken,
) -> Result<()>
where
    S: Scorers,
    C: Consumer<Candidate>,
    P: Publisher<Verdict>,
{
    loop {
        let d = tokio::select! {
            d = rx.recv() => d?,
            _ = cancel.cancelled() => return Ok(()),
        };
        let Some(d) = d else { return Ok(()) };
        let c = d.msg.clone();
        let scorer = match scorers.for_job(&c.job_id).await {
            Ok(s) => s,
            Err(Error::UnknownJob(id)) => {
                tracing::warn!(job_id = %id, "skipping a candidate of a job this deployment does not have");
                d.ack();
                continue;
            }
            Err(e) => return Err(e),
        };
        let key = c.key.record_id(&c.job_id);
        let span = tracing::info_span!(
            "validate",
            job_id = %c.job_id,
            round = c.key.round,
            shard = c.key.shard,
            slot = c.key.slot
        );
        seedstream_core::telemetry::continue_trace(&span, &d.trace);
        let started = std::time::Instant::now();
        let verdict = span.in_scope(|| scorer.score(c));
        metrics::inc(&METRICS.candidates_scored);
        if !verdict.reasons.is_empty() {
            metrics::inc(&METRICS.candidates_flagged);
        }
        METRICS.scoring_us.fetch_add(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        tx.publish(&key, verdict).instrument(span).await?;
        d.ack();
    }
}

/// Configuration of a validator process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The broker.
    pub kafka: KafkaConfig,
    /// Redis URL.
    pub redis_url: String,
    /// Key prefix in Redis (one deployment).
    pub redis_prefix: String,
    /// Topic names (candidates in, verdicts out).
    pub topics: Topics,
    /// Consumer group of the validators.
    pub group: String,
}

struct ClusterScorers {
    state: RedisState,
    jobs: Mutex<HashMap<String, Arc<JobScorer>>>,
}

#[async_trait::async_trait]
impl Scorers for ClusterScorers {
    async fn for_job(&self, job_id: &str) -> Result<Arc<JobScorer>> {
        let mut jobs = self.jobs.lock().await;
        if let Some(s) = jobs.get(job_id) {
            return Ok(s.clone());
        }
        let scorer = JobScorer::new(Arc::new(self.state.load_job(job_id).await?));
        jobs.insert(job_id.to_string(), scorer.clone());
        Ok(scorer)
    }
}

/// Run a validator process until `shutdown`.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> Result<()> {
    let state = RedisState::connect(&cfg.redis_url, &cfg.redis_prefix, None).await?;
    let t = &cfg.topics;
    t.ensure(&cfg.kafka).await?;
    let rx = cfg.kafka.member_consumer::<Candidate>(
        &t.candidates,
        &cfg.group,
        Arc::new(state.clone()),
    )?;
    let tx = cfg.kafka.publisher::<Verdict>(&t.results)?;
    validate_loop(
        ClusterScorers {
            state,
            jobs: Mutex::default(),
        },
        rx,
        tx,
        shutdown,
    )
    .await
}
