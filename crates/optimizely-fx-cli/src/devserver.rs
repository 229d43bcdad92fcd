//! `optimizely-fx dev-server`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use clap::Args;
use optimizely_fx_devserver::demo as demo_project;
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};

use crate::CliError;

/// Database file used when `--db` is not given (in the working directory).
const DEFAULT_DB: &str = "optimizely-fx-dev.sqlite";

/// Arguments of `dev-server`.
#[derive(Debug, Args)]
pub(crate) struct DevServerArgs {
    /// Port to listen on (0 picks a free port; the first line printed names the URL).
    #[arg(long, default_value_t = 8800)]
    port: u16,
    /// Address to listen on. Anything but a loopback address also needs
    /// --allow-non-loopback: the server has no authentication of its own.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Allow --bind to use an address that is not a loopback address (logged as a warning).
    #[arg(long)]
    allow_non_loopback: bool,
    /// SQLite file keeping datafile revisions, received events and segments across
    /// restarts; `:memory:` keeps nothing.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_DB)]
    db: PathBuf,
    /// TOML file of segment definitions (static members and/or rules over received ODP
    /// events), loaded at start.
    #[arg(long, value_name = "PATH")]
    segments_file: Option<PathBuf>,
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
        .bind(args.bind)
        .allow_non_loopback(args.allow_non_loopback)
        .database(&args.db)
        .odp_api_key(args.odp_api_key.clone())
        .rewrite_odp_host(!args.keep_odp_host);
    if let Some(path) = &args.segments_file {
        config = config.segments_file(path);
    }
    let mut keys = Vec::new();
    for (key, path) in &args.datafiles {
        let json = std::fs::read_to_string(path)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
        config = config.datafile(key.clone(), json);
        keys.push(key.clone());
    }
    if keys.is_empty() {
        config = config
            .datafile(demo_project::SDK_KEY, demo_project::DATAFILE)
            .segment_rules(demo_project::segments());
        keys.push(demo_project::SDK_KEY.to_owned());
    }
    let server = DevServer::start(config)?;
    print_summary(&server, args, &keys);
    loop {
        std::thread::park();
    }
}

/// What the server offers; the first line names its URL (tools read it with `--port 0`).
fn print_summary(server: &DevServerHandle, args: &DevServerArgs, keys: &[String]) {
    println!("dev server listening on {}", server.url());
    println!("  inspector {}", server.inspector_url());
    println!("  database  {}", args.db.display());
    for key in keys {
        println!(
            "  datafile  {}",
            server.datafile_url_template().replace("{sdk_key}", key)
        );
    }
    println!("  events    {}", server.event_endpoint());
    println!(
        "  odp       {}/v3/events, {}/v3/graphql",
        server.url(),
        server.url()
    );
    let segments = server.segment_definitions().len();
    println!("  segments  {segments} defined");
    println!("press Ctrl-C to stop");
}
