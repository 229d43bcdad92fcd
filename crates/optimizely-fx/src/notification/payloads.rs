//! Payloads of the decision, track and log-event notifications.

use optimizely_fx_core::decide::{Attributes, Variables};
use serde_json::{Map, Value};

/// Payload of a [`NotificationType::Decision`](crate::NotificationType::Decision)
/// notification: one flag decided for one user by `decide`, `decide_for_keys` or `decide_all`.
///
/// Error decisions (client not ready, unknown flag key) are not notified.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecisionNotification {
    /// The kind of decision; always `"flag"` for decide calls.
    pub decision_type: &'static str,
    /// The user's id.
    pub user_id: String,
    /// The user's attributes at the time of the decision.
    pub attributes: Attributes,
    /// What was decided.
    pub decision_info: FlagDecisionInfo,
}

/// What a [`DecisionNotification`] reports about the decided flag.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FlagDecisionInfo {
    /// The flag key.
    pub flag_key: String,
    /// Whether the flag is enabled for the user.
    pub enabled: bool,
    /// The variation key, if the user got a variation.
    pub variation_key: Option<String>,
    /// The key of the rule that decided, if any.
    pub rule_key: Option<String>,
    /// The flag's variables as returned by the decision (empty with `EXCLUDE_VARIABLES`).
    pub variables: Variables,
    /// Why (only with `INCLUDE_REASONS`).
    pub reasons: Vec<String>,
    /// Whether an impression event was queued for this decision.
    pub decision_event_dispatched: bool,
    /// The id of the rule (experiment, delivery rule or holdout) that decided, if any.
    pub experiment_id: Option<String>,
    /// The id of the decided variation, if any.
    pub variation_id: Option<String>,
}

/// Payload of a [`NotificationType::Track`](crate::NotificationType::Track) notification: a
/// conversion event was queued.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TrackNotification {
    /// The event key.
    pub event_key: String,
    /// The user's id.
    pub user_id: String,
    /// The user's attributes.
    pub attributes: Attributes,
    /// The event tags as given (null values removed), if any.
    pub event_tags: Option<Map<String, Value>>,
    /// The conversion alone as a request to the event endpoint (it is actually sent batched
    /// with other events).
    pub log_event: LogEvent,
}

/// Payload of a [`NotificationType::LogEvent`](crate::NotificationType::LogEvent)
/// notification: a batch of impression and conversion events about to be sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogEvent {
    /// Where the batch is sent.
    pub url: String,
    /// The HTTP method: always `"POST"`.
    pub http_verb: &'static str,
    /// The request body: the event batch JSON.
    pub params: Value,
}

impl LogEvent {
    pub(crate) fn post(url: impl Into<String>, params: Value) -> Self {
        LogEvent {
            url: url.into(),
            http_verb: "POST",
            params,
        }
    }
}
