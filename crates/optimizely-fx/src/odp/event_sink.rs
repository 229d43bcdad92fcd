//! Sends batches of ODP events to the ODP Events API: `POST {host}/v3/events` with
//! `Content-Type: application/json`, `x-api-key: <public key>` and a JSON array body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use optimizely_fx_core::odp::WireOdpEvent;

use crate::dispatch::{BatchSink, SendOutcome, send_outcome};
use crate::http::{HttpRequest, HttpTransport};

/// Where ODP events go: the datafile's ODP `host` and `publicKey`. The key is a secret: it is
/// redacted in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OdpEndpoint {
    host: String,
    public_key: String,
}

impl OdpEndpoint {
    pub(crate) fn new(host: impl Into<String>, public_key: impl Into<String>) -> Self {
        OdpEndpoint {
            host: host.into(),
            public_key: public_key.into(),
        }
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn is(&self, host: &str, public_key: &str) -> bool {
        self.host == host && self.public_key == public_key
    }

    /// `{host}/v3/events`, with the host taken verbatim as the official SDKs do.
    fn events_url(&self) -> String {
        format!("{}/v3/events", self.host)
    }

    /// `text` with every occurrence of the public key replaced.
    fn redact(&self, text: String) -> String {
        if self.public_key.is_empty() || !text.contains(&self.public_key) {
            return text;
        }
        text.replace(&self.public_key, "[redacted]")
    }
}

impl fmt::Debug for OdpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OdpEndpoint")
            .field("host", &self.host)
            .field("public_key", &"[redacted]")
            .finish()
    }
}

/// Room reserved per event in a request body: an event with its default data and a few short
/// entries serialises to about 250 bytes.
const BODY_BYTES_PER_EVENT: usize = 320;

/// The [`BatchSink`] of ODP events.
pub(crate) struct OdpEventSink {
    transport: Arc<dyn HttpTransport>,
    request_timeout: Duration,
}

impl OdpEventSink {
    pub(crate) fn new(transport: Arc<dyn HttpTransport>, request_timeout: Duration) -> Self {
        OdpEventSink {
            transport,
            request_timeout,
        }
    }

    fn request(
        &self,
        endpoint: &OdpEndpoint,
        events: &[WireOdpEvent],
    ) -> Result<HttpRequest, String> {
        let mut body = Vec::with_capacity(events.len() * BODY_BYTES_PER_EVENT);
        serde_json::to_writer(&mut body, events).map_err(|err| format!("encode error: {err}"))?;
        Ok(HttpRequest::post(endpoint.events_url(), body)
            .header("content-type", "application/json")
            .secret_header("x-api-key", endpoint.public_key.as_str())
            .timeout(self.request_timeout))
    }
}

impl BatchSink for OdpEventSink {
    type Item = WireOdpEvent;
    type Target = OdpEndpoint;

    fn kind(&self) -> &str {
        "ODP event"
    }

    fn send(&self, endpoint: &OdpEndpoint, events: &[WireOdpEvent]) -> SendOutcome {
        let outcome = match self.request(endpoint, events) {
            Ok(request) => send_outcome(self.transport.send(&request)),
            Err(reason) => SendOutcome::Reject { reason },
        };
        redact_outcome(endpoint, outcome)
    }
}

fn redact_outcome(endpoint: &OdpEndpoint, outcome: SendOutcome) -> SendOutcome {
    match outcome {
        SendOutcome::Delivered => SendOutcome::Delivered,
        SendOutcome::Retry {
            reason,
            retry_after,
        } => SendOutcome::Retry {
            reason: endpoint.redact(reason),
            retry_after,
        },
        SendOutcome::Reject { reason } => SendOutcome::Reject {
            reason: endpoint.redact(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_is_redacted_from_debug_and_reasons() {
        let endpoint = OdpEndpoint::new("https://api.zaius.com", "W4WzcEs-ABgXorzY7h1LCQ");
        assert!(!format!("{endpoint:?}").contains("W4WzcEs"));
        let outcome = redact_outcome(
            &endpoint,
            SendOutcome::Reject {
                reason: "401: bad key W4WzcEs-ABgXorzY7h1LCQ".to_owned(),
            },
        );
        assert_eq!(
            outcome,
            SendOutcome::Reject {
                reason: "401: bad key [redacted]".to_owned(),
            }
        );
    }
}
