//! seedstream coordinator: plans a job, tracks it, and assembles the dataset.
//!
//! - [`embedded`]: the whole pipeline in one process (`seedstream run`): planner,
//!   generators, validators and the assembler as tasks over the in-process bus
//! - [`assemble`]: the assembler: canonical-order decisions (near-duplicates, target)
//!   and the dataset files
//! - [`cluster`]: one job driven over Kafka, with generators and validators elsewhere
//! - [`manifest`]: the dataset's manifest
//! - [`progress`]: progress bar / periodic lines

pub mod assemble;
pub mod cluster;
pub mod embedded;
pub mod manifest;
pub mod progress;

pub use embedded::{run, EmbeddedOptions, Outcome};
