//! Sends batches of impression and conversion events: `POST <endpoint>` with
//! `Content-Type: application/json` and the event batch JSON as body.

use std::sync::Arc;
use std::time::Duration;

use optimizely_fx_core::event::{EventBatch, Visitor};

use super::EventTarget;
use crate::config_source::ConfigStore;
use crate::dispatch::{BatchSink, SendOutcome, send_outcome};
use crate::http::{HttpRequest, HttpTransport};
use crate::notification::{LogEvent, NotificationType};

/// The [`BatchSink`] of impression and conversion events.
pub(crate) struct EventSink {
    transport: Arc<dyn HttpTransport>,
    request_timeout: Duration,
    /// Where the log-event listeners are.
    store: Arc<ConfigStore>,
}

impl EventSink {
    pub(crate) fn new(
        transport: Arc<dyn HttpTransport>,
        request_timeout: Duration,
        store: Arc<ConfigStore>,
    ) -> Self {
        EventSink {
            transport,
            request_timeout,
            store,
        }
    }

    fn announce(&self, target: &EventTarget, batch: &EventBatch) {
        let notifications = self.store.notifications();
        if notifications.has_listeners(NotificationType::LogEvent) {
            notifications.notify_log_event(&LogEvent::post(&target.url, batch.to_value()));
        }
    }
}

impl BatchSink for EventSink {
    type Item = Visitor;
    type Target = EventTarget;

    fn kind(&self) -> &str {
        "Impression/conversion event"
    }

    /// Announces the batch to log-event listeners (once per request: a batch sent again after
    /// a failure is announced again), then posts it.
    fn send(&self, target: &EventTarget, visitors: &[Visitor]) -> SendOutcome {
        let batch = EventBatch {
            context: Arc::clone(&target.context),
            visitors: visitors.to_vec(),
        };
        self.announce(target, &batch);
        let request = HttpRequest::post(target.url.clone(), batch.to_json().into_bytes())
            .header("content-type", "application/json")
            .timeout(self.request_timeout);
        send_outcome(self.transport.send(&request))
    }
}
