//! Shared helpers of the `segments_*` tests: a dev server on 127.0.0.1 serving a datafile
//! whose ODP integration points back at it, clients polling it, and log capture.
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

use optimizely_fx::{Client, ClientBuilder, SegmentsCache};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, Endpoint};

pub const SDK_KEY: &str = "segments-sdk-key";
/// The ODP public key the dev server requires and writes into the datafile it serves.
pub const API_KEY: &str = "odp-pk-Zx81qQ";
/// Segments used by the audiences of `go-odp-test-datafile.json`, in datafile order.
pub const GO_SEGMENTS: [&str; 3] = ["odp-segment-1", "odp-segment-2", "odp-segment-3"];

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/datafiles/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture is readable")
}

/// ODP integrated, audiences using `odp-segment-1..3`.
pub fn odp_datafile() -> String {
    fixture("go-odp-test-datafile.json")
}

pub fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// A dev server serving `datafile` for [`SDK_KEY`], requiring [`API_KEY`].
pub fn server_with(datafile: &str) -> DevServerHandle {
    capture_logs();
    let config = DevServerConfig::default()
        .datafile(SDK_KEY, datafile)
        .odp_api_key(API_KEY);
    DevServer::start(config).expect("dev server starts")
}

/// A builder fetching the datafile from `server` once.
pub fn builder(server: &DevServerHandle) -> ClientBuilder {
    Client::builder()
        .sdk_key(SDK_KEY)
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(Duration::ZERO)
}

pub fn graphql_requests(server: &DevServerHandle) -> usize {
    server.requests(Endpoint::OdpGraphql).len()
}

/// A [`SegmentsCache`] over a map that counts its calls.
#[derive(Default)]
pub struct CountingCache {
    pub entries: Mutex<HashMap<String, Vec<String>>>,
    pub lookups: AtomicUsize,
    pub saves: AtomicUsize,
    pub resets: AtomicUsize,
}

impl CountingCache {
    pub fn calls(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
            + self.saves.load(Ordering::SeqCst)
            + self.resets.load(Ordering::SeqCst)
    }
}

impl SegmentsCache for CountingCache {
    fn lookup(&self, key: &str) -> Option<Vec<String>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.entries.lock().unwrap().get(key).cloned()
    }

    fn save(&self, key: &str, segments: Vec<String>) {
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.entries
            .lock()
            .unwrap()
            .insert(key.to_owned(), segments);
    }

    fn reset(&self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.entries.lock().unwrap().clear();
    }
}
