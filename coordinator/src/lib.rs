//! seedstream coordinator: plans a job, tracks it, and assembles the dataset.
//!
//! - [`drive`]: the loop every job runs, whatever the bus: rounds, the window,
//!   canonical-order decisions, the watchdog; the dataset written at the end
//! - [`assemble`]: the assembler: canonical-order decisions (near-duplicates, target)
//!   and the dataset files
//! - [`cluster`]: one job driven over Kafka, with generators and validators elsewhere
//! - [`client`]: the JobService client behind the CLI verbs
//! - [`service`]: the `seedstream coordinator` process (gRPC JobService, jobs in Redis)
//! - [`diversity`]: dataset-level diversity metrics for the manifest
//! - [`manifest`]: the dataset's manifest
//! - [`progress`]: progress bar / periodic lines
//!
//! The embedded pipeline (`seedstream run`), `score` and `report` live in
//! `seedstream-pipeline`: this crate links no generator or validator.

pub mod assemble;
pub mod client;
pub mod cluster;
pub mod diversity;
pub mod drive;
pub mod manifest;
pub mod progress;
pub mod service;

pub use drive::{Outcome, Status};
