//! The SDK in one page: load a project by SDK key, decide a flag for a user, send an ODP event,
//! track a conversion, close.
//!
//! ```sh
//! cargo run -p optimizely-fx --example quickstart
//! ```
//!
//! Runs against a local dev server started in-process with the demo project, or against a
//! running one (`optimizely-fx dev-server`) when `OPTIMIZELY_SDK_KEY` and
//! `OPTIMIZELY_DATAFILE_URL_TEMPLATE` are set (`OPTIMIZELY_EVENT_ENDPOINT` optionally; by
//! default `/v1/events` on the same server).

#[path = "support/backend.rs"]
mod support;

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use optimizely_fx::{DecideOption, OdpEvent};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("quickstart failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    // The dev server, if started here, must outlive the client.
    let (builder, _dev_server) = support::backend()?;
    let client = builder.build()?;
    client.wait_until_ready(PATIENCE)?;

    let user = client.create_user_context("alice", [("country", "US"), ("plan", "premium")]);
    let decision = user.decide("new_checkout", &[DecideOption::IncludeReasons]);
    println!(
        "new_checkout for alice: enabled={} variation={:?} rule={:?}",
        decision.enabled, decision.variation_key, decision.rule_key
    );
    println!(
        "  variables: {}",
        serde_json::to_string(&decision.variables)?
    );
    for reason in &decision.reasons {
        println!("  because: {reason}");
    }
    if decision.variation_key.is_none() {
        return Err("new_checkout got no variation (is this the demo project?)".into());
    }

    client.send_odp_event(
        OdpEvent::new("purchased")
            .identifier("fs_user_id", "alice")
            .identifier("email", "alice@example.com")
            .data("order_id", "order-1")
            .data("amount", 59.97),
    )?;
    user.track_event(
        "purchase",
        [("revenue", json!(5997)), ("value", json!(59.97))],
    )?;

    // Close sends whatever is still queued, waiting at most PATIENCE.
    let report = client.close(PATIENCE);
    for (name, queue) in [
        ("ODP", report.odp_events),
        ("impression/conversion", report.events),
    ] {
        println!(
            "{name} events: {} delivered, {} retried, {} failed, {} undelivered",
            queue.stats.sent, queue.stats.retried, queue.stats.failed, queue.undelivered
        );
    }
    let undelivered = report.odp_events.undelivered + report.events.undelivered;
    if undelivered > 0 {
        return Err(format!("{undelivered} events were not delivered").into());
    }
    Ok(())
}
