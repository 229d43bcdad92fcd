//! Datafile parse + index speed: the largest fixture and a generated 1,000-flag datafile.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use optimizely_fx_core::ProjectConfig;
use std::hint::black_box;

#[path = "../tests/support/generate.rs"]
mod generate;

const LARGEST_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles/go-100_entities.json"
);

fn bench_parse(c: &mut Criterion) {
    let fixture = std::fs::read_to_string(LARGEST_FIXTURE).expect("fixture datafile");
    let generated = generate::generate_datafile(1_000, 500);

    let mut group = c.benchmark_group("parse");
    for (name, text) in [
        ("go-100_entities", &fixture),
        ("generated_1000_flags_500_experiments", &generated),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| ProjectConfig::parse(black_box(text)).expect("valid datafile"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
