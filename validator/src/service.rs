//! Validators as services: the loop that scores candidates into verdicts (embedded and
//! cluster alike), and the `seedstream validator` process (Kafka in and out, jobs from
//! Redis).
//!
//! Only per-record checks run here, in any order, on any node; decisions that depend on
//! other records (near-duplicates, the target) are the coordinator's, in canonical order.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use seedstream_core::bus::{Consumer, Delivery, Publisher};
use seedstream_core::embed::EmbedCache;
use seedstream_core::kafka::{KafkaConfig, Topics};
use seedstream_core::messages::{Candidate, Verdict};
use seedstream_core::metrics::{self, METRICS};
use seedstream_core::plan::{plan_slot, RoundPlan};
use seedstream_core::redis_state::RedisState;
use seedstream_core::spec::Job;
use seedstream_core::state::StateStore;
use seedstream_core::{Error, Result};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::judge::{judge_for, Judge};
use crate::models::{Item, ModelChecks};
use crate::semantic::{embedder_for, EmbedEnv, Semantic};
use crate::{PreparedChunk, Validator};
use seedstream_core::record::{codes, Reason};

/// Scores candidates of one job; chunks are prepared once, on first use.
pub struct JobScorer {
    job: Arc<Job>,
    validator: Validator,
    chunks: Vec<OnceLock<PreparedChunk>>,
    semantic: Option<Semantic>,
    judge: Option<Arc<Judge>>,
    /// Signatures of the seed examples (a flow's record that copies one is rejected).
    seeds: Vec<(String, seedstream_core::dedup::Signature)>,
}

/// The key under which the text of `validate.diversity.fields` joins a record's view
/// for the semantic checks (its embedding is the record's, for near-duplicates).
const DIVERSITY_KEY: &str = "__diversity";

/// The fields the semantic checks and the judge read: the question (if any) and the
/// claim; none when the record has no claim (nothing to ground).
pub fn model_fields(job: &Job) -> Vec<String> {
    let v = job.flow.view_fields();
    if job.flow.document_is_chunk {
        // kind qa: every field, as before flows.
        return v.names;
    }
    match v.answer {
        Some(a) => v.names[..=a].to_vec(),
        None => Vec::new(),
    }
}

impl JobScorer {
    /// A scorer with the semantic checks (`embeddings`) and the LLM judge, each when given.
    pub fn with_checks(
        job: Arc<Job>,
        embeddings: Option<Arc<EmbedCache>>,
        judge: Option<Arc<Judge>>,
    ) -> Arc<Self> {
        let view = job.flow.view_fields();
        let validator =
            Validator::with_roles(&job.spec.validate, &view.names, view.question, view.answer)
                .signing(view.signed);
        // A flow's every generated text may copy the source (kind qa: its answer).
        let validator = if job.flow.document_is_chunk {
            validator
        } else {
            validator.copying_every_field(&job.spec.validate)
        };
        let chunks = (0..job.chunks.len()).map(|_| OnceLock::new()).collect();
        let diversity = job.spec.validate.diversity.fields.is_some();
        let semantic = embeddings.map(|e| {
            let s = if job.flow.document_is_chunk {
                Semantic::new(e, &job.spec.validate.semantic, &model_fields(&job))
            } else {
                Semantic::with_roles(
                    e,
                    &job.spec.validate.semantic,
                    &view.names[..view.signed],
                    view.question.filter(|&q| q < view.signed),
                    view.answer.filter(|&a| a < view.signed),
                )
            };
            if diversity {
                s.record_from(vec![DIVERSITY_KEY.to_string()])
            } else {
                s
            }
        });
        let seeds = if job.flow.document_is_chunk {
            Vec::new()
        } else {
            let empty = validator.prepare_chunk("");
            job.seed_examples
                .iter()
                .map(|ex| {
                    let view = job.flow.view(&ex.fields);
                    (
                        ex.id.clone(),
                        validator.score_prepared(&view, &empty).signature,
                    )
                })
                .collect()
        };
        Arc::new(Self {
            job,
            validator,
            chunks,
            semantic,
            judge,
            seeds,
        })
    }

    /// A scorer for `job`, with the embedder and the judge its spec asks for (the
    /// judge's verdicts are cached in `state`).
    pub async fn for_spec(
        job: Arc<Job>,
        env: &EmbedEnv,
        state: Arc<dyn StateStore>,
    ) -> Result<Arc<Self>> {
        let e = embedder_for(&job.spec.validate.semantic, env).await?;
        let j = judge_for(&job.spec.validate.judge, &model_fields(&job), env, state)?;
        Ok(Self::with_checks(job, e, j))
    }

    /// Whether the semantic checks or the judge run (candidates are then scored in
    /// batches).
    pub fn batched(&self) -> bool {
        self.model_checks().any()
    }

    fn model_checks(&self) -> ModelChecks<'_> {
        ModelChecks {
            semantic: self.semantic.as_ref(),
            judge: self.judge.as_deref(),
        }
    }

    /// The judge's counters, when a judge runs.
    pub fn judge_stats(&self) -> Option<std::collections::BTreeMap<&'static str, u64>> {
        self.judge.as_ref().map(|j| j.stats())
    }

    fn chunk_of(&self, c: &Candidate) -> usize {
        let round = RoundPlan {
            round: c.key.round,
            slots: 0,
            shard_size: self.job.spec.shard_size,
        };
        plan_slot(&self.job, &round, c.key.shard, c.key.slot).chunk
    }

    /// The lexical per-record checks of one candidate against its chunk.
    fn score_in(&self, c: Candidate, chunk: usize) -> Verdict {
        match &c.outcome {
            Ok(done) => {
                let prepared = self.chunks[chunk]
                    .get_or_init(|| self.validator.prepare_chunk(&self.job.chunks[chunk].text));
                let view;
                let fields = if self.job.flow.document_is_chunk {
                    &done.fields
                } else {
                    view = self.job.flow.view(&done.fields);
                    &view
                };
                let mut s = self.validator.score_prepared(fields, prepared);
                if let Some(names) = &self.job.spec.validate.diversity.fields {
                    let numbers = s.signature.numbers;
                    s.signature = self
                        .validator
                        .signature_of(&self.job.flow.text_of(names, &done.fields));
                    s.signature.numbers = numbers;
                }
                self.check_seed_copy(&mut s);
                Verdict {
                    scores: s.scores,
                    reasons: s.reasons,
                    exact: s.signature.exact,
                    minhash: s.signature.minhash,
                    embedding: Vec::new(),
                    answer_embedding: Vec::new(),
                    numbers: s.signature.numbers,
                    candidate: c,
                }
            }
            Err(_) => Verdict {
                candidate: c,
                scores: Default::default(),
                reasons: vec![],
                exact: 0,
                minhash: vec![],
                embedding: vec![],
                answer_embedding: vec![],
                numbers: 0,
            },
        }
    }

    /// A record of a flow that repeats a seed example (the same text, or MinHash-similar
    /// beyond `near_duplicate_jaccard`) is a copy, not new data.
    fn check_seed_copy(&self, s: &mut crate::Scored) {
        let min = self.job.spec.validate.diversity.near_duplicate_jaccard;
        for (id, sig) in &self.seeds {
            let j = seedstream_core::dedup::estimate_jaccard(&s.signature.minhash, &sig.minhash);
            if s.signature.exact == sig.exact || j >= min {
                s.reasons.push(Reason::new(
                    codes::COPIED,
                    format!("repeats seed example {id} (MinHash Jaccard {j:.2}, near_duplicate_jaccard {min:.2})"),
                ));
                return;
            }
        }
    }

    /// Score candidates of this job: the lexical checks, then, when on, the semantic
    /// ones and the judge for the whole batch at once ([`ModelChecks`]).
    pub async fn score_batch(&self, cs: Vec<Candidate>) -> Result<Vec<Verdict>> {
        // Each slot's chunk is planned once, for both kinds of checks.
        let chunks: Vec<usize> = cs.iter().map(|c| self.chunk_of(c)).collect();
        let mut out: Vec<Verdict> = cs
            .into_iter()
            .zip(&chunks)
            .map(|(c, &ch)| self.score_in(c, ch))
            .collect();
        if !self.batched() {
            return Ok(out);
        }
        let todo: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].candidate.outcome.is_ok())
            .collect();
        if todo.is_empty() {
            return Ok(out);
        }
        let checks = self.model_checks();
        // The semantic checks and the judge read the record as the validators do.
        let diversity = self.job.spec.validate.diversity.fields.as_ref();
        let views: Vec<serde_json::Map<String, serde_json::Value>> =
            if self.job.flow.document_is_chunk && diversity.is_none() {
                Vec::new()
            } else {
                todo.iter()
                    .map(|&i| {
                        let fields = &out[i]
                            .candidate
                            .outcome
                            .as_ref()
                            .expect("ok outcome")
                            .fields;
                        let mut view = self.job.flow.view(fields);
                        if let Some(names) = diversity {
                            view.insert(
                                DIVERSITY_KEY.into(),
                                self.job.flow.text_of(names, fields).into(),
                            );
                        }
                        view
                    })
                    .collect()
            };
        let items: Vec<Item<'_>> = todo
            .iter()
            .enumerate()
            .map(|(n, &i)| {
                let v = &out[i];
                let fields = match views.get(n) {
                    Some(view) => view,
                    None => &v.candidate.outcome.as_ref().expect("ok outcome").fields,
                };
                (
                    fields,
                    self.job.chunks[chunks[i]].text.as_str(),
                    &v.reasons[..],
                )
            })
            .collect();
        let found = checks.run(&items).await?;
        drop(items);
        for (&i, f) in todo.iter().zip(found) {
            let v = &mut out[i];
            (v.embedding, v.answer_embedding) = checks.apply(f, &mut v.scores, &mut v.reasons);
        }
        Ok(out)
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
    // Candidates received but not yet scored: the head of the next batch.
    let mut next: Option<Delivery<Candidate>> = None;
    loop {
        let d = match next.take() {
            Some(d) => d,
            None => {
                let d = tokio::select! {
                    d = rx.recv() => d?,
                    _ = cancel.cancelled() => return Ok(()),
                };
                let Some(d) = d else { return Ok(()) };
                d
            }
        };
        let job_id = d.msg.job_id.clone();
        let scorer = match scorers.for_job(&job_id).await {
            Ok(s) => s,
            Err(Error::UnknownJob(id)) => {
                tracing::warn!(job_id = %id, "skipping a candidate of a job this deployment does not have");
                d.ack();
                continue;
            }
            Err(e) => return Err(e),
        };
        // With embeddings or a judge, score what has arrived together (up to a batch, waiting at
        // most 2 ms for more): one model call for the lot.
        let mut batch = vec![d];
        let mut closed = false;
        if scorer.batched() {
            while batch.len() < MAX_BATCH {
                match tokio::time::timeout(std::time::Duration::from_millis(2), rx.recv()).await {
                    Ok(Ok(Some(d))) if d.msg.job_id == job_id => batch.push(d),
                    Ok(Ok(Some(d))) => {
                        next = Some(d);
                        break;
                    }
                    Ok(Ok(None)) => {
                        closed = true;
                        break;
                    }
                    Ok(Err(e)) => return Err(e),
                    Err(_) => break,
                }
            }
        }
        let spans: Vec<tracing::Span> = batch
            .iter()
            .map(|d| {
                let c = &d.msg;
                let span = tracing::info_span!(
                    "validate",
                    job_id = %c.job_id,
                    round = c.key.round,
                    shard = c.key.shard,
                    slot = c.key.slot
                );
                seedstream_core::telemetry::continue_trace(&span, &d.trace);
                span
            })
            .collect();
        let started = std::time::Instant::now();
        let cs: Vec<Candidate> = batch.iter().map(|d| d.msg.clone()).collect();
        let verdicts = scorer.score_batch(cs).await?;
        METRICS.scoring_us.fetch_add(
            started.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        for ((d, verdict), span) in batch.into_iter().zip(verdicts).zip(spans) {
            metrics::inc(&METRICS.candidates_scored);
            if !verdict.reasons.is_empty() {
                metrics::inc(&METRICS.candidates_flagged);
            }
            let key = verdict.candidate.key.record_id(&verdict.candidate.job_id);
            tx.publish(&key, verdict).instrument(span).await?;
            d.ack();
        }
        if closed && next.is_none() {
            return Ok(());
        }
    }
}

/// Most candidates scored together when embeddings or the judge are on.
const MAX_BATCH: usize = 64;

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
    /// Where the local embedding model is cached; API keys jobs may name.
    pub embed: EmbedEnv,
}

struct ClusterScorers {
    state: RedisState,
    embed: EmbedEnv,
    jobs: Mutex<HashMap<String, Arc<JobScorer>>>,
}

#[async_trait::async_trait]
impl Scorers for ClusterScorers {
    async fn for_job(&self, job_id: &str) -> Result<Arc<JobScorer>> {
        let mut jobs = self.jobs.lock().await;
        if let Some(s) = jobs.get(job_id) {
            return Ok(s.clone());
        }
        let job = Arc::new(self.state.load_job(job_id).await?);
        let scorer = JobScorer::for_spec(job, &self.embed, Arc::new(self.state.clone())).await?;
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
            embed: cfg.embed.clone(),
            jobs: Mutex::default(),
        },
        rx,
        tx,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedstream_core::client::{Completion, Usage};
    use seedstream_core::plan::SlotKey;
    use seedstream_core::spec::Overrides;
    use std::collections::BTreeMap;

    #[tokio::test]
    async fn an_instruct_record_that_repeats_a_seed_example_is_copied() {
        let seeds = "{\"id\": \"s1\", \"instruction\": \"Give three synonyms for the word quick.\", \"response\": \"Fast, rapid and swift.\"}\n{\"id\": \"s2\", \"instruction\": \"Convert 5 kilometres to miles.\", \"response\": \"About 3.1 miles.\"}\n";
        let yaml = "name: t\ntarget: 2\nseed_examples: s.jsonl\ntask:\n  kind: instruct\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\nvalidate:\n  semantic: {backend: none}\n";
        let files = BTreeMap::from([("s.jsonl".to_string(), seeds.to_string())]);
        let job = Arc::new(
            Job::from_submission("job.yaml", yaml, &files, &Overrides::default()).unwrap(),
        );
        let scorer = JobScorer::with_checks(job.clone(), None, None);
        let cand = |slot: u32, instruction: &str, response: &str| {
            let mut fields = serde_json::Map::new();
            fields.insert("instruction".into(), instruction.into());
            fields.insert("response".into(), response.into());
            Candidate {
                job_id: job.id.clone(),
                key: SlotKey {
                    round: 0,
                    shard: 0,
                    slot,
                },
                prompt_sha256: String::new(),
                outcome: Ok(Completion {
                    fields,
                    usage: Usage::default(),
                }),
                cached: false,
                latency_us: 0,
                item: 0,
                items: 1,
                steps: vec![],
            }
        };
        let vs = scorer
            .score_batch(vec![
                cand(
                    0,
                    "Give three synonyms for the word quick!",
                    "Fast, rapid and swift.",
                ),
                cand(
                    1,
                    "Name two antonyms of the word ancient.",
                    "Modern and new.",
                ),
            ])
            .await
            .unwrap();
        let codes =
            |i: usize| -> Vec<&str> { vs[i].reasons.iter().map(|r| r.code.as_str()).collect() };
        assert_eq!(codes(0), ["copied"], "{:?}", vs[0].reasons);
        assert!(vs[0].reasons[0].detail.contains("seed example s1"));
        assert!(codes(1).is_empty(), "{:?}", vs[1].reasons);
        // No grounding checks and no grounding scores for a record with no claim.
        assert!(!vs[1].scores.contains_key("faithfulness"));
        assert_eq!(vs[1].candidate.outcome.as_ref().unwrap().fields.len(), 2);
    }
}
