//! `UreqTransport` against a real (misbehaving on purpose) server on 127.0.0.1.

mod http_support;

use std::sync::Arc;
use std::time::Duration;

use http_support::{Action, LoopbackServer, closed_port_url, gzip_stored, within};
use optimizely_fx::http::{
    HttpError, HttpRequest, HttpSettings, HttpTransport, Method, UreqTransport,
};

/// Upper bound for "eventually"; never a timing assertion.
const EVENTUALLY: Duration = Duration::from_secs(60);

fn transport() -> Arc<UreqTransport> {
    Arc::new(UreqTransport::default())
}

fn send(
    transport: &Arc<UreqTransport>,
    request: HttpRequest,
) -> Result<optimizely_fx::http::HttpResponse, HttpError> {
    let transport = transport.clone();
    within(EVENTUALLY, move || transport.send(&request))
}

#[test]
fn get_returns_status_headers_and_body() {
    let server = LoopbackServer::start(|_| {
        Action::respond(
            200,
            &[
                ("X-Datafile-Revision", "42"),
                ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
            b"{\"ok\":true}",
        )
    });
    let response = send(
        &transport(),
        HttpRequest::get(server.url("/datafiles/key.json")),
    )
    .unwrap();

    assert_eq!(response.status, 200);
    assert!(response.is_success());
    assert_eq!(response.body, b"{\"ok\":true}");
    assert_eq!(response.header("x-datafile-revision"), Some("42"));
    assert_eq!(
        response.header("LAST-MODIFIED"),
        Some("Wed, 21 Oct 2015 07:28:00 GMT")
    );
    assert!(
        response
            .headers
            .iter()
            .all(|(name, _)| *name == name.to_ascii_lowercase())
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/datafiles/key.json");
}

#[test]
fn error_statuses_are_responses_not_errors() {
    let server = LoopbackServer::start(|request| {
        let status = request.path.trim_start_matches('/').parse().unwrap();
        Action::respond(status, &[], format!("status {status}").as_bytes())
    });
    let transport = transport();
    for status in [204u16, 304, 400, 403, 404, 429, 500, 503] {
        let response = send(
            &transport,
            HttpRequest::get(server.url(&format!("/{status}"))),
        )
        .unwrap();
        assert_eq!(response.status, status);
        assert_eq!(response.is_success(), status == 204);
        if status != 204 && status != 304 {
            assert_eq!(response.body, format!("status {status}").as_bytes());
        }
    }
}

#[test]
fn post_sends_body_and_every_header_including_secret_ones() {
    let server = LoopbackServer::start(|_| Action::status(202));
    let request = HttpRequest::post(server.url("/v3/events"), b"[{\"a\":1}]".to_vec())
        .header("Content-Type", "application/json")
        .secret_header("x-api-key", "super-secret-key");
    assert_eq!(request.method(), Method::Post);

    let response = send(&transport(), request).unwrap();

    assert_eq!(response.status, 202);
    let received = &server.requests()[0];
    assert_eq!(received.method, "POST");
    assert_eq!(received.path, "/v3/events");
    assert_eq!(received.body, b"[{\"a\":1}]");
    assert_eq!(received.header("content-type"), Some("application/json"));
    assert_eq!(received.header("x-api-key"), Some("super-secret-key"));
    let user_agent = received.header("user-agent").unwrap();
    assert!(user_agent.starts_with("optimizely-fx/"), "{user_agent}");
    assert!(received.header("accept-encoding").unwrap().contains("gzip"));
}

#[test]
fn debug_of_a_request_never_shows_a_secret_header_value() {
    let request = HttpRequest::get("http://127.0.0.1/x")
        .secret_header("Authorization", "Bearer token-123")
        .header("accept", "application/json");
    let debug = format!("{request:?}");
    assert!(!debug.contains("token-123"), "{debug}");
    assert!(debug.contains("authorization"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");
    assert!(debug.contains("application/json"), "{debug}");
    // The transport still sees the real value.
    assert!(
        request
            .headers()
            .any(|(_, value)| value == "Bearer token-123")
    );
}

#[test]
fn a_server_that_never_answers_gives_timeout() {
    let server = LoopbackServer::start(|_| Action::Hang);
    let request = HttpRequest::get(server.url("/slow")).timeout(Duration::from_millis(300));

    let err = send(&transport(), request).unwrap_err();

    assert_eq!(err, HttpError::Timeout);
}

#[test]
fn the_default_timeout_applies_when_a_request_sets_none() {
    let server = LoopbackServer::start(|_| Action::Hang);
    let mut settings = HttpSettings::default();
    settings.default_timeout = Duration::from_millis(300);
    let transport = Arc::new(UreqTransport::new(settings));

    let err = send(&transport, HttpRequest::get(server.url("/slow"))).unwrap_err();

    assert_eq!(err, HttpError::Timeout);
}

#[test]
fn a_body_that_stalls_half_way_gives_timeout() {
    let server = LoopbackServer::start(|_| {
        Action::WriteThenHang(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nhello".to_vec())
    });
    let request = HttpRequest::get(server.url("/stall")).timeout(Duration::from_millis(300));

    let err = send(&transport(), request).unwrap_err();

    assert_eq!(err, HttpError::Timeout);
}

#[test]
fn a_connection_closed_without_a_response_is_a_transport_error() {
    let server = LoopbackServer::start(|_| Action::Close);

    let err = send(&transport(), HttpRequest::get(server.url("/"))).unwrap_err();

    assert!(matches!(err, HttpError::Transport(_)), "{err:?}");
}

#[test]
fn a_truncated_body_is_a_transport_error() {
    let server = LoopbackServer::start(|_| {
        Action::Raw(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly a few bytes".to_vec())
    });

    let err = send(&transport(), HttpRequest::get(server.url("/"))).unwrap_err();

    assert!(matches!(err, HttpError::Transport(_)), "{err:?}");
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let server = LoopbackServer::start(|request| {
        let size = request
            .path
            .trim_start_matches('/')
            .parse::<usize>()
            .unwrap();
        Action::respond(200, &[], &vec![b'x'; size])
    });
    let mut settings = HttpSettings::default();
    settings.max_response_body = 1024;
    let transport = Arc::new(UreqTransport::new(settings));

    let err = send(&transport, HttpRequest::get(server.url("/4096"))).unwrap_err();
    assert_eq!(err, HttpError::BodyTooLarge { limit: 1024 });

    let at_limit = send(&transport, HttpRequest::get(server.url("/1024"))).unwrap();
    assert_eq!(at_limit.body.len(), 1024);
}

#[test]
fn the_body_limit_applies_after_decompression() {
    let server = LoopbackServer::start(|_| {
        Action::respond(
            200,
            &[("content-encoding", "gzip")],
            &gzip_stored(&[b'z'; 5000]),
        )
    });
    let mut settings = HttpSettings::default();
    settings.max_response_body = 4096;
    let transport = Arc::new(UreqTransport::new(settings));

    let err = send(&transport, HttpRequest::get(server.url("/"))).unwrap_err();

    assert_eq!(err, HttpError::BodyTooLarge { limit: 4096 });
}

#[test]
fn gzip_bodies_are_decoded() {
    let json = br#"{"version":"4","revision":"7"}"#;
    let server = LoopbackServer::start(move |_| {
        Action::respond(200, &[("content-encoding", "gzip")], &gzip_stored(json))
    });

    let response = send(&transport(), HttpRequest::get(server.url("/"))).unwrap();

    assert_eq!(response.body, json);
}

#[test]
fn connection_refused_is_a_connect_error() {
    let err = send(&transport(), HttpRequest::get(closed_port_url())).unwrap_err();

    assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
}

#[test]
fn redirects_are_followed_only_without_secret_headers() {
    let target = LoopbackServer::start(|_| Action::respond(200, &[], b"moved here"));
    let location = target.url("/final");
    let origin =
        LoopbackServer::start(move |_| Action::respond(302, &[("location", &location)], b""));
    let transport = transport();

    let plain = send(&transport, HttpRequest::get(origin.url("/start"))).unwrap();
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, b"moved here");

    let secret =
        HttpRequest::get(origin.url("/start")).secret_header("authorization", "Bearer t0k3n");
    let response = send(&transport, secret).unwrap();
    assert_eq!(response.status, 302);
    assert!(
        target
            .requests()
            .iter()
            .all(|request| request.header("authorization").is_none()),
        "the secret must not be forwarded"
    );
}

#[test]
fn errors_never_contain_secret_header_values() {
    let hang = LoopbackServer::start(|_| Action::Hang);
    let close = LoopbackServer::start(|_| Action::Close);
    let transport = transport();
    let urls = [hang.url("/"), close.url("/"), closed_port_url()];
    for url in urls {
        let request = HttpRequest::get(url)
            .secret_header("x-api-key", "SECRET-VALUE-XYZ")
            .timeout(Duration::from_millis(300));
        let err = send(&transport, request).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("SECRET-VALUE-XYZ"), "{shown}");
    }
}
