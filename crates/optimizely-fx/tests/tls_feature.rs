//! The `rustls` feature of the built-in transport. Without it, `UreqTransport` refuses https
//! before connecting and still speaks plain http, and a client whose settings need https says
//! so when it is built. With it, https requests go out as before.

mod http_support;
mod log_capture;

use std::net::TcpListener;
use std::time::Duration;

use http_support::within;
use log_capture::{capture_logs, my_logged};
use optimizely_fx::http::{HttpError, HttpRequest, HttpResponse, HttpTransport, UreqTransport};
use optimizely_fx::{Client, ClientBuilder};

/// Upper bound for "eventually"; never a timing assertion.
const EVENTUALLY: Duration = Duration::from_secs(60);
/// Looks like an SDK key; must never show in a log line or an error.
const SDK_KEY: &str = "sdk-key-Tls-7731";
const HTTPS_DATAFILE_URL_TEMPLATE: &str = "https://127.0.0.1:9/datafiles/{sdk_key}.json";
/// What the no-TLS warning and error say, whatever else they name.
const NEEDS_RUSTLS: &str = "`rustls` feature of optimizely-fx";

fn send(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let transport = UreqTransport::default();
    within(EVENTUALLY, move || transport.send(&request))
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/datafiles/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A listener nobody connects to unless a request is sent to it.
fn idle_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Builds `builder`, returns the warnings about the `rustls` feature logged meanwhile on this
/// thread, and closes the client.
fn tls_warnings_of(builder: ClientBuilder) -> Vec<String> {
    capture_logs();
    let client = builder.build().unwrap();
    let warnings = my_logged(log::Level::Warn, NEEDS_RUSTLS);
    client.close(Duration::from_secs(5));
    warnings
}

/// A client whose every setting calls for https: the datafile URL (on 127.0.0.1, where
/// nothing listens on port 9), the default event endpoint, and a datafile whose ODP host is
/// https.
fn https_everywhere() -> ClientBuilder {
    Client::builder()
        .sdk_key(SDK_KEY)
        .datafile_url_template(HTTPS_DATAFILE_URL_TEMPLATE)
        .datafile(fixture("js-test_data.odpIntegratedConfigWithSegments.json"))
        .polling_interval(Duration::ZERO)
}

#[cfg(not(feature = "rustls"))]
mod without_rustls {
    use std::sync::Arc;

    use http_support::{Action, LoopbackServer};
    use optimizely_fx_devserver::{DevServer, DevServerConfig};

    use super::*;

    fn was_contacted(listener: &TcpListener) -> bool {
        match listener.accept() {
            Ok(_) => true,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => false,
            Err(err) => panic!("accept failed: {err}"),
        }
    }

    fn assert_refused_for_lack_of_tls(err: &HttpError) {
        assert!(matches!(err, HttpError::InvalidUrl(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(NEEDS_RUSTLS), "{message}");
        assert!(message.contains("HttpTransport"), "{message}");
        assert!(!message.contains(SDK_KEY), "{message}");
    }

    #[test]
    fn an_https_request_is_refused_before_connecting() {
        let (listener, port) = idle_listener();
        let url = format!("https://127.0.0.1:{port}/datafiles/{SDK_KEY}.json");

        let err = send(HttpRequest::get(url)).unwrap_err();

        assert_refused_for_lack_of_tls(&err);
        assert!(!was_contacted(&listener), "the transport connected");
    }

    #[test]
    fn the_https_scheme_is_recognised_in_any_case() {
        let (listener, port) = idle_listener();
        let err = send(HttpRequest::post(
            format!("HTTPS://127.0.0.1:{port}/v1/events"),
            b"{}".to_vec(),
        ))
        .unwrap_err();
        assert_refused_for_lack_of_tls(&err);
        assert!(!was_contacted(&listener), "the transport connected");
    }

    #[test]
    fn plain_http_still_works() {
        let server = LoopbackServer::start(|_| Action::respond(200, &[], b"plain"));

        let response = send(HttpRequest::get(server.url("/datafiles/key.json"))).unwrap();

        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"plain");
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn a_redirect_to_https_is_refused_with_the_same_error() {
        let (_listener, port) = idle_listener();
        let target = format!("https://127.0.0.1:{port}/moved");
        let server =
            LoopbackServer::start(move |_| Action::respond(302, &[("location", &target)], b""));

        let err = send(HttpRequest::get(server.url("/datafile.json"))).unwrap_err();

        assert_refused_for_lack_of_tls(&err);
    }

    #[test]
    fn a_client_whose_settings_need_https_warns_once_at_build() {
        let warnings = tls_warnings_of(https_everywhere());

        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let warning = &warnings[0];
        for setting in ["datafile_url_template", "event_endpoint", "ODP host"] {
            assert!(warning.contains(setting), "{setting} not named: {warning}");
        }
        assert!(warning.contains("http_transport"), "{warning}");
        assert!(!warning.contains(SDK_KEY), "{warning}");
        assert!(!warning.contains("127.0.0.1"), "{warning}");
    }

    #[test]
    fn the_warning_names_only_the_settings_that_use_https() {
        let builder = Client::builder()
            .sdk_key(SDK_KEY)
            .datafile_url_template("http://127.0.0.1:9/datafiles/{sdk_key}.json")
            .polling_interval(Duration::ZERO);

        let warnings = tls_warnings_of(builder);

        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("event_endpoint"), "{}", warnings[0]);
        assert!(
            !warnings[0].contains("datafile_url_template"),
            "{}",
            warnings[0]
        );
        assert!(!warnings[0].contains("ODP"), "{}", warnings[0]);
    }

    #[test]
    fn a_client_on_plain_http_does_not_warn_and_delivers() {
        let datafile = fixture("rs-sandbox.json");
        let server = DevServer::start(DevServerConfig::default().datafile(SDK_KEY, &datafile))
            .expect("dev server starts");
        capture_logs();
        let client = Client::builder()
            .sdk_key(SDK_KEY)
            .datafile_url_template(server.datafile_url_template())
            .polling_interval(Duration::ZERO)
            .event_endpoint(server.event_endpoint())
            .build()
            .unwrap();

        assert!(my_logged(log::Level::Warn, NEEDS_RUSTLS).is_empty());
        client.wait_until_ready(EVENTUALLY).unwrap();
        client
            .track_event("purchase", "user-1", [("country", "nl")], ())
            .unwrap();
        let report = client.close(EVENTUALLY);
        assert_eq!(report.events.undelivered, 0, "{report:?}");
        assert_eq!(report.events.stats.sent, 1, "{report:?}");
        assert_eq!(server.log_event_batches_received(), 1);
    }

    #[test]
    fn a_custom_transport_means_no_warning() {
        let transport: Arc<dyn HttpTransport> = Arc::new(UreqTransport::default());
        let warnings = tls_warnings_of(https_everywhere().http_transport(transport));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}

#[cfg(feature = "rustls")]
mod with_rustls {
    use super::*;

    #[test]
    fn an_https_request_goes_to_the_server() {
        let (listener, port) = idle_listener();
        let url = format!("https://127.0.0.1:{port}/datafiles/key.json");
        let (accepted, was_accepted) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            listener.set_nonblocking(false).unwrap();
            // Dropping the connection at once ends the handshake the transport started.
            let _ = accepted.send(listener.accept().is_ok());
        });

        let err = send(HttpRequest::get(url)).unwrap_err();

        assert!(!matches!(err, HttpError::InvalidUrl(_)), "{err:?}");
        let connected = was_accepted.recv_timeout(EVENTUALLY).unwrap_or(false);
        assert!(connected, "the transport did not connect");
    }

    #[test]
    fn building_a_client_that_uses_https_logs_no_tls_warning() {
        let warnings = tls_warnings_of(https_everywhere());
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
