//! Near-duplicate index cost as it grows: `cargo bench -p seedstream-validator --bench dedup`.
//!
//! Feeds N single-topic records (unit vectors at cosine about 0.5 to each other, like
//! questions about one document: the worst case for hyperplane LSH, which cannot tell
//! them from pairs at the 0.7 threshold) through `DedupIndex::check` + `insert` in
//! order, and prints the time per record over each block of `N / 5` records, once with
//! `near_duplicate_scope: job` and once with `chunk`. A flat column means linear total
//! cost; a rising one, quadratic. `N` (default 50,000) and `CHUNKS` (default 100, the
//! chunks the records come from) are read from the environment.
use std::time::Instant;

use seedstream_core::spec::{NearDuplicateScope, ValidateSpec};
use seedstream_validator::{scope_key, DedupIndex, Signature};

fn main() {
    let n: usize = env("N", 50_000);
    let chunks: usize = env("CHUNKS", 100);
    let dim = 384;
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut gauss = move || {
        // splitmix64 + Box–Muller: the same vectors every run.
        let mut u = || {
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (a, b) = (u().max(1e-300), u());
        ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
    };
    let unit = |v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let topic = unit((0..dim).map(|_| gauss()).collect());
    // Records share the topic direction with weight √0.5: pairwise cosine ≈ 0.5.
    let mut record = || {
        let noise = unit((0..dim).map(|_| gauss()).collect());
        unit(
            topic
                .iter()
                .zip(&noise)
                .map(|(t, e)| t * 0.707 + e * 0.707)
                .collect(),
        )
    };
    let sigs: Vec<(u64, Signature)> = (0..n)
        .map(|i| {
            let sig = Signature {
                exact: i as u64,
                minhash: (0..64).map(|j| (i * 64 + j) as u32).collect(),
                embedding: record(),
                answer_embedding: record(),
                numbers: 0,
            };
            ((i % chunks) as u64, sig)
        })
        .collect();
    let block = (n / 5).max(1);
    println!("records {n} on one topic, from {chunks} chunks: µs per record (check + insert)");
    println!(
        "{:<8} {:>18} {:>12} {:>16}",
        "scope", "records", "µs/record", "near-duplicates"
    );
    for scope in [NearDuplicateScope::Job, NearDuplicateScope::Chunk] {
        let mut spec = ValidateSpec::default();
        spec.semantic.near_duplicate_scope = scope;
        let mut index = DedupIndex::new(&spec);
        let (mut t, mut dups, mut first, mut last) = (Instant::now(), 0, 0.0, 0.0);
        for (i, (chunk, sig)) in sigs.iter().enumerate() {
            let key = scope_key(scope, "doc", &chunk.to_string());
            match index.check(sig, key) {
                Some(_) => dups += 1,
                None => index.insert(&format!("r{i}"), sig, key),
            }
            if (i + 1) % block == 0 {
                let us = t.elapsed().as_secs_f64() * 1e6 / block as f64;
                if i + 1 == block {
                    first = us;
                }
                last = us;
                let name = format!("{scope:?}").to_lowercase();
                let range = format!("{}..{}", i + 1 - block, i + 1);
                println!("{name:<8} {range:>18} {us:12.1} {dups:16}");
                t = Instant::now();
            }
        }
        println!("  last block / first block: {:.1}x", last / first);
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
