//! The Kafka bus (any Kafka-protocol broker), implementing [`crate::bus`]'s traits.
//!
//! - Producer: idempotent (`enable.idempotence`), `publish` returns once the broker has
//!   the message (acks=all). No transactions: duplicates are handled downstream by
//!   stable record ids and idempotent sinks (DESIGN.md invariant 2).
//! - Consumer: offsets are stored only for messages that were acknowledged, and only up
//!   to the lowest one still outstanding in each partition, then committed in the
//!   background by librdkafka: at-least-once. Two ways to share a topic's partitions:
//!   - [`KafkaConfig::consumer`]: a broker consumer group (`subscribe`), for a single
//!     reader (the coordinator's verdicts);
//!   - [`KafkaConfig::member_consumer`]: partitions split among the live members of a
//!     [`Membership`] (heartbeats in Redis) and `assign`ed by each member itself, for
//!     fleets (generators, validators). Why: with tansu 0.6 a group whose member is
//!     killed may never rebalance (the dead member's partitions stay assigned to it), and
//!     a fleet must survive `kill -9`. Offsets are still committed under the group id.
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
use rdkafka::message::Headers as _;
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

    /// What every consumer shares: offsets stored by us on acknowledgement (committed in
    /// the background under `group`), reading from the start of a partition without one.
    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A message waits at most this long in the broker when traffic is low (the
            // default, 500 ms per hop, shows at the end of every job).
            .set("fetch.wait.max.ms", "50");
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

    /// A client for readiness checks, made once per process (each librdkafka client
    /// has threads and broker connections of its own: not something to make per probe).
    pub fn probe(&self) -> Result<KafkaProbe> {
        let p: rdkafka::producer::BaseProducer =
            self.base().create().map_err(|e| kerr("client", e))?;
        Ok(KafkaProbe(Arc::new(p)))
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
            .consumer_config(group)
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
            _stop: None,
            _m: PhantomData,
        })
    }

    /// A consumer of `topic` taking its share of the partitions among the live members
    /// of `group` in `membership` (see the module docs); offsets are committed under
    /// `group`. Must be called within a tokio runtime.
    pub fn member_consumer<M: WireMessage>(
        &self,
        topic: &str,
        group: &str,
        membership: Arc<dyn Membership>,
    ) -> Result<KafkaConsumer<M>> {
        let consumer: StreamConsumer = self
            .consumer_config(group)
            .create()
            .map_err(|e| kerr("consumer", e))?;
        let consumer = Arc::new(consumer);
        let tracker: Arc<Mutex<Tracker>> = Arc::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let member = format!(
            "{}-{}-{:x}",
            self.client_id,
            std::process::id(),
            now.as_nanos() as u64
        );
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(follow_membership(
            consumer.clone(),
            tracker.clone(),
            topic.to_string(),
            group.to_string(),
            member,
            membership,
            stop.clone(),
        ));
        Ok(KafkaConsumer {
            consumer,
            topic: topic.to_string(),
            tracker,
            _stop: Some(stop.drop_guard()),
            _m: PhantomData,
        })
    }
}

/// Who is consuming a topic for a group right now: members that heartbeat.
#[async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Record `member` as alive now; the live members of `group`, sorted.
    async fn heartbeat(&self, group: &str, member: &str) -> Result<Vec<String>>;
    /// Leave `group` (best effort; a member that stops heartbeating expires anyway).
    async fn leave(&self, group: &str, member: &str);
}

/// How often members heartbeat (and re-check their share of partitions).
pub const MEMBER_HEARTBEAT: Duration = Duration::from_secs(1);
/// A member silent this long is taken as gone; its partitions go to the others.
pub const MEMBER_EXPIRY: Duration = Duration::from_secs(6);

/// The partitions `member` owns among `members` (sorted): every n-th, round robin.
pub fn share(partitions: i32, members: &[String], member: &str) -> BTreeSet<i32> {
    let Some(me) = members.iter().position(|m| m == member) else {
        return BTreeSet::new();
    };
    (0..partitions)
        .filter(|p| *p as usize % members.len() == me)
        .collect()
}

/// Keep `consumer`'s assignment equal to this member's share, until `stop`.
async fn follow_membership(
    consumer: Arc<StreamConsumer>,
    tracker: Arc<Mutex<Tracker>>,
    topic: String,
    group: String,
    member: String,
    membership: Arc<dyn Membership>,
    stop: tokio_util::sync::CancellationToken,
) {
    use rdkafka::consumer::CommitMode;
    use rdkafka::{Offset, TopicPartitionList};
    // How many partitions the topic has (a blocking metadata call).
    let partitions = loop {
        let (c, t) = (consumer.clone(), topic.clone());
        let n = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&t), Duration::from_secs(5))
                .ok()
                .and_then(|m| m.topics().first().map(|t| t.partitions().len() as i32))
                .filter(|n| *n > 0)
        })
        .await
        .ok()
        .flatten();
        if let Some(n) = n {
            break n;
        }
        tokio::select! {
            _ = tokio::time::sleep(MEMBER_HEARTBEAT) => {}
            _ = stop.cancelled() => return,
        }
    };
    // Members that start together see each other before taking partitions.
    let _ = membership.heartbeat(&group, &member).await;
    tokio::select! {
        _ = tokio::time::sleep(MEMBER_HEARTBEAT + MEMBER_HEARTBEAT / 2) => {}
        _ = stop.cancelled() => { membership.leave(&group, &member).await; return }
    }
    let mut owned = BTreeSet::new();
    loop {
        match membership.heartbeat(&group, &member).await {
            Ok(members) => {
                let want = share(partitions, &members, &member);
                if want != owned {
                    let gone: Vec<i32> = owned.difference(&want).copied().collect();
                    let new: Vec<i32> = want.difference(&owned).copied().collect();
                    // Commit what was stored, so a partition's next owner starts there.
                    let c = consumer.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        c.commit_consumer_state(CommitMode::Sync)
                    })
                    .await;
                    let mut drop_list = TopicPartitionList::new();
                    for p in &gone {
                        drop_list.add_partition(&topic, *p);
                    }
                    let mut add_list = TopicPartitionList::new();
                    for p in &new {
                        let _ = add_list.add_partition_offset(&topic, *p, Offset::Stored);
                    }
                    let mut all = TopicPartitionList::new();
                    for p in &want {
                        let _ = all.add_partition_offset(&topic, *p, Offset::Stored);
                    }
                    let c = consumer.clone();
                    let (t, has_gone, has_new) = (topic.clone(), !gone.is_empty(), !new.is_empty());
                    // librdkafka's assignment calls wait for its main thread.
                    let r = tokio::task::spawn_blocking(move || {
                        let mut r = Ok(());
                        if has_gone {
                            r = c.incremental_unassign(&drop_list);
                        }
                        if r.is_ok() && has_new {
                            r = c.incremental_assign(&add_list);
                        }
                        if let Err(e) = r {
                            // Half done: set the whole assignment instead.
                            tracing::warn!(error = %e, topic = %t, "incremental assignment failed; assigning all");
                            r = c.assign(&all);
                        }
                        r
                    })
                    .await
                    .unwrap_or(Err(rdkafka::error::KafkaError::Canceled));
                    match r {
                        Ok(()) => {
                            let mut t = tracker.lock().expect("lock");
                            for p in &gone {
                                t.partitions.remove(p);
                            }
                            tracing::info!(%topic, %group, members = members.len(), partitions = ?want, "partitions assigned");
                            owned = want;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, %topic, "assigning partitions; retrying");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, %group, "membership heartbeat failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MEMBER_HEARTBEAT) => {}
            _ = stop.cancelled() => break,
        }
    }
    membership.leave(&group, &member).await;
}

/// Checks that the brokers answer (see [`KafkaConfig::probe`]).
#[derive(Clone)]
pub struct KafkaProbe(Arc<rdkafka::producer::BaseProducer>);

impl KafkaProbe {
    /// Whether the brokers answer a metadata request. librdkafka's call blocks, so it
    /// runs on the blocking pool.
    pub async fn check(&self) -> Result<()> {
        let p = self.0.clone();
        tokio::task::spawn_blocking(move || {
            rdkafka::producer::Producer::client(p.as_ref())
                .fetch_metadata(None, Duration::from_secs(3))
                .map(|_| ())
                .map_err(|e| kerr("brokers unreachable", e))
        })
        .await
        .map_err(|e| kerr("metadata task", e))?
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
        Self::named("seedstream", 6)
    }
}

impl Topics {
    /// `<prefix>.shards`, `.candidates`, `.results`, `.accepted`, created with
    /// `partitions` partitions when missing.
    pub fn named(prefix: &str, partitions: i32) -> Self {
        Self {
            shards: format!("{prefix}.shards"),
            candidates: format!("{prefix}.candidates"),
            results: format!("{prefix}.results"),
            accepted: format!("{prefix}.accepted"),
            partitions,
        }
    }

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
        let mut record = FutureRecord::to(&self.topic).key(key).payload(&payload);
        let trace = crate::telemetry::current_headers();
        if !trace.is_empty() {
            let mut h = rdkafka::message::OwnedHeaders::new_with_capacity(trace.len());
            for (k, v) in &trace {
                h = h.insert(rdkafka::message::Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
            }
            record = record.headers(h);
        }
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
    /// Stops the membership task when the consumer goes.
    _stop: Option<tokio_util::sync::DropGuard>,
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
            let trace: Vec<(String, String)> = m
                .headers()
                .map(|hs| {
                    hs.iter()
                        .filter(|h| matches!(h.key, "traceparent" | "tracestate"))
                        .filter_map(|h| {
                            let v = std::str::from_utf8(h.value?).ok()?;
                            Some((h.key.to_string(), v.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
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
                Ok(msg) => {
                    let mut d = Delivery::with_ack(msg, Box::new(ack));
                    d.trace = trace;
                    return Ok(Some(d));
                }
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

#[cfg(test)]
mod share_tests {
    use super::*;

    #[test]
    fn every_partition_has_exactly_one_live_owner() {
        for n in 1..5usize {
            let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let mut seen = BTreeSet::new();
            for m in &members {
                for p in share(6, &members, m) {
                    assert!(seen.insert(p), "partition {p} owned twice");
                }
            }
            assert_eq!(seen, (0..6).collect::<BTreeSet<_>>());
        }
        assert!(
            share(6, &["a".into()], "b").is_empty(),
            "not a member: no share"
        );
    }
}
