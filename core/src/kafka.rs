//! The Kafka bus (any Kafka-protocol broker), implementing [`crate::bus`]'s traits.
//!
//! - Producer: idempotent (`enable.idempotence`), `publish` returns once the broker has
//!   the message (acks=all). No transactions: duplicates are handled downstream by
//!   stable record ids and idempotent sinks (DESIGN.md invariant 2).
//! - Consumer: a member of a consumer group; offsets are stored only for messages that
//!   were acknowledged, and only up to the lowest one still outstanding in each partition,
//!   then committed in the background by librdkafka: at-least-once.
//! - Nothing here blocks an async worker: produce and receive are librdkafka's async
//!   paths; storing an offset is an in-memory call; the admin client is async.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};

use crate::bus::{Consumer, Delivery, Publisher};
use crate::error::{Error, Result};
use crate::wire::WireMessage;

fn kerr(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Bus(format!("kafka: {what}: {e}"))
}

/// Connection settings shared by producers, consumers and the admin client.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Client id reported to the broker.
    pub client_id: String,
}

impl KafkaConfig {
    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        c
    }

    /// Create `topics` (name, partitions) if missing; existing topics are left as they are.
    pub async fn ensure_topics(&self, topics: &[(&str, i32)]) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> =
            self.base().create().map_err(|e| kerr("admin client", e))?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, parts)| NewTopic::new(name, *parts, TopicReplication::Fixed(1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin
            .create_topics(&new, &opts)
            .await
            .map_err(|e| kerr("create topics", e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(kerr(&format!("create topic {topic}"), code)),
            }
        }
        Ok(())
    }

    /// Whether the brokers answer a metadata request (readiness). librdkafka's call
    /// blocks, so it runs on the blocking pool.
    pub async fn check(&self) -> Result<()> {
        let cfg = self.base();
        tokio::task::spawn_blocking(move || {
            let p: rdkafka::producer::BaseProducer = cfg.create().map_err(|e| kerr("client", e))?;
            rdkafka::producer::Producer::client(&p)
                .fetch_metadata(None, Duration::from_secs(3))
                .map(|_| ())
                .map_err(|e| kerr("brokers unreachable", e))
        })
        .await
        .map_err(|e| kerr("metadata task", e))?
    }

    /// A publisher to `topic`.
    pub fn publisher<M: WireMessage>(&self, topic: &str) -> Result<KafkaPublisher<M>> {
        let producer: FutureProducer = self
            .base()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "120000")
            .create()
            .map_err(|e| kerr("producer", e))?;
        Ok(KafkaPublisher {
            producer,
            topic: topic.to_string(),
            _m: PhantomData,
        })
    }

    /// A consumer of `topic` in consumer group `group`.
    pub fn consumer<M: WireMessage>(&self, topic: &str, group: &str) -> Result<KafkaConsumer<M>> {
        let consumer: StreamConsumer = self
            .base()
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            // Also the rebalance timeout sent with JoinGroup: how long a rebalance waits
            // for members that stopped answering (a killed process) before going on
            // without them. Kafka's default, 5 minutes, stalls a job that long.
            .set("max.poll.interval.ms", "15000")
            .create()
            .map_err(|e| kerr("consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| kerr("subscribe", e))?;
        Ok(KafkaConsumer {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
            tracker: Arc::default(),
            _m: PhantomData,
        })
    }
}

/// Topic names, shared by every process of a deployment.
#[derive(Debug, Clone)]
pub struct Topics {
    /// Shard tasks (coordinator → generators).
    pub shards: String,
    /// Candidates (generators → validators).
    pub candidates: String,
    /// Verdicts (validators → coordinator).
    pub results: String,
    /// Accepted records, JSON lines as in `samples.jsonl`, keyed by record id, for
    /// continuous consumers (at-least-once: a resumed job publishes its records again
    /// under the same keys).
    pub accepted: String,
    /// Partitions of each topic created if missing.
    pub partitions: i32,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            shards: "seedstream.shards".into(),
            candidates: "seedstream.candidates".into(),
            results: "seedstream.results".into(),
            accepted: "seedstream.accepted".into(),
            partitions: 6,
        }
    }
}

impl Topics {
    /// Create the deployment's topics if missing.
    pub async fn ensure(&self, kafka: &KafkaConfig) -> Result<()> {
        let p = self.partitions;
        kafka
            .ensure_topics(&[
                (&self.shards, p),
                (&self.candidates, p),
                (&self.results, p),
                (&self.accepted, p),
            ])
            .await
    }
}

/// Publishes `M` to one topic.
pub struct KafkaPublisher<M> {
    producer: FutureProducer,
    topic: String,
    _m: PhantomData<fn(M)>,
}

impl<M> Clone for KafkaPublisher<M> {
    fn clone(&self) -> Self {
        Self {
            producer: self.producer.clone(),
            topic: self.topic.clone(),
            _m: PhantomData,
        }
    }
}

#[async_trait]
impl<M: WireMessage> Publisher<M> for KafkaPublisher<M> {
    async fn publish(&self, key: &str, msg: M) -> Result<()> {
        let payload = msg.encode();
        let record = FutureRecord::to(&self.topic).key(key).payload(&payload);
        self.producer
            .send(record, Duration::from_secs(60))
            .await
            .map(|_| ())
            .map_err(|(e, _)| kerr(&format!("publish to {}", self.topic), e))
    }
}

/// Per partition: offsets received and not yet acknowledged, and the highest received.
#[derive(Default)]
struct Tracker {
    partitions: HashMap<i32, PartitionTrack>,
}

#[derive(Default)]
struct PartitionTrack {
    outstanding: BTreeSet<i64>,
    highest: i64,
    stored: i64,
}

impl Tracker {
    fn received(&mut self, partition: i32, offset: i64) {
        // Offsets before the first one received were settled by whoever read them before.
        let p = self.partitions.entry(partition).or_insert(PartitionTrack {
            highest: offset - 1,
            stored: offset - 1,
            ..Default::default()
        });
        p.outstanding.insert(offset);
        p.highest = p.highest.max(offset);
    }

    /// The offset now safe to store (everything up to it is acknowledged), if it moved.
    fn acked(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let p = self.partitions.get_mut(&partition)?;
        p.outstanding.remove(&offset);
        let safe = match p.outstanding.first() {
            Some(&lowest) => lowest - 1,
            None => p.highest,
        };
        (safe > p.stored).then(|| {
            p.stored = safe;
            safe
        })
    }
}

/// Consumes `M` from one topic as a group member.
pub struct KafkaConsumer<M> {
    consumer: Arc<StreamConsumer>,
    topic: String,
    tracker: Arc<Mutex<Tracker>>,
    _m: PhantomData<fn() -> M>,
}

#[async_trait]
impl<M: WireMessage> Consumer<M> for KafkaConsumer<M> {
    async fn recv(&mut self) -> Result<Option<Delivery<M>>> {
        loop {
            let m = match self.consumer.recv().await {
                Ok(m) => m,
                Err(e) => {
                    // Rebalances, a restarting broker, a coordinator moving: librdkafka
                    // recovers by itself; keep consuming (our caller stops us on shutdown).
                    tracing::warn!(error = %e, topic = %self.topic, "kafka receive error; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let (partition, offset) = (m.partition(), m.offset());
            let decoded = M::decode(m.payload().unwrap_or_default());
            drop(m);
            self.tracker
                .lock()
                .expect("lock")
                .received(partition, offset);
            let (consumer, tracker, topic) = (
                self.consumer.clone(),
                self.tracker.clone(),
                self.topic.clone(),
            );
            let ack = move || {
                if let Some(safe) = tracker.lock().expect("lock").acked(partition, offset) {
                    // `store_offset` stores `safe + 1`: the next offset to read.
                    if let Err(e) = consumer.store_offset(&topic, partition, safe) {
                        tracing::warn!(error = %e, partition, offset = safe, "storing a consumed offset");
                    }
                }
            };
            match decoded {
                Ok(msg) => return Ok(Some(Delivery::with_ack(msg, Box::new(ack)))),
                Err(e) => {
                    // A message no version of us can read: skip it (acknowledge) and say so.
                    tracing::error!(error = %e, partition, offset, topic = %self.topic, "skipping an undecodable message");
                    ack();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stored_only_below_the_lowest_outstanding() {
        let mut t = Tracker::default();
        for o in 10..15 {
            t.received(0, o);
        }
        assert_eq!(t.acked(0, 12), None, "10 and 11 are still outstanding");
        assert_eq!(t.acked(0, 10), Some(10));
        assert_eq!(
            t.acked(0, 11),
            Some(12),
            "12 was acked before: the store jumps past it"
        );
        assert_eq!(t.acked(0, 14), None);
        assert_eq!(t.acked(0, 13), Some(14));
        // Another partition is independent.
        t.received(3, 0);
        assert_eq!(t.acked(3, 0), Some(0));
    }
}
