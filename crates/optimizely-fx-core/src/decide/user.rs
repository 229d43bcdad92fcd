//! What decide needs to know about a user: id, attributes, ODP segments, forced decisions, and
//! (as plain data) the user profile used for sticky bucketing.

use std::collections::HashMap;

/// Attribute key whose string value replaces the user id for bucketing.
pub const BUCKETING_ID_ATTRIBUTE: &str = "$opt_bucketing_id";

/// A user attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// An integer. Audience conditions accept only |x| ≤ 2^53.
    Int(i64),
    /// A float. Audience conditions accept only finite values with |x| ≤ 2^53.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An explicit null: present (so `exists` sees the key) but never matching a value.
    Null,
}

impl AttributeValue {
    /// The value from JSON: strings, numbers, booleans and null map one to one; an integer
    /// beyond `i64` becomes a float. Arrays and objects have no attribute form (`None`).
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        use serde_json::Value;
        Some(match value {
            Value::String(s) => Self::String(s.clone()),
            Value::Bool(b) => Self::Bool(*b),
            Value::Null => Self::Null,
            Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Int(i),
                None => Self::Float(n.as_f64()?),
            },
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    /// The value as JSON (a non-finite float becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::String(s) => Value::String(s.clone()),
            Self::Int(i) => Value::from(*i),
            Self::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
        }
    }

    /// The JavaScript `typeof` name of the value, used in log texts.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Int(_) | Self::Float(_) => "number",
            Self::Bool(_) => "boolean",
            Self::Null => "object",
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<i64> for AttributeValue {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<i32> for AttributeValue {
    fn from(value: i32) -> Self {
        Self::Int(value.into())
    }
}

impl From<f64> for AttributeValue {
    fn from(value: f64) -> Self {
        Self::Float(value)
    }
}

impl From<bool> for AttributeValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

/// `None` is an explicit null attribute ([`AttributeValue::Null`]).
impl<T: Into<AttributeValue>> From<Option<T>> for AttributeValue {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

impl From<&AttributeValue> for AttributeValue {
    fn from(value: &AttributeValue) -> Self {
        value.clone()
    }
}

/// User attributes in insertion order (the order visitor attributes are sent in events).
///
/// Setting an existing key replaces its value in place. Lookups scan linearly, which beats
/// hashing for the handful of attributes a user usually has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    entries: Vec<(String, AttributeValue)>,
}

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, keeping the key's original position when it exists already.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&AttributeValue> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<AttributeValue> {
        let position = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(position).1)
    }

    /// Whether `key` is present (even with a null value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &AttributeValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no attribute.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl IntoIterator for Attributes {
    type Item = (String, AttributeValue);
    type IntoIter = std::vec::IntoIter<(String, AttributeValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a str, &'a AttributeValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, AttributeValue)>,
        fn(&'a (String, AttributeValue)) -> (&'a str, &'a AttributeValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<AttributeValue>> FromIterator<(K, V)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut attributes = Self::new();
        // Users created without attributes are common: skip the loop machinery for them.
        if iter.size_hint().1 == Some(0) {
            return attributes;
        }
        iter.for_each(|(key, value)| attributes.insert(key, value));
        attributes
    }
}

/// Which decision a forced decision overrides: a whole flag, or one rule of a flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ForcedDecisionKey {
    /// The flag key.
    pub flag_key: String,
    /// The rule (experiment or delivery rule) key; `None` forces the flag as a whole.
    pub rule_key: Option<String>,
}

impl ForcedDecisionKey {
    /// A flag-level key.
    pub fn flag(flag_key: impl Into<String>) -> Self {
        Self {
            flag_key: flag_key.into(),
            rule_key: None,
        }
    }

    /// A rule-level key.
    pub fn rule(flag_key: impl Into<String>, rule_key: impl Into<String>) -> Self {
        Self {
            flag_key: flag_key.into(),
            rule_key: Some(rule_key.into()),
        }
    }

    fn is(&self, flag_key: &str, rule_key: Option<&str>) -> bool {
        self.flag_key == flag_key && self.rule_key.as_deref() == rule_key
    }
}

/// Forced decisions of one user: (flag key, optional rule key) → variation key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForcedDecisions {
    entries: Vec<(ForcedDecisionKey, String)>,
}

impl ForcedDecisions {
    /// Sets (or replaces) the forced variation for `key`.
    pub fn set(&mut self, key: ForcedDecisionKey, variation_key: impl Into<String>) {
        let variation_key = variation_key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = variation_key,
            None => self.entries.push((key, variation_key)),
        }
    }

    /// The forced variation key for a flag (`rule_key: None`) or one of its rules.
    pub fn get(&self, flag_key: &str, rule_key: Option<&str>) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k.is(flag_key, rule_key))
            .map(|(_, variation)| variation.as_str())
    }

    /// Removes the forced decision of `key`; true when there was one.
    pub fn remove(&mut self, flag_key: &str, rule_key: Option<&str>) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| !k.is(flag_key, rule_key));
        before != self.entries.len()
    }

    /// Removes every forced decision.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All forced decisions in the order they were first set.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&ForcedDecisionKey, &str)> {
        self.entries.iter().map(|(k, v)| (k, v.as_str()))
    }
}

/// Everything decide reads about a user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserData {
    /// The user id (any string, empty included).
    pub user_id: String,
    /// The user's attributes.
    pub attributes: Attributes,
    /// ODP segments the user qualifies for; `None` when never fetched (then no `qualified`
    /// condition matches).
    pub qualified_segments: Option<Vec<String>>,
    /// Forced decisions.
    pub forced_decisions: ForcedDecisions,
}

impl UserData {
    /// A user with an id and no attributes.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            ..Self::default()
        }
    }

    /// A user with an id and attributes.
    pub fn with_attributes(user_id: impl Into<String>, attributes: Attributes) -> Self {
        Self {
            user_id: user_id.into(),
            attributes,
            ..Self::default()
        }
    }

    /// Whether the user qualifies for an ODP segment (false when segments were never set).
    pub fn is_qualified_for(&self, segment: &str) -> bool {
        self.qualified_segments
            .as_ref()
            .is_some_and(|segments| segments.iter().any(|s| s == segment))
    }

    /// Whether the user has no attribute and qualifies for no segment, so that every
    /// audience evaluates for them as for any such user.
    #[inline]
    pub(crate) fn is_blank(&self) -> bool {
        self.attributes.is_empty() && self.qualified_segments.as_ref().is_none_or(Vec::is_empty)
    }

    /// The id used for bucketing: the `$opt_bucketing_id` attribute when it is a string, else
    /// the user id. The second value is false when the attribute is present but not a string.
    pub(crate) fn bucketing_id(&self) -> (&str, bool) {
        match self.attributes.get(BUCKETING_ID_ATTRIBUTE) {
            Some(AttributeValue::String(id)) => (id, true),
            Some(_) => (&self.user_id, false),
            None => (&self.user_id, true),
        }
    }
}

/// A user's sticky-bucketing record: experiment id → variation id.
///
/// The SDK looks it up once per decide call (or batch), passes it in, and saves it when
/// [`is_updated`](Self::is_updated) says decide recorded a new bucketing decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    /// The user id the profile belongs to.
    pub user_id: String,
    /// Experiment id → variation id of earlier bucketing decisions.
    pub experiment_bucket_map: HashMap<String, String>,
    updated: bool,
}

impl UserProfile {
    /// An empty profile for a user.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self::from_map(user_id, HashMap::new())
    }

    /// A profile as loaded from storage.
    pub fn from_map(
        user_id: impl Into<String>,
        experiment_bucket_map: HashMap<String, String>,
    ) -> Self {
        Self {
            user_id: user_id.into(),
            experiment_bucket_map,
            updated: false,
        }
    }

    /// Whether decide recorded a bucketing decision since the profile was loaded (or since
    /// [`mark_saved`](Self::mark_saved)): the SDK should save it.
    pub fn is_updated(&self) -> bool {
        self.updated
    }

    /// Clears the updated flag after the profile was saved.
    pub fn mark_saved(&mut self) {
        self.updated = false;
    }

    /// The stored variation id for an experiment.
    pub fn variation_for(&self, experiment_id: &str) -> Option<&str> {
        self.experiment_bucket_map
            .get(experiment_id)
            .map(String::as_str)
    }

    pub(crate) fn record(&mut self, experiment_id: &str, variation_id: &str) {
        self.experiment_bucket_map
            .insert(experiment_id.to_owned(), variation_id.to_owned());
        self.updated = true;
    }
}
