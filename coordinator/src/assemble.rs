//! The assembler: takes verdicts in any order, decides them in canonical
//! `(round, shard, slot)` order, and writes the dataset.
//!
//! Decisions that depend on other records are made here, in canonical order, so they
//! do not depend on arrival order (DESIGN.md invariant 3): a near-duplicate loses to
//! the kept record before it, and once `target` records are accepted, later valid
//! records are rejected as `over_target` (kept in `rejected.jsonl`, never dropped).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use seedstream_core::dedup::{scope_key, DedupIndex, Signature};
use seedstream_core::messages::Verdict;
use seedstream_core::plan::{plan_slot, HalfwaySnapshot, RoundPlan, SlotKey};
use seedstream_core::record::{codes, Reason};
use seedstream_core::spec::Job;
use seedstream_core::{Error, Result};
use serde_json::{json, Map, Value};

/// A file written under a temporary name and renamed into place when complete, so an
/// interrupted run never leaves a half file that looks complete.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    w: BufWriter<File>,
}

impl AtomicFile {
    /// Start writing `dest` (as `dest.partial`).
    pub fn create(dest: &Path) -> Result<Self> {
        let tmp = dest.with_extension(format!(
            "{}.partial",
            dest.extension().and_then(|e| e.to_str()).unwrap_or("")
        ));
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
            w: BufWriter::with_capacity(1 << 16, f),
        })
    }
    /// Append bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).map_err(|e| Error::io(&self.tmp, e))
    }
    /// Flush, fsync, rename into place.
    pub fn commit(self) -> Result<()> {
        let f = self
            .w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))
    }
}

/// Write `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.write(bytes)?;
    f.commit()
}

/// Running totals for the manifest.
#[derive(Default)]
pub struct Totals {
    /// Slots decided.
    pub decided: u64,
    /// Records accepted.
    pub accepted: u64,
    /// Records rejected (every reason, `over_target` included).
    pub rejected: u64,
    /// Rejections by reason code (a record may have several).
    pub by_reason: BTreeMap<String, u64>,
    /// Answers from the response cache.
    pub cached: u64,
    /// Answers from the endpoint in this run.
    pub fresh: u64,
    /// Model requests behind the decided records answered from the cache (a flow's
    /// steps before its fan-out counted once per slot).
    pub requests_cached: u64,
    /// Model requests behind the decided records answered by the endpoint in this run.
    pub requests_fresh: u64,
    /// Prompt tokens of answers from the endpoint in this run.
    pub prompt_tokens: u64,
    /// Completion tokens of answers from the endpoint in this run.
    pub completion_tokens: u64,
    /// Score distributions of accepted records (value × 10 000).
    pub scores: BTreeMap<String, Histogram<u64>>,
    /// Latency of fresh answers, microseconds.
    pub latency_us: Option<Histogram<u64>>,
    /// Diversity of the accepted records (the manifest's `diversity`).
    pub diversity: serde_json::Value,
}

/// Where the assembler's canonical-order cursor stands.
#[derive(Debug, Clone, Copy)]
pub struct Waiting {
    /// The round being decided.
    pub round: u32,
    /// The ordinal in that round of the next slot to decide.
    pub next: u64,
    /// Slots in that round.
    pub round_slots: u64,
    /// Rounds planned after it.
    pub queued: usize,
    /// Verdicts received for later slots, held until the next one arrives.
    pub pending: usize,
}

/// Decides verdicts in canonical order and writes `samples.jsonl` and `rejected.jsonl`.
pub struct Assembler {
    job: std::sync::Arc<Job>,
    dir: PathBuf,
    dedup: DedupIndex,
    round: RoundPlan,
    /// Rounds planned after the current one, in order.
    queued: VecDeque<RoundPlan>,
    /// Next ordinal of the current round to decide.
    next: u64,
    /// Accepted in the current round so far.
    round_accepted: u64,
    /// Taken when the last planned round is half decided.
    halfway: Option<HalfwaySnapshot>,
    /// Verdicts waiting for their turn, by slot and item.
    pending: HashMap<(SlotKey, u32), Verdict>,
    /// Next item of the next slot to decide (a fan-out makes several records a slot).
    next_item: u32,
    samples: AtomicFile,
    rejected: AtomicFile,
    /// What was decided so far.
    pub totals: Totals,
    line: Vec<u8>,
    /// Accepted lines (id, JSON without newline) not yet taken, when streaming.
    stream: Option<Vec<(String, Vec<u8>)>>,
    diversity: crate::diversity::Diversity,
}

impl Assembler {
    /// An assembler writing into `dir` (which must exist).
    pub fn new(job: std::sync::Arc<Job>, dir: &Path) -> Result<Self> {
        let job_chunks = job.chunks.len();
        Ok(Self {
            dir: dir.to_path_buf(),
            dedup: DedupIndex::new(&job.spec.validate),
            job,
            round: RoundPlan {
                round: 0,
                slots: 0,
                shard_size: 1,
            },
            queued: VecDeque::new(),
            next: 0,
            round_accepted: 0,
            halfway: None,
            pending: HashMap::new(),
            next_item: 0,
            samples: AtomicFile::create(&dir.join("samples.jsonl"))?,
            rejected: AtomicFile::create(&dir.join("rejected.jsonl"))?,
            totals: Totals {
                latency_us: Some(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("bounds")),
                ..Totals::default()
            },
            line: Vec::with_capacity(4096),
            stream: None,
            diversity: crate::diversity::Diversity::new(job_chunks),
        })
    }

    /// Also keep each accepted record's line for [`Assembler::take_accepted`].
    pub fn stream_accepted(&mut self) {
        self.stream = Some(Vec::new());
    }

    /// Accepted records (id, JSON line without its newline) since the last call, in
    /// canonical order; empty unless [`Assembler::stream_accepted`] was called.
    pub fn take_accepted(&mut self) -> Vec<(String, Vec<u8>)> {
        self.stream.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Add `round` after the rounds planned so far (rounds are numbered in order).
    pub fn plan_round(&mut self, round: RoundPlan) {
        if self.all_done() {
            self.round = round;
            self.next = 0;
            self.round_accepted = 0;
        } else {
            self.queued.push_back(round);
        }
    }

    /// Whether every slot of every planned round is decided.
    pub fn all_done(&self) -> bool {
        self.next >= self.round.slots && self.queued.is_empty()
    }

    /// Shards of the planned rounds with a slot neither decided nor waiting to be
    /// (what a re-dispatch must send again).
    pub fn undecided_shards(&self) -> Vec<(RoundPlan, u32)> {
        let mut out = Vec::new();
        let rounds =
            std::iter::once((self.round, self.next)).chain(self.queued.iter().map(|r| (*r, 0)));
        for (round, next) in rounds {
            let first = (next / round.shard_size as u64) as u32;
            for shard in first..round.shards() {
                let missing = (0..round.shard_len(shard)).any(|slot| {
                    let ord = shard as u64 * round.shard_size as u64 + slot as u64;
                    ord >= next
                        && !self.pending.contains_key(&(
                            SlotKey {
                                round: round.round,
                                shard,
                                slot,
                            },
                            0,
                        ))
                });
                if missing {
                    out.push((round, shard));
                }
            }
        }
        out
    }

    /// Where canonical order stands (what the watchdog reports when nothing moves).
    pub fn waiting(&self) -> Waiting {
        Waiting {
            round: self.round.round,
            next: self.next,
            round_slots: self.round.slots,
            queued: self.queued.len(),
            pending: self.pending.len(),
        }
    }

    /// The counts at the halfway point of the last planned round, once (see
    /// [`seedstream_core::plan::early_round_size`]).
    pub fn take_halfway(&mut self) -> Option<HalfwaySnapshot> {
        self.halfway.take()
    }

    /// Take a verdict; decide every verdict that is now next in canonical order.
    /// Returns how many slots were decided. A duplicate delivery of a slot already
    /// decided or pending is ignored (at-least-once transport).
    pub fn offer(&mut self, v: Verdict) -> Result<u64> {
        let k = v.candidate.key;
        let item = v.candidate.item;
        let ord = k.shard as u64 * self.round.shard_size as u64 + k.slot as u64;
        if k.round < self.round.round
            || (k.round == self.round.round
                && (ord < self.next || (ord == self.next && item < self.next_item)))
        {
            return Ok(0);
        }
        self.pending.entry((k, item)).or_insert(v);
        let mut n = 0;
        loop {
            if self.next >= self.round.slots {
                match self.queued.pop_front() {
                    Some(r) => {
                        self.round = r;
                        self.next = 0;
                        self.round_accepted = 0;
                    }
                    None => break,
                }
            }
            let shard = (self.next / self.round.shard_size as u64) as u32;
            let slot = (self.next % self.round.shard_size as u64) as u32;
            let key = SlotKey {
                round: self.round.round,
                shard,
                slot,
            };
            let Some(v) = self.pending.remove(&(key, self.next_item)) else {
                break;
            };
            let items = v.candidate.items.max(1);
            if self.decide(v)? {
                self.round_accepted += 1;
            }
            self.next_item += 1;
            if self.next_item < items {
                continue;
            }
            self.next_item = 0;
            self.totals.decided += 1;
            self.next += 1;
            n += 1;
            if self.queued.is_empty() && self.next == self.round.slots.div_ceil(2) {
                self.halfway = Some(HalfwaySnapshot {
                    accepted_total: self.totals.accepted,
                    round_accepted: self.round_accepted,
                    round_decided: self.next,
                    round_slots: self.round.slots,
                });
            }
        }
        Ok(n)
    }

    /// Decide one verdict and write its line; returns whether it was accepted.
    fn decide(&mut self, mut v: Verdict) -> Result<bool> {
        let plan = plan_slot(
            &self.job,
            &self.round,
            v.candidate.key.shard,
            v.candidate.key.slot,
        );
        let t = &mut self.totals;
        let c = &v.candidate;
        let id = self.job.record_id(&c.key, c.item);
        if c.cached {
            t.cached += 1;
        } else if c.outcome.is_ok() {
            t.fresh += 1;
            if let Some(h) = t.latency_us.as_mut() {
                let _ = h.record(c.latency_us.max(1));
            }
        }
        // A slot's steps before its fan-out are behind every item: count them on item 0.
        let shared = if c.item == 0 {
            0
        } else {
            self.job.flow.fan_out.unwrap_or(0)
        };
        for s in c.steps.iter().skip(shared) {
            if s.cached {
                t.requests_cached += 1;
            } else {
                t.requests_fresh += 1;
            }
        }
        let mut reasons = v.reasons.clone();
        match &c.outcome {
            Err(f) => {
                reasons = vec![Reason::new(
                    &f.code,
                    format!("{} (after {} attempts)", f.detail, f.attempts),
                )]
            }
            Ok(done) => {
                // Tokens this run paid for; cached answers were paid by an earlier run.
                if !c.cached {
                    t.prompt_tokens += done.usage.prompt_tokens;
                    t.completion_tokens += done.usage.completion_tokens;
                }
                // Every record is checked against the kept ones, so a rejected record also
                // names the record it repeats; only an accepted one is kept. The signature
                // is only needed here: move it out of the verdict.
                let sig = Signature {
                    exact: v.exact,
                    minhash: std::mem::take(&mut v.minhash),
                    embedding: std::mem::take(&mut v.embedding),
                    answer_embedding: std::mem::take(&mut v.answer_embedding),
                    numbers: v.numbers,
                };
                let chunk = &self.job.chunks[plan.chunk];
                let scope = scope_key(
                    self.job.spec.validate.semantic.near_duplicate_scope,
                    &self.job.sources[chunk.doc as usize].path,
                    &chunk.text,
                );
                match self.dedup.check(&sig, scope) {
                    Some(r) => reasons.push(r),
                    // Rejected for its own reasons: not kept.
                    None if !reasons.is_empty() => {}
                    None if t.accepted < self.job.spec.target => {
                        self.dedup.insert(&id, &sig, scope)
                    }
                    None => reasons.push(Reason::new(
                        codes::OVER_TARGET,
                        format!(
                            "the job's target of {} records was already met",
                            self.job.spec.target
                        ),
                    )),
                }
                v.embedding = sig.embedding;
            }
        }
        let accepted = reasons.is_empty();
        if accepted {
            t.accepted += 1;
            crate::manifest::record_scores(&mut t.scores, &v.scores);
        } else {
            t.rejected += 1;
            for r in &reasons {
                *t.by_reason.entry(r.code.clone()).or_default() += 1;
            }
        }
        let rec = self.record(&v, &id, (!accepted).then_some(&reasons), &plan);
        self.line.clear();
        serde_json::to_writer(&mut self.line, &rec).expect("record serialises");
        self.line.push(b'\n');
        if accepted {
            if let Ok(done) = &v.candidate.outcome {
                let text = self.job.flow.record_text(&done.fields);
                self.diversity.add(&text, Some(plan.chunk), &v.embedding);
            }
            self.samples.write(&self.line)?;
            if let Some(s) = &mut self.stream {
                s.push((id, self.line[..self.line.len() - 1].to_vec()));
            }
        } else {
            self.rejected.write(&self.line)?;
        }
        Ok(accepted)
    }

    /// The output line: task fields at top level, then id, source, scores, provenance.
    fn record(
        &self,
        v: &Verdict,
        id: &str,
        reasons: Option<&Vec<Reason>>,
        plan: &seedstream_core::plan::SlotPlan,
    ) -> Value {
        let job = &self.job;
        let c = &v.candidate;
        let chunk = &job.chunks[plan.chunk];
        let mut m = Map::new();
        if let Ok(done) = &c.outcome {
            for f in &job.flow.record {
                m.insert(
                    f.name.clone(),
                    done.fields.get(&f.name).cloned().unwrap_or(Value::Null),
                );
            }
        }
        m.insert("id".into(), json!(id));
        let doc = &job.sources[chunk.doc as usize].path;
        m.insert(
            "source".into(),
            if doc.is_empty() {
                Value::Null
            } else {
                json!({"document": doc, "chunk": chunk.index})
            },
        );
        if !v.scores.is_empty() {
            m.insert("scores".into(), json!(v.scores));
        }
        let model = &job.spec.model;
        m.insert(
            "provenance".into(),
            json!({
                "job_id": job.id,
                "round": c.key.round,
                "shard": c.key.shard,
                "slot": c.key.slot,
                "seed": plan.seed,
                "model": model.name,
                "temperature": model.temperature,
                "top_p": model.top_p,
                "max_tokens": model.max_tokens,
                "few_shot": plan.few_shot.iter().map(|&i| job.seed_examples[i].id.as_str()).collect::<Vec<_>>(),
                "prompt_sha256": c.prompt_sha256,
            }),
        );
        if job.flow.fan_out.is_some() {
            m["provenance"]["item"] = json!(c.item);
        }
        m["provenance"]["steps"] = json!(c
            .steps
            .iter()
            .map(|s| json!({
                "name": s.name,
                "model": s.model,
                "prompt_sha256": s.prompt_sha256,
                "seed": s.seed,
                "prompt_tokens": s.usage.prompt_tokens,
                "completion_tokens": s.usage.completion_tokens,
            }))
            .collect::<Vec<_>>());
        if let Some(r) = reasons {
            let mut r = r.clone();
            seedstream_core::record::order_reasons(&mut r);
            m.insert("reasons".into(), json!(r));
        }
        Value::Object(m)
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rename both files into place.
    pub fn commit(mut self) -> Result<Totals> {
        self.samples.commit()?;
        self.rejected.commit()?;
        self.totals.diversity = self.diversity.report();
        Ok(self.totals)
    }
}
