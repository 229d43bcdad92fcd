//! `optimizely-fx bench decide`: how fast this SDK decides one flag for many users.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use optimizely_fx::{Attributes, Client, DecideOption, Decision};
use serde_json::json;

use crate::CliError;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// N times: create the user context `user<i>` and decide one flag (no events). Prints one
    /// JSON line: n, elapsed_s, decisions_per_s, ns_per_decision, init_s and how many users
    /// got each variation.
    Decide(BenchDecideArgs),
}

/// Arguments of `bench decide`.
#[derive(Debug, Args)]
pub(crate) struct BenchDecideArgs {
    /// The datafile.
    #[arg(long, value_name = "PATH")]
    datafile: PathBuf,
    /// The flag to decide.
    #[arg(long, value_name = "KEY")]
    flag: String,
    /// How many decisions.
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    n: u64,
}

pub(crate) fn run(command: &BenchCommand) -> Result<(), CliError> {
    match command {
        BenchCommand::Decide(args) => bench_decide(args),
    }
}

fn bench_decide(args: &BenchDecideArgs) -> Result<(), CliError> {
    let datafile = std::fs::read_to_string(&args.datafile)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.datafile.display())))?;
    let (client, init) = init(datafile, &args.flag)?;
    let mut histogram = Histogram::default();
    let started = Instant::now();
    for i in 0..args.n {
        let user = client.create_user_context(format!("user{i}"), Attributes::new());
        histogram.count(&user.decide(&args.flag, &[]));
    }
    let elapsed = started.elapsed();
    client.close(Duration::from_millis(200));
    println!("{}", report(args, elapsed, init, &histogram));
    Ok(())
}

/// Parses the datafile and makes a first decision; returns the client and the time it took.
fn init(datafile: String, flag: &str) -> Result<(Client, Duration), CliError> {
    let started = Instant::now();
    let client = Client::builder()
        .datafile(datafile)
        .default_decide_options(&[DecideOption::DisableDecisionEvent])
        .build()?;
    if client
        .config()
        .is_none_or(|config| config.flag_by_key(flag).is_none())
    {
        client.close(Duration::ZERO);
        return Err(CliError::new(format!(
            "flag {flag:?} is not in the datafile"
        )));
    }
    let first = client
        .create_user_context("user0", Attributes::new())
        .decide(flag, &[]);
    let init = started.elapsed();
    std::hint::black_box(first);
    Ok((client, init))
}

#[derive(Debug, Default)]
struct Histogram {
    variations: BTreeMap<String, u64>,
    none: u64,
}

impl Histogram {
    fn count(&mut self, decision: &Decision) {
        match &decision.variation_key {
            Some(key) => match self.variations.get_mut(key) {
                Some(count) => *count += 1,
                None => {
                    self.variations.insert(key.clone(), 1);
                }
            },
            None => self.none += 1,
        }
    }
}

fn report(
    args: &BenchDecideArgs,
    elapsed: Duration,
    init: Duration,
    histogram: &Histogram,
) -> serde_json::Value {
    let seconds = elapsed.as_secs_f64();
    json!({
        "flag": args.flag,
        "n": args.n,
        "elapsed_s": seconds,
        "decisions_per_s": args.n as f64 / seconds.max(f64::MIN_POSITIVE),
        "ns_per_decision": elapsed.as_nanos() as f64 / args.n as f64,
        "init_s": init.as_secs_f64(),
        "variations": histogram.variations,
        "no_variation": histogram.none,
    })
}
