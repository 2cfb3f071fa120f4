//! The coordinator's loop, whatever the bus ([`drive`]): plan rounds, publish their
//! shards within the window, decide verdicts in canonical order, and write the dataset
//! ([`finish`]). The embedded pipeline (`seedstream-pipeline`) and the cluster job
//! ([`crate::cluster`]) both run it.
//!
//! Every topic is bounded, and the planner may run at most `window` slots ahead of the
//! assembler's canonical-order cursor, so memory stays bounded whatever is slow.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedstream_core::bus::{Consumer, Publisher};
use seedstream_core::messages::{ShardTask, Verdict};
use seedstream_core::metrics::METRICS;
use seedstream_core::plan::{early_round_size, round_size, RoundPlan};
use seedstream_core::spec::Job;
use seedstream_core::{Error, Result};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::assemble::{write_atomic, Assembler};
use crate::manifest::{self, RunFacts};
use crate::progress::Progress;

/// How long a job may decide nothing before the watchdog says what it waits for.
pub const DEFAULT_STALL_WARN: Duration = Duration::from_secs(60);

/// How [`drive`] paces a job and watches it.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// At most this many slots planned but not yet decided (the window).
    pub window_slots: usize,
    /// Re-publish the published, undecided shards after this long without a decision
    /// (cluster mode: a consumer may have died holding them). `None`: never.
    pub redispatch_after: Option<Duration>,
    /// After this long without a decision, log what the job waits for (and again every
    /// such period while it lasts); `/metrics` shows it too.
    pub stall_warn: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `target` records accepted.
    Complete,
    /// The slot budget ran out first (exit code 3).
    BudgetSpent,
}

/// What a finished run reports.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// The manifest as written.
    pub manifest: serde_json::Value,
    /// Where the dataset is.
    pub out_dir: PathBuf,
}

/// Rename the dataset files into place and write the manifest.
pub fn finish(
    job: &Job,
    assembler: Assembler,
    planned: u64,
    rounds: u32,
    client: std::collections::BTreeMap<&'static str, u64>,
    judge: std::collections::BTreeMap<&'static str, u64>,
    started: Instant,
) -> Result<Outcome> {
    let out_dir = assembler.dir().to_path_buf();
    let status = if assembler.totals.accepted >= job.spec.target {
        Status::Complete
    } else {
        Status::BudgetSpent
    };
    let totals = assembler.commit()?;
    let facts = RunFacts {
        status: match status {
            Status::Complete => "complete",
            Status::BudgetSpent => "budget_spent",
        },
        planned,
        rounds,
        client,
        judge,
        wall_ms: started.elapsed().as_millis() as u64,
    };
    let manifest = manifest::build(job, &totals, &facts);
    let mut bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    bytes.push(b'\n');
    write_atomic(&out_dir.join("manifest.json"), &bytes)?;
    Ok(Outcome {
        status,
        manifest,
        out_dir,
    })
}

/// The coordinator's loop, whatever the bus: plan rounds, publish their shards within the
/// window, decide verdicts in canonical order, plan the next round early or when the
/// current ones are decided, until the target is met or the budget spent. `workers` are
/// tasks of this process whose failure stops the job (none in cluster mode).
/// Returns the outcome, the slots planned and the rounds.
///
/// Shards are published strictly in canonical order, rounds one after the other, each
/// taking its window permits first. So the window always holds the earliest undecided
/// slots, the ones the assembler needs next: a round planned early can never fill the
/// window with slots that wait for an earlier round that could then not be published
/// (the hang of a million-record job, whose early second round took every permit while
/// half of the first round was still unpublished).
#[allow(clippy::too_many_arguments)]
pub async fn drive<P, C, A>(
    job: &Arc<Job>,
    assembler: &mut Assembler,
    shard_tx: &P,
    verdict_rx: &mut C,
    workers: &mut JoinSet<(String, Result<()>)>,
    publishers: &mut JoinSet<Result<()>>,
    pacing: Pacing,
    accepted_tx: Option<&A>,
    progress: &Arc<Progress>,
    run_cancel: &CancellationToken,
    cancel: &CancellationToken,
) -> (Result<()>, u64, u32)
where
    P: Publisher<ShardTask> + Clone + 'static,
    C: Consumer<Verdict>,
    A: Publisher<Vec<u8>> + Clone + 'static,
{
    // Accepted records being published (bounded: the loop waits when this many are out).
    const MAX_SINKS: usize = 1024;
    let mut sinks: JoinSet<Result<()>> = JoinSet::new();
    let shard_size = job.spec.shard_size;
    let window = Arc::new(Semaphore::new(pacing.window_slots));
    // How far publishing got, in canonical order (what a re-dispatch may send again).
    let published = Arc::new(Published::default());
    // Each round's publisher starts when the one before it has published its last shard.
    let mut previous_round_published: Option<oneshot::Receiver<()>> = None;
    let mut watchdog = Watchdog::default();
    let mut planned = 0u64;
    let mut rounds = 0u32;
    let result: Result<()> = async {
        let mut plan_next = |assembler: &mut Assembler,
                         size: u64,
                         publishers: &mut JoinSet<Result<()>>,
                         planned: &mut u64,
                         rounds: &mut u32| {
            let round = RoundPlan { round: *rounds, slots: size, shard_size };
            tracing::info!(round = *rounds, slots = size, "planning round");
            assembler.plan_round(round);
            *planned += size;
            *rounds += 1;
            progress.planned.store(*planned, Ordering::Relaxed);
            let (done_tx, done_rx) = oneshot::channel();
            let after = previous_round_published.replace(done_rx);
            publishers.spawn(publish_round(
                job.id.clone(),
                round,
                shard_tx.clone(),
                window.clone(),
                RoundOrder { after, done: done_tx, published: published.clone() },
                run_cancel.clone(),
            ));
        };
        // Since the last decision, or the last re-dispatch (which waits again before the next).
        let mut last_progress = Instant::now();
        // Since the last decision alone (the watchdog's clock).
        let mut last_decided = Instant::now();
        let mut attempt = 0u32;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            if assembler.all_done() {
                let size = round_size(job.spec.target, job.max_slots, planned, assembler.totals.accepted, job.flow.records_per_slot());
                if size == 0 {
                    break;
                }
                plan_next(assembler, size, publishers, &mut planned, &mut rounds);
            }
            tokio::select! {
                d = verdict_rx.recv() => {
                    let Some(d) = d? else {
                        // The topics closed early: a worker failed. Report its error.
                        while let Some(w) = workers.join_next().await {
                            if let Ok((name, Err(e))) = w {
                                tracing::error!(worker = %name, error = %e, "worker failed");
                                return Err(e);
                            }
                        }
                        return Err(Error::Bus("the pipeline stopped before every slot was decided".into()));
                    };
                    let v = d.ack();
                    let accepted_before = assembler.totals.accepted;
                    let n = assembler.offer(v)?;
                    window.add_permits(n as usize);
                    METRICS.slots_decided.fetch_add(n, Ordering::Relaxed);
                    METRICS.records_accepted.fetch_add(assembler.totals.accepted - accepted_before, Ordering::Relaxed);
                    if let Some(tx) = accepted_tx {
                        for (id, line) in assembler.take_accepted() {
                            while sinks.len() >= MAX_SINKS {
                                if let Some(r) = sinks.join_next().await {
                                    r.map_err(|e| Error::Bus(format!("accepted-record publisher: {e}")))??;
                                }
                            }
                            let tx = tx.clone();
                            sinks.spawn(async move { tx.publish(&id, line).await });
                        }
                    }
                    if n > 0 {
                        last_progress = Instant::now();
                        last_decided = last_progress;
                        watchdog.progressed(&job.id);
                    }
                    if let Some(snap) = assembler.take_halfway() {
                        let size = early_round_size(job.spec.target, job.max_slots, planned, &snap);
                        if size > 0 {
                            plan_next(assembler, size, publishers, &mut planned, &mut rounds);
                        }
                    }
                    let t = &assembler.totals;
                    progress.decided.store(t.decided, Ordering::Relaxed);
                    progress.accepted.store(t.accepted, Ordering::Relaxed);
                    progress.cached.store(t.cached, Ordering::Relaxed);
                }
                Some(w) = workers.join_next() => {
                    let (name, r) = w.map_err(|e| Error::Bus(format!("worker task: {e}")))?;
                    r.inspect_err(|e| tracing::error!(worker = %name, error = %e, "worker failed"))?;
                }
                Some(p) = publishers.join_next() => {
                    p.map_err(|e| Error::Bus(format!("shard publisher: {e}")))??;
                }
                Some(r) = sinks.join_next() => {
                    r.map_err(|e| Error::Bus(format!("accepted-record publisher: {e}")))??;
                }
                _ = tick.tick() => {
                    let stalled = last_decided.elapsed();
                    let state = || WaitState {
                        window_slots: pacing.window_slots,
                        window_free: window.available_permits(),
                        in_flight: planned - assembler.totals.decided,
                        published: published.get(),
                        assembler: assembler.waiting(),
                        publishers: publishers.len(),
                    };
                    watchdog.check(&job.id, stalled, pacing.stall_warn, state);
                    let stalled = last_progress.elapsed();
                    // No slot decided for a while: some shard or candidate sits with a
                    // consumer that died. Send the published, undecided shards again
                    // (answers are cached, duplicates are ignored), keyed to land elsewhere.
                    if pacing.redispatch_after.is_some_and(|after| stalled >= after) {
                        attempt += 1;
                        let upto = published.get();
                        let shards: Vec<_> = assembler
                            .undecided_shards()
                            .into_iter()
                            .filter(|(round, shard)| (round.round, *shard) < upto)
                            .collect();
                        tracing::warn!(shards = shards.len(), attempt, "no progress: re-dispatching undecided shards");
                        for (round, shard) in shards {
                            let task = ShardTask { job_id: job.id.clone(), round: round.round, shard, slots: round.shard_len(shard), shard_size: round.shard_size, attempt };
                            shard_tx.publish(&format!("{}/{}#{attempt}", round.round, shard), task).await?;
                        }
                        last_progress = Instant::now();
                    }
                }
                _ = cancel.cancelled() => return Err(Error::Cancelled),
            }
        }
        while let Some(r) = sinks.join_next().await {
            r.map_err(|e| Error::Bus(format!("accepted-record publisher: {e}")))??;
        }
        Ok(())
    }
    .await;
    watchdog.progressed(&job.id);
    (result, planned, rounds)
}

/// The next shard to publish, `(round, shard)`, as one atomic (round in the high half).
#[derive(Debug, Default)]
struct Published(std::sync::atomic::AtomicU64);

impl Published {
    fn set(&self, round: u32, shard: u32) {
        self.0
            .store(((round as u64) << 32) | shard as u64, Ordering::Release);
    }
    fn get(&self) -> (u32, u32) {
        let v = self.0.load(Ordering::Acquire);
        ((v >> 32) as u32, v as u32)
    }
}

/// Where a round's publisher stands among the rounds: it starts after `after` fires (the
/// previous round published everything, or its publisher ended) and fires `done` when it
/// has published its own last shard.
struct RoundOrder {
    after: Option<oneshot::Receiver<()>>,
    done: oneshot::Sender<()>,
    published: Arc<Published>,
}

/// Publish every shard of `round` in order, taking window permits first (backpressure),
/// once the rounds before it are published.
async fn publish_round<P: Publisher<ShardTask>>(
    job_id: String,
    round: RoundPlan,
    tx: P,
    window: Arc<Semaphore>,
    order: RoundOrder,
    cancel: CancellationToken,
) -> Result<()> {
    if let Some(after) = order.after {
        tokio::select! {
            // An error (the earlier publisher ended without finishing) ends the job anyway.
            _ = after => {}
            _ = cancel.cancelled() => return Ok(()),
        }
    }
    for shard in 0..round.shards() {
        let slots = round.shard_len(shard);
        let permits = tokio::select! {
            p = window.acquire_many(slots) => p.expect("window open"),
            _ = cancel.cancelled() => return Ok(()),
        };
        // The assembler returns the permits as it decides the slots.
        permits.forget();
        let task = ShardTask {
            attempt: 0,
            job_id: job_id.clone(),
            round: round.round,
            shard,
            slots,
            shard_size: round.shard_size,
        };
        // Each shard's trace starts here (its context travels in the message headers).
        let span =
            tracing::info_span!("publish_shard", job_id = %job_id, round = round.round, shard);
        tx.publish(&format!("{}/{}", round.round, shard), task)
            .instrument(span)
            .await?;
        order.published.set(round.round, shard + 1);
    }
    order.published.set(round.round + 1, 0);
    let _ = order.done.send(());
    Ok(())
}

/// What a job that decides nothing is waiting for.
#[derive(Debug)]
struct WaitState {
    window_slots: usize,
    window_free: usize,
    in_flight: u64,
    published: (u32, u32),
    assembler: crate::assemble::Waiting,
    publishers: usize,
}

/// Says, once per `stall_warn` while a job decides nothing, what it is waiting for
/// (log and `/metrics`), and when it moves again.
#[derive(Debug, Default)]
struct Watchdog {
    /// When the last warning was given, as the stall's length then.
    warned_at: Option<Duration>,
}

impl Watchdog {
    fn check(
        &mut self,
        job_id: &str,
        stalled: Duration,
        stall_warn: Duration,
        state: impl FnOnce() -> WaitState,
    ) {
        if stalled < stall_warn {
            return;
        }
        if self.warned_at.is_some_and(|at| stalled < at + stall_warn) {
            return;
        }
        if self.warned_at.is_none() {
            METRICS.jobs_stalled.fetch_add(1, Ordering::Relaxed);
        }
        self.warned_at = Some(stalled);
        let s = state();
        let a = &s.assembler;
        METRICS
            .stalled_slots_in_flight
            .store(s.in_flight, Ordering::Relaxed);
        METRICS
            .stalled_window_free_slots
            .store(s.window_free as u64, Ordering::Relaxed);
        tracing::warn!(
            job_id,
            stalled_s = stalled.as_secs(),
            in_flight = s.in_flight,
            window_free = s.window_free,
            window_slots = s.window_slots,
            round = a.round,
            next_slot = a.next,
            round_slots = a.round_slots,
            rounds_queued = a.queued,
            verdicts_waiting = a.pending,
            published_through = %format!("{}/{}", s.published.0, s.published.1),
            publishers = s.publishers,
            "no slot decided: waiting for the verdict of the next slot in canonical order (round, next_slot)"
        );
    }

    fn progressed(&mut self, job_id: &str) {
        if let Some(at) = self.warned_at.take() {
            METRICS.jobs_stalled.fetch_sub(1, Ordering::Relaxed);
            tracing::info!(
                job_id,
                stalled_s = at.as_secs(),
                "slots are being decided again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use seedstream_core::bus::inproc;

    use super::*;

    fn first(published: &Arc<Published>) -> RoundOrder {
        RoundOrder {
            after: None,
            done: oneshot::channel().0,
            published: published.clone(),
        }
    }

    async fn drain(rx: &mut impl Consumer<ShardTask>) -> Vec<ShardTask> {
        let mut got = Vec::new();
        while let Ok(Ok(Some(d))) =
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            got.push(d.ack());
        }
        got
    }

    /// Bounded everything (DESIGN.md invariant 6): the planner never runs more than the
    /// window ahead of the assembler, however fast shards are consumed.
    #[tokio::test]
    async fn planner_stops_at_the_window() {
        let window = Arc::new(Semaphore::new(10));
        let (tx, mut rx) = inproc::topic::<ShardTask>(1000);
        let round = RoundPlan {
            round: 0,
            slots: 100,
            shard_size: 4,
        };
        let cancel = CancellationToken::new();
        let published = Arc::new(Published::default());
        let publisher = tokio::spawn(publish_round(
            "j".into(),
            round,
            tx,
            window.clone(),
            first(&published),
            cancel.clone(),
        ));
        let mut got = drain(&mut rx).await;
        // 10 permits, 4 slots a shard: two shards (8 slots), the third would need 12.
        assert_eq!(got.len(), 2, "published past the window");
        assert_eq!(published.get(), (0, 2));
        // The assembler decides 8 slots: permits come back, the planner moves on.
        window.add_permits(8);
        got.extend(drain(&mut rx).await);
        assert_eq!(got.len(), 4);
        assert_eq!(published.get(), (0, 4));
        assert!(!publisher.is_finished());
        cancel.cancel();
        publisher.await.unwrap().unwrap();
    }

    /// A round planned early (at the halfway point of the one before) publishes nothing
    /// until every shard of the rounds before it is out: otherwise its slots, which the
    /// assembler can only decide after the earlier round's, could take the whole window
    /// and leave the earlier round's last shards unpublished forever (the 1M-record hang).
    #[tokio::test]
    async fn a_round_planned_early_waits_for_the_rounds_before_it() {
        let window = Arc::new(Semaphore::new(8));
        let (tx, mut rx) = inproc::topic::<ShardTask>(1000);
        let cancel = CancellationToken::new();
        let published = Arc::new(Published::default());
        let (done0, after1) = oneshot::channel();
        let r0 = RoundPlan {
            round: 0,
            slots: 20,
            shard_size: 4,
        };
        let r1 = RoundPlan {
            round: 1,
            slots: 40,
            shard_size: 4,
        };
        let p0 = tokio::spawn(publish_round(
            "j".into(),
            r0,
            tx.clone(),
            window.clone(),
            RoundOrder {
                after: None,
                done: done0,
                published: published.clone(),
            },
            cancel.clone(),
        ));
        let p1 = tokio::spawn(publish_round(
            "j".into(),
            r1,
            tx,
            window.clone(),
            RoundOrder {
                after: Some(after1),
                done: oneshot::channel().0,
                published: published.clone(),
            },
            cancel.clone(),
        ));
        // Decide what is published, one shard at a time, as an assembler would (round 1's
        // slots only once round 0 is all decided).
        let mut order = Vec::new();
        for _ in 0..15 {
            let got = drain(&mut rx).await;
            if got.is_empty() {
                break;
            }
            for t in &got {
                order.push((t.round, t.shard));
            }
            window.add_permits(got.iter().map(|t| t.slots as usize).sum());
        }
        let want: Vec<(u32, u32)> = (0..5)
            .map(|s| (0, s))
            .chain((0..10).map(|s| (1, s)))
            .collect();
        assert_eq!(order, want, "shards out of canonical order");
        assert_eq!(published.get(), (2, 0));
        p0.await.unwrap().unwrap();
        p1.await.unwrap().unwrap();
    }

    #[test]
    fn the_watchdog_warns_once_per_period_and_clears_its_gauge() {
        let mut w = Watchdog::default();
        let state = || WaitState {
            window_slots: 10,
            window_free: 0,
            in_flight: 10,
            published: (0, 3),
            assembler: crate::assemble::Waiting {
                round: 0,
                next: 2,
                round_slots: 12,
                queued: 0,
                pending: 7,
            },
            publishers: 1,
        };
        let warn = Duration::from_secs(60);
        let before = METRICS.jobs_stalled.load(Ordering::Relaxed);
        let mut asked = 0;
        let mut count = |s: u64| {
            w.check("j", Duration::from_secs(s), warn, || {
                asked += 1;
                state()
            })
        };
        count(59);
        count(60);
        count(90);
        count(121);
        assert_eq!(asked, 2, "a warning at 60 s and at 120 s, none between");
        assert_eq!(METRICS.jobs_stalled.load(Ordering::Relaxed), before + 1);
        w.progressed("j");
        assert_eq!(METRICS.jobs_stalled.load(Ordering::Relaxed), before);
        assert!(w.warned_at.is_none());
    }
}
