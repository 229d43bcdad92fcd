//! `decide-compare`: decide throughput, peak RSS and parse-to-first-decision of optimizely-fx
//! and `optimizely` 0.5, in one run. Prints Markdown on stdout, the children's raw JSON lines
//! on stderr.
//!
//! ```text
//! decide-compare [--n N] [--rounds R] [--case PATH:FLAG]... [--first-runs K]
//!                [--generated FLAGS:EXPERIMENTS] [--first-flag KEY] [--callgrind-users N]
//!                [--per-side-binaries]
//! ```
//!
//! Defaults: N = 1,000,000 users, R = 5 rounds (the order of the sides rotates each round),
//! cases `rs-sandbox.json:a_b_test`, `go-100_entities.json:feature_64` and the generated
//! datafile's `flag_0`; parse-to-first-decision on the generated 1,000-flag datafile (500
//! experiments), K = 9 runs. With `valgrind` installed, each side's decide loop is also run
//! under callgrind for `--callgrind-users` users (100,000; 0 skips it) to count instructions
//! per decision, a figure the machine's noise does not move.
//!
//! With `--per-side-binaries` the 1,000,000-user children are the `decide-child-<side>`
//! binaries built beside this one, each linking one side alone (as a service links one SDK),
//! instead of this binary, which holds all three: the code each side runs then sits in a
//! binary of its own layout, which changes the file-backed part of its peak RSS.
//!
//! Every measurement runs in a child process of its own (this binary, re-invoked with
//! `child-decide`, `child-first` or `child-diff`), so the sides never share a heap and each
//! peak RSS (`VmHWM`) is that side's alone.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use decide_compare::FIXTURES;
use decide_compare::child::{self, Source};
use decide_compare::report::{self, SideRuns};
use decide_compare::sides::{Loaded, Side};
use serde_json::Value;

struct Options {
    n: u64,
    rounds: usize,
    cases: Vec<(Source, String)>,
    first_runs: usize,
    callgrind_users: u64,
    generated: Source,
    first_flag: String,
    per_side_binaries: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            n: 1_000_000,
            rounds: 5,
            cases: Vec::new(),
            first_runs: 9,
            callgrind_users: 100_000,
            generated: Source::Generated {
                flags: 1_000,
                experiments: 500,
            },
            first_flag: "flag_0".to_owned(),
            per_side_binaries: false,
        };
        let mut args = args.iter();
        while let Some(name) = args.next() {
            if name == "--per-side-binaries" {
                options.per_side_binaries = true;
                continue;
            }
            let mut value = || args.next().ok_or_else(|| format!("{name} needs a value"));
            match name.as_str() {
                "--n" => options.n = number(value()?)?,
                "--rounds" => options.rounds = number(value()?)?,
                "--first-runs" => options.first_runs = number(value()?)?,
                "--callgrind-users" => options.callgrind_users = number(value()?)?,
                "--first-flag" => value()?.clone_into(&mut options.first_flag),
                "--generated" => {
                    options.generated = Source::parse(&format!("generated:{}", value()?))?
                }
                "--case" => {
                    let (path, flag) = value()?.rsplit_once(':').ok_or("--case needs PATH:FLAG")?;
                    options.cases.push((Source::parse(path)?, flag.to_owned()));
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if options.cases.is_empty() {
            options.cases = vec![
                (fixture("rs-sandbox.json"), "a_b_test".to_owned()),
                (fixture("go-100_entities.json"), "feature_64".to_owned()),
                (options.generated.clone(), options.first_flag.clone()),
            ];
        }
        Ok(options)
    }
}

fn fixture(name: &str) -> Source {
    Source::File(format!("{FIXTURES}/{name}"))
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| format!("{text:?}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child-decide" | "child-first" | "child-diff") => run_child(&args),
        _ => Options::parse(&args).and_then(|options| run_parent(&options)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("decide-compare: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run_child(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
    let line = match arg(0)? {
        "child-decide" => {
            let side = arg(1)?.parse()?;
            let source = Source::parse(arg(2)?)?;
            child::decide_users::<Loaded>(side, &source, arg(3)?, number(arg(4)?)?)
        }
        "child-first" => {
            let side = arg(1)?.parse()?;
            child::first_decision(side, &Source::parse(arg(2)?)?, arg(3)?, number(arg(4)?)?)
        }
        _ => child::disagreements(&Source::parse(arg(1)?)?, arg(2)?, number(arg(3)?)?),
    };
    println!("{line}");
    Ok(())
}

/// Runs this binary again with `args` and returns its JSON line.
fn spawn(args: &[String]) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    spawn_exe(&exe, args)
}

/// The 1,000,000-user child of `side`: this binary, or its `decide-child-<side>` sibling.
fn decide_child(options: &Options, side: Side) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Ok(match options.per_side_binaries {
        true => exe.with_file_name(format!("decide-child-{}", side.arg())),
        false => exe,
    })
}

/// Runs `exe` with `args` and returns its JSON line.
fn spawn_exe(exe: &Path, args: &[String]) -> Result<Value, String> {
    let output = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run a child: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{}", stdout.trim_end());
    if !output.status.success() {
        return Err(format!(
            "child {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("child output {stdout:?}: {e}"))
}

fn run_parent(options: &Options) -> Result<(), String> {
    println!("{}\n", machine_note());
    for (source, flag) in &options.cases {
        compare_decide(options, source, flag)?;
    }
    compare_first_decision(options)
}

fn compare_decide(options: &Options, source: &Source, flag: &str) -> Result<(), String> {
    let name = match source {
        Source::File(path) => format!("`{}`", path.rsplit('/').next().unwrap_or(path)),
        Source::Generated { flags, experiments } => {
            format!("generated datafile ({flags} flags, {experiments} experiments)")
        }
    };
    let mut runs: Vec<SideRuns> = Side::ALL
        .into_iter()
        .map(|side| SideRuns {
            side,
            rounds: Vec::new(),
            error: None,
        })
        .collect();
    for round in 0..options.rounds {
        // Rotate the order so that no side always runs first (or last) on a noisy machine.
        for offset in 0..runs.len() {
            let side_runs = &mut runs[(round + offset) % Side::ALL.len()];
            if side_runs.error.is_some() {
                continue;
            }
            let args = [
                "child-decide".to_owned(),
                side_runs.side.arg().to_owned(),
                source.arg(),
                flag.to_owned(),
                options.n.to_string(),
            ];
            let line = spawn_exe(&decide_child(options, side_runs.side)?, &args)?;
            match line["ok"] == true {
                true => side_runs.rounds.push(line),
                false => side_runs.error = Some(line["error"].as_str().unwrap_or("?").to_owned()),
            }
        }
    }
    println!(
        "{}",
        report::decide_table(&decide_title(options, &name, flag), options.n, &runs)
    );
    println!("{}", report::histogram_table(&runs));
    print_agreement(options, source, flag, &runs)?;
    if options.callgrind_users > 0 {
        let counts = instruction_counts(options.callgrind_users, source, flag, &runs);
        println!(
            "{}",
            report::instructions_table(options.callgrind_users, &counts)
        );
    }
    Ok(())
}

fn decide_title(options: &Options, name: &str, flag: &str) -> String {
    match options.per_side_binaries {
        true => format!("{name}, flag `{flag}` (one binary per side)"),
        false => format!("{name}, flag `{flag}`"),
    }
}

/// Instructions per decision of each side that loaded the datafile, counted by callgrind
/// over the decide loop only (`None`: valgrind missing or failed).
fn instruction_counts(
    users: u64,
    source: &Source,
    flag: &str,
    runs: &[SideRuns],
) -> Vec<(Side, Option<f64>)> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let loaded = runs.iter().filter(|r| !r.rounds.is_empty());
    loaded
        .map(|r| {
            let output = Command::new("valgrind")
                .args([
                    "--tool=callgrind",
                    "--callgrind-out-file=/dev/null",
                    "--collect-atstart=no",
                    "--toggle-collect=*Loaded*decide_users*",
                ])
                .arg(&exe)
                .args(["child-decide", r.side.arg(), &source.arg(), flag])
                .arg(users.to_string())
                .output();
            let collected = output.ok().and_then(|o| {
                let stderr = String::from_utf8_lossy(&o.stderr);
                stderr.lines().find_map(|line| {
                    let count = line.split_once("Collected :")?.1.trim();
                    count.parse::<f64>().ok()
                })
            });
            (r.side, collected.map(|total| total / users as f64))
        })
        .collect()
}

fn print_agreement(
    options: &Options,
    source: &Source,
    flag: &str,
    runs: &[SideRuns],
) -> Result<(), String> {
    match report::same_histogram(runs, Side::FxSdk, Side::FxCore) {
        Some(true) => println!("optimizely-fx SDK and core: identical histograms."),
        Some(false) => println!("optimizely-fx SDK and core: histograms DIFFER."),
        None => {}
    }
    match report::same_histogram(runs, Side::Optimizely05, Side::FxCore) {
        Some(true) => println!("`optimizely` 0.5 and optimizely-fx: identical histograms.\n"),
        Some(false) => {
            println!("`optimizely` 0.5 and optimizely-fx: histograms differ.\n");
            let args = [
                "child-diff".to_owned(),
                source.arg(),
                flag.to_owned(),
                options.n.to_string(),
            ];
            println!("{}", report::disagreement_text(&spawn(&args)?));
        }
        None => println!("(`optimizely` 0.5 could not load this datafile: optimizely-fx alone.)\n"),
    }
    Ok(())
}

fn compare_first_decision(options: &Options) -> Result<(), String> {
    let datafile = options.generated.read()?;
    let (flags, bytes) = (
        match &options.generated {
            Source::Generated { flags, experiments } => {
                format!("{flags} flags ({experiments} with an A/B experiment)")
            }
            Source::File(path) => path.clone(),
        },
        datafile.len(),
    );
    let mut runs = Vec::new();
    for side in Side::ALL {
        let args = [
            "child-first".to_owned(),
            side.arg().to_owned(),
            options.generated.arg(),
            options.first_flag.clone(),
            options.first_runs.to_string(),
        ];
        runs.push(spawn(&args)?);
    }
    let title = format!(
        "Parse to first decision: generated datafile, {flags}, {} bytes, flag `{}`",
        report::thousands(bytes as f64),
        options.first_flag
    );
    println!("{}", report::first_decision_table(&title, &runs));
    Ok(())
}

fn machine_note() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Machine: {cpu}, {cores} cores available.")
}
