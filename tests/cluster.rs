//! Cluster mode as separate OS processes: generators and validators (`seedstream
//! generator` / `seedstream validator`) and the job loop (`seedstream coordinate`), over a
//! real Kafka-protocol broker (tansu) and a real redis-server, against the SIMULATED
//! endpoint. The dataset must be byte-identical to `seedstream run`'s.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::services::{Broker, Redis};
use common::*;

struct Fleet {
    env: Vec<(String, String)>,
    procs: Vec<Child>,
}

impl Fleet {
    fn new(broker: &Broker, redis: &Redis, prefix: &str) -> Fleet {
        let env = vec![
            (
                "SEEDSTREAM_KAFKA_BROKERS".to_string(),
                broker.brokers.clone(),
            ),
            ("SEEDSTREAM_REDIS_URL".to_string(), redis.url.clone()),
            ("SEEDSTREAM_REDIS_PREFIX".to_string(), prefix.to_string()),
            ("SEEDSTREAM_TOPIC_PARTITIONS".to_string(), "4".to_string()),
        ];
        Fleet {
            env,
            procs: Vec::new(),
        }
    }

    fn spawn(&mut self, role: &str) {
        let child = Command::new(BIN)
            .arg(role)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("SEEDSTREAM_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start a cluster process");
        self.procs.push(child);
    }

    /// `seedstream coordinate` as a process, at most 150 s; its log is in `out.log`.
    fn coordinate(&self, job: &Path, out: &Path, url: &str) -> Output {
        coordinate(job, out, url, &self.env)
    }
}

fn coordinate(job: &Path, out: &Path, url: &str, env: &[(String, String)]) -> Output {
    let log = out.with_extension("log");
    let mut child = Command::new(BIN)
        .arg("coordinate")
        .arg(job)
        .arg("--out")
        .arg(out)
        .args(["--endpoint", url])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("SEEDSTREAM_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    eventually(std::time::Duration::from_secs(150), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "coordinate did not finish in 150 s; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let stderr = std::fs::read(&log).unwrap();
    if !status.success() {
        eprintln!("coordinate stderr: {}", String::from_utf8_lossy(&stderr));
    }
    Output {
        status,
        stdout: vec![],
        stderr,
    }
}

impl Drop for Fleet {
    /// SIGTERM: each process drains and leaves its consumer group.
    fn drop(&mut self) {
        for p in &mut self.procs {
            unsafe_free_sigterm(p.id());
        }
        for p in &mut self.procs {
            if !eventually(std::time::Duration::from_secs(20), || {
                p.try_wait().unwrap().is_some()
            }) {
                let _ = p.kill();
            }
            let _ = p.wait();
        }
    }
}

fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

fn same_dataset(a: &Path, b: &Path) {
    for f in ["samples.jsonl", "rejected.jsonl"] {
        assert!(
            read(&a.join(f)) == read(&b.join(f)),
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn cluster_is_byte_identical_to_embedded_and_free_to_resubmit() {
    let dir = tempdir("cluster");
    let broker = Broker::start(&dir.join("broker"));
    let redis = Redis::start(&dir.join("redis"));
    let sim = Sim::start(&[
        "--latency-ms",
        "20",
        "--bad-off-topic",
        "0.05",
        "--bad-near-duplicate",
        "0.05",
    ]);
    let job = write_job(&dir, "cluster", 120, "", "");
    assert!(run_job(&job, &dir.join("embedded"), &sim.url, &[])
        .status
        .success());

    // 1 coordinator + 2 generators + 2 validators.
    let mut fleet = Fleet::new(&broker, &redis, "t1");
    for role in ["generator", "generator", "validator", "validator"] {
        fleet.spawn(role);
    }
    sim.reset();
    let started = std::time::Instant::now();
    let o = fleet.coordinate(&job, &dir.join("cluster"), &sim.url);
    assert!(o.status.success());
    eprintln!("cluster run: {:?}", started.elapsed());
    same_dataset(&dir.join("embedded"), &dir.join("cluster"));

    // The same job again: every verdict is already on the results topic and every answer
    // in the cache, so it completes without a single endpoint request.
    sim.reset();
    let o = fleet.coordinate(&job, &dir.join("again"), &sim.url);
    assert!(o.status.success());
    assert_eq!(
        sim.requests(),
        0,
        "a completed job submitted again must not pay the endpoint"
    );
    same_dataset(&dir.join("embedded"), &dir.join("again"));
    drop(fleet);

    // Not in CI yet: kill -9 of a generator and a validator mid-job. With tansu 0.6 the
    // consumer groups sometimes never finish rebalancing after a member is killed (the
    // coordinator's re-dispatch of stalled shards then has no live consumer to reach);
    // about half the runs recovered in 20-30 s with identical output, half stalled past
    // 150 s. See the closing note of the cluster-mode issue.
}
