//! Embedded mode: the whole pipeline in one process, over the in-process bus and the
//! on-disk state store, through the same traits Kafka and Redis implement.
//!
//! ```text
//! planner+assembler ──shards──► generator × N ──candidates──► validator × M ──verdicts──┐
//!        ▲  (window semaphore: slots planned but not yet decided)                        │
//!        └───────────────────────────────────────────────────────────────────────────────┘
//! ```
//! Every topic is bounded, and the planner may run at most `window` slots ahead of the
//! assembler's canonical-order cursor, so memory stays bounded whatever is slow.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedstream_core::bus::inproc;
use seedstream_core::bus::{Consumer, Publisher};
use seedstream_core::messages::{Candidate, ShardTask, Verdict};
use seedstream_core::metrics::METRICS;
use seedstream_core::plan::{early_round_size, round_size, RoundPlan};
use seedstream_core::spec::Job;
use seedstream_core::state::{RedbState, StateStore};
use seedstream_core::{Error, Result};
use seedstream_generator::{Backend, Generator};
use seedstream_validator::service::{validate_loop, JobScorer};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::assemble::{write_atomic, Assembler};
use crate::manifest::{self, RunFacts};
use crate::progress::{spawn_display, Progress};

/// How to run a job in one process.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Generator tasks (they share the backend's concurrency).
    pub generators: usize,
    /// Validator tasks.
    pub validators: usize,
    /// No progress display.
    pub quiet: bool,
    /// How often the response cache is made durable.
    pub cache_flush: Duration,
    /// Where the local embedding model is cached; API keys a job may name.
    pub embed: seedstream_validator::semantic::EmbedEnv,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            generators: 2,
            validators: 2,
            quiet: false,
            cache_flush: Duration::from_millis(250),
            embed: Default::default(),
        }
    }
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

/// Run `job` to the end in this process.
pub async fn run(
    job: Arc<Job>,
    backend: Backend,
    opts: EmbeddedOptions,
    cancel: CancellationToken,
) -> Result<Outcome> {
    let started = Instant::now();
    let out_dir = job.output_dir.clone();
    std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
    let state_cancel = CancellationToken::new();
    let state = RedbState::open(
        &out_dir.join(".seedstream").join("cache.redb"),
        opts.cache_flush,
        state_cancel.clone(),
    )?;

    let capacity = backend.capacity();
    let gen = Generator::new(job.clone(), backend, state.clone());
    let scorer = JobScorer::for_spec(job.clone(), &opts.embed, state.clone()).await?;

    let (shard_tx, shard_rx) = inproc::topic::<ShardTask>(64);
    let (cand_tx, cand_rx) = inproc::topic::<Candidate>(256.max(capacity));
    let (verdict_tx, mut verdict_rx) = inproc::topic::<Verdict>(256.max(capacity));

    let run_cancel = cancel.child_token();
    let mut workers: JoinSet<(String, Result<()>)> = JoinSet::new();
    for i in 0..opts.generators.max(1) {
        let (g, rx, tx, c) = (
            gen.clone(),
            shard_rx.clone(),
            cand_tx.clone(),
            run_cancel.clone(),
        );
        workers.spawn(async move {
            (
                format!("generator-{i}"),
                seedstream_generator::run(g, rx, tx, c).await,
            )
        });
    }
    drop((shard_rx, cand_tx));
    for i in 0..opts.validators.max(1) {
        let (s, rx, tx, c) = (
            scorer.clone(),
            cand_rx.clone(),
            verdict_tx.clone(),
            run_cancel.clone(),
        );
        workers.spawn(async move { (format!("validator-{i}"), validate_loop(s, rx, tx, c).await) });
    }
    drop((cand_rx, verdict_tx));

    let progress = Arc::new(Progress::default());
    let display_stop = CancellationToken::new();
    let display = spawn_display(
        progress.clone(),
        job.spec.target,
        opts.quiet,
        display_stop.clone(),
    );

    let window_slots = (4 * capacity).max(1024) + job.spec.shard_size as usize;
    let mut assembler = Assembler::new(job.clone(), &out_dir)?;
    let mut publishers: JoinSet<Result<()>> = JoinSet::new();
    let (result, planned, rounds) = drive(
        &job,
        &mut assembler,
        &shard_tx,
        &mut verdict_rx,
        &mut workers,
        &mut publishers,
        window_slots,
        None,
        None::<&inproc::InProcPublisher<Vec<u8>>>,
        &progress,
        &run_cancel,
        &cancel,
    )
    .await;

    // Stop the pipeline: closing the shard topic lets generators, then validators, end.
    drop(shard_tx);
    if result.is_err() {
        run_cancel.cancel();
    }
    publishers.abort_all();
    while let Some(w) = workers.join_next().await {
        if let Ok((name, Err(e))) = w {
            if result.is_ok() && !matches!(e, Error::Cancelled) {
                tracing::warn!(worker = %name, error = %e, "worker ended with an error");
            }
        }
    }
    display_stop.cancel();
    let _ = display.await;
    // Whatever happened, make the answers we paid for durable.
    let flushed = state.flush().await;
    state_cancel.cancel();
    result?;
    flushed?;

    finish(
        &job,
        assembler,
        planned,
        rounds,
        gen.pool().map(|p| p.stats.snapshot()).unwrap_or_default(),
        scorer.judge_stats().unwrap_or_default(),
        started,
    )
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
#[allow(clippy::too_many_arguments)]
pub async fn drive<P, C, A>(
    job: &Arc<Job>,
    assembler: &mut Assembler,
    shard_tx: &P,
    verdict_rx: &mut C,
    workers: &mut JoinSet<(String, Result<()>)>,
    publishers: &mut JoinSet<Result<()>>,
    window_slots: usize,
    redispatch_after: Option<std::time::Duration>,
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
    let window = Arc::new(Semaphore::new(window_slots));
    let mut planned = 0u64;
    let mut rounds = 0u32;
    let result: Result<()> = async {
        let plan_next = |assembler: &mut Assembler,
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
            publishers.spawn(publish_round(job.id.clone(), round, shard_tx.clone(), window.clone(), run_cancel.clone()));
        };
        let mut last_progress = Instant::now();
        let mut attempt = 0u32;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            if assembler.all_done() {
                let size = round_size(job.spec.target, job.max_slots, planned, assembler.totals.accepted);
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
                _ = tick.tick(), if redispatch_after.is_some() => {
                    // No slot decided for a while: some shard or candidate sits with a
                    // consumer that died. Send the undecided shards again (answers are
                    // cached, duplicates are ignored), keyed to land elsewhere.
                    if last_progress.elapsed() >= redispatch_after.unwrap_or_default() && publishers.is_empty() {
                        attempt += 1;
                        let shards = assembler.undecided_shards();
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
    (result, planned, rounds)
}

/// Publish every shard of `round`, taking window permits first (backpressure).
async fn publish_round<P: Publisher<ShardTask>>(
    job_id: String,
    round: RoundPlan,
    tx: P,
    window: Arc<Semaphore>,
    cancel: CancellationToken,
) -> Result<()> {
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
        let publisher = tokio::spawn(publish_round(
            "j".into(),
            round,
            tx,
            window.clone(),
            cancel.clone(),
        ));
        let mut got = Vec::new();
        while let Ok(Ok(Some(d))) =
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            got.push(d.ack());
        }
        // 10 permits, 4 slots a shard: two shards (8 slots), the third would need 12.
        assert_eq!(got.len(), 2, "published past the window");
        // The assembler decides 8 slots: permits come back, the planner moves on.
        window.add_permits(8);
        while let Ok(Ok(Some(d))) =
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        {
            got.push(d.ack());
        }
        assert_eq!(got.len(), 4);
        assert!(!publisher.is_finished());
        cancel.cancel();
        publisher.await.unwrap().unwrap();
    }
}
