//! Where a command gets its datafile: a file, or an SDK key fetched like the SDK does.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use optimizely_fx::{Client, ClientBuilder};

use crate::CliError;

/// Datafile source options shared by the commands that need a project.
#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    #[command(flatten)]
    choice: SourceChoice,
    /// URL template for --sdk-key, with a {sdk_key} placeholder
    /// (default: the Optimizely CDN).
    #[arg(long, value_name = "TEMPLATE", requires = "sdk_key")]
    pub(crate) datafile_url_template: Option<String>,
    /// Datafile access token for authenticated datafiles (or set OPTIMIZELY_DATAFILE_ACCESS_TOKEN).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "OPTIMIZELY_DATAFILE_ACCESS_TOKEN",
        hide_env_values = true,
        requires = "sdk_key"
    )]
    pub(crate) access_token: Option<String>,
    /// How long to wait for the datafile, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub(crate) ready_timeout: f64,
}

/// Exactly one of a datafile file or an SDK key.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct SourceChoice {
    /// Read the datafile from this file.
    #[arg(long, value_name = "PATH")]
    datafile: Option<PathBuf>,
    /// Fetch the datafile for this SDK key.
    #[arg(long, value_name = "KEY")]
    sdk_key: Option<String>,
}

impl SourceArgs {
    /// A client builder for this source; the caller may add settings before building.
    pub(crate) fn builder(&self) -> ClientBuilder {
        let mut builder = Client::builder();
        if let Some(path) = &self.choice.datafile {
            builder = builder.datafile_file(path);
        }
        if let Some(key) = &self.choice.sdk_key {
            builder = builder.sdk_key(key);
        }
        if let Some(template) = &self.datafile_url_template {
            builder = builder.datafile_url_template(template);
        }
        if let Some(token) = &self.access_token {
            builder = builder.datafile_access_token(token);
        }
        builder
    }

    /// Builds the client and waits until it has a datafile.
    pub(crate) fn ready_client(&self, builder: ClientBuilder) -> Result<Client, CliError> {
        let timeout = parse_seconds(self.ready_timeout)?;
        let client = builder.build()?;
        client.wait_until_ready(timeout)?;
        Ok(client)
    }
}

pub(crate) fn parse_seconds(seconds: f64) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| CliError::new(format!("invalid number of seconds: {seconds}")))
}
