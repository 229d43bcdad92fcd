//! Any JSON object as the parts of an ODP event (`action`, `type`, `identifiers`, `data`):
//! building, checking and serialising never panic, and a refused event is refused for a
//! reason its parts show.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optimizely_fx_core::odp::{OdpEvent, OdpEventError, OdpValue};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(parts)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let text = |key: &str| parts.get(key).and_then(Value::as_str).unwrap_or_default();
    let mut event = OdpEvent::new(text("action")).event_type(text("type"));
    let mut identifiers = 0;
    if let Some(Value::Object(map)) = parts.get("identifiers") {
        for (key, value) in map {
            event = event.identifier(key, value.as_str().unwrap_or_default());
            identifiers += 1;
        }
    }
    if let Some(Value::Object(map)) = parts.get("data") {
        for (key, value) in map {
            // Arrays and objects have no `OdpValue`; NaN stands for a value that cannot be sent.
            let value = OdpValue::from_json(value).unwrap_or(OdpValue::Float(f64::NAN));
            event = event.data(key, value);
        }
    }
    match event.into_wire(u128::from_le_bytes([7; 16]), "0.0.0") {
        Ok(wire) => {
            let json = serde_json::to_string(&wire).expect("an accepted event serialises");
            assert!(serde_json::from_str::<Value>(&json).is_ok());
        }
        Err(OdpEventError::InvalidAction) => assert!(text("action").is_empty()),
        Err(OdpEventError::MissingIdentifiers) => assert_eq!(identifiers, 0),
        Err(_) => {}
    }
});
