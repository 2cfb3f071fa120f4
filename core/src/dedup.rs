//! Exact and near-duplicate detection against the records kept so far.
//!
//! Exact duplicates are found by the exact hash; near-duplicates by MinHash with LSH
//! banding: the sketch is cut into `bands` bands of `rows` values, and a kept record is a
//! candidate when one whole band is equal. Candidates are then verified on the full
//! sketch, so the banding only decides which records are compared, never the threshold.
//! `rows` is the largest that still makes a pair at the threshold a candidate with
//! probability ≥ 0.995, which keeps candidate lists short.
//!
//! Same numbers: a record whose answer gives the same set of at least
//! `validate.diversity.same_numbers_min` distinct numbers as a kept record's, on the same
//! chunk ([`Signature::numbers`]), is a near-duplicate: a rewording that changes every
//! word keeps its facts' numbers ("By 25 minutes, from 15 to 40." after "25 minutes
//! longer: 40 minutes instead of 15.").
//!
//! Semantic near-duplicates (records with an embedding): cosine similarity at or above
//! `validate.semantic.near_duplicate_cosine`. Candidates come from random-hyperplane LSH
//! (bands of 8 sign bits, as many as make a pair at the threshold share a band with
//! probability ≥ 0.995: 31 bands at 0.8, 16 at 0.9, 52 at the defaults, whose lower
//! threshold is 0.7) and are verified on the vectors, kept as 8-bit codes with a
//! per-vector scale. Records about one subject share bands so often that the buckets
//! list most of them; then the scope's records are scanned in order instead (exact, and
//! cheaper than walking the buckets). A record is only compared with kept records of its
//! scope ([`scope_key`]: the job, its document or its chunk).
//!
//! Decisions depend only on the order records are fed in: the caller feeds them in
//! canonical order, and among several kept matches the earliest kept one is named.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::record::{codes, Reason};
use crate::spec::{NearDuplicateScope, ValidateSpec};

/// What a record is, for duplicate detection (computed by validators, decided on by the
/// assembler in canonical order).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Signature {
    /// Hash of the normalised text (lowercased words and normalised numbers, punctuation
    /// and spacing dropped) of all task fields, in field order.
    pub exact: u64,
    /// MinHash sketch of the word shingles of all task fields.
    pub minhash: Vec<u32>,
    /// The record's embedding (unit vector; empty when semantic checks are off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embedding: Vec<f32>,
    /// The answer's embedding (unit vector; empty when semantic checks are off).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_embedding: Vec<f32>,
    /// Key of the set of numbers the answer gives, on its chunk: two records with the
    /// same key are near-duplicates (`validate.diversity.same_numbers_min`). 0 when the
    /// answer gives fewer than that many distinct numbers, or the check is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub numbers: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Share of equal positions of two MinHash sketches: the estimated Jaccard similarity.
pub fn estimate_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / n as f64
}

/// The splitmix64 finaliser (portable: signatures are equal on every machine).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A splitmix64 stream, for seeded constants (MinHash permutations, hyperplanes).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
}

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
    /// Numbers key ([`Signature::numbers`]) → the first kept record with it.
    numbers: HashMap<u64, u32, PassThrough>,
    semantic: SemIndex,
}

const SEM_ROWS: usize = 8;
/// Most hyperplane bands (thresholds below about 0.6 get fewer than 0.995).
const SEM_MAX_BANDS: usize = 64;

/// Bands of [`SEM_ROWS`] sign bits that make a pair at cosine `threshold` share a band
/// with probability ≥ 0.995 (a random hyperplane separates two vectors at angle θ with
/// probability θ/π).
fn sem_bands(threshold: f32) -> usize {
    let t = f64::from(threshold).clamp(-1.0, 1.0);
    let agree = 1.0 - t.acos() / std::f64::consts::PI;
    let band = agree.powi(SEM_ROWS as i32);
    if band >= 1.0 {
        return 1;
    }
    let bands = (0.005f64.ln() / (1.0 - band).ln()).ceil();
    (bands as usize).clamp(1, SEM_MAX_BANDS)
}

/// Kept records' embeddings, banded by hyperplane signs.
#[derive(Debug, Clone, Default)]
struct SemIndex {
    threshold: f32,
    /// The record similarity at which answers are compared (1.0: never).
    with_answer: f32,
    /// The answer similarity that makes such a pair near-duplicates.
    answer_threshold: f32,
    bands: usize,
    dim: usize,
    /// `bands * SEM_ROWS` hyperplanes of `dim` values, made for the first vector.
    planes: Vec<f32>,
    /// Band key (mixed with the scope) → (newest entry, entries in the bucket).
    buckets: HashMap<u64, (u32, u32), PassThrough>,
    next: Vec<u32>,
    /// Scope → its entries, oldest first.
    scopes: HashMap<u64, Vec<u32>, PassThrough>,
    /// Scan the scope when its buckets list at least `1 / scan_below` of it
    /// ([`SCAN_BELOW`]; 0 never scans, for tests).
    scan_below: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    /// Answers' codes and scales (a zero scale: no answer).
    answer_codes: Vec<i8>,
    answer_scales: Vec<f32>,
    /// Semantic entry → kept record.
    owner: Vec<u32>,
}

impl SemIndex {
    fn planes_for(dim: usize, bands: usize) -> Vec<f32> {
        // Gaussian values from a fixed splitmix64 stream (Box–Muller): the same planes on
        // every machine, so the same candidates.
        let mut stream = SplitMix64(0x5eed_5eed_5eed_5eed);
        let mut next = || (stream.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (0..bands * SEM_ROWS * dim)
            .map(|_| {
                let (u1, u2) = (next().max(1e-300), next());
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect()
    }

    fn keys(&self, v: &[f32], scope: u64) -> Vec<u64> {
        let scope = mix64(scope ^ 0x5c09_e000_0000_0000);
        let mut keys = vec![0u64; self.bands];
        for (band, key) in keys.iter_mut().enumerate() {
            let mut bits = 0u64;
            for r in 0..SEM_ROWS {
                let p = &self.planes[(band * SEM_ROWS + r) * self.dim..][..self.dim];
                let d = dot_f32(p, v);
                bits = (bits << 1) | u64::from(d >= 0.0);
            }
            *key = mix64(bits ^ ((band as u64) << 32) ^ 0x5e3a_0000_0000_0000 ^ scope);
        }
        keys
    }

    fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        let codes = v.iter().map(|x| (x / max * 127.0).round() as i8).collect();
        (codes, max / 127.0)
    }

    fn dot(kept: &[i8], codes: &[i8]) -> i32 {
        kept.iter()
            .zip(codes)
            .map(|(a, b)| i32::from(*a) * i32::from(*b))
            .sum()
    }

    fn cosine_to(&self, k: usize, codes: &[i8], scale: f32) -> f32 {
        Self::dot(&self.codes[k * self.dim..][..self.dim], codes) as f32 * self.scales[k] * scale
    }

    fn answer_cosine_to(&self, k: usize, codes: &[i8], scale: f32) -> f32 {
        Self::dot(&self.answer_codes[k * self.dim..][..self.dim], codes) as f32
            * self.answer_scales[k]
            * scale
    }

    /// The answer's codes and scale (zeros and 0 without an answer of this dimension).
    fn quantize_answer(&self, a: &[f32]) -> (Vec<i8>, f32) {
        if a.len() == self.dim {
            Self::quantize(a)
        } else {
            (vec![0; self.dim], 0.0)
        }
    }

    /// Whether kept entry `k` is a near-duplicate of the record with `codes` (answer
    /// `acodes`): the record similarity, and the answers' similarity when that decided.
    fn matches(
        &self,
        k: u32,
        (codes, scale): (&[i8], f32),
        (acodes, ascale): (&[i8], f32),
    ) -> Option<(f32, Option<f32>)> {
        let c = self.cosine_to(k as usize, codes, scale);
        if self.threshold < 1.0 && c >= self.threshold {
            return Some((c, None));
        }
        if self.with_answer < 1.0 && c >= self.with_answer && ascale > 0.0 {
            let ac = self.answer_cosine_to(k as usize, acodes, ascale);
            if ac >= self.answer_threshold {
                return Some((c, Some(ac)));
            }
        }
        None
    }

    /// The earliest kept entry of `scope` that `v` (answer `a`) near-duplicates:
    /// (entry, record similarity, the answers' similarity when that decided).
    ///
    /// When the bands' buckets hold few entries, those candidates are gathered, sorted
    /// and verified once each, earliest first. When they hold many (records on one
    /// topic share bands often, and LSH cannot tell them from pairs at the threshold),
    /// the scope's entries are scanned in order instead, which is exact and cheaper
    /// than walking the buckets. Either way the first match is the answer.
    fn best(&self, v: &[f32], a: &[f32], scope: u64) -> Option<(u32, f32, Option<f32>)> {
        if v.len() != self.dim {
            return None;
        }
        let members = self.scopes.get(&scope)?;
        let keys = self.keys(v, scope);
        let hits: Vec<(usize, u32, u32)> = keys
            .iter()
            .enumerate()
            .filter_map(|(band, key)| self.buckets.get(key).map(|&(k, n)| (band, k, n)))
            .collect();
        let q = Self::quantize(v);
        let qa = self.quantize_answer(a);
        let q = (&q.0[..], q.1);
        let qa = (&qa.0[..], qa.1);
        let listed: usize = hits.iter().map(|&(_, _, n)| n as usize).sum();
        if self.scan_below > 0 && listed * self.scan_below >= members.len() {
            return members
                .iter()
                .find_map(|&k| self.matches(k, q, qa).map(|(c, ac)| (k, c, ac)));
        }
        let mut candidates: Vec<u32> = Vec::with_capacity(listed);
        for (band, mut k, _) in hits {
            while k != NONE {
                candidates.push(k);
                k = self.next[k as usize * self.bands + band];
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .find_map(|k| self.matches(k, q, qa).map(|(c, ac)| (k, c, ac)))
    }

    fn insert(&mut self, owner: u32, v: &[f32], a: &[f32], scope: u64) {
        if v.is_empty() {
            return;
        }
        if self.dim == 0 {
            self.dim = v.len();
            self.planes = Self::planes_for(self.dim, self.bands);
        }
        if v.len() != self.dim {
            return;
        }
        let k = self.owner.len() as u32;
        let (codes, scale) = Self::quantize(v);
        self.codes.extend(codes);
        self.scales.push(scale);
        let (acodes, ascale) = self.quantize_answer(a);
        self.answer_codes.extend(acodes);
        self.answer_scales.push(ascale);
        self.owner.push(owner);
        self.scopes.entry(scope).or_default().push(k);
        self.next.resize(self.next.len() + self.bands, NONE);
        for (band, key) in self.keys(v, scope).into_iter().enumerate() {
            let bucket = self.buckets.entry(key).or_insert((NONE, 0));
            self.next[k as usize * self.bands + band] = bucket.0;
            *bucket = (k, bucket.1 + 1);
        }
    }
}

/// `a · b`, summed in eight lanes (a fixed order, so the same on every machine, and one
/// the compiler turns into vector instructions; a single running sum it cannot).
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The scope key of a record from `document` whose chunk is `chunk` (its text, or any
/// string naming it) under the job's `validate.semantic.near_duplicate_scope`: records
/// with equal keys are compared for semantic near-duplicates. 0 for `job`.
pub fn scope_key(scope: NearDuplicateScope, document: &str, chunk: &str) -> u64 {
    let hash = |parts: &[&str]| {
        // FNV-1a over the parts with a separator, then mixed: stable across builds.
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for part in parts {
            for b in part.bytes().chain([0xff]) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        mix64(h) | 1
    };
    match scope {
        NearDuplicateScope::Job => 0,
        NearDuplicateScope::Document => hash(&[document]),
        NearDuplicateScope::Chunk => hash(&[document, chunk]),
    }
}

/// Bucket entries (counted once per band they share) below `scope size / SCAN_BELOW`
/// are walked; at or above it, the scope is scanned.
const SCAN_BELOW: usize = 4;

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
            numbers: HashMap::default(),
            semantic: {
                let sem = &spec.semantic;
                let threshold = sem.near_duplicate_cosine as f32;
                let with_answer = if sem.near_duplicate_answer_cosine < 1.0 {
                    sem.near_duplicate_cosine_with_answer as f32
                } else {
                    1.0
                };
                SemIndex {
                    threshold,
                    with_answer,
                    answer_threshold: sem.near_duplicate_answer_cosine as f32,
                    // Candidates must include pairs at the lower of the two thresholds.
                    bands: sem_bands(threshold.min(with_answer)),
                    scan_below: SCAN_BELOW,
                    ..Default::default()
                }
            },
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
    /// near-duplicates (code `NEAR_DUPLICATE`: estimated Jaccard ≥ threshold, the same
    /// numbers on the same chunk, or close in meaning), naming its id and the similarity;
    /// `None` when `sig` is new.
    ///
    /// Semantic near-duplicates are only looked for among kept records of the same
    /// `scope` (see [`scope_key`]; 0 for every record); same-numbers ones among those of
    /// the same chunk (the chunk is part of the key); exact and MinHash ones among all.
    pub fn check(&self, sig: &Signature, scope: u64) -> Option<Reason> {
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
        if let Some((k, j)) = best {
            return Some(Reason::new(
                codes::NEAR_DUPLICATE,
                format!(
                    "near-duplicate of {} (estimated Jaccard {j:.2}, threshold {:.2})",
                    self.ids[k as usize], self.threshold
                ),
            ));
        }
        if let Some(&k) = (sig.numbers != 0)
            .then(|| self.numbers.get(&sig.numbers))
            .flatten()
        {
            return Some(Reason::new(
                codes::NEAR_DUPLICATE,
                format!(
                    "same numbers as {}, on the same chunk",
                    self.ids[k as usize]
                ),
            ));
        }
        let sem = &self.semantic;
        if sem.threshold < 1.0 || sem.with_answer < 1.0 {
            if let Some((e, c, answers)) = sem.best(&sig.embedding, &sig.answer_embedding, scope) {
                let k = sem.owner[e as usize];
                let detail = match answers {
                    None => format!(
                        "same meaning as {} (cosine {c:.2}, threshold {:.2})",
                        self.ids[k as usize], sem.threshold
                    ),
                    Some(a) => format!(
                        "same answer as {} (answers' cosine {a:.2} ≥ {:.2}, records' {c:.2} ≥ {:.2})",
                        self.ids[k as usize], sem.answer_threshold, sem.with_answer
                    ),
                };
                return Some(Reason::new(codes::NEAR_DUPLICATE, detail));
            }
        }
        None
    }

    /// Record `sig` as kept under `id`, in `scope`.
    pub fn insert(&mut self, id: &str, sig: &Signature, scope: u64) {
        let k = u32::try_from(self.ids.len()).expect("fewer than 2^32 kept records");
        self.ids.push(id.to_string());
        self.sketches.push(sig.minhash.clone());
        self.exact.entry(sig.exact).or_insert(k);
        if sig.numbers != 0 {
            self.numbers.entry(sig.numbers).or_insert(k);
        }
        self.next.resize(self.next.len() + self.bands, NONE);
        for band in 0..self.bands {
            let Some(key) = band_key(band, self.rows, &sig.minhash) else {
                break;
            };
            let prev = self.buckets.insert(key, k).unwrap_or(NONE);
            self.next[k as usize * self.bands + band] = prev;
        }
        if self.semantic.threshold < 1.0 || self.semantic.with_answer < 1.0 {
            self.semantic
                .insert(k, &sig.embedding, &sig.answer_embedding, scope);
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
        Signature {
            exact,
            minhash,
            embedding: Vec::new(),
            answer_embedding: Vec::new(),
            numbers: 0,
        }
    }

    #[test]
    fn hyperplane_bands_meet_the_candidate_probability() {
        assert_eq!(sem_bands(0.9), 16);
        assert_eq!(sem_bands(0.8), 31);
        assert_eq!(sem_bands(1.0), 1);
        assert_eq!(sem_bands(0.3), SEM_MAX_BANDS);
        for t in [0.7f32, 0.8, 0.85, 0.9, 0.95] {
            let agree = 1.0 - f64::from(t).acos() / std::f64::consts::PI;
            let p = 1.0 - (1.0 - agree.powi(SEM_ROWS as i32)).powi(sem_bands(t) as i32);
            assert!(p >= 0.995, "{t}: {p}");
        }
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
        assert!(idx.check(&sig(1, base.clone()), 0).is_none());
        idx.insert("job/r0/s0/0", &sig(1, base.clone()), 0);
        assert_eq!(idx.len(), 1);

        let r = idx.check(&sig(1, vec![0; 64]), 0).expect("exact duplicate");
        assert_eq!(r.code, codes::DUPLICATE);
        assert!(r.detail.contains("job/r0/s0/0"), "{}", r.detail);

        // 52 of 64 equal (0.81): near-duplicate.
        let mut near = base.clone();
        for v in near.iter_mut().skip(52) {
            *v += 1_000_000;
        }
        let r = idx.check(&sig(2, near), 0).expect("near duplicate");
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
        assert!(idx.check(&sig(3, far), 0).is_none());
    }

    #[test]
    fn the_earliest_kept_match_is_named() {
        let spec = ValidateSpec::default();
        let mut idx = DedupIndex::new(&spec);
        let base: Vec<u32> = (0..64).collect();
        let mut second = base.clone();
        second[63] = 999;
        idx.insert("first", &sig(10, base.clone()), 0);
        idx.insert("second", &sig(11, second), 0);
        let mut probe = base;
        probe[0] = 12345;
        let r = idx.check(&sig(12, probe), 0).unwrap();
        assert!(r.detail.contains("of first"), "{}", r.detail);
    }
}

#[cfg(test)]
mod semantic_tests {
    use super::*;

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        crate::embed::normalize(&mut v);
        v
    }

    /// A vector at cosine ≈ `c` from `base` (both unit, `dim` 64).
    fn near(base: &[f32], other: &[f32], c: f32) -> Vec<f32> {
        let s = (1.0 - c * c).sqrt();
        unit(base.iter().zip(other).map(|(a, b)| c * a + s * b).collect())
    }

    #[test]
    fn semantic_near_duplicates_are_found_and_the_earliest_named() {
        let mut spec = ValidateSpec::default();
        spec.semantic.near_duplicate_cosine = 0.9;
        let mut idx = DedupIndex::new(&spec);
        let a = unit((0..64).map(|i| ((i * 7 % 13) as f32) - 6.0).collect());
        // Orthogonal to a: b - (a·b) a.
        let b0: Vec<f32> = (0..64).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
        let d: f32 = a.iter().zip(&b0).map(|(x, y)| x * y).sum();
        let b = unit(b0.iter().zip(&a).map(|(y, x)| y - d * x).collect());
        let sig = |e: Vec<f32>, n: u64| Signature {
            exact: n,
            minhash: vec![n as u32; 8],
            embedding: e,
            answer_embedding: Vec::new(),
            numbers: 0,
        };
        idx.insert("r0", &sig(a.clone(), 1), 0);
        idx.insert("r1", &sig(near(&a, &b, 0.95), 2), 0);
        let r = idx
            .check(&sig(near(&a, &b, 0.97), 3), 0)
            .expect("cosine 0.97 is a near-duplicate");
        assert!(r.detail.contains("r0"), "{}", r.detail);
        assert!(
            idx.check(&sig(near(&a, &b, 0.5), 4), 0).is_none(),
            "cosine 0.5 is new"
        );
        assert!(idx.check(&sig(b.clone(), 5), 0).is_none());
        // Off at threshold 1.0.
        spec.semantic.near_duplicate_cosine = 1.0;
        let mut off = DedupIndex::new(&spec);
        off.insert("r0", &sig(a.clone(), 1), 0);
        assert!(off.check(&sig(near(&a, &b, 0.99), 6), 0).is_none());
    }

    #[test]
    fn records_alike_with_the_same_answer_are_near_duplicates() {
        let spec = ValidateSpec::default(); // 0.8 alone, or 0.7 with answers at 0.75
        let mut idx = DedupIndex::new(&spec);
        let a = unit((0..64).map(|i| ((i * 7 % 13) as f32) - 6.0).collect());
        let b0: Vec<f32> = (0..64).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
        let d: f32 = a.iter().zip(&b0).map(|(x, y)| x * y).sum();
        let b = unit(b0.iter().zip(&a).map(|(y, x)| y - d * x).collect());
        let sig = |e: Vec<f32>, ans: Vec<f32>, n: u64| Signature {
            exact: n,
            minhash: vec![n as u32; 8],
            embedding: e,
            answer_embedding: ans,
            numbers: 0,
        };
        idx.insert("kept", &sig(a.clone(), b.clone(), 1), 0);
        // Records at 0.75, answers at 0.9: the same answer to a reworded question.
        let r = idx
            .check(&sig(near(&a, &b, 0.75), near(&b, &a, 0.9), 2), 0)
            .expect("same answer, similar record");
        assert!(r.detail.contains("same answer as kept"), "{}", r.detail);
        // Records at 0.75, answers at 0.5: another question about the same passage.
        assert!(idx
            .check(&sig(near(&a, &b, 0.75), near(&b, &a, 0.5), 3), 0)
            .is_none());
        // Records at 0.6: unrelated enough, whatever the answers.
        assert!(idx
            .check(&sig(near(&a, &b, 0.6), near(&b, &a, 0.99), 4), 0)
            .is_none());
        // Without an answer embedding only the record threshold applies.
        assert!(idx
            .check(&sig(near(&a, &b, 0.75), Vec::new(), 5), 0)
            .is_none());
        assert!(idx
            .check(&sig(near(&a, &b, 0.85), Vec::new(), 6), 0)
            .is_some());
    }

    /// Single-topic vectors (pairwise cosine ≈ 0.5, where every kept record shares a
    /// band with most others) and planted near-duplicates at 0.9.
    fn one_topic(n: usize) -> Vec<Vec<f32>> {
        let mut rng = SplitMix64(7);
        let mut gauss = || (rng.next_u64() >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        let topic = unit((0..64).map(|_| gauss()).collect());
        let mut out: Vec<Vec<f32>> = Vec::new();
        for i in 0..n {
            let noise = unit((0..64).map(|_| gauss()).collect());
            let v = if i % 5 == 4 {
                near(&out[i - 3], &noise, 0.9)
            } else {
                unit(
                    topic
                        .iter()
                        .zip(&noise)
                        .map(|(t, e)| 0.7 * t + 0.7 * e)
                        .collect(),
                )
            };
            out.push(v);
        }
        out
    }

    #[test]
    fn scanning_a_scope_decides_like_walking_its_buckets() {
        let vs = one_topic(400);
        let sig = |e: &[f32], n: usize| Signature {
            exact: n as u64,
            minhash: vec![n as u32; 8],
            embedding: e.to_vec(),
            answer_embedding: Vec::new(),
            numbers: 0,
        };
        let decide = |scan_below: usize| {
            let mut idx = DedupIndex::new(&ValidateSpec::default());
            idx.semantic.scan_below = scan_below;
            let mut out = Vec::new();
            for (i, v) in vs.iter().enumerate() {
                let r = idx.check(&sig(v, i), 0);
                if r.is_none() {
                    idx.insert(&format!("r{i}"), &sig(v, i), 0);
                }
                out.push(r.map(|r| r.detail));
            }
            out
        };
        let walked = decide(0);
        let scanned = decide(usize::MAX / 1024);
        assert_eq!(walked, scanned);
        let dups = scanned.iter().filter(|r| r.is_some()).count();
        assert_eq!(dups, 80, "every planted near-duplicate, and nothing else");
    }

    #[test]
    fn a_scope_limits_semantic_comparisons_to_its_own_records() {
        let a = one_topic(1).remove(0);
        let mut spec = ValidateSpec::default();
        spec.semantic.near_duplicate_scope = NearDuplicateScope::Chunk;
        let scope = spec.semantic.near_duplicate_scope;
        let (c1, c2) = (
            scope_key(scope, "a.md", "one"),
            scope_key(scope, "a.md", "two"),
        );
        assert_ne!(c1, c2);
        assert_ne!(
            c1,
            scope_key(scope, "b.md", "one"),
            "a chunk is named with its document"
        );
        assert_eq!(
            scope_key(NearDuplicateScope::Document, "a.md", "one"),
            scope_key(NearDuplicateScope::Document, "a.md", "two")
        );
        assert_eq!(scope_key(NearDuplicateScope::Job, "a.md", "one"), 0);
        let sig = |minhash: u32, n: u64| Signature {
            exact: n,
            minhash: vec![minhash; 8],
            embedding: a.clone(),
            answer_embedding: Vec::new(),
            numbers: 0,
        };
        let mut idx = DedupIndex::new(&spec);
        idx.insert("kept", &sig(1, 1), c1);
        let same = idx.check(&sig(2, 2), c1).expect("same chunk, same meaning");
        assert!(
            same.detail.contains("same meaning as kept"),
            "{}",
            same.detail
        );
        assert!(
            idx.check(&sig(2, 2), c2).is_none(),
            "another chunk: not compared"
        );
        // Exact and MinHash duplicates are found across scopes.
        assert!(idx.check(&sig(1, 1), c2).is_some());
        assert!(idx.check(&sig(1, 3), c2).is_some());
    }
}
