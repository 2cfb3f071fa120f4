//! The deterministic plan: rounds, shards, slots, and every random choice in them.
//!
//! Every choice comes from a ChaCha8 stream keyed by `(job seed, round, shard, slot)`
//! through sha256, so it is a pure function of the job: never of time, thread
//! scheduling or worker count (DESIGN.md invariant 1).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::Job;

/// Position of a slot in canonical order: `(round, shard, slot)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotKey {
    /// Round (0 first; later rounds make up for rejections).
    pub round: u32,
    /// Shard within the round.
    pub shard: u32,
    /// Slot within the shard.
    pub slot: u32,
}

impl SlotKey {
    /// The record id: stable for a job and slot (DESIGN.md invariant 2).
    pub fn record_id(&self, job_id: &str) -> String {
        format!("{job_id}:{}:{}:{}", self.round, self.shard, self.slot)
    }
}

/// Everything decided for one slot before any model call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    /// Where the slot sits.
    pub key: SlotKey,
    /// Index into `Job::chunks`.
    pub chunk: usize,
    /// Indexes into `Job::seed_examples`, in prompt order.
    pub few_shot: Vec<usize>,
    /// The `seed` sent to the endpoint (below 2^31, which every server accepts).
    pub seed: u64,
}

/// One round's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundPlan {
    /// Round number.
    pub round: u32,
    /// Slots in the round.
    pub slots: u64,
    /// Slots per shard (the last shard may hold fewer).
    pub shard_size: u32,
}

impl RoundPlan {
    /// Shards in the round.
    pub fn shards(&self) -> u32 {
        self.slots.div_ceil(self.shard_size as u64) as u32
    }
    /// Slots in `shard`.
    pub fn shard_len(&self, shard: u32) -> u32 {
        let start = shard as u64 * self.shard_size as u64;
        (self.slots - start).min(self.shard_size as u64) as u32
    }
}

/// A counter-based random stream for one purpose of one slot.
pub fn rng(job_seed: u64, purpose: &str, parts: &[u64]) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"seedstream-rng-v1\0");
    h.update(job_seed.to_le_bytes());
    h.update(purpose.as_bytes());
    for p in parts {
        h.update(p.to_le_bytes());
    }
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// Uniform integer in `0..n` without modulo bias (portable: only `next_u64`).
pub fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    assert!(n > 0);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let x = rng.next_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// Size of round `round` given the results of the rounds before it.
///
/// Round 0 asks for exactly `target` slots. Later rounds ask for the shortfall divided
/// by the acceptance rate seen so far (floored at 5%), plus 10%, within the budget.
/// A pure function of counts, so every run plans the same rounds.
///
/// `per_slot` is the records a slot is expected to make (a fan-out's list length; 1
/// otherwise): round 0 asks for `target / per_slot` slots, and no round for fewer than
/// the shortfall divided by it.
pub fn round_size(target: u64, max_slots: u64, planned: u64, accepted: u64, per_slot: u64) -> u64 {
    let left = max_slots.saturating_sub(planned);
    let per_slot = per_slot.max(1);
    if accepted >= target || left == 0 {
        return 0;
    }
    if planned == 0 {
        return target.div_ceil(per_slot).min(left);
    }
    let need = target - accepted;
    // rate = accepted / planned, floored at 1/20; slots = need / rate * 1.1.
    let rate_num = accepted.max(planned.div_ceil(20));
    let slots = (need as u128 * planned as u128 * 11).div_ceil(rate_num as u128 * 10) as u64;
    slots.max(need.div_ceil(per_slot)).min(left)
}

/// Counts at the moment half of a round was decided (in canonical order, so the same
/// for every run of the job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalfwaySnapshot {
    /// Records accepted over all rounds so far.
    pub accepted_total: u64,
    /// Records accepted in this round so far.
    pub round_accepted: u64,
    /// Slots of this round decided so far.
    pub round_decided: u64,
    /// Slots in the round.
    pub round_slots: u64,
}

/// Size of a round planned early, when the round before it is half decided, from the
/// shortfall projected at that round's acceptance rate (floored at 5%), plus 10%, plus a
/// margin of about two standard deviations.
/// Running the next round beside the tail of the current one keeps the endpoints busy
/// instead of idling for a whole round trip at each round boundary. 0 when no shortfall
/// is projected (the usual rule then applies when the round ends).
pub fn early_round_size(target: u64, max_slots: u64, planned: u64, s: &HalfwaySnapshot) -> u64 {
    let left = max_slots.saturating_sub(planned);
    if left == 0 || s.round_decided == 0 {
        return 0;
    }
    let d = s.round_decided as u128;
    let a = (s.round_accepted.max(s.round_decided.div_ceil(20))) as u128;
    let remaining = s.round_slots.saturating_sub(s.round_decided) as u128;
    // need × d = target·d − accepted·d − remaining·a
    let have = s.accepted_total as u128 * d + remaining * a;
    let want = target as u128 * d;
    if want <= have {
        return 0;
    }
    let need_d = want - have;
    let slots = (need_d * 11).div_ceil(a * 10) as u64;
    // Rejections in the second half vary (about √n): add two standard deviations so a
    // third round, one more round trip, is rarely needed.
    let margin = 2 * (slots as f64).sqrt().ceil() as u64 + 1;
    (slots + margin).min(left)
}

/// Plan one slot: which chunk, which few-shot examples, which endpoint seed.
pub fn plan_slot(job: &Job, round: &RoundPlan, shard: u32, slot: u32) -> SlotPlan {
    let seed = job.spec.seed;
    let key = SlotKey {
        round: round.round,
        shard,
        slot,
    };
    let ordinal = shard as u64 * round.shard_size as u64 + slot as u64;
    let chunk = chunk_for(seed, round.round, ordinal, job.chunks.len() as u64) as usize;
    let mut r = rng(
        seed,
        "slot",
        &[round.round as u64, shard as u64, slot as u64],
    );
    let few_shot = choose(&mut r, job.seed_examples.len(), job.spec.task.few_shot);
    let endpoint_seed = r.next_u64() >> 33;
    SlotPlan {
        key,
        chunk,
        few_shot,
        seed: endpoint_seed,
    }
}

/// Chunks are visited in passes: each pass is a seeded permutation of all chunks, so
/// every chunk gets its share of slots (no chunk starves by chance).
fn chunk_for(seed: u64, round: u32, ordinal: u64, n_chunks: u64) -> u64 {
    let pass = ordinal / n_chunks;
    let pos = ordinal % n_chunks;
    // Fisher-Yates prefix up to `pos`: O(n) per call would be slow for big corpora, so
    // use a keyed bijection (4-round Feistel over the next power of two, cycle-walking).
    let bits = 64 - (n_chunks.max(2) - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut r = rng(seed, "chunk-pass", &[round as u64, pass]);
    let keys = [r.next_u64(), r.next_u64(), r.next_u64(), r.next_u64()];
    let mut x = pos;
    loop {
        let (mut l, mut rr) = (x >> half, x & mask);
        for k in keys {
            let f = (rr.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k)
                .rotate_left(17)
                .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                >> 7;
            let nl = rr;
            rr = (l ^ f) & mask;
            l = nl;
        }
        x = (l << half) | rr;
        if x < n_chunks {
            return x;
        }
    }
}

/// `k` distinct indexes out of `n`, in drawn order (partial Fisher-Yates).
fn choose(r: &mut impl RngCore, n: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = i + below(r, (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feistel_pass_is_a_permutation() {
        for n in [1u64, 2, 3, 7, 10, 64, 100, 1000] {
            let mut seen: Vec<u64> = (0..n).map(|o| chunk_for(42, 0, o, n)).collect();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n={n}");
        }
    }

    #[test]
    fn passes_differ_and_are_stable() {
        let a: Vec<u64> = (0..50).map(|o| chunk_for(1, 0, o, 50)).collect();
        let b: Vec<u64> = (50..100).map(|o| chunk_for(1, 0, o, 50)).collect();
        assert_ne!(a, b);
        let a2: Vec<u64> = (0..50).map(|o| chunk_for(1, 0, o, 50)).collect();
        assert_eq!(a, a2);
    }

    #[test]
    fn rng_is_pinned() {
        // Pins the derivation: changing it changes every dataset ever made.
        let mut r = rng(7, "slot", &[0, 1, 2]);
        let first = r.next_u64();
        let mut r2 = rng(7, "slot", &[0, 1, 2]);
        assert_eq!(first, r2.next_u64());
        assert_ne!(first, rng(7, "slot", &[0, 1, 3]).next_u64());
    }

    #[test]
    fn choose_is_distinct() {
        let mut r = rng(3, "t", &[]);
        for _ in 0..100 {
            let mut c = choose(&mut r, 10, 4);
            c.sort();
            c.dedup();
            assert_eq!(c.len(), 4);
        }
    }

    #[test]
    fn round_sizes() {
        assert_eq!(round_size(100, 400, 0, 0, 1), 100);
        // 80 of 100 accepted: need 20 at 80% => 25, +10% => 28 (rounded up).
        assert_eq!(round_size(100, 400, 100, 80, 1), 28);
        assert_eq!(round_size(100, 400, 100, 100, 1), 0);
        // Budget caps.
        assert_eq!(round_size(100, 110, 100, 10, 1), 10);
        assert_eq!(round_size(100, 100, 100, 10, 1), 0);
        // Zero accepted: floored at 5%.
        assert_eq!(round_size(10, 1000, 10, 0, 1), 110);
        // A fan-out of 3 records a slot: a third of the slots, by the rate seen after.
        assert_eq!(round_size(100, 400, 0, 0, 3), 34);
        assert_eq!(round_size(100, 400, 34, 90, 3), 5);
    }

    #[test]
    fn early_round_sizes() {
        // 1000 of 2000 decided, 998 accepted: 2 short so far, 1000 left at 99.8% => 4 short.
        let s = HalfwaySnapshot {
            accepted_total: 998,
            round_accepted: 998,
            round_decided: 1000,
            round_slots: 2000,
        };
        assert_eq!(early_round_size(2000, 8000, 2000, &s), 5 + 2 * 3 + 1);
        // No projected shortfall: nothing early.
        let s = HalfwaySnapshot {
            accepted_total: 1000,
            round_accepted: 1000,
            round_decided: 1000,
            round_slots: 2000,
        };
        assert_eq!(early_round_size(2000, 8000, 2000, &s), 0);
        // Half rejected: 500 accepted, 1000 left at 50% => 1000 short => 2200 slots, within budget.
        let s = HalfwaySnapshot {
            accepted_total: 500,
            round_accepted: 500,
            round_decided: 1000,
            round_slots: 2000,
        };
        assert_eq!(early_round_size(2000, 8000, 2000, &s), 2200 + 2 * 47 + 1);
        assert_eq!(early_round_size(2000, 3000, 2000, &s), 1000);
    }

    #[test]
    fn round_shards() {
        let r = RoundPlan {
            round: 0,
            slots: 35,
            shard_size: 16,
        };
        assert_eq!(r.shards(), 3);
        assert_eq!(r.shard_len(0), 16);
        assert_eq!(r.shard_len(2), 3);
    }
}
