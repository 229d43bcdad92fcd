//! JSON condition trees → typed [`ConditionTree`]s.

use super::{
    AudienceRef, ConditionTree, ConditionType, ConditionValue, ExperimentAudiences, LeafCondition,
    LeafKind, MAX_CONDITION_DEPTH, MatchType,
};
use crate::config::AudienceIndex;
use serde_json::{Map, Value};

/// A condition tree nests deeper than [`MAX_CONDITION_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DepthExceeded;

/// Largest magnitude of a condition number (JavaScript's safe-integer bound, floats allowed).
const MAX_CONDITION_NUMBER: f64 = 9_007_199_254_740_992.0;

enum Operator {
    And,
    Or,
    Not,
}

/// Compiles a JSON tree whose non-array values are leaves built by `make_leaf`.
fn compile_tree<L>(
    value: &Value,
    depth: usize,
    make_leaf: &mut dyn FnMut(&Value) -> L,
) -> Result<ConditionTree<L>, DepthExceeded> {
    let Value::Array(items) = value else {
        return Ok(ConditionTree::Leaf(make_leaf(value)));
    };
    if depth >= MAX_CONDITION_DEPTH {
        return Err(DepthExceeded);
    }
    let (operator, operands) = split_operator(items);
    let mut compile = |item: &Value| compile_tree(item, depth + 1, make_leaf);
    Ok(match operator {
        Operator::Not => match operands.first() {
            Some(first) => ConditionTree::Not(Some(Box::new(compile(first)?))),
            None => ConditionTree::Not(None),
        },
        Operator::And => {
            ConditionTree::And(operands.iter().map(compile).collect::<Result<_, _>>()?)
        }
        Operator::Or => ConditionTree::Or(operands.iter().map(compile).collect::<Result<_, _>>()?),
    })
}

/// A leading `"and"`/`"or"`/`"not"` is the operator; otherwise the whole array is an implicit
/// `or` that includes its first element (the Python and Go behaviour).
fn split_operator(items: &[Value]) -> (Operator, &[Value]) {
    let Some((Value::String(first), rest)) = items.split_first() else {
        return (Operator::Or, items);
    };
    match first.as_str() {
        "and" => (Operator::And, rest),
        "or" => (Operator::Or, rest),
        "not" => (Operator::Not, rest),
        _ => (Operator::Or, items),
    }
}

/// Compiles an audience's decoded `conditions`.
pub(crate) fn compile_audience_conditions(
    conditions: &Value,
) -> Result<ConditionTree<LeafCondition>, DepthExceeded> {
    compile_tree(conditions, 0, &mut compile_leaf)
}

/// The tree of a legacy audience whose `conditions` string could not be decoded.
pub(crate) fn undecodable_conditions(original: &str) -> ConditionTree<LeafCondition> {
    ConditionTree::Leaf(LeafCondition {
        kind: LeafKind::Undecodable,
        condition_type: None,
        name: None,
        value: ConditionValue::Unsupported,
        json: original.into(),
    })
}

fn compile_leaf(value: &Value) -> LeafCondition {
    let json = value.to_string().into_boxed_str();
    let Value::Object(fields) = value else {
        return LeafCondition {
            kind: LeafKind::UnknownConditionType,
            condition_type: None,
            name: None,
            value: ConditionValue::Unsupported,
            json,
        };
    };
    let condition_type = match fields.get("type").and_then(Value::as_str) {
        Some("custom_attribute") => Some(ConditionType::CustomAttribute),
        Some("third_party_dimension") => Some(ConditionType::ThirdPartyDimension),
        _ => None,
    };
    LeafCondition {
        kind: leaf_kind(condition_type, fields),
        condition_type,
        name: fields.get("name").and_then(Value::as_str).map(Into::into),
        value: typed_value(fields.get("value")),
        json,
    }
}

fn leaf_kind(condition_type: Option<ConditionType>, fields: &Map<String, Value>) -> LeafKind {
    let Some(condition_type) = condition_type else {
        return LeafKind::UnknownConditionType;
    };
    let match_type = match fields.get("match") {
        None => Some(default_match(condition_type)),
        Some(Value::String(name)) => parse_match(name),
        Some(_) => None,
    };
    match match_type {
        Some(m) if supports(condition_type, m) => LeafKind::Match(m),
        _ => LeafKind::UnknownMatchType,
    }
}

fn default_match(condition_type: ConditionType) -> MatchType {
    match condition_type {
        ConditionType::CustomAttribute => MatchType::Exact,
        ConditionType::ThirdPartyDimension => MatchType::Qualified,
    }
}

fn supports(condition_type: ConditionType, match_type: MatchType) -> bool {
    let is_segment_match = match_type == MatchType::Qualified;
    match condition_type {
        ConditionType::CustomAttribute => !is_segment_match,
        ConditionType::ThirdPartyDimension => is_segment_match,
    }
}

fn parse_match(name: &str) -> Option<MatchType> {
    Some(match name {
        "exact" => MatchType::Exact,
        "exists" => MatchType::Exists,
        "substring" => MatchType::Substring,
        "gt" => MatchType::Gt,
        "ge" => MatchType::Ge,
        "lt" => MatchType::Lt,
        "le" => MatchType::Le,
        "semver_eq" => MatchType::SemverEq,
        "semver_gt" => MatchType::SemverGt,
        "semver_ge" => MatchType::SemverGe,
        "semver_lt" => MatchType::SemverLt,
        "semver_le" => MatchType::SemverLe,
        "qualified" => MatchType::Qualified,
        _ => return None,
    })
}

fn typed_value(value: Option<&Value>) -> ConditionValue {
    match value {
        Some(Value::String(s)) => ConditionValue::String(s.as_str().into()),
        Some(Value::Bool(b)) => ConditionValue::Bool(*b),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x.abs() <= MAX_CONDITION_NUMBER => {
                ConditionValue::Number(x)
            }
            _ => ConditionValue::Unsupported,
        },
        _ => ConditionValue::Unsupported,
    }
}

/// Compiles an experiment's audience targeting: `audienceConditions` when present (not null),
/// else `audienceIds`. `resolve` maps an audience id to its index.
pub(crate) fn compile_audience_refs(
    audience_conditions: Option<&Value>,
    audience_ids: &[String],
    resolve: &dyn Fn(&str) -> Option<AudienceIndex>,
) -> Result<ExperimentAudiences, DepthExceeded> {
    let ids_value;
    let conditions = match audience_conditions {
        Some(value) if !value.is_null() => value,
        _ if !audience_ids.iter().any(|id| is_operator(id)) => {
            return Ok(implicit_or_of_ids(audience_ids, resolve));
        }
        _ => {
            ids_value = Value::Array(audience_ids.iter().cloned().map(Value::String).collect());
            &ids_value
        }
    };
    let json = conditions.to_string().into_boxed_str();
    let matches_everyone = matches!(conditions, Value::Array(items) if items.is_empty());
    let tree = if matches_everyone {
        None
    } else {
        let mut make_leaf = |leaf: &Value| audience_ref(leaf, resolve);
        Some(compile_tree(conditions, 0, &mut make_leaf)?)
    };
    Ok(ExperimentAudiences { tree, json })
}

fn is_operator(text: &str) -> bool {
    matches!(text, "and" | "or" | "not")
}

/// The common `audienceIds` case, without building JSON: an `or` of the ids.
fn implicit_or_of_ids(
    audience_ids: &[String],
    resolve: &dyn Fn(&str) -> Option<AudienceIndex>,
) -> ExperimentAudiences {
    let json = serde_json::to_string(audience_ids).unwrap_or_default();
    let tree = (!audience_ids.is_empty()).then(|| {
        let leaves = audience_ids.iter().map(|id| {
            ConditionTree::Leaf(match resolve(id) {
                Some(index) => AudienceRef::Known(index),
                None => AudienceRef::Unknown(id.as_str().into()),
            })
        });
        ConditionTree::Or(leaves.collect())
    });
    ExperimentAudiences {
        tree,
        json: json.into_boxed_str(),
    }
}

fn audience_ref(leaf: &Value, resolve: &dyn Fn(&str) -> Option<AudienceIndex>) -> AudienceRef {
    let id = match leaf {
        Value::String(id) => id.clone(),
        Value::Number(n) => n.to_string(),
        other => return AudienceRef::Unknown(other.to_string().into_boxed_str()),
    };
    match resolve(&id) {
        Some(index) => AudienceRef::Known(index),
        None => AudienceRef::Unknown(id.into_boxed_str()),
    }
}

/// Appends the ODP segments a condition tree uses (Go rule): the `value` of every object leaf
/// whose `match` is `"qualified"` and whose value is a non-empty string, depth first.
pub(crate) fn collect_segments(conditions: &Value, out: &mut Vec<String>) {
    collect_segments_at(conditions, 0, out);
}

fn collect_segments_at(value: &Value, depth: usize, out: &mut Vec<String>) {
    match value {
        Value::Array(items) if depth < MAX_CONDITION_DEPTH => {
            items
                .iter()
                .for_each(|item| collect_segments_at(item, depth + 1, out));
        }
        Value::Object(fields) => {
            let is_qualified = fields.get("match").and_then(Value::as_str) == Some("qualified");
            if let (true, Some(Value::String(segment))) = (is_qualified, fields.get("value"))
                && !segment.is_empty()
            {
                out.push(segment.clone());
            }
        }
        _ => {}
    }
}
