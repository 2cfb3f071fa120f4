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

mod local_typed;
pub mod service;

use std::sync::{Arc, Mutex};

use seedstream_core::metrics::{self, METRICS};
use std::time::Instant;

use seedstream_core::bus::{Consumer, Publisher};
use seedstream_core::client::{Completion, EndpointPool, Failure, Usage};
use seedstream_core::messages::{Candidate, ShardTask, StepTrace};
use seedstream_core::plan::{plan_slot, RoundPlan, SlotKey, SlotPlan};
use seedstream_core::prompt::{extract_typed, ChatRequest, FlowPrompts, StepInput, SCHEMA_MISFIT};
use seedstream_core::record::codes;
use seedstream_core::spec::flow::check_object;
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
    prompts: FlowPrompts,
    backend: Backend,
    /// Per step: its own endpoints' pool, when the step names endpoints.
    step_pools: Vec<Option<Arc<EndpointPool>>>,
    state: Arc<dyn StateStore>,
    /// Caps the slots in flight over all generator loops of this process.
    in_flight: Arc<Semaphore>,
}

/// One step's answer for one slot (or fan-out item).
struct StepAnswer {
    fields: serde_json::Map<String, serde_json::Value>,
    trace: StepTrace,
    latency_us: u64,
}

/// The answers of a run of steps, or the failure that stopped it.
struct Run {
    answers: Vec<StepAnswer>,
    failure: Option<Failure>,
    prompt_sha256: String,
}

impl Generator {
    /// A generator for `job`.
    pub fn new(job: Arc<Job>, backend: Backend, state: Arc<dyn StateStore>) -> Arc<Self> {
        let cap = backend.capacity();
        let step_pools = job
            .flow
            .steps
            .iter()
            .map(|s| match (&backend, s.endpoints.is_empty()) {
                (Backend::Remote(p), false) => Some(p.sibling(&job.spec.model, &s.endpoints)),
                _ => None,
            })
            .collect();
        Arc::new(Self {
            prompts: FlowPrompts::new(&job),
            job,
            backend,
            step_pools,
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

    /// Run step `step` of a planned slot: its request answered from the cache, else by
    /// the backend (then cached). `Ok(Err)`: the step failed (the record is rejected
    /// with the reason); `Err`: the job cannot go on (misconfigured endpoint, cancel).
    async fn step(
        &self,
        plan: &SlotPlan,
        step: usize,
        input: StepInput<'_>,
        cancel: &CancellationToken,
    ) -> Result<(Result<StepAnswer, Failure>, String)> {
        let s = &self.job.flow.steps[step];
        let req = match self.prompts.request(&self.job, plan, step, input) {
            Ok(r) => r,
            Err(detail) => {
                return Ok((
                    Err(Failure {
                        code: codes::PROMPT.into(),
                        detail,
                        attempts: 0,
                    }),
                    String::new(),
                ))
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
        let trace = |usage: Usage, cached: bool| StepTrace {
            name: s.name.clone(),
            model: req.model.clone(),
            prompt_sha256: prompt_sha256.clone(),
            seed: req.seed,
            usage,
            cached,
        };
        if let Some(bytes) = self.state.cache_get(&cache_key).await? {
            if let Ok(c) = serde_json::from_slice::<Completion>(&bytes) {
                metrics::inc(&METRICS.slots_answered_cache);
                return Ok((
                    Ok(StepAnswer {
                        trace: trace(c.usage, true),
                        fields: c.fields,
                        latency_us: 0,
                    }),
                    prompt_sha256,
                ));
            }
        }
        let started = Instant::now();
        let outputs = &s.outputs;
        let mut outcome = match &self.backend {
            Backend::Remote(pool) => {
                let pool = self.step_pools[step].as_ref().unwrap_or(pool);
                let extract = |content: &str| extract_typed(content, outputs);
                pool.complete_with(body.into(), &cache_key, &extract, cancel)
                    .await
            }
            Backend::Local(model, _) => {
                let names = local_typed::string_fields(outputs);
                local_complete(model.clone(), req.clone(), names)
                    .await
                    .map(|c| Completion {
                        fields: local_typed::assemble(outputs, &c.fields),
                        usage: c.usage,
                    })
                    .and_then(|c| match check_object(outputs, &c.fields) {
                        Ok(()) => Ok(c),
                        Err(e) => Err(Failure {
                            code: codes::FORMAT.into(),
                            detail: format!("step {}: {e}", s.name),
                            attempts: 1,
                        }),
                    })
            }
        };
        if let Err(f) = &mut outcome {
            if f.code == seedstream_core::client::MISCONFIGURED {
                return Err(Error::Endpoint(format!(
                    "{} (check model.endpoints, model.name and the API key)",
                    f.detail
                )));
            }
            // JSON that parses but does not fit the step's types is a format problem
            // (the field is named in the detail).
            if f.code == codes::UNPARSEABLE && f.detail.contains(SCHEMA_MISFIT) {
                f.code = codes::FORMAT.into();
            }
            if self.job.flow.steps.len() > 1 {
                f.detail = format!("step {}: {}", s.name, f.detail);
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
        Ok((
            outcome.map(|c| StepAnswer {
                trace: trace(c.usage, false),
                fields: c.fields,
                latency_us,
            }),
            prompt_sha256,
        ))
    }

    /// Run steps `from..to` in order, each seeing what the earlier ones wrote; stop at
    /// the first failure.
    async fn run_steps(
        &self,
        plan: &SlotPlan,
        range: std::ops::Range<usize>,
        outputs: &mut serde_json::Map<String, serde_json::Value>,
        item: Option<(u32, &serde_json::Value)>,
        cancel: &CancellationToken,
    ) -> Result<Run> {
        let mut run = Run {
            answers: Vec::new(),
            failure: None,
            prompt_sha256: String::new(),
        };
        for step in range {
            let input = StepInput {
                item,
                steps: outputs,
            };
            let (outcome, sha) = self.step(plan, step, input, cancel).await?;
            run.prompt_sha256 = sha;
            match outcome {
                Ok(a) => {
                    outputs.insert(
                        self.job.flow.steps[step].name.clone(),
                        serde_json::Value::Object(a.fields.clone()),
                    );
                    run.answers.push(a);
                }
                Err(f) => {
                    run.failure = Some(f);
                    break;
                }
            }
        }
        Ok(run)
    }

    /// The candidates of one slot: its flow's steps in order (the steps from a
    /// `for_each` on once per item), each request from the cache or the backend. One
    /// candidate per record the slot makes, at least one (a failed one says why).
    pub async fn candidates(
        &self,
        round: &RoundPlan,
        key: SlotKey,
        cancel: &CancellationToken,
    ) -> Result<Vec<Candidate>> {
        let plan = plan_slot(&self.job, round, key.shard, key.slot);
        let flow = &self.job.flow;
        let fan = flow.fan_out.unwrap_or(flow.steps.len());
        let mut outputs = serde_json::Map::new();
        let shared = self
            .run_steps(&plan, 0..fan, &mut outputs, None, cancel)
            .await?;
        if shared.failure.is_some() || flow.fan_out.is_none() {
            return Ok(vec![
                self.candidate(key, 0, 1, None, &shared, None, &outputs)
            ]);
        }
        let list_name = flow.steps[fan].for_each.as_deref().expect("fan-out step");
        let list: Vec<serde_json::Value> = outputs
            .values()
            .find_map(|o| o.get(list_name))
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if list.is_empty() {
            let mut run = shared;
            run.failure = Some(Failure {
                code: codes::FORMAT.into(),
                detail: format!(
                    "step {}: for_each {list_name}: the list is empty, so the slot made no record",
                    flow.steps[fan].name
                ),
                attempts: 0,
            });
            return Ok(vec![self.candidate(key, 0, 1, None, &run, None, &outputs)]);
        }
        let items = list.len() as u32;
        let runs = futures::future::join_all(list.iter().enumerate().map(|(i, v)| {
            let mut outs = outputs.clone();
            let plan = &plan;
            async move {
                let run = self
                    .run_steps(
                        plan,
                        fan..flow.steps.len(),
                        &mut outs,
                        Some((i as u32, v)),
                        cancel,
                    )
                    .await?;
                Ok::<_, Error>((run, outs))
            }
        }))
        .await;
        let mut out = Vec::with_capacity(list.len());
        for (i, r) in runs.into_iter().enumerate() {
            let (run, outs) = r?;
            out.push(self.candidate(
                key,
                i as u32,
                items,
                Some(&shared),
                &run,
                Some(&list[i]),
                &outs,
            ));
        }
        Ok(out)
    }

    /// A record's candidate from the answers behind it: `shared` (the steps before a
    /// fan-out, paid once per slot: their tokens count on item 0) and `own`.
    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &self,
        key: SlotKey,
        item: u32,
        items: u32,
        shared: Option<&Run>,
        own: &Run,
        item_value: Option<&serde_json::Value>,
        outputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Candidate {
        let flow = &self.job.flow;
        let answers: Vec<&StepAnswer> = shared
            .into_iter()
            .flat_map(|r| &r.answers)
            .chain(&own.answers)
            .collect();
        let shared_n = shared.map_or(0, |r| r.answers.len());
        let mut usage = Usage::default();
        let mut latency_us = 0;
        for (n, a) in answers.iter().enumerate() {
            let counts = n >= shared_n || item == 0;
            if !a.trace.cached && counts {
                usage.prompt_tokens += a.trace.usage.prompt_tokens;
                usage.completion_tokens += a.trace.usage.completion_tokens;
                latency_us += a.latency_us;
            }
        }
        let cached = answers.iter().all(|a| a.trace.cached);
        let steps: Vec<StepTrace> = answers.iter().map(|a| a.trace.clone()).collect();
        let outcome = match &own.failure {
            Some(f) => Err(f.clone()),
            None => {
                let mut fields = serde_json::Map::new();
                for f in &flow.record {
                    let v = if flow
                        .steps
                        .iter()
                        .any(|s| s.item_as.as_deref() == Some(&f.name))
                    {
                        item_value.cloned()
                    } else {
                        outputs.values().find_map(|o| o.get(&f.name)).cloned()
                    };
                    fields.insert(f.name.clone(), v.unwrap_or(serde_json::Value::Null));
                }
                Ok(Completion { fields, usage })
            }
        };
        // A single-step answer from the cache costs nothing in this run; a record's
        // tokens are what this run paid for it (see above).
        let outcome = match outcome {
            Ok(mut c) if cached => {
                c.usage = answers.iter().fold(Usage::default(), |mut u, a| {
                    u.prompt_tokens += a.trace.usage.prompt_tokens;
                    u.completion_tokens += a.trace.usage.completion_tokens;
                    u
                });
                Ok(c)
            }
            o => o,
        };
        Candidate {
            job_id: self.job.id.clone(),
            key,
            prompt_sha256: own.prompt_sha256.clone(),
            outcome,
            cached: cached && own.failure.is_none(),
            latency_us,
            item,
            items,
            steps,
        }
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
                    let cs = gen.candidates(&round, key, &cancel).await?;
                    drop(permit);
                    for c in cs {
                        // A re-dispatched shard's candidates are keyed apart, so they can
                        // land on partitions whose consumers are alive.
                        let id = gen.job.record_id(&key, c.item);
                        let k = if attempt == 0 {
                            id
                        } else {
                            format!("{id}#{attempt}")
                        };
                        out.publish(&k, c).await?;
                    }
                    Ok(())
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
