//! Decision, track and log-event notifications: payloads, when they fire, removal, and
//! listeners that panic.

mod decide_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use decide_support::*;
use optimizely_fx::{
    AttributeValue, Attributes, Client, DecideOption, DecisionNotification, LogEvent,
    NotificationType, TrackNotification,
};
use optimizely_fx_devserver::DevServerHandle;
use serde_json::json;

fn client(server: &DevServerHandle) -> Client {
    builder(&datafile("go-decide-test-datafile.json"), server)
        .event_flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap()
}

fn collect<T: Clone + Send + 'static>() -> (Arc<Mutex<Vec<T>>>, impl Fn(&T) + Send + Sync + 'static)
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    (seen, move |item: &T| {
        sink.lock().unwrap().push(item.clone())
    })
}

#[test]
fn decisions_are_notified_with_their_details() {
    let server = server(None);
    let client = client(&server);
    let (seen, listener) = collect::<DecisionNotification>();
    client.add_decision_listener(listener);
    let user = client.create_user_context("user1", [("gender", "f")]);
    user.decide("feature_1", &[DecideOption::IncludeReasons]);
    user.decide("feature_2", &[DecideOption::DisableDecisionEvent]);
    user.decide("no_such_flag", &[]);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "error decisions are not notified");
    let first = &seen[0];
    assert_eq!(first.decision_type, "flag");
    assert_eq!(first.user_id, "user1");
    assert_eq!(
        first.attributes.get("gender"),
        Some(&AttributeValue::from("f"))
    );
    let info = &first.decision_info;
    assert_eq!(info.flag_key, "feature_1");
    assert!(info.enabled);
    assert_eq!(info.variation_key.as_deref(), Some("a"));
    assert_eq!(info.rule_key.as_deref(), Some("exp_with_audience"));
    assert_eq!(info.experiment_id.as_deref(), Some("10390977673"));
    assert_eq!(info.variation_id.as_deref(), Some("10389729780"));
    assert_eq!(info.variables.get("i_42"), Some(&json!(42)));
    assert!(!info.reasons.is_empty());
    assert!(info.decision_event_dispatched);

    let second = &seen[1].decision_info;
    assert_eq!(second.flag_key, "feature_2");
    assert!(!second.decision_event_dispatched, "DISABLE_DECISION_EVENT");
    assert!(second.reasons.is_empty(), "no INCLUDE_REASONS");
    client.close(PATIENCE);
}

#[test]
fn a_rollout_decision_without_send_flag_decisions_is_notified_as_not_dispatched() {
    let server = server(None);
    let mut json: serde_json::Value =
        serde_json::from_str(&datafile("go-decide-test-datafile.json")).unwrap();
    json["sendFlagDecisions"] = false.into();
    let client = builder(&json.to_string(), &server).build().unwrap();
    let (seen, listener) = collect::<DecisionNotification>();
    client.add_decision_listener(listener);
    client
        .create_user_context("user1", Attributes::new())
        .decide_all(&[]);
    let dispatched: Vec<(String, bool)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n.decision_info.flag_key.clone(),
                n.decision_info.decision_event_dispatched,
            )
        })
        .collect();
    assert_eq!(
        dispatched,
        [
            ("feature_1".to_owned(), false),
            ("feature_2".to_owned(), true),
            ("feature_3".to_owned(), false)
        ]
    );
    let no_rule = &seen.lock().unwrap()[2].decision_info;
    assert_eq!(
        (
            no_rule.experiment_id.as_deref(),
            no_rule.variation_id.as_deref()
        ),
        (None, None)
    );
    client.close(PATIENCE);
}

#[test]
fn conversions_are_notified_with_their_log_event() {
    let server = server(None);
    let client = client(&server);
    let (seen, listener) = collect::<TrackNotification>();
    client.add_track_listener(listener);
    let user = client.create_user_context("buyer", [("gender", "m")]);
    user.track_event("event1", [("revenue", json!(100)), ("note", json!(null))])
        .unwrap();
    let _ = user.track_event("no_such_event", ());

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let track = &seen[0];
    assert_eq!(track.event_key, "event1");
    assert_eq!(track.user_id, "buyer");
    assert_eq!(
        track.attributes.get("gender"),
        Some(&AttributeValue::from("m"))
    );
    assert_eq!(
        track.event_tags,
        json!({"revenue": 100}).as_object().cloned()
    );
    assert_eq!(track.log_event.url, server.event_endpoint());
    assert_eq!(track.log_event.http_verb, "POST");
    let visitors = track.log_event.params["visitors"].as_array().unwrap();
    assert_eq!(visitors.len(), 1);
    assert_eq!(visitors[0]["snapshots"][0]["events"][0]["revenue"], 100);
    client.close(PATIENCE);
}

#[test]
fn each_batch_is_announced_before_it_is_sent() {
    let server = server(None);
    let client = client(&server);
    let (seen, listener) = collect::<LogEvent>();
    client.add_log_event_listener(listener);
    let user = client.create_user_context("user1", Attributes::new());
    user.decide("feature_2", &[]);
    user.track_event("event1", ()).unwrap();
    assert!(seen.lock().unwrap().is_empty(), "nothing sent yet");
    assert!(client.flush(PATIENCE));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].url, server.event_endpoint());
    assert_eq!(seen[0].http_verb, "POST");
    let received = server.log_event_batches();
    assert_eq!(received.len(), 1);
    assert_eq!(
        seen[0].params, received[0],
        "the announced body is the sent body"
    );
    client.close(PATIENCE);
}

#[test]
fn the_last_batch_sent_by_close_is_announced_too() {
    let server = server(None);
    let client = client(&server);
    let (seen, listener) = collect::<LogEvent>();
    client.add_log_event_listener(listener);
    client
        .track_event("event1", "u", Attributes::new(), ())
        .unwrap();
    client.close(PATIENCE);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn listeners_can_be_removed_and_cleared() {
    let server = server(None);
    let client = client(&server);
    let (decisions, on_decision) = collect::<DecisionNotification>();
    let (tracks, on_track) = collect::<TrackNotification>();
    let decision_id = client.add_decision_listener(on_decision);
    client.add_track_listener(on_track);
    let user = client.create_user_context("user1", Attributes::new());
    user.decide("feature_2", &[]);
    assert!(client.remove_listener(decision_id));
    assert!(!client.remove_listener(decision_id));
    user.decide("feature_2", &[]);
    assert_eq!(decisions.lock().unwrap().len(), 1);

    user.track_event("event1", ()).unwrap();
    client.clear_listeners(NotificationType::Track);
    user.track_event("event1", ()).unwrap();
    assert_eq!(tracks.lock().unwrap().len(), 1);

    let (again, on_decision) = collect::<DecisionNotification>();
    client.add_decision_listener(on_decision);
    client.clear_all_listeners();
    user.decide("feature_2", &[]);
    assert!(again.lock().unwrap().is_empty());
    assert_eq!(NotificationType::Decision.name(), "DECISION");
    assert_eq!(NotificationType::Track.name(), "TRACK");
    assert_eq!(NotificationType::LogEvent.name(), "LOG_EVENT");
    client.close(PATIENCE);
}

#[test]
fn panicking_listeners_are_logged_and_change_nothing() {
    let server = server(None);
    let client = client(&server);
    client.add_decision_listener(|_| panic!("decision listener broke"));
    client.add_track_listener(|_| panic!("track listener broke"));
    client.add_log_event_listener(|_| panic!("log event listener broke"));
    let (seen, listener) = collect::<DecisionNotification>();
    client.add_decision_listener(listener);

    let user = client.create_user_context("user1", Attributes::new());
    let decision = user.decide("feature_2", &[]);
    assert_eq!(
        decision.variation_key.as_deref(),
        Some("variation_with_traffic")
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "later listeners still run");
    user.track_event("event1", ()).unwrap();
    assert!(client.flush(PATIENCE));
    assert_eq!(client.event_stats().sent, 2, "delivery goes on");
    assert_eq!(
        my_logged(
            log::Level::Error,
            "Notification listener for (DECISION) threw exception: decision listener broke"
        )
        .len(),
        1
    );
    assert_eq!(
        my_logged(
            log::Level::Error,
            "Notification listener for (TRACK) threw exception: track listener broke"
        )
        .len(),
        1
    );
    assert_eq!(
        logged_anywhere(
            log::Level::Error,
            "Notification listener for (LOG_EVENT) threw exception: log event listener broke"
        )
        .len(),
        1
    );
    client.close(PATIENCE);
}
