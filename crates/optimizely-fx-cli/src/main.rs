//! The `optimizely-fx` command: inspect datafiles, run the local dev server and the demo.

mod bench;
mod decide;
mod demo;
mod devserver;
mod inspect;
mod segments;
mod send_odp_event;
mod source;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Optimizely Feature Experimentation and Real-Time Segments from the command line.
#[derive(Debug, Parser)]
#[command(name = "optimizely-fx", version, about, propagate_version = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with datafiles.
    #[command(subcommand)]
    Datafile(DatafileCommand),
    /// Run the local dev server (datafile CDN, event endpoint, ODP) until interrupted.
    DevServer(devserver::DevServerArgs),
    /// Run the offline demo against an in-process dev server.
    Demo(demo::DemoArgs),
    /// Send ODP events (one from flags, or many from a JSONL file), then flush and report.
    SendOdpEvent(send_odp_event::SendOdpEventArgs),
    /// Fetch a user's qualified ODP segments (and optionally decide a flag with them).
    Segments(segments::SegmentsArgs),
    /// Decide flags for users from a JSONL file: one JSON line per user and flag.
    Decide(decide::DecideArgs),
    /// Measure the SDK's speed.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum DatafileCommand {
    /// Show what a datafile holds: revision, counts, ODP integration.
    Inspect(inspect::InspectArgs),
}

/// A failure the command reports on stderr before exiting with status 1.
#[derive(Debug)]
pub(crate) struct CliError(String);

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(error: E) -> Self {
        CliError(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Datafile(DatafileCommand::Inspect(args)) => inspect::run(&args),
        Command::DevServer(args) => devserver::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::SendOdpEvent(args) => send_odp_event::run(&args),
        Command::Segments(args) => segments::run(&args),
        Command::Decide(args) => decide::run(&args),
        Command::Bench(command) => bench::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("OPTIMIZELY_FX_LOG")
        .init();
}
