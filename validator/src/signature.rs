//! Record signatures: an exact hash of the normalised text and a MinHash sketch of its
//! word shingles, both from fixed, portable hashes (FNV-1a, splitmix64), so a signature is
//! the same on every run and every machine.

use crate::text::{mix64, SplitMix64, Token};
use crate::Signature;
#[cfg(test)]
pub(crate) use seedstream_core::dedup::estimate_jaccard;

/// Seed of the MinHash permutation constants; changing it changes every signature.
const MINHASH_SEED: u64 = 0x5eed_5743_a11d_0001;
/// Separator mixed between fields, so `("a b", "c")` and `("a", "b c")` differ.
const FIELD_SEPARATOR: u64 = 0x1f1f_1f1f_1f1f_1f1f;

/// Computes signatures with `permutations` hash functions over `shingle_words`-word shingles.
#[derive(Debug, Clone)]
pub(crate) struct MinHasher {
    mul: Vec<u64>,
    add: Vec<u64>,
    shingle_words: usize,
}

impl MinHasher {
    pub(crate) fn new(permutations: usize, shingle_words: usize) -> Self {
        let mut rng = SplitMix64(MINHASH_SEED);
        let mut mul = Vec::with_capacity(permutations);
        let mut add = Vec::with_capacity(permutations);
        for _ in 0..permutations {
            mul.push(rng.next_u64() | 1);
            add.push(rng.next_u64());
        }
        Self {
            mul,
            add,
            shingle_words: shingle_words.max(1),
        }
    }

    /// The signature of a record whose task fields tokenised to `fields`.
    pub(crate) fn signature(&self, fields: &[Vec<Token>]) -> Signature {
        let mut exact = 0u64;
        let mut words: Vec<u64> = Vec::with_capacity(fields.iter().map(Vec::len).sum());
        for f in fields {
            for t in f {
                exact = mix64(exact ^ t.raw);
                words.push(t.raw);
            }
            exact = mix64(exact ^ FIELD_SEPARATOR);
        }
        let mut minhash = vec![u32::MAX; self.mul.len()];
        let k = self.shingle_words;
        let mut shingle = |ws: &[u64]| {
            let x = ws
                .iter()
                .fold(0x243f_6a88_85a3_08d3u64, |h, &w| mix64(h ^ w));
            for (m, (a, b)) in minhash.iter_mut().zip(self.mul.iter().zip(&self.add)) {
                // Multiply-add-shift: a cheap universal family over an already mixed key.
                let v = (a.wrapping_mul(x).wrapping_add(*b) >> 32) as u32;
                if v < *m {
                    *m = v;
                }
            }
        };
        if words.len() < k {
            if !words.is_empty() {
                shingle(&words);
            }
        } else {
            for w in words.windows(k) {
                shingle(w);
            }
        }
        Signature {
            answer_embedding: Vec::new(),
            numbers: 0,
            exact,
            minhash,
            embedding: Vec::new(),
        }
    }
}
