//! Impression and conversion events on the [`Client`]: `track_event`, delivery settings,
//! statistics, and the track and log-event notifications.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use optimizely_fx_core::decide::{AttributeValue, Attributes};
use optimizely_fx_core::event::{EventBatch, UnknownEventKey, UserEvent, conversion_event};
use serde_json::{Map, Value};

use crate::client::{Client, ClientBuilder};
use crate::dispatch::{DeliveryStats, EnqueueError};
use crate::events::{EventManager, EventTarget};
use crate::log_forward::LogForward;
use crate::notification::{ListenerId, LogEvent, NotificationType, TrackNotification};

/// Default number of impression/conversion events per request.
pub const DEFAULT_EVENT_BATCH_SIZE: usize = 10;
/// Default longest wait before a partial batch of impression/conversion events is sent.
pub const DEFAULT_EVENT_FLUSH_INTERVAL: Duration = Duration::from_secs(30);
/// Default capacity of the impression/conversion event queue.
pub const DEFAULT_EVENT_QUEUE_CAPACITY: usize = 10_000;
/// Default timeout of one request to the event endpoint.
pub const DEFAULT_EVENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The tags of a conversion event: absent, or a map of JSON values. `revenue` (an integer, in
/// cents) and `value` (a number) are also sent as the event's revenue and value.
///
/// Converts from `()` (no tags), arrays and vectors of `(key, value)` pairs, hash and B-tree
/// maps, and JSON objects:
///
/// ```
/// use optimizely_fx::EventTags;
/// use serde_json::json;
///
/// let none = EventTags::from(());
/// let pairs = EventTags::from([("revenue", json!(4200)), ("category", json!("shoes"))]);
/// let object = EventTags::try_from(json!({"value": 3.5}))?;
/// assert!(none.as_map().is_none());
/// assert_eq!(pairs.as_map().unwrap()["revenue"], 4200);
/// assert_eq!(object.as_map().unwrap()["value"], 3.5);
/// assert!(EventTags::try_from(json!([1, 2])).is_err());
/// # Ok::<(), optimizely_fx::InvalidEventTags>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventTags(Option<Map<String, Value>>);

impl EventTags {
    /// No tags.
    pub fn none() -> Self {
        EventTags(None)
    }

    /// The tags, if any.
    pub fn as_map(&self) -> Option<&Map<String, Value>> {
        self.0.as_ref()
    }

    fn into_map(self) -> Option<Map<String, Value>> {
        self.0
    }
}

impl From<()> for EventTags {
    fn from((): ()) -> Self {
        EventTags(None)
    }
}

impl From<Map<String, Value>> for EventTags {
    fn from(tags: Map<String, Value>) -> Self {
        EventTags(Some(tags))
    }
}

impl From<Option<Map<String, Value>>> for EventTags {
    fn from(tags: Option<Map<String, Value>>) -> Self {
        EventTags(tags)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for EventTags {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        EventTags(Some(
            pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        ))
    }
}

impl<K: Into<String>, V: Into<Value>, const N: usize> From<[(K, V); N]> for EventTags {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Into<String>, V: Into<Value>> From<Vec<(K, V)>> for EventTags {
    fn from(pairs: Vec<(K, V)>) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: Into<String>, V: Into<Value>, S> From<HashMap<K, V, S>> for EventTags {
    fn from(map: HashMap<K, V, S>) -> Self {
        map.into_iter().collect()
    }
}

impl<K: Into<String>, V: Into<Value>> From<BTreeMap<K, V>> for EventTags {
    fn from(map: BTreeMap<K, V>) -> Self {
        map.into_iter().collect()
    }
}

impl TryFrom<Value> for EventTags {
    type Error = InvalidEventTags;

    /// A JSON object gives its entries, `null` no tags; anything else is refused.
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        match value {
            Value::Object(map) => Ok(EventTags(Some(map))),
            Value::Null => Ok(EventTags(None)),
            _ => Err(InvalidEventTags),
        }
    }
}

/// A JSON value that is neither an object nor null cannot be event tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Provided event tags are in an invalid format.")]
pub struct InvalidEventTags;

/// Why [`Client::track_event`] (or [`UserContext::track_event`](crate::UserContext::track_event))
/// sent nothing. Every refusal is also logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// The client has no datafile yet.
    #[error("No project config available. Failing track.")]
    SdkNotReady,
    /// The event key is not in the datafile.
    #[error(transparent)]
    UnknownEventKey(#[from] UnknownEventKey),
    /// The event queue is full; the event was dropped and counted.
    #[error("Event not tracked: the event queue is full")]
    QueueFull,
    /// The client is closed.
    #[error("Event not tracked: the client is closed")]
    Closed,
}

impl ClientBuilder {
    /// Impression/conversion events per request; a full batch is sent at once. Zero is
    /// refused: the default is used with a warning. Default: 10
    /// ([`DEFAULT_EVENT_BATCH_SIZE`]).
    pub fn event_batch_size(mut self, size: usize) -> Self {
        self.events.batch_size = size;
        self
    }

    /// Longest time an impression/conversion event waits for its batch to fill before it is
    /// sent. [`Duration::ZERO`] sends each event at once. Default: 30 seconds
    /// ([`DEFAULT_EVENT_FLUSH_INTERVAL`]).
    pub fn event_flush_interval(mut self, interval: Duration) -> Self {
        self.events.flush_interval = interval;
        self
    }

    /// Most impression/conversion events held at once (waiting, in flight, or kept after
    /// failures); when full, new events are dropped (counted, and logged at WARN once per run
    /// of drops). Zero is refused: the default is used with a warning. Default: 10,000
    /// ([`DEFAULT_EVENT_QUEUE_CAPACITY`]).
    pub fn event_queue_capacity(mut self, capacity: usize) -> Self {
        self.events.queue_capacity = capacity;
        self
    }

    /// Overall deadline of one request to the event endpoint. Zero is refused: the default is
    /// used with a warning. Default: 10 seconds ([`DEFAULT_EVENT_REQUEST_TIMEOUT`]).
    pub fn event_request_timeout(mut self, timeout: Duration) -> Self {
        self.events.request_timeout = timeout;
        self
    }

    /// Sends impression/conversion batches to `url` instead of the datafile region's endpoint
    /// (`https://logx.optimizely.com/v1/events`, or `https://eu.logx.optimizely.com/v1/events`
    /// for region `EU`), e.g. to a proxy or a local dev server. Default: by region.
    pub fn event_endpoint(mut self, url: impl Into<String>) -> Self {
        self.events.endpoint = Some(url.into());
        self
    }

    /// The event manager of the client being built.
    pub(crate) fn event_manager(
        &self,
        store: &Arc<crate::config_source::ConfigStore>,
        transport: Arc<dyn crate::http::HttpTransport>,
    ) -> EventManager {
        EventManager::new(self.events.clone(), transport, Arc::clone(store))
    }
}

impl Client {
    /// Tracks a conversion: queues an event with key `event_key` (one of the datafile's
    /// events) for `user_id` with `attributes` and `tags`, delivered in the background in
    /// batches. Never blocks and does no I/O on the calling thread.
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/go-decide-test-datafile.json"));
    /// use optimizely_fx::Client;
    /// use serde_json::json;
    ///
    /// let client = Client::builder().datafile(datafile).event_endpoint("http://127.0.0.1:9/v1/events").build()?;
    /// client.track_event("event1", "user-1", [("gender", "f")], [("revenue", json!(4200))])?;
    /// let unknown = client.track_event("no_such_event", "user-1", [("gender", "f")], ());
    /// assert!(unknown.is_err());
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TrackError::Closed`] after [`close`](Self::close), [`SdkNotReady`](TrackError::SdkNotReady)
    /// before the client has a datafile, [`UnknownEventKey`](TrackError::UnknownEventKey) when
    /// the datafile has no such event, [`QueueFull`](TrackError::QueueFull) when the event
    /// queue is full. Each is also logged.
    pub fn track_event<K, V>(
        &self,
        event_key: &str,
        user_id: &str,
        attributes: impl IntoIterator<Item = (K, V)>,
        tags: impl Into<EventTags>,
    ) -> Result<(), TrackError>
    where
        K: Into<String>,
        V: Into<AttributeValue>,
    {
        let attributes: Attributes = attributes.into_iter().collect();
        self.track_for(user_id, &attributes, event_key, tags.into())
    }

    pub(crate) fn track_for(
        &self,
        user_id: &str,
        attributes: &Attributes,
        event_key: &str,
        tags: EventTags,
    ) -> Result<(), TrackError> {
        let result = self.try_track(user_id, attributes, event_key, tags);
        if let Err(error) = &result {
            log_track_refusal(error);
        }
        result
    }

    fn try_track(
        &self,
        user_id: &str,
        attributes: &Attributes,
        event_key: &str,
        tags: EventTags,
    ) -> Result<(), TrackError> {
        if self.store().is_closed() {
            return Err(TrackError::Closed);
        }
        let config = self.config().ok_or(TrackError::SdkNotReady)?;
        let events = self.events();
        let target = events.target_for(&config);
        let event = conversion_event(
            &config,
            &target.context,
            user_id,
            attributes,
            event_key,
            tags.into_map(),
            &event_uuid(),
            event_timestamp(),
            &mut LogForward,
        )?;
        let notification = self.track_notification(event_key, user_id, attributes, &target, &event);
        events
            .enqueue(target, event.visitor)
            .map_err(|error| match error {
                EnqueueError::Full => TrackError::QueueFull,
                EnqueueError::Closed | EnqueueError::NoTarget => TrackError::Closed,
            })?;
        if let Some(notification) = notification {
            self.store().notifications().notify_track(&notification);
        }
        Ok(())
    }

    /// The track notification, if anyone listens.
    fn track_notification(
        &self,
        event_key: &str,
        user_id: &str,
        attributes: &Attributes,
        target: &EventTarget,
        event: &UserEvent,
    ) -> Option<TrackNotification> {
        if !self
            .store()
            .notifications()
            .has_listeners(NotificationType::Track)
        {
            return None;
        }
        let event_tags = event
            .visitor
            .snapshots
            .first()
            .and_then(|snapshot| snapshot.events.first())
            .and_then(|snapshot_event| snapshot_event.tags.clone());
        let mut alone = EventBatch::new(Arc::clone(&target.context));
        alone.visitors.push(event.visitor.clone());
        Some(TrackNotification {
            event_key: event_key.to_owned(),
            user_id: user_id.to_owned(),
            attributes: attributes.clone(),
            event_tags,
            log_event: LogEvent::post(&target.url, alone.to_value()),
        })
    }

    /// Calls `listener` for each conversion queued by `track_event`, on the tracking thread.
    /// A panicking listener is logged and does not affect the others.
    pub fn add_track_listener(
        &self,
        listener: impl Fn(&TrackNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.store().notifications().add_track_listener(listener)
    }

    /// Calls `listener` with each batch of impression/conversion events just before it is
    /// sent (on an event sender thread; a batch sent again after a failure is announced
    /// again). A panicking listener is logged and does not affect the others or the sending.
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
    /// use optimizely_fx::Client;
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// client.add_log_event_listener(|log_event| {
    ///     let visitors = log_event.params["visitors"].as_array().map_or(0, Vec::len);
    ///     println!("{} {}: {visitors} events", log_event.http_verb, log_event.url);
    /// });
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_log_event_listener(
        &self,
        listener: impl Fn(&LogEvent) + Send + Sync + 'static,
    ) -> ListenerId {
        self.store()
            .notifications()
            .add_log_event_listener(listener)
    }

    /// Counters of impression/conversion event delivery: queued, sent, retried, failed,
    /// dropped. Cheap (a few atomic loads); all zero before the first event.
    pub fn event_stats(&self) -> DeliveryStats {
        self.events().stats()
    }
}

fn log_track_refusal(error: &TrackError) {
    match error {
        TrackError::SdkNotReady => log::error!("{error}"),
        // The core logged the unknown key; the dispatcher logs the first drop of a run.
        TrackError::UnknownEventKey(_) | TrackError::QueueFull => {}
        _ => log::warn!("{error}"),
    }
}

/// A fresh event uuid (v4).
pub(crate) fn event_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn event_timestamp() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
