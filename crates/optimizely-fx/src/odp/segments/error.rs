//! Why a segments fetch returned no segments.

use optimizely_fx_core::odp::SegmentsResponseError;

use crate::http::HttpError;

/// Why [`Client::fetch_qualified_segments`](crate::Client::fetch_qualified_segments) (or its
/// async twin) returned no segments. Messages never contain the ODP public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchSegmentsError {
    /// The client has no datafile yet.
    #[error("SDK not ready: no datafile yet")]
    SdkNotReady,
    /// ODP is disabled in the client's settings
    /// ([`odp_disabled`](crate::ClientBuilder::odp_disabled)).
    #[error("ODP is not enabled")]
    OdpNotEnabled,
    /// The datafile has no ODP integration with a non-empty public key and host.
    #[error("ODP is not integrated")]
    OdpNotIntegrated,
    /// The request to ODP failed or its answer gave no segments.
    #[error("Audience segments fetch failed ({0})")]
    FetchFailed(SegmentsFetchFailure),
    /// The async fetch could not start the thread that does the request.
    #[error("cannot start a segments fetch thread: {0}")]
    SpawnFailed(String),
}

/// Why the request to ODP gave no segments: the part in parentheses of
/// `Audience segments fetch failed (...)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentsFetchFailure {
    /// No response: connection refused or dropped, timeout, body too large, ...
    #[error("network error")]
    Network(#[source] HttpError),
    /// A response that is not JSON or not the expected shape.
    #[error("decode error")]
    Decode,
    /// ODP does not know the user.
    #[error("invalid identifier")]
    InvalidIdentifier,
    /// Another GraphQL error, named by its `classification`.
    #[error("{0}")]
    Classification(String),
    /// A status other than 2xx, e.g. `403`.
    #[error("{0}")]
    Status(u16),
}

impl From<SegmentsResponseError> for SegmentsFetchFailure {
    fn from(error: SegmentsResponseError) -> Self {
        match error {
            SegmentsResponseError::InvalidIdentifier => SegmentsFetchFailure::InvalidIdentifier,
            SegmentsResponseError::Classification(name) => {
                SegmentsFetchFailure::Classification(name)
            }
            _ => SegmentsFetchFailure::Decode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_failures_read_like_the_official_messages() {
        let cases = [
            (
                SegmentsFetchFailure::Network(HttpError::Timeout),
                "network error",
            ),
            (SegmentsFetchFailure::Decode, "decode error"),
            (
                SegmentsFetchFailure::InvalidIdentifier,
                "invalid identifier",
            ),
            (
                SegmentsFetchFailure::Classification("DataFetchingException".into()),
                "DataFetchingException",
            ),
            (SegmentsFetchFailure::Status(403), "403"),
        ];
        for (failure, reason) in cases {
            assert_eq!(
                FetchSegmentsError::FetchFailed(failure).to_string(),
                format!("Audience segments fetch failed ({reason})")
            );
        }
    }
}
