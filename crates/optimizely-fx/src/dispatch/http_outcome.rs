//! What an HTTP exchange means for a batch: the one classification shared by every sink
//! that posts batches (ODP events, impression and conversion events).

use std::time::{Duration, SystemTime};

use super::SendOutcome;
use crate::http::{HttpError, HttpResponse};

/// Longest piece of a server's response body quoted in a failure reason.
const MAX_REASON_BODY_CHARS: usize = 300;

/// The outcome of one request: see [`classify_response`] and [`classify_error`].
pub(crate) fn send_outcome(result: Result<HttpResponse, HttpError>) -> SendOutcome {
    match result {
        Ok(response) => classify_response(&response),
        Err(err) => classify_error(&err),
    }
}

/// 2xx: delivered. 429 and 5xx: retry (with the server's `Retry-After`). Anything else
/// (other 4xx, unexpected 1xx/3xx): rejected with the status and the server's message.
fn classify_response(response: &HttpResponse) -> SendOutcome {
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
fn classify_error(err: &HttpError) -> SendOutcome {
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
fn parse_retry_after(value: &str) -> Option<Duration> {
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
}
