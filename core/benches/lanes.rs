//! The lane plan's cost at scale: `cargo bench -p seedstream-core --bench lanes`.
//!
//! Plans `SLOTS` slots (default 1,000,000) over `LANES` chunks (default 20,000): chunk
//! ids, lane order, one round's canonical order, and every slot's seed and few-shot
//! choice (2 of 40 examples). Prints the time of each part; issue 15 asks for planning a
//! 1M-slot job well under a second.
use std::time::Instant;

use seedstream_core::lanes::{chunk_id, even_shares, pick_examples, slot_seed, Lanes};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let slots = env("SLOTS", 1_000_000) as u64;
    let lanes_n = env("LANES", 20_000);
    let texts: Vec<String> = (0..lanes_n)
        .map(|i| format!("chunk {i} of a document, a few hundred characters of text in practice"))
        .collect();
    let t = Instant::now();
    let ids: Vec<u64> = texts
        .iter()
        .enumerate()
        .map(|(i, s)| chunk_id(&format!("doc-{}.md", i / 50), s))
        .collect();
    let t_ids = t.elapsed();
    let t = Instant::now();
    let lanes = Lanes::new(7, &ids);
    let t_order = t.elapsed();
    let t = Instant::now();
    let shares = even_shares(slots, lanes.len());
    let count: Vec<u32> = shares.iter().map(|&s| s as u32).collect();
    let round = lanes.round_order(&vec![0; lanes.len()], &count);
    let t_round = t.elapsed();
    let examples: Vec<u64> = (0..40u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let t = Instant::now();
    let mut check = 0u64;
    for &(l, k) in &round {
        let id = lanes.chunk_id(l as usize);
        check ^= slot_seed(7, id, k);
        check ^= pick_examples(7, id, k, &examples, 2)[0] as u64;
    }
    let t_slots = t.elapsed();
    println!(
        "{} slots over {} lanes: chunk ids {:?}, lane order {:?}, round order {:?} (planning: {:?}); \
         every slot's seed and few-shot choice {:?} ({:.0} ns per slot, done where the slot runs) [{check:x}]",
        round.len(),
        lanes.len(),
        t_ids,
        t_order,
        t_round,
        t_ids + t_order + t_round,
        t_slots,
        t_slots.as_nanos() as f64 / round.len().max(1) as f64
    );
}
