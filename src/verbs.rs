//! The client verbs: `submit`, `status`, `cancel`, `jobs` (JobService over gRPC).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use seedstream_coordinator::client::{connect, is_terminal, state_name, submission, Client};
use seedstream_proto::tonic::{Code, Status};
use seedstream_proto::v1::{self, JobState};

use crate::{fail, JobArgs, JobsArgs, SubmitArgs};

/// A gRPC error for people, and its exit code (2: the request was wrong).
fn rpc_fail(what: &str, s: &Status) -> ExitCode {
    eprintln!("error: {what}: {} ({:?})", s.message(), s.code());
    match s.code() {
        Code::InvalidArgument | Code::NotFound => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

fn to_json(s: &v1::JobStatus) -> serde_json::Value {
    serde_json::json!({
        "job_id": s.job_id,
        "name": s.name,
        "state": state_name(s.state),
        "target": s.target,
        "planned": s.planned,
        "max_slots": s.max_slots,
        "decided": s.decided,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "cached": s.cached,
        "error": s.error,
        "output_dir": s.output_dir,
        "submitted_unix_ms": s.submitted_unix_ms,
        "updated_unix_ms": s.updated_unix_ms,
        "fingerprint": s.fingerprint,
    })
}

fn line(s: &v1::JobStatus) -> String {
    let mut l = format!(
        "{}  {}  {}/{} accepted, {} rejected, {} planned of {} slots",
        s.job_id,
        state_name(s.state),
        s.accepted,
        s.target,
        s.rejected,
        s.planned,
        s.max_slots
    );
    if !s.error.is_empty() {
        l.push_str(&format!("  error: {}", s.error));
    }
    l
}

/// How a job's end maps to an exit code.
fn end_code(s: &v1::JobStatus) -> ExitCode {
    match JobState::try_from(s.state) {
        Ok(JobState::Complete) => ExitCode::SUCCESS,
        Ok(JobState::BudgetSpent) => ExitCode::from(3),
        Ok(JobState::Cancelled) => ExitCode::from(4),
        _ => ExitCode::from(1),
    }
}

async fn client(url: &str) -> Result<Client, ExitCode> {
    connect(url).await.map_err(|e| fail(&e))
}

pub(crate) async fn submit(args: SubmitArgs) -> ExitCode {
    let req = match submission(&args.job, args.endpoints.clone()) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let mut c = match client(&args.client.coordinator).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let resp = match c.submit_job(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => return rpc_fail("submit", &s),
    };
    let status = resp.job.unwrap_or_default();
    if args.client.json && !args.watch {
        println!("{}", to_json(&status));
    } else {
        let how = if resp.created {
            "submitted"
        } else {
            "already known"
        };
        eprintln!("{how}: {}", line(&status));
        println!("{}", status.job_id);
    }
    if !args.watch {
        return ExitCode::SUCCESS;
    }
    let end = match watch(&args, &status.job_id, c).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.client.json {
        println!("{}", to_json(&end));
    }
    eprintln!("{}", line(&end));
    if is_terminal(end.state) && !end.output_dir.is_empty() {
        eprintln!("dataset: {} (on the coordinator)", end.output_dir);
    }
    end_code(&end)
}

/// Follow a job to its end, reconnecting while the coordinator restarts.
async fn watch(args: &SubmitArgs, job_id: &str, mut c: Client) -> Result<v1::JobStatus, ExitCode> {
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let bar = tty.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} accepted {msg}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        b
    });
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let mut lost_since: Option<Instant> = None;
    let reconnect = Duration::from_secs(args.reconnect_s);
    loop {
        let stream = c
            .watch_job(v1::WatchJobRequest {
                job_id: job_id.to_string(),
            })
            .await;
        let mut stream = match stream {
            Ok(s) => {
                lost_since = None;
                s.into_inner()
            }
            Err(s) if matches!(s.code(), Code::InvalidArgument | Code::NotFound) => {
                return Err(rpc_fail("watch", &s))
            }
            Err(s) => {
                let since = *lost_since.get_or_insert_with(Instant::now);
                if since.elapsed() > reconnect {
                    return Err(rpc_fail("watch", &s));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(n) = connect(&args.client.coordinator).await {
                    c = n;
                }
                continue;
            }
        };
        // Until the stream ends before the job did (the coordinator is going away):
        // then watch again.
        while let Ok(Some(ev)) = stream.message().await {
            let s = ev.job.unwrap_or_default();
            if let Some(b) = &bar {
                b.set_length(s.target);
                b.set_position(s.accepted.min(s.target));
                b.set_message(format!(
                    "{} rejected, {} cached, {}",
                    s.rejected,
                    s.cached,
                    state_name(s.state)
                ));
            } else if !args.quiet && last_line.elapsed() >= Duration::from_secs(2) {
                eprintln!("{}", line(&s));
                last_line = Instant::now();
            }
            if is_terminal(s.state) {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Ok(s);
            }
        }
        lost_since.get_or_insert_with(Instant::now);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Print one job's status as `status` and `cancel` answer it.
fn print_status(
    what: &str,
    json: bool,
    r: Result<seedstream_proto::tonic::Response<v1::JobStatus>, Status>,
) -> ExitCode {
    match r {
        Ok(r) => {
            let s = r.into_inner();
            if json {
                println!("{}", to_json(&s));
            } else {
                println!("{}", line(&s));
            }
            ExitCode::SUCCESS
        }
        Err(s) => rpc_fail(what, &s),
    }
}

pub(crate) async fn status(args: JobArgs) -> ExitCode {
    let mut c = match client(&args.client.coordinator).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let job_id = args.job_id;
    let r = c.get_job(v1::GetJobRequest { job_id }).await;
    print_status("status", args.client.json, r)
}

pub(crate) async fn cancel(args: JobArgs) -> ExitCode {
    let mut c = match client(&args.client.coordinator).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let job_id = args.job_id;
    let r = c.cancel_job(v1::CancelJobRequest { job_id }).await;
    print_status("cancel", args.client.json, r)
}

pub(crate) async fn jobs(args: JobsArgs) -> ExitCode {
    let mut c = match client(&args.client.coordinator).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.list_jobs(v1::ListJobsRequest { limit: args.limit }).await {
        Ok(r) => {
            let jobs = r.into_inner().jobs;
            if args.client.json {
                let all: Vec<_> = jobs.iter().map(to_json).collect();
                println!("{}", serde_json::Value::Array(all));
            } else if jobs.is_empty() {
                eprintln!("no jobs");
            } else {
                for s in &jobs {
                    println!("{}", line(s));
                }
            }
            ExitCode::SUCCESS
        }
        Err(s) => rpc_fail("jobs", &s),
    }
}
