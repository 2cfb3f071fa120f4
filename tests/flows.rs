//! End-to-end tests of flows (issue 14): every preset against the SIMULATED endpoint,
//! a two-step flow with a fan-out, bad flows refused before any request, type
//! enforcement, and validation by role.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use std::process::Command;

use common::*;

fn ids(out: &Path) -> Vec<String> {
    ["samples.jsonl", "rejected.jsonl"]
        .iter()
        .flat_map(|f| lines(&out.join(f)))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_preset_runs_end_to_end_the_same_bytes_every_time() {
    let sim = Sim::start(&["--latency-ms", "1", "--bad-off-topic", "0.05"]);
    let dir = tempdir("presets");
    // (kind, target, requests a record's provenance lists)
    for (kind, target, steps) in [
        ("knowledge", 60, 3),
        ("chat", 30, 1),
        ("instruct", 30, 1),
        ("classify", 30, 1),
        ("flow", 45, 2),
    ] {
        let job = example_job(&dir, kind, target, "");
        let a = dir.join(format!("{kind}-a"));
        let o = run_job(&job, &a, &sim.url, &["--generators", "1"]);
        assert!(o.status.success(), "{kind}");
        let samples = lines(&a.join("samples.jsonl"));
        assert_eq!(samples.len() as u64, target, "{kind}: target is exact");
        let all = ids(&a);
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "{kind}: record ids are unique");
        for r in &samples {
            let p = &r["provenance"];
            assert_eq!(p["steps"].as_array().unwrap().len(), steps, "{kind}: {r}");
            match kind {
                "knowledge" => {
                    for f in ["question", "answer", "context"] {
                        assert!(r[f].as_str().is_some_and(|s| !s.is_empty()), "{r}");
                    }
                    assert!(p["item"].is_number(), "{r}");
                }
                "chat" => {
                    let m = r["messages"].as_array().unwrap();
                    assert_eq!(m.len(), 4, "turns: 2 → four messages: {r}");
                    assert_eq!(m[0]["role"], "user");
                    assert_eq!(m[1]["role"], "assistant");
                }
                "classify" => {
                    assert!(r["text"].is_string(), "{r}");
                    let label = r["label"].as_str().unwrap();
                    assert!(["positive", "negative", "neutral"].contains(&label), "{r}");
                }
                "instruct" => {
                    assert!(r["instruction"].is_string() && r["response"].is_string());
                    assert!(r["source"].is_null(), "no sources: {r}");
                }
                _ => assert!(r["question"].is_string() && r["answer"].is_string()),
            }
        }
        // Byte-identical again, with 4 generator tasks instead of 1, from a fresh output.
        let b = dir.join(format!("{kind}-b"));
        assert!(run_job(&job, &b, &sim.url, &["--generators", "4"])
            .status
            .success());
        assert_same_dataset(&a, &b);
    }
}

#[test]
fn a_fan_out_flow_pays_each_step_once_across_a_kill() {
    let sim = Sim::start(&["--latency-ms", "30", "--max-concurrency", "64"]);
    let dir = tempdir("flow-resume");
    let job = example_job(&dir, "flow", 240, "");
    let reference = dir.join("reference");
    assert!(run_job(&job, &reference, &sim.url, &[]).status.success());
    let total = sim.requests();
    let stats = sim.stats();
    assert_eq!(
        stats["distinct_requests"].as_u64().unwrap(),
        total,
        "every step's request is asked once: {stats}"
    );
    // The manifest counts every request behind its records, each once.
    let m = manifest(&reference);
    assert_eq!(
        m["counts"]["requests_to_endpoint"].as_u64().unwrap(),
        total,
        "{m}"
    );
    assert_eq!(m["counts"]["requests_from_cache"], 0);
    sim.reset();
    let out = dir.join("resumed");
    let first = run_killed_halfway(&job, &out, &sim, total);
    sim.reset();
    assert!(run_job(&job, &out, &sim.url, &[]).status.success());
    let second = sim.requests();
    eprintln!("two-step flow: {total} requests; killed after {first}; rerun asked {second}");
    // The job's concurrency (32) bounds what was in flight at the kill.
    assert!(second + first >= total, "rerun asked too little");
    assert!(
        second + first <= total + 32,
        "rerun re-asked answered requests: {second} + {first} > {total} + 32"
    );
    assert_same_dataset(&reference, &out);
    let m = manifest(&out);
    assert_eq!(
        m["counts"]["requests_from_cache"].as_u64().unwrap()
            + m["counts"]["requests_to_endpoint"].as_u64().unwrap(),
        total,
        "{m}"
    );
}

/// Write `job.yaml` in a fresh dir from the flow example with `task` replaced.
fn flow_job(dir: &Path, name: &str, task: &str, seeds: Option<&str>) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let docs = repo().join("examples/qa/docs");
    let seeds_path = match seeds {
        Some(text) => {
            std::fs::write(d.join("seeds.jsonl"), text).unwrap();
            d.join("seeds.jsonl")
        }
        None => repo().join("examples/qa/seeds.jsonl"),
    };
    std::fs::write(
        d.join("facts.j2"),
        "Facts of:\n{{ chunk }}\n{{ steps.nope.x }}",
    )
    .unwrap();
    let yaml = format!(
        "name: {name}\nseed: 3\ntarget: 10\nsources:\n  - path: {}/honeybees.md\nseed_examples: {}\n{task}\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\n",
        docs.display(),
        seeds_path.display()
    );
    let path = d.join("job.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn bad_flows_exit_2_before_any_request_naming_file_and_field() {
    let dir = tempdir("bad-flows");
    let record = "  record:\n    question: {type: string, role: question}\n    answer: {type: string, role: claim}\n";
    let facts = "    - name: facts\n      prompt: \"Facts: {{ chunk }}\"\n      output:\n        facts: {type: list, items: string}\n";
    let qa = |for_each: &str, prompt: &str| {
        format!("    - name: qa\n      for_each: {for_each}\n      prompt: \"{prompt}\"\n      output: [question, answer]\n")
    };
    let cases: Vec<(&str, String, Option<&str>, &[&str])> = vec![
        (
            "unknown-step",
            format!("task:\n  kind: flow\n{record}  steps:\n{facts}{}", qa("facts", "{{ steps.fact.facts }} {{ item }}")),
            None,
            &["task.steps[1].prompt", "steps.fact is not an earlier step"],
        ),
        (
            "unknown-field",
            format!("task:\n  kind: flow\n{record}  steps:\n{facts}{}", qa("facts", "{{ steps.facts.fcts }} {{ item }}")),
            None,
            &["task.steps[1].prompt", "steps.facts.fcts", "writes facts"],
        ),
        (
            "unknown-for-each",
            format!("task:\n  kind: flow\n{record}  steps:\n{facts}{}", qa("fact", "{{ item }}")),
            None,
            &["task.steps[1].for_each", "no earlier step writes a field \"fact\""],
        ),
        (
            "forward-reference",
            format!(
                "task:\n  kind: flow\n{record}  steps:\n    - name: first\n      prompt: \"{{{{ steps.qa.question }}}} {{{{ chunk }}}}\"\n      output:\n        facts: {{type: list, items: string}}\n{}",
                qa("facts", "{{ item }}")
            ),
            None,
            &["task.steps[0].prompt", "steps.qa is not an earlier step"],
        ),
        (
            "unused-output",
            format!(
                "task:\n  kind: flow\n{record}  steps:\n    - name: extra\n      prompt: \"{{{{ chunk }}}}\"\n      output:\n        notes: {{type: string}}\n    - name: qa\n      prompt: \"{{{{ chunk }}}}\"\n      output: [question, answer]\n"
            ),
            None,
            &["task.steps[0].output.notes", "no record field or later step uses it"],
        ),
        (
            "enum-without-values",
            "task:\n  kind: flow\n  record:\n    label: {type: enum, role: label}\n  steps:\n    - name: s\n      prompt: \"{{ chunk }}\"\n      output: [label]\n".to_string(),
            None,
            &["task.record.label", "an enum needs values"],
        ),
        (
            "template-fails-on-first-slot",
            format!("task:\n  kind: flow\n  few_shot: 1\n{record}  steps:\n    - name: qa\n      prompt: \"{{{{ chunk }}}} {{{{ examples[3].question }}}}\"\n      output: [question, answer]\n"),
            None,
            &["task.steps[0].prompt", "does not render on the first slot", "step qa"],
        ),
        (
            "template-file",
            format!("task:\n  kind: flow\n{record}  steps:\n    - name: facts\n      template: facts.j2\n      output: [question, answer]\n"),
            None,
            &["facts.j2", "steps.nope is not an earlier step"],
        ),
        (
            "seed-lacks-field",
            "task:\n  kind: chat\n".to_string(),
            Some("{\"question\": \"q?\", \"answer\": \"a\"}\n"),
            &["seeds.jsonl", "line 1: messages", "missing record field"],
        ),
        (
            "preset-with-steps",
            format!("task:\n  kind: knowledge\n  steps:\n{facts}"),
            None,
            &["task.steps", "kind: flow", "flow show knowledge"],
        ),
    ];
    for (name, task, seeds, want) in cases {
        let job = flow_job(&dir, name, &task, seeds);
        let out = dir.join(name).join("out");
        let o = run_plain(&job, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        for w in want {
            assert!(err.contains(w), "{name}: {w:?} missing from: {err}");
        }
        assert!(!out.exists(), "{name}: wrote {}", out.display());
    }
}

#[test]
fn dry_run_prints_every_step_of_a_flow() {
    let dir = tempdir("flow-dry-run");
    let job = example_job(&dir, "knowledge", 10, "");
    let out = dir.join("out");
    let o = run_plain(&job, &out, &["--dry-run"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "flow of 3 steps (augment → questions → answer)",
        "=== step augment ===",
        "=== step questions ===",
        "=== step answer, once per item of questions (item 0 shown) ===",
        "\"questions\"",
    ] {
        assert!(text.contains(want), "{want} missing from: {text}");
    }
    assert!(!out.exists());
}

#[test]
fn a_reply_that_does_not_fit_the_schema_is_retried_then_rejected_as_format() {
    let dir = tempdir("schema");
    // Every reply misfits: each request is tried 1 + max_retries times, then rejected.
    let sim = Sim::start(&["--latency-ms", "1", "--fault-schema", "1.0"]);
    let job = example_job(
        &dir, "chat", 5,
        "", // the example's model section applies; retries come from the override below
    );
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace(
            "  concurrency: 32",
            "  concurrency: 32\n  max_retries: 2\n  backoff_base_ms: 1\n  backoff_max_ms: 2",
        )
        .replace("target: 5", "target: 5\nmax_slots: 6");
    std::fs::write(&job, text).unwrap();
    let out = dir.join("out");
    let o = run_plain(&job, &out, &["--endpoint", &sim.url]);
    assert_eq!(o.status.code(), Some(3), "budget spent, nothing accepted");
    let rejected = lines(&out.join("rejected.jsonl"));
    assert_eq!(rejected.len(), 6);
    for r in &rejected {
        let reason = &r["reasons"][0];
        assert_eq!(reason["code"], "format", "{r}");
        let detail = reason["detail"].as_str().unwrap();
        assert!(
            detail.contains("messages: expected a list of {role, content} messages"),
            "the field is named: {detail}"
        );
        assert!(detail.contains("after 3 attempts"), "{detail}");
    }
    assert_eq!(sim.requests(), 6 * 3, "each slot tried three times");
    // Some misfits: retried until one fits, then accepted.
    let sim = Sim::start(&["--latency-ms", "1", "--fault-schema", "0.3"]);
    let out = dir.join("out-some");
    let o = run_plain(&job, &out, &["--endpoint", &sim.url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(lines(&out.join("samples.jsonl")).len(), 5);
    assert!(sim.stats()["faults"]["schema"].as_u64().unwrap() > 0);
}

#[test]
fn claims_are_checked_against_the_chunk_in_every_record_shape() {
    // Every answer the simulator writes is off topic: the assistant turns of a chat and
    // the answers of a knowledge record are claims, so each record is rejected for them.
    let sim = Sim::start(&["--latency-ms", "1", "--bad-off-topic", "1.0"]);
    let dir = tempdir("roles");
    for kind in ["chat", "knowledge"] {
        let job = example_job(&dir, kind, 6, "max_slots: 6\n");
        let out = dir.join(kind);
        let o = run_plain(&job, &out, &["--endpoint", &sim.url]);
        assert_eq!(o.status.code(), Some(3), "{kind}: nothing accepted");
        let rejected = lines(&out.join("rejected.jsonl"));
        assert!(!rejected.is_empty());
        for r in &rejected {
            let codes: Vec<&str> = r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["code"].as_str().unwrap())
                .collect();
            assert!(
                codes.iter().any(|c| [
                    "unfaithful",
                    "off_topic",
                    "contradiction",
                    "invented_number"
                ]
                .contains(c)),
                "{kind}: {r}"
            );
        }
    }
}

#[test]
fn flow_show_prints_a_preset_that_runs_as_a_flow() {
    let sim = Sim::start(&["--latency-ms", "1"]);
    let dir = tempdir("flow-show");
    for kind in ["qa", "knowledge", "chat", "instruct", "classify"] {
        // The chat example's seeds are dialogues of two exchanges.
        let turns: &[&str] = if kind == "chat" {
            &["--turns", "2"]
        } else {
            &[]
        };
        let o = Command::new(BIN)
            .args(["flow", "show", kind])
            .args(turns)
            .output()
            .unwrap();
        assert!(o.status.success());
        let task = String::from_utf8(o.stdout).unwrap();
        assert!(task.contains("kind: flow"));
        // The printed preset, pasted into the example job in place of its task, runs.
        let job = example_job(&dir, if kind == "qa" { "knowledge" } else { kind }, 8, "");
        let text = std::fs::read_to_string(&job).unwrap();
        let (head, rest) = text.split_once("task:\n").unwrap();
        let model = &rest[rest.find("\nmodel:").unwrap() + 1..];
        std::fs::write(&job, format!("{head}{task}{model}")).unwrap();
        let out = dir.join(format!("{kind}-out"));
        let o = run_job(&job, &out, &sim.url, &[]);
        assert!(o.status.success(), "{kind}: {task}");
        assert_eq!(lines(&out.join("samples.jsonl")).len(), 8, "{kind}");
    }
    let o = Command::new(BIN)
        .args(["flow", "show", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected one of qa, knowledge"));
}

#[test]
fn semantic_checks_read_each_record_shape_by_role() {
    // The embedding checks (on by default) score a dialogue's assistant turns and a
    // knowledge answer as claims; an instruct record has none, so no grounding score.
    let sim = Sim::start(&["--latency-ms", "1"]);
    let dir = tempdir("semantic-roles");
    for (kind, grounded) in [("chat", true), ("knowledge", true), ("instruct", false)] {
        let job = example_job(&dir, kind, 3, "max_slots: 3\n");
        let text = std::fs::read_to_string(&job)
            .unwrap()
            .replace("semantic: {backend: none}", "semantic: {backend: local}");
        std::fs::write(&job, text).unwrap();
        let out = dir.join(kind);
        let o = run_plain(&job, &out, &["--endpoint", &sim.url]);
        assert!(
            matches!(o.status.code(), Some(0) | Some(3)),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let all: Vec<serde_json::Value> = ["samples.jsonl", "rejected.jsonl"]
            .iter()
            .flat_map(|f| lines(&out.join(f)))
            .filter(|r| r["scores"].is_object())
            .collect();
        assert!(!all.is_empty(), "{kind}");
        for r in &all {
            assert_eq!(
                r["scores"]["grounding"].is_number(),
                grounded,
                "{kind}: {}",
                r["scores"]
            );
        }
    }
}

#[test]
fn a_step_may_ask_another_model_on_other_endpoints() {
    // The facts step asks a "teacher" on a second endpoint; the qa step the job's model.
    let job_sim = Sim::start(&["--latency-ms", "1"]);
    let teacher = Sim::start(&["--latency-ms", "1", "--model", "teacher"]);
    let dir = tempdir("step-model");
    let job = example_job(&dir, "flow", 12, "");
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "    - name: facts\n",
        &format!(
            "    - name: facts\n      model: {{name: teacher, endpoints: [\"{}\"]}}\n      temperature: 0.2\n",
            teacher.url
        ),
    );
    std::fs::write(&job, text).unwrap();
    let out = dir.join("out");
    let o = run_plain(&job, &out, &["--endpoint", &job_sim.url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = lines(&out.join("samples.jsonl"));
    let slots: BTreeSet<String> = records
        .iter()
        .chain(lines(&out.join("rejected.jsonl")).iter())
        .map(|r| {
            let p = &r["provenance"];
            format!("{}:{}:{}", p["round"], p["shard"], p["slot"])
        })
        .collect();
    assert_eq!(
        teacher.requests() as usize,
        slots.len(),
        "one facts request per slot"
    );
    assert!(job_sim.requests() as usize >= records.len());
    for r in &records {
        let steps = r["provenance"]["steps"].as_array().unwrap();
        assert_eq!(steps[0]["name"], "facts");
        assert_eq!(steps[0]["model"], "teacher");
        assert_eq!(steps[1]["model"], "seedstream-sim");
    }
}

#[test]
fn near_duplicates_are_compared_on_the_fields_the_job_names() {
    // Every knowledge record of one augmentation shares its context: compared on the
    // context, they are near-duplicates of each other; by default (questions and
    // answers) they are not.
    let sim = Sim::start(&["--latency-ms", "1"]);
    let dir = tempdir("diversity-fields");
    let near = |extra: &str, name: &str| -> u64 {
        let job = example_job(&dir, "knowledge", 30, "");
        let text = std::fs::read_to_string(&job).unwrap().replace(
            "  semantic: {backend: none}\n",
            &format!("  semantic: {{backend: none}}\n{extra}"),
        );
        std::fs::write(&job, text).unwrap();
        let out = dir.join(name);
        let o = run_plain(&job, &out, &["--endpoint", &sim.url]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The same context is an exact duplicate; a reworded one a near-duplicate.
        let m = manifest(&out);
        ["duplicate", "near_duplicate"]
            .iter()
            .map(|c| m["counts"]["by_reason"][c].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let by_default = near("", "default");
    let on_context = near("  diversity:\n    fields: [context]\n", "context");
    assert!(
        on_context > by_default + 10,
        "default {by_default}, on context {on_context}"
    );
    // A field the record does not have is refused at load.
    let job = example_job(&dir, "knowledge", 30, "");
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "  semantic: {backend: none}\n",
        "  semantic: {backend: none}\n  diversity:\n    fields: [answr]\n",
    );
    std::fs::write(&job, text).unwrap();
    let o = run_plain(&job, &dir.join("bad"), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("validate.diversity.fields[0]") && err.contains("answr"),
        "{err}"
    );
}
