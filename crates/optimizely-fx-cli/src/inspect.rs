//! `optimizely-fx datafile inspect`.

use std::time::Duration;

use clap::Args;
use optimizely_fx::ProjectConfig;
use serde_json::json;

use crate::CliError;
use crate::source::SourceArgs;

/// Arguments of `datafile inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &InspectArgs) -> Result<(), CliError> {
    let client = args.source.ready_client(args.source.builder())?;
    let config = client
        .config()
        .ok_or_else(|| CliError::new("the client has no datafile"))?;
    client.close(Duration::from_secs(1));
    let summary = summarize(&config);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render_text(&summary));
    }
    Ok(())
}

/// What `inspect` reports; the ODP public key is never included.
pub(crate) fn summarize(config: &ProjectConfig) -> serde_json::Value {
    let odp = match config.odp() {
        Some(odp) => json!({
            "integrated": true,
            "host": odp.host,
            "public_key": "<redacted>",
            "segments": odp.segments_to_check,
        }),
        None => json!({ "integrated": false }),
    };
    json!({
        "version": config.version().to_string(),
        "revision": config.revision(),
        "account_id": config.account_id(),
        "project_id": config.project_id(),
        "sdk_key": config.sdk_key(),
        "environment_key": config.environment_key(),
        "flags": config.flag_count(),
        "experiments": config.experiment_count(),
        "audiences": config.audience_count(),
        "odp": odp,
    })
}

fn render_text(summary: &serde_json::Value) -> String {
    let field = |name: &str| match &summary[name] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let mut out = String::new();
    for name in [
        "version",
        "revision",
        "account_id",
        "project_id",
        "sdk_key",
        "environment_key",
        "flags",
        "experiments",
        "audiences",
    ] {
        out.push_str(&format!("{name:<16}{}\n", field(name)));
    }
    let odp = &summary["odp"];
    if odp["integrated"] == true {
        out.push_str(&format!(
            "{:<16}integrated (host {}, public key <redacted>)\n{:<16}{}\n",
            "odp",
            odp["host"].as_str().unwrap_or_default(),
            "segments",
            odp["segments"]
        ));
    } else {
        out.push_str(&format!("{:<16}not integrated\n", "odp"));
    }
    out
}
