//! seedstream generator: turns shard tasks into candidates.
//!
//! For each slot of a shard it recomputes the slot's plan from the job, renders the
//! prompt, and answers it from the response cache (DESIGN.md invariant 4) or from a
//! model backend: OpenAI-compatible endpoints ([`seedstream_core::client`]) or a small
//! GGUF model in process ([`seedstream_local`]). Answers are cached before the
//! candidate is published, and a shard is acknowledged only once all its candidates
//! are published (at-least-once).
//!
//! Layout: [`Generator`] (shared per job), [`run`] (one consumer loop), [`service`]
//! (the `seedstream generator` process: Kafka in and out, jobs and cache in Redis).

pub mod service;

use std::sync::{Arc, Mutex};

use seedstream_core::metrics::{self, METRICS};
use std::time::Instant;

use seedstream_core::bus::{Consumer, Publisher};
use seedstream_core::client::{Completion, EndpointPool, Failure, Usage};
use seedstream_core::messages::{Candidate, ShardTask};
use seedstream_core::plan::{plan_slot, RoundPlan, SlotKey};
use seedstream_core::prompt::{ChatRequest, PromptBuilder};
use seedstream_core::record::codes;
use seedstream_core::spec::Job;
use seedstream_core::state::StateStore;
use seedstream_core::{Error, Result};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Where samples come from.
pub enum Backend {
    /// OpenAI-compatible endpoints.
    Remote(Arc<EndpointPool>),
    /// A GGUF model in process; one generation at a time (it uses every core). The
    /// string names the model file, so answers of another file are never reused.
    Local(Arc<Mutex<seedstream_local::LocalModel>>, String),
}

impl Backend {
    /// Load the local model at `gguf`.
    pub fn local(gguf: &std::path::Path) -> Result<Self> {
        let m = seedstream_local::LocalModel::load(gguf)
            .map_err(|e| Error::Endpoint(format!("loading {}: {e}", gguf.display())))?;
        let name = gguf
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Backend::Local(Arc::new(Mutex::new(m)), name))
    }

    /// Requests worth having in flight at once.
    pub fn capacity(&self) -> usize {
        match self {
            Backend::Remote(p) => p.capacity(),
            Backend::Local(..) => 1,
        }
    }
}

/// What every generator task of a job shares.
pub struct Generator {
    job: Arc<Job>,
    prompts: PromptBuilder,
    backend: Backend,
    state: Arc<dyn StateStore>,
    /// Caps the slots in flight over all generator loops of this process.
    in_flight: Arc<Semaphore>,
}

impl Generator {
    /// A generator for `job`.
    pub fn new(job: Arc<Job>, backend: Backend, state: Arc<dyn StateStore>) -> Arc<Self> {
        let cap = backend.capacity();
        Arc::new(Self {
            prompts: PromptBuilder::new(&job),
            job,
            backend,
            state,
            in_flight: Arc::new(Semaphore::new(cap)),
        })
    }

    /// The endpoint pool, when the backend is remote.
    pub fn pool(&self) -> Option<&Arc<EndpointPool>> {
        match &self.backend {
            Backend::Remote(p) => Some(p),
            Backend::Local(..) => None,
        }
    }

    /// Produce the candidate for one slot (cache first, then the backend).
    pub async fn candidate(
        &self,
        round: &RoundPlan,
        key: SlotKey,
        cancel: &CancellationToken,
    ) -> Result<Candidate> {
        let plan = plan_slot(&self.job, round, key.shard, key.slot);
        let req = match self.prompts.request(&self.job, &plan) {
            Ok(r) => r,
            Err(detail) => {
                let outcome = Err(Failure {
                    code: codes::PROMPT.into(),
                    detail,
                    attempts: 0,
                });
                return Ok(Candidate {
                    job_id: self.job.id.clone(),
                    key,
                    prompt_sha256: String::new(),
                    outcome,
                    cached: false,
                    latency_us: 0,
                });
            }
        };
        let body = req.body();
        let cache_key = match &self.backend {
            Backend::Remote(_) => ChatRequest::cache_key_of(&body),
            Backend::Local(_, file) => {
                use sha2::Digest;
                sha2::Sha256::new()
                    .chain_update(ChatRequest::cache_key_of(&body))
                    .chain_update(b"local\0")
                    .chain_update(file.as_bytes())
                    .finalize()
                    .into()
            }
        };
        let prompt_sha256 = req.prompt_sha256();
        if let Some(bytes) = self.state.cache_get(&cache_key).await? {
            if let Ok(c) = serde_json::from_slice::<Completion>(&bytes) {
                metrics::inc(&METRICS.slots_answered_cache);
                return Ok(Candidate {
                    job_id: self.job.id.clone(),
                    key,
                    prompt_sha256,
                    outcome: Ok(c),
                    cached: true,
                    latency_us: 0,
                });
            }
        }
        let started = Instant::now();
        let outcome = match &self.backend {
            Backend::Remote(pool) => {
                pool.complete(body.into(), &cache_key, &self.job.spec.task.fields, cancel)
                    .await
            }
            Backend::Local(model, _) => {
                local_complete(
                    model.clone(),
                    req.clone(),
                    self.job.spec.task.fields.clone(),
                )
                .await
            }
        };
        if let Err(f) = &outcome {
            if f.code == seedstream_core::client::MISCONFIGURED {
                return Err(Error::Endpoint(format!(
                    "{} (check model.endpoints, model.name and the API key)",
                    f.detail
                )));
            }
        }
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let latency_us = started.elapsed().as_micros() as u64;
        match &outcome {
            Ok(_) => {
                metrics::inc(&METRICS.slots_answered_endpoint);
                metrics::observe_latency_us(latency_us);
            }
            Err(_) => metrics::inc(&METRICS.slots_failed),
        }
        if let Ok(c) = &outcome {
            self.state
                .cache_put(
                    cache_key,
                    serde_json::to_vec(c).expect("completion serialises"),
                )
                .await?;
        }
        Ok(Candidate {
            job_id: self.job.id.clone(),
            key,
            prompt_sha256,
            outcome,
            cached: false,
            latency_us,
        })
    }
}

async fn local_complete(
    model: Arc<Mutex<seedstream_local::LocalModel>>,
    req: ChatRequest,
    fields: Vec<String>,
) -> Result<Completion, Failure> {
    let res = tokio::task::spawn_blocking(move || {
        let messages: Vec<(String, String)> = req
            .messages
            .iter()
            .map(|m| (m.role.clone(), m.content.clone()))
            .collect();
        let params = seedstream_local::GenParams {
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            seed: req.seed,
        };
        let mut m = model.lock().expect("local model lock");
        m.generate_json(&messages, &fields, &params)
            .map(|g| (g, fields))
    })
    .await;
    match res {
        Ok(Ok((g, fields))) => match seedstream_core::prompt::extract_fields(&g.content, &fields) {
            Some(f) => Ok(Completion {
                fields: f,
                usage: Usage {
                    prompt_tokens: g.prompt_tokens as u64,
                    completion_tokens: g.completion_tokens as u64,
                },
            }),
            None => Err(Failure {
                code: codes::UNPARSEABLE.into(),
                detail: format!("local model output: {}", g.content),
                attempts: 1,
            }),
        },
        Ok(Err(e)) => Err(Failure {
            code: codes::ENDPOINT_FAILED.into(),
            detail: format!("local model: {e}"),
            attempts: 1,
        }),
        Err(e) => Err(Failure {
            code: codes::ENDPOINT_FAILED.into(),
            detail: format!("local model task: {e}"),
            attempts: 1,
        }),
    }
}

/// Finds the [`Generator`] of a shard's job.
#[async_trait::async_trait]
pub trait Generators: Send + Sync {
    /// The generator for `job_id`.
    async fn for_job(&self, job_id: &str) -> Result<Arc<Generator>>;

    /// Whether `job_id` was cancelled (its pending work is dropped). May be up to a
    /// second stale.
    async fn cancelled(&self, _job_id: &str) -> bool {
        false
    }
}

/// One job (embedded mode).
#[async_trait::async_trait]
impl Generators for Arc<Generator> {
    async fn for_job(&self, job_id: &str) -> Result<Arc<Generator>> {
        if job_id == self.job.id {
            Ok(self.clone())
        } else {
            Err(Error::Bus(format!(
                "shard task of job {job_id} on a generator of job {}",
                self.job.id
            )))
        }
    }
}

/// One generator loop: consume shard tasks, publish candidates, ack each shard when all
/// its candidates are out. Returns when the shard topic closes or on cancel.
pub async fn run<G, C, P>(
    gens: G,
    mut shards: C,
    candidates: P,
    cancel: CancellationToken,
) -> Result<()>
where
    G: Generators,
    C: Consumer<ShardTask>,
    P: Publisher<Candidate> + Clone + 'static,
{
    let mut shard_tasks = tokio::task::JoinSet::new();
    loop {
        let delivery = tokio::select! {
            d = shards.recv() => d?,
            // A failed slot fails its shard: surface it now, not when the next shard
            // arrives (there may be none until this one is decided).
            Some(r) = shard_tasks.join_next(), if !shard_tasks.is_empty() => {
                r.map_err(|e| Error::Bus(format!("shard task: {e}")))??;
                continue;
            }
            _ = cancel.cancelled() => break,
        };
        let Some(delivery) = delivery else { break };
        let task = delivery.msg.clone();
        let attempt = task.attempt;
        // The shard's span continues the coordinator's trace (context from the headers).
        let shard_span = tracing::info_span!(
            "shard",
            job_id = %task.job_id,
            round = task.round,
            shard = task.shard,
            attempt
        );
        seedstream_core::telemetry::continue_trace(&shard_span, &delivery.trace);
        metrics::inc(&METRICS.shards_received);
        if gens.cancelled(&task.job_id).await {
            metrics::inc(&METRICS.shards_dropped);
            tracing::debug!(job_id = %task.job_id, "dropping a shard of a cancelled job");
            delivery.ack();
            continue;
        }
        let gen = match gens.for_job(&task.job_id).await {
            Ok(g) => g,
            Err(Error::UnknownJob(id)) => {
                // A shared topic carries other deployments' jobs too.
                tracing::warn!(job_id = %id, "skipping a shard task of a job this deployment does not have");
                delivery.ack();
                continue;
            }
            Err(e) => return Err(e),
        };
        let round = RoundPlan {
            round: task.round,
            slots: 0,
            shard_size: task.shard_size,
        };
        let mut slots = tokio::task::JoinSet::new();
        for slot in 0..task.slots {
            // Backpressure: take a slot permit before starting the slot.
            let permit = tokio::select! {
                p = gen.in_flight.clone().acquire_owned() => p.expect("semaphore open"),
                _ = cancel.cancelled() => break,
            };
            // A cancelled job's remaining slots are dropped with its shard.
            if gens.cancelled(&task.job_id).await {
                metrics::inc(&METRICS.shards_dropped);
                break;
            }
            let key = SlotKey {
                round: task.round,
                shard: task.shard,
                slot,
            };
            let (gen, out, cancel) = (gen.clone(), candidates.clone(), cancel.clone());
            let span = tracing::info_span!(parent: &shard_span, "slot", job_id = %task.job_id, round = key.round, shard = key.shard, slot);
            slots.spawn(
                async move {
                    let c = gen.candidate(&round, key, &cancel).await?;
                    drop(permit);
                    // A re-dispatched shard's candidates are keyed apart, so they can land on
                    // partitions whose consumers are alive.
                    let id = key.record_id(&c.job_id);
                    let k = if attempt == 0 {
                        id
                    } else {
                        format!("{id}#{attempt}")
                    };
                    out.publish(&k, c).await
                }
                .instrument(span),
            );
        }
        shard_tasks.spawn(async move {
            let mut result = Ok(());
            while let Some(r) = slots.join_next().await {
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => result = Err(e),
                    Err(e) => result = Err(Error::Bus(format!("slot task: {e}"))),
                }
            }
            if result.is_ok() {
                delivery.ack();
            }
            result
        });
    }
    while let Some(r) = shard_tasks.join_next().await {
        match r.map_err(|e| Error::Bus(format!("shard task: {e}")))? {
            Ok(()) | Err(Error::Cancelled) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
