//! `seedstream`: the command line. Thin: parse, read the environment, start telemetry,
//! call a library's `run`, map the result to an exit code.
//!
//! Exit codes: 0 done, 1 runtime failure, 2 bad input, 3 budget spent, 130 interrupted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use seedstream_core::client::EndpointPool;
use seedstream_core::spec::{Backend as BackendKind, Job, Overrides};
use seedstream_core::Error;
use seedstream_generator::Backend;
use seedstream_pipeline::{EmbeddedOptions, Status};
use tokio_util::sync::CancellationToken;

mod telemetry;
mod verbs;

// Many small allocations on several threads (requests, JSON, records): mimalloc's
// per-thread heaps cost measurably less CPU per record than glibc's arenas (bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "seedstream",
    version,
    about = "Scale a seed set (a few documents and examples) into a validated, reproducible synthetic dataset",
    after_help = "Exit codes: 0 done, 1 runtime failure, 2 bad input, 3 slot budget spent, 130 interrupted.\nDocs: docs/job-spec.md (job file), ARCHITECTURE.md (how it works)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job end to end in this process: plan, generate, validate, write.
    ///
    /// Writes samples.jsonl, rejected.jsonl and manifest.json to the output directory.
    /// Killed and run again, it resumes: answers already received are in the response
    /// cache (<out>/.seedstream/cache.redb) and are not asked again.
    Run(RunArgs),
    /// Score an existing dataset (JSONL) with a job's validators, against its sources.
    ///
    /// Each line: the task fields, an optional `id` (kept; else line-N), and either
    /// `source` {document, chunk} (a source of the job and the chunk's index in it) or
    /// `context` (the text the record is grounded in). Writes samples.jsonl (records that
    /// pass), rejected.jsonl (with reasons) and manifest.json to --out. Duplicates are
    /// decided in line order: the first of a group is kept. With `validate.judge` in the
    /// job, each record is also rated by the judge; verdicts are cached in
    /// <out>/.seedstream/, so scoring again pays nothing.
    Score(ScoreArgs),
    /// Report on a dataset directory (from run or score): an HTML page with charts
    /// (<dir>/report.html, self-contained) and a summary here.
    Report(ReportArgs),
    /// Built-in flows (task.kind presets): print one as YAML to paste into a job.
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Serve a SIMULATED OpenAI-compatible endpoint (for tests and benchmarks only).
    Sim(seedstream_sim::SimArgs),
    /// Cluster: run a generator (shard tasks from Kafka → candidates to Kafka).
    Generator(ClusterArgs),
    /// Cluster: run a validator (candidates from Kafka → verdicts to Kafka).
    Validator(ClusterArgs),
    /// Cluster: serve the gRPC JobService, drive submitted jobs over Kafka and Redis,
    /// write each dataset to <output-dir>/<job id>/.
    ///
    /// Serves seedstream.v1.JobService, grpc.health.v1 and server reflection on --listen,
    /// /healthz /readyz /metrics on --http-listen. Jobs live in Redis: a restarted
    /// coordinator resumes the jobs that were running. Run one per deployment.
    Coordinator(CoordinatorArgs),
    /// Cluster: drive one job from this process (no gRPC service), write its dataset.
    Coordinate(CoordinateArgs),
    /// Submit a job file to a coordinator (with --watch: follow it to the end).
    ///
    /// The job is checked here first. The same job submitted again is the same job: a
    /// finished one is not run again, a failed or cancelled one resumes.
    /// Exit codes with --watch: 0 complete, 1 failed, 2 bad input, 3 slot budget spent,
    /// 4 cancelled.
    Submit(SubmitArgs),
    /// Show a job's status.
    Status(JobArgs),
    /// Cancel a job (generators drop its pending work; submit it again to resume).
    Cancel(JobArgs),
    /// List the deployment's jobs, newest first.
    Jobs(JobsArgs),
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Score(_) => "score",
            Command::Report(_) => "report",
            Command::Flow(_) => "flow",
            Command::Sim(_) => "sim",
            Command::Generator(_) => "generator",
            Command::Validator(_) => "validator",
            Command::Coordinator(_) => "coordinator",
            Command::Coordinate(_) => "coordinate",
            Command::Submit(_) => "submit",
            Command::Status(_) => "status",
            Command::Cancel(_) => "cancel",
            Command::Jobs(_) => "jobs",
        }
    }
}

#[derive(Subcommand)]
enum FlowCommand {
    /// Print the built-in flow of a task kind (qa, knowledge, instruct, chat, classify) as a job's
    /// `task:` section with `kind: flow`, ready to paste into a job file and edit.
    Show(FlowShowArgs),
    /// List the built-in flows.
    List,
}

#[derive(Args)]
struct FlowShowArgs {
    /// qa, knowledge, instruct, chat or classify.
    kind: String,
    /// knowledge: question/answer pairs per augmentation.
    #[arg(long)]
    per_augmentation: Option<u32>,
    /// knowledge: augmentation kinds, comma-separated.
    #[arg(long, value_delimiter = ',')]
    augmentations: Option<Vec<String>>,
    /// chat: user/assistant exchanges per dialogue.
    #[arg(long)]
    turns: Option<u32>,
    /// classify: the labels, comma-separated.
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
}

#[derive(Args)]
struct ReportArgs {
    /// The dataset directory (samples.jsonl, rejected.jsonl, manifest.json).
    dir: PathBuf,
    /// Where to write the HTML (default <dir>/report.html).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ScoreArgs {
    /// The job file whose sources and `validate` settings apply.
    job: PathBuf,
    /// The records to score (JSONL).
    #[arg(long)]
    input: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// LLM judge endpoint base URL, replacing validate.judge.endpoints and turning the
    /// judge on (repeat for several; OpenAI-compatible: vLLM, SGLang, TGI, Ollama,
    /// llama.cpp).
    #[arg(long = "judge", value_name = "URL")]
    judge_endpoints: Vec<String>,
    /// The judge's model name, replacing validate.judge.model.
    #[arg(long, value_name = "NAME")]
    judge_model: Option<String>,
    /// Judge requests in flight per endpoint, replacing validate.judge.concurrency
    /// (default 8; 1 for a server that answers one request at a time, such as
    /// llama.cpp on a CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    judge_concurrency: Option<u64>,
    /// Per-request judge timeout in milliseconds, replacing validate.judge.timeout_ms
    /// (default 60000).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    judge_timeout_ms: Option<u64>,
}

#[derive(Args, Clone)]
struct ClientArgs {
    /// The coordinator's gRPC address.
    #[arg(
        long,
        env = "SEEDSTREAM_COORDINATOR",
        default_value = "http://127.0.0.1:50051"
    )]
    coordinator: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SubmitArgs {
    /// The job file (YAML; see docs/job-spec.md).
    job: PathBuf,
    /// Follow the job until it ends; the exit code says how it ended.
    #[arg(long)]
    watch: bool,
    /// Endpoint base URL, replacing model.endpoints (repeat for several).
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// While watching, how long to keep reconnecting to a coordinator that went away
    /// (a restart), in seconds.
    #[arg(long, default_value_t = 300)]
    reconnect_s: u64,
    /// No progress display while watching.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct JobArgs {
    /// The job id (as printed by submit and jobs).
    job_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct JobsArgs {
    /// At most this many (0: all).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
struct CoordinatorArgs {
    /// gRPC address to listen on.
    #[arg(long, env = "SEEDSTREAM_LISTEN", default_value = "0.0.0.0:50051")]
    listen: std::net::SocketAddr,
    /// Each job's dataset goes to <output-dir>/<job id>/.
    #[arg(
        long,
        env = "SEEDSTREAM_OUTPUT_DIR",
        default_value = "seedstream-output"
    )]
    output_dir: PathBuf,
    /// Re-dispatch undecided shards after this many ms without progress (default: per
    /// job, the longest a request may take with its retries, at least 60 s).
    #[arg(long, env = "SEEDSTREAM_REDISPATCH_AFTER_MS")]
    redispatch_after_ms: Option<u64>,
    /// Log what a job is waiting for when it decides no slot for this many seconds
    /// (and again every as many seconds while it lasts; also on /metrics).
    #[arg(long, env = "SEEDSTREAM_STALL_WARN_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    stall_warn_s: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Args, Clone)]
struct ClusterArgs {
    /// Kafka bootstrap servers (host:port,…).
    #[arg(long, env = "SEEDSTREAM_KAFKA_BROKERS")]
    kafka_brokers: String,
    /// Redis URL (redis://host:port/db).
    #[arg(long, env = "SEEDSTREAM_REDIS_URL")]
    redis_url: String,
    /// Key prefix in Redis (one deployment).
    #[arg(long, env = "SEEDSTREAM_REDIS_PREFIX", default_value = "seedstream")]
    redis_prefix: String,
    /// Partitions of each topic, when this process creates it.
    #[arg(long, env = "SEEDSTREAM_TOPIC_PARTITIONS", default_value_t = 6)]
    partitions: i32,
    /// Topic names: <prefix>.shards, .candidates, .results, .accepted.
    #[arg(long, env = "SEEDSTREAM_TOPIC_PREFIX", default_value = "seedstream")]
    topic_prefix: String,
    /// Address for /healthz, /readyz and /metrics (empty: none).
    #[arg(long, env = "SEEDSTREAM_HTTP_LISTEN", default_value = "0.0.0.0:9090")]
    http_listen: String,
    /// Generators: keep cached answers this many seconds in Redis (default: until
    /// deleted; a resubmission after they expire pays the endpoint again).
    #[arg(long, env = "SEEDSTREAM_CACHE_TTL_S")]
    cache_ttl_s: Option<u64>,
    /// On SIGTERM, drain within this many seconds, then exit anyway.
    #[arg(long, env = "SEEDSTREAM_SHUTDOWN_GRACE_S", default_value_t = 20)]
    shutdown_grace_s: u64,
}

#[derive(Args)]
struct CoordinateArgs {
    /// The job file.
    job: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Endpoint base URL, replacing model.endpoints (repeat for several).
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// Re-dispatch undecided shards after this many ms without progress (default: the
    /// longest a request may take with its retries, at least 60 s).
    #[arg(long, env = "SEEDSTREAM_REDISPATCH_AFTER_MS")]
    redispatch_after_ms: Option<u64>,
    /// Log what a job is waiting for when it decides no slot for this many seconds
    /// (and again every as many seconds while it lasts; also on /metrics).
    #[arg(long, env = "SEEDSTREAM_STALL_WARN_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    stall_warn_s: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

impl ClusterArgs {
    fn kafka(&self, role: &str) -> seedstream_core::kafka::KafkaConfig {
        seedstream_core::kafka::KafkaConfig {
            brokers: self.kafka_brokers.clone(),
            client_id: format!("seedstream-{role}"),
        }
    }
    fn topics(&self) -> seedstream_core::kafka::Topics {
        seedstream_core::kafka::Topics::named(&self.topic_prefix, self.partitions)
    }
}

#[derive(Args)]
struct RunArgs {
    /// The job file (YAML; see docs/job-spec.md).
    job: PathBuf,
    /// Output directory (default: the job's output.dir, else out/<name> beside the job file).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Generator tasks (they share the endpoints' concurrency).
    #[arg(long, default_value_t = 2)]
    generators: usize,
    /// Validator tasks.
    #[arg(long, default_value_t = 2)]
    validators: usize,
    /// Endpoint base URL, replacing model.endpoints (repeat for several).
    #[arg(long = "endpoint", value_name = "URL")]
    endpoints: Vec<String>,
    /// No progress display.
    #[arg(long, short)]
    quiet: bool,
    /// Check the job, print the first slot's request (system and user messages, the
    /// response_format) and exit, without calling a model or writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Log what a job is waiting for when it decides no slot for this many seconds
    /// (and again every as many seconds while it lasts; also on /metrics).
    #[arg(long, env = "SEEDSTREAM_STALL_WARN_S", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    stall_warn_s: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let telemetry = telemetry::init(cli.command.name());
        let code = command(cli.command).await;
        telemetry.shutdown();
        code
    })
}

async fn command(command: Command) -> ExitCode {
    {
        match command {
            Command::Run(args) => run(args).await,
            Command::Generator(args) => {
                let Some(ops) = start_ops(&args).await else {
                    return ExitCode::from(1);
                };
                let cfg = seedstream_generator::service::Config {
                    kafka: args.kafka("generator"),
                    redis_url: args.redis_url.clone(),
                    redis_prefix: args.redis_prefix.clone(),
                    cache_ttl_s: args.cache_ttl_s.filter(|t| *t > 0),
                    topics: args.topics(),
                    // Consumer groups are per deployment, like the Redis prefix.
                    group: format!("{}-generators", args.redis_prefix),
                    env: std::env::vars().collect(),
                };
                let shutdown = ops.shutdown.clone();
                ops.finish(seedstream_generator::service::run(cfg, shutdown))
                    .await
            }
            Command::Validator(args) => {
                let Some(ops) = start_ops(&args).await else {
                    return ExitCode::from(1);
                };
                let t = args.topics();
                let cfg = seedstream_validator::service::Config {
                    kafka: args.kafka("validator"),
                    redis_url: args.redis_url.clone(),
                    redis_prefix: args.redis_prefix.clone(),
                    topics: t,
                    group: format!("{}-validators", args.redis_prefix),
                    embed: embed_env(),
                };
                let shutdown = ops.shutdown.clone();
                ops.finish(seedstream_validator::service::run(cfg, shutdown))
                    .await
            }
            Command::Coordinator(args) => coordinator(args).await,
            Command::Score(args) => score(args).await,
            Command::Flow(FlowCommand::List) => {
                for (kind, text) in seedstream_core::spec::flow::PRESETS {
                    // The preset's opening comment, up to its first sentence's end.
                    let comment: Vec<&str> = text
                        .lines()
                        .map_while(|l| l.strip_prefix('#'))
                        .map(str::trim)
                        .collect();
                    let comment = comment.join(" ");
                    let about = comment
                        .strip_prefix(&format!("kind: {kind}"))
                        .unwrap_or(&comment)
                        .trim_start_matches(':')
                        .trim();
                    let first = match about.find(". ") {
                        Some(i) => &about[..=i],
                        None => about,
                    };
                    println!("{kind:10} {first}");
                }
                println!("{:10} only what task.record and task.steps say", "flow");
                ExitCode::SUCCESS
            }
            Command::Flow(FlowCommand::Show(args)) => flow_show(&args),
            Command::Report(args) => {
                match seedstream_pipeline::report::write(&args.dir, args.out) {
                    Ok((r, path)) => {
                        eprint!("{}", r.summary);
                        eprintln!("wrote {} ({} charts)", path.display(), r.charts);
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(&e),
                }
            }
            Command::Coordinate(args) => coordinate(args).await,
            Command::Submit(args) => verbs::submit(args).await,
            Command::Status(args) => verbs::status(args).await,
            Command::Cancel(args) => verbs::cancel(args).await,
            Command::Jobs(args) => verbs::jobs(args).await,
            Command::Sim(args) => {
                let cancel = shutdown_on_signal();
                match seedstream_sim::run(args, cancel).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: simulator: {e}");
                        ExitCode::from(1)
                    }
                }
            }
        }
    }
}

/// A token cancelled by the first SIGINT or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        t.cancel();
    });
    token
}

fn service_exit(r: seedstream_core::Result<()>) -> ExitCode {
    match r {
        Ok(()) | Err(Error::Cancelled) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// A service process's shutdown and operations endpoint.
struct Ops {
    /// Cancelled by SIGTERM/SIGINT: the service drains.
    shutdown: CancellationToken,
    /// Stops the operations endpoint (after the drain).
    stop: CancellationToken,
    grace: Duration,
}

impl Ops {
    /// Wait for the service; after a shutdown signal, at most the grace period.
    async fn finish(
        self,
        service: impl std::future::Future<Output = seedstream_core::Result<()>>,
    ) -> ExitCode {
        let shutdown = self.shutdown.clone();
        let grace = self.grace;
        let code = tokio::select! {
            r = service => service_exit(r),
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                eprintln!("error: still draining after the {}s grace period; exiting", grace.as_secs());
                ExitCode::from(1)
            }
        };
        self.stop.cancel();
        code
    }
}

/// Start the operations endpoint of a service process: readiness is Kafka and Redis
/// answering.
async fn start_ops(args: &ClusterArgs) -> Option<Ops> {
    let shutdown = shutdown_on_signal();
    let stop = CancellationToken::new();
    let ops = Ops {
        shutdown: shutdown.clone(),
        stop: stop.clone(),
        grace: Duration::from_secs(args.shutdown_grace_s),
    };
    if args.http_listen.is_empty() {
        return Some(ops);
    }
    let addr: std::net::SocketAddr = match args.http_listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "error: --http-listen (SEEDSTREAM_HTTP_LISTEN): invalid address {:?}: {e}",
                args.http_listen
            );
            return None;
        }
    };
    let redis = match seedstream_core::redis_state::RedisState::connect(
        &args.redis_url,
        &args.redis_prefix,
        None,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    let kafka = match args.kafka("ops").probe() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    let ready: seedstream_core::ops::ReadyCheck = Arc::new(move || {
        let (redis, kafka) = (redis.clone(), kafka.clone());
        Box::pin(async move {
            redis.ping().await?;
            kafka.check().await
        })
    });
    match seedstream_core::ops::serve(addr, ready, shutdown, stop).await {
        Ok(bound) => {
            // Tests and operators read the bound port (with port 0) from here.
            eprintln!("http: listening on {bound}");
            Some(ops)
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

async fn coordinator(args: CoordinatorArgs) -> ExitCode {
    let Some(ops) = start_ops(&args.cluster).await else {
        return ExitCode::from(1);
    };
    let cfg = seedstream_coordinator::service::Config {
        cluster: seedstream_coordinator::cluster::ClusterConfig {
            kafka: args.cluster.kafka("coordinator"),
            redis_url: args.cluster.redis_url.clone(),
            redis_prefix: args.cluster.redis_prefix.clone(),
            topics: args.cluster.topics(),
            redispatch_after: args.redispatch_after_ms.map(Duration::from_millis),
            stall_warn: Duration::from_secs(args.stall_warn_s),
        },
        listen: args.listen,
        output_root: args.output_dir,
        grace: Duration::from_secs(args.cluster.shutdown_grace_s),
    };
    let shutdown = ops.shutdown.clone();
    ops.finish(seedstream_coordinator::service::run(
        cfg,
        shutdown,
        |addr| {
            eprintln!("grpc: listening on {addr}");
        },
    ))
    .await
}

/// `seedstream flow show KIND`: a preset as a `task:` section of kind flow.
fn flow_show(args: &FlowShowArgs) -> ExitCode {
    use seedstream_core::spec::flow::{preset_yaml, PresetParams, PRESETS};
    let d = PresetParams::default();
    let p = PresetParams {
        augmentations: args.augmentations.clone().unwrap_or(d.augmentations),
        per_augmentation: args.per_augmentation.unwrap_or(d.per_augmentation),
        turns: args.turns.unwrap_or(d.turns),
        labels: args.labels.clone().unwrap_or(d.labels),
    };
    let Some(yaml) = preset_yaml(&args.kind, &p) else {
        let kinds: Vec<&str> = PRESETS.iter().map(|(k, _)| *k).collect();
        eprintln!(
            "error: no built-in flow {:?}: expected one of {}",
            args.kind,
            kinds.join(", ")
        );
        return ExitCode::from(2);
    };
    println!(
        "# The built-in flow of kind {}, as a job's task section.",
        args.kind
    );
    println!("# Paste it into a job file and edit; keep few_shot and system if you set them.");
    println!("task:\n  kind: flow\n  few_shot: 2");
    for line in yaml.lines() {
        if line.is_empty() {
            println!();
        } else {
            println!("  {line}");
        }
    }
    ExitCode::SUCCESS
}

/// `seedstream run --dry-run`: the first slot's request of every step as it would be
/// sent.
fn dry_run(job: &Job) -> ExitCode {
    use seedstream_core::plan::{plan_slot, RoundPlan};
    let round = RoundPlan {
        round: 0,
        slots: job.spec.target,
        shard_size: job.spec.shard_size,
    };
    let plan = plan_slot(job, &round, 0, 0);
    let reqs = match seedstream_core::prompt::FlowPrompts::first_slot_requests(job) {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let chunk = &job.chunks[plan.chunk];
    let few_shot: Vec<&str> = plan
        .few_shot
        .iter()
        .map(|&i| job.seed_examples[i].id.as_str())
        .collect();
    println!(
        "dry run of {}: the first slot (round 0, shard 0, slot 0) of {} planned; nothing is sent or written",
        job.id, job.spec.target
    );
    let doc = &job.sources[chunk.doc as usize].path;
    println!(
        "chunk {} of {}, few-shot examples {:?}, seed {}",
        chunk.index,
        if doc.is_empty() { "(no sources)" } else { doc },
        few_shot,
        plan.seed
    );
    let steps = &job.flow.steps;
    if steps.len() > 1 {
        println!(
            "flow of {} steps ({}); what a step sees of earlier steps is a stand-in of each field's type, since no model is called",
            steps.len(),
            steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" → ")
        );
    }
    for (s, req) in steps.iter().zip(&reqs) {
        if steps.len() > 1 {
            let fan = match &s.for_each {
                Some(f) => format!(", once per item of {f} (item 0 shown)"),
                None => String::new(),
            };
            println!("\n=== step {}{fan} ===", s.name);
        }
        println!(
            "model {} (temperature {}, top_p {}, max_tokens {}), seed {}",
            req.model, req.temperature, req.top_p, req.max_tokens, req.seed
        );
        for m in &req.messages {
            println!("\n--- {} ---\n{}", m.role, m.content);
        }
        println!(
            "\n--- response_format ---\n{}",
            serde_json::to_string_pretty(&req.response_format).expect("JSON serialises")
        );
    }
    ExitCode::SUCCESS
}

/// "rejections: code n, …" from a manifest's counts (nothing when there are none).
fn print_rejections(counts: &serde_json::Value) {
    if let Some(reasons) = counts["by_reason"].as_object().filter(|r| !r.is_empty()) {
        let list: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!("rejections: {}", list.join(", "));
    }
}

/// Load and check a job file with the command line's overrides.
fn load_job(file: &std::path::Path, overrides: Overrides) -> Result<Arc<Job>, ExitCode> {
    Job::load(file, &overrides)
        .map(Arc::new)
        .map_err(|e| fail(&e))
}

async fn coordinate(args: CoordinateArgs) -> ExitCode {
    let job = match load_job(
        &args.job,
        Overrides {
            endpoints: args.endpoints,
            output_dir: args.out,
            ..Default::default()
        },
    ) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let cfg = seedstream_coordinator::cluster::ClusterConfig {
        kafka: args.cluster.kafka("coordinator"),
        redis_url: args.cluster.redis_url.clone(),
        redis_prefix: args.cluster.redis_prefix.clone(),
        topics: args.cluster.topics(),
        redispatch_after: args.redispatch_after_ms.map(Duration::from_millis),
        stall_warn: Duration::from_secs(args.stall_warn_s),
    };
    let shared = match seedstream_coordinator::cluster::Shared::connect(&cfg).await {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    let progress = Arc::default();
    match seedstream_coordinator::cluster::run_job(
        job.clone(),
        &cfg,
        &shared,
        progress,
        shutdown_on_signal(),
    )
    .await
    {
        Ok(o) => {
            let c = &o.manifest["counts"];
            eprintln!(
                "{}: {} accepted, {} rejected of {} planned",
                job.id, c["accepted"], c["rejected"], c["planned"]
            );
            match o.status {
                Status::Complete => ExitCode::SUCCESS,
                Status::BudgetSpent => ExitCode::from(3),
            }
        }
        Err(e) => fail(&e),
    }
}

async fn score(args: ScoreArgs) -> ExitCode {
    let overrides = Overrides {
        judge_endpoints: args.judge_endpoints,
        judge_model: args.judge_model,
        judge_concurrency: args.judge_concurrency.map(|n| n as usize),
        judge_timeout_ms: args.judge_timeout_ms,
        ..Default::default()
    };
    let job = match load_job(&args.job, overrides) {
        Ok(j) => j,
        Err(code) => return code,
    };
    let lexical_only = job.spec.validate.semantic.backend
        == seedstream_core::spec::EmbedBackend::None
        && job.spec.validate.judge.is_off();
    match seedstream_pipeline::score::run(job, &args.input, &args.out, &embed_env()).await {
        Ok(o) => {
            let c = &o.manifest["counts"];
            eprintln!(
                "{} records: {} accepted, {} rejected",
                c["records"], c["accepted"], c["rejected"]
            );
            print_rejections(c);
            if lexical_only {
                eprintln!(
                    "note: lexical checks only (validate.semantic.backend: none, no judge): reworded near-duplicates and reworded off-topic or unfaithful answers are found by word overlap alone; set validate.semantic.backend: local (MiniLM on the CPU) or an embeddings endpoint to find them"
                );
            }
            eprintln!(
                "wrote {}/samples.jsonl, rejected.jsonl, manifest.json",
                o.out_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The seedstream cache directory (models) from the environment.
fn cache_dir() -> PathBuf {
    seedstream_local::default_cache_dir(
        std::env::var("SEEDSTREAM_CACHE").ok(),
        std::env::var("XDG_CACHE_HOME").ok(),
        std::env::var("HOME").ok(),
    )
}

/// What validators need to build a job's embedder (read here, passed down).
fn embed_env() -> seedstream_validator::semantic::EmbedEnv {
    seedstream_validator::semantic::EmbedEnv {
        cache_dir: cache_dir(),
        env: std::env::vars().collect(),
    }
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        Error::BadInput { .. } => ExitCode::from(2),
        Error::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let job = match load_job(
        &args.job,
        Overrides {
            endpoints: args.endpoints,
            output_dir: args.out,
            ..Default::default()
        },
    ) {
        Ok(j) => j,
        Err(code) => return code,
    };
    if args.dry_run {
        return dry_run(&job);
    }
    let model = &job.spec.model;
    let backend = match model.backend {
        BackendKind::Openai => {
            let api_key = match seedstream_core::spec::api_key(model.api_key_env.as_deref(), |v| {
                std::env::var(v).ok()
            }) {
                Ok(k) => k,
                Err(e) => return fail(&Error::bad_input(&job.file, "model.api_key_env", e)),
            };
            Backend::Remote(EndpointPool::new(model, api_key))
        }
        BackendKind::Local => {
            let path = match &model.gguf {
                Some(p) => PathBuf::from(p),
                None => {
                    let cache = cache_dir();
                    eprintln!(
                        "local model: using the cache at {} (fetched on first use)",
                        cache.display()
                    );
                    match tokio::task::spawn_blocking(move || {
                        seedstream_local::ensure_default_model(&cache)
                    })
                    .await
                    {
                        Ok(Ok(p)) => p,
                        Ok(Err(e)) => {
                            return fail(&Error::Endpoint(format!("fetching the local model: {e}")))
                        }
                        Err(e) => {
                            return fail(&Error::Endpoint(format!("fetching the local model: {e}")))
                        }
                    }
                }
            };
            match Backend::local(&path) {
                Ok(b) => b,
                Err(e) => return fail(&e),
            }
        }
    };
    let opts = EmbeddedOptions {
        generators: args.generators.max(1),
        validators: args.validators.max(1),
        quiet: args.quiet,
        cache_flush: Duration::from_millis(250),
        embed: embed_env(),
        stall_warn: Duration::from_secs(args.stall_warn_s),
    };
    let cancel = shutdown_on_signal();
    match seedstream_pipeline::run(job.clone(), backend, opts, cancel).await {
        Ok(o) => {
            let c = &o.manifest["counts"];
            eprintln!(
                "{}: {} accepted, {} rejected, from {} slots in {} round(s); {} requests answered from cache, {} by the endpoint; {:.1}s",
                job.id,
                c["accepted"],
                c["rejected"],
                c["planned"],
                c["rounds"],
                c["requests_from_cache"],
                c["requests_to_endpoint"],
                o.manifest["wall_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
            );
            print_rejections(c);
            eprintln!(
                "wrote {}/samples.jsonl, rejected.jsonl, manifest.json",
                o.out_dir.display()
            );
            match o.status {
                Status::Complete => ExitCode::SUCCESS,
                Status::BudgetSpent => {
                    eprintln!(
                        "error: slot budget spent: {} of {} records accepted after {} slots (raise max_slots or loosen validate thresholds)",
                        c["accepted"], job.spec.target, c["planned"]
                    );
                    ExitCode::from(3)
                }
            }
        }
        Err(Error::Cancelled) => {
            eprintln!("interrupted: answers received so far are cached; run the same command again to resume");
            ExitCode::from(130)
        }
        Err(e) => fail(&e),
    }
}
