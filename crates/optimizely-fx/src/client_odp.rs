//! ODP events on the [`Client`]: `send_odp_event`, delivery settings, flush and statistics.

use std::sync::Arc;
use std::time::Duration;

use optimizely_fx_core::odp::OdpEvent;

use crate::client::{Client, ClientBuilder};
use crate::config_source::ConfigStore;
use crate::dispatch::{DeliveryStats, EnqueueError};
use crate::error::SendOdpEventError;
use crate::http::HttpTransport;
use crate::odp::{OdpEventManager, OdpEventSettings};

/// Default number of ODP events per request.
pub const DEFAULT_ODP_BATCH_SIZE: usize = 10;
/// Default longest wait before a partial batch of ODP events is sent.
pub const DEFAULT_ODP_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default capacity of the ODP event queue.
pub const DEFAULT_ODP_QUEUE_CAPACITY: usize = 10_000;
/// Default timeout of one request to the ODP Events API.
pub const DEFAULT_ODP_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default most ODP events in one request while a backlog is being sent: 100, the batch limit
/// of the ODP Events API.
pub const DEFAULT_ODP_MAX_PER_REQUEST: usize = 100;
/// Default most ODP requests in progress at once.
pub const DEFAULT_ODP_MAX_IN_FLIGHT: usize = 8;

/// The SDK version sent as `data_source_version`.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

impl ClientBuilder {
    /// ODP events per request; a full batch is sent at once. Zero is refused: the default is
    /// used with a warning. Default: 10 ([`DEFAULT_ODP_BATCH_SIZE`]).
    pub fn odp_event_batch_size(mut self, size: usize) -> Self {
        self.odp_events.batch_size = size;
        self
    }

    /// Longest time an ODP event waits for its batch to fill before it is sent.
    /// [`Duration::ZERO`] sends each event at once. Default: 1 second
    /// ([`DEFAULT_ODP_FLUSH_INTERVAL`]).
    pub fn odp_event_flush_interval(mut self, interval: Duration) -> Self {
        self.odp_events.flush_interval = interval;
        self
    }

    /// Most ODP events held at once (waiting, in flight or kept after failures); when full,
    /// [`Client::send_odp_event`] refuses events with [`SendOdpEventError::QueueFull`]. Zero is
    /// refused: the default is used with a warning. Default: 10,000
    /// ([`DEFAULT_ODP_QUEUE_CAPACITY`]).
    pub fn odp_event_queue_capacity(mut self, capacity: usize) -> Self {
        self.odp_events.queue_capacity = capacity;
        self
    }

    /// Overall deadline of one request to the ODP Events API. Zero is refused: the default is
    /// used with a warning. Default: 10 seconds ([`DEFAULT_ODP_REQUEST_TIMEOUT`]).
    pub fn odp_event_request_timeout(mut self, timeout: Duration) -> Self {
        self.odp_events.request_timeout = timeout;
        self
    }

    /// Most ODP events one request may carry while a backlog is being sent (for example after
    /// an outage). Values below the batch size are raised to it. Default: 100
    /// ([`DEFAULT_ODP_MAX_PER_REQUEST`]), the ODP Events API's batch limit; raise it only for
    /// an endpoint known to take more.
    pub fn odp_event_max_per_request(mut self, max: usize) -> Self {
        self.odp_events.max_per_request = max;
        self
    }

    /// Most requests to the ODP Events API in progress at once, so a slow response does not
    /// stall delivery. Zero is refused: the default is used with a warning. Default: 8
    /// ([`DEFAULT_ODP_MAX_IN_FLIGHT`]).
    pub fn odp_event_max_in_flight(mut self, max: usize) -> Self {
        self.odp_events.max_in_flight = max;
        self
    }

    /// The ODP event manager of the client being built, following the configs of `store`;
    /// `None` when ODP is disabled.
    pub(crate) fn odp_event_manager(
        &self,
        store: &ConfigStore,
        transport: Arc<dyn HttpTransport>,
    ) -> Option<Arc<OdpEventManager>> {
        if self.odp_disabled {
            log::debug!("ODP is disabled");
            return None;
        }
        let manager = Arc::new(OdpEventManager::new(
            checked_odp_settings(&self.odp_events),
            transport,
        ));
        let follower = Arc::clone(&manager);
        store.on_config_change(move |previous, config| {
            let odp = config.odp();
            // A first config without ODP leaves the new manager as it is: not integrated.
            if previous.is_some() || odp.is_some() {
                follower.update_config(odp.map(|o| (o.host.as_str(), o.public_key.as_str())));
            }
        });
        Some(manager)
    }
}

/// The settings with every unusable value replaced by its default (and a warning).
/// A fresh UUID v4 for an event's `idempotence_id`. It has to be unique, not unpredictable,
/// so it comes from the thread's fast generator (seeded per thread) rather than a
/// cryptographic one, which would cost more than the rest of `send_odp_event`.
fn idempotence_id() -> u128 {
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_be_bytes())
        .into_uuid()
        .as_u128()
}

fn checked_odp_settings(requested: &OdpEventSettings) -> OdpEventSettings {
    let defaults = OdpEventSettings::default();
    let mut settings = requested.clone();
    if settings.batch_size == 0 {
        log::warn!("Invalid ODP event batch size 0, defaulting to {DEFAULT_ODP_BATCH_SIZE}");
        settings.batch_size = defaults.batch_size;
    }
    if settings.queue_capacity == 0 {
        log::warn!(
            "Invalid ODP event queue capacity 0, defaulting to {DEFAULT_ODP_QUEUE_CAPACITY}"
        );
        settings.queue_capacity = defaults.queue_capacity;
    }
    if settings.request_timeout.is_zero() {
        log::warn!("Invalid ODP event request timeout 0, defaulting to 10 s");
        settings.request_timeout = defaults.request_timeout;
    }
    if settings.max_in_flight == 0 {
        log::warn!(
            "Invalid ODP max requests in flight 0, defaulting to {DEFAULT_ODP_MAX_IN_FLIGHT}"
        );
        settings.max_in_flight = defaults.max_in_flight;
    }
    settings.max_per_request = settings.max_per_request.max(settings.batch_size);
    settings
}

impl Client {
    /// Sends an event to ODP (Optimizely Data Platform): it is checked now, queued, and
    /// delivered in the background in batches to the ODP host of the current datafile.
    ///
    /// The documented JavaScript call
    /// `sendOdpEvent("purchased", "fullstack", identifiers, data)` is, in Rust:
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"));
    /// use optimizely_fx::{Client, OdpEvent};
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// client.send_odp_event(
    ///     OdpEvent::new("purchased")
    ///         .event_type("fullstack") // optional: "fullstack" is the default
    ///         .identifier("fs_user_id", "user123")
    ///         .identifier("email", "user123@example.com")
    ///         .data("count", 1),
    /// )?;
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// The event gets default data (`idempotence_id`, a fresh UUID v4; `data_source_type`
    /// `sdk`; `data_source` `rust-sdk`; `data_source_version`, this crate's version), which
    /// keys of its own data override. `fs_user_id` identifier keys in any spelling
    /// (`FS-USER-ID`, `fs-user-id`, ...) are sent as `fs_user_id`.
    ///
    /// Never blocks and does no I/O on the calling thread.
    ///
    /// # Errors
    ///
    /// Checked in this order: the client is closed ([`SendOdpEventError::Closed`]); it has no
    /// datafile yet ([`SdkNotReady`](SendOdpEventError::SdkNotReady)); ODP is disabled in the
    /// builder ([`OdpNotEnabled`](SendOdpEventError::OdpNotEnabled)); the datafile has no ODP
    /// integration ([`OdpNotIntegrated`](SendOdpEventError::OdpNotIntegrated)); the action is
    /// empty, there is no identifier, or a data value is not a string, a finite number of
    /// magnitude at most 2^53, a bool or null ([`Invalid`](SendOdpEventError::Invalid)); the
    /// queue is full ([`QueueFull`](SendOdpEventError::QueueFull)). Each refusal is logged once.
    pub fn send_odp_event(&self, event: OdpEvent) -> Result<(), SendOdpEventError> {
        let result = self.try_send_odp_event(event);
        if let Err(error) = &result {
            log_refusal(error);
        }
        result
    }

    #[inline]
    pub(crate) fn try_send_odp_event(&self, event: OdpEvent) -> Result<(), SendOdpEventError> {
        if self.store().is_closed() {
            return Err(SendOdpEventError::Closed);
        }
        let config = self.store().borrow_current();
        let config = config.get().ok_or(SendOdpEventError::SdkNotReady)?;
        let manager = self.odp_events().ok_or(SendOdpEventError::OdpNotEnabled)?;
        if config.odp().is_none() {
            return Err(SendOdpEventError::OdpNotIntegrated);
        }
        let wire = event.into_wire(idempotence_id(), SDK_VERSION)?;
        manager.enqueue(wire).map_err(|error| match error {
            EnqueueError::Full => SendOdpEventError::QueueFull,
            EnqueueError::Closed => SendOdpEventError::Closed,
            EnqueueError::NoTarget => SendOdpEventError::OdpNotIntegrated,
        })
    }

    /// Sends every queued ODP event and impression/conversion event now and waits at most
    /// `timeout` in all. Returns `true` when every event queued before the call was delivered
    /// or given up (rejected by the server, or kept for a later attempt after failing every
    /// attempt of this flush).
    pub fn flush(&self, timeout: Duration) -> bool {
        let started = std::time::Instant::now();
        // Both queues flush at once; the waits share the one timeout.
        self.events().request_flush();
        let odp = self
            .odp_events()
            .is_none_or(|manager| manager.flush(timeout));
        self.events()
            .flush(timeout.saturating_sub(started.elapsed()))
            && odp
    }

    /// Counters of ODP event delivery: queued, sent, retried, failed, dropped. Cheap (a few
    /// atomic loads); all zero while ODP is disabled or was never integrated.
    pub fn odp_stats(&self) -> DeliveryStats {
        self.odp_events()
            .map_or_else(DeliveryStats::default, |manager| manager.stats())
    }
}

fn log_refusal(error: &SendOdpEventError) {
    match error {
        // ODP stays quiet in projects that do not use it.
        SendOdpEventError::OdpNotEnabled | SendOdpEventError::OdpNotIntegrated => {
            log::debug!("ODP event not sent: {error}");
        }
        // The dispatcher logs the first drop of each run of drops.
        SendOdpEventError::QueueFull => {}
        SendOdpEventError::Closed => log::warn!("ODP event not sent: {error}"),
        _ => log::error!("ODP event send failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotence_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<u128> = (0..10_000).map(|_| idempotence_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids {
            let uuid = uuid::Uuid::from_u128(id);
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        }
    }
}
