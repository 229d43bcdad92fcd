//! Impression and conversion event payloads, and the batch JSON sent to logx.
//!
//! The SDK's batching worker collects [`UserEvent`]s, groups consecutive events with an equal
//! [`EventContext`] into an [`EventBatch`] (see [`batch_events`]) and posts
//! [`EventBatch::to_json`] to [`EventBatch::endpoint`]. Time and uuids are parameters: the core
//! has no clock and no random source.

mod tags;

pub use tags::{event_value, revenue_value};

use crate::config::{ProjectConfig, Region};
use crate::decide::{AttributeValue, Attributes, Decision, UserData};
use crate::diagnostics::{LogLevel, LogSink};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::sync::Arc;

/// The `client_name` this SDK sends.
pub const CLIENT_NAME: &str = "rust-sdk";
/// The logx endpoint for region `US` (and unknown regions).
pub const LOGX_US_ENDPOINT: &str = "https://logx.optimizely.com/v1/events";
/// The logx endpoint for region `EU`.
pub const LOGX_EU_ENDPOINT: &str = "https://eu.logx.optimizely.com/v1/events";
/// The snapshot event key of every impression.
pub const ACTIVATE_EVENT_KEY: &str = "campaign_activated";
/// Visitor attribute added when the datafile has `botFiltering`.
pub const BOT_FILTERING_ATTRIBUTE: &str = "$opt_bot_filtering";
const RESERVED_ATTRIBUTE_PREFIX: &str = "$opt_";
const MAX_SAFE_NUMBER: f64 = 9_007_199_254_740_992.0;

/// The logx endpoint of a region.
pub fn endpoint(region: Region) -> &'static str {
    match region {
        Region::Us => LOGX_US_ENDPOINT,
        Region::Eu => LOGX_EU_ENDPOINT,
    }
}

/// What events must share to travel in one batch: the batch's top-level fields and endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventContext {
    /// `account_id`.
    pub account_id: String,
    /// `project_id`.
    pub project_id: String,
    /// `revision`.
    pub revision: String,
    /// `client_name` (normally [`CLIENT_NAME`]).
    pub client_name: String,
    /// `client_version` (normally the SDK crate version).
    pub client_version: String,
    /// `anonymize_ip`.
    pub anonymize_ip: bool,
    /// The datafile's `botFiltering`, when present (then sent as `$opt_bot_filtering`).
    pub bot_filtering: Option<bool>,
    /// Which endpoint the batch goes to.
    pub region: Region,
}

impl EventContext {
    /// The context of events built from `config` by this SDK at `client_version`.
    pub fn from_config(config: &ProjectConfig, client_version: &str) -> Self {
        Self {
            account_id: config.account_id().to_owned(),
            project_id: config.project_id().to_owned(),
            revision: config.revision().to_owned(),
            client_name: CLIENT_NAME.to_owned(),
            client_version: client_version.to_owned(),
            anonymize_ip: config.anonymize_ip(),
            bot_filtering: config.bot_filtering(),
            region: config.region(),
        }
    }
}

/// One impression or conversion, ready to be batched.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEvent {
    /// The batch context it belongs to.
    pub context: Arc<EventContext>,
    /// The visitor entry it becomes in the batch.
    pub visitor: Visitor,
}

/// A `visitors[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visitor {
    /// `snapshots` (one per visitor).
    pub snapshots: Vec<Snapshot>,
    /// `visitor_id`: the user id.
    pub visitor_id: String,
    /// `attributes`: the user's attributes that may be sent.
    pub attributes: Vec<VisitorAttribute>,
}

/// A visitor attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitorAttribute {
    /// The datafile attribute id, or the `$opt_` key itself.
    pub entity_id: String,
    /// The attribute key.
    pub key: String,
    /// Always `custom`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A string, boolean or number.
    pub value: Value,
}

/// A snapshot: the decision of an impression, and its one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// The impression's decision; absent for conversions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<Vec<ImpressionDecision>>,
    /// The event.
    pub events: Vec<SnapshotEvent>,
}

/// The decision of an impression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImpressionDecision {
    /// The rule's layer id (or the rule/holdout id when it has none); null without a rule.
    pub campaign_id: Option<String>,
    /// The rule or holdout id; `""` without a rule.
    pub experiment_id: String,
    /// The variation id when it is a string of ASCII digits, else null.
    pub variation_id: Option<String>,
    /// What was decided.
    pub metadata: DecisionMetadata,
}

/// `metadata` of an impression decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionMetadata {
    /// The flag key.
    pub flag_key: String,
    /// The rule key, or `""`.
    pub rule_key: String,
    /// `feature-test`, `rollout` or `holdout`.
    pub rule_type: &'static str,
    /// The variation key, or `""`.
    pub variation_key: String,
    /// Whether the flag was enabled.
    pub enabled: bool,
}

/// The event of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotEvent {
    /// Impression: same as `campaign_id`; conversion: the event id.
    pub entity_id: Option<String>,
    /// Impression: `campaign_activated`; conversion: the event key.
    pub key: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// A fresh UUID v4.
    pub uuid: String,
    /// Conversion tags (null values removed), when tags were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Map<String, Value>>,
    /// Numeric `value` tag, when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Number>,
    /// Integer `revenue` tag, when it parses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Number>,
}

/// The impression event for a decision. Call it only when [`Decision::send_impression`] is set,
/// with the config the decision was made with.
///
/// `uuid` and `timestamp` (ms since the epoch) are the event's identity and time.
pub fn impression_event(
    config: &ProjectConfig,
    context: &Arc<EventContext>,
    user: &UserData,
    decision: &Decision,
    uuid: &str,
    timestamp: u64,
    log: &mut dyn LogSink,
) -> UserEvent {
    let campaign_id = decision.campaign_id(config).map(str::to_owned);
    let impression = ImpressionDecision {
        campaign_id: campaign_id.clone(),
        experiment_id: decision
            .experiment_id(config)
            .unwrap_or_default()
            .to_owned(),
        variation_id: decision
            .variation_id(config)
            .filter(|id| is_ascii_digits(id))
            .map(str::to_owned),
        metadata: DecisionMetadata {
            flag_key: decision.flag_key.clone(),
            rule_key: decision.rule_key.clone().unwrap_or_default(),
            rule_type: decision.source.as_str(),
            variation_key: decision.variation_key.clone().unwrap_or_default(),
            enabled: decision.enabled,
        },
    };
    let event = SnapshotEvent {
        entity_id: campaign_id,
        key: ACTIVATE_EVENT_KEY.to_owned(),
        timestamp,
        uuid: uuid.to_owned(),
        tags: None,
        value: None,
        revenue: None,
    };
    UserEvent {
        context: Arc::clone(context),
        visitor: Visitor {
            snapshots: vec![Snapshot {
                decisions: Some(vec![impression]),
                events: vec![event],
            }],
            visitor_id: user.user_id.clone(),
            attributes: visitor_attributes(config, context, &user.attributes, log),
        },
    }
}

/// The event key of a `track` call is not in the datafile; nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event key {event_key} is not in datafile.")]
pub struct UnknownEventKey {
    /// The key given.
    pub event_key: String,
}

/// A conversion (`track`) event for `event_key`.
///
/// Tags with null values are removed; `revenue` (integer) and `value` (number) are parsed
/// from the tags as the JavaScript SDK does and also kept in `tags`.
#[allow(clippy::too_many_arguments)]
pub fn conversion_event(
    config: &ProjectConfig,
    context: &Arc<EventContext>,
    user_id: &str,
    attributes: &Attributes,
    event_key: &str,
    tags: Option<Map<String, Value>>,
    uuid: &str,
    timestamp: u64,
    log: &mut dyn LogSink,
) -> Result<UserEvent, UnknownEventKey> {
    let Some(event) = config.event_by_key(event_key) else {
        log_line(
            log,
            LogLevel::Warn,
            format_args!("Event key {event_key} is not in datafile."),
        );
        log_line(
            log,
            LogLevel::Warn,
            format_args!("Not tracking user {user_id}."),
        );
        return Err(UnknownEventKey {
            event_key: event_key.to_owned(),
        });
    };
    let tags = tags.map(|mut tags| {
        tags.retain(|_, value| !value.is_null());
        tags
    });
    let revenue = tags.as_ref().and_then(|tags| revenue_value(tags, log));
    let value = tags.as_ref().and_then(|tags| event_value(tags, log));
    let snapshot_event = SnapshotEvent {
        entity_id: Some(event.id().to_owned()),
        key: event.key().to_owned(),
        timestamp,
        uuid: uuid.to_owned(),
        tags,
        value,
        revenue,
    };
    log_line(
        log,
        LogLevel::Info,
        format_args!("Tracking event {event_key} for user {user_id}."),
    );
    Ok(UserEvent {
        context: Arc::clone(context),
        visitor: Visitor {
            snapshots: vec![Snapshot {
                decisions: None,
                events: vec![snapshot_event],
            }],
            visitor_id: user_id.to_owned(),
            attributes: visitor_attributes(config, context, attributes, log),
        },
    })
}

fn log_line(log: &mut dyn LogSink, level: LogLevel, message: std::fmt::Arguments<'_>) {
    if log.enabled(level) {
        log.log(level, message);
    }
}

/// The visitor attributes of a user: sendable values (strings, booleans, numbers within
/// ±2^53) of datafile attributes (by id) or `$opt_` keys, in the user's order, then
/// `$opt_bot_filtering` when the datafile has `botFiltering`.
pub fn visitor_attributes(
    config: &ProjectConfig,
    context: &EventContext,
    attributes: &Attributes,
    log: &mut dyn LogSink,
) -> Vec<VisitorAttribute> {
    let mut out: Vec<VisitorAttribute> = attributes
        .iter()
        .filter_map(|(key, value)| {
            let value = sendable_value(value)?;
            let entity_id = attribute_entity_id(config, key, log)?;
            Some(VisitorAttribute {
                entity_id,
                key: key.to_owned(),
                kind: "custom",
                value,
            })
        })
        .collect();
    if let Some(bot_filtering) = context.bot_filtering {
        out.push(VisitorAttribute {
            entity_id: BOT_FILTERING_ATTRIBUTE.to_owned(),
            key: BOT_FILTERING_ATTRIBUTE.to_owned(),
            kind: "custom",
            value: Value::Bool(bot_filtering),
        });
    }
    out
}

fn sendable_value(value: &AttributeValue) -> Option<Value> {
    match value {
        AttributeValue::String(s) => Some(Value::String(s.clone())),
        AttributeValue::Bool(b) => Some(Value::Bool(*b)),
        AttributeValue::Int(i) => (i.unsigned_abs() <= 1 << 53).then(|| Value::from(*i)),
        AttributeValue::Float(x) if x.is_finite() && x.abs() <= MAX_SAFE_NUMBER => {
            Number::from_f64(*x).map(Value::Number)
        }
        AttributeValue::Float(_) | AttributeValue::Null => None,
    }
}

fn attribute_entity_id(config: &ProjectConfig, key: &str, log: &mut dyn LogSink) -> Option<String> {
    let reserved = key.starts_with(RESERVED_ATTRIBUTE_PREFIX);
    match config.attribute_by_key(key) {
        Some(attribute) => {
            if reserved {
                log_line(
                    log,
                    LogLevel::Warn,
                    format_args!(
                        "Attribute {key} unexpectedly has reserved prefix {RESERVED_ATTRIBUTE_PREFIX}; using attribute ID instead of reserved attribute name."
                    ),
                );
            }
            Some(attribute.id().to_owned())
        }
        None if reserved => Some(key.to_owned()),
        None => {
            log_line(
                log,
                LogLevel::Warn,
                format_args!(
                    "Unrecognized attribute {key} provided. Pruning before sending event to Optimizely."
                ),
            );
            None
        }
    }
}

fn is_ascii_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Visitors sharing one [`EventContext`]: one request body.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBatch {
    /// The shared context.
    pub context: Arc<EventContext>,
    /// The visitors, in the order their events were produced.
    pub visitors: Vec<Visitor>,
}

#[derive(Serialize)]
struct WireBatch<'a> {
    account_id: &'a str,
    project_id: &'a str,
    revision: &'a str,
    client_name: &'a str,
    client_version: &'a str,
    anonymize_ip: bool,
    enrich_decisions: bool,
    visitors: &'a [Visitor],
}

impl EventBatch {
    /// An empty batch for `context`.
    pub fn new(context: Arc<EventContext>) -> Self {
        Self {
            context,
            visitors: Vec::new(),
        }
    }

    /// Adds an event with the same context; gives it back when its context differs.
    pub fn push(&mut self, event: UserEvent) -> Result<(), UserEvent> {
        if !same_context(&self.context, &event.context) {
            return Err(event);
        }
        self.visitors.push(event.visitor);
        Ok(())
    }

    /// The URL to `POST` the batch to.
    pub fn endpoint(&self) -> &'static str {
        endpoint(self.context.region)
    }

    fn wire(&self) -> WireBatch<'_> {
        let context = &*self.context;
        WireBatch {
            account_id: &context.account_id,
            project_id: &context.project_id,
            revision: &context.revision,
            client_name: &context.client_name,
            client_version: &context.client_version,
            anonymize_ip: context.anonymize_ip,
            enrich_decisions: true,
            visitors: &self.visitors,
        }
    }

    /// The request body.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.wire()).unwrap_or_default()
    }

    /// The request body as a JSON value (e.g. for a log-event notification).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.wire()).unwrap_or(Value::Null)
    }
}

fn same_context(a: &Arc<EventContext>, b: &Arc<EventContext>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// Groups events into batches: consecutive events with an equal context share a batch; a
/// change of context starts a new one (as the official SDKs flush before a differing event).
pub fn batch_events(events: impl IntoIterator<Item = UserEvent>) -> Vec<EventBatch> {
    let mut batches: Vec<EventBatch> = Vec::new();
    for event in events {
        let event = match batches.last_mut() {
            Some(batch) => match batch.push(event) {
                Ok(()) => continue,
                Err(event) => event,
            },
            None => event,
        };
        let mut batch = EventBatch::new(Arc::clone(&event.context));
        batch.visitors.push(event.visitor);
        batches.push(batch);
    }
    batches
}
