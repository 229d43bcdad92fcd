//! Starting, addressing, concurrency and shutdown.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::{EVENTUALLY, ODP_KEY, get, odp_event, post_odp_events};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerError, Endpoint};
use serde_json::json;

fn refuses_connections(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_err()
}

#[test]
fn listens_on_loopback_only() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    assert_eq!(server.addr().ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(server.port(), 0);
    assert_eq!(server.url(), format!("http://127.0.0.1:{}", server.port()));
    assert_eq!(
        server.datafile_url_template(),
        format!(
            "http://127.0.0.1:{}/datafiles/{{sdk_key}}.json",
            server.port()
        )
    );
    assert_eq!(
        server.auth_datafile_url_template(),
        format!(
            "http://127.0.0.1:{}/datafiles/auth/{{sdk_key}}.json",
            server.port()
        )
    );
    assert_eq!(
        server.event_endpoint(),
        format!("http://127.0.0.1:{}/v1/events", server.port())
    );
    // Another loopback address reaches the server only if it listened on all interfaces.
    let other_loopback = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), server.port()));
    assert!(refuses_connections(other_loopback));
    assert_eq!(get(&format!("{}/_dev/health", server.url())).status, 200);
}

#[test]
fn an_explicit_port_is_used_and_a_taken_one_is_an_error() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = DevServer::start(DevServerConfig::default().port(free_port)).unwrap();
    assert_eq!(server.port(), free_port);

    let taken = DevServer::start(DevServerConfig::default().port(free_port));
    match taken {
        Err(DevServerError::Bind { addr, .. }) => assert_eq!(addr.port(), free_port),
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[test]
fn concurrent_requests_from_several_threads_are_all_stored() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    let base = server.url();
    let threads = 8;
    let per_thread = 20;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let base = base.clone();
            thread::spawn(move || {
                for n in 0..per_thread {
                    let body = json!([odp_event(&format!("t{t}"), &format!("{n}"))]).to_string();
                    assert_eq!(post_odp_events(&base, &body).status, 202);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let stored = server.odp_events();
    assert_eq!(stored.len(), threads * per_thread);
    assert_eq!(
        server.requests(Endpoint::OdpEvents).len(),
        threads * per_thread
    );
    for t in 0..threads {
        let user = format!("t{t}");
        let actions: Vec<String> = stored
            .iter()
            .filter(|e| e["identifiers"]["fs_user_id"] == user.as_str())
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..per_thread).map(|n| n.to_string()).collect();
        assert_eq!(actions, expected, "events of {user} in arrival order");
    }
}

#[test]
fn waits_for_events_sent_from_another_thread() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    let base = server.url();
    let sender = thread::spawn(move || {
        for n in 0..3 {
            let body = json!([odp_event("u", &n.to_string())]).to_string();
            post_odp_events(&base, &body);
        }
    });
    let events = server.wait_for_odp_events(3, EVENTUALLY);
    assert_eq!(events.len(), 3);
    sender.join().unwrap();
    let answered = server.wait_for_requests(Endpoint::OdpEvents, 3, EVENTUALLY);
    assert!(answered.iter().all(|r| r.status == Some(202)));
    // Nothing more arrives: the wait gives up at its timeout and returns what is stored.
    assert_eq!(
        server
            .wait_for_odp_events(4, Duration::from_millis(50))
            .len(),
        3
    );
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let server = DevServer::start(DevServerConfig::default()).unwrap();
    let addr = server.addr();
    assert_eq!(get(&format!("{}/_dev/health", server.url())).status, 200);
    drop(server);
    assert!(refuses_connections(addr));
}

#[test]
fn shutdown_is_idempotent_and_keeps_recorded_data() {
    let server = DevServer::start(DevServerConfig::default().odp_api_key(ODP_KEY)).unwrap();
    let body = json!([odp_event("u", "a")]).to_string();
    assert_eq!(post_odp_events(&server.url(), &body).status, 202);
    server.shutdown();
    server.shutdown();
    assert!(refuses_connections(server.addr()));
    assert_eq!(server.odp_events().len(), 1);
    assert_eq!(server.requests(Endpoint::OdpEvents).len(), 1);
}

#[test]
fn can_be_started_and_dropped_inside_an_async_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let server = DevServer::start(DevServerConfig::default()).unwrap();
        let addr = server.addr();
        drop(server);
        addr
    });
    drop(runtime);
    let deadline = std::time::Instant::now() + EVENTUALLY;
    while !refuses_connections(addr) && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(refuses_connections(addr));
}

#[test]
fn debug_output_hides_secrets() {
    let config = DevServerConfig::default()
        .odp_api_key("odp-secret")
        .access_token("k", "token-secret")
        .datafile("k", "{}");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("odp-secret") && !shown.contains("token-secret"),
        "{shown}"
    );
    let server = DevServer::start(config).unwrap();
    let shown = format!("{server:?}");
    assert!(
        !shown.contains("odp-secret") && !shown.contains("token-secret"),
        "{shown}"
    );
    assert!(shown.contains(&server.url()));
}

#[test]
fn handle_and_records_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<optimizely_fx_devserver::DevServerHandle>();
    assert_send_sync::<optimizely_fx_devserver::RecordedRequest>();
    assert_send_sync::<optimizely_fx_devserver::Fault>();
    assert_send_sync::<DevServerError>();

    let server = std::sync::Arc::new(DevServer::start(DevServerConfig::default()).unwrap());
    let shared = std::sync::Arc::clone(&server);
    thread::spawn(move || shared.set_segments("u", vec!["s".to_owned()]))
        .join()
        .unwrap();
    assert!(server.remove_segments("u"));
}
