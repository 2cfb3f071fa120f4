//! seedstream pipeline: the whole job in one process, and the dataset tools.
//!
//! - [`embedded`]: `seedstream run`: the planner and assembler (the coordinator's
//!   [`drive`](seedstream_coordinator::drive::drive) loop), generators and validators
//!   as tasks over the in-process bus, with the on-disk state store
//! - [`score`]: `seedstream score`, checking a dataset made elsewhere
//! - [`report`]: `seedstream report`, an HTML page with charts and a terminal summary
//!
//! The coordinator crate stays the gRPC service and the cluster job: services meet only
//! through the bus and the state store, so only this crate links generators and
//! validators into one process.

pub mod embedded;
pub mod report;
pub mod score;

pub use embedded::{run, EmbeddedOptions};
pub use seedstream_coordinator::drive::{Outcome, Status};
