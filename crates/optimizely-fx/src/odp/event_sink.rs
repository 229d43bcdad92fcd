//! Sends batches of ODP events to the ODP Events API: `POST {host}/v3/events` with
//! `Content-Type: application/json`, `x-api-key: <public key>` and a JSON array body.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use optimizely_fx_core::odp::WireOdpEvent;

use crate::dispatch::{BatchSink, SendOutcome};
use crate::http::{HttpError, HttpRequest, HttpResponse, HttpTransport};

/// Longest piece of a server's response body quoted in a failure reason.
const MAX_REASON_BODY_CHARS: usize = 300;

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
        let body = serde_json::to_vec(events).map_err(|err| format!("encode error: {err}"))?;
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
            Ok(request) => match self.transport.send(&request) {
                Ok(response) => classify_response(&response),
                Err(err) => classify_error(&err),
            },
            Err(reason) => SendOutcome::Reject { reason },
        };
        redact_outcome(endpoint, outcome)
    }
}

/// 2xx: delivered. 429 and 5xx: retry (with the server's `Retry-After`). Anything else
/// (other 4xx, unexpected 1xx/3xx): rejected with the status and the server's message.
pub(crate) fn classify_response(response: &HttpResponse) -> SendOutcome {
    match response.status {
        200..=299 => SendOutcome::Delivered,
        429 | 500..=599 => SendOutcome::Retry {
            reason: status_reason(response),
            retry_after: response.header("retry-after").and_then(parse_retry_after),
        },
        _ => SendOutcome::Reject {
            reason: status_reason(response),
        },
    }
}

/// Network failures are retried; a request that cannot be built never will succeed.
pub(crate) fn classify_error(err: &HttpError) -> SendOutcome {
    match err {
        HttpError::InvalidUrl(_) => SendOutcome::Reject {
            reason: err.to_string(),
        },
        _ => SendOutcome::Retry {
            reason: err.to_string(),
            retry_after: None,
        },
    }
}

/// `"<status>"` or `"<status>: <start of the body>"`, on one line.
fn status_reason(response: &HttpResponse) -> String {
    let body = String::from_utf8_lossy(&response.body);
    let body: String = body
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_BODY_CHARS + 1)
        .collect();
    match body.chars().count() {
        0 => response.status.to_string(),
        n if n > MAX_REASON_BODY_CHARS => {
            let cut: String = body.chars().take(MAX_REASON_BODY_CHARS).collect();
            format!("{}: {cut}...", response.status)
        }
        _ => format!("{}: {body}", response.status),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (in the past: zero).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
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

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn success_statuses_are_delivered() {
        for status in [200, 202, 204] {
            assert_eq!(
                classify_response(&response(status, &[], "")),
                SendOutcome::Delivered
            );
        }
    }

    #[test]
    fn server_errors_and_429_are_retried_with_retry_after() {
        assert_eq!(
            classify_response(&response(429, &[("retry-after", "3")], "")),
            SendOutcome::Retry {
                reason: "429".to_owned(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert_eq!(
            classify_response(&response(503, &[], "busy")),
            SendOutcome::Retry {
                reason: "503: busy".to_owned(),
                retry_after: None,
            }
        );
    }

    #[test]
    fn other_statuses_are_rejected_with_the_servers_message() {
        let body = r#"{"title":"Bad Request","status":400,"detail":{"invalids":[{"event":0,"message":"missing 'type' field"}]}}"#;
        assert_eq!(
            classify_response(&response(400, &[], body)),
            SendOutcome::Reject {
                reason: format!("400: {body}"),
            }
        );
        for status in [301, 401, 403, 404, 413] {
            assert!(matches!(
                classify_response(&response(status, &[], "")),
                SendOutcome::Reject { .. }
            ));
        }
    }

    #[test]
    fn long_or_multiline_bodies_are_cut_to_one_line() {
        let body = format!("line one\nline two {}", "x".repeat(1000));
        let SendOutcome::Reject { reason } = classify_response(&response(400, &[], &body)) else {
            panic!("400 is rejected");
        };
        assert!(!reason.contains('\n'));
        assert!(reason.starts_with("400: line one line two x"));
        assert!(reason.ends_with("..."));
        assert!(reason.chars().count() <= MAX_REASON_BODY_CHARS + 10);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
        let wait = parse_retry_after(&future).unwrap();
        assert!(wait > Duration::from_secs(3000) && wait <= Duration::from_secs(3600));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn network_errors_retry_and_bad_urls_reject() {
        assert!(matches!(
            classify_error(&HttpError::Timeout),
            SendOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_error(&HttpError::Connect("refused".to_owned())),
            SendOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_error(&HttpError::InvalidUrl("x".to_owned())),
            SendOutcome::Reject { .. }
        ));
    }

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
