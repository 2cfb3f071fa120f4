//! The bus: how shard tasks, candidates and verdicts travel between services.
//!
//! [`Publisher`] and [`Consumer`] are what Kafka implements in cluster mode (publish
//! then acknowledge; at-least-once). [`inproc`] is the embedded implementation: one
//! bounded channel per topic, shared by every consumer of the group, so a full topic
//! blocks its producers (backpressure, DESIGN.md invariant 6). Both pass [`contract`].

use async_trait::async_trait;

use crate::error::Result;

/// A received message; `ack` it once everything it caused is published downstream.
pub struct Delivery<M> {
    /// The message.
    pub msg: M,
    /// Trace context it carried (`traceparent`, `tracestate`), for
    /// [`crate::telemetry::continue_trace`]; empty in process.
    pub trace: Vec<(String, String)>,
    acker: Option<Box<dyn FnOnce() + Send>>,
}

impl<M> Delivery<M> {
    /// A delivery that needs no acknowledgement (in-process).
    pub fn new(msg: M) -> Self {
        Self {
            msg,
            trace: Vec::new(),
            acker: None,
        }
    }
    /// A delivery whose `ack` runs `acker` (e.g. marks an offset committable).
    pub fn with_ack(msg: M, acker: Box<dyn FnOnce() + Send>) -> Self {
        Self {
            msg,
            trace: Vec::new(),
            acker: Some(acker),
        }
    }
    /// Acknowledge; returns the message.
    pub fn ack(mut self) -> M {
        if let Some(a) = self.acker.take() {
            a();
        }
        self.msg
    }
}

/// Publishes messages to one topic.
#[async_trait]
pub trait Publisher<M: Send + 'static>: Send + Sync {
    /// Publish `msg` under `key` (a partitioning key); waits while the topic is full.
    async fn publish(&self, key: &str, msg: M) -> Result<()>;
}

/// Consumes one topic as a member of a consumer group.
#[async_trait]
pub trait Consumer<M: Send + 'static>: Send {
    /// The next message, or `None` once the topic is closed and drained.
    async fn recv(&mut self) -> Result<Option<Delivery<M>>>;
}

/// The in-process bus.
pub mod inproc {
    use std::sync::Arc;

    use tokio::sync::{mpsc, Mutex};

    use super::*;
    use crate::error::Error;

    /// Publishing side of an in-process topic; the topic closes when every clone is dropped.
    pub struct InProcPublisher<M> {
        tx: mpsc::Sender<M>,
    }
    impl<M> Clone for InProcPublisher<M> {
        fn clone(&self) -> Self {
            Self {
                tx: self.tx.clone(),
            }
        }
    }

    /// Consuming side; clones share one queue (one consumer group).
    pub struct InProcConsumer<M> {
        rx: Arc<Mutex<mpsc::Receiver<M>>>,
    }
    impl<M> Clone for InProcConsumer<M> {
        fn clone(&self) -> Self {
            Self {
                rx: self.rx.clone(),
            }
        }
    }

    /// A topic holding at most `capacity` messages.
    pub fn topic<M: Send + 'static>(capacity: usize) -> (InProcPublisher<M>, InProcConsumer<M>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            InProcPublisher { tx },
            InProcConsumer {
                rx: Arc::new(Mutex::new(rx)),
            },
        )
    }

    #[async_trait]
    impl<M: Send + 'static> Publisher<M> for InProcPublisher<M> {
        async fn publish(&self, _key: &str, msg: M) -> Result<()> {
            self.tx
                .send(msg)
                .await
                .map_err(|_| Error::Bus("topic has no consumer".into()))
        }
    }

    #[async_trait]
    impl<M: Send + 'static> Consumer<M> for InProcConsumer<M> {
        async fn recv(&mut self) -> Result<Option<Delivery<M>>> {
            Ok(self.rx.lock().await.recv().await.map(Delivery::new))
        }
    }
}

/// Contract tests every bus implementation must pass.
pub mod contract {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;

    /// Everything published is delivered (at least once) to a group of `consumers.len()`.
    pub async fn delivers_everything<P, C>(publisher: P, consumers: Vec<C>, n: u64)
    where
        P: Publisher<u64> + 'static,
        C: Consumer<u64> + 'static,
    {
        let producer = tokio::spawn(async move {
            for i in 0..n {
                publisher.publish(&i.to_string(), i).await.unwrap();
            }
        });
        let mut tasks = Vec::new();
        for mut c in consumers {
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                while let Ok(Ok(Some(d))) =
                    tokio::time::timeout(Duration::from_secs(5), c.recv()).await
                {
                    got.push(d.ack());
                    if got.len() as u64 == n {
                        break;
                    }
                }
                got
            }));
        }
        producer.await.unwrap();
        let mut all = BTreeSet::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        assert_eq!(
            all,
            (0..n).collect::<BTreeSet<_>>(),
            "some message was lost"
        );
    }

    /// A full topic blocks its publisher instead of growing.
    pub async fn full_topic_blocks<P: Publisher<u64>>(publisher: &P, capacity: u64) {
        for i in 0..capacity {
            publisher.publish("k", i).await.unwrap();
        }
        let blocked =
            tokio::time::timeout(Duration::from_millis(100), publisher.publish("k", 99)).await;
        assert!(
            blocked.is_err(),
            "publish into a full topic returned at once"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inproc_contract() {
        let (p, c) = inproc::topic::<u64>(8);
        contract::delivers_everything(p, vec![c.clone(), c.clone(), c], 500).await;
        let (p, _c) = inproc::topic::<u64>(4);
        contract::full_topic_blocks(&p, 4).await;
    }
}
