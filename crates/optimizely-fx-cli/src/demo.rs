//! `optimizely-fx demo`: the Real-Time Segments story against an in-process dev server,
//! offline, in seconds.

use std::time::Duration;

use clap::Args;
use optimizely_fx::{Client, Decision, OdpEvent, UserContext};
use optimizely_fx_devserver::demo as demo_project;
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};

use crate::CliError;

/// The demo's user.
const USER: &str = "alice";
/// The flag whose rule targets the `frequent_buyers` ODP segment.
const SEGMENT_FLAG: &str = "vip_banner";
/// The flag with an A/B test for premium customers in the US.
const EXPERIMENT_FLAG: &str = "new_checkout";
/// How many purchases qualify a user for `frequent_buyers` (the dev server's demo segments).
const PURCHASES: u32 = 3;
const PATIENCE: Duration = Duration::from_secs(10);

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the dev server running after the demo and print the inspector URL (until
    /// interrupted).
    #[arg(long)]
    keep_running: bool,
}

pub(crate) fn run(args: &DemoArgs) -> Result<(), CliError> {
    let server = start_server()?;
    let client = load_project(&server)?;
    let mut user = client.create_user_context(
        USER,
        [
            ("country", "US"),
            ("plan", "premium"),
            ("app_version", "2.1.0"),
        ],
    );
    let before = decide(&user, "before any ODP event")?;
    expect_enabled(&before, false)?;
    send_purchases(&client)?;
    fetch_segments(&mut user)?;
    let after = decide(&user, "with the fetched segments")?;
    expect_enabled(&after, true)?;
    track_conversion(&user)?;
    finish(&client, &server)?;
    if args.keep_running {
        println!(
            "\nDev server still running; inspector at {} (Ctrl-C to stop)",
            server.inspector_url()
        );
        loop {
            std::thread::park();
        }
    }
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn start_server() -> Result<DevServerHandle, CliError> {
    step("Start the local dev server");
    let server = DevServer::start(DevServerConfig::demo())?;
    println!(
        "  listening on {} (datafile CDN, event endpoint, ODP)",
        server.url()
    );
    println!("  segment frequent_buyers: at least {PURCHASES} \"purchased\" events in 30 days");
    Ok(server)
}

fn load_project(server: &DevServerHandle) -> Result<Client, CliError> {
    step("Load the demo project by SDK key");
    let client = Client::builder()
        .sdk_key(demo_project::SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .event_endpoint(server.event_endpoint())
        .build()?;
    client.wait_until_ready(PATIENCE)?;
    let config = client
        .config()
        .ok_or_else(|| CliError::new("the client is ready but has no datafile"))?;
    let summary = crate::inspect::summarize(&config);
    println!(
        "  revision {}: {} flags, {} experiments, {} audiences",
        summary["revision"].as_str().unwrap_or_default(),
        summary["flags"],
        summary["experiments"],
        summary["audiences"]
    );
    println!(
        "  ODP integrated: host {}, segments used by audiences {}",
        summary["odp"]["host"].as_str().unwrap_or("-"),
        summary["odp"]["segments"]
    );
    Ok(client)
}

fn send_purchases(client: &Client) -> Result<(), CliError> {
    step(&format!(
        "Send {PURCHASES} ODP events for {USER} with send_odp_event"
    ));
    for order in 1..=PURCHASES {
        client.send_odp_event(
            OdpEvent::new("purchased")
                .identifier("fs_user_id", USER)
                .identifier("email", format!("{USER}@example.com"))
                .data("order_id", format!("order-{order}"))
                .data("amount", 19.99 * f64::from(order)),
        )?;
        println!("  queued purchased (order-{order})");
    }
    if !client.flush(PATIENCE) {
        return Err(CliError::new("ODP events were not delivered in time"));
    }
    let stats = client.odp_stats();
    println!(
        "  flushed: {} delivered, {} failed, {} still queued",
        stats.sent, stats.failed, stats.queued
    );
    if stats.sent != u64::from(PURCHASES) {
        return Err(CliError::new(format!(
            "expected {PURCHASES} delivered ODP events, got {}",
            stats.sent
        )));
    }
    Ok(())
}

fn decide(user: &UserContext, when: &str) -> Result<Decision, CliError> {
    step(&format!(
        "Decide {SEGMENT_FLAG} and {EXPERIMENT_FLAG} for {USER} {when}"
    ));
    for flag in [SEGMENT_FLAG, EXPERIMENT_FLAG] {
        let decision = user.decide(flag, &[]);
        println!(
            "  {flag}: enabled={} variation={} rule={} variables={}",
            decision.enabled,
            decision.variation_key.as_deref().unwrap_or("-"),
            decision.rule_key.as_deref().unwrap_or("-"),
            serde_json::to_string(&decision.variables)?
        );
    }
    Ok(user.decide(
        SEGMENT_FLAG,
        &[optimizely_fx::DecideOption::DisableDecisionEvent],
    ))
}

fn expect_enabled(decision: &Decision, enabled: bool) -> Result<(), CliError> {
    if decision.enabled == enabled {
        return Ok(());
    }
    Err(CliError::new(format!(
        "expected {SEGMENT_FLAG} to be {} for {USER}, got variation {:?}",
        if enabled { "on" } else { "off" },
        decision.variation_key
    )))
}

fn fetch_segments(user: &mut UserContext) -> Result<(), CliError> {
    step(&format!("Fetch {USER}'s qualified segments from ODP"));
    user.fetch_qualified_segments(&[])?;
    let segments = user.qualified_segments().unwrap_or_default();
    println!("  {USER} qualifies for {segments:?}");
    if !user.is_qualified_for("frequent_buyers") {
        return Err(CliError::new(format!(
            "{USER} should qualify for frequent_buyers, got {segments:?}"
        )));
    }
    Ok(())
}

fn track_conversion(user: &UserContext) -> Result<(), CliError> {
    step(&format!("Track a purchase conversion for {USER}"));
    user.track_event(
        "purchase",
        [
            ("revenue", serde_json::json!(5997)),
            ("value", serde_json::json!(59.97)),
        ],
    )?;
    println!("  tracked purchase (revenue 5997 cents)");
    Ok(())
}

fn finish(client: &Client, server: &DevServerHandle) -> Result<(), CliError> {
    step("Flush, close, and show what the dev server received");
    let report = client.close(PATIENCE);
    println!(
        "  client closed: {} ODP events and {} impression/conversion events undelivered",
        report.odp_events.undelivered, report.events.undelivered
    );
    let odp_events = server.odp_events();
    println!("  ODP events: {}", odp_events.len());
    for event in &odp_events {
        println!(
            "    {} {} {}",
            event["action"].as_str().unwrap_or("?"),
            event["identifiers"],
            event["data"]["order_id"]
        );
    }
    let (impressions, conversions) = count_log_events(&server.log_event_batches());
    println!("  impressions: {}", impressions.len());
    for line in &impressions {
        println!("    {line}");
    }
    println!("  conversions: {}", conversions.len());
    for line in &conversions {
        println!("    {line}");
    }
    if report.odp_events.undelivered + report.events.undelivered > 0 || conversions.is_empty() {
        return Err(CliError::new("not everything reached the dev server"));
    }
    Ok(())
}

/// One line per impression and per conversion found in the received event batches.
fn count_log_events(batches: &[serde_json::Value]) -> (Vec<String>, Vec<String>) {
    let mut impressions = Vec::new();
    let mut conversions = Vec::new();
    let snapshots = batches
        .iter()
        .flat_map(|batch| batch["visitors"].as_array().into_iter().flatten())
        .flat_map(|visitor| {
            let id = visitor["visitor_id"].as_str().unwrap_or("?").to_owned();
            let snapshots = visitor["snapshots"].as_array().cloned().unwrap_or_default();
            snapshots.into_iter().map(move |s| (id.clone(), s))
        });
    for (visitor, snapshot) in snapshots {
        for decision in snapshot["decisions"].as_array().into_iter().flatten() {
            let meta = &decision["metadata"];
            impressions.push(format!(
                "{visitor}: {} -> {} (rule {}, {})",
                meta["flag_key"].as_str().unwrap_or("?"),
                meta["variation_key"].as_str().unwrap_or("?"),
                meta["rule_key"].as_str().unwrap_or("?"),
                meta["rule_type"].as_str().unwrap_or("?")
            ));
        }
        if snapshot.get("decisions").is_none() {
            for event in snapshot["events"].as_array().into_iter().flatten() {
                conversions.push(format!(
                    "{visitor}: {} revenue={} value={}",
                    event["key"].as_str().unwrap_or("?"),
                    event["revenue"],
                    event["value"]
                ));
            }
        }
    }
    (impressions, conversions)
}
