//! `/_dev/...`: inspection and control routes (documented in the crate docs).

use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::fault::{Endpoint, Fault};
use crate::recorder::RecordedRequest;
use crate::records::UserSummary;
use crate::respond::{self, HttpResponse};
use crate::router::{method_not_allowed, percent_decode};
use crate::segments::SegmentDefinition;
use crate::state::{Shared, lock};
use crate::store::StoreError;
use crate::time;

/// Default and largest `limit` of the listing routes.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

enum DevRoute {
    Health,
    OdpEvents,
    RecentOdpEvents,
    LogEvents,
    Requests,
    Datafiles,
    Datafile(String),
    Users,
    SegmentDefinitions,
    SegmentDefinition(String),
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
            "odp/events/recent" => DevRoute::RecentOdpEvents,
            "events" => DevRoute::LogEvents,
            "requests" => DevRoute::Requests,
            "datafiles" => DevRoute::Datafiles,
            "users" => DevRoute::Users,
            "segments" => DevRoute::SegmentDefinitions,
            "faults" => DevRoute::Faults,
            "reset" => DevRoute::Reset,
            _ => return DevRoute::with_name(rest),
        };
        Some(route)
    }

    /// Routes whose last path segment is a name.
    fn with_name(rest: &str) -> Option<DevRoute> {
        if let Some(key) = rest.strip_prefix("datafiles/") {
            return Some(DevRoute::Datafile(path_segment(key)?));
        }
        if let Some(name) = rest.strip_prefix("segments/rules/") {
            return Some(DevRoute::SegmentDefinition(path_segment(name)?));
        }
        let user = rest.strip_prefix("segments/")?;
        Some(DevRoute::Segments(path_segment(user)?))
    }

    fn allowed_methods(&self) -> &'static str {
        match self {
            DevRoute::Health
            | DevRoute::OdpEvents
            | DevRoute::RecentOdpEvents
            | DevRoute::LogEvents
            | DevRoute::Requests
            | DevRoute::Datafiles
            | DevRoute::Users
            | DevRoute::SegmentDefinitions => "GET",
            DevRoute::Datafile(_) | DevRoute::SegmentDefinition(_) => "GET, PUT, DELETE",
            DevRoute::Segments(_) => "PUT, DELETE",
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
    let query = uri.query();
    match (method, &route) {
        (&Method::GET, DevRoute::Health) => respond::json(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, DevRoute::OdpEvents) => odp_events(shared, query),
        (&Method::GET, DevRoute::RecentOdpEvents) => recent_odp_events(shared, query),
        (&Method::GET, DevRoute::LogEvents) => log_event_batches(shared, query),
        (&Method::GET, DevRoute::Requests) => requests(shared, query),
        (&Method::GET, DevRoute::Datafiles) => datafiles(shared),
        (&Method::GET, DevRoute::Datafile(key)) => get_datafile(shared, key, query),
        (&Method::PUT, DevRoute::Datafile(key)) => put_datafile(shared, key, body),
        (&Method::DELETE, DevRoute::Datafile(key)) => delete_datafile(shared, key),
        (&Method::GET, DevRoute::Users) => users(shared, query),
        (&Method::GET, DevRoute::SegmentDefinitions) => segment_definitions(shared),
        (&Method::GET, DevRoute::SegmentDefinition(name)) => get_definition(shared, name),
        (&Method::PUT, DevRoute::SegmentDefinition(name)) => put_definition(shared, name, body),
        (&Method::DELETE, DevRoute::SegmentDefinition(name)) => delete_definition(shared, name),
        (&Method::PUT, DevRoute::Segments(user)) => put_segments(shared, user, body),
        (&Method::DELETE, DevRoute::Segments(user)) => {
            match shared.db.remove_static_segments(user) {
                Ok(_) => respond::empty(StatusCode::NO_CONTENT),
                Err(error) => storage_error(&error),
            }
        }
        (&Method::POST, DevRoute::Faults) => post_fault(shared, body),
        (&Method::DELETE, DevRoute::Faults) => {
            lock(&shared.faults).clear();
            respond::empty(StatusCode::NO_CONTENT)
        }
        (&Method::POST, DevRoute::Reset) => match shared.reset() {
            Ok(()) => respond::empty(StatusCode::NO_CONTENT),
            Err(error) => storage_error(&error),
        },
        _ => method_not_allowed(method, route.allowed_methods()),
    }
}

fn storage_error(error: &StoreError) -> HttpResponse {
    log::error!("dev server storage failed: {error}");
    respond::error(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
}

/// The percent-decoded value of query parameter `name`.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| percent_decode(&value.replace('+', " ")))
}

/// The `limit` query parameter (1 to 10,000), `default` when absent.
fn limit(query: Option<&str>, default: usize) -> Result<usize, String> {
    let Some(text) = query_param(query, "limit") else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(format!(
            "query parameter 'limit' must be a number from 1 to {MAX_LIMIT}, got {text:?}"
        )),
    }
}

fn bad_request(message: String) -> HttpResponse {
    respond::error(StatusCode::BAD_REQUEST, message)
}

fn odp_events(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let events = match query_param(query, "limit") {
        None => shared.db.odp_events(),
        Some(_) => match limit(query, DEFAULT_LIMIT) {
            Ok(limit) => shared.db.recent_odp_events(limit).map(|recent| {
                recent
                    .into_iter()
                    .rev()
                    .map(|stored| stored.event)
                    .collect()
            }),
            Err(message) => return bad_request(message),
        },
    };
    match events {
        Ok(events) => respond::json(
            StatusCode::OK,
            &json!({ "received": shared.recorder.odp_events_received(), "events": events }),
        ),
        Err(error) => storage_error(&error),
    }
}

fn recent_odp_events(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let limit = match limit(query, DEFAULT_LIMIT) {
        Ok(limit) => limit,
        Err(message) => return bad_request(message),
    };
    match shared.db.recent_odp_events(limit) {
        Ok(recent) => {
            let events: Vec<Value> = recent
                .into_iter()
                .map(|stored| {
                    json!({
                        "received_at": time::rfc3339_utc(time::from_unix_millis(stored.received_ms)),
                        "user": stored.user,
                        "event": stored.event,
                    })
                })
                .collect();
            respond::json(
                StatusCode::OK,
                &json!({ "received": shared.recorder.odp_events_received(), "events": events }),
            )
        }
        Err(error) => storage_error(&error),
    }
}

fn log_event_batches(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let batches = match query_param(query, "limit") {
        None => shared.db.batches(),
        Some(_) => match limit(query, DEFAULT_LIMIT) {
            Ok(limit) => shared.db.recent_batches(limit).map(|recent| {
                recent
                    .into_iter()
                    .rev()
                    .map(|stored| stored.batch)
                    .collect()
            }),
            Err(message) => return bad_request(message),
        },
    };
    match batches {
        Ok(batches) => respond::json(
            StatusCode::OK,
            &json!({ "received": shared.recorder.batches_received(), "batches": batches }),
        ),
        Err(error) => storage_error(&error),
    }
}

fn requests(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let Some(name) = query_param(query, "endpoint") else {
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

fn datafiles(shared: &Shared) -> HttpResponse {
    let histories = match shared.db.datafile_histories() {
        Ok(histories) => histories,
        Err(error) => return storage_error(&error),
    };
    let datafiles: Vec<Value> = histories
        .iter()
        .map(|history| {
            let revisions: Vec<Value> = history
                .revisions
                .iter()
                .map(|revision| {
                    json!({
                        "revision": revision.number,
                        "datafile_revision": revision.label,
                        "bytes": revision.bytes,
                        "stored_at": time::rfc3339_utc(time::from_unix_millis(revision.stored_ms)),
                        "last_modified": time::http_date(revision.last_modified),
                    })
                })
                .collect();
            json!({
                "sdk_key": history.sdk_key,
                "served": history.current.is_some(),
                "current_revision": history.current,
                "last_modified": time::http_date(history.last_modified),
                "revisions": revisions,
            })
        })
        .collect();
    respond::json(StatusCode::OK, &json!({ "datafiles": datafiles }))
}

fn get_datafile(shared: &Shared, sdk_key: &str, query: Option<&str>) -> HttpResponse {
    let number = match query_param(query, "revision").map(|text| text.parse::<u64>()) {
        None => None,
        Some(Ok(number)) => Some(number),
        Some(Err(_)) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "query parameter 'revision' must be a revision number",
            );
        }
    };
    match shared.db.datafile_revision_body(sdk_key, number) {
        Ok(Some(body)) => respond::json_bytes(StatusCode::OK, body.into()),
        Ok(None) => respond::error(
            StatusCode::NOT_FOUND,
            match number {
                Some(number) => format!("no revision {number} of the datafile of '{sdk_key}'"),
                None => format!("no datafile for sdk key '{sdk_key}'"),
            },
        ),
        Err(error) => storage_error(&error),
    }
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
    if shared.remove_datafile(sdk_key) {
        respond::empty(StatusCode::NO_CONTENT)
    } else {
        respond::error(
            StatusCode::NOT_FOUND,
            format!("no datafile for sdk key '{sdk_key}'"),
        )
    }
}

fn users(shared: &Shared, query: Option<&str>) -> HttpResponse {
    let limit = match limit(query, DEFAULT_LIMIT) {
        Ok(limit) => limit,
        Err(message) => return bad_request(message),
    };
    let now = time::unix_millis(SystemTime::now());
    match shared.db.users(limit, now) {
        Ok(users) => {
            let users: Vec<Value> = users.iter().map(UserSummary::to_json).collect();
            respond::json(StatusCode::OK, &json!({ "users": users }))
        }
        Err(error) => storage_error(&error),
    }
}

fn segment_definitions(shared: &Shared) -> HttpResponse {
    match shared.db.definitions() {
        Ok(definitions) => {
            let segments: Vec<Value> = definitions.iter().map(SegmentDefinition::to_json).collect();
            respond::json(StatusCode::OK, &json!({ "segments": segments }))
        }
        Err(error) => storage_error(&error),
    }
}

fn get_definition(shared: &Shared, name: &str) -> HttpResponse {
    match shared.db.definition(name) {
        Ok(Some(definition)) => respond::json(StatusCode::OK, &definition.to_json()),
        Ok(None) => no_such_segment(name),
        Err(error) => storage_error(&error),
    }
}

fn no_such_segment(name: &str) -> HttpResponse {
    respond::error(StatusCode::NOT_FOUND, format!("no segment named '{name}'"))
}

/// `PUT /_dev/segments/rules/{name}`: the body is a definition; its `name` may be left out
/// but must match the path when given.
fn put_definition(shared: &Shared, name: &str, body: &[u8]) -> HttpResponse {
    let definition = match definition_from_body(name, body) {
        Ok(definition) => definition,
        Err(message) => return respond::error(StatusCode::BAD_REQUEST, message),
    };
    match shared.define_segment(&definition) {
        Ok(replaced) => {
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            respond::json(status, &definition.to_json())
        }
        Err(error) => storage_error(&error),
    }
}

fn definition_from_body(name: &str, body: &[u8]) -> Result<SegmentDefinition, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| format!("body must be a JSON segment definition: {error}"))?;
    let Value::Object(mut fields) = value else {
        return Err("body must be a JSON object".to_owned());
    };
    match fields.get("name") {
        None => {
            fields.insert("name".to_owned(), Value::from(name));
        }
        Some(Value::String(given)) if given == name => {}
        Some(_) => {
            return Err(format!(
                "'name' in the body must be the name in the path ('{name}')"
            ));
        }
    }
    SegmentDefinition::from_json(Value::Object(fields)).map_err(|error| error.to_string())
}

fn delete_definition(shared: &Shared, name: &str) -> HttpResponse {
    match shared.db.remove_definition(name) {
        Ok(true) => respond::empty(StatusCode::NO_CONTENT),
        Ok(false) => no_such_segment(name),
        Err(error) => storage_error(&error),
    }
}

fn put_segments(shared: &Shared, user_id: &str, body: &[u8]) -> HttpResponse {
    match serde_json::from_slice::<Vec<String>>(body) {
        Ok(segments) => match shared.set_segments(user_id.to_owned(), segments) {
            Ok(()) => respond::empty(StatusCode::NO_CONTENT),
            Err(error) => storage_error(&error),
        },
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
    fn reads_query_parameters() {
        assert_eq!(
            query_param(Some("a=1&limit=5"), "limit"),
            Some("5".to_owned())
        );
        assert_eq!(
            query_param(Some("endpoint=odp%5Fevents"), "endpoint"),
            Some("odp_events".to_owned())
        );
        assert_eq!(query_param(Some("limit"), "limit"), None);
        assert_eq!(query_param(None, "limit"), None);
        assert_eq!(limit(None, 7).ok(), Some(7));
        assert_eq!(limit(Some("limit=20"), 7).ok(), Some(20));
        for bad in ["limit=0", "limit=-1", "limit=x", "limit=10001"] {
            assert!(limit(Some(bad), 7).is_err(), "{bad}");
        }
    }

    #[test]
    fn segment_bodies_take_the_name_from_the_path() {
        let body = br#"{"members":["u"],"rule":{"action":"a"}}"#;
        let definition = definition_from_body("s", body).unwrap();
        assert_eq!(definition.name(), "s");
        assert!(definition_from_body("s", br#"{"name":"t"}"#).is_err());
        assert!(definition_from_body("s", b"[]").is_err());
        assert!(definition_from_body("s", b"{").is_err());
        assert!(definition_from_body("s", br#"{"rule":{"action":""}}"#).is_err());
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
        assert!(matches!(
            DevRoute::for_path("/_dev/segments/rules/big%20spenders"),
            Some(DevRoute::SegmentDefinition(name)) if name == "big spenders"
        ));
        assert!(matches!(
            DevRoute::for_path("/_dev/segments/rules"),
            Some(DevRoute::Segments(user)) if user == "rules"
        ));
        assert!(matches!(
            DevRoute::for_path("/_dev/segments"),
            Some(DevRoute::SegmentDefinitions)
        ));
        assert!(DevRoute::for_path("/_dev/datafiles/").is_none());
        assert!(DevRoute::for_path("/_dev/segments/a/b").is_none());
        assert!(DevRoute::for_path("/_dev/segments/rules/a/b").is_none());
        assert!(DevRoute::for_path("/_dev/other").is_none());
    }
}
