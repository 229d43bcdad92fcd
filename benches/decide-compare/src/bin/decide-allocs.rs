//! `decide-allocs`: heap allocations of one decide, events and reasons off, on each side,
//! counted with a counting global allocator (so this binary is kept apart from the timed one).
//!
//! For users `user1..=userN` (the id formatted outside the count) it counts, separately:
//! creating the user context, deciding, and cloning the returned decision (the decision's own
//! data: its strings and variables). "Extra" is what deciding allocated beyond its own
//! returned data. It also counts the heap each side holds once the datafile is loaded (the
//! datafile text given to it included, if it keeps it). Prints Markdown tables.
//!
//! ```text
//! decide-allocs [--users N] [--case PATH:FLAG]...
//! ```

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use decide_compare::FIXTURES;
use decide_compare::child::Source;
use decide_compare::sides::{Loaded, Side, user_id};
use optimizely_fx::{Attributes, DecideOption};
use optimizely_fx_core::decide::{DecideOptions, UserData, decide};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocation counts of one user's context creation, decide and decision clone.
#[derive(Default, Clone, Copy)]
struct Counts {
    context: usize,
    decide: usize,
    own: usize,
    decide_bytes: usize,
}

fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let region = Region::new(GLOBAL);
    let value = f();
    let change = region.change();
    (value, change.allocations, change.bytes_allocated)
}

fn measure_one(loaded: &Loaded, flag: &str, id: &str) -> Counts {
    match loaded {
        Loaded::Optimizely05(client) => {
            let (user, context, _) = counted(|| client.create_user_context(id));
            let (decision, decide, decide_bytes) = counted(|| user.decide(flag));
            let (copy, own, _) = counted(|| decision.clone());
            black_box((copy, decision));
            Counts {
                context,
                decide,
                own,
                decide_bytes,
            }
        }
        Loaded::FxSdk(client) => {
            let (user, context, _) =
                counted(|| client.create_user_context(id.to_owned(), Attributes::new()));
            let (decision, decide, decide_bytes) =
                counted(|| user.decide(flag, &[DecideOption::DisableDecisionEvent]));
            let (copy, own, _) = counted(|| decision.clone());
            black_box((copy, decision));
            // The context's id copy is counted here; the other sides take the id by move or
            // by reference.
            Counts {
                context: context.saturating_sub(1),
                decide,
                own,
                decide_bytes,
            }
        }
        Loaded::FxCore(config) => {
            let (user, context, _) = counted(|| UserData::new(id.to_owned()));
            let options = DecideOptions::DISABLE_DECISION_EVENT;
            let (decision, decide, decide_bytes) =
                counted(|| decide(config, &user, flag, options, None));
            let (copy, own, _) = counted(|| decision.clone());
            black_box((copy, decision));
            Counts {
                context: context.saturating_sub(1),
                decide,
                own,
                decide_bytes,
            }
        }
    }
}

struct Summary {
    context: f64,
    decide: f64,
    own: f64,
    extra_mean: f64,
    extra_max: usize,
    decide_bytes: f64,
}

fn measure(loaded: &Loaded, flag: &str, users: u64) -> Summary {
    // Warm up once so lazily initialised runtime state is not counted.
    black_box(measure_one(loaded, flag, "warm-up"));
    let mut sum = Counts::default();
    let mut extra_sum = 0;
    let mut extra_max = 0;
    for i in 1..=users {
        let id = user_id(i);
        let counts = measure_one(loaded, flag, &id);
        let extra = counts.decide.saturating_sub(counts.own);
        extra_sum += extra;
        extra_max = extra_max.max(extra);
        sum.context += counts.context;
        sum.decide += counts.decide;
        sum.own += counts.own;
        sum.decide_bytes += counts.decide_bytes;
    }
    let mean = |total: usize| total as f64 / users as f64;
    Summary {
        context: mean(sum.context),
        decide: mean(sum.decide),
        own: mean(sum.own),
        extra_mean: mean(extra_sum),
        extra_max,
        decide_bytes: mean(sum.decide_bytes),
    }
}

/// Net heap bytes held after loading a copy of `text` (the copy is made inside the count, so
/// it counts only if the side keeps it), and the number of allocations loading made.
fn heap_held_after_load(side: Side, text: &str) -> Option<(i64, usize)> {
    let region = Region::new(GLOBAL);
    let loaded = Loaded::load(side, text.to_owned()).ok()?;
    let change = region.change();
    // `stats_alloc` counts what a `realloc` adds or frees in `bytes_allocated` and
    // `bytes_deallocated` already (`bytes_reallocated` is the same change again).
    let held = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
    loaded.close();
    Some((held, change.allocations))
}

fn print_heap_held(cases: &[(Source, String)]) -> Result<(), String> {
    println!("\n#### Heap held by the loaded datafile (client or config), after parsing\n");
    println!(
        "| datafile | datafile size | side | heap held | vs `optimizely` 0.5 | allocations while loading | vs `optimizely` 0.5 |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (source, _) in cases {
        let text = source.read()?;
        let theirs = heap_held_after_load(Side::Optimizely05, &text);
        for side in Side::ALL {
            let held = heap_held_after_load(side, &text);
            let Some((held, allocations)) = held else {
                let name = source_name(source);
                println!("| {name} | | {side} | cannot load the datafile ||||");
                continue;
            };
            let ratio = |ours: f64, theirs: Option<f64>| match theirs {
                Some(t) if t > 0.0 => format!("{:.2}×", ours / t),
                _ => "–".to_owned(),
            };
            println!(
                "| {} | {} | {side} | {} | {} | {allocations} | {} |",
                source_name(source),
                kib(text.len() as i64),
                kib(held),
                ratio(held as f64, theirs.map(|t| t.0 as f64)),
                ratio(allocations as f64, theirs.map(|t| t.1 as f64)),
            );
        }
    }
    Ok(())
}

fn kib(bytes: i64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn run(args: &[String]) -> Result<(), String> {
    let mut users = 10_000u64;
    let mut cases: Vec<(Source, String)> = Vec::new();
    let mut args = args.iter();
    while let Some(name) = args.next() {
        let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        match name.as_str() {
            "--users" => users = value.parse().map_err(|e| format!("{value:?}: {e}"))?,
            "--case" => {
                let (path, flag) = value.rsplit_once(':').ok_or("--case needs PATH:FLAG")?;
                cases.push((Source::parse(path)?, flag.to_owned()));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if cases.is_empty() {
        let fixture = |name: &str| Source::File(format!("{FIXTURES}/{name}"));
        cases = vec![
            (fixture("rs-sandbox.json"), "a_b_test".to_owned()),
            (fixture("go-100_entities.json"), "feature_64".to_owned()),
            (
                Source::Generated {
                    flags: 1_000,
                    experiments: 500,
                },
                "flag_0".to_owned(),
            ),
        ];
    }
    println!("#### Heap allocations per user, events and reasons off (mean of {users} users)\n");
    println!(
        "| datafile / flag | side | context | decide | decision's own data | extra in decide (mean / max) | bytes allocated by decide |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (source, flag) in &cases {
        let text = source.read()?;
        for side in Side::ALL {
            let label = format!("{} / `{flag}`", source_name(source));
            match Loaded::load(side, text.clone()) {
                Ok(loaded) => {
                    let s = measure(&loaded, flag, users);
                    println!(
                        "| {label} | {side} | {:.2} | {:.2} | {:.2} | {:.2} / {} | {:.0} |",
                        s.context, s.decide, s.own, s.extra_mean, s.extra_max, s.decide_bytes
                    );
                    loaded.close();
                }
                Err(_) => println!("| {label} | {side} | cannot load the datafile |||||"),
            }
        }
    }
    print_heap_held(&cases)
}

fn source_name(source: &Source) -> String {
    match source {
        Source::File(path) => format!("`{}`", path.rsplit('/').next().unwrap_or(path)),
        Source::Generated { flags, .. } => format!("generated {flags} flags"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("decide-allocs: {error}");
            ExitCode::FAILURE
        }
    }
}
