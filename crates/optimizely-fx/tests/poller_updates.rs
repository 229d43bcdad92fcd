//! The datafile poller against the dev server on 127.0.0.1: readiness, conditional requests,
//! config updates and their notifications, failures, secrets, close and drop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use optimizely_fx::http::{HttpError, HttpRequest, HttpResponse, HttpTransport, UreqTransport};
use optimizely_fx::{Client, ClientBuilder, ConfigUpdate, FetchError, ReadyError};
use optimizely_fx_devserver::{
    DevServer, DevServerConfig, DevServerHandle, Endpoint, Fault, RecordedRequest,
};

/// Upper bound for every "eventually" wait; reaching it means the test failed.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// Log capture: one logger for this test binary; tests look for lines that name their own key.

static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        LOG_LINES.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CapturingLogger).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn log_lines() -> Vec<String> {
    LOG_LINES.lock().unwrap().clone()
}

fn logged(level: log::Level, needle: &str) -> bool {
    let prefix = format!("{level} ");
    log_lines()
        .iter()
        .any(|line| line.starts_with(&prefix) && line.contains(needle))
}

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers.

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/datafiles/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture is readable")
}

fn rev_21() -> String {
    fixture("rs-sandbox.json")
}

fn rev_548() -> String {
    fixture("rs-sandbox_rev548.json")
}

fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start_server(sdk_key: &str, datafile: Option<String>) -> DevServerHandle {
    capture_logs();
    let mut config = DevServerConfig::default().port(0);
    if let Some(datafile) = datafile {
        config = config.datafile(sdk_key, datafile);
    }
    DevServer::start(config).expect("dev server starts")
}

/// A builder polling `server` for `sdk_key` every 50 ms.
fn polling_client(server: &DevServerHandle, sdk_key: &str) -> ClientBuilder {
    Client::builder()
        .sdk_key(sdk_key)
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(POLL_EVERY)
}

fn revision(client: &Client) -> Option<String> {
    client.config().map(|config| config.revision().to_owned())
}

fn requests_for(server: &DevServerHandle, sdk_key: &str) -> Vec<RecordedRequest> {
    let path = format!("/{sdk_key}.json");
    server
        .requests(Endpoint::Datafile)
        .into_iter()
        .filter(|request| request.path.ends_with(&path))
        .collect()
}

fn count_with_status(server: &DevServerHandle, sdk_key: &str, status: u16) -> usize {
    requests_for(server, sdk_key)
        .iter()
        .filter(|request| request.status == Some(status))
        .count()
}

/// Waits until the poller has answered `more` further requests, so that everything it did
/// with earlier responses is finished (it handles one response before sending the next request).
fn wait_for_more_polls(server: &DevServerHandle, sdk_key: &str, more: usize) {
    let target = requests_for(server, sdk_key).len() + more;
    eventually("more polls", || {
        requests_for(server, sdk_key).len() >= target
    });
}

fn ready_client(server: &DevServerHandle, sdk_key: &str) -> Client {
    let client = polling_client(server, sdk_key).build().unwrap();
    client
        .wait_until_ready(PATIENCE)
        .expect("client becomes ready");
    client
}

/// `(previous revision, new revision)` of each announced config update, in order.
type UpdateLog = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Records every config update a client announces.
fn record_updates(client: &Client) -> UpdateLog {
    let updates = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&updates);
    client.add_config_update_listener(move |update: &ConfigUpdate| {
        let entry = (
            update.previous_revision.clone(),
            update.config.revision().to_owned(),
        );
        sink.lock().unwrap().push(entry);
    });
    updates
}

fn updates_of(updates: &UpdateLog) -> Vec<(Option<String>, String)> {
    updates.lock().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// Fetching and updating.

#[test]
fn the_first_fetch_makes_the_client_ready_and_later_polls_are_conditional() {
    let server = start_server("first-fetch", Some(rev_21()));
    let client = polling_client(&server, "first-fetch").build().unwrap();
    assert_eq!(client.wait_until_ready(PATIENCE), Ok(()));
    assert!(client.is_ready());
    assert_eq!(revision(&client).as_deref(), Some("21"));

    eventually("a 304 answer", || {
        count_with_status(&server, "first-fetch", 304) > 0
    });
    let requests = requests_for(&server, "first-fetch");
    assert!(requests[0].header("if-modified-since").is_none());
    let last_modified_sent = requests
        .iter()
        .find(|request| request.status == Some(304))
        .and_then(|request| request.header("if-modified-since"));
    assert!(last_modified_sent.is_some());
    assert_eq!(revision(&client).as_deref(), Some("21"));
    assert!(logged(
        log::Level::Warn,
        "Polling intervals below 30 seconds are not recommended."
    ));
    assert!(logged(
        log::Level::Info,
        "Updated Optimizely config to revision 21"
    ));
}

#[test]
fn a_new_revision_is_swapped_in_and_announced_once() {
    let server = start_server("new-revision", Some(rev_21()));
    let client = ready_client(&server, "new-revision");
    let before = client.config().unwrap();
    let updates = record_updates(&client);

    server.set_datafile("new-revision", rev_548());
    eventually("revision 548", || {
        revision(&client).as_deref() == Some("548")
    });
    wait_for_more_polls(&server, "new-revision", 2);

    assert_eq!(
        updates_of(&updates),
        [(Some("21".to_owned()), "548".to_owned())]
    );
    // A snapshot taken earlier is unaffected by the swap.
    assert_eq!(before.revision(), "21");
}

#[test]
fn the_same_revision_again_changes_nothing() {
    let server = start_server("same-revision", Some(rev_21()));
    let client = ready_client(&server, "same-revision");
    let before = client.config().unwrap();
    let updates = record_updates(&client);

    server.set_datafile("same-revision", rev_21());
    eventually("a second full download", || {
        count_with_status(&server, "same-revision", 200) >= 2
    });
    wait_for_more_polls(&server, "same-revision", 1);

    assert!(updates_of(&updates).is_empty());
    assert!(Arc::ptr_eq(&before, &client.config().unwrap()));
}

#[test]
fn a_bad_datafile_keeps_the_old_config() {
    let server = start_server("bad-datafile", Some(rev_21()));
    let client = ready_client(&server, "bad-datafile");
    let updates = record_updates(&client);

    server.set_datafile("bad-datafile", "{\"revision\": \"99\", oops");
    eventually("the broken datafile to be downloaded", || {
        count_with_status(&server, "bad-datafile", 200) >= 2
    });
    wait_for_more_polls(&server, "bad-datafile", 1);
    assert_eq!(revision(&client).as_deref(), Some("21"));
    assert!(logged(log::Level::Error, "bad-datafile.json rejected"));

    server.inject_fault(Endpoint::Datafile, Fault::MalformedBody { times: 2 });
    server.set_datafile("bad-datafile", rev_548());
    eventually("recovery to revision 548", || {
        revision(&client).as_deref() == Some("548")
    });
    wait_for_more_polls(&server, "bad-datafile", 1);
    assert_eq!(
        updates_of(&updates),
        [(Some("21".to_owned()), "548".to_owned())]
    );
}

#[test]
fn server_errors_and_dropped_connections_keep_the_old_config() {
    let server = start_server("server-errors", Some(rev_21()));
    let client = ready_client(&server, "server-errors");
    let updates = record_updates(&client);

    server.inject_fault(
        Endpoint::Datafile,
        Fault::Status {
            status: 500,
            times: 3,
            retry_after: None,
            body: None,
        },
    );
    server.inject_fault(Endpoint::Datafile, Fault::DropConnection { times: 2 });
    server.set_datafile("server-errors", rev_548());
    eventually("recovery to revision 548", || {
        revision(&client).as_deref() == Some("548")
    });
    wait_for_more_polls(&server, "server-errors", 1);

    assert_eq!(count_with_status(&server, "server-errors", 500), 3);
    assert_eq!(
        updates_of(&updates),
        [(Some("21".to_owned()), "548".to_owned())]
    );
    assert!(logged(log::Level::Warn, "HTTP status 500"));
    assert!(logged(log::Level::Warn, "server-errors.json failed"));
}

#[test]
fn a_vanished_server_keeps_the_old_config() {
    let server = start_server("vanished", Some(rev_21()));
    let client = ready_client(&server, "vanished");
    let url = server
        .datafile_url_template()
        .replace("{sdk_key}", "vanished");
    server.shutdown();

    eventually("a logged fetch failure", || {
        log_lines().iter().any(|line| {
            line.starts_with("WARN") && line.contains(&url) && line.contains("request failed")
        })
    });
    assert!(client.is_ready());
    assert_eq!(revision(&client).as_deref(), Some("21"));
    client.close(PATIENCE);
}

#[test]
fn a_static_datafile_is_used_at_once_and_then_updated() {
    let server = start_server("static-then-poll", Some(rev_548()));
    let client = polling_client(&server, "static-then-poll")
        .datafile(rev_21())
        .build()
        .unwrap();
    assert!(client.is_ready());
    assert!(revision(&client).is_some());
    eventually("revision 548", || {
        revision(&client).as_deref() == Some("548")
    });
}

#[test]
fn a_zero_interval_fetches_only_until_the_first_success() {
    let server = start_server("zero-interval", Some(rev_21()));
    let client = Client::builder()
        .sdk_key("zero-interval")
        .datafile_url_template(server.datafile_url_template())
        .polling_interval(Duration::ZERO)
        .build()
        .unwrap();
    client.wait_until_ready(PATIENCE).unwrap();
    server.set_datafile("zero-interval", rev_548());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(requests_for(&server, "zero-interval").len(), 1);
    assert_eq!(revision(&client).as_deref(), Some("21"));
}

#[test]
fn the_percent_s_placeholder_is_accepted() {
    let server = start_server("percent-s", Some(rev_21()));
    let template = server.datafile_url_template().replace("{sdk_key}", "%s");
    let client = Client::builder()
        .sdk_key("percent-s")
        .datafile_url_template(template)
        .polling_interval(POLL_EVERY)
        .build()
        .unwrap();
    assert_eq!(client.wait_until_ready(PATIENCE), Ok(()));
}

/// A user-supplied transport: panics on its first request, then delegates to the default one.
#[derive(Debug, Default)]
struct FlakyTransport {
    calls: AtomicUsize,
    inner: UreqTransport,
}

impl HttpTransport for FlakyTransport {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("transport failure on purpose");
        }
        self.inner.send(request)
    }
}

#[test]
fn a_custom_transport_carries_the_requests_and_its_panics_are_contained() {
    let server = start_server("custom-transport", Some(rev_21()));
    let transport = Arc::new(FlakyTransport::default());
    let client = polling_client(&server, "custom-transport")
        .http_transport(transport.clone())
        .build()
        .unwrap();
    assert_eq!(client.wait_until_ready(PATIENCE), Ok(()));
    assert!(transport.calls.load(Ordering::SeqCst) >= 2);
    assert!(logged(
        log::Level::Warn,
        "the HTTP transport panicked: transport failure on purpose"
    ));
}

// ---------------------------------------------------------------------------------------------
// Listeners.

#[test]
fn a_panicking_listener_does_not_stop_the_others() {
    let server = start_server("panicking-listener", Some(rev_21()));
    let client = ready_client(&server, "panicking-listener");
    client.add_config_update_listener(|_| panic!("listener failure on purpose"));
    let updates = record_updates(&client);
    let removed_calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&removed_calls);
    let removed = client.add_config_update_listener(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    assert!(client.remove_listener(removed));

    server.set_datafile("panicking-listener", rev_548());
    eventually("the second listener to run", || {
        !updates_of(&updates).is_empty()
    });
    assert!(logged(
        log::Level::Error,
        "Notification listener for (OPTIMIZELY_CONFIG_UPDATE) threw exception: listener failure on purpose"
    ));
    assert_eq!(removed_calls.load(Ordering::SeqCst), 0);

    // The poller survived the panic and keeps working.
    server.set_datafile("panicking-listener", rev_21());
    eventually("revision 21 again", || updates_of(&updates).len() == 2);
}

// ---------------------------------------------------------------------------------------------
// Datafile access token.

#[test]
fn the_access_token_is_sent_but_never_shown() {
    const TOKEN: &str = "datafile-token-3b9f0c2e";
    capture_logs();
    let server = DevServer::start(
        DevServerConfig::default()
            .port(0)
            .datafile("with-token", rev_21())
            .access_token("with-token", TOKEN),
    )
    .unwrap();
    let builder = Client::builder()
        .sdk_key("with-token")
        .datafile_access_token(TOKEN)
        .datafile_url_template(server.auth_datafile_url_template())
        .polling_interval(POLL_EVERY);
    let builder_debug = format!("{builder:?}");
    let client = builder.build().unwrap();
    assert_eq!(client.wait_until_ready(PATIENCE), Ok(()));

    let requests = requests_for(&server, "with-token");
    let expected = format!("Bearer {TOKEN}");
    assert_eq!(requests[0].header("authorization"), Some(expected.as_str()));

    // A wrong token: refused by the server, and the refusal does not show the token either.
    let wrong = "wrong-token-77aa41";
    let refused = Client::builder()
        .sdk_key("with-token")
        .datafile_access_token(wrong)
        .datafile_url_template(server.auth_datafile_url_template())
        .polling_interval(POLL_EVERY)
        .build()
        .unwrap();
    let error = wait_for_reason(&refused);
    assert_eq!(
        error.last_failure(),
        Some(&FetchError::Status { status: 403 })
    );
    eventually("the refusal to be logged", || {
        logged(log::Level::Warn, "HTTP status 403")
    });

    let shown = format!(
        "{builder_debug} {client:?} {refused:?} {error} {error:?} {:?}",
        log_lines()
    );
    for secret in [TOKEN, wrong] {
        assert!(!shown.contains(secret), "{secret} leaked");
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness.

/// Waits until a short `wait_until_ready` fails with a recorded fetch failure, and returns it.
fn wait_for_reason(client: &Client) -> ReadyError {
    let mut last = None;
    eventually("a failed fetch to be recorded", || {
        match client.wait_until_ready(Duration::from_millis(20)) {
            Err(error) if error.last_failure().is_some() => {
                last = Some(error);
                true
            }
            _ => false,
        }
    });
    last.unwrap()
}

#[test]
fn waiting_for_an_unknown_sdk_key_times_out_naming_the_reason() {
    let server = start_server("unknown-key", None);
    let client = polling_client(&server, "unknown-key").build().unwrap();
    let error = wait_for_reason(&client);
    assert!(matches!(error, ReadyError::Timeout { .. }), "{error:?}");
    assert_eq!(
        error.last_failure(),
        Some(&FetchError::Status { status: 404 })
    );
    let message = error.to_string();
    assert!(message.contains("timeout expired after 20 ms"), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(!client.is_ready());
    assert!(client.config().is_none());
}

#[test]
fn closing_releases_waiters_with_the_closed_error() {
    let server = start_server("closed-while-waiting", None);
    let client = polling_client(&server, "closed-while-waiting")
        .build()
        .unwrap();
    let waiter = {
        let client = client.clone();
        std::thread::spawn(move || client.wait_until_ready(Duration::from_secs(3600)))
    };
    eventually("a first 404", || {
        count_with_status(&server, "closed-while-waiting", 404) > 0
    });
    client.close(PATIENCE);
    let outcome = waiter.join().unwrap();
    assert!(
        matches!(outcome, Err(ReadyError::Closed { .. })),
        "{outcome:?}"
    );
    assert!(matches!(
        client.wait_until_ready(Duration::ZERO),
        Err(ReadyError::Closed { .. })
    ));
}

#[test]
fn async_ready_leaves_the_executor_thread_free() {
    let server = Arc::new(start_server("async-ready", None));
    let client = polling_client(&server, "async-ready").build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ticks = Arc::new(AtomicUsize::new(0));
    let outcome = runtime.block_on(async {
        // This task runs on the same single thread as the wait below. Readiness needs it to
        // publish the datafile, which it only does after ticking while the wait is pending.
        let ticker = {
            let ticks = Arc::clone(&ticks);
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                while ticks.load(Ordering::SeqCst) < 20 {
                    ticks.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                server.set_datafile("async-ready", rev_21());
            })
        };
        let outcome = tokio::time::timeout(PATIENCE, client.ready(PATIENCE)).await;
        ticker.await.unwrap();
        outcome
    });
    assert_eq!(outcome.expect("ready before the guard"), Ok(()));
    assert!(ticks.load(Ordering::SeqCst) >= 20);
    assert_eq!(revision(&client).as_deref(), Some("21"));
}

#[test]
fn async_ready_times_out_with_the_reason() {
    let server = start_server("async-timeout", None);
    let client = polling_client(&server, "async-timeout").build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let error = runtime.block_on(async {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let outcome = tokio::time::timeout(PATIENCE, client.ready(Duration::from_millis(30)))
                .await
                .expect("the future resolves by itself on timeout");
            match outcome {
                Err(error) if error.last_failure().is_some() => break error,
                Err(ReadyError::Timeout { .. }) if Instant::now() < give_up => continue,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    });
    assert!(matches!(error, ReadyError::Timeout { .. }));
    assert_eq!(
        error.last_failure(),
        Some(&FetchError::Status { status: 404 })
    );
}

// ---------------------------------------------------------------------------------------------
// Close and drop.

/// Runs `client.close(timeout)` on another thread; true if it returned within [`PATIENCE`].
fn close_returns_within_patience(client: &Client, timeout: Duration) -> bool {
    let (done, returned) = std::sync::mpsc::channel();
    let closer = client.clone();
    std::thread::spawn(move || {
        closer.close(timeout);
        let _ = done.send(());
    });
    returned.recv_timeout(PATIENCE).is_ok()
}

#[test]
fn close_stops_a_poller_that_waits_for_a_long_interval() {
    let server = start_server("long-interval", Some(rev_21()));
    let client = polling_client(&server, "long-interval")
        .polling_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    client.wait_until_ready(PATIENCE).unwrap();
    // close waits for the poller up to an hour, so returning at all shows the poller stopped
    // without waiting for the end of its interval.
    assert!(close_returns_within_patience(
        &client,
        Duration::from_secs(3600)
    ));
    assert!(close_returns_within_patience(
        &client,
        Duration::from_secs(3600)
    ));
    assert!(client.is_ready());
    assert_eq!(requests_for(&server, "long-interval").len(), 1);
}

#[test]
fn close_returns_within_its_timeout_while_a_request_hangs() {
    let server = start_server("hanging", Some(rev_21()));
    server.inject_fault(Endpoint::Datafile, Fault::Hang { times: u32::MAX });
    let client = polling_client(&server, "hanging")
        .datafile_request_timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    eventually("the hanging request", || {
        !requests_for(&server, "hanging").is_empty()
    });
    assert!(close_returns_within_patience(
        &client,
        Duration::from_millis(100)
    ));
    assert!(matches!(
        client.wait_until_ready(Duration::ZERO),
        Err(ReadyError::Closed { .. })
    ));
    server.shutdown();
}

#[test]
fn dropping_the_last_handle_stops_the_poller() {
    let server = start_server("dropped", Some(rev_21()));
    let client = ready_client(&server, "dropped");
    let clone = client.clone();
    drop(client);
    wait_for_more_polls(&server, "dropped", 2);
    assert_eq!(revision(&clone).as_deref(), Some("21"));

    drop(clone);
    let after_drop = requests_for(&server, "dropped").len();
    std::thread::sleep(Duration::from_millis(500));
    // At most one request can have been in flight when the client was dropped.
    assert!(requests_for(&server, "dropped").len() <= after_drop + 1);
}
