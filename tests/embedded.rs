//! End-to-end tests of `seedstream run` against the SIMULATED endpoint (`seedstream sim`),
//! each as real OS processes of the built binary.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Every planned slot appears exactly once across samples and rejected, and the slots
/// of each round are exactly 0..n in canonical order.
fn assert_accounted(out: &Path) -> (usize, usize) {
    let m = manifest(out);
    let samples = lines(&out.join("samples.jsonl"));
    let rejected = lines(&out.join("rejected.jsonl"));
    let mut ids = BTreeSet::new();
    let mut per_round: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for r in samples.iter().chain(&rejected) {
        assert!(
            ids.insert(r["id"].as_str().unwrap().to_string()),
            "id doubled: {}",
            r["id"]
        );
        let p = &r["provenance"];
        per_round
            .entry(p["round"].as_u64().unwrap())
            .or_default()
            .push((p["shard"].as_u64().unwrap(), p["slot"].as_u64().unwrap()));
    }
    for r in &rejected {
        assert!(
            !r["reasons"].as_array().unwrap().is_empty(),
            "rejected without a reason: {r}"
        );
    }
    assert_eq!(
        ids.len() as u64,
        m["counts"]["planned"].as_u64().unwrap(),
        "planned slots not all accounted for"
    );
    for (round, mut slots) in per_round {
        slots.sort();
        let shard_size = 8;
        for (i, (sh, sl)) in slots.iter().enumerate() {
            assert_eq!(
                (sh * shard_size + sl) as usize,
                i,
                "round {round}: slot missing before shard {sh} slot {sl}"
            );
        }
    }
    (samples.len(), rejected.len())
}

#[test]
fn reruns_are_byte_identical_across_workers_and_jitter() {
    let bad = [
        "--bad-off-topic",
        "0.05",
        "--bad-near-duplicate",
        "0.05",
        "--bad-pii",
        "0.05",
        "--prose-rate",
        "0.2",
    ];
    let sim = Sim::start(&[&["--latency-ms", "3"][..], &bad[..]].concat());
    let jitter = Sim::start(&[&["--latency-ms", "3", "--jitter-ms", "40"][..], &bad[..]].concat());
    let dir = tempdir("determinism");
    let job = write_job(&dir, "det", 120, "", "");
    let runs = [
        ("a", &sim, vec![]),
        ("b", &sim, vec![]),
        (
            "one-gen",
            &sim,
            vec!["--generators", "1", "--validators", "1"],
        ),
        (
            "four-gen-jitter",
            &jitter,
            vec!["--generators", "4", "--validators", "3"],
        ),
    ];
    for (name, s, args) in &runs {
        let o = run_job(&job, &dir.join(name), &s.url, args);
        assert!(o.status.success(), "{name} failed");
    }
    let a = dir.join("a");
    for (name, _, _) in &runs[1..] {
        assert_same_dataset(&a, &dir.join(name));
    }
    let (accepted, rejected) = assert_accounted(&a);
    assert_eq!(accepted, 120);
    assert!(
        rejected > 0,
        "bad samples were injected: some must be rejected"
    );
    let m = manifest(&a);
    assert!(
        m["counts"]["rounds"].as_u64().unwrap() >= 2,
        "rejections need a second round"
    );
    // The jittered run really was concurrent and out of order: the sim saw overlap.
    assert!(jitter.stats()["max_in_flight"].as_u64().unwrap() > 1);
}

#[test]
fn faults_are_retried_and_every_slot_is_accounted_once() {
    let faulty = Sim::start(&[
        "--latency-ms",
        "2",
        "--fault-429",
        "0.05",
        "--fault-500",
        "0.05",
        "--fault-timeout",
        "0.05",
        "--hang-ms",
        "3000",
        "--fault-malformed",
        "0.05",
    ]);
    let clean = Sim::start(&["--latency-ms", "2"]);
    let dir = tempdir("faults");
    let job = write_job(&dir, "faults", 100, "", "");
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("timeout_ms: 5000", "timeout_ms: 300");
    std::fs::write(&job, text).unwrap();
    let o = run_job(&job, &dir.join("faulty"), &faulty.url, &[]);
    assert!(o.status.success(), "a job with 20% faults must complete");
    assert_accounted(&dir.join("faulty"));
    let m = manifest(&dir.join("faulty"));
    let ep = &m["endpoint"];
    for k in [
        "retries_429",
        "retries_5xx",
        "retries_timeout",
        "retries_unparseable",
    ] {
        assert!(ep[k].as_u64().unwrap() > 0, "no {k} counted: {ep}");
    }
    // The report shows them: a table row and a summary line.
    let o = Command::new(BIN)
        .arg("report")
        .arg(dir.join("faulty"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stderr);
    let line = format!(
        "model endpoint: {} requests, retries: 429 {}, 5xx {}",
        ep["requests"], ep["retries_429"], ep["retries_5xx"]
    );
    assert!(summary.contains(&line), "no {line:?} in {summary}");
    let html = std::fs::read_to_string(dir.join("faulty/report.html")).unwrap();
    assert!(html.contains("<h2>Requests and retries</h2>"), "{html}");
    assert!(
        html.contains(&format!(
            "<tr><td>model endpoint</td><td class=num>{}</td>",
            ep["requests"]
        )),
        "{html}"
    );
    let stats = faulty.stats();
    assert!(
        stats["faults"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
            > 0
    );
    // Faults cost time, never data: the same dataset as against a clean endpoint.
    let o = run_job(&job, &dir.join("clean"), &clean.url, &[]);
    assert!(o.status.success());
    assert_same_dataset(&dir.join("faulty"), &dir.join("clean"));
}

#[test]
fn budget_spent_exits_3_and_keeps_what_it_has() {
    let sim = Sim::start(&["--latency-ms", "1", "--bad-off-topic", "0.9"]);
    let dir = tempdir("budget");
    let job = write_job(&dir, "budget", 40, "", "max_slots: 60");
    let o = run_job(&job, &dir.join("out"), &sim.url, &[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("budget"));
    let m = manifest(&dir.join("out"));
    assert_eq!(m["status"], "budget_spent");
    assert_eq!(m["counts"]["planned"], 60);
    assert_accounted(&dir.join("out"));
}

#[test]
fn bad_input_exits_2_naming_file_and_field() {
    let dir = tempdir("bad-input");
    let docs = repo().join("examples/qa/docs");
    let seeds_ok = repo().join("examples/qa/seeds.jsonl");
    std::fs::write(dir.join("binary.md"), [0x48, 0x69, 0xff, 0xfe, 0x00]).unwrap();
    std::fs::write(dir.join("empty.jsonl"), "\n\n").unwrap();
    std::fs::write(
        dir.join("missing-field.jsonl"),
        "{\"question\": \"only a question?\"}\n",
    )
    .unwrap();
    let base = |sources: &str, seeds: &str, extra: &str| {
        format!(
            "name: bad\ntarget: 5\nsources:\n  - path: {sources}\nseed_examples: {seeds}\ntask:\n  kind: qa\nmodel:\n  backend: openai\n  endpoints: [\"http://127.0.0.1:9\"]\n{extra}"
        )
    };
    let doc = docs.join("honeybees.md").display().to_string();
    let seeds = seeds_ok.display().to_string();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "malformed yaml",
            "name: [unclosed\ntarget: 3\n".to_string(),
            vec!["bad.yaml", "line"],
        ),
        (
            "unknown field",
            base(&doc, &seeds, "colour: red\n"),
            vec!["bad.yaml", "colour"],
        ),
        (
            "unknown nested field",
            base(
                &doc,
                &seeds,
                "validate:\n  faithfulness:\n    min_scor: 0.5\n",
            ),
            vec!["bad.yaml", "validate.faithfulness", "min_scor"],
        ),
        (
            "missing source",
            base("nope/absent.md", &seeds, ""),
            vec!["bad.yaml", "sources[0].path", "absent.md"],
        ),
        (
            "not utf-8",
            base(&dir.join("binary.md").display().to_string(), &seeds, ""),
            vec!["binary.md", "sources[0].path", "UTF-8"],
        ),
        (
            "empty seed set",
            base(&doc, &dir.join("empty.jsonl").display().to_string(), ""),
            vec!["empty.jsonl", "empty"],
        ),
        (
            "seed missing a field",
            base(
                &doc,
                &dir.join("missing-field.jsonl").display().to_string(),
                "",
            ),
            vec!["missing-field.jsonl", "line 1", "answer"],
        ),
        (
            "target zero",
            base(&doc, &seeds, "").replace("target: 5", "target: 0"),
            vec!["bad.yaml", "target"],
        ),
        (
            "bad endpoint url",
            base(&doc, &seeds, "").replace("http://127.0.0.1:9", "htp://x"),
            vec!["bad.yaml", "model.endpoints[0]", "htp://x"],
        ),
        (
            "wrong type",
            base(&doc, &seeds, "").replace("target: 5", "target: many"),
            vec!["bad.yaml", "target"],
        ),
        (
            "judge rating out of scale",
            base(
                &doc,
                &seeds,
                "validate:\n  judge:\n    endpoints: [\"http://127.0.0.1:9\"]\n    min_faithfulness: 7\n",
            ),
            vec!["bad.yaml", "validate.judge.min_faithfulness", "1 to 5"],
        ),
        (
            "judge endpoint not a url",
            base(
                &doc,
                &seeds,
                "validate:\n  judge:\n    endpoints: [\"judge:8000\"]\n",
            ),
            vec!["bad.yaml", "validate.judge.endpoints[0]", "judge:8000"],
        ),
        (
            "copied share negative",
            base(
                &doc,
                &seeds,
                "validate:\n  copying:\n    max_span_share: -0.5\n",
            ),
            vec!["bad.yaml", "validate.copying.max_span_share", "-0.5"],
        ),
        (
            "same numbers of one",
            base(
                &doc,
                &seeds,
                "validate:\n  diversity:\n    same_numbers_min: 1\n",
            ),
            vec!["bad.yaml", "validate.diversity.same_numbers_min", "at least 2"],
        ),
        (
            "near-duplicate scope unknown",
            base(
                &doc,
                &seeds,
                "validate:\n  semantic:\n    near_duplicate_scope: paragraph\n",
            ),
            vec![
                "bad.yaml",
                "validate.semantic.near_duplicate_scope",
                "paragraph",
                "chunk",
            ],
        ),
    ];
    for (name, yaml, needles) in cases {
        let job = dir.join("bad.yaml");
        std::fs::write(&job, yaml).unwrap();
        let out = dir.join(format!("out-{}", name.replace(' ', "-")));
        let o = run_plain(&job, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{name}: expected exit 2, got {:?}: {err}",
            o.status.code()
        );
        for n in needles {
            assert!(
                err.contains(n),
                "{name}: message {err:?} does not name {n:?}"
            );
        }
        assert!(!out.exists(), "{name}: bad input wrote {}", out.display());
    }
}

#[test]
fn injected_bad_samples_are_rejected_with_the_right_reason() {
    let rate = 0.06;
    let r = rate.to_string();
    let sim = Sim::start(&[
        "--latency-ms",
        "1",
        "--bad-off-topic",
        &r,
        "--bad-copied",
        &r,
        "--bad-near-duplicate",
        &r,
        "--bad-invented-number",
        &r,
        "--bad-pii",
        &r,
    ]);
    let rates = seedstream_sim::BadRates {
        off_topic: rate,
        copied: rate,
        near_duplicate: rate,
        invented_number: rate,
        pii: rate,
    };
    let dir = tempdir("bad-samples");
    let job = write_job(&dir, "bad", 600, "", "");
    let o = run_job(&job, &dir.join("out"), &sim.url, &[]);
    assert!(o.status.success());
    let out = dir.join("out");
    let mut records: Vec<serde_json::Value> = lines(&out.join("samples.jsonl"));
    records.extend(lines(&out.join("rejected.jsonl")));
    let key = |r: &serde_json::Value| {
        let p = &r["provenance"];
        (
            p["round"].as_u64().unwrap(),
            p["shard"].as_u64().unwrap(),
            p["slot"].as_u64().unwrap(),
        )
    };
    records.sort_by_key(key);
    let kinds = [
        "off_topic",
        "copied",
        "near_duplicate",
        "invented_number",
        "pii",
    ];
    // (true positives, predicted, actual) per kind.
    let mut tally: HashMap<&str, (u32, u32, u32)> = kinds.iter().map(|k| (*k, (0, 0, 0))).collect();
    let mut first_near_dup_seen = BTreeSet::new();
    let mut good = (0u32, 0u32);
    for r in &records {
        let seed = r["provenance"]["seed"].as_u64().unwrap();
        // Ground truth from the simulator's own rule, on the record's chunk (a "copied"
        // injection on a chunk too short to copy from falls back to a good sample).
        let doc = r["source"]["document"].as_str().unwrap();
        let text = std::fs::read_to_string(doc).unwrap();
        let chunks = seedstream_core::chunk::chunk_document(0, &text, 500, 50);
        let chunk = &chunks[r["source"]["chunk"].as_u64().unwrap() as usize].text;
        let truth = seedstream_sim::effective_kind(chunk, seed, &rates).map(|k| k.as_str());
        // One near-duplicate in ~40 is identical to its chunk's first: an exact duplicate.
        let reasons_raw: Vec<&str> = r["reasons"]
            .as_array()
            .map(|a| a.iter().map(|x| x["code"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let reasons: Vec<&str> = reasons_raw
            .iter()
            .map(|c| {
                if *c == "duplicate" {
                    "near_duplicate"
                } else {
                    c
                }
            })
            .collect();
        if reasons.contains(&"over_target") {
            continue;
        }
        if truth == Some("near_duplicate") {
            // The first near-duplicate of each chunk is the one the others copy: it is kept.
            let chunk = (
                r["source"]["document"].to_string(),
                r["source"]["chunk"].as_u64(),
            );
            if first_near_dup_seen.insert(chunk) {
                continue;
            }
        }
        if truth.is_none() {
            good.1 += 1;
            if reasons.is_empty() {
                good.0 += 1;
            }
        }
        for k in kinds {
            let predicted = reasons.contains(&k);
            let actual = truth == Some(k);
            let t = tally.get_mut(k).unwrap();
            t.0 += (predicted && actual) as u32;
            t.1 += predicted as u32;
            t.2 += actual as u32;
        }
    }
    let mut report = String::new();
    for k in kinds {
        let (tp, pred, act) = tally[k];
        let precision = tp as f64 / pred.max(1) as f64;
        let recall = tp as f64 / act.max(1) as f64;
        report += &format!("{k}: precision {precision:.3} recall {recall:.3} (tp {tp}, predicted {pred}, injected {act})\n");
        assert!(act >= 10, "too few {k} injected to measure: {act}");
        assert!(
            precision >= 0.9 && recall >= 0.8,
            "{k} below 0.9 precision / 0.8 recall:\n{report}"
        );
    }
    let good_rate = good.0 as f64 / good.1 as f64;
    report += &format!(
        "good samples accepted: {good_rate:.3} ({} of {})\n",
        good.0, good.1
    );
    eprintln!("{report}");
    assert!(
        good_rate >= 0.85,
        "too many good samples rejected:\n{report}"
    );
}

#[test]
fn sigkill_midway_then_rerun_asks_only_for_what_was_unanswered() {
    let sim = Sim::start(&["--latency-ms", "40", "--max-concurrency", "64"]);
    let dir = tempdir("resume");
    let job = write_job(&dir, "resume", 200, "", "");
    // Reference: an uninterrupted run, and what it cost.
    let o = run_job(&job, &dir.join("reference"), &sim.url, &[]);
    assert!(o.status.success());
    let total = sim.requests();
    sim.reset();
    // Interrupted run: kill -9 at about half of the requests.
    let out = dir.join("resumed");
    let first = run_killed_halfway(&job, &out, &sim, total);
    assert!(
        !out.join("samples.jsonl").exists(),
        "a killed run left a complete-looking samples.jsonl"
    );
    sim.reset();
    let o = run_job(&job, &out, &sim.url, &[]);
    assert!(o.status.success());
    let second = sim.requests();
    eprintln!("uninterrupted {total} requests; killed after {first}; rerun asked {second}");
    // Only what was not answered: the rerun's requests plus the first run's make the
    // whole, give or take what was in flight when it died.
    // Answers are journaled as they arrive, so only requests in flight at the kill
    // (at most the job's concurrency, 16) may be asked twice.
    let slack = 16;
    assert!(
        second + first >= total,
        "rerun asked too little: outputs would be missing"
    );
    assert!(
        second + first <= total + slack,
        "rerun re-asked answered requests: {second} + {first} > {total} + {slack}"
    );
    assert_same_dataset(&dir.join("reference"), &out);
    let m = manifest(&out);
    assert!(m["counts"]["answers_from_cache"].as_u64().unwrap() >= first.saturating_sub(slack));
}

#[test]
fn completed_job_rerun_makes_no_request() {
    let sim = Sim::start(&["--latency-ms", "1"]);
    let dir = tempdir("replay");
    let job = write_job(&dir, "replay", 60, "", "");
    assert!(run_job(&job, &dir.join("out"), &sim.url, &[])
        .status
        .success());
    let before = read(&dir.join("out/samples.jsonl"));
    sim.reset();
    assert!(run_job(&job, &dir.join("out"), &sim.url, &[])
        .status
        .success());
    assert_eq!(
        sim.requests(),
        0,
        "a replay must be served from the response cache"
    );
    assert_eq!(read(&dir.join("out/samples.jsonl")), before);
}

#[test]
fn misconfigured_endpoint_stops_the_job_with_a_clear_error() {
    let sim = Sim::start(&["--latency-ms", "1"]);
    let dir = tempdir("misconfigured");
    let job = write_job(&dir, "wrong", 50, "", "");
    // A wrong path: the server answers 404 to every request.
    let url = format!("{}/no-such-prefix", sim.url);
    let started = std::time::Instant::now();
    let o = run_job(&job, &dir.join("out"), &url, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("404") && err.contains("check model.endpoints"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!dir.join("out/samples.jsonl").exists());
}

/// Servers refuse `response_format` with 400 (vLLM, Ollama), 422 (FastAPI validation) or
/// 500 (llama-cpp-python's server wraps its validation error): each is asked again in
/// plain text, not retried as it is.
#[test]
fn endpoint_without_structured_output_is_asked_in_plain_text() {
    let normal = Sim::start(&["--latency-ms", "1", "--prose-rate", "0.3"]);
    let dir = tempdir("plain");
    let job = write_job(&dir, "plain", 40, "", "");
    assert!(run_job(&job, &dir.join("normal"), &normal.url, &[])
        .status
        .success());
    for status in ["400", "422", "500"] {
        let plain = Sim::start(&[
            "--latency-ms",
            "1",
            "--reject-response-format",
            "--reject-response-format-status",
            status,
            "--prose-rate",
            "0.3",
        ]);
        let out = dir.join(format!("plain-{status}"));
        let o = run_job(&job, &out, &plain.url, &[]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The same answers, parsed from plain text: the same dataset.
        assert_same_dataset(&out, &dir.join("normal"));
        let s = plain.stats();
        assert!(s["by_status"][status].as_u64().unwrap_or(0) >= 1, "{s}");
        assert!(
            s["by_status"][status].as_u64().unwrap() <= 16,
            "every request was refused first: {s}"
        );
        // Not counted as the endpoint failing.
        let m = manifest(&out);
        assert_eq!(m["endpoint"]["retries_5xx"], 0, "{m}");
    }
}

/// The LLM judge against a second simulator acting as judge (its ratings are word overlap,
/// not a model: this tests the plumbing, not a judge's quality). The judge endpoint
/// throws 429s, 500s and malformed replies, and words its verdicts four ways.
#[test]
fn llm_judge_rates_every_record_through_the_cache() {
    let rate = 0.15;
    let sim = Sim::start(&["--latency-ms", "1", "--bad-off-topic", &rate.to_string()]);
    let judge = Sim::start(&[
        "--latency-ms",
        "1",
        "--fault-429",
        "0.08",
        "--fault-500",
        "0.05",
        "--fault-malformed",
        "0.1",
    ]);
    let rates = seedstream_sim::BadRates {
        off_topic: rate,
        ..seedstream_sim::BadRates::uniform(0.0)
    };
    let dir = tempdir("judge");
    let extra = judge_yaml(&judge.url, &["model: judge-sim", "max_retries: 8"]);
    let job = write_job(&dir, "judged", 80, "", &extra);
    let out = dir.join("out");
    let o = run_job(&job, &out, &sim.url, &[]);
    assert!(o.status.success());
    let m = manifest(&out);
    let accepted = lines(&out.join("samples.jsonl"));
    let rejected = lines(&out.join("rejected.jsonl"));
    assert_eq!(accepted.len(), 80);

    // Every decided record was rated once (no judge failures), and replies that did not
    // parse were retried and counted.
    let js = judge.stats();
    let rated = js["judge_ratings"].as_u64().unwrap();
    assert_eq!(rated, js["distinct_requests"].as_u64().unwrap());
    assert_eq!(js["requests_total"], m["judge"]["requests"], "{m}");
    assert!(
        m["judge"]["retries_unparseable"].as_u64().unwrap() > 0,
        "{m}"
    );
    assert!(m["judge"]["retries_429"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["judge"]["failures"], 0, "{m}");
    assert_eq!(m["validation"]["judge"]["min_faithfulness"], 4);
    for r in &accepted {
        let s = &r["scores"];
        assert!(s["judge_faithfulness"].as_f64().unwrap() >= 0.75, "{r}");
        assert!(s["judge_relevance"].as_f64().unwrap() >= 0.5, "{r}");
    }
    // Off-topic samples are rejected by the judge's verdict, naming its rating, unless a
    // check the judge does not settle rejected them first (then it was not asked).
    let settled = [
        "format",
        "pii",
        "copied",
        "invented_number",
        "contradiction",
    ];
    let (mut off_topic, mut by_judge, mut with_verdict, mut not_asked) = (0, 0, 0, 0);
    for r in accepted.iter().chain(&rejected) {
        let codes: Vec<&str> = r["reasons"]
            .as_array()
            .map(|a| a.iter().map(|x| x["code"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let asked = !codes.iter().any(|c| settled.contains(c));
        assert_eq!(r["scores"]["judge_faithfulness"].is_number(), asked, "{r}");
        if asked {
            with_verdict += 1;
        } else {
            not_asked += 1;
        }
        let seed = r["provenance"]["seed"].as_u64().unwrap();
        if seedstream_sim::injected_kind(seed, &rates).is_some() {
            off_topic += 1;
            assert!(!codes.is_empty(), "an off-topic sample accepted: {r}");
            if asked && !codes.contains(&"over_target") {
                by_judge += 1;
                assert!(
                    r["reasons"]
                        .to_string()
                        .contains("judge rated relevance 1/5"),
                    "an off-topic sample not rejected by the judge: {r}"
                );
            }
        }
    }
    assert!(off_topic >= 5, "too few off-topic samples: {off_topic}");
    assert!(
        by_judge >= 5,
        "too few off-topic samples judged: {by_judge}"
    );
    eprintln!("judged {with_verdict} records, {not_asked} not asked; {by_judge} of {off_topic} off-topic samples rejected by the judge");
    assert_eq!(rated as usize, with_verdict, "one verdict per record asked");

    // A rerun pays neither the generator nor the judge again, and gives the same bytes.
    let before = read(&out.join("samples.jsonl"));
    sim.reset();
    judge.reset();
    assert!(run_job(&job, &out, &sim.url, &[]).status.success());
    assert_eq!(sim.requests(), 0);
    assert_eq!(
        judge.requests(),
        0,
        "judge verdicts must come from the cache"
    );
    assert_eq!(read(&out.join("samples.jsonl")), before);
    assert_eq!(
        manifest(&out)["judge"]["cache_hits"].as_u64().unwrap(),
        rated
    );

    // `seedstream score` asks the judge the same question (same bytes, same rating) and
    // caches the verdicts beside its output: scoring again pays nothing.
    let score = |to: &Path| {
        let o = Command::new(BIN)
            .arg("score")
            .arg(&job)
            .arg("--input")
            .arg(out.join("samples.jsonl"))
            .arg("--out")
            .arg(to)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let scored = dir.join("scored");
    judge.reset();
    score(&scored);
    assert_eq!(judge.stats()["judge_ratings"].as_u64().unwrap(), 80);
    let rescored = lines(&scored.join("samples.jsonl"));
    assert_eq!(rescored.len(), 80);
    for (a, b) in accepted.iter().zip(&rescored) {
        assert_eq!(
            a["scores"]["judge_faithfulness"],
            b["scores"]["judge_faithfulness"]
        );
    }
    // The job's judge concurrency (8 by default) is used: several requests at once.
    assert!(judge.stats()["max_in_flight"].as_u64().unwrap() > 1);
    judge.reset();
    score(&scored);
    assert_eq!(judge.requests(), 0);

    // `score --judge URL --judge-model NAME --judge-concurrency N --judge-timeout-ms MS`
    // replaces the job's judge: the same ratings from a job whose judge section names a
    // dead address and another model, one request at a time.
    let elsewhere = judge_yaml("http://127.0.0.1:9", &["model: other", "max_retries: 8"]);
    let job_cli = write_job(&dir, "judged-cli", 80, "", &elsewhere);
    let scored_cli = dir.join("scored-cli");
    judge.reset();
    let o = Command::new(BIN)
        .arg("score")
        .arg(&job_cli)
        .args(["--judge", &judge.url, "--judge-model", "judge-sim"])
        .args(["--judge-concurrency", "1", "--judge-timeout-ms", "30000"])
        .arg("--input")
        .arg(out.join("samples.jsonl"))
        .arg("--out")
        .arg(&scored_cli)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(judge.stats()["judge_ratings"].as_u64().unwrap(), 80);
    assert_eq!(judge.stats()["max_in_flight"].as_u64().unwrap(), 1);
    assert_eq!(lines(&scored_cli.join("samples.jsonl")), rescored);
    let o = Command::new(BIN)
        .arg("score")
        .arg(&job_cli)
        .args(["--judge", "judge:8000"])
        .arg("--input")
        .arg(out.join("samples.jsonl"))
        .arg("--out")
        .arg(dir.join("scored-bad"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("validate.judge.endpoints[0]"), "{err}");
}

/// A judge that never answers: every record is rejected with `judge_failed` and its last
/// error, none is dropped, and the job ends with its budget spent (exit 3).
#[test]
fn failing_judge_rejects_with_a_reason_and_loses_nothing() {
    let sim = Sim::start(&["--latency-ms", "1"]);
    let judge = Sim::start(&["--latency-ms", "1", "--fault-500", "1"]);
    let dir = tempdir("judge-down");
    let extra = format!(
        "max_slots: 24\n{}",
        judge_yaml(&judge.url, &["max_retries: 1"])
    );
    let job = write_job(&dir, "judge-down", 20, "", &extra);
    let out = dir.join("out");
    let o = run_job(&job, &out, &sim.url, &[]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(lines(&out.join("samples.jsonl")).is_empty());
    let rejected = lines(&out.join("rejected.jsonl"));
    let m = manifest(&out);
    assert_eq!(
        rejected.len() as u64,
        m["counts"]["decided"].as_u64().unwrap()
    );
    assert!(!rejected.is_empty());
    for r in &rejected {
        let reasons = r["reasons"].to_string();
        assert!(
            reasons.contains("judge_failed") && reasons.contains("500"),
            "{r}"
        );
    }
    assert_eq!(
        m["judge"]["failures"].as_u64().unwrap(),
        rejected.len() as u64
    );
}

/// A job on `bench/make_corpus.py`'s corpus (50 short documents) in `dir`.
fn write_corpus_job(
    dir: &Path,
    name: &str,
    target: u64,
    url: &str,
    concurrency: u32,
) -> std::path::PathBuf {
    let status = Command::new("python3")
        .arg(repo().join("bench/make_corpus.py"))
        .arg(dir)
        .status()
        .expect("python3 runs bench/make_corpus.py");
    assert!(status.success());
    let mut yaml = format!("name: {name}\nseed: 3\ntarget: {target}\nshard_size: 8\nsources:\n");
    let mut docs: Vec<_> = std::fs::read_dir(dir.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    docs.sort();
    for d in docs {
        yaml.push_str(&format!("  - path: {}\n", d.display()));
    }
    yaml.push_str(&format!(
        "chunking: {{max_chars: 700, overlap_chars: 50}}\nseed_examples: {}\ntask: {{kind: qa, few_shot: 2}}\nmodel: {{backend: openai, endpoints: [\"{url}\"], name: seedstream-sim, concurrency: {concurrency}, timeout_ms: 30000}}\n",
        dir.join("seeds.jsonl").display()
    ));
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, without_semantic(&yaml)).unwrap();
    path
}

/// A job whose second round is planned early (at the first round's halfway point) while
/// the first round is still being published, and is larger than the window, finishes.
/// Before the fix, the early round's shards took every window permit; their slots can
/// only be decided after the first round's, whose last shards then could never be
/// published: every task parked, nothing in flight, no error (the 1M-record hang,
/// reproduced here at 6,000 records with a fifth of the answers off topic).
#[test]
fn a_large_early_round_does_not_starve_the_round_before_it() {
    let sim = Sim::start(&["--bad-off-topic", "0.2"]);
    let dir = tempdir("early-round");
    let job = write_corpus_job(&dir, "early", 6000, &sim.url, 16);
    let out = dir.join("out");
    let mut child = Command::new(BIN)
        .args(["run", "--quiet", "--stall-warn-s", "5"])
        .arg(&job)
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the job hung: {} requests answered, {} in flight",
                sim.requests(),
                sim.stats()["in_flight"]
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    let m = manifest(&out);
    assert_eq!(m["counts"]["accepted"], 6000);
    assert!(
        m["counts"]["rounds"].as_u64().unwrap() >= 2,
        "the test needs an early second round"
    );
    // Round 1 was large enough to have filled the window (1,024 + 8 slots) on its own.
    let round1 = lines(&out.join("samples.jsonl"))
        .iter()
        .chain(lines(&out.join("rejected.jsonl")).iter())
        .filter(|r| r["provenance"]["round"] == 1)
        .count();
    assert!(round1 > 1032, "round 1 had only {round1} slots");
    assert!(
        !err.contains("no slot decided"),
        "the watchdog fired: {err}"
    );
}

/// A job that decides nothing for `--stall-warn-s` says what it waits for.
#[test]
fn a_stalled_job_says_what_it_waits_for() {
    let sim = Sim::start(&["--latency-ms", "2500"]);
    let dir = tempdir("stall");
    let job = write_job(&dir, "stall", 4, "", "");
    let o = run_job(&job, &dir.join("out"), &sim.url, &["--stall-warn-s", "1"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("no slot decided"))
        .unwrap_or_else(|| panic!("no watchdog warning in: {err}"));
    for field in [
        "in_flight=",
        "window_free=",
        "round=0",
        "next_slot=0",
        "verdicts_waiting=",
    ] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
}

/// `run --dry-run` prints the first slot's request and sends and writes nothing.
#[test]
fn dry_run_prints_the_first_request_and_writes_nothing() {
    let dir = tempdir("dry-run");
    // The job's endpoint does not answer: a dry run never calls it.
    let job = write_job(&dir, "dry", 10, "", "");
    let out = dir.join("out");
    let o = run_plain(&job, &out, &["--dry-run"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in [
        "round 0, shard 0, slot 0",
        "--- system ---",
        "--- user ---",
        "<document>",
        "--- response_format ---",
        "\"json_schema\"",
        "model seedstream-sim",
    ] {
        assert!(text.contains(want), "{want} missing from: {text}");
    }
    assert!(!out.exists(), "a dry run wrote {}", out.display());
}
