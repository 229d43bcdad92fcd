//! Building a client, and using one built from a static datafile (no network involved).

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use optimizely_fx::{BuildError, Client, NotificationType, ReadyError};

const TOKEN: &str = "static-client-secret-token";

fn fixture_path(name: &str) -> String {
    format!(
        "{}/../../tests/fixtures/datafiles/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture is readable")
}

fn revision(client: &Client) -> Option<String> {
    client.config().map(|config| config.revision().to_owned())
}

fn static_client() -> Client {
    Client::builder()
        .datafile(fixture("rs-sandbox.json"))
        .build()
        .expect("fixture datafile is valid")
}

#[test]
fn a_static_datafile_makes_the_client_ready_at_once() {
    let client = static_client();
    assert!(client.is_ready());
    assert_eq!(client.wait_until_ready(Duration::ZERO), Ok(()));
    assert_eq!(revision(&client).as_deref(), Some("21"));
}

#[test]
fn the_async_wait_of_a_static_client_resolves_at_once() {
    let client = static_client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let outcome = runtime.block_on(client.ready(Duration::ZERO));
    assert_eq!(outcome, Ok(()));
}

#[test]
fn a_datafile_file_is_read_at_build() {
    let client = Client::builder()
        .datafile_file(fixture_path("rs-sandbox_rev548.json"))
        .build()
        .unwrap();
    assert_eq!(revision(&client).as_deref(), Some("548"));
}

#[test]
fn a_missing_datafile_file_fails_the_build() {
    let path = fixture_path("no-such-datafile.json");
    let error = Client::builder().datafile_file(&path).build().unwrap_err();
    assert!(
        matches!(&error, BuildError::DatafileFile { path: p, .. } if p.ends_with("no-such-datafile.json"))
    );
    assert!(
        error.to_string().contains("no-such-datafile.json"),
        "{error}"
    );
    assert!(error.source().is_some());
}

#[test]
fn an_invalid_datafile_fails_the_build_with_the_datafile_error() {
    for datafile in [
        "",
        "{not json",
        "[]",
        &fixture("js-test_data.unsupportedVersionConfig.json"),
    ] {
        let error = Client::builder().datafile(datafile).build().unwrap_err();
        let BuildError::InvalidDatafile(cause) = &error else {
            panic!("expected an invalid datafile error for {datafile:?}, got {error:?}");
        };
        assert!(error.to_string().contains(&cause.to_string()));
    }
}

#[test]
fn the_unsupported_version_is_named() {
    let datafile = fixture("js-test_data.unsupportedVersionConfig.json");
    let error = Client::builder().datafile(datafile).build().unwrap_err();
    assert!(
        error
            .to_string()
            .contains("does not support the given datafile version: 5"),
        "{error}"
    );
}

#[test]
fn a_client_needs_a_datafile_or_an_sdk_key() {
    let error = Client::builder().build().unwrap_err();
    assert!(matches!(error, BuildError::MissingSdkKeyOrDatafile));
    assert_eq!(error.to_string(), "sdk_key or datafile must be provided");
}

#[test]
fn inconsistent_settings_are_refused() {
    let empty_key = Client::builder().sdk_key("").build().unwrap_err();
    assert!(matches!(empty_key, BuildError::EmptySdkKey));

    let token_alone = Client::builder()
        .datafile(fixture("rs-sandbox.json"))
        .datafile_access_token(TOKEN)
        .build()
        .unwrap_err();
    assert!(matches!(token_alone, BuildError::AccessTokenWithoutSdkKey));
    assert!(!format!("{token_alone} {token_alone:?}").contains(TOKEN));

    let zero_timeout = Client::builder()
        .sdk_key("some-key")
        .datafile_request_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(matches!(
        zero_timeout,
        BuildError::ZeroDatafileRequestTimeout
    ));
}

#[test]
fn debug_output_hides_the_token_and_the_datafile_text() {
    let datafile = fixture("rs-sandbox.json");
    let builder = Client::builder()
        .datafile(datafile.clone())
        .sdk_key("debug-key")
        .datafile_access_token(TOKEN)
        .datafile_url_template("http://127.0.0.1:9/{sdk_key}");
    let shown = format!("{builder:?} {builder:#?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("projectId"), "{shown}");
    assert!(shown.contains("debug-key"), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
}

#[test]
fn the_config_is_a_snapshot_shared_by_clones() {
    let client = static_client();
    let clone = client.clone();
    let first = client.config().unwrap();
    let second = clone.config().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert!(format!("{client:?}").contains("21"));
}

#[test]
fn listeners_can_be_removed_and_cleared() {
    let client = static_client();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let first = client.add_config_update_listener(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let second = client.add_config_update_listener(|_| {});
    let third = client.add_config_update_listener(|_| {});
    assert!(first < second && second < third);
    assert_eq!(first.get(), 1);
    assert!(client.remove_listener(second));
    assert!(!client.remove_listener(second));
    client.clear_listeners(NotificationType::ConfigUpdate);
    assert!(!client.remove_listener(first));
    assert!(!client.remove_listener(third));
    let fourth = client.add_config_update_listener(|_| {});
    assert!(fourth > third);
    client.clear_all_listeners();
    assert!(!client.remove_listener(fourth));
    // A static datafile never changes, so no listener was ever called.
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        NotificationType::ConfigUpdate.to_string(),
        "OPTIMIZELY_CONFIG_UPDATE"
    );
}

#[test]
fn closing_is_idempotent_and_keeps_the_last_config() {
    let client = static_client();
    client.close(Duration::from_secs(5));
    client.close(Duration::ZERO);
    assert!(client.is_ready());
    assert_eq!(revision(&client).as_deref(), Some("21"));
    assert_eq!(client.wait_until_ready(Duration::ZERO), Ok(()));
}

#[test]
fn ready_errors_name_their_reason() {
    let timeout = ReadyError::Timeout {
        timeout: Duration::from_millis(1500),
        last_failure: None,
    };
    assert_eq!(
        timeout.to_string(),
        "client not ready: timeout expired after 1500 ms"
    );
}

#[test]
fn the_client_and_its_ready_future_can_move_between_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn movable_future<F: std::future::Future + Send + Unpin + 'static>(_: &F) {}
    shareable::<Client>();
    let client = static_client();
    let future = client.ready(Duration::ZERO);
    movable_future(&future);
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    })
    .join()
    .unwrap();
    assert_eq!(outcome, Ok(()));
}
