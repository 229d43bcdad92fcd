//! `optimizely-fx decide`: decide flags for a file of users, one JSON line per user and flag.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use optimizely_fx::{
    AttributeValue, Attributes, Client, DecideOption, Decision, ProjectConfig, UserContext,
};
use serde_json::{Map, Value, json};

use crate::CliError;
use crate::source::{SourceArgs, parse_seconds};

/// How long closing waits when no events are sent (nothing should be queued).
const QUIET_CLOSE: Duration = Duration::from_millis(200);

/// Arguments of `decide`.
#[derive(Debug, Args)]
pub(crate) struct DecideArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// A JSONL file, one user per line:
    /// {"user_id": "...", "attributes": {...}?, "segments": ["..."]?}.
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    /// Flags to decide, comma-separated, in output order (default: every flag, in datafile
    /// order).
    #[arg(long, value_name = "KEY,...", value_delimiter = ',')]
    flags: Vec<String>,
    /// A decide option (repeatable): DISABLE_DECISION_EVENT, ENABLED_FLAGS_ONLY,
    /// IGNORE_USER_PROFILE_SERVICE, INCLUDE_REASONS, EXCLUDE_VARIABLES.
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<DecideOption>,
    /// Send impression events (default: none are sent).
    #[arg(long)]
    send_events: bool,
    /// Where impression events go with --send-events (default: the datafile region's logx
    /// endpoint).
    #[arg(long, value_name = "URL")]
    event_endpoint: Option<String>,
    /// Fetch each user's qualified segments from ODP instead of reading "segments".
    #[arg(long)]
    fetch_segments: bool,
    /// With --send-events: how long to wait for delivery when closing, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    flush_timeout: f64,
}

/// One input line.
struct UserLine {
    user_id: String,
    attributes: Attributes,
    segments: Option<Vec<String>>,
}

pub(crate) fn run(args: &DecideArgs) -> Result<(), CliError> {
    let flush_timeout = parse_seconds(args.flush_timeout)?;
    let users = std::fs::File::open(&args.users)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.users.display())))?;
    let client = args.source.ready_client(builder(args))?;
    let config = client
        .config()
        .ok_or_else(|| CliError::new("the client has no datafile"))?;
    let result = flag_keys(&config, &args.flags)
        .and_then(|flags| decide_file(&client, args, &flags, BufReader::new(users)));
    let closed = close(&client, args.send_events, flush_timeout);
    result.and(closed)
}

fn builder(args: &DecideArgs) -> optimizely_fx::ClientBuilder {
    let mut builder = args.source.builder();
    if let Some(url) = &args.event_endpoint {
        builder = builder.event_endpoint(url);
    }
    if !args.send_events {
        builder = builder.default_decide_options(&[DecideOption::DisableDecisionEvent]);
    }
    builder
}

/// The flags asked for (each must be in the datafile), or every flag in datafile order.
fn flag_keys(config: &ProjectConfig, asked: &[String]) -> Result<Vec<String>, CliError> {
    if asked.is_empty() {
        return Ok(config.flags().map(|f| f.key().to_owned()).collect());
    }
    match asked.iter().find(|key| config.flag_by_key(key).is_none()) {
        Some(unknown) => Err(CliError::new(format!(
            "flag {unknown:?} is not in the datafile"
        ))),
        None => Ok(asked.to_vec()),
    }
}

fn decide_file(
    client: &Client,
    args: &DecideArgs,
    flags: &[String],
    users: impl BufRead,
) -> Result<(), CliError> {
    let path = args.users.display();
    let with_reasons = args.options.contains(&DecideOption::IncludeReasons);
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (index, line) in users.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| CliError::new(format!("cannot read {path}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let input =
            parse_user(&line).map_err(|e| CliError::new(format!("{path}: line {number}: {e}")))?;
        let user = user_context(client, input, args.fetch_segments, number);
        for decision in &user.decide_for_keys(flags, &args.options) {
            writeln!(out, "{}", output_line(decision, with_reasons))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn user_context(client: &Client, input: UserLine, fetch: bool, number: usize) -> UserContext {
    let mut user = client.create_user_context(input.user_id, input.attributes);
    if !fetch {
        user.set_qualified_segments(input.segments);
    } else if let Err(error) = user.fetch_qualified_segments(&[]) {
        eprintln!("line {number}: {error}; deciding without segments");
    }
    user
}

/// Parses `{"user_id": "...", "attributes": {...}?, "segments": ["..."]?}`.
fn parse_user(line: &str) -> Result<UserLine, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("expected a JSON object with a \"user_id\"")?;
    let user_id = match object.get("user_id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err("\"user_id\" must be a string".into()),
        None => return Err("missing \"user_id\"".into()),
    };
    Ok(UserLine {
        user_id,
        attributes: attributes(object.get("attributes"))?,
        segments: segments(object.get("segments"))?,
    })
}

fn attributes(value: Option<&Value>) -> Result<Attributes, String> {
    let map = match value {
        Some(Value::Object(map)) => map,
        Some(Value::Null) | None => return Ok(Attributes::new()),
        Some(_) => return Err("\"attributes\" must be an object".into()),
    };
    let mut attributes = Attributes::new();
    for (key, value) in map {
        let value = AttributeValue::from_json(value).ok_or_else(|| {
            format!("attribute {key:?} must be a string, number, boolean or null")
        })?;
        attributes.insert(key.clone(), value);
    }
    Ok(attributes)
}

fn segments(value: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    let list = match value {
        Some(Value::Array(list)) => list,
        Some(Value::Null) | None => return Ok(None),
        Some(_) => return Err("\"segments\" must be an array of strings".into()),
    };
    list.iter()
        .map(|segment| match segment {
            Value::String(name) => Ok(name.clone()),
            _ => Err("\"segments\" must be an array of strings".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

pub(crate) fn output_line(decision: &Decision, with_reasons: bool) -> Value {
    let mut line = Map::new();
    line.insert("user_id".into(), decision.user_context.user_id().into());
    line.insert("flag_key".into(), decision.flag_key.clone().into());
    line.insert("enabled".into(), decision.enabled.into());
    line.insert(
        "variation_key".into(),
        decision.variation_key.clone().into(),
    );
    line.insert("rule_key".into(), decision.rule_key.clone().into());
    line.insert("variables".into(), decision.variables.to_json());
    if with_reasons {
        line.insert("reasons".into(), json!(decision.reasons));
    }
    Value::Object(line)
}

/// Closes the client; with events, fails unless every impression was delivered.
fn close(client: &Client, send_events: bool, flush_timeout: Duration) -> Result<(), CliError> {
    if !send_events {
        client.close(QUIET_CLOSE);
        return Ok(());
    }
    let report = client.close(flush_timeout).events;
    eprintln!(
        "events: {} delivered, {} failed, {} undelivered",
        report.stats.sent, report.stats.failed, report.undelivered
    );
    if report.stats.failed > 0 || report.undelivered > 0 || report.stats.dropped > 0 {
        return Err(CliError::new(format!(
            "{} impression events were not delivered",
            report.stats.failed + report.stats.dropped
        )));
    }
    Ok(())
}
