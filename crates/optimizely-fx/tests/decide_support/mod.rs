//! Shared helpers of the `decide_*` and `events_*` tests: fixtures, a dev server on 127.0.0.1
//! receiving event batches (and serving datafiles and ODP), clients pointed at it, event
//! normalisation and log capture.
#![allow(dead_code)] // each test binary uses a different part

#[path = "../log_capture/mod.rs"]
mod log_capture;
pub use log_capture::*;
#[path = "../waiting/mod.rs"]
mod waiting;
#[allow(unused_imports)] // not every test binary waits
pub use waiting::*;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use optimizely_fx::{Client, ClientBuilder, UserProfile, UserProfileError, UserProfileService};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle};
use serde_json::{Value, json};

pub const SDK_KEY: &str = "decide-sdk-key";
pub const ODP_API_KEY: &str = "odp-pk-Decide-42";

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

pub fn datafile(name: &str) -> String {
    let path = format!("{FIXTURES}/datafiles/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn golden_cases(name: &str) -> Vec<Value> {
    let path = format!("{FIXTURES}/golden/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let golden: Value = serde_json::from_str(&text).unwrap();
    golden["cases"].as_array().expect("cases").clone()
}

/// A dev server on 127.0.0.1 (events endpoint, and [`SDK_KEY`] serving `datafile` if given,
/// with ODP pointing back at the server).
pub fn server(datafile: Option<&str>) -> DevServerHandle {
    capture_logs();
    let mut config = DevServerConfig::default().odp_api_key(ODP_API_KEY);
    if let Some(datafile) = datafile {
        config = config.datafile(SDK_KEY, datafile);
    }
    DevServer::start(config).expect("dev server starts")
}

/// A builder with `datafile` given directly, sending events to `server`.
pub fn builder(datafile: &str, server: &DevServerHandle) -> ClientBuilder {
    Client::builder()
        .datafile(datafile)
        .event_endpoint(server.event_endpoint())
}

/// A builder fetching [`SDK_KEY`]'s datafile from `server` once, sending events to it.
pub fn polling_builder(server: &DevServerHandle) -> ClientBuilder {
    Client::builder()
        .sdk_key(SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(Duration::ZERO)
        .event_endpoint(server.event_endpoint())
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every visitor of `batches`, in order.
pub fn visitors(batches: &[Value]) -> Vec<Value> {
    batches
        .iter()
        .flat_map(|batch| batch["visitors"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// `value` with every `uuid` replaced by `<uuid>` and every `timestamp` by 0, after checking
/// they look like a UUID v4 and a recent time in milliseconds.
pub fn normalised(mut value: Value) -> Value {
    normalise(&mut value);
    value
}

fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match key.as_str() {
                    "uuid" => {
                        let text = field.as_str().expect("uuid is a string");
                        let parsed = uuid::Uuid::parse_str(text).expect("uuid parses");
                        assert_eq!(parsed.get_version_num(), 4, "uuid v4: {text}");
                        *field = json!("<uuid>");
                    }
                    "timestamp" => {
                        let millis = field.as_u64().expect("timestamp is an integer");
                        assert!(millis > 1_600_000_000_000, "ms since epoch: {millis}");
                        *field = json!(0);
                    }
                    _ => normalise(field),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

/// The batch's top-level fields (without visitors), client name and version checked and
/// replaced by the golden placeholders.
pub fn batch_header(batch: &Value) -> Value {
    let mut header = batch.as_object().expect("batch object").clone();
    header.remove("visitors");
    assert_eq!(header["client_name"], "rust-sdk");
    assert_eq!(header["client_version"], env!("CARGO_PKG_VERSION"));
    header.insert("client_name".into(), json!("<client_name>"));
    header.insert("client_version".into(), json!("<client_version>"));
    Value::Object(header)
}

/// A [`UserProfileService`] over a map that counts its calls and can be told to fail.
#[derive(Default)]
pub struct CountingProfiles {
    pub profiles: Mutex<HashMap<String, UserProfile>>,
    pub lookups: AtomicUsize,
    pub saves: AtomicUsize,
    pub fail_lookups: std::sync::atomic::AtomicBool,
    pub fail_saves: std::sync::atomic::AtomicBool,
}

impl CountingProfiles {
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    pub fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }

    pub fn stored(&self, user_id: &str) -> Option<UserProfile> {
        self.profiles.lock().unwrap().get(user_id).cloned()
    }
}

impl UserProfileService for CountingProfiles {
    fn lookup(&self, user_id: &str) -> Result<Option<UserProfile>, UserProfileError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.fail_lookups.load(Ordering::SeqCst) {
            return Err("profile store unavailable".into());
        }
        Ok(self.stored(user_id))
    }

    fn save(&self, profile: &UserProfile) -> Result<(), UserProfileError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        if self.fail_saves.load(Ordering::SeqCst) {
            return Err("profile store is read-only".into());
        }
        self.profiles
            .lock()
            .unwrap()
            .insert(profile.user_id.clone(), profile.clone());
        Ok(())
    }
}
