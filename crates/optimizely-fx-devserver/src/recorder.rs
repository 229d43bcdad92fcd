use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault::Endpoint;

/// Most recent requests kept per endpoint.
pub(crate) const MAX_STORED_REQUESTS: usize = 10_000;

/// Header names whose values are secrets and never shown by `Debug`.
const SECRET_HEADERS: [&str; 2] = ["authorization", "x-api-key"];
const DEBUG_BODY_CHARS: usize = 1024;

/// One request received on an [`Endpoint`], as the server saw it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path without the query, e.g. `/v3/events`.
    pub path: String,
    /// Raw query string, if the request had one.
    pub query: Option<String>,
    /// Headers in arrival order, names lower-case (repeated headers appear repeatedly).
    pub headers: Vec<(String, String)>,
    /// The request body (empty when it exceeded the size limit).
    pub body: Vec<u8>,
    /// Status the server answered; `None` while unanswered and for dropped or hung requests.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// Every value of header `name` (case-insensitive), in arrival order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// The body as UTF-8 text, if it is valid UTF-8.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON, if it is valid JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if SECRET_HEADERS.contains(&name.as_str()) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        let body: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(DEBUG_BODY_CHARS)
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("body", &body)
            .field("status", &self.status)
            .finish()
    }
}

/// The most recent `capacity` items plus a count of everything ever added.
struct Bounded<T> {
    items: VecDeque<T>,
    capacity: usize,
    received: u64,
}

impl<T> Bounded<T> {
    fn new(capacity: usize) -> Self {
        Bounded {
            items: VecDeque::new(),
            capacity,
            received: 0,
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.received += 1;
    }

    fn clear(&mut self) {
        self.items.clear();
        self.received = 0;
    }
}

struct Recorded {
    requests: [Bounded<(u64, RecordedRequest)>; 4],
    next_request_id: u64,
    /// Mirrors of the stored counts, so waits can block on the condition variable.
    odp_events_received: u64,
    batches_received: u64,
    /// Threads waiting on the condition variable (changes wake them only if there are any).
    waiting: usize,
}

/// Identifies a recorded request so its answer can be filled in later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTicket {
    endpoint: Endpoint,
    id: u64,
}

/// Requests the server has seen, and the counts of accepted events and batches (which are
/// stored in the database), shared between the runtime and the handle.
pub(crate) struct Recorder {
    inner: Mutex<Recorded>,
    changed: Condvar,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            inner: Mutex::new(Recorded {
                requests: std::array::from_fn(|_| Bounded::new(MAX_STORED_REQUESTS)),
                next_request_id: 0,
                odp_events_received: 0,
                batches_received: 0,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

/// Snapshot of a bounded store: the kept items and how many were ever received.
pub(crate) struct Kept<T> {
    pub(crate) items: Vec<T>,
    pub(crate) received: u64,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Recorded)) {
        let mut recorded = self.lock();
        change(&mut recorded);
        let anyone_waiting = recorded.waiting > 0;
        drop(recorded);
        if anyone_waiting {
            self.changed.notify_all();
        }
    }

    pub(crate) fn record_request(
        &self,
        endpoint: Endpoint,
        request: RecordedRequest,
    ) -> RequestTicket {
        let mut id = 0;
        self.update(|recorded| {
            id = recorded.next_request_id;
            recorded.next_request_id += 1;
            recorded.requests[endpoint.index()].push((id, request));
        });
        RequestTicket { endpoint, id }
    }

    pub(crate) fn set_status(&self, ticket: RequestTicket, status: u16) {
        self.update(|recorded| {
            let requests = &mut recorded.requests[ticket.endpoint.index()].items;
            if let Some((_, request)) = requests.iter_mut().rev().find(|(id, _)| *id == ticket.id) {
                request.status = Some(status);
            }
        });
    }

    /// Records the new total of accepted ODP events.
    ///
    /// Totals come from concurrent requests that may finish out of order, so the largest wins.
    pub(crate) fn set_odp_events_received(&self, total: u64) {
        self.update(|recorded| {
            recorded.odp_events_received = recorded.odp_events_received.max(total);
        });
    }

    /// Records the new total of accepted batches.
    pub(crate) fn set_batches_received(&self, total: u64) {
        self.update(|recorded| recorded.batches_received = recorded.batches_received.max(total));
    }

    pub(crate) fn odp_events_received(&self) -> u64 {
        self.lock().odp_events_received
    }

    pub(crate) fn batches_received(&self) -> u64 {
        self.lock().batches_received
    }

    pub(crate) fn requests(&self, endpoint: Endpoint) -> Kept<RecordedRequest> {
        let recorded = self.lock();
        kept(&recorded.requests[endpoint.index()], |(_, r)| r.clone())
    }

    /// Forgets recorded requests and the event and batch counts.
    pub(crate) fn reset(&self) {
        self.update(|recorded| {
            recorded.odp_events_received = 0;
            recorded.batches_received = 0;
            recorded.requests.iter_mut().for_each(Bounded::clear);
        });
    }

    /// Blocks until at least `count` ODP events were received, or `timeout` passed.
    pub(crate) fn wait_for_odp_events(&self, count: u64, timeout: Duration) {
        self.wait_until(timeout, |r| r.odp_events_received >= count);
    }

    /// Blocks until at least `count` batches were received, or `timeout` passed.
    pub(crate) fn wait_for_batches(&self, count: u64, timeout: Duration) {
        self.wait_until(timeout, |r| r.batches_received >= count);
    }

    /// Blocks until at least `count` requests on `endpoint` were answered, or `timeout` passed.
    pub(crate) fn wait_for_requests(
        &self,
        endpoint: Endpoint,
        count: usize,
        timeout: Duration,
    ) -> Vec<RecordedRequest> {
        self.wait_until(timeout, |r| {
            let requests = &r.requests[endpoint.index()].items;
            requests
                .iter()
                .filter(|(_, req)| req.status.is_some())
                .count()
                >= count
        });
        self.requests(endpoint).items
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&Recorded) -> bool) {
        let deadline = Instant::now().checked_add(timeout);
        let mut recorded = self.lock();
        while !done(&recorded) {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return;
            }
            recorded.waiting += 1;
            recorded = self
                .changed
                .wait_timeout(recorded, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            recorded.waiting -= 1;
        }
    }
}

fn kept<T, U>(store: &Bounded<T>, copy: impl Fn(&T) -> U) -> Kept<U> {
    Kept {
        items: store.items.iter().map(copy).collect(),
        received: store.received,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_keeps_most_recent_and_counts_all() {
        let mut store = Bounded::new(2);
        (1..=5).for_each(|n| store.push(n));
        assert_eq!(store.items, [4, 5]);
        assert_eq!(store.received, 5);
    }

    #[test]
    fn debug_redacts_secret_headers() {
        let request = RecordedRequest {
            method: "GET".into(),
            path: "/datafiles/auth/k.json".into(),
            query: None,
            headers: vec![
                ("authorization".into(), "Bearer s3cret".into()),
                ("x-api-key".into(), "k3y".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: Vec::new(),
            status: Some(200),
        };
        let shown = format!("{request:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("application/json"));
        assert_eq!(request.header("Authorization"), Some("Bearer s3cret"));
    }
}
