//! The real bus (Kafka protocol, tansu) and state store (redis-server) pass the same
//! contract tests as the in-process ones (`core::bus::contract`, `core::state::contract`).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::services::{Broker, Redis};
use common::tempdir;
use seedstream_core::bus::{contract as bus_contract, Consumer, Publisher};
use seedstream_core::kafka::KafkaConfig;
use seedstream_core::messages::ShardTask;
use seedstream_core::redis_state::RedisState;
use seedstream_core::state::{contract as state_contract, StateStore};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn redis_state_passes_the_state_contract() {
    let dir = tempdir("redis-contract");
    let redis = Redis::start(&dir.join("redis"));
    rt().block_on(async {
        let s = RedisState::connect(&redis.url, "test-a", None)
            .await
            .unwrap();
        state_contract::cache_roundtrip(&s).await;
        let s = RedisState::connect(&redis.url, "test-b", Some(3600))
            .await
            .unwrap();
        state_contract::cache_concurrent(Arc::new(s.clone())).await;
        // Namespaced: another prefix sees nothing of it.
        let other = RedisState::connect(&redis.url, "test-c", None)
            .await
            .unwrap();
        assert_eq!(other.cache_get(&[1u8; 32]).await.unwrap(), None);
        assert!(s
            .cache_get(&{
                let mut k = [0u8; 32];
                k[31] = 9;
                k
            })
            .await
            .unwrap()
            .is_some());
    });
    // A bad URL is a clear error, not a panic.
    rt().block_on(async {
        let e = RedisState::connect("redis://127.0.0.1:1/", "x", None)
            .await
            .err()
            .expect("no server there");
        assert!(e.to_string().contains("redis"), "{e}");
    });
}

#[test]
fn kafka_bus_passes_the_bus_contract() {
    let dir = tempdir("kafka-contract");
    let broker = Broker::start(&dir.join("broker"));
    rt().block_on(async {
        let cfg = KafkaConfig {
            brokers: broker.brokers.clone(),
            client_id: "contract".into(),
        };
        cfg.ensure_topics(&[("contract", 3)]).await.unwrap();
        // Idempotent: creating it again is fine.
        cfg.ensure_topics(&[("contract", 3)]).await.unwrap();
        let p = cfg.publisher::<u64>("contract").unwrap();
        let consumers = vec![
            cfg.consumer::<u64>("contract", "g1").unwrap(),
            cfg.consumer::<u64>("contract", "g1").unwrap(),
        ];
        bus_contract::delivers_everything(p, consumers, 300).await;
    });
}

#[test]
fn kafka_redelivers_what_was_not_acknowledged() {
    let dir = tempdir("kafka-redelivery");
    let mut broker = Broker::start(&dir.join("broker"));
    let cfg = KafkaConfig {
        brokers: broker.brokers.clone(),
        client_id: "redelivery".into(),
    };
    let n = 40u32;
    let first_half: BTreeSet<u32> = rt().block_on(async {
        cfg.ensure_topics(&[("shards", 1)]).await.unwrap();
        let p = cfg.publisher::<ShardTask>("shards").unwrap();
        for shard in 0..n {
            let t = ShardTask {
                attempt: 0,
                job_id: "j".into(),
                round: 0,
                shard,
                slots: 8,
                shard_size: 8,
            };
            p.publish(&shard.to_string(), t).await.unwrap();
        }
        // Take everything, acknowledge only the first half, then "crash" (drop).
        let mut c = cfg.consumer::<ShardTask>("shards", "gen").unwrap();
        let mut acked = BTreeSet::new();
        for _ in 0..n {
            let d = tokio::time::timeout(Duration::from_secs(30), c.recv())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if d.msg.shard < n / 2 {
                acked.insert(d.ack().shard);
            }
        }
        // Give the background commit (every 500 ms) time to run.
        tokio::time::sleep(Duration::from_secs(2)).await;
        acked
    });
    assert_eq!(first_half.len() as u32, n / 2);
    // The broker restarts too (sqlite storage keeps data and group offsets).
    broker.restart();
    let redelivered: BTreeSet<u32> = rt().block_on(async {
        let mut c = cfg.consumer::<ShardTask>("shards", "gen").unwrap();
        let mut got = BTreeSet::new();
        while let Ok(Ok(Some(d))) = tokio::time::timeout(Duration::from_secs(15), c.recv()).await {
            got.insert(d.ack().shard);
            if got.len() as u32 == n / 2 {
                break;
            }
        }
        got
    });
    // At-least-once: every unacknowledged message comes back; nothing acknowledged does.
    assert_eq!(redelivered, (n / 2..n).collect::<BTreeSet<_>>());
}

/// Trace context crosses the Kafka hop: the consumer's span continues the producer's
/// trace (`traceparent` in the message headers).
#[test]
fn kafka_carries_trace_context() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let dir = tempdir("kafka-trace");
    let broker = Broker::start(&dir.join("broker"));
    let cfg = KafkaConfig {
        brokers: broker.brokers.clone(),
        client_id: "trace".into(),
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: the subscriber above is this thread's.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sent, received) = rt.block_on(async {
        cfg.ensure_topics(&[("traced", 1)]).await.unwrap();
        let p = cfg.publisher::<u64>("traced").unwrap();
        let span = tracing::info_span!("produce");
        let sent = span.context().span().span_context().trace_id();
        tracing::Instrument::instrument(p.publish("k", 7), span)
            .await
            .unwrap();
        let mut c = cfg.consumer::<u64>("traced", "trace-reader").unwrap();
        let d = tokio::time::timeout(Duration::from_secs(30), c.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            d.trace.iter().any(|(k, _)| k == "traceparent"),
            "no traceparent header: {:?}",
            d.trace
        );
        let consume = tracing::info_span!("consume");
        seedstream_core::telemetry::continue_trace(&consume, &d.trace);
        let received = consume.context().span().span_context().trace_id();
        assert_eq!(d.ack(), 7);
        (sent, received)
    });
    assert_ne!(sent, opentelemetry::trace::TraceId::INVALID);
    assert_eq!(
        sent, received,
        "the consumer's span is not in the producer's trace"
    );
}

/// Fleet consumers split a topic's partitions among the live members (heartbeats in
/// Redis), each message to one member; when a member goes, the others take its share.
#[test]
fn member_consumers_split_partitions_and_take_over() {
    let dir = tempdir("kafka-members");
    let broker = Broker::start(&dir.join("broker"));
    let redis = Redis::start(&dir.join("redis"));
    let cfg = KafkaConfig {
        brokers: broker.brokers.clone(),
        client_id: "members".into(),
    };
    rt().block_on(async {
        let state = RedisState::connect(&redis.url, "members", None)
            .await
            .unwrap();
        cfg.ensure_topics(&[("split", 4)]).await.unwrap();
        let mut a = cfg
            .member_consumer::<u64>("split", "g", Arc::new(state.clone()))
            .unwrap();
        let mut b = cfg
            .member_consumer::<u64>("split", "g", Arc::new(state.clone()))
            .unwrap();
        let p = cfg.publisher::<u64>("split").unwrap();
        for i in 0..40u64 {
            p.publish(&format!("k{i}"), i).await.unwrap();
        }
        // Both members get a share; together, everything exactly once.
        let mut got_a = BTreeSet::new();
        let mut got_b = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while got_a.len() + got_b.len() < 40 && tokio::time::Instant::now() < deadline {
            tokio::select! {
                Ok(Some(d)) = a.recv() => { assert!(got_a.insert(d.ack())); }
                Ok(Some(d)) = b.recv() => { assert!(got_b.insert(d.ack())); }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        assert!(
            !got_a.is_empty() && !got_b.is_empty(),
            "one member got everything: {got_a:?} {got_b:?}"
        );
        assert!(got_a.is_disjoint(&got_b), "a message went to both members");
        assert_eq!(got_a.len() + got_b.len(), 40);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // b goes; a takes every partition and gets what is published next.
        drop(b);
        for i in 100..140u64 {
            p.publish(&format!("k{i}"), i).await.unwrap();
        }
        let mut later = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while later.len() < 40 && tokio::time::Instant::now() < deadline {
            if let Ok(Ok(Some(d))) =
                tokio::time::timeout(Duration::from_millis(500), a.recv()).await
            {
                let v = d.ack();
                if v >= 100 {
                    later.insert(v);
                }
            }
        }
        assert_eq!(
            later,
            (100..140).collect::<BTreeSet<_>>(),
            "the remaining member did not take over"
        );
    });
}
