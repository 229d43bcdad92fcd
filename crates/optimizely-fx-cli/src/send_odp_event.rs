//! `optimizely-fx send-odp-event`: send one event from flags, or many from a JSONL file.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use optimizely_fx::{Client, OdpEvent, OdpValue};
use serde_json::{Value, json};

use crate::CliError;
use crate::source::{SourceArgs, parse_seconds};

/// How many input lines pass between two progress lines on stderr.
const PROGRESS_EVERY: usize = 10_000;

/// Arguments of `send-odp-event`.
#[derive(Debug, Args)]
pub(crate) struct SendOdpEventArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    input: EventInput,
    /// Event type (default: fullstack).
    #[arg(long = "type", value_name = "TYPE", requires = "action")]
    event_type: Option<String>,
    /// Identifier KEY=VALUE (repeatable), e.g. --identifier fs_user_id=user123.
    #[arg(long = "identifier", value_name = "KEY=VALUE", value_parser = parse_identifier, requires = "action")]
    identifiers: Vec<(String, String)>,
    /// Data KEY=JSON (repeatable): a JSON string, number, bool or null, e.g. --data count=2.
    /// A value that is not valid JSON is sent as a string.
    #[arg(long = "data", value_name = "KEY=JSON", value_parser = parse_data, requires = "action")]
    data: Vec<(String, Value)>,
    /// How long to wait for delivery when closing, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    flush_timeout: f64,
}

/// One event from flags, or a file of events.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct EventInput {
    /// The event's action.
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// A JSONL file, one event per line: {"action", "type"?, "identifiers"?, "data"?}.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
}

fn parse_identifier(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {value:?}"))
}

fn parse_data(value: &str) -> Result<(String, Value), String> {
    let (key, raw) = value
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=JSON, got {value:?}"))?;
    let parsed = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.to_owned(), parsed))
}

pub(crate) fn run(args: &SendOdpEventArgs) -> Result<(), CliError> {
    let flush_timeout = parse_seconds(args.flush_timeout)?;
    let client = args.source.ready_client(args.source.builder())?;
    let mut tally = Tally::default();
    let mut out = std::io::stdout().lock();
    match &args.input.events {
        Some(path) => send_file(&client, path, &mut tally, &mut out)?,
        None => {
            let event = event_from_flags(args);
            let outcome = event.and_then(|event| send(&client, event));
            tally.record(1, outcome, &mut out)?;
        }
    }
    finish(&client, flush_timeout, &tally, &mut out)
}

fn event_from_flags(args: &SendOdpEventArgs) -> Result<OdpEvent, String> {
    let mut event = OdpEvent::new(args.input.action.clone().unwrap_or_default());
    if let Some(event_type) = &args.event_type {
        event = event.event_type(event_type.clone());
    }
    event = event.identifiers(args.identifiers.iter().cloned());
    for (key, value) in &args.data {
        event = event.data(key.clone(), odp_value(key, value)?);
    }
    Ok(event)
}

fn send_file(
    client: &Client,
    path: &PathBuf,
    tally: &mut Tally,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index + 1;
        let line =
            line.map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let outcome = event_from_line(&line).and_then(|event| send(client, event));
        tally.record(number, outcome, out)?;
        if number % PROGRESS_EVERY == 0 {
            eprintln!("{number} lines read, {} accepted", tally.accepted);
        }
    }
    Ok(())
}

/// Parses one JSONL line: `{"action", "type"?, "identifiers"?, "data"?}`.
fn event_from_line(line: &str) -> Result<OdpEvent, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("expected a JSON object with an \"action\"")?;
    let action = match object.get("action") {
        Some(Value::String(action)) => action.clone(),
        Some(_) => return Err("\"action\" must be a string".into()),
        None => return Err("missing \"action\"".into()),
    };
    let mut event = OdpEvent::new(action);
    match object.get("type") {
        Some(Value::String(t)) => event = event.event_type(t.clone()),
        Some(Value::Null) | None => {}
        Some(_) => return Err("\"type\" must be a string".into()),
    }
    for (key, value) in members(object, "identifiers")? {
        let Value::String(value) = value else {
            return Err(format!("identifier {key:?} must be a string"));
        };
        event = event.identifier(key.clone(), value.clone());
    }
    for (key, value) in members(object, "data")? {
        event = event.data(key.clone(), odp_value(key, value)?);
    }
    Ok(event)
}

fn members<'a>(
    object: &'a serde_json::Map<String, Value>,
    field: &str,
) -> Result<Vec<(&'a String, &'a Value)>, String> {
    match object.get(field) {
        Some(Value::Object(map)) => Ok(map.iter().collect()),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(_) => Err(format!("\"{field}\" must be an object")),
    }
}

fn odp_value(key: &str, value: &Value) -> Result<OdpValue, String> {
    OdpValue::from_json(value).ok_or_else(|| {
        format!("ODP data is not valid. (key \"{key}\": arrays and objects cannot be sent)")
    })
}

fn send(client: &Client, event: OdpEvent) -> Result<(), String> {
    client.send_odp_event(event).map_err(|e| e.to_string())
}

#[derive(Debug, Default)]
struct Tally {
    accepted: u64,
    refused: u64,
}

impl Tally {
    fn record(
        &mut self,
        line: usize,
        outcome: Result<(), String>,
        out: &mut impl Write,
    ) -> Result<(), CliError> {
        let result = match outcome {
            Ok(()) => {
                self.accepted += 1;
                json!({ "line": line, "accepted": true })
            }
            Err(error) => {
                self.refused += 1;
                json!({ "line": line, "accepted": false, "error": error })
            }
        };
        writeln!(out, "{result}")?;
        Ok(())
    }
}

fn finish(
    client: &Client,
    flush_timeout: Duration,
    tally: &Tally,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let report = client.close(flush_timeout);
    let stats = report.odp_events.stats;
    let summary = json!({
        "summary": {
            "accepted": tally.accepted,
            "refused": tally.refused,
            "delivered": stats.sent,
            "failed": stats.failed,
            "undelivered": report.odp_events.undelivered,
            "retried": stats.retried,
        }
    });
    writeln!(out, "{summary}")?;
    let all_delivered = stats.sent == tally.accepted && report.odp_events.undelivered == 0;
    if tally.refused == 0 && all_delivered {
        Ok(())
    } else {
        Err(CliError::new(format!(
            "{} of {} events refused, {} of {} accepted events delivered",
            tally.refused,
            tally.accepted + tally.refused,
            stats.sent,
            tally.accepted
        )))
    }
}
