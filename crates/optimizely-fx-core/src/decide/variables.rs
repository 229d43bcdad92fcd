//! Flag variable values of a decision, cast to their declared types.

use crate::config::{Flag, ProjectConfig, Variable, VariableType, VariationIndex};
use crate::diagnostics::{LogLevel, Trace};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Number, Value};
use std::sync::Arc;

/// The variables of a decision: name → typed value, in the flag's order.
///
/// A small ordered list (flags have few variables): lookups scan, nothing is hashed. The
/// list is shared: the engine builds it once per flag and variation, so a decision and its
/// clones only bump a reference count. Serializes as a JSON object.
///
/// ```
/// use optimizely_fx_core::decide::Variables;
/// use serde_json::json;
/// let variables: Variables = [("size".to_owned(), json!(3))].into_iter().collect();
/// assert_eq!(variables.get("size"), Some(&json!(3)));
/// assert_eq!(variables.to_json(), json!({"size": 3}));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables {
    entries: Option<Arc<[(String, Value)]>>,
}

impl Variables {
    /// No variables.
    pub const fn new() -> Self {
        Self { entries: None }
    }

    fn entries(&self) -> &[(String, Value)] {
        self.entries.as_deref().unwrap_or(&[])
    }

    /// The value of the variable `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    /// Name and value of each variable, in the flag's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.entries().iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The variables as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.to_map())
    }

    /// The variables as a JSON map (keys in the flag's order).
    pub fn to_map(&self) -> Map<String, Value> {
        self.entries().iter().cloned().collect()
    }
}

impl FromIterator<(String, Value)> for Variables {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let entries: Arc<[(String, Value)]> = iter.into_iter().collect();
        Self {
            entries: (!entries.is_empty()).then_some(entries),
        }
    }
}

impl Serialize for Variables {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.entries() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The variables a flag's decisions can have: the defaults, and those of each enabled
/// variation of its rules. Built on the flag's first decision and kept with the flag.
#[derive(Debug, Clone)]
pub(crate) struct FlagVariableSets {
    defaults: Variables,
    by_variation: Vec<(VariationIndex, Variables)>,
}

impl FlagVariableSets {
    fn build(config: &ProjectConfig, flag: Flag<'_>, trace: &mut Trace<'_>) -> Self {
        let by_variation = flag
            .variations()
            .iter()
            .filter(|&&index| config.variation(index).feature_enabled())
            .map(|&index| (index, compute_variables(config, flag, Some(index), trace)))
            .collect();
        Self {
            defaults: compute_variables(config, flag, None, trace),
            by_variation,
        }
    }

    fn of(&self, variation: VariationIndex) -> Option<&Variables> {
        self.by_variation
            .iter()
            .find(|(index, _)| *index == variation)
            .map(|(_, variables)| variables)
    }
}

/// The typed values of every variable of `flag`: the variation's value when the variation is
/// enabled and sets the variable, else the default.
pub(crate) fn decision_variables(
    config: &ProjectConfig,
    flag: Flag<'_>,
    variation: Option<VariationIndex>,
    enabled: bool,
    trace: &mut Trace<'_>,
) -> Variables {
    if flag.data.variables.len == 0 {
        return Variables::new();
    }
    let sets = flag
        .data
        .variable_sets
        .get_or_init(|| Box::new(FlagVariableSets::build(config, flag, trace)));
    match variation.filter(|_| enabled) {
        None => sets.defaults.clone(),
        Some(index) => match sets.of(index) {
            Some(variables) => variables.clone(),
            // A variation from outside the flag's rules (an enabled holdout variation).
            None => compute_variables(config, flag, Some(index), trace),
        },
    }
}

/// Casts every variable of `flag` for an enabled `variation` (or the defaults for `None`).
fn compute_variables(
    config: &ProjectConfig,
    flag: Flag<'_>,
    variation: Option<VariationIndex>,
    trace: &mut Trace<'_>,
) -> Variables {
    let variation = variation.map(|index| config.variation(index));
    flag.variables()
        .map(|variable| {
            let raw = match variation.and_then(|v| v.variable_usage(variable.id())) {
                Some(usage) => usage.value(),
                None => variable.default_value(),
            };
            let value = raw.map_or(Value::Null, |raw| typed_value(variable, raw, trace));
            (variable.key().to_owned(), value)
        })
        .collect()
}

fn typed_value(variable: Variable<'_>, raw: &str, trace: &mut Trace<'_>) -> Value {
    let cast = cast_variable(&variable.variable_type(), raw);
    if cast.is_none() {
        trace.log(
            LogLevel::Error,
            format_args!(
                "Unable to cast value {raw} to type {}, returning null.",
                variable.variable_type().as_str()
            ),
        );
    }
    cast.unwrap_or(Value::Null)
}

/// Casts a datafile variable value to its type; `None` when it does not parse as that type.
///
/// * `boolean`: exactly `"true"` or `"false"`;
/// * `integer`: a 64-bit integer, strictly (`"4.2"` is not one);
/// * `double`: a finite float;
/// * `json`: any JSON text;
/// * `string` and unknown types: the text as is.
///
/// ```
/// use optimizely_fx_core::config::VariableType;
/// use optimizely_fx_core::decide::cast_variable;
/// use serde_json::json;
/// assert_eq!(cast_variable(&VariableType::Integer, "42"), Some(json!(42)));
/// assert_eq!(cast_variable(&VariableType::Integer, "4.2"), None);
/// assert_eq!(cast_variable(&VariableType::Boolean, "True"), None);
/// assert_eq!(cast_variable(&VariableType::Json, r#"{"a":1}"#), Some(json!({"a": 1})));
/// ```
pub fn cast_variable(variable_type: &VariableType<'_>, raw: &str) -> Option<Value> {
    match variable_type {
        VariableType::Boolean => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        VariableType::Integer => raw.parse::<i64>().ok().map(Value::from),
        VariableType::Double => parse_double(raw).map(Value::Number),
        VariableType::Json => serde_json::from_str(raw).ok(),
        VariableType::String | VariableType::Other(_) => Some(Value::String(raw.to_owned())),
    }
}

fn parse_double(raw: &str) -> Option<Number> {
    let looks_numeric = raw
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    raw.parse::<f64>().ok().and_then(Number::from_f64)
}
