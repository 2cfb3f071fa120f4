//! Embedded mode: the whole pipeline in one process, over the in-process bus and the
//! on-disk state store, through the same traits Kafka and Redis implement.
//!
//! ```text
//! planner+assembler ──shards──► generator × N ──candidates──► validator × M ──verdicts──┐
//!        ▲  (window semaphore: slots planned but not yet decided)                        │
//!        └───────────────────────────────────────────────────────────────────────────────┘
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use seedstream_coordinator::assemble::Assembler;
use seedstream_coordinator::drive::{drive, finish, Outcome, Pacing, DEFAULT_STALL_WARN};
use seedstream_coordinator::progress::{spawn_display, Progress};
use seedstream_core::bus::inproc;
use seedstream_core::messages::{Candidate, ShardTask, Verdict};
use seedstream_core::spec::Job;
use seedstream_core::state::{RedbState, StateStore};
use seedstream_core::{Error, Result};
use seedstream_generator::{Backend, Generator};
use seedstream_validator::service::{validate_loop, JobScorer};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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
    /// Say what the job is waiting for when no slot is decided for this long.
    pub stall_warn: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            generators: 2,
            validators: 2,
            quiet: false,
            cache_flush: Duration::from_millis(250),
            embed: Default::default(),
            stall_warn: DEFAULT_STALL_WARN,
        }
    }
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

    let pacing = Pacing {
        window_slots: (4 * capacity).max(1024) + job.spec.shard_size as usize,
        redispatch_after: None,
        stall_warn: opts.stall_warn,
    };
    let mut assembler = Assembler::new(job.clone(), &out_dir)?;
    let mut publishers: JoinSet<Result<()>> = JoinSet::new();
    let (result, planned, rounds) = drive(
        &job,
        &mut assembler,
        &shard_tx,
        &mut verdict_rx,
        &mut workers,
        &mut publishers,
        pacing,
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
