//! `optimizely-fx segments`: a user's qualified ODP segments, and optionally a decision made
//! with them.

use std::time::Duration;

use clap::Args;
use optimizely_fx::{DecideOption, SegmentOption};

use crate::CliError;
use crate::source::SourceArgs;

/// Arguments of `segments`.
#[derive(Debug, Args)]
pub(crate) struct SegmentsArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The user whose segments to fetch (sent as `fs_user_id`).
    #[arg(long, value_name = "ID")]
    user_id: String,
    /// Fetch option (repeatable): IGNORE_CACHE or RESET_CACHE.
    #[arg(long = "option", value_name = "NAME")]
    options: Vec<SegmentOption>,
    /// Also decide this flag for the user with the fetched segments (no event is sent).
    #[arg(long, value_name = "FLAG")]
    decide: Option<String>,
}

pub(crate) fn run(args: &SegmentsArgs) -> Result<(), CliError> {
    let client = args.source.ready_client(args.source.builder())?;
    let mut user = client.create_user_context(args.user_id.clone(), Vec::<(String, String)>::new());
    let fetched = user.fetch_qualified_segments(&args.options);
    let result = fetched.map_err(CliError::from).and_then(|()| {
        let segments = user.qualified_segments().unwrap_or_default();
        println!("{}", serde_json::to_string(&segments)?);
        if let Some(flag) = &args.decide {
            let decision = user.decide(flag, &[DecideOption::DisableDecisionEvent]);
            println!("{}", crate::decide::output_line(&decision, false));
        }
        Ok(())
    });
    client.close(Duration::from_secs(1));
    result
}
