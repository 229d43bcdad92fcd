//! `optimizely-fx demo`: the SDK against an in-process dev server, offline, in seconds.

use std::time::Duration;

use clap::Args;
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};

use crate::CliError;
use crate::devserver::{DEMO_DATAFILE, DEMO_SDK_KEY};

/// Arguments of `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the dev server running after the demo (until interrupted).
    #[arg(long)]
    keep_running: bool,
}

pub(crate) fn run(args: &DemoArgs) -> Result<(), CliError> {
    step("Start the local dev server");
    let server =
        DevServer::start(DevServerConfig::default().datafile(DEMO_SDK_KEY, DEMO_DATAFILE))?;
    println!("  listening on {}", server.url());

    step("Load the demo project by SDK key");
    let client = optimizely_fx::Client::builder()
        .sdk_key(DEMO_SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .build()?;
    client.wait_until_ready(Duration::from_secs(10))?;
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
    println!("  ODP: {}", summary["odp"]);

    client.close(Duration::from_secs(5));
    finish(&server, args.keep_running);
    Ok(())
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn finish(server: &DevServerHandle, keep_running: bool) {
    if keep_running {
        println!(
            "\nDev server still running at {} (Ctrl-C to stop)",
            server.url()
        );
        loop {
            std::thread::park();
        }
    }
    println!("\nDone.");
}
