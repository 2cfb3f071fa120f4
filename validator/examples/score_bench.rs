//! Time `Validator::score` on simulator samples: `cargo run --release -p seedstream-validator --example score_bench`.

use std::time::Instant;

use seedstream_core::spec::ValidateSpec;
use seedstream_sim::{sample, BadRates};
use seedstream_validator::{Input, Validator};

const CHUNK: &str =
    "Migratory monarch butterflies travel up to 4,800 kilometres each autumn from Canada and the \
northern United States to overwintering sites in the mountain forests of central Mexico. No single \
butterfly completes the round trip: the generation that flies south lives about eight months, \
while the summer generations live only a few weeks. Researchers believe the insects navigate with \
a time-compensated sun compass located in their antennae, combined with a magnetic sense used on \
cloudy days. Their caterpillars feed only on milkweed, whose toxins make both larvae and adults \
distasteful to birds. Over recent decades the eastern population has declined sharply, and \
scientists point to habitat loss, herbicide use that removes milkweed from farmland, and logging \
near the winter colonies. Conservation groups now encourage gardeners to plant native milkweed \
along the migration corridor. Tagging programmes run by volunteers have recorded individual \
butterflies covering more than 100 kilometres in a single day when tailwinds are favourable. \
Warmer autumns may delay the departure south, leaving late migrants exposed to early frosts.";

fn main() {
    let fields = vec!["question".to_string(), "answer".to_string()];
    let v = Validator::new(&ValidateSpec::default(), &fields);
    // Simulator records made longer (three answers joined): about 60 words each.
    let records: Vec<_> = (0..2000)
        .map(|s| {
            let mut r = sample(CHUNK, &fields, s, &BadRates::uniform(0.05));
            let more = sample(CHUNK, &fields, s + 100_000, &BadRates::default());
            let third = sample(CHUNK, &fields, s + 200_000, &BadRates::default());
            let answer = format!(
                "{} {} {}",
                r["answer"].as_str().unwrap(),
                more["answer"].as_str().unwrap(),
                third["answer"].as_str().unwrap()
            );
            r.insert("answer".into(), answer.into());
            r
        })
        .collect();
    let words: usize = records
        .iter()
        .map(|r| {
            r.values()
                .map(|v| v.as_str().unwrap().split_whitespace().count())
                .sum::<usize>()
        })
        .sum();
    let prepared = v.prepare_chunk(CHUNK);
    let mut sink = 0usize;
    for round in 0..3 {
        let t = Instant::now();
        for r in &records {
            sink += v
                .score(&Input {
                    fields: r,
                    chunk: CHUNK,
                })
                .reasons
                .len();
        }
        let plain = t.elapsed().as_secs_f64() * 1e6 / records.len() as f64;
        let t = Instant::now();
        for r in &records {
            sink += v.score_prepared(r, &prepared).reasons.len();
        }
        let prep = t.elapsed().as_secs_f64() * 1e6 / records.len() as f64;
        println!(
            "round {round}: score {plain:.1} µs/record, score_prepared {prep:.1} µs/record \
             ({} chars chunk, {:.0} words/record)",
            CHUNK.len(),
            words as f64 / records.len() as f64
        );
    }
    assert!(sink > 0);
}
