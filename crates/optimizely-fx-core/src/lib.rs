//! Pure core of **optimizely-fx**: the Optimizely datafile model and its indexed project config,
//! compiled audience conditions, the decide engine, event payload builders, and ODP event
//! validation and GraphQL parsing.
//!
//! This crate does no I/O, starts no threads and never reads a clock: time, randomness and
//! network results are passed in by the caller. That keeps it fuzzable and benchmarkable alone.
#![deny(missing_docs)]

pub mod bucketing;
pub mod condition;
pub mod condition_eval;
pub mod config;
pub mod datafile;
pub mod decide;
pub mod diagnostics;
pub mod event;
pub mod odp;
pub mod optimizely_config;
pub mod semver;

pub use config::ProjectConfig;
pub use datafile::{DatafileError, DatafileVersion, DatafileWarning};
