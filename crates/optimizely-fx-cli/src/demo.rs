//! `optimizely-fx demo`: the Real-Time Segments story against an in-process dev server,
//! offline, in seconds.

use std::time::Duration;

use clap::Args;
use optimizely_fx::{Client, OdpEvent};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};

use crate::CliError;
use crate::devserver::{DEMO_DATAFILE, DEMO_SDK_KEY, demo_segments};

/// The demo's user.
const USER: &str = "alice";
/// How many purchases qualify a user for `frequent_buyers` (see assets/demo-segments.toml).
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
    send_purchases(&client)?;
    fetch_segments(&client)?;
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
    let config = DevServerConfig::default()
        .datafile(DEMO_SDK_KEY, DEMO_DATAFILE)
        .segment_rules(demo_segments()?);
    let server = DevServer::start(config)?;
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
        .sdk_key(DEMO_SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
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

fn fetch_segments(client: &Client) -> Result<(), CliError> {
    step(&format!("Fetch {USER}'s qualified segments from ODP"));
    let segments = client.fetch_qualified_segments(USER, &[])?;
    println!("  {USER} qualifies for {segments:?}");
    if !segments.iter().any(|s| s == "frequent_buyers") {
        return Err(CliError::new(format!(
            "{USER} should qualify for frequent_buyers, got {segments:?}"
        )));
    }
    Ok(())
}

fn finish(client: &Client, server: &DevServerHandle) -> Result<(), CliError> {
    step("Close the client and show what the server received");
    let report = client.close(PATIENCE);
    println!(
        "  client closed: {} ODP events undelivered",
        report.odp_events.undelivered
    );
    let events = server.odp_events();
    println!("  the dev server holds {} ODP events:", events.len());
    for event in &events {
        println!(
            "    {} {} {}",
            event["action"].as_str().unwrap_or("?"),
            event["identifiers"],
            event["data"]["order_id"]
        );
    }
    Ok(())
}
