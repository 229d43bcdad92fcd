//! Error types of the client layer: building a client, waiting for it to be ready, and the
//! reasons a datafile fetch can fail.
//!
//! None of these types ever carries the datafile access token.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use optimizely_fx_core::DatafileError;

use crate::http::HttpError;

/// Why [`ClientBuilder::build`](crate::ClientBuilder::build) refused to build a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a datafile nor an SDK key was given, so there is no way to get a config.
    #[error("sdk_key or datafile must be provided")]
    MissingSdkKeyOrDatafile,
    /// The SDK key was empty.
    #[error("sdk_key must not be empty")]
    EmptySdkKey,
    /// A datafile access token was given without an SDK key; it would never be used.
    #[error("a datafile access token needs an sdk_key to fetch the datafile with")]
    AccessTokenWithoutSdkKey,
    /// The datafile request timeout is zero; every request would fail.
    #[error("datafile_request_timeout must be greater than zero")]
    ZeroDatafileRequestTimeout,
    /// The datafile file given to
    /// [`ClientBuilder::datafile_file`](crate::ClientBuilder::datafile_file) could not be read.
    #[error("cannot read datafile file {path}: {source}")]
    DatafileFile {
        /// The path as given to the builder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The datafile given to the builder is not a valid datafile.
    #[error("invalid datafile: {0}")]
    InvalidDatafile(#[source] DatafileError),
    /// The background datafile poller thread could not be started.
    #[error("cannot start the datafile poller thread: {0}")]
    SpawnPoller(#[source] std::io::Error),
}

/// Why a datafile fetch did not produce a usable config. The old config, if any, is kept.
///
/// Cheap to clone; the messages never contain the datafile access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request did not get a response (connection refused or dropped, timeout, ...).
    #[error("datafile request failed: {0}")]
    Transport(#[source] HttpError),
    /// The server answered with a status other than 2xx or 304.
    #[error("datafile request returned HTTP status {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
    },
    /// The server answered 2xx but the body is not UTF-8 text.
    #[error("fetched datafile is not valid UTF-8")]
    NotUtf8,
    /// The server answered 2xx but the body is not a valid datafile.
    #[error("fetched datafile is invalid: {0}")]
    InvalidDatafile(#[source] DatafileError),
}

/// Why a client did not become ready (see [`Client::wait_until_ready`](crate::Client::wait_until_ready)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadyError {
    /// No config was available before the timeout expired.
    #[error("client not ready: timeout expired after {} ms{}", timeout.as_millis(), LastFailure(last_failure))]
    Timeout {
        /// The timeout that expired.
        timeout: Duration,
        /// Why the most recent datafile fetch failed, if it did.
        last_failure: Option<FetchError>,
    },
    /// The client was closed before it had a config.
    #[error("client closed before it was ready{}", LastFailure(last_failure))]
    Closed {
        /// Why the most recent datafile fetch failed, if it did.
        last_failure: Option<FetchError>,
    },
}

impl ReadyError {
    /// Why the most recent datafile fetch failed, if one did before this error.
    pub fn last_failure(&self) -> Option<&FetchError> {
        match self {
            ReadyError::Timeout { last_failure, .. } | ReadyError::Closed { last_failure } => {
                last_failure.as_ref()
            }
        }
    }
}

/// Formats `"; last datafile fetch failed: <reason>"`, or nothing.
struct LastFailure<'a>(&'a Option<FetchError>);

impl fmt::Display for LastFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(failure) => write!(f, " (last datafile fetch failed: {failure})"),
            None => Ok(()),
        }
    }
}

/// Why [`Client::send_odp_event`](crate::Client::send_odp_event) refused an event.
///
/// None of these carries the ODP public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendOdpEventError {
    /// The client has no datafile yet.
    #[error("ODP event not sent: the SDK is not ready (no datafile yet)")]
    SdkNotReady,
    /// ODP is disabled in the client's settings.
    #[error("ODP is not enabled")]
    OdpNotEnabled,
    /// The datafile has no ODP integration (with a public key and a host).
    #[error("ODP is not integrated")]
    OdpNotIntegrated,
    /// The event itself is invalid: empty action, no identifiers, or an unsendable data value.
    #[error(transparent)]
    Invalid(#[from] optimizely_fx_core::odp::OdpEventError),
    /// The ODP event queue is full; the event was dropped and counted.
    #[error("ODP event not sent: the event queue is full")]
    QueueFull,
    /// The client is closed.
    #[error("ODP event not sent: the client is closed")]
    Closed,
}
