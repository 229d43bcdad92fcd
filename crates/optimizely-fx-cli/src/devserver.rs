//! `optimizely-fx dev-server`.

use std::path::PathBuf;

use clap::Args;
use optimizely_fx_devserver::{DevServer, DevServerConfig};

use crate::CliError;

/// The demo project's datafile, served under [`DEMO_SDK_KEY`] when no datafile is given.
pub(crate) const DEMO_DATAFILE: &str = include_str!("../assets/demo-datafile.json");
/// SDK key of the demo project.
pub(crate) const DEMO_SDK_KEY: &str = "demo-sdk-key";

/// Arguments of `dev-server`.
#[derive(Debug, Args)]
pub(crate) struct DevServerArgs {
    /// Port on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 8800)]
    port: u16,
    /// Serve a datafile: SDK_KEY=PATH (repeatable). Without any, the demo project is served
    /// under the SDK key `demo-sdk-key`.
    #[arg(long = "datafile", value_name = "SDK_KEY=PATH", value_parser = parse_key_path)]
    datafiles: Vec<(String, PathBuf)>,
    /// Public key the ODP endpoints accept (x-api-key).
    #[arg(long, default_value = "dev-odp-key")]
    odp_api_key: String,
    /// Serve datafiles exactly as given, without pointing their ODP integration at this server.
    #[arg(long)]
    keep_odp_host: bool,
}

fn parse_key_path(value: &str) -> Result<(String, PathBuf), String> {
    match value.split_once('=') {
        Some((key, path)) if !key.is_empty() && !path.is_empty() => {
            Ok((key.to_owned(), PathBuf::from(path)))
        }
        _ => Err(format!("expected SDK_KEY=PATH, got {value:?}")),
    }
}

pub(crate) fn run(args: &DevServerArgs) -> Result<(), CliError> {
    let mut config = DevServerConfig::default()
        .port(args.port)
        .odp_api_key(args.odp_api_key.clone())
        .rewrite_odp_host(!args.keep_odp_host);
    let mut keys = Vec::new();
    for (key, path) in &args.datafiles {
        let json = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
        config = config.datafile(key.clone(), json);
        keys.push(key.clone());
    }
    if keys.is_empty() {
        config = config.datafile(DEMO_SDK_KEY, DEMO_DATAFILE);
        keys.push(DEMO_SDK_KEY.to_owned());
    }
    let server = DevServer::start(config)?;
    println!("dev server listening on {}", server.url());
    for key in &keys {
        println!(
            "  datafile  {}",
            server.datafile_url_template().replace("{sdk_key}", key)
        );
    }
    println!("  events    {}", server.event_endpoint());
    println!("  odp       {}/v3/events, {}/v3/graphql", server.url(), server.url());
    println!("press Ctrl-C to stop");
    loop {
        std::thread::park();
    }
}
