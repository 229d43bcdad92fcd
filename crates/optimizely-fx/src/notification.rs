//! The notification center: listeners that user code registers to hear about what the client
//! does. Each kind of notification has its own payload type and its own listener list.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use optimizely_fx_core::ProjectConfig;

mod payloads;

pub use payloads::{DecisionNotification, FlagDecisionInfo, LogEvent, TrackNotification};

/// The kinds of notification a listener can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationType {
    /// A datafile with a new revision became the current config
    /// (`OPTIMIZELY_CONFIG_UPDATE` in the other Optimizely SDKs).
    ConfigUpdate,
    /// A flag was decided for a user (`DECISION`, type `flag`).
    Decision,
    /// A conversion event was queued by `track_event` (`TRACK`).
    Track,
    /// A batch of impression and conversion events is about to be sent (`LOG_EVENT`).
    LogEvent,
}

impl NotificationType {
    /// The name the other Optimizely SDKs use for this notification type.
    pub fn name(self) -> &'static str {
        match self {
            NotificationType::ConfigUpdate => "OPTIMIZELY_CONFIG_UPDATE",
            NotificationType::Decision => "DECISION",
            NotificationType::Track => "TRACK",
            NotificationType::LogEvent => "LOG_EVENT",
        }
    }
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies a registered listener, for [`Client::remove_listener`](crate::Client::remove_listener).
///
/// Ids are unique within one client and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(u64);

impl ListenerId {
    /// The numeric value of the id (the first listener of a client gets 1).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Payload of a [`NotificationType::ConfigUpdate`] notification.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConfigUpdate {
    /// The config now in use.
    pub config: Arc<ProjectConfig>,
    /// Revision of the config it replaced, if there was one.
    pub previous_revision: Option<String>,
}

type ConfigUpdateListener = Arc<dyn Fn(&ConfigUpdate) + Send + Sync>;
type DecisionListener = Arc<dyn Fn(&DecisionNotification) + Send + Sync>;
type TrackListener = Arc<dyn Fn(&TrackNotification) + Send + Sync>;
type LogEventListener = Arc<dyn Fn(&LogEvent) + Send + Sync>;

/// Listeners of one notification type, in registration order.
struct ListenerList<L> {
    entries: Vec<(ListenerId, L)>,
}

impl<L: Clone> ListenerList<L> {
    fn new() -> Self {
        ListenerList {
            entries: Vec::new(),
        }
    }

    fn remove(&mut self, id: ListenerId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(entry_id, _)| *entry_id != id);
        self.entries.len() != before
    }

    fn snapshot(&self) -> Vec<L> {
        self.entries.iter().map(|(_, l)| l.clone()).collect()
    }
}

struct Registry {
    last_id: u64,
    config_update: ListenerList<ConfigUpdateListener>,
    decision: ListenerList<DecisionListener>,
    track: ListenerList<TrackListener>,
    log_event: ListenerList<LogEventListener>,
}

impl Registry {
    fn next_id(&mut self) -> ListenerId {
        self.last_id += 1;
        ListenerId(self.last_id)
    }

    fn count(&self, kind: NotificationType) -> usize {
        match kind {
            NotificationType::ConfigUpdate => self.config_update.entries.len(),
            NotificationType::Decision => self.decision.entries.len(),
            NotificationType::Track => self.track.entries.len(),
            NotificationType::LogEvent => self.log_event.entries.len(),
        }
    }
}

/// Listener counts readable without the registry lock, so that decide and the event sender
/// pay nothing (no lock, no payload) while nobody listens. Updated under the lock.
#[derive(Default)]
struct Presence {
    decision: AtomicUsize,
    track: AtomicUsize,
    log_event: AtomicUsize,
}

impl Presence {
    fn slot(&self, kind: NotificationType) -> Option<&AtomicUsize> {
        match kind {
            NotificationType::ConfigUpdate => None,
            NotificationType::Decision => Some(&self.decision),
            NotificationType::Track => Some(&self.track),
            NotificationType::LogEvent => Some(&self.log_event),
        }
    }

    fn refresh(&self, registry: &Registry) {
        for kind in ALL_TYPES {
            if let Some(slot) = self.slot(kind) {
                slot.store(registry.count(kind), Ordering::Release);
            }
        }
    }

    fn any(&self, kind: NotificationType) -> bool {
        self.slot(kind)
            .is_some_and(|slot| slot.load(Ordering::Acquire) > 0)
    }
}

const ALL_TYPES: [NotificationType; 4] = [
    NotificationType::ConfigUpdate,
    NotificationType::Decision,
    NotificationType::Track,
    NotificationType::LogEvent,
];

/// Holds the listeners of one client and calls them.
///
/// Listeners run on the thread that caused the notification (the datafile poller thread for
/// config updates, the deciding thread for decisions and conversions, an event sender thread
/// for log events), outside any internal lock, so a listener may add or remove listeners. A
/// panicking listener is caught and logged, and the other listeners still run.
pub(crate) struct NotificationCenter {
    registry: Mutex<Registry>,
    presence: Presence,
}

impl NotificationCenter {
    pub(crate) fn new() -> Self {
        NotificationCenter {
            registry: Mutex::new(Registry {
                last_id: 0,
                config_update: ListenerList::new(),
                decision: ListenerList::new(),
                track: ListenerList::new(),
                log_event: ListenerList::new(),
            }),
            presence: Presence::default(),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Listeners never run under this lock, so a poisoned lock still holds consistent data.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add_config_update_listener(
        &self,
        listener: impl Fn(&ConfigUpdate) + Send + Sync + 'static,
    ) -> ListenerId {
        let mut registry = self.registry();
        let id = registry.next_id();
        registry
            .config_update
            .entries
            .push((id, Arc::new(listener)));
        id
    }

    pub(crate) fn add_decision_listener(
        &self,
        listener: impl Fn(&DecisionNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add(|registry, id| registry.decision.entries.push((id, Arc::new(listener))))
    }

    pub(crate) fn add_track_listener(
        &self,
        listener: impl Fn(&TrackNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add(|registry, id| registry.track.entries.push((id, Arc::new(listener))))
    }

    pub(crate) fn add_log_event_listener(
        &self,
        listener: impl Fn(&LogEvent) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add(|registry, id| registry.log_event.entries.push((id, Arc::new(listener))))
    }

    fn add(&self, push: impl FnOnce(&mut Registry, ListenerId)) -> ListenerId {
        let mut registry = self.registry();
        let id = registry.next_id();
        push(&mut registry, id);
        self.presence.refresh(&registry);
        id
    }

    pub(crate) fn remove_listener(&self, id: ListenerId) -> bool {
        let mut registry = self.registry();
        let removed = registry.config_update.remove(id)
            || registry.decision.remove(id)
            || registry.track.remove(id)
            || registry.log_event.remove(id);
        self.presence.refresh(&registry);
        removed
    }

    pub(crate) fn clear_listeners(&self, kind: NotificationType) {
        let mut registry = self.registry();
        match kind {
            NotificationType::ConfigUpdate => registry.config_update.entries.clear(),
            NotificationType::Decision => registry.decision.entries.clear(),
            NotificationType::Track => registry.track.entries.clear(),
            NotificationType::LogEvent => registry.log_event.entries.clear(),
        }
        self.presence.refresh(&registry);
    }

    pub(crate) fn clear_all_listeners(&self) {
        for kind in ALL_TYPES {
            self.clear_listeners(kind);
        }
    }

    /// Whether any listener of `kind` is registered (lock-free; always `false` for config
    /// updates, which are rare enough to take the lock).
    pub(crate) fn has_listeners(&self, kind: NotificationType) -> bool {
        self.presence.any(kind)
    }

    pub(crate) fn notify_decision(&self, notification: &DecisionNotification) {
        let listeners = self.registry().decision.snapshot();
        for listener in listeners {
            call_listener(NotificationType::Decision, || listener(notification));
        }
    }

    pub(crate) fn notify_track(&self, notification: &TrackNotification) {
        let listeners = self.registry().track.snapshot();
        for listener in listeners {
            call_listener(NotificationType::Track, || listener(notification));
        }
    }

    pub(crate) fn notify_log_event(&self, notification: &LogEvent) {
        let listeners = self.registry().log_event.snapshot();
        for listener in listeners {
            call_listener(NotificationType::LogEvent, || listener(notification));
        }
    }

    pub(crate) fn notify_config_update(&self, update: &ConfigUpdate) {
        let listeners = self.registry().config_update.snapshot();
        for listener in listeners {
            call_listener(NotificationType::ConfigUpdate, || listener(update));
        }
    }
}

impl fmt::Debug for NotificationCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.registry();
        f.debug_struct("NotificationCenter")
            .field(
                "config_update_listeners",
                &registry.count(NotificationType::ConfigUpdate),
            )
            .field(
                "decision_listeners",
                &registry.count(NotificationType::Decision),
            )
            .field("track_listeners", &registry.count(NotificationType::Track))
            .field(
                "log_event_listeners",
                &registry.count(NotificationType::LogEvent),
            )
            .finish()
    }
}

fn call_listener(kind: NotificationType, call: impl FnOnce()) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(call)) {
        log::error!(
            "Notification listener for ({kind}) threw exception: {}",
            panic_message(panic.as_ref())
        );
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "non-string panic payload"
    }
}
