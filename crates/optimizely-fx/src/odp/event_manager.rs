//! ODP event delivery: owns the ODP [`Dispatcher`], started only once a datafile with an ODP
//! integration arrives. Until then ODP is inert: no thread, no timer, no request, and nothing
//! logged above DEBUG.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use optimizely_fx_core::odp::WireOdpEvent;

use super::event_sink::{OdpEndpoint, OdpEventSink};
use crate::dispatch::{DeliveryStats, DispatchSettings, Dispatcher, EnqueueError, QueueReport};
use crate::http::HttpTransport;

/// Name of the ODP worker thread (its sender threads add `-send`).
const THREAD_NAME: &str = "optimizely-fx-odp";

/// Tuning of ODP event delivery (all configurable on the client builder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OdpEventSettings {
    /// Events per request; reaching it sends at once. Default 10.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent; zero sends each event at once. Default 1 s.
    pub flush_interval: Duration,
    /// Most events queued (waiting, in flight, or kept after failures). Default 10,000.
    pub queue_capacity: usize,
    /// Overall deadline of one request to the Events API. Default 10 s.
    pub request_timeout: Duration,
    /// Most events in one request when a backlog built up. Default 100.
    pub max_per_request: usize,
    /// Most requests in progress at once. Default 4.
    pub max_in_flight: usize,
}

impl Default for OdpEventSettings {
    fn default() -> Self {
        OdpEventSettings {
            batch_size: 10,
            flush_interval: Duration::from_secs(1),
            queue_capacity: 10_000,
            request_timeout: Duration::from_secs(10),
            max_per_request: 100,
            max_in_flight: 8,
        }
    }
}

impl OdpEventSettings {
    fn dispatch_settings(&self) -> DispatchSettings {
        DispatchSettings {
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            queue_capacity: self.queue_capacity,
            max_per_request: self.max_per_request,
            max_in_flight: self.max_in_flight,
            ..DispatchSettings::default()
        }
    }
}

/// Queues validated ODP events and delivers them in the background to the endpoint of the
/// current datafile.
pub(crate) struct OdpEventManager {
    settings: OdpEventSettings,
    transport: Arc<dyn HttpTransport>,
    /// Target of newly queued events (`None` while not integrated); the lock also serialises
    /// config updates and close. The dispatcher holds its own copy for the enqueue path.
    endpoint: Mutex<Option<Arc<OdpEndpoint>>>,
    dispatcher: OnceLock<Dispatcher<OdpEventSink>>,
    closed: AtomicBool,
}

impl OdpEventManager {
    pub(crate) fn new(settings: OdpEventSettings, transport: Arc<dyn HttpTransport>) -> Self {
        OdpEventManager {
            settings,
            transport,
            endpoint: Mutex::new(None),
            dispatcher: OnceLock::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// Adopts the ODP integration of a new datafile: `Some((host, public_key))`, or `None`
    /// when it has none. An unchanged endpoint is a no-op. Otherwise events queued so far are
    /// flushed to the endpoint they were queued for, and later events go to the new one; with
    /// `None` later events are refused ([`EnqueueError::NoTarget`]).
    pub(crate) fn update_config(&self, odp: Option<(&str, &str)>) {
        let mut endpoint = self.endpoint();
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        match odp {
            Some((host, key)) if endpoint.as_deref().is_some_and(|now| now.is(host, key)) => {}
            Some((host, key)) => {
                let was_integrated = endpoint.is_some();
                let new = Arc::new(OdpEndpoint::new(host, key));
                *endpoint = Some(new.clone());
                self.integrate(new, was_integrated);
            }
            None if endpoint.is_none() => {}
            None => {
                *endpoint = None;
                self.deintegrate();
            }
        }
    }

    fn endpoint(&self) -> MutexGuard<'_, Option<Arc<OdpEndpoint>>> {
        self.endpoint.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn integrate(&self, endpoint: Arc<OdpEndpoint>, was_integrated: bool) {
        let host = endpoint.host().to_owned();
        if self.dispatcher.get().is_none() {
            self.start_dispatcher(&host);
        } else {
            log::debug!("ODP events now go to {host}; queued ones to the previous endpoint");
        }
        if let Some(dispatcher) = self.dispatcher.get() {
            dispatcher.set_target(Some(endpoint));
            if was_integrated {
                dispatcher.request_flush();
            }
        }
    }

    fn start_dispatcher(&self, host: &str) {
        let sink = OdpEventSink::new(self.transport.clone(), self.settings.request_timeout);
        match Dispatcher::start(THREAD_NAME, self.settings.dispatch_settings(), sink) {
            Ok(dispatcher) => {
                let _ = self.dispatcher.set(dispatcher);
                log::debug!("ODP event delivery started ({host})");
            }
            Err(err) => {
                log::error!("could not start ODP event delivery ({err})");
                // Later events are refused as closed rather than queued for nobody.
                self.closed.store(true, Ordering::Release);
            }
        }
    }

    fn deintegrate(&self) {
        if let Some(dispatcher) = self.dispatcher.get() {
            log::debug!("ODP integration removed; sending the events already queued");
            dispatcher.set_target(None);
            dispatcher.request_flush();
        }
    }

    /// Queues `event` for the current endpoint. Never blocks on delivery and does no I/O.
    #[inline]
    pub(crate) fn enqueue(&self, event: WireOdpEvent) -> Result<(), EnqueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EnqueueError::Closed);
        }
        match self.dispatcher.get() {
            Some(dispatcher) => dispatcher.try_enqueue_current(event),
            None => Err(EnqueueError::NoTarget),
        }
    }

    /// Sends everything queued and waits at most `timeout`; `true` when every event queued
    /// before the call was delivered, rejected, or kept for a later flush after failing.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.dispatcher
            .get()
            .is_none_or(|dispatcher| dispatcher.flush(timeout))
    }

    /// Refuses new events, flushes, and waits at most `timeout` before stopping delivery.
    pub(crate) fn close(&self, timeout: Duration) -> QueueReport {
        let mut endpoint = self.endpoint();
        self.closed.store(true, Ordering::Release);
        *endpoint = None;
        match self.dispatcher.get() {
            Some(dispatcher) => {
                dispatcher.set_target(None);
                dispatcher.close(timeout)
            }
            None => QueueReport::default(),
        }
    }

    /// Delivery counters (all zero while ODP was never integrated).
    pub(crate) fn stats(&self) -> DeliveryStats {
        self.dispatcher
            .get()
            .map_or_else(DeliveryStats::default, Dispatcher::stats)
    }
}

#[cfg(test)]
mod tests;
