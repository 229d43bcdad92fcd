//! The notification center: listeners that user code registers to hear about what the client
//! does. Each kind of notification has its own payload type and its own listener list.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use optimizely_fx_core::ProjectConfig;

/// The kinds of notification a listener can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationType {
    /// A datafile with a new revision became the current config
    /// (`OPTIMIZELY_CONFIG_UPDATE` in the other Optimizely SDKs).
    ConfigUpdate,
}

impl NotificationType {
    /// The name the other Optimizely SDKs use for this notification type.
    pub fn name(self) -> &'static str {
        match self {
            NotificationType::ConfigUpdate => "OPTIMIZELY_CONFIG_UPDATE",
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
}

impl Registry {
    fn next_id(&mut self) -> ListenerId {
        self.last_id += 1;
        ListenerId(self.last_id)
    }
}

/// Holds the listeners of one client and calls them.
///
/// Listeners run on the thread that caused the notification (the datafile poller thread for
/// config updates), outside any internal lock, so a listener may add or remove listeners. A
/// panicking listener is caught and logged, and the other listeners still run.
pub(crate) struct NotificationCenter {
    registry: Mutex<Registry>,
}

impl NotificationCenter {
    pub(crate) fn new() -> Self {
        NotificationCenter {
            registry: Mutex::new(Registry {
                last_id: 0,
                config_update: ListenerList::new(),
            }),
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

    pub(crate) fn remove_listener(&self, id: ListenerId) -> bool {
        self.registry().config_update.remove(id)
    }

    pub(crate) fn clear_listeners(&self, kind: NotificationType) {
        let mut registry = self.registry();
        match kind {
            NotificationType::ConfigUpdate => registry.config_update.entries.clear(),
        }
    }

    pub(crate) fn clear_all_listeners(&self) {
        self.clear_listeners(NotificationType::ConfigUpdate);
    }

    pub(crate) fn listener_count(&self, kind: NotificationType) -> usize {
        let registry = self.registry();
        match kind {
            NotificationType::ConfigUpdate => registry.config_update.entries.len(),
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
        f.debug_struct("NotificationCenter")
            .field(
                "config_update_listeners",
                &self.listener_count(NotificationType::ConfigUpdate),
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
