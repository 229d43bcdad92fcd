//! The SQLite database: what survives a restart, and the errors for unusable files.

mod common;

use common::{
    ODP_KEY, TempDir, get, impression_batch, odp_event_with, post_json, qualified_via_graphql,
    send_odp_events,
};
use optimizely_fx_devserver::{
    DatabaseProblem, DevServer, DevServerConfig, DevServerError, EventRule, SegmentDefinition,
};
use serde_json::json;

const V1: &str = r#"{"version":"4","revision":"1","projectId":"1","accountId":"1"}"#;
const V2: &str = r#"{"version":"4","revision":"2","projectId":"1","accountId":"1"}"#;

fn config(path: &std::path::Path) -> DevServerConfig {
    DevServerConfig::default()
        .odp_api_key(ODP_KEY)
        .database(path)
}

fn database_problem(
    result: Result<optimizely_fx_devserver::DevServerHandle, DevServerError>,
) -> (DatabaseProblem, String) {
    match result {
        Err(error @ DevServerError::Database { .. }) => {
            let message = error.to_string();
            let DevServerError::Database { problem, .. } = error else {
                unreachable!()
            };
            (problem, message)
        }
        other => panic!("expected a database error, got {other:?}"),
    }
}

#[test]
fn a_restart_on_the_same_file_keeps_everything() {
    let dir = TempDir::new("restart");
    let path = dir.join("dev.sqlite");
    let (last_modified, events, batches) = {
        let server = DevServer::start(config(&path).datafile("key", V1)).unwrap();
        server.set_datafile("key", V2);
        let events = vec![
            odp_event_with(
                "fullstack",
                "purchased",
                json!({"fs_user_id": "u", "email": "e"}),
                json!({"n": 1}),
            ),
            odp_event_with(
                "fullstack",
                "purchased",
                json!({"vuid": "v", "email": "e"}),
                json!({}),
            ),
        ];
        send_odp_events(&server.url(), &events);
        let batch = impression_batch("visitor");
        assert_eq!(
            post_json(&server.event_endpoint(), &[], &batch.to_string()).status,
            204
        );
        server.set_segments("static-user", vec!["s1".to_owned()]);
        let rule = EventRule::new("purchased")
            .unwrap()
            .at_least(std::num::NonZeroU32::new(2).unwrap());
        server.define_segment(SegmentDefinition::new("twice").unwrap().with_rule(rule));
        let served = get(&format!("{}/datafiles/key.json", server.url()));
        let last_modified = served.header("last-modified").unwrap().to_owned();
        (last_modified, events, vec![batch])
    };

    let server = DevServer::start(config(&path)).unwrap();
    let served = get(&format!("{}/datafiles/key.json", server.url()));
    assert_eq!(served.body, V2);
    assert_eq!(served.header("last-modified"), Some(last_modified.as_str()));
    let revisions = server.datafile_revisions("key");
    let bodies: Vec<(u64, &str, bool)> = revisions
        .iter()
        .map(|r| (r.number, r.body.as_str(), r.current))
        .collect();
    assert_eq!(bodies, [(1, V1, false), (2, V2, true)]);
    assert_eq!(server.odp_events(), events);
    assert_eq!(server.odp_events_received(), 2);
    assert_eq!(server.log_event_batches(), batches);
    assert_eq!(server.log_event_batches_received(), 1);
    assert_eq!(server.segment_definitions().len(), 1);
    assert_eq!(
        qualified_via_graphql(&server.url(), "vuid", "v", &["twice"]),
        Some(vec!["twice".to_owned()]),
        "the stitched user and the rule survive"
    );
    assert_eq!(
        qualified_via_graphql(&server.url(), "fs_user_id", "static-user", &["s1"]),
        Some(vec!["s1".to_owned()])
    );
    // New events continue the stored counts.
    send_odp_events(&server.url(), &events[..1]);
    assert_eq!(server.odp_events_received(), 3);
}

#[test]
fn the_same_configured_datafile_adds_no_revision_on_restart() {
    let dir = TempDir::new("same-datafile");
    let path = dir.join("dev.sqlite");
    let first_stamp = {
        let server = DevServer::start(config(&path).datafile("key", V1)).unwrap();
        get(&format!("{}/datafiles/key.json", server.url()))
            .header("last-modified")
            .unwrap()
            .to_owned()
    };
    let server = DevServer::start(config(&path).datafile("key", V1)).unwrap();
    assert_eq!(server.datafile_revisions("key").len(), 1);
    let unchanged = common::get_with(
        &format!("{}/datafiles/key.json", server.url()),
        &[("if-modified-since", &first_stamp)],
    );
    assert_eq!(unchanged.status, 304);
    drop(server);

    let server = DevServer::start(config(&path).datafile("key", V2)).unwrap();
    assert_eq!(server.datafile_revisions("key").len(), 2);
    assert_eq!(
        get(&format!("{}/datafiles/key.json", server.url())).body,
        V2
    );
}

#[test]
fn a_removed_datafile_stays_removed_after_a_restart() {
    let dir = TempDir::new("removed");
    let path = dir.join("dev.sqlite");
    {
        let server = DevServer::start(config(&path).datafile("key", V1)).unwrap();
        assert!(server.remove_datafile("key"));
    }
    let server = DevServer::start(config(&path)).unwrap();
    assert_eq!(
        get(&format!("{}/datafiles/key.json", server.url())).status,
        404
    );
    assert_eq!(server.datafile_revisions("key").len(), 1);
    assert!(!server.datafile_revisions("key")[0].current);
}

#[test]
fn a_corrupt_file_is_a_clear_error() {
    let dir = TempDir::new("corrupt");
    let path = dir.join("dev.sqlite");
    std::fs::write(
        &path,
        "this is not a database, just some text. ".repeat(200),
    )
    .unwrap();
    let (problem, message) = database_problem(DevServer::start(config(&path)));
    assert!(
        matches!(problem, DatabaseProblem::Corrupt { .. }),
        "{problem:?}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("corrupt or not a SQLite database"),
        "{message}"
    );
}

#[test]
fn a_file_locked_by_another_connection_is_a_clear_error() {
    let dir = TempDir::new("locked");
    let path = dir.join("dev.sqlite");
    drop(DevServer::start(config(&path)).unwrap());

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (problem, message) = database_problem(DevServer::start(config(&path)));
    assert_eq!(problem, DatabaseProblem::Locked);
    assert!(message.contains("locked"), "{message}");

    other.execute_batch("COMMIT").unwrap();
    drop(other);
    assert!(DevServer::start(config(&path)).is_ok());
}

#[test]
fn a_second_server_on_the_same_file_is_refused_until_the_first_is_dropped() {
    let dir = TempDir::new("second");
    let path = dir.join("dev.sqlite");
    let first = DevServer::start(config(&path)).unwrap();
    let (problem, _) = database_problem(DevServer::start(config(&path)));
    assert_eq!(problem, DatabaseProblem::Locked);
    // Shutting down keeps the data readable, so the file stays locked until the drop.
    first.shutdown();
    assert!(first.odp_events().is_empty());
    drop(first);
    assert!(DevServer::start(config(&path)).is_ok());
}

#[test]
fn another_applications_database_is_refused() {
    let dir = TempDir::new("foreign");
    let path = dir.join("other.sqlite");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('hello');")
        .unwrap();
    drop(other);
    let (problem, message) = database_problem(DevServer::start(config(&path)));
    assert_eq!(problem, DatabaseProblem::NotADevServerDatabase);
    assert!(message.contains("another application"), "{message}");
}

#[test]
fn an_unopenable_path_is_a_clear_error() {
    let dir = TempDir::new("unopenable");
    let path = dir.join("no/such/dir/dev.sqlite");
    let (problem, message) = database_problem(DevServer::start(config(&path)));
    assert!(matches!(problem, DatabaseProblem::Io { .. }), "{problem:?}");
    assert!(message.contains("no/such/dir"), "{message}");
}

#[test]
fn the_default_database_is_in_memory() {
    let server = DevServer::start(
        DevServerConfig::default()
            .odp_api_key(ODP_KEY)
            .database(":memory:"),
    )
    .unwrap();
    send_odp_events(
        &server.url(),
        &[odp_event_with(
            "t",
            "a",
            json!({"fs_user_id": "u"}),
            json!({}),
        )],
    );
    assert_eq!(server.odp_events().len(), 1);
    assert!(!std::path::Path::new(":memory:").exists());
    assert!(format!("{:?}", DevServerConfig::default()).contains("database: None"));
}

/// The first schema: identifiers keyed by `(kind, value)`, and indexes by user and value.
const FIRST_SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE datafiles (sdk_key TEXT PRIMARY KEY, current_revision INTEGER, last_modified INTEGER NOT NULL);
CREATE TABLE datafile_revisions (sdk_key TEXT NOT NULL, revision INTEGER NOT NULL, body TEXT NOT NULL,
    label TEXT, stored_ms INTEGER NOT NULL, last_modified INTEGER NOT NULL, PRIMARY KEY (sdk_key, revision));
CREATE TABLE odp_events (id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, user_id INTEGER,
    type TEXT NOT NULL, action TEXT NOT NULL, data TEXT NOT NULL, event TEXT NOT NULL);
CREATE INDEX odp_events_by_user ON odp_events (user_id, action, received_ms);
CREATE TABLE identifiers (kind TEXT NOT NULL, value TEXT NOT NULL, user_id INTEGER NOT NULL,
    PRIMARY KEY (kind, value));
CREATE INDEX identifiers_by_user ON identifiers (user_id);
CREATE INDEX identifiers_by_value ON identifiers (value);
CREATE TABLE log_batches (id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, batch TEXT NOT NULL);
CREATE TABLE static_segments (user_id TEXT PRIMARY KEY, segments TEXT NOT NULL);
CREATE TABLE segment_definitions (name TEXT PRIMARY KEY, definition TEXT NOT NULL, updated_ms INTEGER NOT NULL);
PRAGMA application_id = 1330010180;
PRAGMA user_version = 1;
";

/// A first-schema file as an earlier version left it: users 1 (`u1`, `e1`) and 2 (`v2`),
/// three events, and the counters.
fn write_first_schema_file(path: &std::path::Path) -> Vec<serde_json::Value> {
    let events = vec![
        json!({"type": "fullstack", "action": "purchased", "identifiers": {"fs_user_id": "u1", "email": "e1"}, "data": {"plan": "pro"}}),
        json!({"type": "fullstack", "action": "viewed", "identifiers": {"vuid": "v2"}}),
        json!({"type": "fullstack", "action": "purchased", "identifiers": {"email": "e1"}, "data": {}}),
    ];
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch(FIRST_SCHEMA).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (kind, value, user) in [
        ("fs_user_id", "u1", 1),
        ("email", "e1", 1),
        ("vuid", "v2", 2),
    ] {
        connection
            .execute(
                "INSERT INTO identifiers (kind, value, user_id) VALUES (?1, ?2, ?3)",
                rusqlite::params![kind, value, user],
            )
            .unwrap();
    }
    for (event, user) in events.iter().zip([1, 2, 1]) {
        let data = event.get("data").cloned().unwrap_or(json!({}));
        connection
            .execute(
                "INSERT INTO odp_events (received_ms, user_id, type, action, data, event)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    now,
                    user,
                    event["type"].as_str(),
                    event["action"].as_str(),
                    data.to_string(),
                    event.to_string()
                ],
            )
            .unwrap();
    }
    connection
        .execute_batch(
            "INSERT INTO counters VALUES ('odp_events_received', 3), ('next_user_id', 2);",
        )
        .unwrap();
    events
}

#[test]
fn a_file_of_the_first_schema_is_upgraded_and_keeps_its_users() {
    let dir = TempDir::new("first-schema");
    let path = dir.join("dev.sqlite");
    let events = write_first_schema_file(&path);
    let rule = EventRule::new("purchased")
        .unwrap()
        .at_least(std::num::NonZeroU32::new(2).unwrap());
    let twice = SegmentDefinition::new("twice").unwrap().with_rule(rule);
    let pro_rule = EventRule::new("purchased")
        .unwrap()
        .with_data("plan", "pro")
        .unwrap();
    let pro = SegmentDefinition::new("pro").unwrap().with_rule(pro_rule);
    {
        let server = DevServer::start(config(&path).segment_rules([pro, twice])).unwrap();
        assert_eq!(server.odp_events(), events);
        assert_eq!(server.odp_events_received(), 3);
        let users = server.users();
        let ids: Vec<(Option<u64>, u64)> = users.iter().map(|u| (u.id, u.events)).collect();
        assert_eq!(ids, [(Some(1), 2), (Some(2), 1)]);
        assert_eq!(
            server.qualified_segments("email", "e1"),
            Some(vec!["pro".to_owned(), "twice".to_owned()])
        );
        assert_eq!(server.qualified_segments("vuid", "v2"), Some(vec![]));
        // A new identifier gets the next user number; an event linking both users merges them
        // into the lower number.
        let new_user = odp_event_with("fullstack", "viewed", json!({"vuid": "v3"}), json!({}));
        let linking = odp_event_with(
            "fullstack",
            "purchased",
            json!({"vuid": "v2", "fs_user_id": "u1"}),
            json!({}),
        );
        send_odp_events(&server.url(), &[new_user, linking]);
        let users = server.users();
        let ids: Vec<(Option<u64>, u64)> = users.iter().map(|u| (u.id, u.events)).collect();
        assert_eq!(ids, [(Some(1), 4), (Some(3), 1)]);
    }
    let server = DevServer::start(config(&path)).unwrap();
    assert_eq!(server.odp_events().len(), 5);
    assert_eq!(server.odp_events_received(), 5);
    let recent = get(&format!("{}/_dev/odp/events/recent", server.url())).json();
    let users: Vec<&serde_json::Value> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| &event["user"])
        .collect();
    assert_eq!(
        users,
        [&json!(1), &json!(3), &json!(1), &json!(1), &json!(1)]
    );
    let identifiers: Vec<String> = server.users()[0]
        .identifiers
        .iter()
        .map(|i| format!("{}={}", i.kind.as_deref().unwrap_or("?"), i.value))
        .collect();
    assert_eq!(identifiers, ["email=e1", "fs_user_id=u1", "vuid=v2"]);
}
