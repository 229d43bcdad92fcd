//! Decide benchmarks of optimizely-fx side by side with the unofficial `optimizely` 0.5 crate.
//!
//! Three sides decide the same flag for the same users (`user0`, `user1`, ...) with decision
//! events off: the optimizely-fx SDK (`create_user_context` + `decide`), the optimizely-fx
//! core engine alone (`decide` on a `ProjectConfig`), and `optimizely` 0.5.

pub mod child;
pub mod proc_status;
pub mod report;
pub mod residency;
pub mod sides;

/// The synthetic datafile generator of the core crate's tests and benches.
#[path = "../../../crates/optimizely-fx-core/tests/support/generate.rs"]
pub mod generate;

/// The fixture datafiles of the repository.
pub const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);
