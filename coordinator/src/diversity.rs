//! Dataset-level diversity, for the manifest: distinct-1 and distinct-2 (unique word
//! unigrams and bigrams over all of them), the mean pairwise embedding similarity of a
//! sample of records, the share of source chunks covered and the distribution of records
//! over chunks (so imbalance shows).
//!
//! Bounded: n-grams are counted over the first [`NGRAM_RECORDS`] records, embeddings kept
//! for the first [`SAMPLE`]; the chunk counts are one integer per chunk.

use std::collections::HashSet;

use serde_json::{json, Value};

/// Records whose n-grams are counted.
pub const NGRAM_RECORDS: u64 = 50_000;
/// Records whose embeddings are sampled for the mean pairwise similarity.
pub const SAMPLE: usize = 1_000;

/// Accumulates the accepted records of a dataset.
#[derive(Debug, Default)]
pub struct Diversity {
    records: u64,
    unigrams: HashSet<u64>,
    bigrams: HashSet<u64>,
    total_unigrams: u64,
    total_bigrams: u64,
    per_chunk: Vec<u64>,
    /// Records with no known chunk (scored with a `context` not found in the sources).
    unplaced: u64,
    embeddings: Vec<Vec<f32>>,
}

fn word_hash(w: &str) -> u64 {
    // FNV-1a over the lowercased word: portable, stable.
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in w.bytes() {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Diversity {
    /// An accumulator for a job with `chunks` source chunks.
    pub fn new(chunks: usize) -> Self {
        Self {
            per_chunk: vec![0; chunks],
            ..Default::default()
        }
    }

    /// Count one accepted record: its text (task fields joined), its chunk if known, its
    /// embedding if semantic checks are on.
    pub fn add(&mut self, text: &str, chunk: Option<usize>, embedding: &[f32]) {
        match chunk.and_then(|c| self.per_chunk.get_mut(c)) {
            Some(c) => *c += 1,
            None => self.unplaced += 1,
        }
        if self.records < NGRAM_RECORDS {
            let words: Vec<u64> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(word_hash)
                .collect();
            self.total_unigrams += words.len() as u64;
            self.unigrams.extend(&words);
            for w in words.windows(2) {
                self.total_bigrams += 1;
                self.bigrams
                    .insert(w[0].rotate_left(17) ^ w[1].wrapping_mul(0x9e37_79b9_7f4a_7c15));
            }
        }
        if !embedding.is_empty() && self.embeddings.len() < SAMPLE {
            self.embeddings.push(embedding.to_vec());
        }
        self.records += 1;
    }

    /// The manifest's `diversity` section.
    pub fn report(&self) -> Value {
        let ratio = |u: usize, t: u64| {
            if t == 0 {
                Value::Null
            } else {
                json!(((u as f64 / t as f64) * 10_000.0).round() / 10_000.0)
            }
        };
        let covered = self.per_chunk.iter().filter(|&&n| n > 0).count();
        let chunks = self.per_chunk.len();
        let mut sorted = self.per_chunk.clone();
        sorted.sort_unstable();
        let mean = if chunks == 0 {
            0.0
        } else {
            self.records as f64 / chunks as f64
        };
        // Gini coefficient of records over chunks: 0 even, 1 all on one chunk.
        let gini = if chunks == 0 || self.records == 0 {
            0.0
        } else {
            let n = chunks as f64;
            let weighted: f64 = sorted
                .iter()
                .enumerate()
                .map(|(i, &x)| (2.0 * (i as f64 + 1.0) - n - 1.0) * x as f64)
                .sum();
            weighted / (n * sorted.iter().sum::<u64>() as f64)
        };
        let pairwise = self.mean_pairwise();
        json!({
            "records": self.records,
            "distinct_1": ratio(self.unigrams.len(), self.total_unigrams),
            "distinct_2": ratio(self.bigrams.len(), self.total_bigrams),
            "ngram_records": self.records.min(NGRAM_RECORDS),
            "mean_pairwise_similarity": pairwise.map(|(m, _)| (m * 10_000.0).round() / 10_000.0),
            "similarity_pairs": pairwise.map(|(_, n)| n).unwrap_or(0),
            "chunks": chunks,
            "chunks_covered": covered,
            "records_unplaced": self.unplaced,
            "chunk_coverage": if chunks == 0 { Value::Null } else { json!(((covered as f64 / chunks as f64) * 10_000.0).round() / 10_000.0) },
            "records_per_chunk": {
                "min": sorted.first().copied().unwrap_or(0),
                "max": sorted.last().copied().unwrap_or(0),
                "mean": (mean * 100.0).round() / 100.0,
                "gini": (gini * 10_000.0).round() / 10_000.0,
                "counts": self.per_chunk,
            },
        })
    }

    /// Mean cosine similarity over every pair of the sample: (mean, pairs).
    fn mean_pairwise(&self) -> Option<(f64, u64)> {
        let e = &self.embeddings;
        if e.len() < 2 {
            return None;
        }
        let mut sum = 0.0f64;
        let mut n = 0u64;
        for i in 0..e.len() {
            for j in i + 1..e.len() {
                sum += f64::from(seedstream_core::embed::cosine(&e[i], &e[j]));
                n += 1;
            }
        }
        Some((sum / n as f64, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_coverage_and_balance() {
        let mut d = Diversity::new(4);
        d.add("the cat sat", Some(0), &[1.0, 0.0]);
        d.add("the cat sat", Some(0), &[1.0, 0.0]);
        d.add("a dog ran", Some(1), &[0.0, 1.0]);
        let r = d.report();
        // 9 unigrams, 6 distinct; 6 bigrams, 4 distinct.
        assert_eq!(r["distinct_1"], json!(0.6667));
        assert_eq!(r["distinct_2"], json!(0.6667));
        assert_eq!(r["chunks_covered"], 2);
        assert_eq!(r["chunk_coverage"], json!(0.5));
        assert_eq!(r["records_per_chunk"]["counts"], json!([2, 1, 0, 0]));
        assert_eq!(r["records_unplaced"], 0);
        // Pairs: (a,a)=1, (a,b)=0, (a,b)=0 → 1/3.
        assert_eq!(r["mean_pairwise_similarity"], json!(0.3333));
        let even = {
            let mut d = Diversity::new(2);
            d.add("x y", Some(0), &[]);
            d.add("z w", Some(1), &[]);
            d.report()["records_per_chunk"]["gini"].clone()
        };
        assert_eq!(even, json!(0.0));
    }

    #[test]
    fn a_record_with_no_known_chunk_is_counted_apart() {
        let mut d = Diversity::new(2);
        d.add("x y", Some(1), &[]);
        d.add("z w", None, &[]);
        let r = d.report();
        assert_eq!(r["records"], 2);
        assert_eq!(r["chunks_covered"], 1);
        assert_eq!(r["records_unplaced"], 1);
        assert_eq!(r["records_per_chunk"]["counts"], json!([0, 1]));
    }
}
