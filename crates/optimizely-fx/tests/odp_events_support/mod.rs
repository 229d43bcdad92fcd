//! Shared helpers of the `odp_events_*` tests: dev servers on 127.0.0.1, clients that poll
//! them, and a log capture installed once per test binary.
#![allow(dead_code)] // each test binary uses a different part

#[path = "../log_capture/mod.rs"]
mod log_capture;
pub use log_capture::*;
#[path = "../waiting/mod.rs"]
mod waiting;
#[allow(unused_imports)] // not every test binary waits
pub use waiting::*;

use std::time::Duration;

use optimizely_fx::{Client, ClientBuilder};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint};

pub const SDK_KEY: &str = "odp-events-sdk-key";
/// The ODP public key the dev server requires and writes into the datafile it serves.
pub const API_KEY: &str = "odp-pk-Secret-7Qx";

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/datafiles/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture is readable")
}

/// ODP integrated (host and key rewritten by the dev server to itself).
pub fn odp_datafile() -> String {
    fixture("go-odp-test-datafile.json")
}

/// No ODP integration at all.
pub fn plain_datafile() -> String {
    fixture("js-test_data.decideConfig.json")
}

/// `odp_datafile()` with its ODP integration pointing at `host` with `key`, and `revision`.
pub fn datafile_pointing_at(host: &str, key: &str, revision: &str) -> String {
    let mut json: serde_json::Value = serde_json::from_str(&odp_datafile()).unwrap();
    json["integrations"] = serde_json::json!([{ "key": "odp", "host": host, "publicKey": key }]);
    json["revision"] = revision.into();
    json.to_string()
}

/// `odp_datafile()` without any integration, with `revision`.
pub fn datafile_without_odp(revision: &str) -> String {
    let mut json: serde_json::Value = serde_json::from_str(&odp_datafile()).unwrap();
    json["integrations"] = serde_json::json!([]);
    json["revision"] = revision.into();
    json.to_string()
}

/// A dev server serving `datafile` for [`SDK_KEY`] (ODP host rewritten to itself), requiring
/// [`API_KEY`].
pub fn server_with(datafile: &str) -> DevServerHandle {
    capture_logs();
    DevServer::start(
        DevServerConfig::default()
            .datafile(SDK_KEY, datafile)
            .odp_api_key(API_KEY),
    )
    .expect("dev server starts")
}

/// A dev server that serves datafiles as they are and accepts ODP events with `key`.
pub fn plain_server(key: &str) -> DevServerHandle {
    capture_logs();
    DevServer::start(
        DevServerConfig::default()
            .odp_api_key(key)
            .rewrite_odp_host(false),
    )
    .expect("dev server starts")
}

/// A builder fetching the datafile of [`SDK_KEY`] from `server`, sending every ODP event at
/// once unless the caller changes that. Impression events go to `server` too, so no URL of the
/// client is https (a build without the `rustls` feature would warn about one).
pub fn builder(server: &DevServerHandle) -> ClientBuilder {
    Client::builder()
        .sdk_key(SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(Duration::ZERO)
        .event_endpoint(server.event_endpoint())
}

pub fn odp_requests(server: &DevServerHandle) -> Vec<optimizely_fx_devserver::RecordedRequest> {
    server.requests(Endpoint::OdpEvents)
}

/// Threads of this process whose name starts with `prefix` (Linux).
pub fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim_end().starts_with(prefix))
        .count()
}
