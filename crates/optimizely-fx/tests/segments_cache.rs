//! The segments cache through the public API, against the dev server on 127.0.0.1: hits and
//! misses, expiry, eviction, the cache options, resets on ODP config changes, custom caches,
//! and many threads at once.

mod segments_support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use optimizely_fx::{Client, LruSegmentsCache, SegmentOption, SegmentsCache};
use optimizely_fx_devserver::{DevServerHandle, Endpoint};
use segments_support::*;

fn odp_client(
    configure: impl FnOnce(optimizely_fx::ClientBuilder) -> optimizely_fx::ClientBuilder,
) -> (DevServerHandle, Client) {
    let server = server_with(&odp_datafile());
    let client = ready(configure(builder(&server)));
    (server, client)
}

fn fetch(client: &Client, user: &str, options: &[SegmentOption]) -> Vec<String> {
    client
        .fetch_qualified_segments(user, options)
        .unwrap_or_else(|error| panic!("fetch for {user} failed: {error}"))
}

#[test]
fn a_second_fetch_is_served_from_the_cache() {
    let (server, client) = odp_client(|b| b);
    server.set_segments("u1", strings(&["odp-segment-1"]));

    assert_eq!(fetch(&client, "u1", &[]), strings(&["odp-segment-1"]));
    server.set_segments("u1", strings(&["odp-segment-2"]));
    assert_eq!(fetch(&client, "u1", &[]), strings(&["odp-segment-1"]));

    assert_eq!(graphql_requests(&server), 1);
}

#[test]
fn empty_answers_are_cached_and_failures_are_not() {
    let (server, client) = odp_client(|b| b);
    server.set_segments("empty", vec![]);
    assert_eq!(fetch(&client, "empty", &[]), Vec::<String>::new());
    assert_eq!(fetch(&client, "empty", &[]), Vec::<String>::new());
    assert_eq!(graphql_requests(&server), 1);

    assert!(client.fetch_qualified_segments("unknown", &[]).is_err());
    server.set_segments("unknown", strings(&["odp-segment-3"]));
    assert_eq!(fetch(&client, "unknown", &[]), strings(&["odp-segment-3"]));
    assert_eq!(graphql_requests(&server), 3);
}

#[test]
fn ignore_cache_asks_odp_and_leaves_the_cache_alone() {
    let (server, client) = odp_client(|b| b);
    server.set_segments("u1", strings(&["odp-segment-1"]));
    fetch(&client, "u1", &[]);
    server.set_segments("u1", strings(&["odp-segment-2"]));

    assert_eq!(
        fetch(&client, "u1", &[SegmentOption::IgnoreCache]),
        strings(&["odp-segment-2"])
    );
    assert_eq!(
        fetch(&client, "u1", &[]),
        strings(&["odp-segment-1"]),
        "cache kept"
    );

    server.set_segments("u2", strings(&["odp-segment-3"]));
    fetch(&client, "u2", &[SegmentOption::IgnoreCache]);
    fetch(&client, "u2", &[]);
    assert_eq!(
        graphql_requests(&server),
        4,
        "the ignored answer was not saved"
    );
}

#[test]
fn reset_cache_empties_the_cache_then_saves_the_new_answer() {
    let (server, client) = odp_client(|b| b);
    for user in ["u1", "u2"] {
        server.set_segments(user, strings(&["odp-segment-1"]));
        fetch(&client, user, &[]);
    }
    server.set_segments("u1", strings(&["odp-segment-2"]));

    assert_eq!(
        fetch(&client, "u1", &[SegmentOption::ResetCache]),
        strings(&["odp-segment-2"])
    );
    assert_eq!(graphql_requests(&server), 3);

    fetch(&client, "u1", &[]);
    assert_eq!(graphql_requests(&server), 3, "u1 saved after the reset");
    fetch(&client, "u2", &[]);
    assert_eq!(graphql_requests(&server), 4, "u2 went with the reset");
}

#[test]
fn the_least_recently_used_user_is_evicted() {
    let (server, client) = odp_client(|b| b.segments_cache_size(2));
    for user in ["a", "b", "c"] {
        server.set_segments(user, strings(&["odp-segment-1"]));
    }
    fetch(&client, "a", &[]);
    fetch(&client, "b", &[]);
    fetch(&client, "a", &[]); // a hit: `a` is now the most recently used
    fetch(&client, "c", &[]); // evicts `b`
    assert_eq!(graphql_requests(&server), 3);

    fetch(&client, "a", &[]);
    fetch(&client, "c", &[]);
    assert_eq!(graphql_requests(&server), 3);
    fetch(&client, "b", &[]);
    assert_eq!(graphql_requests(&server), 4);
}

#[test]
fn cache_size_zero_turns_caching_off() {
    let (server, client) = odp_client(|b| b.segments_cache_size(0));
    server.set_segments("u1", strings(&["odp-segment-1"]));
    fetch(&client, "u1", &[]);
    fetch(&client, "u1", &[]);
    assert_eq!(graphql_requests(&server), 2);
}

#[test]
fn an_entry_older_than_the_timeout_is_fetched_again() {
    let timeout = Duration::from_millis(50);
    let (server, client) = odp_client(|b| b.segments_cache_timeout(timeout));
    server.set_segments("u1", strings(&["odp-segment-1"]));
    fetch(&client, "u1", &[]);
    std::thread::sleep(timeout * 4);
    server.set_segments("u1", strings(&["odp-segment-2"]));

    assert_eq!(fetch(&client, "u1", &[]), strings(&["odp-segment-2"]));
    assert_eq!(graphql_requests(&server), 2);
}

/// A clock the test moves by hand.
fn manual_clock() -> (
    Arc<Mutex<Instant>>,
    impl Fn() -> Instant + Send + Sync + 'static,
) {
    let now = Arc::new(Mutex::new(Instant::now()));
    let reader = Arc::clone(&now);
    (now, move || *reader.lock().unwrap())
}

#[test]
fn lookups_do_not_extend_an_entry_and_it_expires_exactly_at_the_timeout() {
    let (now, clock) = manual_clock();
    let cache = Arc::new(LruSegmentsCache::with_clock(
        100,
        Duration::from_secs(600),
        clock,
    ));
    let (server, client) = odp_client(|b| b.segments_cache(cache.clone()));
    server.set_segments("u1", strings(&["odp-segment-1"]));

    fetch(&client, "u1", &[]);
    for _ in 0..3 {
        *now.lock().unwrap() += Duration::from_secs(199);
        fetch(&client, "u1", &[]);
    }
    assert_eq!(graphql_requests(&server), 1, "597 s old: still cached");
    *now.lock().unwrap() += Duration::from_secs(3);
    fetch(&client, "u1", &[]);
    assert_eq!(
        graphql_requests(&server),
        2,
        "600 s after the save, despite the lookups"
    );
}

#[test]
fn a_custom_cache_is_used_with_the_official_keys() {
    let cache = Arc::new(CountingCache::default());
    cache.entries.lock().unwrap().insert(
        "fs_user_id-$-shared".to_owned(),
        strings(&["from-elsewhere"]),
    );
    let (server, client) = odp_client(|b| b.segments_cache(cache.clone()));
    server.set_segments("u1", strings(&["odp-segment-3"]));

    assert_eq!(fetch(&client, "shared", &[]), strings(&["from-elsewhere"]));
    assert_eq!(graphql_requests(&server), 0);

    fetch(&client, "u1", &[]);
    fetch(&client, "u1", &[]);
    assert_eq!(graphql_requests(&server), 1);
    assert_eq!(
        cache.lookup("fs_user_id-$-u1"),
        Some(strings(&["odp-segment-3"]))
    );
    assert_eq!(cache.saves.load(Ordering::SeqCst), 1);

    fetch(&client, "u1", &[SegmentOption::ResetCache]);
    assert_eq!(cache.resets.load(Ordering::SeqCst), 1);
    assert_eq!(cache.lookup("fs_user_id-$-shared"), None);
}

fn with_revision_and_segment(datafile: &str, revision: &str, segment_3: &str) -> String {
    let mut json: serde_json::Value = serde_json::from_str(datafile).unwrap();
    json["revision"] = revision.into();
    let text = json.to_string();
    text.replace("odp-segment-3", segment_3)
}

#[test]
fn a_new_datafile_with_other_odp_settings_resets_the_cache_and_others_keep_it() {
    let server = server_with(&odp_datafile());
    let client = ready(builder(&server).polling_interval(Duration::from_millis(50)));
    server.set_segments("u1", strings(&["odp-segment-1"]));
    fetch(&client, "u1", &[]);

    // A new revision with the same ODP settings keeps the cache.
    server.set_datafile(
        SDK_KEY,
        with_revision_and_segment(&odp_datafile(), "102", "odp-segment-3"),
    );
    eventually("revision 102", || {
        client.config().unwrap().revision() == "102"
    });
    fetch(&client, "u1", &[]);
    assert_eq!(graphql_requests(&server), 1);

    // Another segment list resets it, and the next request asks for the new list.
    server.set_datafile(
        SDK_KEY,
        with_revision_and_segment(&odp_datafile(), "103", "odp-segment-9"),
    );
    eventually("revision 103", || {
        client.config().unwrap().revision() == "103"
    });
    server.set_segments("u1", strings(&["odp-segment-9"]));
    assert_eq!(fetch(&client, "u1", &[]), strings(&["odp-segment-9"]));
    let requests = server.requests(Endpoint::OdpGraphql);
    assert_eq!(requests.len(), 2);
    let body = requests[1].body_json().unwrap();
    assert_eq!(
        body["variables"]["audiences"],
        serde_json::json!(["odp-segment-1", "odp-segment-2", "odp-segment-9"])
    );
    client.close(Duration::from_secs(1));
}

#[test]
fn many_threads_fetch_many_users() {
    const USERS: usize = 200;
    const THREADS: usize = 8;
    let (server, client) = odp_client(|b| b);
    let expected = |user: usize| -> Vec<String> {
        match user % 3 {
            0 => vec![],
            1 => strings(&["odp-segment-1"]),
            _ => strings(&["odp-segment-2", "odp-segment-3"]),
        }
    };
    for user in 0..USERS {
        server.set_segments(format!("user-{user}"), expected(user));
    }

    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let client = client.clone();
            scope.spawn(move || {
                for round in 0..2 {
                    for step in 0..USERS {
                        let user = (step * 7 + thread * 13 + round) % USERS;
                        let segments = fetch(&client, &format!("user-{user}"), &[]);
                        assert_eq!(segments, expected(user), "user-{user}");
                    }
                }
            });
        }
    });

    let after_threads = graphql_requests(&server);
    assert!(
        (USERS..=USERS * THREADS).contains(&after_threads),
        "{after_threads} requests"
    );
    for user in 0..USERS {
        assert_eq!(fetch(&client, &format!("user-{user}"), &[]), expected(user));
    }
    assert_eq!(
        graphql_requests(&server),
        after_threads,
        "everyone is cached"
    );
}
