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

    fn coordinate(&self, job: &Path, out: &Path, url: &str) -> Output {
        let o = Command::new(BIN)
            .arg("coordinate")
            .arg(job)
            .arg("--out")
            .arg(out)
            .args(["--endpoint", url])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        if !o.status.success() {
            eprintln!("coordinate stderr: {}", String::from_utf8_lossy(&o.stderr));
        }
        o
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
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
fn cluster_dataset_is_byte_identical_to_embedded_and_a_resubmission_is_free() {
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

    // Not yet covered: kill -9 of a generator or validator mid-job. With tansu 0.6 the
    // job stalled after such a kill (the dead member's partitions were not handed over
    // within minutes); see the closing note of the cluster-mode issue.
}
