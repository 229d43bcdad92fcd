//! `/_dev/...`: inspection and control routes (documented in the crate docs).

use std::time::Duration;

use hyper::{Method, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fault::{Endpoint, Fault};
use crate::recorder::RecordedRequest;
use crate::respond::{self, HttpResponse};
use crate::router::{method_not_allowed, percent_decode};
use crate::state::{Shared, lock};
use crate::time;

enum DevRoute {
    Health,
    OdpEvents,
    LogEvents,
    Requests,
    Datafile(String),
    Segments(String),
    Faults,
    Reset,
}

impl DevRoute {
    fn for_path(path: &str) -> Option<DevRoute> {
        let rest = path.strip_prefix("/_dev/")?;
        let route = match rest {
            "health" => DevRoute::Health,
            "odp/events" => DevRoute::OdpEvents,
            "events" => DevRoute::LogEvents,
            "requests" => DevRoute::Requests,
            "faults" => DevRoute::Faults,
            "reset" => DevRoute::Reset,
            _ => {
                if let Some(key) = rest.strip_prefix("datafiles/") {
                    DevRoute::Datafile(path_segment(key)?)
                } else {
                    DevRoute::Segments(path_segment(rest.strip_prefix("segments/")?)?)
                }
            }
        };
        Some(route)
    }

    fn allowed_methods(&self) -> &'static str {
        match self {
            DevRoute::Health | DevRoute::OdpEvents | DevRoute::LogEvents | DevRoute::Requests => {
                "GET"
            }
            DevRoute::Datafile(_) | DevRoute::Segments(_) => "PUT, DELETE",
            DevRoute::Faults => "POST, DELETE",
            DevRoute::Reset => "POST",
        }
    }
}

fn path_segment(text: &str) -> Option<String> {
    if text.is_empty() || text.contains('/') {
        return None;
    }
    percent_decode(text)
}

pub(crate) fn handle(shared: &Shared, method: &Method, uri: &Uri, body: &[u8]) -> HttpResponse {
    let Some(route) = DevRoute::for_path(uri.path()) else {
        return respond::error(
            StatusCode::NOT_FOUND,
            format!("no route for {method} {}", uri.path()),
        );
    };
    match (method, &route) {
        (&Method::GET, DevRoute::Health) => respond::json(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, DevRoute::OdpEvents) => odp_events(shared),
        (&Method::GET, DevRoute::LogEvents) => log_event_batches(shared),
        (&Method::GET, DevRoute::Requests) => requests(shared, uri.query()),
        (&Method::PUT, DevRoute::Datafile(key)) => put_datafile(shared, key, body),
        (&Method::DELETE, DevRoute::Datafile(key)) => delete_datafile(shared, key),
        (&Method::PUT, DevRoute::Segments(user)) => put_segments(shared, user, body),
        (&Method::DELETE, DevRoute::Segments(user)) => {
            lock(&shared.segments).remove(user);
            respond::empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, DevRoute::Faults) => post_fault(shared, body),
        (&Method::DELETE, DevRoute::Faults) => {
            lock(&shared.faults).clear();
            respond::empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, DevRoute::Reset) => {
            shared.recorder.reset();
            respond::empty(StatusCode::NO_CONTENT)
        }
        _ => method_not_allowed(method, route.allowed_methods()),
    }
}

fn odp_events(shared: &Shared) -> HttpResponse {
    let kept = shared.recorder.odp_events();
    respond::json(
        StatusCode::OK,
        &json!({ "received": kept.received, "events": kept.items }),
    )
}

fn log_event_batches(shared: &Shared) -> HttpResponse {
    let kept = shared.recorder.batches();
    respond::json(
        StatusCode::OK,
        &json!({ "received": kept.received, "batches": kept.items }),
    )
}

fn requests(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let requested = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("endpoint="))
        .and_then(percent_decode);
    let Some(name) = requested else {
        return respond::error(
            StatusCode::BAD_REQUEST,
            "query parameter 'endpoint' is required (datafile, events, odp_events or odp_graphql)",
        );
    };
    let endpoint: Endpoint = match name.parse() {
        Ok(endpoint) => endpoint,
        Err(error) => return respond::error(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let kept = shared.recorder.requests(endpoint);
    let summaries: Vec<Value> = kept.items.iter().map(summary).collect();
    respond::json(
        StatusCode::OK,
        &json!({ "endpoint": endpoint.as_str(), "received": kept.received, "requests": summaries }),
    )
}

/// A recorded request without header values (they may hold secrets).
fn summary(request: &RecordedRequest) -> Value {
    let header_names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
    json!({
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "header_names": header_names,
        "body_bytes": request.body.len(),
        "status": request.status,
    })
}

fn put_datafile(shared: &Shared, sdk_key: &str, body: &[u8]) -> HttpResponse {
    let Ok(text) = std::str::from_utf8(body) else {
        return respond::error(StatusCode::BAD_REQUEST, "datafile must be UTF-8 text");
    };
    let last_modified = shared.set_datafile(sdk_key.to_owned(), text.to_owned());
    respond::json(
        StatusCode::OK,
        &json!({ "sdk_key": sdk_key, "last_modified": time::http_date(last_modified) }),
    )
}

fn delete_datafile(shared: &Shared, sdk_key: &str) -> HttpResponse {
    if lock(&shared.datafiles).remove(sdk_key) {
        respond::empty(StatusCode::NO_CONTENT)
    } else {
        respond::error(
            StatusCode::NOT_FOUND,
            format!("no datafile for sdk key '{sdk_key}'"),
        )
    }
}

fn put_segments(shared: &Shared, user_id: &str, body: &[u8]) -> HttpResponse {
    match serde_json::from_slice::<Vec<String>>(body) {
        Ok(segments) => {
            shared.set_segments(user_id.to_owned(), segments);
            respond::empty(StatusCode::NO_CONTENT)
        }
        Err(error) => respond::error(
            StatusCode::BAD_REQUEST,
            format!("body must be a JSON array of segment names: {error}"),
        ),
    }
}

/// The JSON form of a fault accepted by `POST /_dev/faults`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    endpoint: String,
    kind: String,
    times: Option<u32>,
    status: Option<u16>,
    retry_after: Option<u32>,
    body: Option<String>,
    delay_ms: Option<u64>,
}

impl FaultRequest {
    fn into_fault(self) -> Result<(Endpoint, Fault), String> {
        let endpoint: Endpoint = self.endpoint.parse().map_err(|e| format!("{e}"))?;
        let times = self.times.unwrap_or(1);
        let fault = match self.kind.as_str() {
            "status" => Fault::Status {
                status: self.status.ok_or("a 'status' fault needs 'status'")?,
                times,
                retry_after: self.retry_after,
                body: self.body,
            },
            "latency" => Fault::Latency {
                delay: Duration::from_millis(
                    self.delay_ms.ok_or("a 'latency' fault needs 'delay_ms'")?,
                ),
                times,
            },
            "drop_connection" => Fault::DropConnection { times },
            "malformed_body" => Fault::MalformedBody { times },
            "hang" => Fault::Hang { times },
            other => {
                return Err(format!(
                    "unknown fault kind '{other}' (expected status, latency, drop_connection, malformed_body or hang)"
                ));
            }
        };
        Ok((endpoint, fault))
    }
}

fn post_fault(shared: &Shared, body: &[u8]) -> HttpResponse {
    let parsed = serde_json::from_slice::<FaultRequest>(body)
        .map_err(|error| format!("invalid fault: {error}"))
        .and_then(FaultRequest::into_fault);
    let injected = parsed.and_then(|(endpoint, fault)| shared.inject_fault(endpoint, fault));
    match injected {
        Ok(()) => respond::empty(StatusCode::NO_CONTENT),
        Err(message) => respond::error(StatusCode::BAD_REQUEST, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: &str) -> Result<(Endpoint, Fault), String> {
        serde_json::from_str::<FaultRequest>(json)
            .map_err(|e| e.to_string())
            .and_then(FaultRequest::into_fault)
    }

    #[test]
    fn reads_fault_requests() {
        assert_eq!(
            fault(
                r#"{"endpoint":"odp_events","kind":"status","status":503,"times":2,"retry_after":1}"#
            ),
            Ok((
                Endpoint::OdpEvents,
                Fault::Status {
                    status: 503,
                    times: 2,
                    retry_after: Some(1),
                    body: None
                }
            ))
        );
        assert_eq!(
            fault(r#"{"endpoint":"datafile","kind":"latency","delay_ms":250}"#),
            Ok((
                Endpoint::Datafile,
                Fault::Latency {
                    delay: Duration::from_millis(250),
                    times: 1
                }
            ))
        );
        assert_eq!(
            fault(r#"{"endpoint":"events","kind":"hang","times":3}"#),
            Ok((Endpoint::Events, Fault::Hang { times: 3 }))
        );
        assert!(fault(r#"{"endpoint":"events","kind":"status"}"#).is_err());
        assert!(fault(r#"{"endpoint":"nope","kind":"hang"}"#).is_err());
        assert!(fault(r#"{"endpoint":"events","kind":"explode"}"#).is_err());
        assert!(fault(r#"{"endpoint":"events","kind":"hang","extra":1}"#).is_err());
    }

    #[test]
    fn routes_dev_paths() {
        assert!(matches!(
            DevRoute::for_path("/_dev/health"),
            Some(DevRoute::Health)
        ));
        assert!(matches!(
            DevRoute::for_path("/_dev/segments/user%201"),
            Some(DevRoute::Segments(user)) if user == "user 1"
        ));
        assert!(matches!(
            DevRoute::for_path("/_dev/datafiles/key"),
            Some(DevRoute::Datafile(key)) if key == "key"
        ));
        assert!(DevRoute::for_path("/_dev/datafiles/").is_none());
        assert!(DevRoute::for_path("/_dev/segments/a/b").is_none());
        assert!(DevRoute::for_path("/_dev/other").is_none());
    }
}
