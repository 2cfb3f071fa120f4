//! This process's Prometheus metrics, every one declared here (STYLE.md:
//! `seedstream_<subsystem>_<name>_<unit>[_total]`, no unbounded labels), rendered in
//! the text exposition format by [`render`]. Counters are plain atomics, bumped once per
//! slot, shard or job, never per token.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::client::ClientStats;

macro_rules! metrics {
    ($($field:ident: $kind:literal $name:literal $help:literal;)*) => {
        /// Every counter and gauge of the process.
        #[derive(Debug, Default)]
        pub struct Metrics {
            $(#[doc = $help] pub $field: AtomicU64,)*
        }

        impl Metrics {
            fn render_into(&self, out: &mut String) {
                $(
                    let _ = writeln!(out, "# HELP {} {}", $name, $help);
                    let _ = writeln!(out, "# TYPE {} {}", $name, $kind);
                    let _ = writeln!(out, "{} {}", $name, self.$field.load(Ordering::Relaxed));
                )*
            }
        }
    };
}

metrics! {
    jobs_submitted: "counter" "seedstream_coordinator_jobs_submitted_total" "Jobs submitted that were new to this deployment.";
    jobs_running: "gauge" "seedstream_coordinator_jobs_running" "Jobs this coordinator is driving now.";
    jobs_completed: "counter" "seedstream_coordinator_jobs_completed_total" "Jobs that ended complete or with their budget spent.";
    jobs_failed: "counter" "seedstream_coordinator_jobs_failed_total" "Jobs that ended with an error.";
    jobs_cancelled: "counter" "seedstream_coordinator_jobs_cancelled_total" "Jobs cancelled.";
    slots_decided: "counter" "seedstream_coordinator_slots_decided_total" "Slots decided (accepted or rejected), in canonical order.";
    records_accepted: "counter" "seedstream_coordinator_records_accepted_total" "Records accepted into datasets.";
    jobs_stalled: "gauge" "seedstream_coordinator_jobs_stalled" "Jobs that have decided no slot for longer than the stall warning time (--stall-warn-s).";
    stalled_slots_in_flight: "gauge" "seedstream_coordinator_stalled_slots_in_flight" "Slots planned but not decided, of the job the watchdog last warned about.";
    stalled_window_free_slots: "gauge" "seedstream_coordinator_stalled_window_free_slots" "Free window permits (slots the planner may still publish), of the job the watchdog last warned about.";
    shards_received: "counter" "seedstream_generator_shards_total" "Shard tasks received by this generator.";
    shards_dropped: "counter" "seedstream_generator_shards_dropped_total" "Shard tasks skipped because their job was cancelled or unknown.";
    slots_answered_cache: "counter" "seedstream_generator_cache_hits_total" "Slots answered from the response cache.";
    slots_answered_endpoint: "counter" "seedstream_generator_endpoint_answers_total" "Slots answered by a model endpoint.";
    slots_failed: "counter" "seedstream_generator_slot_failures_total" "Slots whose request failed after every retry.";
    candidates_scored: "counter" "seedstream_validator_candidates_total" "Candidates scored by this validator.";
    candidates_flagged: "counter" "seedstream_validator_candidates_flagged_total" "Candidates given at least one rejection reason by per-record checks.";
    scoring_us: "counter" "seedstream_validator_scoring_microseconds_total" "Time spent scoring candidates.";
    judge_answers: "counter" "seedstream_validator_judge_answers_total" "Judge verdicts received from the judge's endpoint.";
    judge_cache_hits: "counter" "seedstream_validator_judge_cache_hits_total" "Judge verdicts read from the response cache.";
    judge_failures: "counter" "seedstream_validator_judge_failures_total" "Records the judge gave no usable verdict for after every retry.";
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics {
    jobs_submitted: AtomicU64::new(0),
    jobs_running: AtomicU64::new(0),
    jobs_completed: AtomicU64::new(0),
    jobs_failed: AtomicU64::new(0),
    jobs_cancelled: AtomicU64::new(0),
    slots_decided: AtomicU64::new(0),
    records_accepted: AtomicU64::new(0),
    jobs_stalled: AtomicU64::new(0),
    stalled_slots_in_flight: AtomicU64::new(0),
    stalled_window_free_slots: AtomicU64::new(0),
    shards_received: AtomicU64::new(0),
    shards_dropped: AtomicU64::new(0),
    slots_answered_cache: AtomicU64::new(0),
    slots_answered_endpoint: AtomicU64::new(0),
    slots_failed: AtomicU64::new(0),
    candidates_scored: AtomicU64::new(0),
    candidates_flagged: AtomicU64::new(0),
    scoring_us: AtomicU64::new(0),
    judge_answers: AtomicU64::new(0),
    judge_cache_hits: AtomicU64::new(0),
    judge_failures: AtomicU64::new(0),
};

/// This process's requests to model endpoints for answers (generators, and `seedstream
/// run`), summed over its jobs.
pub static GENERATION_CLIENT: ClientStats = ClientStats::new();

/// This process's requests to judge endpoints (validators, `seedstream run` and `score`),
/// summed over its jobs.
pub static JUDGE_CLIENT: ClientStats = ClientStats::new();

/// Endpoint request latency (µs), for the summary's quantiles.
static LATENCY: Mutex<Option<Histogram<u64>>> = Mutex::new(None);

/// Add one to a counter.
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Record one endpoint answer's latency.
pub fn observe_latency_us(us: u64) {
    let mut h = LATENCY.lock().expect("latency lock");
    let h = h.get_or_insert_with(|| {
        Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("histogram bounds")
    });
    let _ = h.record(us.max(1));
}

/// `<prefix>_requests_total` and `<prefix>_retries_total{kind=…}` of a client's counters.
fn render_client(out: &mut String, prefix: &str, what: &str, s: &ClientStats) {
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP {prefix}_requests_total HTTP requests this process sent to {what}."
    );
    let _ = writeln!(out, "# TYPE {prefix}_requests_total counter");
    let _ = writeln!(out, "{prefix}_requests_total {}", l(&s.requests));
    let _ = writeln!(
        out,
        "# HELP {prefix}_retries_total Requests to {what} retried, by cause (5xx includes 408; unparseable: a reply with no usable content)."
    );
    let _ = writeln!(out, "# TYPE {prefix}_retries_total counter");
    for kind in ClientStats::RETRY_KINDS {
        let _ = writeln!(
            out,
            "{prefix}_retries_total{{kind=\"{kind}\"}} {}",
            l(s.retries(kind))
        );
    }
}

/// The text exposition of every metric.
pub fn render() -> String {
    let mut out = String::with_capacity(4096);
    METRICS.render_into(&mut out);
    render_client(
        &mut out,
        "seedstream_generator_endpoint",
        "model endpoints for answers",
        &GENERATION_CLIENT,
    );
    render_client(
        &mut out,
        "seedstream_validator_judge",
        "judge endpoints",
        &JUDGE_CLIENT,
    );
    let name = "seedstream_generator_request_latency_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Latency of model endpoint answers (with retries), as seen by generators."
    );
    let _ = writeln!(out, "# TYPE {name} summary");
    let h = LATENCY.lock().expect("latency lock");
    let (count, sum) = match h.as_ref() {
        Some(h) => {
            for q in [0.5, 0.9, 0.99] {
                let v = h.value_at_quantile(q) as f64 / 1e6;
                let _ = writeln!(out, "{name}{{quantile=\"{q}\"}} {v}");
            }
            (h.len(), h.mean() * h.len() as f64 / 1e6)
        }
        None => (0, 0.0),
    };
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {count}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_in_the_text_format() {
        inc(&METRICS.shards_received);
        observe_latency_us(250_000);
        let text = render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(name.starts_with("seedstream_"), "{line}");
            assert!(
                line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(),
                "{line}"
            );
        }
        assert!(text.contains("# TYPE seedstream_generator_shards_total counter"));
        let shards: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("seedstream_generator_shards_total "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(shards >= 1);
        assert!(
            text.contains("seedstream_generator_request_latency_seconds{quantile=\"0.5\"} 0.25")
        );
    }

    #[test]
    fn renders_each_roles_requests_and_retries_by_kind() {
        inc(&JUDGE_CLIENT.retries_unparseable);
        inc(&JUDGE_CLIENT.requests);
        let text = render();
        let value = |prefix: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
                .trim()
                .parse()
                .unwrap()
        };
        assert!(value("seedstream_validator_judge_retries_total{kind=\"unparseable\"}") >= 1);
        assert!(value("seedstream_validator_judge_requests_total ") >= 1);
        for role in [
            "seedstream_generator_endpoint",
            "seedstream_validator_judge",
        ] {
            assert!(text.contains(&format!("# TYPE {role}_retries_total counter")));
            for kind in ["429", "5xx", "timeout", "connect", "unparseable"] {
                value(&format!("{role}_retries_total{{kind=\"{kind}\"}}"));
            }
        }
    }
}
