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
