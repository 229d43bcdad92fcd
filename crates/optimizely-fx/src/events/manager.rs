//! Owns the event [`Dispatcher`], started at the first event. A client that never sends an
//! impression or a conversion never starts the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::event::{self, EventContext, Visitor};

use super::sink::EventSink;
use crate::config_source::ConfigStore;
use crate::dispatch::{DeliveryStats, DispatchSettings, Dispatcher, EnqueueError, QueueReport};
use crate::http::HttpTransport;

/// Name of the event worker thread (its sender threads add `-send`).
const THREAD_NAME: &str = "optimizely-fx-events";
/// The `client_version` sent in event batches.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Tuning of impression and conversion event delivery (all configurable on the builder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventSettings {
    /// Events per request; reaching it sends at once. Default 10.
    pub batch_size: usize,
    /// Longest wait before a partial batch is sent; zero sends each event at once.
    /// Default 30 s.
    pub flush_interval: Duration,
    /// Most events queued (waiting, in flight, or kept after failures). Default 10,000.
    pub queue_capacity: usize,
    /// Overall deadline of one request. Default 10 s.
    pub request_timeout: Duration,
    /// Where batches go instead of the datafile region's logx endpoint.
    pub endpoint: Option<String>,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            batch_size: 10,
            flush_interval: Duration::from_secs(30),
            queue_capacity: 10_000,
            request_timeout: Duration::from_secs(10),
            endpoint: None,
        }
    }
}

impl EventSettings {
    /// The settings with every unusable value replaced by its default (and a warning).
    pub(crate) fn checked(mut self) -> Self {
        let defaults = EventSettings::default();
        if self.batch_size == 0 {
            log::warn!("Invalid batchSize 0, defaulting to {}", defaults.batch_size);
            self.batch_size = defaults.batch_size;
        }
        if self.queue_capacity == 0 {
            log::warn!(
                "Invalid event queue capacity 0, defaulting to {}",
                defaults.queue_capacity
            );
            self.queue_capacity = defaults.queue_capacity;
        }
        if self.request_timeout.is_zero() {
            log::warn!("Invalid event request timeout 0, defaulting to 10 s");
            self.request_timeout = defaults.request_timeout;
        }
        self
    }

    fn dispatch_settings(&self) -> DispatchSettings {
        DispatchSettings {
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            queue_capacity: self.queue_capacity,
            ..DispatchSettings::default()
        }
    }
}

/// Where a batch goes and what its events share: events of different targets (e.g. of two
/// datafile revisions) never share a batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventTarget {
    /// The batch's top-level fields.
    pub context: Arc<EventContext>,
    /// The URL batches are posted to.
    pub url: String,
}

/// The target of the config last used, so that consecutive events of one config share it.
struct CachedTarget {
    config: Arc<ProjectConfig>,
    target: Arc<EventTarget>,
}

/// Queues impression and conversion events and delivers them in the background.
pub(crate) struct EventManager {
    settings: EventSettings,
    transport: Arc<dyn HttpTransport>,
    store: Arc<ConfigStore>,
    dispatcher: OnceLock<Option<Dispatcher<EventSink>>>,
    target: ArcSwapOption<CachedTarget>,
    closed: AtomicBool,
    /// Serialises starting the dispatcher and closing.
    lifecycle: Mutex<()>,
}

impl EventManager {
    pub(crate) fn new(
        settings: EventSettings,
        transport: Arc<dyn HttpTransport>,
        store: Arc<ConfigStore>,
    ) -> Self {
        EventManager {
            settings: settings.checked(),
            transport,
            store,
            dispatcher: OnceLock::new(),
            target: ArcSwapOption::empty(),
            closed: AtomicBool::new(false),
            lifecycle: Mutex::new(()),
        }
    }

    /// The target of events built from `config`.
    pub(crate) fn target_for(&self, config: &Arc<ProjectConfig>) -> Arc<EventTarget> {
        if let Some(cached) = self.target.load().as_ref()
            && Arc::ptr_eq(&cached.config, config)
        {
            return Arc::clone(&cached.target);
        }
        let context = EventContext::from_config(config, SDK_VERSION);
        let url = match &self.settings.endpoint {
            Some(url) => url.clone(),
            None => event::endpoint(context.region).to_owned(),
        };
        let target = Arc::new(EventTarget {
            context: Arc::new(context),
            url,
        });
        self.target.store(Some(Arc::new(CachedTarget {
            config: Arc::clone(config),
            target: Arc::clone(&target),
        })));
        target
    }

    /// Queues one event (a visitor entry) for `target`. Never blocks and does no I/O; starts
    /// the worker thread at the first event.
    pub(crate) fn enqueue(
        &self,
        target: Arc<EventTarget>,
        visitor: Visitor,
    ) -> Result<(), EnqueueError> {
        match self.running_dispatcher() {
            Some(dispatcher) => dispatcher.try_enqueue(&target, visitor),
            None => Err(EnqueueError::Closed),
        }
    }

    fn running_dispatcher(&self) -> Option<&Dispatcher<EventSink>> {
        if let Some(started) = self.dispatcher.get() {
            return started.as_ref();
        }
        let _serialised = self.lifecycle();
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.dispatcher.get_or_init(|| self.start()).as_ref()
    }

    fn start(&self) -> Option<Dispatcher<EventSink>> {
        let sink = EventSink::new(
            Arc::clone(&self.transport),
            self.settings.request_timeout,
            Arc::clone(&self.store),
        );
        match Dispatcher::start(THREAD_NAME, self.settings.dispatch_settings(), sink) {
            Ok(dispatcher) => {
                log::debug!("Impression/conversion event delivery started");
                Some(dispatcher)
            }
            Err(err) => {
                log::error!("could not start impression/conversion event delivery ({err})");
                None
            }
        }
    }

    fn started(&self) -> Option<&Dispatcher<EventSink>> {
        self.dispatcher.get().and_then(Option::as_ref)
    }

    fn lifecycle(&self) -> MutexGuard<'_, ()> {
        self.lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts sending everything queued, without waiting.
    pub(crate) fn request_flush(&self) {
        if let Some(dispatcher) = self.started() {
            dispatcher.request_flush();
        }
    }

    /// Sends everything queued and waits at most `timeout`; `true` when every event queued
    /// before the call was delivered, rejected, or kept for a later flush after failing.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.started()
            .is_none_or(|dispatcher| dispatcher.flush(timeout))
    }

    /// Refuses new events, flushes, and waits at most `timeout` before stopping delivery.
    pub(crate) fn close(&self, timeout: Duration) -> QueueReport {
        let _serialised = self.lifecycle();
        self.closed.store(true, Ordering::Release);
        self.target.store(None);
        match self.started() {
            Some(dispatcher) => dispatcher.close(timeout),
            None => QueueReport::default(),
        }
    }

    /// Delivery counters (all zero before the first event).
    pub(crate) fn stats(&self) -> DeliveryStats {
        self.started()
            .map_or_else(DeliveryStats::default, Dispatcher::stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::UreqTransport;

    fn config(region: &str, revision: &str) -> Arc<ProjectConfig> {
        let json = format!(
            r#"{{"version":"4","accountId":"a","projectId":"p","revision":"{revision}","region":"{region}"}}"#
        );
        Arc::new(ProjectConfig::parse(&json).unwrap())
    }

    fn manager(endpoint: Option<&str>) -> EventManager {
        let settings = EventSettings {
            endpoint: endpoint.map(str::to_owned),
            ..EventSettings::default()
        };
        EventManager::new(
            settings,
            Arc::new(UreqTransport::default()),
            Arc::new(ConfigStore::new()),
        )
    }

    #[test]
    fn batches_go_to_the_logx_endpoint_of_the_datafile_region() {
        let manager = manager(None);
        let us = manager.target_for(&config("US", "1"));
        assert_eq!(us.url, "https://logx.optimizely.com/v1/events");
        let eu = manager.target_for(&config("EU", "1"));
        assert_eq!(eu.url, "https://eu.logx.optimizely.com/v1/events");
        let unknown = manager.target_for(&config("MARS", "1"));
        assert_eq!(unknown.url, "https://logx.optimizely.com/v1/events");
    }

    #[test]
    fn a_configured_endpoint_wins_over_the_region() {
        let manager = manager(Some("http://127.0.0.1:1234/v1/events"));
        let target = manager.target_for(&config("EU", "1"));
        assert_eq!(target.url, "http://127.0.0.1:1234/v1/events");
        assert_eq!(target.context.revision, "1");
        assert_eq!(target.context.client_name, "rust-sdk");
        assert_eq!(target.context.client_version, SDK_VERSION);
    }

    #[test]
    fn one_target_per_config() {
        let manager = manager(None);
        let first = config("US", "1");
        let a = manager.target_for(&first);
        let b = manager.target_for(&first);
        assert!(Arc::ptr_eq(&a, &b), "reused while the config is the same");
        let second = config("US", "2");
        let c = manager.target_for(&second);
        assert_ne!(*a, *c, "a new revision is a new target");
    }

    #[test]
    fn unusable_settings_fall_back_to_the_defaults() {
        let checked = EventSettings {
            batch_size: 0,
            queue_capacity: 0,
            request_timeout: Duration::ZERO,
            flush_interval: Duration::ZERO,
            endpoint: None,
        }
        .checked();
        let defaults = EventSettings::default();
        assert_eq!(checked.batch_size, defaults.batch_size);
        assert_eq!(checked.queue_capacity, defaults.queue_capacity);
        assert_eq!(checked.request_timeout, defaults.request_timeout);
        assert_eq!(checked.flush_interval, Duration::ZERO, "zero sends at once");
    }

    #[test]
    fn nothing_is_started_after_close() {
        let manager = manager(Some("http://127.0.0.1:9/v1/events"));
        assert_eq!(manager.close(Duration::ZERO), QueueReport::default());
        let target = manager.target_for(&config("US", "1"));
        let visitor = Visitor {
            snapshots: Vec::new(),
            visitor_id: "u".to_owned(),
            attributes: Vec::new(),
        };
        assert_eq!(manager.enqueue(target, visitor), Err(EnqueueError::Closed));
        assert!(manager.started().is_none());
    }
}
