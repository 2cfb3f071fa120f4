//! Helpers for end-to-end tests: real processes of the built binary on port 0.
#![allow(dead_code, unreachable_pub)]

pub mod services;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_seedstream");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temp dir under target/ (kept on failure for inspection).
pub fn tempdir(name: &str) -> PathBuf {
    let d = repo()
        .join("target")
        .join("e2e")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The SIMULATED endpoint, as a child process.
pub struct Sim {
    pub child: Child,
    pub url: String,
}

impl Sim {
    pub fn start(args: &[&str]) -> Sim {
        let mut child = Command::new(BIN)
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("sim prints its URL")
            .to_string();
        Sim { child, url }
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&http(&self.url, "GET", "/stats")).unwrap()
    }

    pub fn requests(&self) -> u64 {
        self.stats()["requests_total"].as_u64().unwrap()
    }

    pub fn reset(&self) {
        http(&self.url, "POST", "/stats/reset");
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.0 client (no body): returns the response body.
pub fn http(base: &str, method: &str, path: &str) -> String {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {hostport}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Write a job file into `dir` using the example documents; `extra` is appended YAML
/// (top-level keys not already set below).
pub fn write_job(dir: &Path, name: &str, target: u64, model_extra: &str, extra: &str) -> PathBuf {
    let docs = repo().join("examples/qa/docs");
    let seeds = repo().join("examples/qa/seeds.jsonl");
    let yaml = format!(
        r#"name: {name}
seed: 11
target: {target}
shard_size: 8
sources:
  - path: {d}/honeybees.md
  - path: {d}/printing-press.md
  - path: {d}/water-cycle.txt
chunking:
  max_chars: 500
  overlap_chars: 50
seed_examples: {seeds}
task:
  kind: qa
  fields: [question, answer]
  few_shot: 2
model:
  backend: openai
  endpoints: ["http://127.0.0.1:9"]
  name: seedstream-sim
  concurrency: 16
  timeout_ms: 5000
  max_retries: 5
  backoff_base_ms: 5
  backoff_max_ms: 200
{model_extra}
{extra}
"#,
        d = docs.display(),
        seeds = seeds.display()
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, without_semantic(&yaml)).unwrap();
    path
}

/// The job with `validate.semantic.backend: none` unless it says otherwise: test jobs
/// run against the simulator, whose crude text the embedding checks (on by default)
/// reject in bulk, and embedding every record would slow the suite. The semantic checks
/// are tested on the labelled sets (tests/eval.rs) and in tests/flows.rs.
pub fn without_semantic(yaml: &str) -> String {
    if yaml.contains("semantic:") {
        return yaml.to_string();
    }
    match yaml.find("\nvalidate:\n") {
        Some(i) => {
            let at = i + "\nvalidate:\n".len();
            format!(
                "{}  semantic: {{backend: none}}\n{}",
                &yaml[..at],
                &yaml[at..]
            )
        }
        None if yaml.starts_with("validate:\n") => {
            format!(
                "validate:\n  semantic: {{backend: none}}\n{}",
                &yaml["validate:\n".len()..]
            )
        }
        None => format!("{yaml}\nvalidate:\n  semantic: {{backend: none}}\n"),
    }
}

/// A `validate.judge` section (for `write_job`'s `extra`) calling the judge at `url`,
/// with short backoff and any more `settings` lines ("max_retries: 1").
pub fn judge_yaml(url: &str, settings: &[&str]) -> String {
    let mut y =
        format!("validate:\n  judge:\n    endpoints: [\"{url}\"]\n    backoff_base_ms: 5\n");
    for s in settings {
        y.push_str(&format!("    {s}\n"));
    }
    y
}

/// `seedstream run JOB --out OUT --quiet ARGS…`
pub fn run_plain(job: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("run")
        .arg(job)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run seedstream")
}

/// `seedstream run JOB --out OUT --endpoint URL ARGS…`, printing stderr on failure.
pub fn run_job(job: &Path, out: &Path, url: &str, args: &[&str]) -> Output {
    let o = run_plain(job, out, &[&["--endpoint", url], args].concat());
    if !o.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&o.stderr));
    }
    o
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    String::from_utf8(read(path))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: bad line {l}: {e}", path.display()))
        })
        .collect()
}

pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(&out.join("manifest.json"))).unwrap()
}

/// Wait until `f` is true, at most `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// An example job of `examples/<kind>/job.yaml`, copied into `dir` with its paths made
/// absolute and `target` / `max_slots` set.
pub fn example_job(dir: &Path, kind: &str, target: u64, extra: &str) -> PathBuf {
    let ex = repo().join("examples").join(kind);
    let text = std::fs::read_to_string(ex.join("job.yaml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(p) = t
            .strip_prefix("- path: ")
            .or_else(|| t.strip_prefix("seed_examples: "))
        {
            let abs = ex.join(p);
            out.push_str(&line.replace(p, abs.to_str().unwrap()));
        } else if t.starts_with("target:") {
            out.push_str(&format!("target: {target}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str(extra);
    let path = dir.join(format!("{kind}.yaml"));
    std::fs::write(&path, without_semantic(&out)).unwrap();
    path
}

/// `samples.jsonl` and `rejected.jsonl` are byte for byte the same in both directories.
pub fn assert_same_dataset(a: &Path, b: &Path) {
    for f in ["samples.jsonl", "rejected.jsonl"] {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// `seedstream run JOB --out OUT` against `sim`, killed with SIGKILL once the simulator has
/// seen half of `total` requests; returns the requests it saw (fewer than `total`).
pub fn run_killed_halfway(job: &Path, out: &Path, sim: &Sim, total: u64) -> u64 {
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(job)
        .arg("--out")
        .arg(out)
        .args(["--endpoint", &sim.url, "--quiet"])
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(60), || sim.requests() >= total / 2),
        "run never got halfway"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let first = sim.requests();
    assert!(first < total, "the run finished before it was killed");
    first
}
