//! The validator against the simulator's ground truth: every bad-sample kind is caught by
//! its own check (precision and recall), and good samples are kept.
//!
//! 2000 seeds over four chunks of realistic prose, each bad kind at 8%: every sample is
//! scored with the default `ValidateSpec`, records passing the per-record checks go
//! through dedup in seed order (the canonical order), and each kind is compared with the
//! reason code that should catch it. Run with `--nocapture` to see the table.

use std::collections::BTreeMap;

use seedstream_core::record::codes;
use seedstream_core::spec::ValidateSpec;
use seedstream_sim::{effective_kind, sample, BadKind, BadRates};
use seedstream_validator::{DedupIndex, Input, Validator};

const CHUNKS: [&str; 4] = [
    "The Aral Sea was once the fourth-largest lake in the world, covering about 68,000 square \
kilometres. Beginning in the 1960s, Soviet irrigation projects diverted the Amu Darya and Syr Darya \
rivers to grow cotton in the surrounding desert. By 2007 the sea had shrunk to 10% of its original \
size and split into several smaller lakes. The fishing industry, which had employed around 40,000 \
people, collapsed, and the exposed seabed released salt and dust laden with pesticides, harming the \
health of nearby communities. Winters became colder and summers hotter without the moderating \
effect of the water. A dam completed in 2005 has since helped the northern part recover, with water \
levels rising by 12 metres and fish stocks returning. The southern basin, however, continues to dry \
out, and restoring it would require far larger changes in how the region uses its rivers.",
    "Our quarterly results show revenue of $4.2 million, up 18% from the same period last year, \
driven mainly by subscriptions to the analytics platform. Gross margin improved to 71.5% as hosting \
costs per customer fell after the migration to a shared cluster. Operating expenses grew more \
slowly than revenue, although the sales team added 14 people in Europe. Churn among small \
businesses remained the main concern: roughly one in twelve cancelled within the first six months, \
usually citing onboarding difficulties. The board approved a plan to simplify the setup wizard, \
offer guided training sessions and assign a success manager to every account above 50 seats. \
Cash on hand stood at $11.3 million at the end of the quarter, which management expects to cover \
planned investment without new financing through the next fiscal year.",
    "To replace a leaking kitchen tap cartridge, first shut off both supply valves under the sink \
and open the tap to release any remaining pressure. Pry off the decorative cap on the handle with a \
flat screwdriver, then remove the screw beneath it and lift the handle away. A retaining nut holds \
the cartridge in the body of the tap; loosen it with an adjustable wrench, turning counterclockwise, \
and pull the old cartridge straight up. Take it to a hardware store so the replacement matches in \
length and spline count, since most brands use their own design. Before inserting the new part, \
coat the rubber seals with a thin layer of silicone grease to prevent tearing. Tighten the nut by \
hand plus a quarter turn, refit the handle, restore the water supply slowly and check for drips for \
at least 10 minutes.",
    "Migratory monarch butterflies travel up to 4,800 kilometres each autumn from Canada and the \
northern United States to overwintering sites in the mountain forests of central Mexico. No single \
butterfly completes the round trip: the generation that flies south lives about eight months, \
while the summer generations live only a few weeks. Researchers believe the insects navigate with \
a time-compensated sun compass located in their antennae, combined with a magnetic sense used on \
cloudy days. Their caterpillars feed only on milkweed, whose toxins make both larvae and adults \
distasteful to birds. Over recent decades the eastern population has declined sharply, and \
scientists point to habitat loss, herbicide use that removes milkweed from farmland, and logging \
near the winter colonies. Conservation groups now encourage gardeners to plant native milkweed \
along the migration corridor.",
];

fn code_for(kind: BadKind) -> &'static [&'static str] {
    match kind {
        BadKind::OffTopic => &[codes::OFF_TOPIC],
        BadKind::Copied => &[codes::COPIED],
        BadKind::NearDuplicate => &[codes::NEAR_DUPLICATE, codes::DUPLICATE],
        BadKind::InventedNumber => &[codes::INVENTED_NUMBER],
        BadKind::Pii => &[codes::PII],
    }
}

#[test]
fn validator_catches_every_simulated_defect() {
    let spec = ValidateSpec::default();
    let fields = vec!["question".to_string(), "answer".to_string()];
    let validator = Validator::new(&spec, &fields);
    let rates = BadRates::uniform(0.08);
    let seeds = 2000u64;

    let mut dedup = DedupIndex::new(&spec);
    // (truth, reason codes) per record, in canonical (seed) order.
    let mut records: Vec<(Option<BadKind>, Vec<String>)> = Vec::new();
    let mut first_near_dup_seen = [false; CHUNKS.len()];
    let mut excluded_first_near_dup = Vec::new();
    for seed in 0..seeds {
        let c = (seed % CHUNKS.len() as u64) as usize;
        let chunk = CHUNKS[c];
        let record = sample(chunk, &fields, seed, &rates);
        let truth = effective_kind(chunk, seed, &rates);
        let scored = validator.score(&Input {
            fields: &record,
            chunk,
        });
        let mut reasons: Vec<String> = scored.reasons.iter().map(|r| r.code.clone()).collect();
        if reasons.is_empty() {
            match dedup.check(&scored.signature, 0) {
                Some(r) => reasons.push(r.code),
                None => dedup.insert(&format!("sim/c{c}/s{seed}"), &scored.signature, 0),
            }
        }
        if truth == Some(BadKind::NearDuplicate) && !first_near_dup_seen[c] {
            // The first near-duplicate of a chunk has nothing earlier to duplicate.
            first_near_dup_seen[c] = true;
            excluded_first_near_dup.push(records.len());
        }
        records.push((truth, reasons));
    }

    println!("kind             injected  flagged  precision  recall");
    let mut failures = Vec::new();
    for kind in BadKind::ALL {
        let codes = code_for(kind);
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for (i, (truth, reasons)) in records.iter().enumerate() {
            if kind == BadKind::NearDuplicate && excluded_first_near_dup.contains(&i) {
                continue;
            }
            let predicted = reasons.iter().any(|r| codes.contains(&r.as_str()));
            match (predicted, *truth == Some(kind)) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        println!(
            "{:<16} {:>8} {:>8} {:>10.3} {:>7.3}",
            kind.as_str(),
            tp + fn_,
            tp + fp,
            precision,
            recall
        );
        if tp + fn_ < 50 {
            failures.push(format!("{}: only {} injected", kind.as_str(), tp + fn_));
        }
        if precision < 0.9 || recall < 0.8 {
            failures.push(format!(
                "{}: precision {precision:.3}, recall {recall:.3}",
                kind.as_str()
            ));
        }
    }

    // Each kind fails its own check and, where possible, no other: an off-topic answer is
    // necessarily unfaithful too (and may name what the source never mentions: a
    // contradiction), nothing else may pile on.
    for kind in BadKind::ALL {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut n = 0;
        let mut clean = 0;
        for (_, reasons) in records.iter().filter(|(t, _)| *t == Some(kind)) {
            n += 1;
            let mut rs = reasons.clone();
            rs.sort();
            rs.dedup();
            let allowed: &[&str] = if kind == BadKind::OffTopic {
                &[codes::OFF_TOPIC, codes::UNFAITHFUL, codes::CONTRADICTION]
            } else {
                code_for(kind)
            };
            if rs.iter().all(|r| allowed.contains(&r.as_str())) {
                clean += 1;
            }
            *seen
                .entry(if rs.is_empty() {
                    "(accepted)".to_string()
                } else {
                    rs.join("+")
                })
                .or_default() += 1;
        }
        println!("  {:<16} reasons: {seen:?}", kind.as_str());
        if (clean as f64) < 0.95 * n as f64 {
            failures.push(format!(
                "{}: only {clean} of {n} fail nothing but their own check",
                kind.as_str()
            ));
        }
    }

    let good: Vec<&Vec<String>> = records
        .iter()
        .filter(|(t, _)| t.is_none())
        .map(|(_, r)| r)
        .collect();
    let accepted = good.iter().filter(|r| r.is_empty()).count();
    let rate = accepted as f64 / good.len() as f64;
    let mut good_rejections: BTreeMap<&str, usize> = BTreeMap::new();
    for r in good.iter().flat_map(|r| r.iter()) {
        *good_rejections.entry(r.as_str()).or_default() += 1;
    }
    println!(
        "good samples: {accepted} of {} accepted ({:.1}%); rejections: {good_rejections:?}",
        good.len(),
        rate * 100.0
    );
    if rate < 0.9 {
        failures.push(format!("good acceptance {rate:.3}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
