//! Flag variable values of a decision, cast to their declared types.

use crate::config::{Flag, ProjectConfig, Variable, VariableType, VariationIndex};
use crate::diagnostics::{LogLevel, Trace};
use serde_json::{Map, Number, Value};

/// The typed values of every variable of `flag`: the variation's value when the variation is
/// enabled and sets the variable, else the default.
pub(crate) fn decision_variables(
    config: &ProjectConfig,
    flag: &Flag,
    variation: Option<VariationIndex>,
    enabled: bool,
    trace: &mut Trace<'_>,
) -> Map<String, Value> {
    if flag.variables().is_empty() {
        return Map::new();
    }
    let variation = variation
        .filter(|_| enabled)
        .map(|index| config.variation(index));
    flag.variables()
        .iter()
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

fn typed_value(variable: &Variable, raw: &str, trace: &mut Trace<'_>) -> Value {
    let cast = cast_variable(variable.variable_type(), raw);
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
pub fn cast_variable(variable_type: &VariableType, raw: &str) -> Option<Value> {
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
