//! Waiting helpers shared by the integration tests: generous upper bounds for "eventually"
//! conditions (never timing assertions), and a ready client.
#![allow(dead_code)] // each test binary uses a different part

use std::time::{Duration, Instant};

use optimizely_fx::{Client, ClientBuilder};

/// Upper bound of every "eventually" wait; reaching it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until `condition` holds, failing the test after [`PATIENCE`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Builds the client and waits until it has a datafile.
pub fn ready(builder: ClientBuilder) -> Client {
    let client = builder.build().expect("client builds");
    client
        .wait_until_ready(PATIENCE)
        .expect("client becomes ready");
    client
}
