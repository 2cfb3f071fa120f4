//! The simulator over a real loopback socket (port 0): reply shape, models, stats, faults,
//! queueing, determinism and shutdown.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seedstream_sim::{sample, serve, BadRates, SimArgs, MODEL_OWNER, SERVER_HEADER};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const CHUNK: &str = "Migratory monarch butterflies travel up to 4,800 kilometres each autumn from Canada \
and the northern United States to overwintering sites in central Mexico. No single butterfly completes \
the round trip: the generation that flies south lives about eight months, while the summer generations \
live only a few weeks. Their caterpillars feed only on milkweed, whose toxins make larvae and adults \
distasteful to birds.";

struct Server {
    url: String,
    token: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
}

impl Server {
    async fn start(args: SimArgs) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let task = tokio::spawn(serve(args, listener, token.clone()));
        Server {
            url: format!("http://{addr}"),
            token,
            task,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.text().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        serde_json::from_str(&res.text().await.unwrap()).unwrap()
    }

    async fn stop(self) {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("shuts down")
            .unwrap()
            .unwrap();
    }
}

fn request(seed: Option<u64>, chunk: &str) -> Value {
    let mut req = json!({
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You write training data as JSON."},
            {"role": "user", "content": format!("Write one record about this source.\n<document>\n{chunk}\n</document>\nAnswer with JSON.")},
        ],
        "temperature": 0.8,
        "top_p": 0.95,
        "max_tokens": 256,
        "response_format": {"type": "json_schema", "json_schema": {"name": "record", "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "question": {"type": "string"}},
            "required": ["question", "answer"],
        }}},
    });
    if let Some(s) = seed {
        req["seed"] = json!(s);
    }
    req
}

fn fields() -> Vec<String> {
    vec!["question".into(), "answer".into()]
}

fn content(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap();
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

fn fast() -> SimArgs {
    SimArgs {
        latency_ms: 0,
        ..SimArgs::default()
    }
}

#[tokio::test]
async fn chat_completion_has_the_openai_shape_and_the_sampled_record() {
    let rates = BadRates {
        pii: 0.3,
        ..BadRates::default()
    };
    let server = Server::start(SimArgs {
        bad_pii: 0.3,
        ..fast()
    })
    .await;
    let (status, headers, body) = server
        .post("/v1/chat/completions", &request(Some(7), CHUNK))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["server"], SERVER_HEADER);
    assert!(SERVER_HEADER.contains("SIMULATED"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "test-model");
    assert_eq!(v["created"], 0);
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 60);
    assert!(u["completion_tokens"].as_u64().unwrap() > 5);
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap())
    );
    let record: Map<String, Value> = serde_json::from_str(&content(&body)).unwrap();
    assert_eq!(record, sample(CHUNK, &fields(), 7, &rates));

    // No seed means seed 0; no <document> block means the whole last user message.
    let (_, _, body) = server
        .post("/v1/chat/completions", &request(None, CHUNK))
        .await;
    assert_eq!(
        serde_json::from_str::<Map<String, Value>>(&content(&body)).unwrap(),
        sample(CHUNK, &fields(), 0, &rates)
    );
    let bare = json!({"messages": [{"role": "user", "content": CHUNK}], "seed": 3});
    let (_, _, body) = server.post("/v1/chat/completions", &bare).await;
    assert_eq!(
        serde_json::from_str::<Map<String, Value>>(&content(&body)).unwrap(),
        sample(CHUNK, &fields(), 3, &rates)
    );
    server.stop().await;
}

#[tokio::test]
async fn models_and_errors_say_simulator() {
    let server = Server::start(SimArgs {
        model: "sim-model".into(),
        ..fast()
    })
    .await;
    let v = server.get("/v1/models").await;
    assert_eq!(v["data"][0]["id"], "sim-model");
    assert_eq!(v["data"][0]["owned_by"], MODEL_OWNER);
    assert!(MODEL_OWNER.contains("simulator"));
    let (status, _, body) = server
        .post("/v1/chat/completions", &json!({"model": "x"}))
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("messages"), "{body}");
    let res = server
        .http
        .get(format!("{}/v1/nothing", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(res.text().await.unwrap().contains("simulator"));
    server.stop().await;
}

#[tokio::test]
async fn stats_count_requests_statuses_and_bad_samples() {
    let server = Server::start(SimArgs {
        bad_pii: 1.0,
        ..fast()
    })
    .await;
    server.get("/v1/models").await; // not a chat completion: not counted
    for seed in 0..3 {
        let (status, _, _) = server
            .post("/v1/chat/completions", &request(Some(seed), CHUNK))
            .await;
        assert_eq!(status, 200);
    }
    server
        .post("/v1/chat/completions", &json!({"messages": []}))
        .await;
    let s = server.get("/stats").await;
    assert_eq!(s["simulated"], true);
    assert_eq!(s["requests_total"], 4);
    assert_eq!(s["completions_ok"], 3);
    assert_eq!(s["by_status"]["200"], 3);
    assert_eq!(s["by_status"]["400"], 1);
    assert_eq!(s["bad_samples"]["pii"], 3);
    assert_eq!(s["in_flight"], 0);
    assert_eq!(s["max_in_flight"], 1);
    let (status, _, _) = server.post("/stats/reset", &json!({})).await;
    assert_eq!(status, 200);
    let s = server.get("/stats").await;
    assert_eq!(s["requests_total"], 0);
    assert_eq!(s["by_status"], json!({}));
    assert_eq!(s["bad_samples"], json!({}));
    server.stop().await;
}

#[tokio::test]
async fn injects_429_and_500() {
    let server = Server::start(SimArgs {
        fault_429: 1.0,
        ..fast()
    })
    .await;
    let (status, headers, body) = server
        .post("/v1/chat/completions", &request(Some(1), CHUNK))
        .await;
    assert_eq!(status, 429, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry <= 1);
    let s = server.get("/stats").await;
    assert_eq!(
        (s["faults"]["429"].as_u64(), s["by_status"]["429"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(s["completions_ok"], 0);
    server.stop().await;

    let server = Server::start(SimArgs {
        fault_500: 1.0,
        ..fast()
    })
    .await;
    let (status, _, _) = server
        .post("/v1/chat/completions", &request(Some(1), CHUNK))
        .await;
    assert_eq!(status, 500);
    assert_eq!(server.get("/stats").await["faults"]["500"], 1);
    server.stop().await;
}

#[tokio::test]
async fn timeouts_hang_then_504() {
    let server = Server::start(SimArgs {
        fault_timeout: 1.0,
        hang_ms: 300,
        ..fast()
    })
    .await;
    let t = Instant::now();
    let (status, _, _) = server
        .post("/v1/chat/completions", &request(Some(1), CHUNK))
        .await;
    assert_eq!(status, 504);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.get("/stats").await["faults"]["timeout"], 1);
    server.stop().await;
}

#[tokio::test]
async fn malformed_replies_hold_no_usable_record() {
    let server = Server::start(SimArgs {
        fault_malformed: 1.0,
        ..fast()
    })
    .await;
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let (status, _, body) = server
            .post("/v1/chat/completions", &request(Some(seed), CHUNK))
            .await;
        assert_eq!(status, 200);
        match serde_json::from_str::<Value>(&body) {
            Err(_) => kinds.insert("invalid json"),
            Ok(v) => {
                let c = v["choices"][0]["message"]["content"].as_str().unwrap();
                assert!(!c.contains('{'), "{c}");
                kinds.insert("no object")
            }
        };
    }
    assert_eq!(kinds.len(), 2, "both malformed forms occur: {kinds:?}");
    let s = server.get("/stats").await;
    assert_eq!(
        (
            s["faults"]["malformed"].as_u64(),
            s["completions_ok"].as_u64()
        ),
        (Some(12), Some(0))
    );
    server.stop().await;
}

/// Statuses of `n` successive sends of the same request.
async fn statuses(server: &Server, body: &Value, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(server.post("/v1/chat/completions", body).await.0);
    }
    out
}

#[tokio::test]
async fn retries_get_through_and_fault_sequences_are_reproducible() {
    let args = SimArgs {
        fault_429: 0.2,
        fault_500: 0.2,
        ..fast()
    };
    let server = Server::start(args.clone()).await;
    // With 40% faults per attempt, 6 attempts fail together with probability 0.4^6 = 0.4%.
    let mut gave_up = 0;
    for seed in 0..40 {
        let body = request(Some(seed), CHUNK);
        let s = statuses(&server, &body, 6).await;
        if !s.contains(&200) {
            gave_up += 1;
        }
    }
    assert!(gave_up <= 1, "{gave_up} requests never got through");
    let first: Vec<u16> = statuses(&server, &request(Some(999), CHUNK), 8).await;
    server.stop().await;
    let again = Server::start(args).await;
    assert_eq!(statuses(&again, &request(Some(999), CHUNK), 8).await, first);
    // After a reset, the same sequence again.
    again.post("/stats/reset", &json!({})).await;
    assert_eq!(statuses(&again, &request(Some(999), CHUNK), 8).await, first);
    assert!(
        first.contains(&200) && first.iter().any(|&s| s != 200),
        "{first:?}"
    );
    again.stop().await;
}

#[tokio::test]
async fn requests_beyond_max_concurrency_queue() {
    let server = Server::start(SimArgs {
        latency_ms: 150,
        max_concurrency: 3,
        ..SimArgs::default()
    })
    .await;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for seed in 0..12 {
        let http = server.http.clone();
        let url = format!("{}/v1/chat/completions", server.url);
        tasks.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .body(request(Some(seed), CHUNK).to_string())
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }));
    }
    // While they run, in_flight never exceeds the limit and the rest queue.
    let mut saw_queue = false;
    for _ in 0..10 {
        let s = server.get("/stats").await;
        assert!(s["in_flight"].as_u64().unwrap() <= 3, "{s}");
        saw_queue |= s["queued"].as_u64().unwrap() > 0;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // 12 requests, 3 at a time, 150 ms each: at least 4 rounds.
    assert!(
        t.elapsed() >= Duration::from_millis(600),
        "{:?}",
        t.elapsed()
    );
    let s = server.get("/stats").await;
    assert_eq!(s["max_in_flight"], 3, "{s}");
    assert!(saw_queue, "requests beyond the limit should be queued");
    server.stop().await;
}

#[tokio::test]
async fn content_does_not_depend_on_latency_jitter_or_concurrency() {
    let rates = BadRates::uniform(0.1);
    let with = |a: SimArgs| SimArgs {
        bad_off_topic: 0.1,
        bad_copied: 0.1,
        bad_near_duplicate: 0.1,
        bad_invented_number: 0.1,
        bad_pii: 0.1,
        prose_rate: 0.3,
        ..a
    };
    let collect = |server: Server| async move {
        let mut tasks = Vec::new();
        for seed in 0..16 {
            let http = server.http.clone();
            let url = format!("{}/v1/chat/completions", server.url);
            tasks.push(tokio::spawn(async move {
                let res = http
                    .post(url)
                    .body(request(Some(seed), CHUNK).to_string())
                    .send()
                    .await
                    .unwrap();
                res.text().await.unwrap()
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(content(&t.await.unwrap()));
        }
        server.stop().await;
        out
    };
    let a = collect(Server::start(with(fast())).await).await;
    let b = collect(
        Server::start(with(SimArgs {
            latency_ms: 5,
            jitter_ms: 40,
            max_concurrency: 2,
            ..fast()
        }))
        .await,
    )
    .await;
    assert_eq!(a, b);
    // Prose-wrapped replies still hold the sampled record as their first JSON object.
    let mut wrapped = 0;
    for (seed, c) in a.iter().enumerate() {
        let start = c.find('{').unwrap();
        let end = c.rfind('}').unwrap();
        let record: Map<String, Value> = serde_json::from_str(&c[start..=end]).unwrap();
        assert_eq!(record, sample(CHUNK, &fields(), seed as u64, &rates));
        if start > 0 {
            wrapped += 1;
        }
    }
    assert!(
        wrapped > 0 && wrapped < 16,
        "{wrapped} of 16 wrapped in prose at rate 0.3"
    );
}

#[tokio::test]
async fn shutdown_interrupts_hanging_requests() {
    let server = Server::start(SimArgs {
        fault_timeout: 1.0,
        hang_ms: 60_000,
        ..fast()
    })
    .await;
    let http = server.http.clone();
    let url = format!("{}/v1/chat/completions", server.url);
    let pending = tokio::spawn(async move {
        http.post(url)
            .body(request(Some(1), CHUNK).to_string())
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    server.stop().await;
    assert!(t.elapsed() < Duration::from_secs(3));
    let res = pending.await.unwrap();
    if let Ok(res) = res {
        assert_eq!(res.status().as_u16(), 503);
    }
}
