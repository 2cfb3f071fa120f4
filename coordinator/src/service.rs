//! The `seedstream coordinator` process: the gRPC `seedstream.v1.JobService` (with
//! grpc.health.v1 and server reflection), driving every submitted job over Kafka with
//! [`crate::cluster::run_job`] and writing each dataset to `<output root>/<job id>/`.
//!
//! State lives in Redis (bundles, statuses, the registry), so the coordinator holds
//! nothing that a restart loses: on start it resumes every job registered as pending or
//! running. One coordinator per deployment (its jobs' shards would otherwise be planned
//! twice; harmless for the data, wasteful for the cluster).
//!
//! Shutdown (SIGTERM): stop accepting RPCs, stop driving jobs (they stay `RUNNING` in
//! Redis and resume on the next start), return within the grace period.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seedstream_core::metrics::{inc, METRICS};
use seedstream_core::spec::{Backend, Job, Overrides};
use seedstream_core::{Error, Result};
use seedstream_proto::v1::job_service_server::{JobService, JobServiceServer};
use seedstream_proto::v1::{self, JobState};
use tokio::sync::{watch, Mutex};
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::cluster::{run_job, ClusterConfig, Shared};
use crate::drive::Status as EndStatus;
use crate::progress::Progress;

/// Configuration of the coordinator process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Kafka, Redis, topics.
    pub cluster: ClusterConfig,
    /// gRPC address (`SEEDSTREAM_LISTEN`).
    pub listen: SocketAddr,
    /// Each job's dataset goes to `<output_root>/<job id>/`.
    pub output_root: PathBuf,
    /// How long shutdown may take before jobs are abandoned (they resume on restart).
    pub grace: Duration,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

use crate::client::is_terminal;

/// The one place errors become gRPC statuses.
fn to_status(e: Error) -> Status {
    match e {
        Error::BadInput { .. } => Status::invalid_argument(e.to_string()),
        Error::UnknownJob(id) => Status::not_found(format!("no job {id:?} in this deployment")),
        Error::Cancelled => Status::unavailable("the coordinator is shutting down"),
        Error::State(_) | Error::Bus(_) => Status::unavailable(e.to_string()),
        Error::Io { .. } | Error::Endpoint(_) => Status::internal(e.to_string()),
    }
}

fn job_id_of(id: &str) -> std::result::Result<&str, Status> {
    if id.is_empty() {
        Err(Status::invalid_argument(
            "job_id: expected a job id, found nothing",
        ))
    } else {
        Ok(id)
    }
}

/// A job this coordinator is driving.
struct Running {
    cancel: CancellationToken,
    by_user: Arc<AtomicBool>,
    status: watch::Receiver<v1::JobStatus>,
}

struct Inner {
    cfg: Config,
    shared: Shared,
    running: std::sync::Mutex<HashMap<String, Running>>,
    /// Serialises submissions (the check-then-start of one job id).
    submit: Mutex<()>,
    shutdown: CancellationToken,
    tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// The JobService implementation.
#[derive(Clone)]
pub struct Coordinator(Arc<Inner>);

impl Coordinator {
    fn running_status(&self, id: &str) -> Option<watch::Receiver<v1::JobStatus>> {
        self.0
            .running
            .lock()
            .expect("lock")
            .get(id)
            .map(|r| r.status.clone())
    }

    async fn status_of(&self, id: &str) -> Result<v1::JobStatus> {
        if let Some(rx) = self.running_status(id) {
            return Ok(rx.borrow().clone());
        }
        self.0
            .shared
            .state()
            .get_status(id)
            .await?
            .ok_or_else(|| Error::UnknownJob(id.to_string()))
    }

    /// Start driving `job` (registered as `status`) in a task of its own.
    async fn start(&self, job: Arc<Job>, mut status: v1::JobStatus) -> Result<v1::JobStatus> {
        let inner = &self.0;
        status.state = JobState::Running as i32;
        status.error.clear();
        // A run decides every slot again (a resumed job's answered from the cache), so its
        // progress counts from zero: a resumed job's last counts would make a watcher's
        // first event say more than the next ones.
        (
            status.planned,
            status.decided,
            status.accepted,
            status.rejected,
            status.cached,
        ) = (0, 0, 0, 0, 0);
        status.updated_unix_ms = now_ms();
        inner.shared.state().set_cancelled(&job.id, false).await?;
        inner.shared.state().put_status(&status).await?;
        let (tx, rx) = watch::channel(status.clone());
        let cancel = inner.shutdown.child_token();
        let by_user = Arc::new(AtomicBool::new(false));
        inner.running.lock().expect("lock").insert(
            job.id.clone(),
            Running {
                cancel: cancel.clone(),
                by_user: by_user.clone(),
                status: rx,
            },
        );
        METRICS.jobs_running.fetch_add(1, Ordering::Relaxed);
        let this = self.clone();
        let span = tracing::info_span!("job", job_id = %job.id);
        let started = status.clone();
        inner
            .tasks
            .lock()
            .expect("lock")
            .spawn(tracing::Instrument::instrument(
                async move { this.drive(job, status, tx, cancel, by_user).await },
                span,
            ));
        Ok(started)
    }

    async fn drive(
        self,
        job: Arc<Job>,
        mut status: v1::JobStatus,
        tx: watch::Sender<v1::JobStatus>,
        cancel: CancellationToken,
        by_user: Arc<AtomicBool>,
    ) {
        let inner = &self.0;
        let progress = Arc::new(Progress::default());
        tracing::info!(output = %job.output_dir.display(), "job started");
        let run = run_job(
            job.clone(),
            &inner.cfg.cluster,
            &inner.shared,
            progress.clone(),
            cancel.clone(),
        );
        tokio::pin!(run);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut last_saved = status.clone();
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tick.tick() => {
                    fill_progress(&mut status, &progress);
                    if counts_differ(&status, &last_saved) {
                        status.updated_unix_ms = now_ms();
                        tx.send_replace(status.clone());
                        // Best effort: the final status is written below, with retries.
                        if let Err(e) = inner.shared.state().put_status(&status).await {
                            tracing::warn!(error = %e, "saving job progress");
                        }
                        last_saved = status.clone();
                    }
                }
            }
        };
        fill_progress(&mut status, &progress);
        let shutting_down = cancel.is_cancelled() && !by_user.load(Ordering::Relaxed);
        match result {
            Ok(o) => {
                let c = &o.manifest["counts"];
                let n = |k: &str| c[k].as_u64().unwrap_or(0);
                status.planned = n("planned");
                status.decided = n("accepted") + n("rejected");
                status.accepted = n("accepted");
                status.rejected = n("rejected");
                status.state = match o.status {
                    EndStatus::Complete => JobState::Complete,
                    EndStatus::BudgetSpent => JobState::BudgetSpent,
                } as i32;
                inc(&METRICS.jobs_completed);
                tracing::info!(accepted = status.accepted, "job ended");
            }
            Err(Error::Cancelled) if shutting_down => {
                // Left RUNNING in Redis: the next coordinator resumes it.
                tracing::info!("job paused for shutdown");
            }
            Err(Error::Cancelled) => {
                status.state = JobState::Cancelled as i32;
                inc(&METRICS.jobs_cancelled);
                tracing::info!("job cancelled");
            }
            Err(e) => {
                status.state = JobState::Failed as i32;
                status.error = e.to_string();
                inc(&METRICS.jobs_failed);
                tracing::error!(error = %e, "job failed");
            }
        }
        status.updated_unix_ms = now_ms();
        if !shutting_down {
            for attempt in 0..5u32 {
                match inner.shared.state().put_status(&status).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "saving the job's final status");
                        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    }
                }
            }
        }
        inner.running.lock().expect("lock").remove(&job.id);
        METRICS.jobs_running.fetch_sub(1, Ordering::Relaxed);
        // Watchers see the final status, then the end of the stream.
        tx.send_replace(status);
    }
}

fn fill_progress(s: &mut v1::JobStatus, p: &Progress) {
    s.planned = p.planned.load(Ordering::Relaxed);
    s.decided = p.decided.load(Ordering::Relaxed);
    s.accepted = p.accepted.load(Ordering::Relaxed);
    s.rejected = s.decided.saturating_sub(s.accepted);
    s.cached = p.cached.load(Ordering::Relaxed);
}

fn counts_differ(a: &v1::JobStatus, b: &v1::JobStatus) -> bool {
    (a.planned, a.decided, a.accepted, a.cached, a.state)
        != (b.planned, b.decided, b.accepted, b.cached, b.state)
}

/// A new job's first status.
fn new_status(job: &Job) -> v1::JobStatus {
    let now = now_ms();
    v1::JobStatus {
        job_id: job.id.clone(),
        name: job.spec.name.clone(),
        state: JobState::Pending as i32,
        target: job.spec.target,
        max_slots: job.max_slots,
        output_dir: job.output_dir.display().to_string(),
        submitted_unix_ms: now,
        updated_unix_ms: now,
        fingerprint: job.fingerprint.clone(),
        ..Default::default()
    }
}

type EventStream = Pin<Box<dyn Stream<Item = std::result::Result<v1::JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for Coordinator {
    async fn submit_job(
        &self,
        req: Request<v1::SubmitJobRequest>,
    ) -> std::result::Result<Response<v1::SubmitJobResponse>, Status> {
        let r = req.into_inner();
        let file = if r.spec_file.is_empty() {
            "job.yaml"
        } else {
            r.spec_file.as_str()
        };
        let files: BTreeMap<String, String> = r.files.into_iter().collect();
        let overrides = Overrides {
            endpoints: r.endpoints,
            ..Default::default()
        };
        let mut job =
            Job::from_submission(file, &r.spec_yaml, &files, &overrides).map_err(to_status)?;
        if job.spec.model.backend != Backend::Openai {
            return Err(Status::invalid_argument(format!(
                "{file}: model.backend: cluster generators serve OpenAI-compatible endpoints only, found {:?}",
                job.spec.model.backend
            )));
        }
        job.output_dir = self.0.cfg.output_root.join(&job.id);
        let job = Arc::new(job);
        let _one_at_a_time = self.0.submit.lock().await;
        if self.0.shutdown.is_cancelled() {
            return Err(to_status(Error::Cancelled));
        }
        if let Some(rx) = self.running_status(&job.id) {
            let status = rx.borrow().clone();
            return Ok(Response::new(v1::SubmitJobResponse {
                job: Some(status),
                created: false,
            }));
        }
        let state = self.0.shared.state();
        let (status, created) = match state.get_status(&job.id).await.map_err(to_status)? {
            Some(s)
                if matches!(
                    JobState::try_from(s.state),
                    Ok(JobState::Complete | JobState::BudgetSpent)
                ) =>
            {
                // Done: the same job is the same dataset.
                return Ok(Response::new(v1::SubmitJobResponse {
                    job: Some(s),
                    created: false,
                }));
            }
            Some(mut s) => {
                tracing::info!(job_id = %job.id, "resuming a job submitted before");
                s.output_dir = job.output_dir.display().to_string();
                (s, false)
            }
            None => {
                inc(&METRICS.jobs_submitted);
                tracing::info!(job_id = %job.id, "new job");
                (new_status(&job), true)
            }
        };
        state
            .put_job(&job.bundle(), &job.id)
            .await
            .map_err(to_status)?;
        let status = self.start(job, status).await.map_err(to_status)?;
        Ok(Response::new(v1::SubmitJobResponse {
            job: Some(status),
            created,
        }))
    }

    async fn get_job(
        &self,
        req: Request<v1::GetJobRequest>,
    ) -> std::result::Result<Response<v1::JobStatus>, Status> {
        let id = job_id_of(&req.get_ref().job_id)?;
        self.status_of(id)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    type WatchJobStream = EventStream;

    async fn watch_job(
        &self,
        req: Request<v1::WatchJobRequest>,
    ) -> std::result::Result<Response<Self::WatchJobStream>, Status> {
        let id = job_id_of(&req.get_ref().job_id)?.to_string();
        let Some(mut rx) = self.running_status(&id) else {
            // Not running here: its status now is all there is to say.
            let s = self.status_of(&id).await.map_err(to_status)?;
            let one = tokio_stream::iter([Ok(v1::JobEvent { job: Some(s) })]);
            return Ok(Response::new(Box::pin(one)));
        };
        let (out, out_rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let s = rx.borrow_and_update().clone();
                let end = is_terminal(s.state);
                if out.send(Ok(v1::JobEvent { job: Some(s) })).await.is_err() || end {
                    return;
                }
                // The sender is dropped when the job stops driving (shutdown): the stream
                // ends without a terminal state, and the client may watch again.
                if rx.changed().await.is_err() {
                    let s = rx.borrow().clone();
                    if is_terminal(s.state) {
                        let _ = out.send(Ok(v1::JobEvent { job: Some(s) })).await;
                    }
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(out_rx),
        )))
    }

    async fn cancel_job(
        &self,
        req: Request<v1::CancelJobRequest>,
    ) -> std::result::Result<Response<v1::JobStatus>, Status> {
        let id = job_id_of(&req.get_ref().job_id)?.to_string();
        let state = self.0.shared.state();
        let running = {
            let running = self.0.running.lock().expect("lock");
            running.get(&id).map(|r| {
                r.by_user.store(true, Ordering::Relaxed);
                (r.cancel.clone(), r.status.clone())
            })
        };
        // Generators check this mark before each shard and slot.
        if running.is_some() || state.get_status(&id).await.map_err(to_status)?.is_some() {
            state.set_cancelled(&id, true).await.map_err(to_status)?;
        }
        if let Some((cancel, mut rx)) = running {
            cancel.cancel();
            let ended = tokio::time::timeout(Duration::from_secs(10), async {
                while !is_terminal(rx.borrow_and_update().state) {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            })
            .await;
            if ended.is_err() {
                tracing::warn!(job_id = %id, "cancelled job still stopping after 10 s");
            }
            let s = rx.borrow().clone();
            return Ok(Response::new(s));
        }
        let mut s = self.status_of(&id).await.map_err(to_status)?;
        if !is_terminal(s.state) {
            s.state = JobState::Cancelled as i32;
            s.updated_unix_ms = now_ms();
            state.put_status(&s).await.map_err(to_status)?;
        }
        Ok(Response::new(s))
    }

    async fn list_jobs(
        &self,
        req: Request<v1::ListJobsRequest>,
    ) -> std::result::Result<Response<v1::ListJobsResponse>, Status> {
        let limit = req.get_ref().limit as usize;
        let mut jobs = self
            .0
            .shared
            .state()
            .list_jobs(limit)
            .await
            .map_err(to_status)?;
        for j in &mut jobs {
            if let Some(rx) = self.running_status(&j.job_id) {
                *j = rx.borrow().clone();
            }
        }
        Ok(Response::new(v1::ListJobsResponse { jobs }))
    }
}

/// Run the coordinator until `shutdown`; `ready` is called with the bound gRPC address
/// once it serves.
pub async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    ready: impl FnOnce(SocketAddr) + Send,
) -> Result<()> {
    let shared = Shared::connect(&cfg.cluster).await?;
    let state = shared.state().clone();
    std::fs::create_dir_all(&cfg.output_root).map_err(|e| Error::io(&cfg.output_root, e))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Error::io(format!("listen {}", cfg.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io(format!("listen {}", cfg.listen), e))?;
    let grace = cfg.grace;
    let jobs_stop = CancellationToken::new();
    let coordinator = Coordinator(Arc::new(Inner {
        cfg,
        shared,
        running: Default::default(),
        submit: Mutex::new(()),
        shutdown: jobs_stop.clone(),
        tasks: Default::default(),
    }));

    // Resume what a previous coordinator was driving.
    for s in state.list_jobs(0).await? {
        if !matches!(
            JobState::try_from(s.state),
            Ok(JobState::Pending | JobState::Running)
        ) {
            continue;
        }
        match state.load_job(&s.job_id).await {
            Ok(mut job) => {
                job.output_dir = coordinator.0.cfg.output_root.join(&job.id);
                tracing::info!(job_id = %job.id, "resuming a job after a restart");
                coordinator.start(Arc::new(job), s).await?;
            }
            Err(e) => {
                tracing::error!(job_id = %s.job_id, error = %e, "cannot resume a job");
            }
        }
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<JobServiceServer<Coordinator>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(seedstream_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Bus(format!("reflection service: {e}")))?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tracing::info!(%addr, "coordinator serving seedstream.v1.JobService");
    ready(addr);
    let serve_stop = jobs_stop.clone();
    let mut server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(JobServiceServer::new(coordinator.clone()))
            .serve_with_incoming_shutdown(incoming, async move { serve_stop.cancelled().await }),
    );
    let result = tokio::select! {
        r = &mut server => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Bus(format!("gRPC server: {e}"))),
            Err(e) => Err(Error::Bus(format!("gRPC server task: {e}"))),
        },
        _ = shutdown.cancelled() => Ok(()),
    };
    // Drain: refuse new work, stop driving jobs (they stay RUNNING in Redis and resume
    // on the next start; watch streams end), let open calls finish, all within the grace
    // period (a client that keeps an idle connection open does not hold us up).
    let deadline = tokio::time::Instant::now() + grace;
    health
        .set_not_serving::<JobServiceServer<Coordinator>>()
        .await;
    jobs_stop.cancel();
    let mut tasks = std::mem::take(&mut *coordinator.0.tasks.lock().expect("lock"));
    if tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!(?grace, "jobs still stopping at the end of the grace period");
    }
    let calls = deadline.min(tokio::time::Instant::now() + Duration::from_secs(2));
    if !server.is_finished() && tokio::time::timeout_at(calls, &mut server).await.is_err() {
        server.abort();
    }
    result
}
