//! Decide throughput with events and reasons off: single flags (A/B test with a rollout
//! behind it) on `rs-sandbox.json` and `go-100_entities.json`, and `decide_all` on both.
//!
//! Run: `cargo bench -p optimizely-fx-core --bench decide`.

use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{DecideOptions, UserData, decide, decide_all};

const DATAFILES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);
const USERS: usize = 1_000;

fn config(name: &str) -> ProjectConfig {
    let text = std::fs::read_to_string(format!("{DATAFILES}/{name}")).expect("fixture datafile");
    ProjectConfig::parse(&text).expect("valid fixture")
}

fn users() -> Vec<UserData> {
    (0..USERS)
        .map(|i| UserData::new(format!("user{i}")))
        .collect()
}

fn bench_flag(
    c: &mut Criterion,
    name: &str,
    config: &ProjectConfig,
    flag: &str,
    options: DecideOptions,
) {
    let users = users();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(USERS as u64));
    group.bench_function(flag, |b| {
        b.iter(|| {
            for user in &users {
                black_box(decide(config, user, black_box(flag), options, None));
            }
        })
    });
    group.finish();
}

fn decide_benches(c: &mut Criterion) {
    let events_off = DecideOptions::DISABLE_DECISION_EVENT;
    let sandbox = config("rs-sandbox.json");
    bench_flag(c, "decide/rs-sandbox", &sandbox, "a_b_test", events_off);
    let entities = config("go-100_entities.json");
    // feature_64: an experiment rule, a rollout and two string variables.
    bench_flag(
        c,
        "decide/go-100_entities",
        &entities,
        "feature_64",
        events_off,
    );
    bench_flag(
        c,
        "decide/go-100_entities",
        &entities,
        "feature_89",
        events_off,
    );
    bench_flag(
        c,
        "decide/go-100_entities-exclude-variables",
        &entities,
        "feature_64",
        events_off | DecideOptions::EXCLUDE_VARIABLES,
    );

    let user = UserData::new("user42");
    let mut group = c.benchmark_group("decide_all");
    for (name, config) in [("rs-sandbox", &sandbox), ("go-100_entities", &entities)] {
        group.throughput(Throughput::Elements(config.flag_count() as u64));
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || (),
                |_| black_box(decide_all(config, &user, events_off, None)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// A `qualified` (ODP segment) audience against a custom-attribute audience of the same shape:
/// the flags `cond_qualified` and `cond_exact_string` of the golden conditions datafile differ
/// only in their audience's leaf. Both users match.
fn qualified_benches(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/golden/conditions-datafile.json"
    );
    let text = std::fs::read_to_string(path).expect("conditions datafile");
    let config = ProjectConfig::parse(&text).expect("valid datafile");
    let mut with_segments = UserData::new("user1");
    with_segments.qualified_segments = Some(vec!["seg1".into(), "seg2".into()]);
    let mut with_attribute = UserData::new("user1");
    with_attribute.attributes.insert("s", "abc");

    let events_off = DecideOptions::DISABLE_DECISION_EVENT;
    let mut group = c.benchmark_group("decide/audience-kind");
    group.bench_function("qualified_segment", |b| {
        b.iter(|| {
            black_box(decide(
                &config,
                &with_segments,
                "cond_qualified",
                events_off,
                None,
            ))
        })
    });
    group.bench_function("custom_attribute", |b| {
        b.iter(|| {
            black_box(decide(
                &config,
                &with_attribute,
                "cond_exact_string",
                events_off,
                None,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, decide_benches, qualified_benches);
criterion_main!(benches);
