//! Exact and near-duplicate detection against the records kept so far.
//!
//! Exact duplicates are found by the exact hash; near-duplicates by MinHash with LSH
//! banding: the sketch is cut into `bands` bands of `rows` values, and a kept record is a
//! candidate when one whole band is equal. Candidates are then verified on the full
//! sketch, so the banding only decides which records are compared, never the threshold.
//! `rows` is the largest that still makes a pair at the threshold a candidate with
//! probability ≥ 0.995, which keeps candidate lists short.
//!
//! Decisions depend only on the order records are fed in: the caller feeds them in
//! canonical order, and among several kept matches the earliest kept one is named.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use seedstream_core::record::{codes, Reason};
use seedstream_core::spec::ValidateSpec;

use crate::signature::estimate_jaccard;
use crate::text::mix64;
use crate::Signature;

/// The greedy, order-independent dedup index of kept records.
#[derive(Debug, Clone)]
pub struct DedupIndex {
    threshold: f64,
    rows: usize,
    bands: usize,
    exact: HashMap<u64, u32, PassThrough>,
    /// Band key → the newest kept record in that bucket; older ones chain through `next`.
    /// (A chain instead of a `Vec` per bucket: one allocation-free push per band.)
    buckets: HashMap<u64, u32, PassThrough>,
    /// `next[k * bands + band]`: the record kept before `k` in the same bucket, or `NONE`.
    next: Vec<u32>,
    ids: Vec<String>,
    sketches: Vec<Vec<u32>>,
}

impl DedupIndex {
    /// An empty index with the spec's near-duplicate threshold and MinHash size.
    pub fn new(spec: &ValidateSpec) -> DedupIndex {
        let threshold = spec.diversity.near_duplicate_jaccard;
        let perms = spec.diversity.minhash_permutations.max(1);
        let (rows, bands) = banding(perms, threshold);
        DedupIndex {
            threshold,
            rows,
            bands,
            exact: HashMap::default(),
            buckets: HashMap::default(),
            next: Vec::new(),
            ids: Vec::new(),
            sketches: Vec::new(),
        }
    }

    /// Records kept so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when nothing was kept yet.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The kept record `sig` duplicates (code `DUPLICATE`: same normalised text) or
    /// near-duplicates (code `NEAR_DUPLICATE`: estimated Jaccard ≥ threshold), naming its
    /// id and the similarity; `None` when `sig` is new.
    pub fn check(&self, sig: &Signature) -> Option<Reason> {
        if let Some(&k) = self.exact.get(&sig.exact) {
            return Some(Reason::new(
                codes::DUPLICATE,
                format!(
                    "same normalised text as {} (similarity 1.00)",
                    self.ids[k as usize]
                ),
            ));
        }
        let mut best: Option<(u32, f64)> = None;
        for band in 0..self.bands {
            let Some(key) = band_key(band, self.rows, &sig.minhash) else {
                break;
            };
            let mut k = self.buckets.get(&key).copied().unwrap_or(NONE);
            while k != NONE {
                // The earliest kept match wins; later candidates cannot improve on it.
                if best.is_none_or(|(b, _)| k < b) {
                    let j = estimate_jaccard(&sig.minhash, &self.sketches[k as usize]);
                    if j >= self.threshold {
                        best = Some((k, j));
                    }
                }
                k = self.next[k as usize * self.bands + band];
            }
        }
        best.map(|(k, j)| {
            Reason::new(
                codes::NEAR_DUPLICATE,
                format!(
                    "near-duplicate of {} (estimated Jaccard {j:.2}, threshold {:.2})",
                    self.ids[k as usize], self.threshold
                ),
            )
        })
    }

    /// Record `sig` as kept under `id`.
    pub fn insert(&mut self, id: &str, sig: &Signature) {
        let k = u32::try_from(self.ids.len()).expect("fewer than 2^32 kept records");
        self.ids.push(id.to_string());
        self.sketches.push(sig.minhash.clone());
        self.exact.entry(sig.exact).or_insert(k);
        self.next.resize(self.next.len() + self.bands, NONE);
        for band in 0..self.bands {
            let Some(key) = band_key(band, self.rows, &sig.minhash) else {
                break;
            };
            let prev = self.buckets.insert(key, k).unwrap_or(NONE);
            self.next[k as usize * self.bands + band] = prev;
        }
    }
}

/// End of a bucket chain.
const NONE: u32 = u32::MAX;

/// (rows, bands) for `perms` MinHash values and a Jaccard `threshold`.
fn banding(perms: usize, threshold: f64) -> (usize, usize) {
    let t = threshold.clamp(0.0, 1.0);
    let mut best = (1, perms);
    for rows in 1..=perms.min(16) {
        let bands = perms / rows;
        let p = 1.0 - (1.0 - t.powi(rows as i32)).powi(bands as i32);
        if p >= 0.995 {
            best = (rows, bands);
        }
    }
    best
}

/// The bucket key of one band, or `None` when the sketch is too short for it.
fn band_key(band: usize, rows: usize, minhash: &[u32]) -> Option<u64> {
    let part = minhash.get(band * rows..(band + 1) * rows)?;
    let mut h = mix64(band as u64 ^ 0xba4d_0000_0000_0000);
    for &v in part {
        h = mix64(h ^ u64::from(v));
    }
    Some(h)
}

/// Keys are already uniformly mixed 64-bit hashes: hash them as they are.
#[derive(Debug, Clone, Copy, Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PassThrough = BuildHasherDefault<PassThroughHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(exact: u64, minhash: Vec<u32>) -> Signature {
        Signature { exact, minhash }
    }

    #[test]
    fn banding_meets_the_candidate_probability() {
        assert_eq!(banding(64, 0.7), (3, 21));
        let (r, b) = banding(128, 0.9);
        assert!(r * b <= 128 && r >= 2, "{r} {b}");
        assert_eq!(banding(1, 0.7), (1, 1));
    }

    #[test]
    fn exact_and_near_duplicates_are_found_and_named() {
        let spec = ValidateSpec::default();
        let mut idx = DedupIndex::new(&spec);
        let base: Vec<u32> = (0..64).map(|i| i * 7 + 1).collect();
        assert!(idx.check(&sig(1, base.clone())).is_none());
        idx.insert("job/r0/s0/0", &sig(1, base.clone()));
        assert_eq!(idx.len(), 1);

        let r = idx.check(&sig(1, vec![0; 64])).expect("exact duplicate");
        assert_eq!(r.code, codes::DUPLICATE);
        assert!(r.detail.contains("job/r0/s0/0"), "{}", r.detail);

        // 52 of 64 equal (0.81): near-duplicate.
        let mut near = base.clone();
        for v in near.iter_mut().skip(52) {
            *v += 1_000_000;
        }
        let r = idx.check(&sig(2, near)).expect("near duplicate");
        assert_eq!(r.code, codes::NEAR_DUPLICATE);
        assert!(
            r.detail.contains("job/r0/s0/0") && r.detail.contains("0.81"),
            "{}",
            r.detail
        );

        // 38 of 64 equal (0.59): different enough.
        let mut far = base.clone();
        for v in far.iter_mut().skip(38) {
            *v += 1_000_000;
        }
        assert!(idx.check(&sig(3, far)).is_none());
    }

    #[test]
    fn the_earliest_kept_match_is_named() {
        let spec = ValidateSpec::default();
        let mut idx = DedupIndex::new(&spec);
        let base: Vec<u32> = (0..64).collect();
        let mut second = base.clone();
        second[63] = 999;
        idx.insert("first", &sig(10, base.clone()));
        idx.insert("second", &sig(11, second));
        let mut probe = base;
        probe[0] = 12345;
        let r = idx.check(&sig(12, probe)).unwrap();
        assert!(r.detail.contains("of first"), "{}", r.detail);
    }
}
