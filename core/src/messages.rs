//! Messages on the bus. Small on purpose: a shard task names slots, and every service
//! recomputes what a slot means from the job (the plan is a pure function of it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::client::{Completion, Failure};
use crate::plan::SlotKey;
use crate::record::Reason;

/// Work for a generator: the slots `0..slots` of one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardTask {
    /// The job.
    pub job_id: String,
    /// Round of the shard.
    pub round: u32,
    /// Shard within the round.
    pub shard: u32,
    /// Slots in the shard.
    pub slots: u32,
    /// Slots per shard in this round (with `shard`, gives each slot's ordinal).
    pub shard_size: u32,
    /// 0 for the first dispatch; the coordinator re-dispatches a shard that made no
    /// progress (its consumer died and the broker did not hand its partition over), with
    /// a higher attempt, whose messages are keyed differently to land elsewhere.
    pub attempt: u32,
}

/// What a generator made of one slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The job.
    pub job_id: String,
    /// The slot.
    pub key: SlotKey,
    /// sha256 of the prompt messages.
    pub prompt_sha256: String,
    /// The endpoint's answer or why there is none.
    pub outcome: Result<Completion, Failure>,
    /// Whether the answer came from the response cache.
    pub cached: bool,
    /// Time to an answer, including retries (0 when cached).
    pub latency_us: u64,
    /// The record's index among the slot's records (a fan-out makes several; else 0).
    #[serde(default)]
    pub item: u32,
    /// How many records the slot made (at least 1: a slot that made none sends one
    /// failed candidate, so nothing is dropped silently).
    #[serde(default = "one")]
    pub items: u32,
    /// Every step's request behind the record, in flow order (provenance).
    #[serde(default)]
    pub steps: Vec<StepTrace>,
}

fn one() -> u32 {
    1
}

/// One step's request behind a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTrace {
    /// The step's name.
    pub name: String,
    /// The model asked.
    pub model: String,
    /// sha256 of the step's prompt messages.
    pub prompt_sha256: String,
    /// The `seed` sent.
    pub seed: u64,
    /// Tokens the answer cost (when it was made).
    pub usage: crate::client::Usage,
    /// Whether the answer came from the response cache.
    pub cached: bool,
}

/// What a validator decided about one candidate (before the order-dependent checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The candidate.
    pub candidate: Candidate,
    /// Every score, in [0, 1].
    pub scores: BTreeMap<String, f64>,
    /// Why it fails the per-record checks (empty: passes them).
    pub reasons: Vec<Reason>,
    /// Hash of the normalised text (exact duplicates).
    pub exact: u64,
    /// MinHash signature (near duplicates).
    pub minhash: Vec<u32>,
    /// The record's embedding (semantic near-duplicates); empty when semantic checks are
    /// off.
    pub embedding: Vec<f32>,
    /// The answer's embedding (semantic near-duplicates); empty when semantic checks are
    /// off.
    pub answer_embedding: Vec<f32>,
    /// Key of the answer's numbers on its chunk (near-duplicates that keep every number);
    /// 0 when it has too few.
    pub numbers: u64,
}
