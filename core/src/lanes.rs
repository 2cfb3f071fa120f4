//! The lane plan (issue 15, DESIGN.md "Refresh"): a plan keyed by content, so that a
//! change of sources moves only the slots of what changed. Pure functions, not yet used
//! by the planner (ARCHITECTURE.md, "Next: lanes"): the planner, the assembler and record
//! ids move onto them in the next steps.
//!
//! - Each chunk has an id from its document's name and its text ([`chunk_id`]) and its own
//!   lane of slots `k = 0, 1, 2, …`.
//! - Lanes are ordered by a keyed hash of their chunk id ([`Lanes::new`]): adding or
//!   removing a chunk never reorders the others.
//! - The canonical order of a round's slots interleaves lanes by `k`, then by lane order
//!   ([`Lanes::round_order`]).
//! - Every choice in a slot derives from `(job seed, chunk id, k)`: its endpoint seed
//!   ([`slot_seed`]) and its few-shot examples, chosen by rendezvous hashing on the
//!   examples' content ([`pick_examples`]), so adding an example changes only the choices
//!   it wins.
//! - Each lane needs a share of the accepted records ([`even_shares`]); rounds fill the
//!   lanes' deficits.

use sha2::{Digest, Sha256};

/// A chunk's id: the first 8 bytes of sha256 of its document's name and its text.
pub fn chunk_id(document: &str, text: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"seedstream-chunk-v1\0");
    h.update((document.len() as u64).to_le_bytes());
    h.update(document.as_bytes());
    h.update(text.as_bytes());
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// A content hash of a seed example (its fields' JSON), for rendezvous hashing.
pub fn example_id(fields: &serde_json::Map<String, serde_json::Value>) -> u64 {
    let bytes = serde_json::to_vec(fields).expect("a JSON map serialises");
    let h = Sha256::digest(&bytes);
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

/// splitmix64's finaliser: a keyed hash of one word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn keyed(seed: u64, purpose: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ purpose) ^ a) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

const ORDER: u64 = 0x6f72_6465_7200_0001;
const SEED: u64 = 0x7365_6564_0000_0002;
const PICK: u64 = 0x7069_636b_0000_0003;

/// The endpoint `seed` of slot `k` of a lane (below 2^31, which every server accepts).
pub fn slot_seed(job_seed: u64, chunk: u64, k: u32) -> u64 {
    keyed(job_seed, SEED, chunk, u64::from(k)) >> 33
}

/// `n` of `examples` (their [`example_id`]s) for slot `k` of a lane, by rendezvous
/// hashing: each example's weight is a keyed hash of `(job seed, chunk, k, example)`,
/// the `n` heaviest are chosen, in order of weight. Adding an example changes a slot's
/// choice only where the new one wins a place; removing one only where it had one.
pub fn pick_examples(job_seed: u64, chunk: u64, k: u32, examples: &[u64], n: usize) -> Vec<usize> {
    let slot = keyed(job_seed, PICK, chunk, u64::from(k));
    let mut w: Vec<(u64, usize)> = examples
        .iter()
        .enumerate()
        .map(|(i, &e)| (mix(slot ^ mix(e)), i))
        .collect();
    // Heaviest first; ties (equal content) by position, so the choice is total.
    w.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    w.into_iter().take(n).map(|(_, i)| i).collect()
}

/// The lanes of a job, in lane order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lanes {
    /// `(order key, chunk id, index into the job's chunks)`, sorted by order key.
    lanes: Vec<(u64, u64, usize)>,
}

impl Lanes {
    /// Lanes for chunks with these ids (by their index), ordered by a hash of each id
    /// keyed by the job seed. The same chunk text twice in one document is one lane (the
    /// first); a chunk's order does not depend on which other chunks exist.
    pub fn new(job_seed: u64, chunk_ids: &[u64]) -> Self {
        let mut lanes: Vec<(u64, u64, usize)> = chunk_ids
            .iter()
            .enumerate()
            .map(|(i, &id)| (keyed(job_seed, ORDER, id, 0), id, i))
            .collect();
        lanes.sort_unstable();
        lanes.dedup_by_key(|l| l.1);
        Self { lanes }
    }

    /// Number of lanes.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Chunk id of lane `lane`.
    pub fn chunk_id(&self, lane: usize) -> u64 {
        self.lanes[lane].1
    }

    /// The job's chunk index of lane `lane`.
    pub fn chunk(&self, lane: usize) -> usize {
        self.lanes[lane].2
    }

    /// The lanes' chunk ids, in lane order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.lanes.iter().map(|l| l.1)
    }

    /// A round's slots in canonical order: lane `l` gets `count[l]` slots starting at
    /// `first_k[l]` (its slots already planned); the slots are ordered by `k`, then by
    /// lane. Returns `(lane, k)` pairs.
    pub fn round_order(&self, first_k: &[u32], count: &[u32]) -> Vec<(u32, u32)> {
        assert_eq!(first_k.len(), self.lanes.len());
        assert_eq!(count.len(), self.lanes.len());
        let total: usize = count.iter().map(|&c| c as usize).sum();
        let mut out = Vec::with_capacity(total);
        // k-major: at each k, every lane whose range covers it, in lane order. Lanes
        // are visited at most once per k value present, so the cost is the slots plus
        // the lanes times the distinct k values (small: shares are even).
        let lo = first_k.iter().copied().min().unwrap_or(0);
        let hi = first_k
            .iter()
            .zip(count)
            .map(|(&f, &c)| f + c)
            .max()
            .unwrap_or(0);
        let mut active: Vec<u32> = (0..self.lanes.len() as u32)
            .filter(|&l| count[l as usize] > 0)
            .collect();
        for k in lo..hi {
            active.retain(|&l| first_k[l as usize] + count[l as usize] > k);
            for &l in &active {
                if k >= first_k[l as usize] {
                    out.push((l, k));
                }
            }
        }
        out
    }
}

/// Even shares of `target` records over `lanes` lanes, the remainder to the first lanes
/// in lane order. Adding or removing one lane changes the share of at most
/// `target % lanes`-many lanes plus the floors' step (see the tests).
pub fn even_shares(target: u64, lanes: usize) -> Vec<u64> {
    if lanes == 0 {
        return Vec::new();
    }
    let n = lanes as u64;
    (0..n)
        .map(|i| target / n + u64::from(i < target % n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<u64> {
        (0..n)
            .map(|i| chunk_id("doc.md", &format!("chunk {i}")))
            .collect()
    }

    #[test]
    fn chunk_ids_depend_on_document_and_text_only() {
        assert_eq!(chunk_id("a.md", "x"), chunk_id("a.md", "x"));
        assert_ne!(chunk_id("a.md", "x"), chunk_id("b.md", "x"));
        assert_ne!(chunk_id("a.md", "x"), chunk_id("a.md", "y"));
        // The name's length is part of the key: ("ab", "c") is not ("a", "bc").
        assert_ne!(chunk_id("ab", "c"), chunk_id("a", "bc"));
    }

    #[test]
    fn adding_or_removing_a_chunk_never_reorders_the_others() {
        let all = ids(200);
        let lanes = Lanes::new(7, &all);
        let order: Vec<u64> = lanes.ids().collect();
        // Remove every third chunk, add ten new ones: the survivors keep their order.
        let mut changed: Vec<u64> = all.iter().copied().step_by(3).collect();
        changed.extend((0..10).map(|i| chunk_id("new.md", &format!("n{i}"))));
        let after: Vec<u64> = Lanes::new(7, &changed).ids().collect();
        let kept: Vec<u64> = order
            .iter()
            .copied()
            .filter(|id| changed.contains(id))
            .collect();
        let kept_after: Vec<u64> = after
            .iter()
            .copied()
            .filter(|id| all.contains(id))
            .collect();
        assert_eq!(kept, kept_after);
        // Another job seed, another order.
        let other: Vec<u64> = Lanes::new(8, &all).ids().collect();
        assert_ne!(order, other);
    }

    #[test]
    fn rounds_interleave_lanes_by_k_then_lane() {
        let lanes = Lanes::new(1, &ids(3));
        assert_eq!(
            lanes.round_order(&[0, 0, 0], &[2, 1, 2]),
            [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1)]
        );
        // A later round continues each lane where it stopped.
        assert_eq!(
            lanes.round_order(&[2, 1, 2], &[1, 0, 2]),
            [(0, 2), (2, 2), (2, 3)]
        );
    }

    #[test]
    fn few_shot_choices_move_only_where_a_new_example_wins() {
        let examples: Vec<u64> = (0..20).map(|i| mix(i + 1)).collect();
        let mut more = examples.clone();
        more.push(mix(999));
        let (mut same, mut moved) = (0, 0);
        for k in 0..500 {
            let a = pick_examples(3, 42, k, &examples, 2);
            let b = pick_examples(3, 42, k, &more, 2);
            assert_eq!(a.len(), 2);
            if a == b {
                same += 1;
            } else {
                moved += 1;
                // The only change is the new example taking a place.
                assert!(b.contains(&20), "{a:?} → {b:?}");
            }
        }
        // About 2 in 21 slots pick the new example.
        assert!(moved > 20 && moved < 90, "moved {moved}, same {same}");
        // Deterministic, and another slot another choice.
        assert_eq!(
            pick_examples(3, 42, 1, &examples, 2),
            pick_examples(3, 42, 1, &examples, 2)
        );
        assert_ne!(slot_seed(3, 42, 1), slot_seed(3, 42, 2));
        assert!(slot_seed(3, 42, 1) < 1 << 31);
    }

    #[test]
    fn even_shares_add_up_and_move_little_when_a_lane_comes() {
        let s = even_shares(60, 7);
        assert_eq!(s.iter().sum::<u64>(), 60);
        assert_eq!(s, [9, 9, 9, 9, 8, 8, 8]);
        // One lane more: each share moves by at most one.
        let t = even_shares(60, 8);
        assert_eq!(t.iter().sum::<u64>(), 60);
        assert!(s.iter().zip(&t).all(|(a, b)| a.abs_diff(*b) <= 1));
        assert!(even_shares(5, 0).is_empty());
    }
}
