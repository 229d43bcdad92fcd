//! The segments request to ODP: `POST {host}/v3/graphql` and the reading of its answer.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use optimizely_fx_core::odp::{OdpIntegration, parse_segments_response, segments_request_body};

use super::error::SegmentsFetchFailure;
use crate::http::{HttpSettings, HttpTransport, UreqTransport};

const GRAPHQL_PATH: &str = "/v3/graphql";
/// Largest answer accepted by the built-in transport of segment requests. An answer holds one
/// small edge per segment the datafile uses, so 1 MiB leaves ample room.
const MAX_RESPONSE_BODY: usize = 1024 * 1024;

/// The transport of segment requests: the one given to the client builder, or a built-in one
/// created on first use (so a client without ODP never builds one).
pub(crate) struct SegmentsTransport {
    custom: Option<Arc<dyn HttpTransport>>,
    built_in: OnceLock<UreqTransport>,
}

impl SegmentsTransport {
    pub(crate) fn new(custom: Option<Arc<dyn HttpTransport>>) -> Self {
        SegmentsTransport {
            custom,
            built_in: OnceLock::new(),
        }
    }

    fn get(&self) -> &dyn HttpTransport {
        match &self.custom {
            Some(custom) => custom.as_ref(),
            None => self.built_in.get_or_init(|| {
                let mut settings = HttpSettings::default();
                settings.max_response_body = MAX_RESPONSE_BODY;
                UreqTransport::new(settings)
            }),
        }
    }

    /// Asks ODP which of the datafile's segments `user_id` qualifies for.
    pub(crate) fn query(
        &self,
        odp: &OdpIntegration,
        user_id: &str,
        timeout: Duration,
    ) -> Result<Vec<String>, SegmentsFetchFailure> {
        let request = crate::http::HttpRequest::post(
            graphql_url(&odp.host),
            segments_request_body(user_id, &odp.segments_to_check),
        )
        .header("content-type", "application/json")
        .secret_header("x-api-key", odp.public_key.as_str())
        .timeout(timeout);
        let response = self.get().send(&request).map_err(|error| {
            log::debug!("ODP segments request to {} failed: {error}", odp.host);
            SegmentsFetchFailure::Network(error)
        })?;
        if !response.is_success() {
            return Err(SegmentsFetchFailure::Status(response.status));
        }
        parse_segments_response(&response.body).map_err(SegmentsFetchFailure::from)
    }
}

fn graphql_url(host: &str) -> String {
    format!("{}{GRAPHQL_PATH}", host.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_the_host_plus_the_graphql_path() {
        assert_eq!(
            graphql_url("https://api.zaius.com"),
            "https://api.zaius.com/v3/graphql"
        );
        assert_eq!(
            graphql_url("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/v3/graphql"
        );
    }
}
