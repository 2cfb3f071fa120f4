//! The client side of `seedstream.v1.JobService`, for the CLI verbs (`submit`, `status`,
//! `cancel`, `jobs`): connecting, and a job file read into a submission.

use std::path::Path;
use std::time::Duration;

use seedstream_core::spec::{normalize_text, Job, Overrides};
use seedstream_core::{Error, Result};
use seedstream_proto::v1::job_service_client::JobServiceClient;
use seedstream_proto::v1::{self, JobState};
use tonic::transport::{Channel, Endpoint};

/// A connected client.
pub type Client = JobServiceClient<Channel>;

/// Connect to the coordinator at `url` (`http://host:port`).
pub async fn connect(url: &str) -> Result<Client> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| {
            Error::bad_input(
                "--coordinator",
                "(url)",
                format!("invalid URL {url:?}: {e}"),
            )
        })?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| Error::Bus(format!("coordinator {url}: {e}")))?;
    Ok(JobServiceClient::new(channel).max_decoding_message_size(64 << 20))
}

/// Read and check `job_file` here (every error is the user's, named by file and field,
/// before anything is sent) and make it a submission: the job file's text and every
/// file it names, inline.
pub fn submission(job_file: &Path, endpoints: Vec<String>) -> Result<v1::SubmitJobRequest> {
    let overrides = Overrides {
        endpoints: endpoints.clone(),
        ..Default::default()
    };
    let job = Job::load(job_file, &overrides)?;
    let text = std::fs::read_to_string(job_file)
        .map_err(|e| Error::bad_input(job_file, "(file)", format!("cannot read: {e}")))?;
    Ok(v1::SubmitJobRequest {
        spec_yaml: normalize_text(text),
        spec_file: job_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "job.yaml".into()),
        files: job.inputs.into_iter().collect(),
        endpoints,
    })
}

/// A state's name for people (`complete`, `running`, …).
pub fn state_name(state: i32) -> &'static str {
    match JobState::try_from(state) {
        Ok(JobState::Pending) => "pending",
        Ok(JobState::Running) => "running",
        Ok(JobState::Complete) => "complete",
        Ok(JobState::BudgetSpent) => "budget_spent",
        Ok(JobState::Failed) => "failed",
        Ok(JobState::Cancelled) => "cancelled",
        _ => "unknown",
    }
}

/// Whether a job in `state` has ended.
pub fn is_terminal(state: i32) -> bool {
    matches!(
        JobState::try_from(state),
        Ok(JobState::Complete | JobState::BudgetSpent | JobState::Failed | JobState::Cancelled)
    )
}
