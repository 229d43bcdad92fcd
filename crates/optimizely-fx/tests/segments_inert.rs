//! With ODP not integrated or disabled, segment fetches do nothing beyond returning their
//! error: no request, no worker thread, nothing logged above DEBUG by the ODP code.
//! (One test in this binary, so its logs and threads are its own.)

mod segments_support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Waker};

use optimizely_fx::FetchSegmentsError;
use optimizely_fx_devserver::Endpoint;
use segments_support::*;

#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn odp_stays_inert_when_not_integrated_or_disabled() {
    let plain = server_with(&fixture("rs-sandbox.json"));
    let odp = server_with(&odp_datafile());
    let not_integrated = ready(builder(&plain));
    let disabled = ready(builder(&odp).odp_disabled(true));

    for _ in 0..3 {
        for (client, expected) in [
            (&not_integrated, FetchSegmentsError::OdpNotIntegrated),
            (&disabled, FetchSegmentsError::OdpNotEnabled),
        ] {
            assert_eq!(
                client.fetch_qualified_segments("u1", &[]),
                Err(expected.clone())
            );
            let mut future = client.fetch_qualified_segments_async("u1", &[]);
            let polled = Pin::new(&mut future).poll(&mut Context::from_waker(Waker::noop()));
            assert_eq!(polled, std::task::Poll::Ready(Err(expected)));
        }
    }

    assert!(plain.requests(Endpoint::OdpGraphql).is_empty());
    assert!(odp.requests(Endpoint::OdpGraphql).is_empty());
    #[cfg(target_os = "linux")]
    {
        let names = thread_names();
        assert!(
            !names.iter().any(|name| name.starts_with("optimizely-fx-s")),
            "{names:?}"
        );
    }
    let loud: Vec<_> = all_log_lines()
        .into_iter()
        .filter(|line| line.target.contains("odp") && line.level < log::Level::Debug)
        .collect();
    assert!(loud.is_empty(), "{loud:?}");
}
