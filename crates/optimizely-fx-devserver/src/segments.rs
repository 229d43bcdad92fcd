//! Segment definitions: static members and/or a rule over a user's received ODP events.
//!
//! The same shape is read from TOML (the segments file) and JSON (the control API); see the
//! crate documentation for the format.

use std::collections::HashSet;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A segment definition, rule, time window or segments document that is not valid. The
/// message says what is wrong (and, for TOML, where).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSegment(String);

impl InvalidSegment {
    fn new(message: impl Into<String>) -> Self {
        InvalidSegment(message.into())
    }
}

/// One segment the dev server answers for in `POST /v3/graphql`.
///
/// A user qualifies when one of its identifiers is listed in [`members`](Self::members), or
/// when its received ODP events satisfy the [`rule`](Self::rule). A segment with neither
/// qualifies nobody (useful as a placeholder the datafile refers to).
///
/// ```
/// use std::num::NonZeroU32;
/// use optimizely_fx_devserver::{EventRule, SegmentDefinition};
///
/// let rule = EventRule::new("purchased")?
///     .at_least(NonZeroU32::new(3).unwrap())
///     .within("30d".parse()?);
/// let segment = SegmentDefinition::new("frequent_buyers")?
///     .with_members(["vip-user"])?
///     .with_rule(rule);
/// assert_eq!(segment.rule().unwrap().action(), "purchased");
/// # Ok::<(), optimizely_fx_devserver::InvalidSegment>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawSegment", into = "RawSegment")]
pub struct SegmentDefinition {
    name: String,
    description: Option<String>,
    members: Vec<String>,
    rule: Option<EventRule>,
}

impl SegmentDefinition {
    /// A segment with no members and no rule.
    ///
    /// # Errors
    ///
    /// When `name` is empty or only whitespace.
    pub fn new(name: impl Into<String>) -> Result<Self, InvalidSegment> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(InvalidSegment::new("segment 'name' must not be empty"));
        }
        Ok(SegmentDefinition {
            name,
            description: None,
            members: Vec::new(),
            rule: None,
        })
    }

    /// Adds a human-readable description (shown by the inspector and GraphQL `description`).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds static members: identifier values (of any kind: `fs_user_id`, `vuid`, `email`, ...)
    /// that always qualify.
    ///
    /// # Errors
    ///
    /// When a member is an empty string.
    pub fn with_members<I, S>(mut self, members: I) -> Result<Self, InvalidSegment>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for member in members {
            let member = member.into();
            if member.is_empty() {
                return Err(InvalidSegment::new(format!(
                    "segment '{}': members must not be empty strings",
                    self.name
                )));
            }
            if !self.members.contains(&member) {
                self.members.push(member);
            }
        }
        Ok(self)
    }

    /// Sets the event rule.
    pub fn with_rule(mut self, rule: EventRule) -> Self {
        self.rule = Some(rule);
        self
    }

    /// The segment name, as requested in GraphQL `audiences(subset: [...])`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Identifier values that always qualify.
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The event rule, if any.
    pub fn rule(&self) -> Option<&EventRule> {
        self.rule.as_ref()
    }

    /// Reads a segments document (the `--segments-file` format, see the crate docs).
    ///
    /// # Errors
    ///
    /// When the text is not TOML, has unknown keys, a definition is not valid, or a name is
    /// defined twice. The message names the problem and its line.
    pub fn from_toml(text: &str) -> Result<Vec<SegmentDefinition>, InvalidSegment> {
        let document: SegmentsDocument =
            toml::from_str(text).map_err(|error| InvalidSegment::new(error.to_string()))?;
        let mut seen = HashSet::new();
        for segment in &document.segment {
            if !seen.insert(segment.name.as_str()) {
                return Err(InvalidSegment::new(format!(
                    "segment '{}' is defined more than once",
                    segment.name
                )));
            }
        }
        Ok(document.segment)
    }

    /// The JSON form used by the control API.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads the JSON form used by the control API.
    ///
    /// # Errors
    ///
    /// When the value does not describe a valid definition.
    pub fn from_json(value: Value) -> Result<SegmentDefinition, InvalidSegment> {
        serde_json::from_value(value).map_err(|error| InvalidSegment::new(error.to_string()))
    }
}

/// The part of a segment that qualifies users by their received ODP events: events with
/// `action` (and, if set, `type`), at least `at_least` of them, received within the last
/// `within` (if set), whose `data` has every listed field equal to the given value.
///
/// Times are when the dev server received the event. Identifiers are stitched: events that
/// share an identifier belong to the same user (see the crate docs).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRule {
    action: String,
    event_type: Option<String>,
    at_least: NonZeroU32,
    within: Option<TimeWindow>,
    data: Vec<(String, DataValue)>,
}

impl EventRule {
    /// A rule matching one event with this `action`, of any type, at any time.
    ///
    /// # Errors
    ///
    /// When `action` is empty.
    pub fn new(action: impl Into<String>) -> Result<Self, InvalidSegment> {
        let action = action.into();
        if action.is_empty() {
            return Err(InvalidSegment::new("rule 'action' must not be empty"));
        }
        Ok(EventRule {
            action,
            event_type: None,
            at_least: NonZeroU32::MIN,
            within: None,
            data: Vec::new(),
        })
    }

    /// Also requires the event's `type` (e.g. `fullstack`).
    ///
    /// # Errors
    ///
    /// When `event_type` is empty.
    pub fn with_type(mut self, event_type: impl Into<String>) -> Result<Self, InvalidSegment> {
        let event_type = event_type.into();
        if event_type.is_empty() {
            return Err(InvalidSegment::new("rule 'type' must not be empty"));
        }
        self.event_type = Some(event_type);
        Ok(self)
    }

    /// How many matching events qualify (default 1).
    pub fn at_least(mut self, count: NonZeroU32) -> Self {
        self.at_least = count;
        self
    }

    /// Only counts events received within this window before the query.
    pub fn within(mut self, window: TimeWindow) -> Self {
        self.within = Some(window);
        self
    }

    /// Only counts events whose `data.{key}` equals `value` (numbers compare by value, so `3`
    /// equals `3.0`; strings and booleans exactly). Several calls must all hold.
    ///
    /// # Errors
    ///
    /// When `key` is empty.
    pub fn with_data(
        mut self,
        key: impl Into<String>,
        value: impl Into<DataValue>,
    ) -> Result<Self, InvalidSegment> {
        let key = key.into();
        if key.is_empty() {
            return Err(InvalidSegment::new("rule 'data' keys must not be empty"));
        }
        self.data.retain(|(existing, _)| *existing != key);
        self.data.push((key, value.into()));
        Ok(self)
    }

    /// The required event action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The required event type, if any.
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The number of matching events needed.
    pub fn min_count(&self) -> NonZeroU32 {
        self.at_least
    }

    /// The time window, if any.
    pub fn window(&self) -> Option<TimeWindow> {
        self.within
    }

    /// The required data fields.
    pub fn data(&self) -> &[(String, DataValue)] {
        &self.data
    }

    /// Whether an event's `data` object satisfies every data condition.
    pub(crate) fn data_matches(&self, data: &Map<String, Value>) -> bool {
        self.data
            .iter()
            .all(|(key, expected)| data.get(key).is_some_and(|found| expected.matches(found)))
    }
}

impl fmt::Display for EventRule {
    /// A one-line summary, e.g. `action = "purchased", at least 3 within 30d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "action = {:?}", self.action)?;
        if let Some(event_type) = &self.event_type {
            write!(f, ", type = {event_type:?}")?;
        }
        for (key, value) in &self.data {
            write!(f, ", data.{key} == {value}")?;
        }
        write!(f, ", at least {}", self.at_least)?;
        if let Some(window) = self.within {
            write!(f, " within {window}")?;
        }
        Ok(())
    }
}

/// A value a rule compares an event's `data` field with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DataValue {
    /// A string, compared exactly.
    String(String),
    /// An integer, compared by numeric value.
    Integer(i64),
    /// A floating-point number, compared by numeric value.
    Float(f64),
    /// A boolean.
    Boolean(bool),
}

impl DataValue {
    fn matches(&self, found: &Value) -> bool {
        match (self, found) {
            (DataValue::String(expected), Value::String(found)) => expected == found,
            (DataValue::Boolean(expected), Value::Bool(found)) => expected == found,
            (DataValue::Integer(expected), Value::Number(found)) => match found.as_i64() {
                Some(found) => *expected == found,
                None => found.as_f64() == Some(*expected as f64),
            },
            (DataValue::Float(expected), Value::Number(found)) => found.as_f64() == Some(*expected),
            _ => false,
        }
    }

    fn from_json(key: &str, value: Value) -> Result<Self, InvalidSegment> {
        match value {
            Value::String(text) => Ok(DataValue::String(text)),
            Value::Bool(flag) => Ok(DataValue::Boolean(flag)),
            Value::Number(number) => match number.as_i64() {
                Some(integer) => Ok(DataValue::Integer(integer)),
                None => number.as_f64().map(DataValue::Float).ok_or_else(|| {
                    InvalidSegment::new(format!("rule data '{key}' is out of range"))
                }),
            },
            _ => Err(InvalidSegment::new(format!(
                "rule data '{key}' must be a string, number or boolean"
            ))),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            DataValue::String(text) => Value::from(text.as_str()),
            DataValue::Integer(integer) => Value::from(*integer),
            DataValue::Float(float) => Value::from(*float),
            DataValue::Boolean(flag) => Value::from(*flag),
        }
    }
}

impl fmt::Display for DataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataValue::String(text) => write!(f, "{text:?}"),
            DataValue::Integer(integer) => write!(f, "{integer}"),
            DataValue::Float(float) => write!(f, "{float:?}"),
            DataValue::Boolean(flag) => write!(f, "{flag}"),
        }
    }
}

impl From<&str> for DataValue {
    fn from(text: &str) -> Self {
        DataValue::String(text.to_owned())
    }
}

impl From<String> for DataValue {
    fn from(text: String) -> Self {
        DataValue::String(text)
    }
}

impl From<i64> for DataValue {
    fn from(integer: i64) -> Self {
        DataValue::Integer(integer)
    }
}

impl From<f64> for DataValue {
    fn from(float: f64) -> Self {
        DataValue::Float(float)
    }
}

impl From<bool> for DataValue {
    fn from(flag: bool) -> Self {
        DataValue::Boolean(flag)
    }
}

/// How far back a rule looks: a whole number of seconds, at least one. Written as a number
/// and a unit: `s`, `m`, `h`, `d` or `w`, e.g. `90s`, `1h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow(Duration);

const UNITS: [(char, u64); 5] = [
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

impl TimeWindow {
    /// A window of `duration`, which must be a whole number of seconds, at least one.
    ///
    /// # Errors
    ///
    /// When `duration` is shorter than a second or not whole seconds.
    pub fn from_duration(duration: Duration) -> Result<Self, InvalidSegment> {
        if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
            return Err(InvalidSegment::new(
                "a time window must be a whole number of seconds, at least 1",
            ));
        }
        Ok(TimeWindow(duration))
    }

    /// The window's length.
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl FromStr for TimeWindow {
    type Err = InvalidSegment;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            InvalidSegment::new(format!(
                "time window {text:?} is not a number followed by s, m, h, d or w (e.g. \"7d\")"
            ))
        };
        let text_trimmed = text.trim();
        let unit = text_trimmed.chars().last().ok_or_else(invalid)?;
        let (_, seconds_per_unit) = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(invalid)?;
        let number = &text_trimmed[..text_trimmed.len() - unit.len_utf8()];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let count: u64 = number.parse().map_err(|_| invalid())?;
        let seconds = count
            .checked_mul(*seconds_per_unit)
            .ok_or_else(|| InvalidSegment::new(format!("time window {text:?} is too long")))?;
        TimeWindow::from_duration(Duration::from_secs(seconds))
    }
}

impl fmt::Display for TimeWindow {
    /// The largest unit up to days that divides the window exactly, e.g. `30d`, `90m`
    /// (weeks are shown as days).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs();
        let (unit, size) = UNITS
            .iter()
            .filter(|(unit, _)| *unit != 'w')
            .find(|(_, size)| seconds.is_multiple_of(*size))
            .copied()
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", seconds / size)
    }
}

/// The TOML document: `[[segment]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentsDocument {
    #[serde(default)]
    segment: Vec<SegmentDefinition>,
}

/// The serialized form shared by TOML and JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default)]
    members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rule: Option<RawRule>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    action: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    #[serde(default = "one")]
    at_least: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    within: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    data: Map<String, Value>,
}

fn one() -> u32 {
    1
}

impl TryFrom<RawSegment> for SegmentDefinition {
    type Error = InvalidSegment;

    fn try_from(raw: RawSegment) -> Result<Self, Self::Error> {
        let mut segment = SegmentDefinition::new(raw.name)?.with_members(raw.members)?;
        segment.description = raw.description;
        if let Some(rule) = raw.rule {
            let name = segment.name.clone();
            let rule = EventRule::try_from(rule)
                .map_err(|error| InvalidSegment::new(format!("segment '{name}': {error}")))?;
            segment = segment.with_rule(rule);
        }
        Ok(segment)
    }
}

impl TryFrom<RawRule> for EventRule {
    type Error = InvalidSegment;

    fn try_from(raw: RawRule) -> Result<Self, Self::Error> {
        let mut rule = EventRule::new(raw.action)?;
        if let Some(event_type) = raw.event_type {
            rule = rule.with_type(event_type)?;
        }
        let at_least = NonZeroU32::new(raw.at_least)
            .ok_or_else(|| InvalidSegment::new("rule 'at_least' must be at least 1"))?;
        rule = rule.at_least(at_least);
        if let Some(within) = raw.within {
            rule = rule.within(within.parse()?);
        }
        for (key, value) in raw.data {
            let value = DataValue::from_json(&key, value)?;
            rule = rule.with_data(key, value)?;
        }
        Ok(rule)
    }
}

impl From<SegmentDefinition> for RawSegment {
    fn from(segment: SegmentDefinition) -> Self {
        RawSegment {
            name: segment.name,
            description: segment.description,
            members: segment.members,
            rule: segment.rule.map(RawRule::from),
        }
    }
}

impl From<EventRule> for RawRule {
    fn from(rule: EventRule) -> Self {
        RawRule {
            data: rule
                .data
                .iter()
                .map(|(key, value)| (key.clone(), value.to_json()))
                .collect(),
            action: rule.action,
            event_type: rule.event_type,
            at_least: rule.at_least.get(),
            within: rule.within.map(|window| window.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_toml_form() {
        let text = r#"
            [[segment]]
            name = "frequent_buyers"
            description = "Bought three times this month"
            members = ["vip-user"]
            [segment.rule]
            action = "purchased"
            type = "fullstack"
            at_least = 3
            within = "30d"
            data = { plan = "pro", seats = 5, trial = false, score = 0.5 }

            [[segment]]
            name = "empty"
        "#;
        let segments = SegmentDefinition::from_toml(text).unwrap();
        assert_eq!(segments.len(), 2);
        let rule = segments[0].rule().unwrap();
        assert_eq!(segments[0].members(), ["vip-user"]);
        assert_eq!(rule.action(), "purchased");
        assert_eq!(rule.event_type(), Some("fullstack"));
        assert_eq!(rule.min_count().get(), 3);
        assert_eq!(
            rule.window().map(TimeWindow::duration),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(rule.data().len(), 4);
        assert!(segments[1].rule().is_none() && segments[1].members().is_empty());
    }

    #[test]
    fn toml_errors_say_what_is_wrong() {
        let cases = [
            ("[[segment]]\nname = \"\"", "must not be empty"),
            ("[[segment]]\nname = \"a\"\ncolour = 1", "unknown field"),
            (
                "[[segment]]\nname = \"a\"\n[segment.rule]\naction = \"x\"\nat_least = 0",
                "at least 1",
            ),
            (
                "[[segment]]\nname = \"a\"\n[segment.rule]\naction = \"x\"\nwithin = \"soon\"",
                "time window",
            ),
            (
                "[[segment]]\nname = \"a\"\n[segment.rule]\naction = \"x\"\ndata = { k = [1] }",
                "string, number or boolean",
            ),
            (
                "[[segment]]\nname = \"a\"\n[[segment]]\nname = \"a\"",
                "more than once",
            ),
            ("[[segment]\nname = 1", ""),
        ];
        for (text, expected) in cases {
            let error = SegmentDefinition::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn json_form_round_trips() {
        let value = json!({
            "name": "s",
            "members": ["a", "b"],
            "rule": {"action": "x", "type": "t", "at_least": 2, "within": "36h",
                     "data": {"plan": "pro", "n": 3}}
        });
        let segment = SegmentDefinition::from_json(value.clone()).unwrap();
        assert_eq!(segment.to_json(), value);
        let minimal = SegmentDefinition::from_json(json!({"name": "m"})).unwrap();
        assert_eq!(minimal.to_json(), json!({"name": "m", "members": []}));
        assert!(SegmentDefinition::from_json(json!({"name": "m", "members": [""]})).is_err());
        assert!(SegmentDefinition::from_json(json!({"name": "m", "rule": {}})).is_err());
    }

    #[test]
    fn time_windows_parse_and_print() {
        let parsed = |text: &str| text.parse::<TimeWindow>().map(|w| w.duration().as_secs());
        assert_eq!(parsed("45s"), Ok(45));
        assert_eq!(parsed("2m"), Ok(120));
        assert_eq!(parsed("1h"), Ok(3_600));
        assert_eq!(parsed("7d"), Ok(604_800));
        assert_eq!(parsed("2w"), Ok(1_209_600));
        for bad in [
            "",
            "d",
            "0d",
            "-1d",
            "1.5h",
            "1y",
            "99999999999999999999w",
            "1 d",
        ] {
            assert!(parsed(bad).is_err(), "{bad:?}");
        }
        let shown = |secs| TimeWindow(Duration::from_secs(secs)).to_string();
        assert_eq!(shown(604_800), "7d");
        assert_eq!(shown(30 * 86_400), "30d");
        assert_eq!(shown(5_400), "90m");
        assert_eq!(shown(61), "61s");
    }

    #[test]
    fn data_conditions_compare_by_kind_and_value() {
        let rule = EventRule::new("a")
            .unwrap()
            .with_data("plan", "pro")
            .unwrap()
            .with_data("seats", 3)
            .unwrap()
            .with_data("trial", false)
            .unwrap();
        let data = |value: Value| value.as_object().unwrap().clone();
        assert!(rule.data_matches(&data(
            json!({"plan": "pro", "seats": 3.0, "trial": false, "x": 1})
        )));
        assert!(!rule.data_matches(&data(json!({"plan": "pro", "seats": "3", "trial": false}))));
        assert!(!rule.data_matches(&data(json!({"plan": "Pro", "seats": 3, "trial": false}))));
        assert!(!rule.data_matches(&data(json!({"plan": "pro", "seats": 3}))));
        let float = EventRule::new("a")
            .unwrap()
            .with_data("score", 0.5)
            .unwrap();
        assert!(float.data_matches(&data(json!({"score": 0.5}))));
        assert!(!float.data_matches(&data(json!({"score": null}))));
    }

    #[test]
    fn rules_describe_themselves() {
        let rule = EventRule::new("purchased")
            .unwrap()
            .with_type("fullstack")
            .unwrap()
            .with_data("plan", "pro")
            .unwrap()
            .at_least(NonZeroU32::new(3).unwrap())
            .within("30d".parse().unwrap());
        assert_eq!(
            rule.to_string(),
            r#"action = "purchased", type = "fullstack", data.plan == "pro", at least 3 within 30d"#
        );
    }
}
