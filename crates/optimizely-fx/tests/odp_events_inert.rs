//! ODP staying inert where it is not used: no thread, no request, nothing logged above DEBUG.
//! (One test in this binary, so the threads and log lines it looks at are its own.)

mod odp_events_support;

use std::time::Duration;

use odp_events_support::*;
use optimizely_fx::OdpEvent;

#[test]
fn odp_is_inert_without_an_integration() {
    let server = server_with(&plain_datafile());
    let before = all_log_lines().len();
    let client = ready(builder(&server).odp_event_flush_interval(Duration::from_millis(10)));
    for _ in 0..10 {
        let _ = client.send_odp_event(OdpEvent::new("a").identifier("k", "v"));
    }
    assert!(client.flush(PATIENCE));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(threads_named("optimizely-fx-odp"), 0, "no ODP thread");
    assert!(odp_requests(&server).is_empty());
    let loud: Vec<_> = all_log_lines()[before..]
        .iter()
        .filter(|line| line.level <= log::Level::Info && line.message.contains("ODP"))
        .cloned()
        .collect();
    assert!(loud.is_empty(), "{loud:?}");
    assert_eq!(client.odp_stats(), Default::default());
}
