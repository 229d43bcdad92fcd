//! The user profile service: one lookup and at most one save per decide call, sticky
//! variations, tolerated failures, and `IGNORE_USER_PROFILE_SERVICE`.

mod decide_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use decide_support::*;
use optimizely_fx::{
    Attributes, Client, DecideOption, UserProfile, UserProfileError, UserProfileService,
};

const EXP_NO_AUDIENCE: &str = "10420810910";
const WITH_TRAFFIC: &str = "10418551353";
const NO_TRAFFIC: &str = "10418510624";

fn client_with(
    profiles: Arc<dyn UserProfileService>,
    server: &optimizely_fx_devserver::DevServerHandle,
) -> Client {
    builder(&datafile("go-decide-test-datafile.json"), server)
        .default_decide_options(&[DecideOption::DisableDecisionEvent])
        .user_profile_service(profiles)
        .build()
        .unwrap()
}

#[test]
fn one_lookup_per_call_and_a_save_only_when_something_changed() {
    let server = server(None);
    let profiles = Arc::new(CountingProfiles::default());
    let client = client_with(profiles.clone(), &server);
    let user = client.create_user_context("user1", [("gender", "f")]);

    user.decide_all(&[]);
    assert_eq!((profiles.lookups(), profiles.saves()), (1, 1));
    let saved = profiles.stored("user1").expect("saved");
    assert_eq!(saved.user_id, "user1");
    assert_eq!(saved.variation_for(EXP_NO_AUDIENCE), Some(WITH_TRAFFIC));
    assert_eq!(saved.experiment_bucket_map.len(), 2, "{saved:?}");

    user.decide_all(&[]);
    assert_eq!(
        (profiles.lookups(), profiles.saves()),
        (2, 1),
        "nothing new to save"
    );
    user.decide_for_keys(&["feature_1", "feature_2"], &[]);
    assert_eq!((profiles.lookups(), profiles.saves()), (3, 1));
    user.decide("feature_2", &[]);
    assert_eq!((profiles.lookups(), profiles.saves()), (4, 1));

    let other = client.create_user_context("user2", Attributes::new());
    other.decide("feature_2", &[]);
    assert_eq!((profiles.lookups(), profiles.saves()), (5, 2));
}

#[test]
fn a_stored_variation_is_sticky() {
    let server = server(None);
    let profiles = Arc::new(CountingProfiles::default());
    let bucket_map = HashMap::from([(EXP_NO_AUDIENCE.to_owned(), NO_TRAFFIC.to_owned())]);
    profiles.profiles.lock().unwrap().insert(
        "user1".to_owned(),
        UserProfile::from_map("user1", bucket_map),
    );
    let client = client_with(profiles.clone(), &server);
    let user = client.create_user_context("user1", Attributes::new());
    let decision = user.decide("feature_2", &[DecideOption::IncludeReasons]);
    assert_eq!(
        decision.variation_key.as_deref(),
        Some("variation_no_traffic")
    );
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.contains("from user profile")),
        "{:?}",
        decision.reasons
    );
    assert_eq!(profiles.saves(), 0, "the profile did not change");

    let ignoring = user.decide("feature_2", &[DecideOption::IgnoreUserProfileService]);
    assert_eq!(
        ignoring.variation_key.as_deref(),
        Some("variation_with_traffic")
    );
    assert_eq!(
        profiles.lookups(),
        1,
        "IGNORE_USER_PROFILE_SERVICE skips the lookup"
    );
}

#[test]
fn ignore_user_profile_service_skips_lookup_and_save() {
    let server = server(None);
    let profiles = Arc::new(CountingProfiles::default());
    let client = client_with(profiles.clone(), &server);
    let user = client.create_user_context("user1", Attributes::new());
    user.decide_all(&[DecideOption::IgnoreUserProfileService]);
    user.decide("feature_2", &[DecideOption::IgnoreUserProfileService]);
    assert_eq!((profiles.lookups(), profiles.saves()), (0, 0));

    let ignoring_by_default = builder(&datafile("go-decide-test-datafile.json"), &server)
        .default_decide_options(&[
            DecideOption::DisableDecisionEvent,
            DecideOption::IgnoreUserProfileService,
        ])
        .user_profile_service(profiles.clone())
        .build()
        .unwrap();
    ignoring_by_default
        .create_user_context("user1", Attributes::new())
        .decide_all(&[]);
    assert_eq!((profiles.lookups(), profiles.saves()), (0, 0));
}

#[test]
fn failures_are_logged_and_decisions_go_on() {
    let server = server(None);
    let profiles = Arc::new(CountingProfiles::default());
    profiles.fail_lookups.store(true, Ordering::SeqCst);
    profiles.fail_saves.store(true, Ordering::SeqCst);
    let client = client_with(profiles.clone(), &server);
    let user = client.create_user_context("user-f", Attributes::new());
    let decision = user.decide("feature_2", &[]);
    assert_eq!(
        decision.variation_key.as_deref(),
        Some("variation_with_traffic")
    );
    assert_eq!((profiles.lookups(), profiles.saves()), (1, 1));
    assert_eq!(
        my_logged(
            log::Level::Error,
            "Error while looking up user profile for user ID \"user-f\": profile store unavailable."
        ),
        ["Error while looking up user profile for user ID \"user-f\": profile store unavailable."]
    );
    assert_eq!(
        my_logged(
            log::Level::Error,
            "Error while saving user profile for user ID \"user-f\""
        ),
        ["Error while saving user profile for user ID \"user-f\": profile store is read-only."]
    );
}

struct Panicking;

impl UserProfileService for Panicking {
    fn lookup(&self, _: &str) -> Result<Option<UserProfile>, UserProfileError> {
        panic!("lookup exploded")
    }

    fn save(&self, _: &UserProfile) -> Result<(), UserProfileError> {
        panic!("save exploded")
    }
}

#[test]
fn a_panicking_service_does_not_fail_the_decision() {
    let server = server(None);
    let client = client_with(Arc::new(Panicking), &server);
    let user = client.create_user_context("user-p", Attributes::new());
    let decision = user.decide("feature_2", &[]);
    assert_eq!(
        decision.variation_key.as_deref(),
        Some("variation_with_traffic")
    );
    assert_eq!(
        my_logged(log::Level::Error, "the service panicked").len(),
        2
    );
}
