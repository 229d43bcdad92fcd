use std::sync::Arc;
use std::time::SystemTime;

use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::odp_wire::{self, ReceivedEvent};
use crate::respond::{self, HttpResponse};
use crate::router::run_blocking;
use crate::state::Shared;
use crate::store::StoreError;
use crate::time;

const EVENT_FIELDS: [&str; 4] = ["type", "action", "identifiers", "data"];

/// Bodies up to this size are read on the executor thread, and their events stored there
/// too when the database is free; larger ones are handled on the blocking pool.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// Answers `POST /v3/events`: validates the whole batch, stores it only if every event is
/// valid.
///
/// A small valid batch is stored right away when the database is free: handing it to another
/// thread would cost more than storing it.
pub(crate) async fn handle(shared: &Arc<Shared>, headers: &HeaderMap, body: Bytes) -> HttpResponse {
    if body.len() > INLINE_BODY_BYTES {
        let headers = headers.clone();
        return run_blocking(shared, move |shared| {
            handle_blocking(shared, &headers, &body)
        })
        .await;
    }
    let now = SystemTime::now();
    let events = match read_request(shared, headers, &body, now) {
        Ok(events) => events,
        Err(answer) => return *answer,
    };
    if let Some(stored) = shared
        .db
        .try_add_odp_events(&events, time::unix_millis(now))
    {
        return answer_stored(shared, stored, now);
    }
    let events: Vec<ReceivedEvent<'static>> =
        events.into_iter().map(ReceivedEvent::into_owned).collect();
    run_blocking(shared, move |shared| store(shared, &events, now)).await
}

/// [`handle`] on a thread that may block.
pub(crate) fn handle_blocking(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    let now = SystemTime::now();
    match read_request(shared, headers, body, now) {
        Ok(events) => store(shared, &events, now),
        Err(answer) => *answer,
    }
}

/// The request's events, or the `401` or `400` to answer.
fn read_request<'a>(
    shared: &Shared,
    headers: &HeaderMap,
    body: &'a [u8],
    now: SystemTime,
) -> Result<Vec<ReceivedEvent<'a>>, Box<HttpResponse>> {
    if let Some(refusal) = api_key_refusal(shared, headers, now) {
        return Err(Box::new(refusal));
    }
    if let Some(events) = odp_wire::read_valid_batch(body) {
        return Ok(events);
    }
    let events = match parse_event_array(body) {
        Ok(events) => events,
        Err(message) => {
            return Err(Box::new(bad_request(now, json!({ "message": message }))));
        }
    };
    let invalids: Vec<Value> = events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| {
            validate_event(event)
                .err()
                .map(|message| json!({ "event": index, "message": message }))
        })
        .collect();
    if !invalids.is_empty() {
        return Err(Box::new(bad_request(now, json!({ "invalids": invalids }))));
    }
    Ok(events.iter().map(ReceivedEvent::from_value).collect())
}

fn store(shared: &Shared, events: &[ReceivedEvent<'_>], now: SystemTime) -> HttpResponse {
    let stored = shared.db.add_odp_events(events, time::unix_millis(now));
    answer_stored(shared, stored, now)
}

/// `202`, or `500` when the events could not be stored.
fn answer_stored(
    shared: &Shared,
    stored: Result<u64, StoreError>,
    now: SystemTime,
) -> HttpResponse {
    match stored {
        Ok(total) => shared.recorder.set_odp_events_received(total),
        Err(error) => {
            log::error!("dev server cannot store ODP events: {error}");
            return respond::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({
                    "title": "Internal Server Error",
                    "status": 500,
                    "timestamp": time::rfc3339_utc(now),
                    "detail": { "message": format!("cannot store the events: {error}") },
                }),
            );
        }
    }
    respond::json_bytes(StatusCode::ACCEPTED, Bytes::from(accepted_body(now)))
}

/// `{"title":"Accepted","status":202,"timestamp":"<RFC 3339>"}`, written directly (it is
/// sent for every stored batch).
fn accepted_body(now: SystemTime) -> String {
    format!(
        r#"{{"title":"Accepted","status":202,"timestamp":"{}"}}"#,
        time::rfc3339_utc(now)
    )
}

/// The `401` to answer unless the request carries the configured `x-api-key`.
pub(crate) fn api_key_refusal(
    shared: &Shared,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<HttpResponse> {
    let presented = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if presented == Some(shared.odp_api_key.as_str()) {
        return None;
    }
    let detail = if presented.is_some() {
        "invalid x-api-key"
    } else {
        "missing x-api-key header"
    };
    Some(respond::json(
        StatusCode::UNAUTHORIZED,
        &json!({
            "title": "Unauthorized",
            "status": 401,
            "timestamp": time::rfc3339_utc(now),
            "detail": { "message": detail },
        }),
    ))
}

fn bad_request(now: SystemTime, detail: Value) -> HttpResponse {
    respond::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "title": "Bad Request",
            "status": 400,
            "timestamp": time::rfc3339_utc(now),
            "detail": detail,
        }),
    )
}

fn parse_event_array(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice(body) {
        Ok(Value::Array(events)) => Ok(events),
        Ok(_) => Err("request body must be a JSON array of events".to_owned()),
        Err(error) => Err(format!("request body is not valid JSON: {error}")),
    }
}

/// The first problem with one event, as ODP words it.
fn validate_event(event: &Value) -> Result<(), String> {
    let Some(fields) = event.as_object() else {
        return Err("event must be a JSON object".to_owned());
    };
    if let Some(unknown) = fields.keys().find(|k| !EVENT_FIELDS.contains(&k.as_str())) {
        return Err(format!("unexpected field '{unknown}'"));
    }
    require_non_empty_string(fields, "type")?;
    require_non_empty_string(fields, "action")?;
    validate_identifiers(fields.get("identifiers"))?;
    match fields.get("data") {
        Some(data) => validate_data(data),
        None => Ok(()),
    }
}

fn require_non_empty_string(fields: &Map<String, Value>, name: &str) -> Result<(), String> {
    match fields.get(name) {
        None => Err(format!("missing '{name}' field")),
        Some(Value::String(text)) if !text.is_empty() => Ok(()),
        Some(_) => Err(format!("'{name}' field must be a non-empty string")),
    }
}

fn validate_identifiers(identifiers: Option<&Value>) -> Result<(), String> {
    let identifiers = match identifiers {
        None => return Err("missing 'identifiers' field".to_owned()),
        Some(Value::Object(identifiers)) => identifiers,
        Some(_) => return Err("'identifiers' field must be an object".to_owned()),
    };
    if identifiers.is_empty() {
        return Err("'identifiers' field must not be empty".to_owned());
    }
    match identifiers.iter().find(|(_, value)| !value.is_string()) {
        Some((key, _)) => Err(format!("identifier '{key}' must be a string")),
        None => Ok(()),
    }
}

fn validate_data(data: &Value) -> Result<(), String> {
    let Some(data) = data.as_object() else {
        return Err("'data' field must be an object".to_owned());
    };
    match data
        .iter()
        .find(|(_, value)| value.is_array() || value.is_object())
    {
        Some((key, _)) => Err(format!(
            "data '{key}' must be a string, number, boolean or null"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(event: Value) -> Option<String> {
        validate_event(&event).err()
    }

    /// When the fast reader accepts a body, the full validation accepts it too and the events
    /// read are the same. `true` if the fast reader accepted it.
    fn check_fast_reader_agrees(body: &[u8]) -> bool {
        let Some(fast) = odp_wire::read_valid_batch(body) else {
            return false;
        };
        let shown = String::from_utf8_lossy(body);
        let events = parse_event_array(body).unwrap_or_else(|e| panic!("{e}: {shown}"));
        assert_eq!(fast.len(), events.len(), "{shown}");
        for (read, event) in fast.iter().zip(&events) {
            assert_eq!(validate_event(event), Ok(()), "{shown}");
            let slow = ReceivedEvent::from_value(event);
            assert_eq!(read.event_type, slow.event_type, "{shown}");
            assert_eq!(read.action, slow.action, "{shown}");
            assert_eq!(read.identifiers, slow.identifiers, "{shown}");
            let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
            assert_eq!(&json(&read.event_json), event, "{shown}");
            assert_eq!(json(&slow.event_json), json(&read.event_json), "{shown}");
        }
        true
    }

    #[test]
    fn the_fast_reader_accepts_only_valid_batches_and_reads_them_alike() {
        let seeds = [
            r#"[{"type":"fullstack","action":"purchased","identifiers":{"fs_user_id":"u","email":""},"data":{"a":1,"b":-2.5e3,"c":true,"d":null,"e":"x"}}]"#,
            r#" [ {"identifiers" : {"vuid":"v"} , "action":"é", "type":"t"} , {"type":"t","action":"a","identifiers":{"k":"v"},"data":{}} ] "#,
        ];
        let alphabet = b"\"{}[],: \\01-e.atn\t\x01";
        let mut accepted = 0;
        for seed in seeds {
            let seed = seed.as_bytes();
            assert!(check_fast_reader_agrees(seed));
            for at in 0..seed.len() {
                let mut removed = seed.to_vec();
                removed.remove(at);
                accepted += usize::from(check_fast_reader_agrees(&removed));
                for &byte in alphabet {
                    let mut replaced = seed.to_vec();
                    replaced[at] = byte;
                    accepted += usize::from(check_fast_reader_agrees(&replaced));
                    let mut inserted = seed.to_vec();
                    inserted.insert(at, byte);
                    accepted += usize::from(check_fast_reader_agrees(&inserted));
                }
            }
        }
        assert!(accepted > 1000, "only {accepted} variants were read");
    }

    #[test]
    fn accepts_a_complete_event() {
        let event = json!({"type":"fullstack","action":"identified",
            "identifiers":{"fs_user_id":"u"},"data":{"a":1,"b":null,"c":true,"d":"x"}});
        assert_eq!(problem(event), None);
        assert_eq!(
            problem(json!({"type":"t","action":"a","identifiers":{"k":"v"}})),
            None
        );
    }

    #[test]
    fn names_the_first_problem() {
        let id = json!({"k":"v"});
        let cases = [
            (
                json!({"action":"a","identifiers":id}),
                "missing 'type' field",
            ),
            (
                json!({"type":"","action":"a","identifiers":id}),
                "'type' field must be a non-empty string",
            ),
            (
                json!({"type":"t","identifiers":id}),
                "missing 'action' field",
            ),
            (
                json!({"type":"t","action":"a"}),
                "missing 'identifiers' field",
            ),
            (
                json!({"type":"t","action":"a","identifiers":{}}),
                "'identifiers' field must not be empty",
            ),
            (
                json!({"type":"t","action":"a","identifiers":[]}),
                "'identifiers' field must be an object",
            ),
            (
                json!({"type":"t","action":"a","identifiers":{"k":1}}),
                "identifier 'k' must be a string",
            ),
            (
                json!({"type":"t","action":"a","identifiers":id,"data":[]}),
                "'data' field must be an object",
            ),
            (
                json!({"type":"t","action":"a","identifiers":id,"data":{"x":{}}}),
                "data 'x' must be a string, number, boolean or null",
            ),
            (
                json!({"type":"t","action":"a","identifiers":id,"extra":1}),
                "unexpected field 'extra'",
            ),
            (json!("event"), "event must be a JSON object"),
        ];
        for (event, expected) in cases {
            assert_eq!(problem(event.clone()).as_deref(), Some(expected), "{event}");
        }
    }

    #[test]
    fn the_accepted_body_is_the_json_of_its_fields() {
        let now = SystemTime::now();
        let expected =
            json!({ "title": "Accepted", "status": 202, "timestamp": time::rfc3339_utc(now) });
        assert_eq!(accepted_body(now), expected.to_string());
    }

    #[test]
    fn body_must_be_an_array() {
        assert!(parse_event_array(b"[]").is_ok());
        assert!(parse_event_array(b"{}").unwrap_err().contains("JSON array"));
        assert!(
            parse_event_array(b"[")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }
}
