//! `Client::optimizely_config`: the official view of the datafile, built lazily and renewed
//! with each new datafile revision.

mod decide_support;

use std::sync::Arc;
use std::time::Duration;

use decide_support::*;
use serde_json::Value;

/// Audience `conditions` are JSON text whose key order differs between SDKs: compare parsed.
fn comparable(mut view: Value) -> Value {
    if let Some(audiences) = view["audiences"].as_array_mut() {
        for audience in audiences {
            let text = audience["conditions"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            audience["conditions"] = serde_json::from_str(&text).unwrap_or(Value::String(text));
        }
    }
    view
}

#[test]
fn the_view_matches_the_go_sdk_expected_output() {
    let server = server(None);
    let client = builder(&datafile("go-optimizely_config_datafile.json"), &server)
        .build()
        .unwrap();
    let view = client.optimizely_config().expect("the client is ready");
    let actual = comparable(serde_json::to_value(&*view).unwrap());
    let expected: Value =
        serde_json::from_str(&datafile("go-optimizely_config_expected.json")).unwrap();
    assert_eq!(actual, comparable(expected));
    assert!(
        Arc::ptr_eq(&view, &client.optimizely_config().unwrap()),
        "cached"
    );
    client.close(PATIENCE);
}

#[test]
fn no_view_before_ready_and_a_new_one_per_revision() {
    let original = datafile("go-decide-test-datafile.json");
    let server = server(None);
    let client = polling_builder(&server)
        .polling_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    assert!(client.optimizely_config().is_none());
    server.set_datafile(SDK_KEY, original.clone());
    client.wait_until_ready(PATIENCE).unwrap();
    let first = client.optimizely_config().unwrap();
    assert_eq!(first.revision, "241");
    assert_eq!(
        first.features_map.keys().collect::<Vec<_>>(),
        ["feature_1", "feature_2", "feature_3"]
    );

    let mut newer: Value = serde_json::from_str(&original).unwrap();
    newer["revision"] = "242".into();
    server.set_datafile(SDK_KEY, newer.to_string());
    eventually("the new revision is in use", || {
        client.config().is_some_and(|c| c.revision() == "242")
    });
    assert_eq!(client.optimizely_config().unwrap().revision, "242");
    assert_eq!(first.revision, "241", "an earlier view does not change");
    client.close(PATIENCE);
}
