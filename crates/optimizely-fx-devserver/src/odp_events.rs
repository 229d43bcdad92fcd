use std::time::SystemTime;

use hyper::StatusCode;
use hyper::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::respond::{self, HttpResponse};
use crate::state::Shared;
use crate::time;

const EVENT_FIELDS: [&str; 4] = ["type", "action", "identifiers", "data"];

/// Answers `POST /v3/events`: validates the whole batch, stores it only if every event is
/// valid.
pub(crate) fn handle(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    let now = SystemTime::now();
    if let Some(refusal) = api_key_refusal(shared, headers, now) {
        return refusal;
    }
    let events = match parse_event_array(body) {
        Ok(events) => events,
        Err(message) => return bad_request(now, json!({ "message": message })),
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
        return bad_request(now, json!({ "invalids": invalids }));
    }
    match shared.db.add_odp_events(&events, time::unix_millis(now)) {
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
    respond::json(
        StatusCode::ACCEPTED,
        &json!({ "title": "Accepted", "status": 202, "timestamp": time::rfc3339_utc(now) }),
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
