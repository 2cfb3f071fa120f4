//! The validators against five labeled sets, each scored with `seedstream score` with the
//! semantic checks on (all-MiniLM-L6-v2, in process):
//!
//! - `tests/data/eval/`: 346 records over six source documents, written with the
//!   validators;
//! - `tests/data/holdout/`: 162 records over three other documents, written later by
//!   someone who had not seen the validators or the first set;
//! - `tests/data/blind/`: 166 records over three more documents, written the same way
//!   after the holdout set had been used to fix the rules, so its first scoring measured
//!   how they carry over to text they were not written with;
//! - `tests/data/fresh/` (82 records, two documents) and `tests/data/blind2/` (113
//!   records, three documents): written blind the same way, later.
//!
//! The target is precision ≥ 0.9 and recall ≥ 0.8 for every defect. Defects that meet it
//! are held to it; those that do not yet (see [`FLOORS`]) are held to what they reach
//! now, so a regression fails the test while the gap stays visible in its output and in
//! the README.
//!
//! A rejected record's predicted defect is its most specific reason, in this order: pii,
//! copied, duplicate (counted as near_duplicate), off_topic, contradiction or
//! invented_number (counted as unfaithful), near_duplicate, unfaithful.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

const DEFECTS: [&str; 5] = ["unfaithful", "off_topic", "near_duplicate", "pii", "copied"];

/// (defect, precision, recall) floors below the 0.9 / 0.8 target: measured on the first
/// set (unfaithful 0.833 / 0.714), less a record or two. Unfaithful answers that invent a
/// cause or contradict the source in paraphrase are fluent and on topic: similarity, word
/// overlap and the lexical contradiction rules cannot see them; that needs the LLM judge
/// or an entailment model.
const FLOORS: [(&str, f64, f64); 1] = [("unfaithful", 0.8, 0.69)];

/// The same for the second set (measured: unfaithful 0.850 / 0.708).
const HOLDOUT_FLOORS: [(&str, f64, f64); 1] = [("unfaithful", 0.81, 0.66)];

/// The same for the third set (measured: unfaithful 0.750 / 0.444; it was 0.381 / 0.296
/// at its first scoring).
const BLIND_FLOORS: [(&str, f64, f64); 1] = [("unfaithful", 0.71, 0.4)];

/// The same for the fourth set, written blind like the third (measured: unfaithful
/// 0.571 / 0.667, off_topic 0.833 / 1.000; at its first scoring, e232353, unfaithful was
/// 0.300 / 0.500 and 21 of its 36 good records were accepted, most of the others
/// rejected for numbers they worked out).
const FRESH_FLOORS: [(&str, f64, f64); 2] = [("unfaithful", 0.53, 0.6), ("off_topic", 0.8, 0.9)];

/// The same for the fifth set, written blind like the third and fourth (measured:
/// unfaithful 0.529 / 0.529; its first scoring, before any rule had seen it, was
/// unfaithful 0.471 / 0.471, off_topic 1.000 / 0.833, near_duplicate 0.889 / 0.800).
const BLIND2_FLOORS: [(&str, f64, f64); 1] = [("unfaithful", 0.47, 0.47)];

fn predicted(reasons: &[serde_json::Value]) -> &'static str {
    let codes: Vec<&str> = reasons.iter().filter_map(|r| r["code"].as_str()).collect();
    let has = |c: &[&str]| codes.iter().any(|x| c.contains(x));
    if has(&["pii"]) {
        "pii"
    } else if has(&["copied"]) {
        "copied"
    } else if has(&["duplicate"]) {
        "near_duplicate"
    } else if has(&["off_topic"]) {
        "off_topic"
    } else if has(&["contradiction", "invented_number"]) {
        "unfaithful"
    } else if has(&["near_duplicate"]) {
        "near_duplicate"
    } else if has(&["unfaithful"]) {
        "unfaithful"
    } else {
        "other"
    }
}

/// `seedstream score JOB --input <the labeled records> --out OUT`, which must succeed.
fn score(job: &Path, input: &Path, out: &Path) {
    let o = Command::new(BIN)
        .arg("score")
        .arg(job)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "score failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// (label, predicted) per record id of the labeled set in `tests/data/<set>/`, with the
/// set's own job, or with its `validate` section removed (`defaults`: what a new user
/// gets without tuning).
fn score_eval_with(set: &str, out: &Path, defaults: bool) -> BTreeMap<String, (String, String)> {
    let data = repo().join("tests/data").join(set);
    let job = if defaults {
        let text = std::fs::read_to_string(data.join("job.yaml")).unwrap();
        let head = &text[..text.find("\nvalidate:").map_or(text.len(), |i| i + 1)];
        let job = out.with_extension("job.yaml");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(
            &job,
            head.replace("  - path: ", &format!("  - path: {}/", data.display()))
                .replace(
                    "seed_examples: ",
                    &format!("seed_examples: {}/", data.display()),
                ),
        )
        .unwrap();
        job
    } else {
        data.join("job.yaml")
    };
    score(&job, &data.join("records.jsonl"), out);
    let labels: BTreeMap<String, String> = lines(&data.join("records.jsonl"))
        .into_iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["label"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut got = BTreeMap::new();
    for r in lines(&out.join("samples.jsonl")) {
        let id = r["id"].as_str().unwrap().to_string();
        got.insert(id.clone(), (labels[&id].clone(), "good".to_string()));
    }
    for r in lines(&out.join("rejected.jsonl")) {
        let id = r["id"].as_str().unwrap().to_string();
        let reasons = r["reasons"].as_array().unwrap();
        let p = predicted(reasons);
        // The first reason alone names the same defect as all of them: the most
        // specific diagnosis is written first.
        assert_eq!(
            predicted(&reasons[..1]),
            p,
            "{id}: first reason {:?} of {reasons:?}",
            reasons[0]["code"]
        );
        got.insert(id.clone(), (labels[&id].clone(), p.to_string()));
    }
    assert_eq!(
        got.len(),
        labels.len(),
        "every record is in one of the two files"
    );
    // The records give their `context` (paragraphs of the documents), not a chunk index:
    // each accepted one is still placed in the job chunk its context starts in, for the
    // manifest's coverage.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let placed: u64 = m["diversity"]["records_per_chunk"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(placed, m["counts"]["accepted"].as_u64().unwrap(), "{set}");
    assert_eq!(m["diversity"]["records_unplaced"], 0, "{set}");
    assert!(m["diversity"]["chunks_covered"].as_u64().unwrap() > 0);
    got
}

#[test]
fn validators_precision_and_recall_on_the_labeled_set() {
    precision_and_recall("eval", &FLOORS);
}

#[test]
fn validators_precision_and_recall_on_the_holdout_set() {
    precision_and_recall("holdout", &HOLDOUT_FLOORS);
}

#[test]
fn validators_precision_and_recall_on_the_blind_set() {
    precision_and_recall("blind", &BLIND_FLOORS);
}

#[test]
fn validators_precision_and_recall_on_the_fresh_set() {
    precision_and_recall("fresh", &FRESH_FLOORS);
}

#[test]
fn validators_precision_and_recall_on_the_blind2_set() {
    precision_and_recall("blind2", &BLIND2_FLOORS);
}

/// With default settings (the sets' jobs without their `validate` section): the
/// semantic checks on, `same_numbers_min` off. Held to floors just under what they
/// measure (README), below the 0.9 / 0.8 target where they fall short of it.
/// (defect, precision, recall) floors of one set.
type Floors = &'static [(&'static str, f64, f64)];

const DEFAULT_FLOORS: [(&str, Floors); 5] = [
    ("eval", &FLOORS),
    ("holdout", &HOLDOUT_FLOORS),
    ("blind", &BLIND_FLOORS),
    ("fresh", &FRESH_FLOORS),
    // Measured 0.889 / 0.800: one reworded pair fewer than with same_numbers_min 3.
    (
        "blind2",
        &[("unfaithful", 0.47, 0.47), ("near_duplicate", 0.85, 0.75)],
    ),
];

#[test]
fn default_settings_on_every_labeled_set() {
    for (set, floors) in DEFAULT_FLOORS {
        precision_and_recall_with(set, floors, true);
    }
}

fn precision_and_recall(set: &str, floors: &[(&str, f64, f64)]) {
    precision_and_recall_with(set, floors, false)
}

fn precision_and_recall_with(set: &str, floors: &[(&str, f64, f64)], defaults: bool) {
    let dir = tempdir(&format!("{set}{}", if defaults { "-defaults" } else { "" }));
    let got = score_eval_with(set, &dir.join("scored"), defaults);
    let settings = if defaults {
        "default settings (no validate section)"
    } else {
        "the set's own settings"
    };
    let mut table = format!("{set}, {settings}\ndefect          n   precision  recall\n");
    let mut failed = Vec::new();
    for d in DEFECTS {
        let tp = got.values().filter(|(l, p)| l == d && p == d).count() as f64;
        let fp = got.values().filter(|(l, p)| l != d && p == d).count() as f64;
        let fn_ = got.values().filter(|(l, p)| l == d && p != d).count() as f64;
        let precision = if tp + fp == 0.0 { 0.0 } else { tp / (tp + fp) };
        let recall = if tp + fn_ == 0.0 {
            0.0
        } else {
            tp / (tp + fn_)
        };
        let (min_p, min_r) = floors
            .iter()
            .find(|f| f.0 == d)
            .map_or((0.9, 0.8), |f| (f.1, f.2));
        let target = if precision >= 0.9 && recall >= 0.8 {
            "meets 0.9/0.8"
        } else {
            "BELOW 0.9/0.8"
        };
        table.push_str(&format!(
            "{d:<15} {:>3}   {precision:.3}      {recall:.3}   {target} (held to {min_p:.2}/{min_r:.2})\n",
            (tp + fn_) as u64
        ));
        if precision < min_p || recall < min_r {
            failed.push(d);
        }
    }
    let good = got.values().filter(|(l, _)| l == "good").count();
    let kept = got
        .values()
        .filter(|(l, p)| l == "good" && p == "good")
        .count();
    table.push_str(&format!("good records accepted: {kept} of {good}\n"));
    eprintln!("{table}");
    // Misclassified records, to see what to fix.
    for (id, (l, p)) in &got {
        if l != p && !(l == "good" && p == "good") {
            eprintln!("  {id}: labeled {l}, predicted {p}");
        }
    }
    assert!(failed.is_empty(), "below their floor: {failed:?}\n{table}");
}

/// `seedstream report` on the scored set: a page with its charts, which a real browser
/// (headless Chromium) renders; the rendered DOM has the charts and the screenshot is an
/// image of a page, not a blank one.
#[test]
fn report_renders_in_a_browser() {
    let dir = tempdir("report");
    let out = dir.join("scored");
    // Lexical checks only (fast): the page is what is under test here.
    let data = repo().join("tests/data/eval");
    let job = std::fs::read_to_string(data.join("job.yaml"))
        .unwrap()
        .replace("backend: local", "backend: none")
        .replace("  - path: ", &format!("  - path: {}/", data.display()))
        .replace(
            "seed_examples: ",
            &format!("seed_examples: {}/", data.display()),
        );
    std::fs::write(dir.join("job.yaml"), job).unwrap();
    // The labeled records, and one whose context is from no source of the job: it is
    // scored against that context, and counted apart from the chunks.
    let mut input = std::fs::read_to_string(data.join("records.jsonl")).unwrap();
    input.push_str(
        &serde_json::json!({
            "id": "elsewhere",
            "question": "How long does the Harbour Street ferry take to cross to the island?",
            "answer": "The Harbour Street ferry takes about twelve minutes to cross from the north pier to the island.",
            "context": "The Harbour Street ferry leaves the north pier every forty minutes. It takes about twelve minutes to cross to the island, and the last boat back leaves at eleven at night.",
        })
        .to_string(),
    );
    input.push('\n');
    std::fs::write(dir.join("records.jsonl"), input).unwrap();
    score(&dir.join("job.yaml"), &dir.join("records.jsonl"), &out);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert!(
        lines(&out.join("samples.jsonl"))
            .iter()
            .any(|r| r["id"] == "elsewhere"),
        "the record from elsewhere was rejected"
    );
    assert_eq!(m["diversity"]["records_unplaced"], 1, "{}", m["diversity"]);
    let o = Command::new(BIN).arg("report").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = String::from_utf8_lossy(&o.stderr);
    assert!(
        summary.contains(
            "accepted records with a context not found in the sources (not counted in coverage): 1"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("accepted") && summary.contains("rejections:"),
        "{summary}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 4, "charts missing");
    for needed in [
        "Rejection reasons",
        "Scores",
        "Diversity",
        "per source chunk",
    ] {
        assert!(html.contains(needed), "no {needed:?} section");
    }
    let chromium = ["chromium", "chromium-browser"]
        .iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is not installed: run scripts/test.sh, which installs it");
    let url = format!("file://{}", out.join("report.html").display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ];
    let dom = Command::new(chromium)
        .args(common)
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.matches("<svg").count() >= 4,
        "the browser's DOM has no charts"
    );
    assert!(dom.contains("Rejection reasons"));
    let png = out.join("report.png");
    let shot = Command::new(chromium)
        .args(common)
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2400")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = read(&png);
    assert_eq!(&bytes[1..4], b"PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1200, 2400));
    // A blank page compresses to almost nothing; charts and text do not.
    assert!(
        bytes.len() > 40_000,
        "the screenshot looks blank ({} bytes)",
        bytes.len()
    );
    eprintln!("screenshot: {} ({} bytes)", png.display(), bytes.len());
}
