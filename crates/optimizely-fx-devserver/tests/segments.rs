//! Segment qualification computed from received ODP events: rules, static members, identity
//! stitching, the segments file and the control API for rules.

mod common;

use std::num::NonZeroU32;
use std::thread;
use std::time::Duration;

use common::{
    ODP_KEY, get, odp_event_with, post_graphql, qualified_via_graphql, segment_query, send,
    send_odp_events,
};
use optimizely_fx_devserver::{
    DevServer, DevServerConfig, DevServerError, DevServerHandle, EventRule, SegmentDefinition,
};
use serde_json::{Value, json};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/segments.toml");
const ALL: &[&str] = &[
    "frequent_buyers",
    "newsletter_readers",
    "pro_upgraders",
    "beta_testers",
];

fn server_with_example() -> DevServerHandle {
    DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .segments_file(EXAMPLE),
    )
    .unwrap()
}

fn user(id: &str) -> Value {
    json!({ "fs_user_id": id })
}

fn purchase(identifiers: Value) -> Value {
    odp_event_with("fullstack", "purchased", identifiers, json!({}))
}

fn qualified(server: &DevServerHandle, kind: &str, value: &str) -> Option<Vec<String>> {
    qualified_via_graphql(&server.url(), kind, value, ALL)
}

#[test]
fn the_example_file_is_loaded() {
    let server = server_with_example();
    let names: Vec<String> = server
        .segment_definitions()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "beta_testers",
            "frequent_buyers",
            "newsletter_readers",
            "pro_upgraders"
        ]
    );
    let frequent = server
        .segment_definitions()
        .into_iter()
        .find(|s| s.name() == "frequent_buyers")
        .unwrap();
    let rule = frequent.rule().unwrap();
    assert_eq!((rule.action(), rule.min_count().get()), ("purchased", 3));
    assert_eq!(rule.window().unwrap().to_string(), "30d");
    // Static members qualify without any event, by an identifier of any kind.
    assert_eq!(
        qualified(&server, "fs_user_id", "vip-user"),
        Some(vec!["frequent_buyers".to_owned()])
    );
    assert_eq!(
        qualified(&server, "vuid", "tester-1"),
        Some(vec!["beta_testers".to_owned()])
    );
    assert_eq!(qualified(&server, "fs_user_id", "stranger"), None);
}

#[test]
fn a_rule_qualifies_a_user_once_enough_events_arrived() {
    let server = server_with_example();
    send_odp_events(
        &server.url(),
        &[purchase(user("buyer")), purchase(user("buyer"))],
    );
    assert_eq!(qualified(&server, "fs_user_id", "buyer"), Some(vec![]));

    send_odp_events(&server.url(), &[purchase(user("buyer"))]);
    assert_eq!(
        qualified(&server, "fs_user_id", "buyer"),
        Some(vec!["frequent_buyers".to_owned()])
    );
    assert_eq!(
        server.qualified_segments("fs_user_id", "buyer"),
        Some(vec!["frequent_buyers".to_owned()])
    );
    // Other actions of the same user do not count.
    let other = odp_event_with("fullstack", "viewed", user("viewer"), json!({}));
    send_odp_events(&server.url(), &[other.clone(), other.clone(), other]);
    assert_eq!(qualified(&server, "fs_user_id", "viewer"), Some(vec![]));
}

#[test]
fn type_and_data_conditions_must_hold() {
    let server = server_with_example();
    let opened =
        |event_type: &str, id: &str| odp_event_with(event_type, "opened", user(id), json!({}));
    send_odp_events(
        &server.url(),
        &[opened("fullstack", "a"), opened("email", "b")],
    );
    assert_eq!(qualified(&server, "fs_user_id", "a"), Some(vec![]));
    assert_eq!(
        qualified(&server, "fs_user_id", "b"),
        Some(vec!["newsletter_readers".to_owned()])
    );

    let upgraded = |plan: Value, id: &str| {
        odp_event_with(
            "fullstack",
            "upgraded",
            user(id),
            json!({ "plan": plan, "seats": 3 }),
        )
    };
    send_odp_events(
        &server.url(),
        &[
            upgraded(json!("basic"), "c"),
            upgraded(json!(null), "c"),
            upgraded(json!("pro"), "d"),
        ],
    );
    assert_eq!(qualified(&server, "fs_user_id", "c"), Some(vec![]));
    assert_eq!(
        qualified(&server, "fs_user_id", "d"),
        Some(vec!["pro_upgraders".to_owned()])
    );
}

#[test]
fn events_older_than_the_window_no_longer_count() {
    let one_second = EventRule::new("clicked")
        .unwrap()
        .within("1s".parse().unwrap());
    let one_hour = EventRule::new("clicked")
        .unwrap()
        .within("1h".parse().unwrap());
    let server = DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .segment_rules([
                SegmentDefinition::new("clicked_last_second")
                    .unwrap()
                    .with_rule(one_second),
                SegmentDefinition::new("clicked_last_hour")
                    .unwrap()
                    .with_rule(one_hour),
            ]),
    )
    .unwrap();
    let clicked = odp_event_with("fullstack", "clicked", user("u"), json!({}));
    send_odp_events(&server.url(), &[clicked]);
    // Wait until the event is surely older than one second (but far younger than an hour).
    thread::sleep(Duration::from_millis(2_500));
    let segments = ["clicked_last_second", "clicked_last_hour"];
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "u", &segments),
        Some(vec!["clicked_last_hour".to_owned()])
    );
}

#[test]
fn identifiers_seen_together_belong_to_one_user() {
    let server = server_with_example();
    // Two purchases as fs_user_id u1, one as vuid v1: two separate users so far.
    send_odp_events(
        &server.url(),
        &[
            purchase(user("u1")),
            purchase(user("u1")),
            purchase(json!({ "vuid": "v1" })),
        ],
    );
    assert_eq!(qualified(&server, "fs_user_id", "u1"), Some(vec![]));
    assert_eq!(qualified(&server, "vuid", "v1"), Some(vec![]));

    // An event carrying both identifiers stitches them (through the email as well).
    let identified = odp_event_with(
        "fullstack",
        "identified",
        json!({ "vuid": "v1", "email": "u1@example.com" }),
        json!({}),
    );
    let linked = odp_event_with(
        "fullstack",
        "identified",
        json!({ "fs_user_id": "u1", "email": "u1@example.com" }),
        json!({}),
    );
    send_odp_events(&server.url(), &[identified, linked]);
    for (kind, value) in [("fs_user_id", "u1"), ("vuid", "v1")] {
        assert_eq!(
            qualified(&server, kind, value),
            Some(vec!["frequent_buyers".to_owned()]),
            "{kind} {value}"
        );
    }
    let stitched = server
        .users()
        .into_iter()
        .find(|u| u.identifiers.iter().any(|i| i.value == "u1"))
        .unwrap();
    let mut identifiers: Vec<(Option<String>, String)> = stitched
        .identifiers
        .iter()
        .map(|i| (i.kind.clone(), i.value.clone()))
        .collect();
    identifiers.sort();
    assert_eq!(
        identifiers,
        [
            (Some("email".to_owned()), "u1@example.com".to_owned()),
            (Some("fs_user_id".to_owned()), "u1".to_owned()),
            (Some("vuid".to_owned()), "v1".to_owned()),
        ]
    );
    assert_eq!(stitched.events, 5);
    assert_eq!(stitched.segments, ["frequent_buyers"]);
    // Static members are matched against every identifier of the stitched user.
    send_odp_events(
        &server.url(),
        &[odp_event_with(
            "fullstack",
            "identified",
            json!({ "fs_user_id": "u1", "email": "tester-2@example.com" }),
            json!({}),
        )],
    );
    assert_eq!(
        qualified(&server, "vuid", "v1"),
        Some(vec![
            "frequent_buyers".to_owned(),
            "beta_testers".to_owned()
        ])
    );
}

#[test]
fn empty_identifier_values_stitch_nobody() {
    let server = server_with_example();
    send_odp_events(
        &server.url(),
        &[
            purchase(json!({ "fs_user_id": "a", "email": "" })),
            purchase(json!({ "fs_user_id": "b", "email": "" })),
            purchase(json!({ "fs_user_id": "b", "email": "" })),
        ],
    );
    assert_eq!(qualified(&server, "fs_user_id", "a"), Some(vec![]));
    assert_eq!(qualified(&server, "fs_user_id", "b"), Some(vec![]));
}

#[test]
fn static_segments_and_rules_add_up() {
    let server = server_with_example();
    server.set_segments("buyer", vec!["hand_picked".to_owned()]);
    let segments = ["hand_picked", "frequent_buyers"];
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "buyer", &segments),
        Some(vec!["hand_picked".to_owned()])
    );
    send_odp_events(&server.url(), &vec![purchase(user("buyer")); 3]);
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "buyer", &segments),
        Some(vec!["hand_picked".to_owned(), "frequent_buyers".to_owned()])
    );
    // Without a subset, GraphQL lists every qualified segment, static ones first.
    let query = json!({"query": "{ customer(fs_user_id: \"buyer\") { audiences { edges { node { name } } } } }"});
    let reply = post_graphql(&server.url(), &query.to_string()).json();
    assert_eq!(
        reply["data"]["customer"]["audiences"]["edges"],
        json!([{"node": {"name": "hand_picked"}}, {"node": {"name": "frequent_buyers"}}])
    );
    // A user known from events stays known after its static segments are removed.
    assert!(server.remove_segments("buyer"));
    assert_eq!(
        qualified(&server, "fs_user_id", "buyer"),
        Some(vec!["frequent_buyers".to_owned()])
    );
}

#[test]
fn rules_can_be_defined_and_removed_at_runtime() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    send_odp_events(
        &server.url(),
        &[odp_event_with(
            "fullstack",
            "signed_up",
            user("u"),
            json!({ "plan": "pro" }),
        )],
    );
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "u", &["new_pro"]),
        Some(vec![])
    );
    let rule = EventRule::new("signed_up")
        .unwrap()
        .with_type("fullstack")
        .unwrap()
        .with_data("plan", "pro")
        .unwrap();
    server.define_segment(SegmentDefinition::new("new_pro").unwrap().with_rule(rule));
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "u", &["new_pro"]),
        Some(vec!["new_pro".to_owned()])
    );
    let stricter = EventRule::new("signed_up")
        .unwrap()
        .at_least(NonZeroU32::new(2).unwrap());
    server.define_segment(
        SegmentDefinition::new("new_pro")
            .unwrap()
            .with_rule(stricter),
    );
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "u", &["new_pro"]),
        Some(vec![])
    );
    assert!(server.remove_segment_definition("new_pro"));
    assert!(!server.remove_segment_definition("new_pro"));
    assert!(server.segment_definitions().is_empty());
}

#[test]
fn rules_can_be_managed_over_http() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    let rules = format!("{}/_dev/segments/rules", server.url());
    send_odp_events(&server.url(), &[purchase(user("u")), purchase(user("u"))]);

    let definition = json!({
        "description": "two purchases",
        "members": ["friend"],
        "rule": {"action": "purchased", "at_least": 2, "within": "7d"}
    });
    let created = send(
        "PUT",
        &format!("{rules}/two%20purchases"),
        &[],
        Some(definition.to_string().as_bytes()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let mut expected = definition.clone();
    expected["name"] = json!("two purchases");
    assert_eq!(created.json(), expected);
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "u", &["two purchases"]),
        Some(vec!["two purchases".to_owned()])
    );
    assert_eq!(
        qualified_via_graphql(&server.url(), "vuid", "friend", &["two purchases"]),
        Some(vec!["two purchases".to_owned()])
    );

    let replaced = send(
        "PUT",
        &format!("{rules}/two%20purchases"),
        &[],
        Some(br#"{"name":"two purchases","rule":{"action":"purchased","at_least":5}}"#),
    );
    assert_eq!(replaced.status, 200);
    assert_eq!(
        get(&format!("{rules}/two%20purchases")).json()["rule"]["at_least"],
        5
    );
    let listed = get(&format!("{}/_dev/segments", server.url())).json();
    assert_eq!(listed["segments"].as_array().unwrap().len(), 1);
    assert_eq!(listed["segments"][0]["name"], "two purchases");

    assert_eq!(
        send("DELETE", &format!("{rules}/two%20purchases"), &[], None).status,
        204
    );
    assert_eq!(
        send("DELETE", &format!("{rules}/two%20purchases"), &[], None).status,
        404
    );
    assert_eq!(get(&format!("{rules}/two%20purchases")).status, 404);
    assert_eq!(
        qualified_via_graphql(&server.url(), "vuid", "friend", &["two purchases"]),
        None
    );
}

#[test]
fn bad_rule_bodies_get_400_with_a_message() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    let url = format!("{}/_dev/segments/rules/s", server.url());
    let cases: [&[u8]; 8] = [
        b"not json",
        b"[1]",
        br#"{"name":"other"}"#,
        br#"{"rule":{"action":""}}"#,
        br#"{"rule":{"action":"a","at_least":0}}"#,
        br#"{"rule":{"action":"a","within":"forever"}}"#,
        br#"{"rule":{"action":"a","data":{"k":{"nested":1}}}}"#,
        br#"{"members":"not a list"}"#,
    ];
    for body in cases {
        let reply = send("PUT", &url, &[], Some(body));
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(body));
        assert!(
            reply.json()["error"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            reply.body
        );
    }
    assert!(server.segment_definitions().is_empty());
    // The server still answers normally.
    assert_eq!(get(&format!("{}/_dev/health", server.url())).status, 200);
}

#[test]
fn a_bad_segments_file_stops_the_start() {
    let dir = common::TempDir::new("segments-file");
    let path = dir.join("segments.toml");
    std::fs::write(
        &path,
        "[[segment]]\nname = \"x\"\n[segment.rule]\nat_least = 2\n",
    )
    .unwrap();
    match DevServer::start(DevServerConfig::default().segments_file(&path)) {
        Err(error @ DevServerError::SegmentsFile { .. }) => {
            let message = error.to_string();
            assert!(message.contains("segments.toml"), "{message}");
            assert!(message.contains("action"), "{message}");
        }
        other => panic!("expected a segments file error, got {other:?}"),
    }
    let missing = dir.join("missing.toml");
    assert!(matches!(
        DevServer::start(DevServerConfig::default().segments_file(&missing)),
        Err(DevServerError::SegmentsFile { .. })
    ));
}

#[test]
fn users_are_listed_with_identifiers_and_segments() {
    let server = server_with_example();
    server.set_segments("static-only", vec!["s".to_owned()]);
    send_odp_events(
        &server.url(),
        &[odp_event_with(
            "email",
            "opened",
            json!({ "fs_user_id": "reader", "email": "r@example.com" }),
            json!({}),
        )],
    );
    let listed = get(&format!("{}/_dev/users", server.url())).json();
    let users = listed["users"].as_array().unwrap();
    let reader = &users[0];
    assert_eq!(
        reader["identifiers"],
        json!([
            {"kind": "email", "value": "r@example.com"},
            {"kind": "fs_user_id", "value": "reader"},
        ])
    );
    assert_eq!(reader["segments"], json!(["newsletter_readers"]));
    assert_eq!(reader["events"], 1);
    assert!(reader["last_event_at"].is_string());
    let bare: Vec<&Value> = users.iter().filter(|u| u["id"].is_null()).collect();
    let bare_ids: Vec<&str> = bare
        .iter()
        .map(|u| u["identifiers"][0]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        bare_ids,
        [
            "static-only",
            "tester-1",
            "tester-2@example.com",
            "vip-user"
        ]
    );
    assert_eq!(bare[0]["segments"], json!(["s"]));
    assert_eq!(bare[0]["identifiers"][0]["kind"], Value::Null);

    let limited = get(&format!("{}/_dev/users?limit=1", server.url())).json();
    assert_eq!(limited["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&format!("{}/_dev/users?limit=zero", server.url())).status,
        400
    );
}

#[test]
fn reset_forgets_events_and_the_users_stitched_from_them() {
    let server = server_with_example();
    send_odp_events(&server.url(), &vec![purchase(user("u")); 3]);
    assert_eq!(
        qualified(&server, "fs_user_id", "u"),
        Some(vec!["frequent_buyers".to_owned()])
    );
    server.reset();
    assert_eq!(qualified(&server, "fs_user_id", "u"), None);
    assert_eq!(server.segment_definitions().len(), 4);
    let reply = post_graphql(&server.url(), &segment_query("fs_user_id", "vip-user", ALL));
    assert_eq!(
        reply.json()["data"]["customer"]["audiences"]["edges"][0]["node"]["state"],
        "qualified"
    );
}
