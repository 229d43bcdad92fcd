//! `POST /v1/events`: impression and conversion batches (core.md §7.2 shape).

use std::time::SystemTime;

use hyper::StatusCode;
use serde_json::{Map, Value};

use crate::respond::{self, HttpResponse};
use crate::state::Shared;
use crate::time;

type Object = Map<String, Value>;

/// Validates and stores one batch; `204` like logx, or `400` naming the first problem.
pub(crate) fn handle(shared: &Shared, body: &[u8]) -> HttpResponse {
    let batch: Value = match serde_json::from_slice(body) {
        Ok(batch) => batch,
        Err(error) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                format!("request body is not valid JSON: {error}"),
            );
        }
    };
    if let Err(problem) = validate_batch(&batch) {
        return respond::error(StatusCode::BAD_REQUEST, problem);
    }
    match shared
        .db
        .add_batch(&batch, time::unix_millis(SystemTime::now()))
    {
        Ok(total) => shared.recorder.set_batches_received(total),
        Err(error) => {
            log::error!("dev server cannot store an event batch: {error}");
            return respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot store the batch: {error}"),
            );
        }
    }
    respond::empty(StatusCode::NO_CONTENT)
}

fn validate_batch(batch: &Value) -> Result<(), String> {
    let batch = as_object(batch, "request body")?;
    for name in [
        "account_id",
        "project_id",
        "revision",
        "client_name",
        "client_version",
    ] {
        string(batch, "", name)?;
    }
    boolean(batch, "", "anonymize_ip")?;
    boolean(batch, "", "enrich_decisions")?;
    for (index, visitor) in array(batch, "", "visitors")?.iter().enumerate() {
        validate_visitor(visitor, &format!("visitors[{index}]"))?;
    }
    Ok(())
}

fn validate_visitor(visitor: &Value, path: &str) -> Result<(), String> {
    let visitor = as_object(visitor, path)?;
    let prefix = format!("{path}.");
    string(visitor, &prefix, "visitor_id")?;
    for (index, attribute) in array(visitor, &prefix, "attributes")?.iter().enumerate() {
        validate_attribute(attribute, &format!("{prefix}attributes[{index}]"))?;
    }
    for (index, snapshot) in array(visitor, &prefix, "snapshots")?.iter().enumerate() {
        validate_snapshot(snapshot, &format!("{prefix}snapshots[{index}]"))?;
    }
    Ok(())
}

fn validate_attribute(attribute: &Value, path: &str) -> Result<(), String> {
    let attribute = as_object(attribute, path)?;
    let prefix = format!("{path}.");
    string(attribute, &prefix, "entity_id")?;
    string(attribute, &prefix, "key")?;
    string(attribute, &prefix, "type")?;
    match required(attribute, &prefix, "value")? {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(format!(
            "'{prefix}value' must be a string, number or boolean"
        )),
    }
}

fn validate_snapshot(snapshot: &Value, path: &str) -> Result<(), String> {
    let snapshot = as_object(snapshot, path)?;
    let prefix = format!("{path}.");
    if snapshot.contains_key("decisions") {
        for (index, decision) in array(snapshot, &prefix, "decisions")?.iter().enumerate() {
            validate_decision(decision, &format!("{prefix}decisions[{index}]"))?;
        }
    }
    for (index, event) in array(snapshot, &prefix, "events")?.iter().enumerate() {
        validate_event(event, &format!("{prefix}events[{index}]"))?;
    }
    Ok(())
}

fn validate_decision(decision: &Value, path: &str) -> Result<(), String> {
    let decision = as_object(decision, path)?;
    let prefix = format!("{path}.");
    string_or_null(decision, &prefix, "campaign_id")?;
    string(decision, &prefix, "experiment_id")?;
    string_or_null(decision, &prefix, "variation_id")?;
    let metadata = as_object(
        required(decision, &prefix, "metadata")?,
        &format!("{prefix}metadata"),
    )?;
    let metadata_prefix = format!("{prefix}metadata.");
    for name in ["flag_key", "rule_key", "rule_type", "variation_key"] {
        string(metadata, &metadata_prefix, name)?;
    }
    boolean(metadata, &metadata_prefix, "enabled")?;
    Ok(())
}

fn validate_event(event: &Value, path: &str) -> Result<(), String> {
    let event = as_object(event, path)?;
    let prefix = format!("{path}.");
    string_or_null(event, &prefix, "entity_id")?;
    string(event, &prefix, "key")?;
    string(event, &prefix, "uuid")?;
    let timestamp = required(event, &prefix, "timestamp")?;
    if !(timestamp.is_u64() || timestamp.is_i64()) {
        return Err(format!(
            "'{prefix}timestamp' must be an integer (milliseconds)"
        ));
    }
    if let Some(revenue) = event.get("revenue")
        && !(revenue.is_i64() || revenue.is_u64())
    {
        return Err(format!("'{prefix}revenue' must be an integer"));
    }
    if event.get("value").is_some_and(|value| !value.is_number()) {
        return Err(format!("'{prefix}value' must be a number"));
    }
    if event.get("tags").is_some_and(|tags| !tags.is_object()) {
        return Err(format!("'{prefix}tags' must be an object"));
    }
    Ok(())
}

fn as_object<'a>(value: &'a Value, what: &str) -> Result<&'a Object, String> {
    value
        .as_object()
        .ok_or_else(|| format!("'{what}' must be a JSON object"))
}

fn required<'a>(object: &'a Object, prefix: &str, name: &str) -> Result<&'a Value, String> {
    object
        .get(name)
        .ok_or_else(|| format!("missing '{prefix}{name}'"))
}

fn string<'a>(object: &'a Object, prefix: &str, name: &str) -> Result<&'a str, String> {
    required(object, prefix, name)?
        .as_str()
        .ok_or_else(|| format!("'{prefix}{name}' must be a string"))
}

fn string_or_null(object: &Object, prefix: &str, name: &str) -> Result<(), String> {
    match required(object, prefix, name)? {
        Value::String(_) | Value::Null => Ok(()),
        _ => Err(format!("'{prefix}{name}' must be a string or null")),
    }
}

fn boolean(object: &Object, prefix: &str, name: &str) -> Result<bool, String> {
    required(object, prefix, name)?
        .as_bool()
        .ok_or_else(|| format!("'{prefix}{name}' must be a boolean"))
}

fn array<'a>(object: &'a Object, prefix: &str, name: &str) -> Result<&'a Vec<Value>, String> {
    required(object, prefix, name)?
        .as_array()
        .ok_or_else(|| format!("'{prefix}{name}' must be an array"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn impression_batch() -> Value {
        json!({
            "account_id": "1", "project_id": "2", "revision": "3",
            "client_name": "rust-sdk", "client_version": "0.1.0",
            "anonymize_ip": false, "enrich_decisions": true,
            "visitors": [{
                "visitor_id": "user-1",
                "attributes": [{"entity_id": "$opt_bot_filtering", "key": "$opt_bot_filtering", "type": "custom", "value": true}],
                "snapshots": [{
                    "decisions": [{"campaign_id": "10", "experiment_id": "11", "variation_id": null,
                        "metadata": {"flag_key": "f", "rule_key": "r", "rule_type": "feature-test", "variation_key": "v", "enabled": true}}],
                    "events": [{"entity_id": "10", "key": "campaign_activated", "timestamp": 1_700_000_000_000_u64, "uuid": "u"}]
                }]
            }]
        })
    }

    #[test]
    fn accepts_impressions_and_conversions() {
        assert_eq!(validate_batch(&impression_batch()), Ok(()));
        let mut conversion = impression_batch();
        conversion["visitors"][0]["snapshots"][0] = json!({"events": [{"entity_id": "5", "key": "purchase",
            "timestamp": 1, "uuid": "u", "revenue": 4200, "value": 1.5, "tags": {"revenue": 4200}}]});
        assert_eq!(validate_batch(&conversion), Ok(()));
    }

    #[test]
    fn names_the_first_problem() {
        let cases: [(&str, Value, &str); 6] = [
            ("/account_id", json!(1), "'account_id' must be a string"),
            (
                "/anonymize_ip",
                json!("no"),
                "'anonymize_ip' must be a boolean",
            ),
            ("/visitors", json!({}), "'visitors' must be an array"),
            (
                "/visitors/0/visitor_id",
                json!(null),
                "'visitors[0].visitor_id' must be a string",
            ),
            (
                "/visitors/0/snapshots/0/events",
                json!(null),
                "'visitors[0].snapshots[0].events' must be an array",
            ),
            (
                "/visitors/0/snapshots/0/events/0/timestamp",
                json!(1.5),
                "'visitors[0].snapshots[0].events[0].timestamp' must be an integer (milliseconds)",
            ),
        ];
        for (pointer, replacement, expected) in cases {
            let mut batch = impression_batch();
            *batch.pointer_mut(pointer).unwrap() = replacement;
            assert_eq!(
                validate_batch(&batch),
                Err(expected.to_owned()),
                "{pointer}"
            );
        }
        let mut batch = impression_batch();
        batch.as_object_mut().unwrap().remove("revision");
        assert_eq!(validate_batch(&batch), Err("missing 'revision'".to_owned()));
        assert!(validate_batch(&json!([])).is_err());
    }
}
