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
    /// Started by the first integration; its target is the current endpoint.
    dispatcher: OnceLock<Dispatcher<OdpEventSink>>,
    closed: AtomicBool,
    /// Serialises config updates and close.
    lifecycle: Mutex<()>,
}

impl OdpEventManager {
    pub(crate) fn new(settings: OdpEventSettings, transport: Arc<dyn HttpTransport>) -> Self {
        OdpEventManager {
            settings,
            transport,
            dispatcher: OnceLock::new(),
            closed: AtomicBool::new(false),
            lifecycle: Mutex::new(()),
        }
    }

    /// Adopts the ODP integration of a new datafile: `Some((host, public_key))`, or `None`
    /// when it has none. An unchanged endpoint is a no-op. Otherwise events queued so far are
    /// flushed to the endpoint they were queued for, and later events go to the new one; with
    /// `None` later events are refused ([`EnqueueError::NoTarget`]).
    pub(crate) fn update_config(&self, odp: Option<(&str, &str)>) {
        let _serialised = self.lifecycle();
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let current = self.endpoint();
        match odp {
            Some((host, key)) if current.as_deref().is_some_and(|now| now.is(host, key)) => {}
            Some((host, key)) => self.integrate(OdpEndpoint::new(host, key), current.is_some()),
            None if current.is_none() => {}
            None => self.deintegrate(),
        }
    }

    fn lifecycle(&self) -> MutexGuard<'_, ()> {
        self.lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Where newly queued events go; `None` while not integrated.
    fn endpoint(&self) -> Option<Arc<OdpEndpoint>> {
        self.dispatcher.get().and_then(Dispatcher::target)
    }

    fn integrate(&self, endpoint: OdpEndpoint, was_integrated: bool) {
        let host = endpoint.host().to_owned();
        let Some(dispatcher) = self.started_dispatcher(&host) else {
            return;
        };
        dispatcher.set_target(Some(Arc::new(endpoint)));
        if was_integrated {
            log::debug!("ODP events now go to {host}; queued ones to the previous endpoint");
            dispatcher.request_flush();
        }
    }

    /// The dispatcher, started at the first call; `None` (and ODP closed) if its thread
    /// could not be started.
    fn started_dispatcher(&self, host: &str) -> Option<&Dispatcher<OdpEventSink>> {
        if let Some(dispatcher) = self.dispatcher.get() {
            return Some(dispatcher);
        }
        let sink = OdpEventSink::new(self.transport.clone(), self.settings.request_timeout);
        match Dispatcher::start(THREAD_NAME, self.settings.dispatch_settings(), sink) {
            Ok(dispatcher) => {
                log::debug!("ODP event delivery started ({host})");
                Some(self.dispatcher.get_or_init(|| dispatcher))
            }
            Err(err) => {
                log::error!("could not start ODP event delivery ({err})");
                // Later events are refused as closed rather than queued for nobody.
                self.closed.store(true, Ordering::Release);
                None
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
        let _serialised = self.lifecycle();
        self.closed.store(true, Ordering::Release);
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
