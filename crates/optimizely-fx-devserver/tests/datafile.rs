//! `GET /datafiles/{sdk_key}.json` and `GET /datafiles/auth/{sdk_key}.json`.

mod common;

use std::time::SystemTime;

use common::{get, get_with, send};
use optimizely_fx_devserver::{DevServer, DevServerConfig, Endpoint};
use serde_json::Value;

const DATAFILE: &str =
    r#"{"version":"4","revision":"1","projectId":"1","accountId":"1","integrations":[]}"#;
const ODP_FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"
));

fn last_modified(reply: &common::Reply) -> SystemTime {
    let text = reply.header("last-modified").expect("Last-Modified header");
    httpdate::parse_http_date(text).expect("Last-Modified is an HTTP date")
}

#[test]
fn serves_the_datafile_with_last_modified() {
    let server = DevServer::start(DevServerConfig::default().datafile("key-1", DATAFILE)).unwrap();
    let url = server.datafile_url_template().replace("{sdk_key}", "key-1");
    assert_eq!(url, format!("{}/datafiles/key-1.json", server.url()));

    let reply = get(&url);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body, DATAFILE);
    last_modified(&reply);

    let recorded = server.requests(Endpoint::Datafile);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "GET");
    assert_eq!(recorded[0].path, "/datafiles/key-1.json");
    assert_eq!(recorded[0].status, Some(200));
}

#[test]
fn if_modified_since_not_older_answers_304() {
    let server = DevServer::start(DevServerConfig::default().datafile("k", DATAFILE)).unwrap();
    let url = format!("{}/datafiles/k.json", server.url());
    let first = get(&url);
    let stamp = first.header("last-modified").unwrap().to_owned();

    let unchanged = get_with(&url, &[("if-modified-since", &stamp)]);
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.body, "");

    let later = httpdate::fmt_http_date(last_modified(&first) + std::time::Duration::from_secs(60));
    assert_eq!(get_with(&url, &[("if-modified-since", &later)]).status, 304);

    let older = "Thu, 01 Jan 1970 00:00:00 GMT";
    let changed = get_with(&url, &[("if-modified-since", older)]);
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, DATAFILE);

    let garbage = get_with(&url, &[("if-modified-since", "yesterday")]);
    assert_eq!(garbage.status, 200);
}

#[test]
fn set_datafile_is_seen_as_modified_even_within_the_same_second() {
    let server = DevServer::start(DevServerConfig::default().datafile("k", DATAFILE)).unwrap();
    let url = format!("{}/datafiles/k.json", server.url());
    let first = get(&url);
    let first_stamp = first.header("last-modified").unwrap().to_owned();

    let updated = DATAFILE.replace(r#""revision":"1""#, r#""revision":"2""#);
    server.set_datafile("k", updated.clone());
    let second = get_with(&url, &[("if-modified-since", &first_stamp)]);
    assert_eq!(second.status, 200);
    assert_eq!(second.body, updated);
    assert!(last_modified(&second) > last_modified(&first));

    server.set_datafile("k", DATAFILE);
    let third = get_with(
        &url,
        &[("if-modified-since", second.header("last-modified").unwrap())],
    );
    assert_eq!(third.status, 200);
    assert!(last_modified(&third) > last_modified(&second));
}

#[test]
fn unknown_and_removed_datafiles_answer_404() {
    let server = DevServer::start(DevServerConfig::default().datafile("k", DATAFILE)).unwrap();
    let missing = get(&format!("{}/datafiles/other.json", server.url()));
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("other"));

    assert!(server.remove_datafile("k"));
    assert!(!server.remove_datafile("k"));
    assert_eq!(
        get(&format!("{}/datafiles/k.json", server.url())).status,
        404
    );

    server.set_datafile("k", DATAFILE);
    assert_eq!(
        get(&format!("{}/datafiles/k.json", server.url())).status,
        200
    );
}

#[test]
fn auth_datafile_requires_the_bearer_token() {
    let server = DevServer::start(
        DevServerConfig::default()
            .datafile("secure", DATAFILE)
            .access_token("secure", "t0ken")
            .datafile("open", DATAFILE),
    )
    .unwrap();
    let url = server
        .auth_datafile_url_template()
        .replace("{sdk_key}", "secure");
    assert_eq!(url, format!("{}/datafiles/auth/secure.json", server.url()));

    let missing = get(&url);
    assert_eq!(missing.status, 401);
    assert!(missing.json()["error"].is_string());
    assert!(!missing.body.contains("t0ken"));

    let wrong = get_with(&url, &[("authorization", "Bearer nope")]);
    assert_eq!(wrong.status, 403);
    assert!(!wrong.body.contains("t0ken"));

    let not_bearer = get_with(&url, &[("authorization", "Basic t0ken")]);
    assert_eq!(not_bearer.status, 401);

    let ok = get_with(&url, &[("authorization", "Bearer t0ken")]);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, DATAFILE);
    let stamp = ok.header("last-modified").unwrap().to_owned();
    let unchanged = get_with(
        &url,
        &[
            ("authorization", "Bearer t0ken"),
            ("if-modified-since", &stamp),
        ],
    );
    assert_eq!(unchanged.status, 304);

    // The same datafile stays available on the plain path.
    assert_eq!(
        get(&format!("{}/datafiles/secure.json", server.url())).status,
        200
    );
    // A key without a configured token is refused on the auth path.
    let open = get_with(
        &format!("{}/datafiles/auth/open.json", server.url()),
        &[("authorization", "Bearer t0ken")],
    );
    assert_eq!(open.status, 403);

    server.set_access_token("open", "other");
    let open = get_with(
        &format!("{}/datafiles/auth/open.json", server.url()),
        &[("authorization", "Bearer other")],
    );
    assert_eq!(open.status, 200);
}

#[test]
fn odp_integration_is_pointed_at_the_server() {
    let server = DevServer::start(
        DevServerConfig::default()
            .datafile("odp", ODP_FIXTURE)
            .odp_api_key("local-key"),
    )
    .unwrap();
    let served: Value = get(&format!("{}/datafiles/odp.json", server.url())).json();
    let odp = &served["integrations"][0];
    assert_eq!(odp["key"], "odp");
    assert_eq!(odp["host"], Value::from(server.url()));
    assert_eq!(odp["publicKey"], "local-key");

    let mut expected: Value = serde_json::from_str(ODP_FIXTURE).unwrap();
    expected["integrations"][0]["host"] = Value::from(server.url());
    expected["integrations"][0]["publicKey"] = Value::from("local-key");
    assert_eq!(served, expected);
}

#[test]
fn odp_rewrite_can_be_turned_off() {
    let server = DevServer::start(
        DevServerConfig::default()
            .datafile("odp", ODP_FIXTURE)
            .rewrite_odp_host(false),
    )
    .unwrap();
    let served = get(&format!("{}/datafiles/odp.json", server.url()));
    assert_eq!(served.body, ODP_FIXTURE);
}

#[test]
fn broken_datafiles_are_served_as_given() {
    let server = DevServer::start(DevServerConfig::default().datafile("bad", "{not json")).unwrap();
    let reply = get(&format!("{}/datafiles/bad.json", server.url()));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "{not json");
}

#[test]
fn other_methods_are_refused() {
    let server = DevServer::start(DevServerConfig::default().datafile("k", DATAFILE)).unwrap();
    let reply = send(
        "POST",
        &format!("{}/datafiles/k.json", server.url()),
        &[],
        Some(b"{}"),
    );
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    assert_eq!(server.requests(Endpoint::Datafile)[0].status, Some(405));
}

#[test]
fn recorded_requests_have_lower_case_header_names() {
    let server = DevServer::start(
        DevServerConfig::default()
            .datafile("k", DATAFILE)
            .access_token("k", "secret-token"),
    )
    .unwrap();
    get_with(
        &format!("{}/datafiles/auth/k.json?v=1", server.url()),
        &[
            ("Authorization", "Bearer secret-token"),
            ("X-Custom", "Value"),
        ],
    );
    let recorded = &server.requests(Endpoint::Datafile)[0];
    assert_eq!(recorded.query.as_deref(), Some("v=1"));
    assert_eq!(recorded.header("x-custom"), Some("Value"));
    assert!(
        recorded
            .headers
            .iter()
            .any(|(name, _)| name == "authorization")
    );
    assert!(
        recorded
            .headers
            .iter()
            .all(|(name, _)| *name == name.to_lowercase())
    );
    assert!(!format!("{recorded:?}").contains("secret-token"));
}
