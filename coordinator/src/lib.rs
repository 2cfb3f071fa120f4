//! seedstream coordinator: plans a job, tracks it, and assembles the dataset.
//!
//! - [`embedded`]: the whole pipeline in one process (`seedstream run`): planner,
//!   generators, validators and the assembler as tasks over the in-process bus
//! - [`assemble`]: the assembler: canonical-order decisions (near-duplicates, target)
//!   and the dataset files
//! - [`cluster`]: one job driven over Kafka, with generators and validators elsewhere
//! - [`client`]: the JobService client behind the CLI verbs
//! - [`service`]: the `seedstream coordinator` process (gRPC JobService, jobs in Redis)
//! - [`diversity`]: dataset-level diversity metrics for the manifest
//! - [`manifest`]: the dataset's manifest
//! - [`report`]: `seedstream report`, an HTML page with charts and a terminal summary
//! - [`score`]: `seedstream score`, checking a dataset made elsewhere
//! - [`progress`]: progress bar / periodic lines

pub mod assemble;
pub mod client;
pub mod cluster;
pub mod diversity;
pub mod embedded;
pub mod manifest;
pub mod progress;
pub mod report;
pub mod score;
pub mod service;

pub use embedded::{run, EmbeddedOptions, Outcome};
