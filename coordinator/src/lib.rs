//! seedstream coordinator: plans a job, tracks it, and assembles the dataset.
//!
//! - [`embedded`]: the whole pipeline in one process (`seedstream run`): planner,
//!   generators, validators and the assembler as tasks over the in-process bus
//! - [`assemble`]: the assembler: canonical-order decisions (near-duplicates, target)
//!   and the dataset files
//! - [`cluster`]: one job driven over Kafka, with generators and validators elsewhere
//! - [`client`]: the JobService client behind the CLI verbs
//! - [`service`]: the `seedstream coordinator` process (gRPC JobService, jobs in Redis)
//! - [`manifest`]: the dataset's manifest
//! - [`progress`]: progress bar / periodic lines

pub mod assemble;
pub mod client;
pub mod cluster;
pub mod embedded;
pub mod manifest;
pub mod progress;
pub mod service;

pub use embedded::{run, EmbeddedOptions, Outcome};
