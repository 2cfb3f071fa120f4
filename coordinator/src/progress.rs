//! Progress shown while a job runs: a bar on a TTY, plain periodic lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Counters the pipeline updates and the display reads.
#[derive(Debug, Default)]
pub struct Progress {
    /// Slots planned so far.
    pub planned: AtomicU64,
    /// Slots decided (accepted or rejected).
    pub decided: AtomicU64,
    /// Records accepted.
    pub accepted: AtomicU64,
    /// Answers taken from the response cache.
    pub cached: AtomicU64,
}

/// Show progress toward `target` until `stop` is cancelled.
pub fn spawn_display(
    p: Arc<Progress>,
    target: u64,
    quiet: bool,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let started = Instant::now();
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new(target);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:40}] {pos}/{len} accepted {msg}",
                )
                .expect("template")
                .progress_chars("=> "),
            );
            b
        });
        let every = if tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => break,
            }
            let (acc, dec, plan, cached) = (
                p.accepted.load(Ordering::Relaxed),
                p.decided.load(Ordering::Relaxed),
                p.planned.load(Ordering::Relaxed),
                p.cached.load(Ordering::Relaxed),
            );
            match &bar {
                Some(b) => {
                    b.set_position(acc.min(target));
                    b.set_message(format!("· {dec}/{plan} slots decided · {cached} cached"));
                }
                None => eprintln!(
                    "progress: {acc}/{target} accepted, {dec}/{plan} slots decided, {cached} from cache, {:.0}s",
                    started.elapsed().as_secs_f64()
                ),
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}
