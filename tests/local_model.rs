//! The real local model (SmolLM2-135M on CPU, no simulator): a small job completes and
//! every record it writes is well-formed, accepted or rejected with its reasons.

mod common;

use common::*;

#[test]
fn local_model_job_writes_well_formed_records() {
    let dir = tempdir("local-model");
    let ex = repo().join("examples/qa");
    let job = dir.join("local.yaml");
    let yaml = std::fs::read_to_string(ex.join("job.yaml"))
        .unwrap()
        .replace("path: docs/", &format!("path: {}/docs/", ex.display()))
        .replace(
            "seed_examples: seeds.jsonl",
            &format!("seed_examples: {}/seeds.jsonl", ex.display()),
        )
        .replace("target: 4", "target: 2")
        .replace("max_slots: 40", "max_slots: 4");
    std::fs::write(&job, yaml).unwrap();
    let out = dir.join("out");
    let o = run_plain(&job, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    // 0: target met; 3: the budget of 4 slots ran out first (a 135M model is weak).
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "local job failed: {err}"
    );
    let m = manifest(&out);
    assert_eq!(m["model"]["backend"], "local");
    let samples = lines(&out.join("samples.jsonl"));
    let rejected = lines(&out.join("rejected.jsonl"));
    assert_eq!(
        samples.len() + rejected.len(),
        m["counts"]["planned"].as_u64().unwrap() as usize
    );
    assert!(
        m["counts"]["answers_from_endpoint"].as_u64().unwrap() > 0,
        "the model answered nothing"
    );
    for r in &samples {
        for f in ["question", "answer"] {
            assert!(
                r[f].as_str().is_some_and(|s| !s.trim().is_empty()),
                "accepted record without {f}: {r}"
            );
        }
        assert!(r["scores"]["faithfulness"].as_f64().is_some(), "{r}");
        assert!(r["provenance"]["prompt_sha256"].as_str().unwrap().len() == 64);
    }
    for r in &rejected {
        let reasons = r["reasons"].as_array().unwrap();
        assert!(!reasons.is_empty(), "rejected without reasons: {r}");
        for x in reasons {
            assert!(
                x["code"].as_str().is_some() && x["detail"].as_str().is_some(),
                "{r}"
            );
        }
    }
    if o.status.code() == Some(0) {
        assert_eq!(samples.len(), 2);
    }
}

/// The local model fills typed outputs by construction: a dialogue of two exchanges and
/// a list of facts come back well-formed (never rejected as `format`).
#[test]
fn local_model_writes_typed_flow_records() {
    let dir = tempdir("local-typed");
    let ex = repo().join("examples/qa");
    let job = dir.join("typed.yaml");
    std::fs::write(
        dir.join("seeds.jsonl"),
        "{\"facts\": [\"Bees make honey.\"], \"dialogue\": [{\"role\": \"user\", \"content\": \"What do bees make?\"}, {\"role\": \"assistant\", \"content\": \"Honey.\"}, {\"role\": \"user\", \"content\": \"Does it keep?\"}, {\"role\": \"assistant\", \"content\": \"For years.\"}]}\n",
    )
    .unwrap();
    let yaml = format!(
        "name: typed
seed: 5
target: 2
max_slots: 2
sources:
  - path: {d}/docs/honeybees.md
seed_examples: seeds.jsonl
task:
  kind: flow
  few_shot: 0
  record:
    facts: {{type: list, items: string, max_items: 3, role: claim}}
    dialogue: {{type: messages, turns: 2}}
  steps:
    - name: facts
      prompt: \"Source document:\\n<document>\\n{{{{ chunk }}}}\\n</document>\\nList facts from the document.\"
      output: [facts]
    - name: chat
      prompt: \"Source document:\\n<document>\\n{{{{ chunk }}}}\\n</document>\\nFacts: {{{{ steps.facts.facts | join(' ') }}}}\\nWrite a short conversation about the document.\"
      output: [dialogue]
model:
  backend: local
  max_tokens: 64
validate:
  semantic: {{backend: none}}
",
        d = ex.display()
    );
    std::fs::write(&job, yaml).unwrap();
    let out = dir.join("out");
    let o = run_plain(&job, &out, &[]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let all: Vec<serde_json::Value> = ["samples.jsonl", "rejected.jsonl"]
        .iter()
        .flat_map(|f| lines(&out.join(f)))
        .collect();
    assert_eq!(all.len(), 2);
    for r in &all {
        let codes: Vec<&str> = r["reasons"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["code"].as_str()).collect())
            .unwrap_or_default();
        assert!(!codes.contains(&"format"), "{r}");
        let d = r["dialogue"].as_array().unwrap_or_else(|| panic!("{r}"));
        assert_eq!(d.len(), 4, "{r}");
        assert_eq!(d[0]["role"], "user");
        assert_eq!(d[3]["role"], "assistant");
        let facts = r["facts"].as_array().unwrap();
        assert!((1..=3).contains(&facts.len()), "{r}");
    }
}
