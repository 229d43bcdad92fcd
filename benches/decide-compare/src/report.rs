//! Markdown tables from the children's JSON lines.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde_json::Value;

use crate::sides::Side;

/// The rounds of one side on one datafile: each an `ok` JSON line, or the side's error.
pub struct SideRuns {
    /// The side.
    pub side: Side,
    /// The successful rounds.
    pub rounds: Vec<Value>,
    /// Why the side could not run, if it could not.
    pub error: Option<String>,
}

impl SideRuns {
    fn median(&self, field: &str) -> Option<f64> {
        let mut values: Vec<f64> = self
            .rounds
            .iter()
            .filter_map(|r| r[field].as_f64())
            .collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }

    fn min_max(&self, field: &str) -> Option<(f64, f64)> {
        let values = self.rounds.iter().filter_map(|r| r[field].as_f64());
        values.fold(None, |range, v| match range {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
    }

    /// The histogram of the first round, and whether every round had the same one.
    fn histogram(&self) -> Option<(&Value, bool)> {
        let first = &self.rounds.first()?["variations"];
        let same = self.rounds.iter().all(|r| r["variations"] == *first);
        Some((first, same))
    }
}

/// Throughput, then init and memory, of every side on one datafile and flag.
pub fn decide_table(title: &str, n: u64, runs: &[SideRuns]) -> String {
    let rounds = runs.iter().map(|r| r.rounds.len()).max().unwrap_or(0);
    let mut out = format!(
        "#### {title}: {} users, events off, single thread, median of {rounds} rounds\n\n",
        thousands(n as f64)
    );
    out.push_str(
        "| side | decisions/s | ns/decision | min–max of rounds | vs `optimizely` 0.5 | decisions per CPU-second | vs `optimizely` 0.5 (CPU) |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let theirs = runs.iter().find(|r| r.side == Side::Optimizely05);
    let their = |field: &str| theirs.and_then(|t| t.median(field));
    for side in runs {
        if let Some(error) = &side.error {
            let _ = writeln!(
                out,
                "| {} | cannot load the datafile: {error} ||||||",
                side.side
            );
            continue;
        }
        let rate = side.median("decisions_per_s");
        let (lo, hi) = side
            .min_max("decisions_per_s")
            .unwrap_or((f64::NAN, f64::NAN));
        let cpu_rate = side.median("decisions_per_cpu_s");
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {}–{} | {} | {} | {} |",
            side.side,
            thousands(rate.unwrap_or(f64::NAN)),
            side.median("ns_per_decision").unwrap_or(f64::NAN),
            thousands(lo),
            thousands(hi),
            ratio(rate, their("decisions_per_s")),
            thousands(cpu_rate.unwrap_or(f64::NAN)),
            ratio(cpu_rate, their("decisions_per_cpu_s")),
        );
    }
    out.push_str(
        "\n| side | init (parse + client) | peak RSS (VmHWM) | vs `optimizely` 0.5 | RSS at start | anonymous RSS at end (heap, stacks) | vs `optimizely` 0.5 | file-backed RSS at end (code) |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for side in runs.iter().filter(|r| r.error.is_none()) {
        let rss = side.median("peak_rss_kb");
        let anon = side.median("rss_anon_kb_at_end");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            side.side,
            millis(side.median("init_s")),
            mebibytes(rss),
            ratio(rss, their("peak_rss_kb")),
            mebibytes(side.median("rss_start_kb")),
            mebibytes(anon),
            ratio(anon, their("rss_anon_kb_at_end")),
            mebibytes(side.median("rss_file_kb_at_end")),
        );
    }
    out
}

/// The variation counts of every side, and what agrees.
pub fn histogram_table(runs: &[SideRuns]) -> String {
    let loaded: Vec<&SideRuns> = runs.iter().filter(|r| !r.rounds.is_empty()).collect();
    let histograms: Vec<(&SideRuns, &Value, bool)> = loaded
        .iter()
        .filter_map(|r| r.histogram().map(|(h, same)| (*r, h, same)))
        .collect();
    let keys: BTreeSet<&str> = histograms
        .iter()
        .flat_map(|(_, h, _)| h.as_object().into_iter().flatten().map(|(k, _)| k.as_str()))
        .collect();
    let mut out = String::from("| variation |");
    for (side, _, _) in &histograms {
        let _ = write!(out, " {} |", side.side);
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(histograms.len()));
    out.push('\n');
    for key in keys {
        let _ = write!(out, "| `{key}` |");
        for (_, histogram, _) in &histograms {
            let count = histogram[key].as_u64().unwrap_or(0);
            let _ = write!(out, " {} |", thousands(count as f64));
        }
        out.push('\n');
    }
    for (side, _, same) in &histograms {
        if !same {
            let _ = writeln!(
                out,
                "\n{}: the histogram changed between rounds.",
                side.side
            );
        }
    }
    out
}

/// Whether two sides produced exactly the same histogram (first rounds).
pub fn same_histogram(runs: &[SideRuns], a: Side, b: Side) -> Option<bool> {
    let find = |side| runs.iter().find(|r| r.side == side)?.histogram();
    Some(find(a)?.0 == find(b)?.0)
}

/// The disagreement analysis of `optimizely` 0.5 against the core.
pub fn disagreement_text(diff: &Value) -> String {
    if diff["ok"] != true {
        return format!("Disagreement analysis not run: {}\n", diff["error"]);
    }
    let count = |field: &str| thousands(diff[field].as_u64().unwrap_or(0) as f64);
    let mut out = format!(
        "`optimizely` 0.5 and optimizely-fx disagree on {} of {} users: {} whose bucket value equals an `endOfRange` of one of the flag's rules (it selects `bucket <= endOfRange`, the official rule is `bucket < endOfRange`), {} for other reasons.\n",
        count("differing"),
        count("n"),
        count("bucket_at_range_end"),
        count("other"),
    );
    for key in ["range_end_examples", "other_examples"] {
        for example in diff[key].as_array().into_iter().flatten() {
            let _ = writeln!(out, "- {}", example.as_str().unwrap_or_default());
        }
    }
    out
}

/// Instructions per decision (callgrind) of every side.
pub fn instructions_table(users: u64, counts: &[(Side, Option<f64>)]) -> String {
    if counts.iter().all(|(_, count)| count.is_none()) {
        return "(Instruction counts skipped: valgrind is not installed or failed.)\n".to_owned();
    }
    let theirs = counts
        .iter()
        .find(|(side, _)| *side == Side::Optimizely05)
        .and_then(|(_, count)| *count);
    let mut out = format!(
        "Instructions per decision (callgrind, decide loop only, {} users; deterministic):\n\n",
        thousands(users as f64)
    );
    out.push_str(
        "| side | instructions per decision | `optimizely` 0.5 ÷ side |\n|---|---:|---:|\n",
    );
    for (side, count) in counts {
        let _ = writeln!(
            out,
            "| {side} | {} | {} |",
            thousands(count.unwrap_or(f64::NAN)),
            ratio(theirs, *count),
        );
    }
    out
}

/// Parse-to-first-decision of every side.
pub fn first_decision_table(title: &str, runs: &[Value]) -> String {
    let mut out = format!("#### {title}\n\n");
    out.push_str("| side | median | min | max | runs | first decision (`user0`) | peak RSS |\n");
    out.push_str("|---|---:|---:|---:|---:|---|---:|\n");
    for run in runs {
        let side = run["side"]
            .as_str()
            .and_then(|s| s.parse::<Side>().ok())
            .map_or_else(|| "?".to_owned(), |s| s.to_string());
        if run["ok"] != true {
            let _ = writeln!(
                out,
                "| {side} | cannot load the datafile: {} ||||||",
                run["error"]
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {side} | {} | {} | {} | {} | {} | {} |",
            millis(run["median_s"].as_f64()),
            millis(run["min_s"].as_f64()),
            millis(run["max_s"].as_f64()),
            run["runs"],
            run["variation"]
                .as_str()
                .map_or("no variation".to_owned(), |v| format!("`{v}`")),
            mebibytes(run["peak_rss_kb"].as_f64()),
        );
    }
    out
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

fn millis(seconds: Option<f64>) -> String {
    seconds.map_or("–".to_owned(), |s| format!("{:.2} ms", s * 1e3))
}

fn mebibytes(kb: Option<f64>) -> String {
    kb.filter(|k| k.is_finite())
        .map_or("–".to_owned(), |k| format!("{:.1} MiB", k / 1024.0))
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}
