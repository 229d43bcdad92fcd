//! Qualified segments on the user context (set, fetched from the dev server's ODP GraphQL,
//! blocking and async) in decisions, and the `identified` ODP event.

mod decide_support;

use std::time::Duration;

use decide_support::*;
use optimizely_fx::{AttributeValue, Attributes, Client, DecideOption, FetchSegmentsError};
use optimizely_fx_devserver::DevServerHandle;

const FLAG: &str = "flag-segment";

fn odp_server() -> DevServerHandle {
    server(Some(&datafile("go-odp-test-datafile.json")))
}

fn odp_client(server: &DevServerHandle) -> Client {
    ready(
        polling_builder(server)
            .default_decide_options(&[DecideOption::DisableDecisionEvent])
            .odp_event_flush_interval(Duration::ZERO),
    )
}

struct Case {
    user: &'static str,
    on_server: Option<&'static [&'static str]>,
    age: Option<i64>,
    fetched: Option<&'static [&'static str]>,
    variation: &'static str,
}

/// The six decide cases of the Go SDK's ODP decide tests (odp.md §7.2).
const CASES: [Case; 6] = [
    Case {
        user: "odp-user-1",
        on_server: Some(&["odp-segment-1", "odp-segment-none"]),
        age: None,
        fetched: Some(&["odp-segment-1"]),
        variation: "variation-a",
    },
    Case {
        user: "odp-user-2",
        on_server: Some(&["odp-segment-none"]),
        age: Some(30),
        fetched: Some(&[]),
        variation: "variation-a",
    },
    Case {
        user: "odp-user-3",
        on_server: Some(&["odp-segment-2"]),
        age: None,
        fetched: Some(&["odp-segment-2"]),
        variation: "rollout-variation-on",
    },
    Case {
        user: "odp-user-4",
        on_server: Some(&["odp-segment-none"]),
        age: None,
        fetched: Some(&[]),
        variation: "rollout-variation-off",
    },
    Case {
        user: "odp-user-5",
        on_server: Some(&[]),
        age: None,
        fetched: Some(&[]),
        variation: "rollout-variation-off",
    },
    Case {
        user: "odp-user-6",
        on_server: None,
        age: None,
        fetched: None,
        variation: "rollout-variation-off",
    },
];

fn attributes(case: &Case) -> Attributes {
    case.age
        .map(|age| ("age", AttributeValue::from(age)))
        .into_iter()
        .collect()
}

#[test]
fn the_six_odp_decide_cases_with_segments_fetched_from_odp() {
    let server = odp_server();
    for case in &CASES {
        if let Some(segments) = case.on_server {
            server.set_segments(case.user, strings(segments));
        }
    }
    let client = odp_client(&server);
    for case in &CASES {
        let mut user = client.create_user_context(case.user, attributes(case));
        if case.on_server.is_some() {
            user.fetch_qualified_segments(&[])
                .expect("segments fetched");
        }
        assert_eq!(
            user.qualified_segments(),
            case.fetched.map(strings),
            "{}",
            case.user
        );
        let decision = user.decide(FLAG, &[]);
        assert_eq!(
            decision.variation_key.as_deref(),
            Some(case.variation),
            "{}",
            case.user
        );
        assert_eq!(
            decision.user_context.qualified_segments(),
            case.fetched.map(strings)
        );
    }
}

#[test]
fn the_six_odp_decide_cases_with_segments_set_directly() {
    let server = odp_server();
    let client = odp_client(&server);
    for case in &CASES {
        let mut user = client.create_user_context(case.user, attributes(case));
        user.set_qualified_segments(case.on_server.map(strings));
        let decision = user.decide(FLAG, &[]);
        assert_eq!(
            decision.variation_key.as_deref(),
            Some(case.variation),
            "{}",
            case.user
        );
    }
    let mut user = client.create_user_context("u", Attributes::new());
    assert!(
        !user.is_qualified_for("odp-segment-1"),
        "unknown segments qualify for nothing"
    );
    user.set_qualified_segments(Some(strings(&["odp-segment-1"])));
    assert!(user.is_qualified_for("odp-segment-1"));
    assert!(!user.is_qualified_for("ODP-SEGMENT-1"));
    user.set_qualified_segments(None);
    assert_eq!(user.qualified_segments(), None);
    assert_eq!(
        server
            .requests(optimizely_fx_devserver::Endpoint::OdpGraphql)
            .len(),
        0
    );
}

#[test]
fn a_failed_fetch_leaves_segments_unknown_and_decisions_still_work() {
    let server = odp_server();
    let client = odp_client(&server);
    let mut user = client.create_user_context("nobody-knows-me", Attributes::new());
    user.set_qualified_segments(Some(strings(&["odp-segment-2"])));
    let error = user.fetch_qualified_segments(&[]).unwrap_err();
    assert!(
        matches!(error, FetchSegmentsError::FetchFailed(_)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "Audience segments fetch failed (invalid identifier)"
    );
    assert_eq!(user.qualified_segments(), None);
    let decision = user.decide(FLAG, &[]);
    assert_eq!(
        decision.variation_key.as_deref(),
        Some("rollout-variation-off")
    );
}

#[test]
fn the_async_fetch_stores_the_segments_too() {
    let server = odp_server();
    server.set_segments("async-user", strings(&["odp-segment-2"]));
    let client = odp_client(&server);
    let mut user = client.create_user_context("async-user", Attributes::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    fn sendable<T: Send>(future: T) -> T {
        future
    }
    runtime
        .block_on(sendable(user.fetch_qualified_segments_async(&[])))
        .expect("fetched");
    assert_eq!(user.qualified_segments(), Some(strings(&["odp-segment-2"])));
    assert_eq!(
        user.decide(FLAG, &[]).variation_key.as_deref(),
        Some("rollout-variation-on")
    );

    let mut stranger = client.create_user_context("async-stranger", Attributes::new());
    stranger.set_qualified_segments(Some(Vec::new()));
    let failed = runtime.block_on(stranger.fetch_qualified_segments_async(&[]));
    assert!(failed.is_err());
    assert_eq!(stranger.qualified_segments(), None);
}

#[test]
fn plain_contexts_and_decisions_never_identify() {
    let server = odp_server();
    let client = odp_client(&server);
    for i in 0..5 {
        let user = client.create_user_context(format!("plain-{i}"), [("age", 30)]);
        user.decide_all(&[]);
    }
    let lonely = client.create_user_context_with_identifiers(
        "lonely",
        Attributes::new(),
        [("email", ""), ("vuid", "")],
    );
    lonely.decide(FLAG, &[]);
    let report = client.close(PATIENCE);
    assert_eq!(report.odp_events.stats.sent, 0);
    assert!(server.odp_events().is_empty(), "{:?}", server.odp_events());
    assert!(
        !my_logged(
            log::Level::Debug,
            "ODP identify event is not dispatched (fewer than 2 valid identifiers)."
        )
        .is_empty()
    );
}

#[test]
fn a_context_with_two_identifiers_sends_one_identified_event() {
    let server = odp_server();
    let client = odp_client(&server);
    let user = client.create_user_context_with_identifiers(
        "known-user",
        [("age", 41)],
        [("email", "known@example.com")],
    );
    user.decide_all(&[]);
    user.decide(FLAG, &[]);
    let copy = user.clone();
    copy.decide(FLAG, &[]);
    let report = client.close(PATIENCE);
    assert_eq!(report.odp_events.stats.sent, 1, "{report:?}");
    let events = server.odp_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["type"], "fullstack");
    assert_eq!(event["action"], "identified");
    assert_eq!(
        event["identifiers"],
        serde_json::json!({"fs_user_id": "known-user", "email": "known@example.com"})
    );
    assert_eq!(event["data"]["data_source_type"], "sdk");
    assert_eq!(event["data"]["data_source"], "rust-sdk");
    assert!(event["data"]["idempotence_id"].is_string());
}

#[test]
fn identify_is_quiet_when_odp_is_off() {
    let server = odp_server();
    let client = ready(
        polling_builder(&server)
            .odp_disabled(true)
            .default_decide_options(&[DecideOption::DisableDecisionEvent]),
    );
    let user = client.create_user_context_with_identifiers(
        "quiet-user",
        Attributes::new(),
        [("email", "quiet@example.com")],
    );
    assert_eq!(user.user_id(), "quiet-user");
    client.close(PATIENCE);
    assert!(server.odp_events().is_empty());
    assert!(
        my_logged(log::Level::Warn, "ODP").is_empty()
            && my_logged(log::Level::Error, "ODP").is_empty()
    );
    assert_eq!(
        my_logged(
            log::Level::Debug,
            "ODP identify event for user quiet-user is not dispatched"
        )
        .len(),
        1
    );
}
