//! Cluster mode as separate OS processes: `seedstream coordinator` (gRPC JobService),
//! generators and validators, over a real Kafka-protocol broker (tansu) and a real
//! redis-server, against the SIMULATED endpoint. Datasets must be byte-identical to
//! `seedstream run`'s.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::services::{Broker, Redis};
use common::*;
use seedstream_proto::tonic::Code;
use seedstream_proto::v1::{self, job_service_client::JobServiceClient};

/// The processes of one deployment (a Redis prefix), each logging to a file.
struct Fleet {
    dir: PathBuf,
    env: Vec<(String, String)>,
    procs: Vec<(String, Child)>,
    /// The coordinator's gRPC URL and HTTP address, once started.
    grpc: String,
    http: String,
}

fn wait_for_line(log: &Path, prefix: &str, limit: Duration) -> String {
    let mut found = None;
    eventually(limit, || {
        found = std::fs::read_to_string(log).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(prefix).map(|r| r.trim().to_string()))
        });
        found.is_some()
    });
    found.unwrap_or_else(|| {
        panic!(
            "no {prefix:?} in {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        )
    })
}

impl Fleet {
    fn new(dir: &Path, broker: &Broker, redis: &Redis, prefix: &str) -> Fleet {
        let env = vec![
            ("SEEDSTREAM_KAFKA_BROKERS".into(), broker.brokers.clone()),
            ("SEEDSTREAM_REDIS_URL".into(), redis.url.clone()),
            ("SEEDSTREAM_REDIS_PREFIX".into(), prefix.to_string()),
            ("SEEDSTREAM_TOPIC_PARTITIONS".into(), "4".into()),
            ("SEEDSTREAM_HTTP_LISTEN".into(), "127.0.0.1:0".into()),
            ("SEEDSTREAM_LISTEN".into(), "127.0.0.1:0".into()),
            ("SEEDSTREAM_SHUTDOWN_GRACE_S".into(), "10".into()),
            ("SEEDSTREAM_LOG".into(), "info".into()),
        ];
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        Fleet {
            dir: dir.to_path_buf(),
            env,
            procs: Vec::new(),
            grpc: String::new(),
            http: String::new(),
        }
    }

    /// Start a process; returns its name (role-N), whose log is `logs/<name>.log`.
    fn spawn(&mut self, role: &str, args: &[&str]) -> String {
        let name = format!("{role}-{}", self.procs.len());
        let log = self.log(&name);
        let child = Command::new(BIN)
            .arg(role)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start a cluster process");
        self.procs.push((name.clone(), child));
        name
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Start the coordinator (writing under `<dir>/datasets`) and wait until it serves;
    /// started again, it listens on the same port (clients reconnect).
    fn coordinator(&mut self) -> String {
        let out = self.dir.join("datasets");
        let listen = match self.grpc.strip_prefix("http://") {
            Some(addr) => addr.to_string(),
            None => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().to_string()
            }
        };
        let name = self.spawn(
            "coordinator",
            &["--output-dir", out.to_str().unwrap(), "--listen", &listen],
        );
        let grpc = wait_for_line(
            &self.log(&name),
            "grpc: listening on",
            Duration::from_secs(60),
        );
        self.grpc = format!("http://{grpc}");
        self.http = wait_for_line(
            &self.log(&name),
            "http: listening on",
            Duration::from_secs(5),
        );
        name
    }

    fn datasets(&self) -> PathBuf {
        self.dir.join("datasets")
    }

    fn child(&mut self, name: &str) -> &mut Child {
        &mut self.procs.iter_mut().find(|(n, _)| n == name).unwrap().1
    }

    fn kill9(&mut self, name: &str) {
        let c = self.child(name);
        c.kill().unwrap();
        c.wait().unwrap();
    }

    /// A client verb against this fleet's coordinator.
    fn cli(&self, args: &[&str]) -> Output {
        let o = Command::new(BIN)
            .args(args)
            .args(["--coordinator", &self.grpc])
            .output()
            .unwrap();
        if !o.status.success() {
            eprintln!("{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        o
    }

    /// `submit JOB --endpoint URL --watch`, at most `limit`.
    fn submit_watch(&self, job: &Path, url: &str, limit: Duration) -> Output {
        let log = self.dir.join("logs").join("submit.log");
        let mut child = Command::new(BIN)
            .arg("submit")
            .arg(job)
            .args(["--endpoint", url, "--watch", "--coordinator", &self.grpc])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut status = None;
        eventually(limit, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            self.dump_logs();
            panic!("submit --watch did not end in {limit:?}");
        };
        let mut stdout = Vec::new();
        std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
        Output {
            status,
            stdout,
            stderr: read(&log),
        }
    }

    fn dump_logs(&self) {
        for (name, _) in &self.procs {
            eprintln!(
                "---- {name}:\n{}",
                std::fs::read_to_string(self.log(name)).unwrap_or_default()
            );
        }
    }

    fn grpc_client(
        &self,
        rt: &tokio::runtime::Runtime,
    ) -> JobServiceClient<seedstream_proto::tonic::transport::Channel> {
        rt.block_on(JobServiceClient::connect(self.grpc.clone()))
            .unwrap()
    }
}

impl Drop for Fleet {
    /// SIGTERM: each process drains and exits.
    fn drop(&mut self) {
        for (_, p) in &mut self.procs {
            if p.try_wait().ok().flatten().is_none() {
                sigterm(p.id());
            }
        }
        for (_, p) in &mut self.procs {
            if !eventually(Duration::from_secs(20), || p.try_wait().unwrap().is_some()) {
                let _ = p.kill();
            }
            let _ = p.wait();
        }
    }
}

fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn job_id_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn status(fleet: &Fleet, rt: &tokio::runtime::Runtime, id: &str) -> v1::JobStatus {
    let mut c = fleet.grpc_client(rt);
    rt.block_on(c.get_job(v1::GetJobRequest { job_id: id.into() }))
        .unwrap()
        .into_inner()
}

fn http_status(addr: &str, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The whole API: a job over gRPC byte-identical to `seedstream run`, watched to the end;
/// resubmission is one job and free; bad requests get proper codes and leave the
/// cluster healthy; cancel stops work within seconds and a resubmission pays only for
/// what was left; accepted records stream to their topic; health and metrics answer.
/// Flows in the cluster: every step runs in the generator that owns the slot, typed
/// fields and fan-out items travel over Kafka, and the dataset is the embedded one.
#[test]
fn cluster_runs_flows_like_embedded() {
    let dir = tempdir("cluster-flows");
    let broker = Broker::start(&dir.join("broker"));
    let redis = Redis::start(&dir.join("redis"));
    let sim = Sim::start(&["--latency-ms", "5", "--bad-off-topic", "0.05"]);
    let mut fleet = Fleet::new(&dir, &broker, &redis, "flows");
    fleet.coordinator();
    for role in ["generator", "generator", "validator", "validator"] {
        fleet.spawn(role, &[]);
    }
    for (kind, target) in [
        ("knowledge", 45),
        ("chat", 20),
        ("instruct", 20),
        ("flow", 30),
    ] {
        let job = example_job(&dir, kind, target, "");
        let embedded = dir.join(format!("{kind}-embedded"));
        assert!(run_job(&job, &embedded, &sim.url, &[]).status.success());
        let o = fleet.submit_watch(&job, &sim.url, Duration::from_secs(120));
        assert!(
            o.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = fleet.datasets().join(job_id_of(&o));
        assert_same_dataset(&embedded, &out);
        assert_eq!(
            lines(&out.join("samples.jsonl")).len() as u64,
            target,
            "{kind}"
        );
    }
}

#[test]
fn cluster_jobs_over_grpc() {
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
    // An LLM judge too (a second simulator): the validators cache its verdicts in Redis.
    let judge = Sim::start(&["--latency-ms", "5", "--fault-malformed", "0.1"]);
    let judge_spec = judge_yaml(&judge.url, &[]);
    let job = write_job(&dir, "cluster", 120, "", &judge_spec);
    assert!(run_job(&job, &dir.join("embedded"), &sim.url, &[])
        .status
        .success());

    // Where the processes export traces (OTLP/gRPC): a listener that records what
    // connects to it. Not a collector: it shows the exporter is wired and speaks HTTP/2.
    let otlp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let otlp_addr = otlp.local_addr().unwrap();
    let otlp_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    {
        let seen = otlp_seen.clone();
        std::thread::spawn(move || {
            for conn in otlp.incoming().flatten() {
                let mut buf = [0u8; 24];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                if std::io::Read::read_exact(&mut &conn, &mut buf).is_ok() {
                    *seen.lock().unwrap() = buf.to_vec();
                }
            }
        });
    }

    // 1 coordinator + 2 generators + 2 validators.
    let mut fleet = Fleet::new(&dir, &broker, &redis, "t1");
    fleet.env.extend([
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT".to_string(),
            format!("http://{otlp_addr}"),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY".to_string(), "200".to_string()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT".to_string(), "1000".to_string()),
    ]);
    fleet.coordinator();
    let workers: Vec<(&str, String)> = ["generator", "generator", "validator", "validator"]
        .into_iter()
        .map(|role| (role, fleet.spawn(role, &[])))
        .collect();
    assert_eq!(http_status(&fleet.http, "/healthz"), 200);
    assert!(
        eventually(Duration::from_secs(20), || http_status(
            &fleet.http,
            "/readyz"
        ) == 200),
        "coordinator never ready"
    );

    sim.reset();
    judge.reset();
    let started = Instant::now();
    let o = fleet.submit_watch(&job, &sim.url, Duration::from_secs(150));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "cluster job: 120 records in {secs:.1}s ({:.0} records/s)",
        120.0 / secs
    );
    let id = job_id_of(&o);
    let out = fleet.datasets().join(&id);
    assert_same_dataset(&dir.join("embedded"), &out);
    assert_eq!(manifest(&out)["status"], "complete");
    // Every validated record was judged once, by the validators.
    let js = judge.stats();
    let rated = js["judge_ratings"].as_u64().unwrap();
    assert!(rated >= 120, "{js}");
    assert_eq!(rated, js["distinct_requests"].as_u64().unwrap(), "{js}");
    let scored = lines(&out.join("samples.jsonl"));
    assert!(scored
        .iter()
        .all(|r| r["scores"]["judge_faithfulness"].is_number()));
    // Each process counts its requests and retries on /metrics: summed over the fleet,
    // they are what the simulators saw (the judge's malformed replies were retried).
    let summed = |role: &str, metric: &str| -> u64 {
        workers
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, name)| {
                let addr = wait_for_line(
                    &fleet.log(name),
                    "http: listening on",
                    Duration::from_secs(5),
                );
                let text = http(&format!("http://{addr}"), "GET", "/metrics");
                text.lines()
                    .find_map(|l| l.strip_prefix(metric))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("{name}: no {metric} in\n{text}"))
            })
            .sum()
    };
    assert_eq!(
        summed("generator", "seedstream_generator_endpoint_requests_total "),
        sim.requests()
    );
    assert_eq!(
        summed("validator", "seedstream_validator_judge_requests_total "),
        js["requests_total"].as_u64().unwrap()
    );
    let malformed = js["faults"]["malformed"].as_u64().unwrap_or(0);
    let retried = summed(
        "validator",
        "seedstream_validator_judge_retries_total{kind=\"unparseable\"}",
    );
    assert!(
        retried > 0 && retried <= malformed,
        "{retried} of {malformed}: {js}"
    );
    assert!(
        eventually(Duration::from_secs(20), || otlp_seen
            .lock()
            .unwrap()
            .starts_with(b"PRI * HTTP/2.0")),
        "no process exported traces over OTLP/gRPC to OTEL_EXPORTER_OTLP_ENDPOINT"
    );

    // The same job again is the same job: nothing runs, nothing is paid.
    sim.reset();
    judge.reset();
    let o = fleet.submit_watch(&job, &sim.url, Duration::from_secs(30));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already known"));
    assert_eq!(job_id_of(&o), id);
    assert_eq!(
        sim.requests(),
        0,
        "a completed job submitted again must not pay the endpoint"
    );
    assert_eq!(judge.requests(), 0, "nor the judge");

    // status and jobs.
    let o = fleet.cli(&["status", &id, "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["state"], "complete");
    assert_eq!(s["accepted"], 120);
    let o = fleet.cli(&["jobs", "--json"]);
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);

    // Accepted records are on their topic, keyed by record id.
    let ids: std::collections::BTreeSet<String> = lines(&out.join("samples.jsonl"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let streamed = rt().block_on(read_accepted(&broker.brokers, ids.len()));
    assert_eq!(
        streamed, ids,
        "the accepted topic must carry exactly the accepted records"
    );

    // Bad requests: proper codes and messages, and the cluster stays healthy.
    let rt = rt();
    let mut c = fleet.grpc_client(&rt);
    let e = rt
        .block_on(c.submit_job(v1::SubmitJobRequest {
            spec_yaml: "name: x\ntarget: 5\nbogus_field: 1\n".into(),
            spec_file: "bad.yaml".into(),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("bad.yaml") && e.message().contains("bogus_field"),
        "{}",
        e.message()
    );
    let spec = std::fs::read_to_string(&job).unwrap();
    let e = rt
        .block_on(c.submit_job(v1::SubmitJobRequest {
            spec_yaml: spec.clone(),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::InvalidArgument,
        "sources not sent: {}",
        e.message()
    );
    assert!(
        e.message().contains("was not sent with the job"),
        "{}",
        e.message()
    );
    let e = rt
        .block_on(c.get_job(v1::GetJobRequest {
            job_id: "no-such-job".into(),
        }))
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = rt
        .block_on(c.cancel_job(v1::CancelJobRequest {
            job_id: String::new(),
        }))
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let o = fleet.cli(&["status", "no-such-job"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(http_status(&fleet.http, "/readyz"), 200);
    let metrics = http(&format!("http://{}", fleet.http), "GET", "/metrics");
    assert!(
        metrics.contains("seedstream_coordinator_jobs_submitted_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("seedstream_coordinator_records_accepted_total 120"),
        "{metrics}"
    );

    // Cancel at about half: work stops within seconds; submitted again, it resumes and
    // asks the endpoint only for what was not answered.
    let slow = Sim::start(&["--latency-ms", "500"]);
    let job2 = write_job(&dir, "cancelme", 400, "", "");
    let o = fleet.cli(&["submit", job2.to_str().unwrap(), "--endpoint", &slow.url]);
    assert!(o.status.success());
    let id2 = job_id_of(&o);
    assert!(
        eventually(Duration::from_secs(60), || status(&fleet, &rt, &id2)
            .decided
            >= 150),
        "job never got to half"
    );
    let t = Instant::now();
    let o = fleet.cli(&["cancel", &id2, "--json"]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["state"], "cancelled");
    eprintln!("cancel took {:?}", t.elapsed());
    std::thread::sleep(Duration::from_secs(2));
    let asked_at_cancel = slow.requests();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        slow.requests(),
        asked_at_cancel,
        "generators kept calling the endpoint after cancel"
    );
    // Resubmitted, then followed with WatchJob: progress events until the end.
    let o = fleet.cli(&["submit", job2.to_str().unwrap(), "--endpoint", &slow.url]);
    assert!(o.status.success());
    assert_eq!(job_id_of(&o), id2, "the same job");
    let events: Vec<v1::JobStatus> = rt.block_on(async {
        let mut c = JobServiceClient::connect(fleet.grpc.clone()).await.unwrap();
        let mut stream = c
            .watch_job(v1::WatchJobRequest {
                job_id: id2.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let mut events = vec![];
        while let Some(ev) = tokio::time::timeout(Duration::from_secs(120), stream.message())
            .await
            .expect("WatchJob went quiet")
            .unwrap()
        {
            events.push(ev.job.unwrap());
        }
        events
    });
    let last = events.last().expect("no events");
    assert_eq!(
        last.state,
        v1::JobState::Complete as i32,
        "the stream ends with the job"
    );
    assert!(
        events.len() >= 3,
        "expected progress along the way, got {} events",
        events.len()
    );
    assert!(
        events.windows(2).all(|w| w[0].decided <= w[1].decided),
        "progress went backwards"
    );
    assert!(events[0].decided < last.decided, "no progress was streamed");
    let m = manifest(&fleet.datasets().join(&id2));
    assert_eq!(m["status"], "complete");
    // Slots may share a request (same chunk, same examples): count distinct requests.
    let st = slow.stats();
    let (total, distinct) = (
        st["requests_total"].as_u64().unwrap(),
        st["distinct_requests"].as_u64().unwrap(),
    );
    let rerun = total - asked_at_cancel;
    eprintln!("cancelled after {asked_at_cancel} requests; the rerun asked {rerun}; {distinct} distinct requests in all");
    assert!(rerun > 0 && asked_at_cancel > 0);
    assert!(
        total <= distinct + 8,
        "the rerun paid again for answered requests: {total} requests for {distinct} distinct"
    );
}

/// Read the accepted-records topic until `n` distinct record ids arrived (or 30 s).
async fn read_accepted(brokers: &str, n: usize) -> std::collections::BTreeSet<String> {
    use seedstream_core::bus::Consumer;
    let cfg = seedstream_core::kafka::KafkaConfig {
        brokers: brokers.to_string(),
        client_id: "test".into(),
    };
    let mut rx = cfg
        .consumer::<Vec<u8>>("seedstream.accepted", "test-accepted-reader")
        .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids.len() < n && Instant::now() < deadline {
        if let Ok(Ok(Some(d))) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            let line = d.ack();
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            ids.insert(v["id"].as_str().unwrap().to_string());
        }
    }
    ids
}

fn wait_done(
    fleet: &Fleet,
    rt: &tokio::runtime::Runtime,
    id: &str,
    limit: Duration,
) -> v1::JobStatus {
    let mut last = None;
    let done = eventually(limit, || {
        // The coordinator may be restarting: an error is "not yet".
        let s = rt.block_on(async {
            let mut c = JobServiceClient::connect(fleet.grpc.clone()).await.ok()?;
            c.get_job(v1::GetJobRequest { job_id: id.into() })
                .await
                .ok()
        });
        if let Some(s) = s {
            let s = s.into_inner();
            let end = seedstream_coordinator::client::is_terminal(s.state);
            last = Some(s);
            return end;
        }
        std::thread::sleep(Duration::from_millis(200));
        false
    });
    if !done {
        fleet.dump_logs();
        panic!("job {id} did not end in {limit:?}: {last:?}");
    }
    last.unwrap()
}

/// Wait until the endpoint was asked `n` times; how many it was asked by then.
fn wait_asked(sim: &Sim, n: u64) -> u64 {
    let mut asked = 0;
    assert!(
        eventually(Duration::from_secs(60), || {
            asked = sim.requests();
            asked >= n
        }),
        "the endpoint was never asked {n} times"
    );
    asked
}

/// Wait for job `id` to end, then check it completed with the bytes of `reference` and
/// every slot decided exactly once.
fn completes_like(
    fleet: &Fleet,
    rt: &tokio::runtime::Runtime,
    id: &str,
    reference: &Path,
    limit: Duration,
) -> v1::JobStatus {
    let s = wait_done(fleet, rt, id, limit);
    assert_eq!(s.state, v1::JobState::Complete as i32);
    let out = fleet.datasets().join(id);
    assert_same_dataset(reference, &out);
    no_id_lost_or_doubled(&out);
    s
}

/// Say how long a job took to finish after `fault`, and check the fault came while the
/// job was young enough to test something.
fn fault_report(fault: &str, asked_before: u64, s: &v1::JobStatus, since: Instant) {
    eprintln!(
        "{fault} after {asked_before} of {} slots were asked: done {:?} after the kill",
        s.planned,
        since.elapsed()
    );
    assert!(
        asked_before < s.planned / 2,
        "the fault came too late to test anything"
    );
}

/// Every slot decided exactly once: ids unique across both files, as many as planned.
fn no_id_lost_or_doubled(out: &Path) {
    let mut ids = std::collections::BTreeSet::new();
    let mut n = 0;
    for f in ["samples.jsonl", "rejected.jsonl"] {
        for r in lines(&out.join(f)) {
            n += 1;
            assert!(
                ids.insert(r["id"].as_str().unwrap().to_string()),
                "id {} doubled",
                r["id"]
            );
        }
    }
    assert_eq!(
        n as u64,
        manifest(out)["counts"]["planned"].as_u64().unwrap(),
        "ids lost"
    );
}

/// Faults mid-job, each on a job of its own, each ending with the dataset `seedstream
/// run` makes: `kill -9` of a generator and a validator (a generator restarted), the
/// coordinator killed and restarted, the broker killed and restarted.
#[test]
fn cluster_survives_faults() {
    let dir = tempdir("cluster-faults");
    let mut broker = Broker::start(&dir.join("broker"));
    let redis = Redis::start(&dir.join("redis"));
    let sim = Sim::start(&["--latency-ms", "500", "--bad-off-topic", "0.05"]);
    let jobs: Vec<PathBuf> = ["killed", "coordinator", "broker", "drained"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            // Seeds of their own: the same prompts would be answered from the cache.
            let j = write_job(&dir, n, 300, "", "");
            let text = std::fs::read_to_string(&j).unwrap();
            std::fs::write(&j, text.replace("seed: 11", &format!("seed: {}", 100 + i))).unwrap();
            j
        })
        .collect();
    // The reference datasets, made side by side.
    std::thread::scope(|s| {
        for j in &jobs {
            let (url, out) = (&sim.url, dir.join("embedded").join(j.file_stem().unwrap()));
            s.spawn(move || assert!(run_job(j, &out, url, &[]).status.success()));
        }
    });
    let reference = |j: &Path| dir.join("embedded").join(j.file_stem().unwrap());
    let rt = rt();
    let mut fleet = Fleet::new(&dir, &broker, &redis, "faults");
    let coordinator = fleet.coordinator();
    let mut gens = vec![];
    let mut vals = vec![];
    for _ in 0..2 {
        gens.push(fleet.spawn("generator", &[]));
        vals.push(fleet.spawn("validator", &[]));
    }
    let submit = |fleet: &Fleet, job: &Path| {
        sim.reset();
        let o = fleet.cli(&["submit", job.to_str().unwrap(), "--endpoint", &sim.url]);
        assert!(o.status.success());
        job_id_of(&o)
    };

    // kill -9 of a generator and a validator; one generator started again.
    let id = submit(&fleet, &jobs[0]);
    let before = wait_asked(&sim, 60);
    let t = Instant::now();
    fleet.kill9(&gens[0]);
    fleet.kill9(&vals[0]);
    fleet.spawn("generator", &[]);
    let s = completes_like(
        &fleet,
        &rt,
        &id,
        &reference(&jobs[0]),
        Duration::from_secs(120),
    );
    fault_report("kill -9 of a generator and a validator", before, &s, t);

    // The coordinator killed and started again: it resumes the job from Redis and the
    // results topic.
    let id = submit(&fleet, &jobs[1]);
    let before = wait_asked(&sim, 60);
    let t = Instant::now();
    fleet.kill9(&coordinator);
    fleet.coordinator();
    let s = completes_like(
        &fleet,
        &rt,
        &id,
        &reference(&jobs[1]),
        Duration::from_secs(120),
    );
    fault_report("coordinator kill -9 and restart", before, &s, t);

    // The broker killed and started again on its data (sqlite).
    let id = submit(&fleet, &jobs[2]);
    let before = wait_asked(&sim, 60);
    let t = Instant::now();
    broker.restart();
    let s = completes_like(
        &fleet,
        &rt,
        &id,
        &reference(&jobs[2]),
        Duration::from_secs(180),
    );
    fault_report("broker kill -9 and restart", before, &s, t);

    // SIGTERM to every process mid-job: each drains and exits 0 within its grace
    // period (10 s here); a new fleet finishes the job.
    let id = submit(&fleet, &jobs[3]);
    let before = wait_asked(&sim, 60);
    let t = Instant::now();
    let mut alive = vec![];
    for (i, (_, p)) in fleet.procs.iter_mut().enumerate() {
        if p.try_wait().unwrap().is_none() {
            sigterm(p.id());
            alive.push(i);
        }
    }
    assert_eq!(
        alive.len(),
        4,
        "the coordinator, 2 generators and the validator left"
    );
    for i in alive {
        let (name, p) = &mut fleet.procs[i];
        let mut code = None;
        eventually(Duration::from_secs(12), || {
            code = p.try_wait().unwrap();
            code.is_some()
        });
        let code = code.unwrap_or_else(|| panic!("{name} still running 12 s after SIGTERM"));
        assert!(code.success(), "{name} exited with {code} after SIGTERM");
    }
    eprintln!(
        "SIGTERM after {before} slots were asked: every process exited in {:?}",
        t.elapsed()
    );
    fleet.coordinator();
    fleet.spawn("generator", &[]);
    fleet.spawn("validator", &[]);
    completes_like(
        &fleet,
        &rt,
        &id,
        &reference(&jobs[3]),
        Duration::from_secs(120),
    );
}
