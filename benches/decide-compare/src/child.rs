//! The measurements, each run in a child process of its own so that every side starts from
//! a fresh heap and its peak RSS is its own. Each prints one JSON line on stdout.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proc_status::{main_thread_on_cpu_ns, peak_rss_kb, rss_kb, status_kb};
use crate::sides::{Decides, Histogram, Loaded, Side, user_id};

/// Where a datafile comes from: a file, or the synthetic generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A datafile on disk.
    File(String),
    /// `generate_datafile(flags, experiments)`.
    Generated {
        /// Number of flags.
        flags: usize,
        /// Number of flags with an A/B experiment rule.
        experiments: usize,
    },
}

impl Source {
    /// `generated:FLAGS:EXPERIMENTS`, or a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(sizes) = text.strip_prefix("generated:") else {
            return Ok(Source::File(text.to_owned()));
        };
        let (flags, experiments) = sizes
            .split_once(':')
            .ok_or_else(|| format!("expected generated:FLAGS:EXPERIMENTS, got {text:?}"))?;
        let number = |n: &str| n.parse().map_err(|e| format!("{n:?}: {e}"));
        Ok(Source::Generated {
            flags: number(flags)?,
            experiments: number(experiments)?,
        })
    }

    /// The argument form of the source.
    pub fn arg(&self) -> String {
        match self {
            Source::File(path) => path.clone(),
            Source::Generated { flags, experiments } => format!("generated:{flags}:{experiments}"),
        }
    }

    /// The datafile text.
    pub fn read(&self) -> Result<String, String> {
        match self {
            Source::File(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
            }
            Source::Generated { flags, experiments } => {
                Ok(crate::generate::generate_datafile(*flags, *experiments))
            }
        }
    }
}

/// Loads the datafile with `side` (timed: init), then decides `flag` for `n` users (timed:
/// the loop alone). `L` is [`Loaded`] in `decide-compare` itself (every side in one binary),
/// or the one side a `decide-child-*` binary holds.
pub fn decide_users<L: Decides>(side: Side, source: &Source, flag: &str, n: u64) -> Value {
    let rss_start_kb = rss_kb();
    let mut residency = Residency::from_env();
    residency.take("start");
    let datafile = match source.read() {
        Ok(text) => text,
        Err(error) => return failure(side, &error),
    };
    let started = Instant::now();
    let loaded = match L::load(side, datafile) {
        Ok(loaded) => loaded,
        Err(error) => return failure(side, &error),
    };
    let init = started.elapsed();
    let rss_after_init_kb = rss_kb();
    residency.take("after_init");

    let mut histogram = Histogram::default();
    let cpu_before = main_thread_on_cpu_ns();
    let started = Instant::now();
    loaded.decide_users(flag, 0, n, &mut histogram);
    let elapsed = started.elapsed();
    let cpu_s = main_thread_on_cpu_ns()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / 1e9);
    let peak = peak_rss_kb();
    let (rss_anon_kb, rss_file_kb) = (status_kb("RssAnon"), status_kb("RssFile"));
    let threads = status_kb("Threads");
    residency.take("end");
    loaded.close();
    let mut line = json!({
        "side": side.arg(),
        "ok": true,
        "n": n,
        "init_s": init.as_secs_f64(),
        "loop_s": elapsed.as_secs_f64(),
        "decisions_per_s": n as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        "ns_per_decision": elapsed.as_nanos() as f64 / n.max(1) as f64,
        "cpu_s": cpu_s,
        "decisions_per_cpu_s": cpu_s.map(|cpu| n as f64 / cpu.max(f64::MIN_POSITIVE)),
        "variations": histogram.0,
        "rss_start_kb": rss_start_kb,
        "rss_after_init_kb": rss_after_init_kb,
        "peak_rss_kb": peak,
        "rss_anon_kb_at_end": rss_anon_kb,
        "rss_file_kb_at_end": rss_file_kb,
        "threads": threads,
    });
    residency.attach(&mut line);
    line
}

/// With `DECIDE_COMPARE_RESIDENCY` set, `decide_users` adds `residency` to its line: resident
/// memory per mapping and the resident pages of the program at start, after loading and at
/// the end (see [`crate::residency`]). Off by default: the snapshots themselves touch code.
struct Residency(Option<serde_json::Map<String, Value>>);

impl Residency {
    fn from_env() -> Self {
        Self(std::env::var_os("DECIDE_COMPARE_RESIDENCY").map(|_| serde_json::Map::new()))
    }

    fn take(&mut self, label: &str) {
        if let Some(snapshots) = &mut self.0 {
            snapshots.insert(label.to_owned(), crate::residency::snapshot());
        }
    }

    fn attach(self, line: &mut Value) {
        if let Some(snapshots) = self.0 {
            line["residency"] = Value::Object(snapshots);
        }
    }
}

/// The `main` of a `decide-child-*` binary: `child-decide SIDE SOURCE FLAG N`, as
/// `decide-compare` runs itself, with `L` the one side the binary holds.
pub fn one_side_main<L: Decides>() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = match args.as_slice() {
        [command, side, source, flag, n] if command == "child-decide" => {
            one_side_line::<L>(side, source, flag, n)
        }
        _ => Err("usage: child-decide SIDE SOURCE FLAG N".to_owned()),
    };
    match line {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn one_side_line<L: Decides>(
    side: &str,
    source: &str,
    flag: &str,
    n: &str,
) -> Result<Value, String> {
    let side = side.parse()?;
    let source = Source::parse(source)?;
    let n = n.parse().map_err(|e| format!("{n:?}: {e}"))?;
    Ok(decide_users::<L>(side, &source, flag, n))
}

/// Time from the datafile string to the first decision returned (`user0`, `flag`), `runs`
/// times; the string is copied for each run before the clock starts.
pub fn first_decision(side: Side, source: &Source, flag: &str, runs: usize) -> Value {
    let datafile = match source.read() {
        Ok(text) => text,
        Err(error) => return failure(side, &error),
    };
    let mut times = Vec::with_capacity(runs);
    let mut variation = None;
    for _ in 0..runs.max(1) {
        let text = datafile.clone();
        let started = Instant::now();
        let loaded = match Loaded::load(side, text) {
            Ok(loaded) => loaded,
            Err(error) => return failure(side, &error),
        };
        let first = loaded.variation(flag, "user0");
        times.push(started.elapsed());
        variation = black_box(first);
        loaded.close();
    }
    times.sort();
    let seconds = |d: Duration| d.as_secs_f64();
    json!({
        "side": side.arg(),
        "ok": true,
        "runs": times.len(),
        "datafile_bytes": datafile.len(),
        "median_s": seconds(times[times.len() / 2]),
        "min_s": seconds(times[0]),
        "max_s": seconds(times[times.len() - 1]),
        "variation": variation,
        "peak_rss_kb": peak_rss_kb(),
    })
}

/// Users on whom `optimizely` 0.5 and the optimizely-fx core disagree, and whether each one's
/// bucket value for one of the flag's rules equals an `endOfRange` of that rule (where the
/// official rule, `bucket < endOfRange`, and its `bucket <= endOfRange` part ways).
pub fn disagreements(source: &Source, flag: &str, n: u64) -> Value {
    let result = (|| -> Result<Value, String> {
        let text = source.read()?;
        let rules = flag_rules(&text, flag)?;
        let theirs = Loaded::load(Side::Optimizely05, text.clone())?;
        let ours = Loaded::load(Side::FxCore, text)?;
        let mut at_range_end = 0u64;
        let mut other = Vec::new();
        let mut examples = Vec::new();
        let mut differing = 0u64;
        for i in 0..n {
            let id = user_id(i);
            let (a, b) = (theirs.variation(flag, &id), ours.variation(flag, &id));
            if a == b {
                continue;
            }
            differing += 1;
            let edge = rules.iter().find_map(|rule| rule.bucket_at_range_end(&id));
            match edge {
                Some(description) => {
                    at_range_end += 1;
                    if examples.len() < 3 {
                        examples.push(format!("{id}: theirs {a:?}, ours {b:?}; {description}"));
                    }
                }
                None if other.len() < 10 => other.push(format!("{id}: theirs {a:?}, ours {b:?}")),
                None => other.push(String::new()),
            }
        }
        let other_count = other.len();
        other.retain(|line| !line.is_empty());
        Ok(json!({
            "ok": true,
            "n": n,
            "differing": differing,
            "bucket_at_range_end": at_range_end,
            "other": other_count,
            "range_end_examples": examples,
            "other_examples": other,
        }))
    })();
    result.unwrap_or_else(|error| json!({"ok": false, "error": error}))
}

/// A rule of the flag as the datafile states it: id, key and end-of-range values.
struct RuleRanges {
    id: String,
    key: String,
    ends: Vec<u64>,
}

impl RuleRanges {
    fn bucket_at_range_end(&self, user_id: &str) -> Option<String> {
        let bucket = u64::from(optimizely_fx_core::bucketing::bucket_value(
            user_id, &self.id,
        ));
        self.ends.contains(&bucket).then(|| {
            format!(
                "bucket {bucket} = an endOfRange of rule {}",
                self.key.as_str()
            )
        })
    }
}

/// The flag's experiment rules then its delivery rules, read from the raw JSON.
fn flag_rules(text: &str, flag: &str) -> Result<Vec<RuleRanges>, String> {
    let datafile: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = |key: &str| datafile[key].as_array().cloned().unwrap_or_default();
    let feature = list("featureFlags")
        .into_iter()
        .find(|f| f["key"] == flag)
        .ok_or_else(|| format!("flag {flag:?} is not in the datafile"))?;
    let experiments = list("experiments");
    let mut rules: Vec<&Value> = Vec::new();
    for id in feature["experimentIds"].as_array().into_iter().flatten() {
        rules.extend(experiments.iter().find(|e| e["id"] == *id));
    }
    let rollouts = list("rollouts");
    let rollout = rollouts.iter().find(|r| r["id"] == feature["rolloutId"]);
    if let Some(rollout) = rollout {
        rules.extend(rollout["experiments"].as_array().into_iter().flatten());
    }
    Ok(rules.into_iter().map(rule_ranges).collect())
}

fn rule_ranges(rule: &Value) -> RuleRanges {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    RuleRanges {
        id: text(&rule["id"]),
        key: text(&rule["key"]),
        ends: rule["trafficAllocation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|range| range["endOfRange"].as_u64())
            .collect(),
    }
}

fn failure(side: Side, error: &str) -> Value {
    json!({"side": side.arg(), "ok": false, "error": error})
}
