//! Heap allocations of one decide with events and reasons off: nothing beyond the returned
//! decision's own data (its strings and variables), measured with a counting allocator.
//!
//! This binary holds a single test so no other test allocates while it measures.

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{Attributes, DecideOptions, Decision, UserData, decide};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const DATAFILES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);

fn config(name: &str) -> ProjectConfig {
    let text = std::fs::read_to_string(format!("{DATAFILES}/{name}")).unwrap();
    ProjectConfig::parse(&text).unwrap()
}

fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let value = f();
    (value, region.change().allocations)
}

/// Allocations of decide beyond those of building the same decision again (a clone).
/// Returns (decide's allocations, the clone's allocations, the decision).
fn measure(
    config: &ProjectConfig,
    user: &UserData,
    flag: &str,
    options: DecideOptions,
) -> (usize, usize, Decision) {
    let (decision, decide_count) = allocations_of(|| decide(config, user, flag, options, None));
    let (copy, own_count) = allocations_of(|| decision.clone());
    drop(copy);
    (decide_count, own_count, decision)
}

#[test]
fn decide_allocates_only_its_result() {
    let options = DecideOptions::DISABLE_DECISION_EVENT;
    let sandbox = config("rs-sandbox.json");
    let entities = config("go-100_entities.json");
    let typed = config("go-typed_audience_datafile.json");
    let attributes: Attributes = [("house", "Gryffindor")].into_iter().collect();
    let cases: Vec<(&ProjectConfig, &str, UserData)> = vec![
        (&sandbox, "a_b_test", UserData::new("user1")),
        (&sandbox, "targeted_delivery", UserData::new("user2")),
        (&entities, "feature_64", UserData::new("user3")),
        (&entities, "feature_89", UserData::new("user4")),
        (
            &typed,
            "feat_with_var",
            UserData::with_attributes("user5", attributes),
        ),
    ];
    let mut report = Vec::new();
    for (config, flag, user) in &cases {
        for options in [options, options | DecideOptions::EXCLUDE_VARIABLES] {
            // Warm up once so lazily initialised runtime state is not counted.
            let _ = decide(config, user, flag, options, None);
            let (total, own, decision) = measure(config, user, flag, options);
            let extra = total.saturating_sub(own);
            report.push(format!(
                "{flag} {options:?}: {total} allocations, {own} for the decision's own data, {extra} extra ({:?})",
                decision.variation_key
            ));
            assert_eq!(extra, 0, "extra allocations: {report:?}");
        }
    }
    println!("{}", report.join("\n"));
}
