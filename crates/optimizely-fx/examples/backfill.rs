//! Bulk backfill of ODP events from a JSONL file, one event a line:
//! `{"action": "purchased", "type": "fullstack", "identifiers": {"fs_user_id": "u1"}, "data": {"amount": 9.5}}`
//! (`type` and `data` optional).
//!
//! ```sh
//! cargo run -p optimizely-fx --example backfill -- events.jsonl
//! cargo run -p optimizely-fx --example backfill -- --generate 5000 /tmp/sample.jsonl
//! ```
//!
//! `--generate N` first writes N sample events to the file, then backfills it. Progress goes to
//! stderr every 1,000 lines and at the end; each bad line is reported with its number. Exits
//! non-zero when a line was refused or an event was not delivered.
//!
//! Runs against a local dev server started in-process with the demo project, or against a
//! running one (`optimizely-fx dev-server`) when `OPTIMIZELY_SDK_KEY` and
//! `OPTIMIZELY_DATAFILE_URL_TEMPLATE` are set (`OPTIMIZELY_EVENT_ENDPOINT` optionally; by
//! default `/v1/events` on the same server).

#[path = "support/backend.rs"]
mod support;

use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use optimizely_fx::{Client, DeliveryStats, OdpEvent, OdpValue, SendOdpEventError};
use serde::Deserialize;
use serde_json::{Map, Value, json};

const PROGRESS_EVERY: usize = 1_000;
/// Small enough to keep memory flat on huge files: when it is full, the reader waits for
/// delivery rather than dropping events.
const QUEUE_CAPACITY: usize = 1_000;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the queue may stay full without any delivery before the backfill gives up.
const STALL_LIMIT: Duration = Duration::from_secs(30);
const STALL_PAUSE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("backfill failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let args = Args::parse()?;
    if let Some(count) = args.generate {
        write_sample(&args.path, count)?;
        eprintln!("wrote {count} sample events to {}", args.path.display());
    }
    let (builder, _dev_server) = support::backend()?;
    let client = builder.odp_event_queue_capacity(QUEUE_CAPACITY).build()?;
    client.wait_until_ready(Duration::from_secs(10))?;

    let file =
        File::open(&args.path).map_err(|e| format!("cannot open {}: {e}", args.path.display()))?;
    let tally = backfill(&client, BufReader::new(file));
    let report = client.close(FLUSH_TIMEOUT);
    let undelivered = report.odp_events.undelivered;
    let stats = report.odp_events.stats;
    // `dropped` counts the refusals for a full queue; each was followed by a flush and a retry.
    eprintln!(
        "done: {} lines, {} sent, {} refused, {} delivered, {undelivered} undelivered \
         ({} waits for a full queue)",
        tally.lines, tally.sent, tally.refused, stats.sent, stats.dropped
    );
    if let Some(reason) = tally.stopped {
        return Err(reason.into());
    }
    if tally.refused > 0 || stats.sent < tally.sent {
        let lost = tally.sent - stats.sent;
        return Err(format!(
            "{} lines refused, {lost} events not delivered",
            tally.refused
        )
        .into());
    }
    Ok(())
}

struct Args {
    generate: Option<usize>,
    path: PathBuf,
}

impl Args {
    fn parse() -> Result<Args, String> {
        const USAGE: &str = "usage: backfill [--generate N] FILE.jsonl";
        let mut generate = None;
        let mut path = None;
        let mut words = std::env::args().skip(1);
        while let Some(word) = words.next() {
            match word.as_str() {
                "--generate" => {
                    let value = words.next().ok_or(USAGE)?;
                    let count = value.parse().map_err(|_| format!("bad count {value:?}"))?;
                    generate = Some(count);
                }
                _ if path.is_none() && !word.starts_with("--") => path = Some(PathBuf::from(word)),
                _ => return Err(USAGE.to_owned()),
            }
        }
        let path = path.ok_or(USAGE)?;
        Ok(Args { generate, path })
    }
}

/// One line of the input file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    action: String,
    #[serde(rename = "type")]
    event_type: Option<String>,
    identifiers: Map<String, Value>,
    #[serde(default)]
    data: Map<String, Value>,
}

#[derive(Default)]
struct Tally {
    lines: usize,
    sent: u64,
    refused: u64,
    /// Why the backfill stopped before the end of the file.
    stopped: Option<String>,
}

fn backfill(client: &Client, input: impl BufRead) -> Tally {
    let mut tally = Tally::default();
    // Split on bytes: a line that is not UTF-8 is one bad line, not the end of the file.
    for (index, bytes) in input.split(b'\n').enumerate() {
        let number = index + 1;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(error) => {
                tally.stopped = Some(format!("cannot read line {number}: {error}"));
                break;
            }
        };
        tally.lines = number;
        if !bytes.trim_ascii().is_empty() {
            match parse_line(&bytes).and_then(|event| send(client, event, number)) {
                Ok(()) => tally.sent += 1,
                Err(LineError::Bad(message)) => {
                    eprintln!("line {number}: {message}");
                    tally.refused += 1;
                }
                Err(LineError::Fatal(message)) => {
                    tally.stopped = Some(message);
                    break;
                }
            }
        }
        if number % PROGRESS_EVERY == 0 {
            progress(client, &tally);
        }
    }
    if tally.lines % PROGRESS_EVERY != 0 {
        progress(client, &tally);
    }
    tally
}

fn progress(client: &Client, tally: &Tally) {
    eprintln!(
        "line {}: {} sent, {} refused, {} delivered",
        tally.lines,
        tally.sent,
        tally.refused,
        client.odp_stats().sent
    );
}

enum LineError {
    /// This line is skipped.
    Bad(String),
    /// The backfill stops.
    Fatal(String),
}

fn parse_line(bytes: &[u8]) -> Result<OdpEvent, LineError> {
    let line: Line = serde_json::from_slice(bytes).map_err(|e| LineError::Bad(e.to_string()))?;
    let mut event = OdpEvent::new(line.action);
    if let Some(event_type) = line.event_type {
        event = event.event_type(event_type);
    }
    for (key, value) in line.identifiers {
        let Value::String(value) = value else {
            return Err(LineError::Bad(format!(
                "identifier {key:?} is not a string"
            )));
        };
        event = event.identifier(key, value);
    }
    for (key, value) in line.data {
        let Some(value) = OdpValue::from_json(&value) else {
            return Err(LineError::Bad(format!(
                "data {key:?} is an array or object"
            )));
        };
        event = event.data(key, value);
    }
    Ok(event)
}

/// Sends `event`, waiting for room while the queue is full.
fn send(client: &Client, event: OdpEvent, line: usize) -> Result<(), LineError> {
    let mut stalled_since = None;
    loop {
        match client.send_odp_event(event.clone()) {
            Ok(()) => return Ok(()),
            Err(SendOdpEventError::QueueFull) => wait_for_room(client, &mut stalled_since)
                .map_err(|error| LineError::Fatal(format!("stopped at line {line}: {error}")))?,
            Err(error @ SendOdpEventError::Invalid(_)) => {
                return Err(LineError::Bad(error.to_string()));
            }
            Err(error) => return Err(LineError::Fatal(format!("stopped at line {line}: {error}"))),
        }
    }
}

/// Flushes the queue; fails when ODP has taken nothing off it for [`STALL_LIMIT`].
fn wait_for_room(client: &Client, stalled_since: &mut Option<Instant>) -> Result<(), String> {
    let done = |stats: DeliveryStats| stats.sent + stats.failed;
    let before = done(client.odp_stats());
    // A flush also returns when every attempt failed (the events stay queued), so look at the
    // counters to know whether the queue drained.
    client.flush(FLUSH_TIMEOUT);
    if done(client.odp_stats()) > before {
        *stalled_since = None;
        return Ok(());
    }
    let since = *stalled_since.get_or_insert_with(Instant::now);
    if since.elapsed() >= STALL_LIMIT {
        return Err(format!(
            "the event queue is full and ODP accepted nothing for {} s",
            STALL_LIMIT.as_secs()
        ));
    }
    std::thread::sleep(STALL_PAUSE);
    Ok(())
}

/// Writes `count` events of a few users browsing and buying (some of them often enough to
/// qualify for the demo project's `frequent_buyers` segment).
fn write_sample(path: &Path, count: usize) -> Result<(), Box<dyn Error + Send + Sync>> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = BufWriter::new(file);
    let users = count.div_ceil(10).max(1);
    for i in 0..count {
        let user = format!("user-{}", i % users);
        let identifiers = json!({ "fs_user_id": user, "email": format!("{user}@example.com") });
        let line = match i % 3 {
            0 => json!({
                "action": "purchased",
                "identifiers": identifiers,
                "data": { "order_id": format!("order-{i}"), "amount": (i % 50) as f64 + 0.99 },
            }),
            1 => json!({
                "action": "viewed_product",
                "identifiers": identifiers,
                "data": { "product_id": format!("sku-{}", i % 97) },
            }),
            _ => json!({ "action": "signed_in", "type": "account", "identifiers": identifiers }),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
