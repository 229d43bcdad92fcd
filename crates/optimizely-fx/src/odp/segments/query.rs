//! The segments request to ODP: `POST {host}/v3/graphql` and the reading of its answer.

use std::time::Duration;

use optimizely_fx_core::odp::{OdpIntegration, parse_segments_response, segments_request_body};

use super::error::SegmentsFetchFailure;
use crate::http::{HttpRequest, HttpTransport};

const GRAPHQL_PATH: &str = "/v3/graphql";

/// Asks ODP which of the datafile's segments `user_id` qualifies for. The answer's size is
/// capped by the transport.
pub(crate) fn query_segments(
    transport: &dyn HttpTransport,
    odp: &OdpIntegration,
    user_id: &str,
    timeout: Duration,
) -> Result<Vec<String>, SegmentsFetchFailure> {
    let request = HttpRequest::post(
        graphql_url(&odp.host),
        segments_request_body(user_id, &odp.segments_to_check),
    )
    .header("content-type", "application/json")
    .secret_header("x-api-key", odp.public_key.as_str())
    .timeout(timeout);
    let response = transport.send(&request).map_err(|error| {
        log::debug!("ODP segments request to {} failed: {error}", odp.host);
        SegmentsFetchFailure::Network(error)
    })?;
    if !response.is_success() {
        return Err(SegmentsFetchFailure::Status(response.status));
    }
    parse_segments_response(&response.body).map_err(SegmentsFetchFailure::from)
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
