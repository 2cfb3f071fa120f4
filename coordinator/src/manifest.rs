//! The dataset's manifest (DESIGN.md invariant 5): what made it, what came out, why
//! records were rejected, score distributions, tokens, latency percentiles.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use seedstream_core::spec::Job;
use serde_json::{json, Value};

use crate::assemble::Totals;

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;

/// Everything the manifest reports besides the totals.
pub struct RunFacts<'a> {
    /// `complete` or `budget_spent`.
    pub status: &'a str,
    /// Slots planned over all rounds.
    pub planned: u64,
    /// Rounds run.
    pub rounds: u32,
    /// Endpoint client counters (requests, retries by kind, failures).
    pub client: BTreeMap<&'static str, u64>,
    /// The LLM judge's counters (requests, retries, failures, cache hits); empty when no
    /// judge ran in this process.
    pub judge: BTreeMap<&'static str, u64>,
    /// Wall time of the run.
    pub wall_ms: u64,
}

/// Add a record's scores (each in [0, 1]) to per-score histograms (value × 10 000 + 1).
pub fn record_scores(hists: &mut BTreeMap<String, Histogram<u64>>, scores: &BTreeMap<String, f64>) {
    for (name, s) in scores {
        let h = hists
            .entry(name.clone())
            .or_insert_with(|| Histogram::new_with_bounds(1, 10_001, 3).expect("bounds"));
        let _ = h.record((s.clamp(0.0, 1.0) * 10_000.0).round() as u64 + 1);
    }
}

/// The manifest's `scores` section from those histograms.
pub fn score_summaries(hists: &BTreeMap<String, Histogram<u64>>) -> BTreeMap<String, Value> {
    hists
        .iter()
        .map(|(k, h)| (k.clone(), summary(h, 10_000.0, 1)))
        .collect()
}

fn summary(h: &Histogram<u64>, scale: f64, offset: u64) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    let v = |x: u64| (x.saturating_sub(offset)) as f64 / scale;
    json!({
        "count": h.len(),
        "min": v(h.min()),
        "p50": v(h.value_at_quantile(0.5)),
        "p90": v(h.value_at_quantile(0.9)),
        "p99": v(h.value_at_quantile(0.99)),
        "max": v(h.max()),
        "mean": ((h.mean() - offset as f64) / scale * 10_000.0).round() / 10_000.0,
    })
}

/// Build the manifest.
pub fn build(job: &Job, totals: &Totals, facts: &RunFacts<'_>) -> Value {
    let m = &job.spec.model;
    let scores = score_summaries(&totals.scores);
    let latency = totals
        .latency_us
        .as_ref()
        .map(|h| summary(h, 1000.0, 0))
        .unwrap_or(json!({"count": 0}));
    json!({
        "manifest_version": MANIFEST_VERSION,
        "status": facts.status,
        "job": {
            "id": job.id,
            "name": job.spec.name,
            "fingerprint": job.fingerprint,
            "file": job.file.display().to_string(),
            "seed": job.spec.seed,
            "target": job.spec.target,
            "max_slots": job.max_slots,
            "sources": job.sources.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
            "chunks": job.chunks.len(),
            "seed_examples": job.seed_examples.len(),
        },
        "versions": {
            "seedstream": env!("CARGO_PKG_VERSION"),
        },
        "validation": {
            "semantic": job.spec.validate.semantic.backend,
            "embedding_model": (!job.spec.validate.semantic.is_off()).then(|| match job.spec.validate.semantic.backend {
                seedstream_core::spec::EmbedBackend::Local => "all-MiniLM-L6-v2".to_string(),
                _ => job.spec.validate.semantic.model.clone(),
            }),
            "judge": (!job.spec.validate.judge.is_off()).then(|| json!({
                "model": job.spec.validate.judge.model,
                "min_faithfulness": job.spec.validate.judge.min_faithfulness,
                "min_relevance": job.spec.validate.judge.min_relevance,
            })),
        },
        "model": {
            "backend": m.backend,
            "name": m.name,
            "endpoints": m.endpoints.len(),
            "temperature": m.temperature,
            "top_p": m.top_p,
            "max_tokens": m.max_tokens,
        },
        "counts": {
            "planned": facts.planned,
            "decided": totals.decided,
            "accepted": totals.accepted,
            "rejected": totals.rejected,
            "rounds": facts.rounds,
            "by_reason": totals.by_reason,
            "answers_from_cache": totals.cached,
            "answers_from_endpoint": totals.fresh,
            "requests_from_cache": totals.requests_cached,
            "requests_to_endpoint": totals.requests_fresh,
        },
        "scores": scores,
        "diversity": totals.diversity,
        "tokens": {
            "prompt": totals.prompt_tokens,
            "completion": totals.completion_tokens,
        },
        "endpoint": facts.client,
        "judge": (!facts.judge.is_empty()).then_some(&facts.judge),
        "latency_ms": latency,
        "wall_ms": facts.wall_ms,
    })
}
