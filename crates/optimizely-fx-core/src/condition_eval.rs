//! Three-valued evaluation of compiled audience conditions against a user.
//!
//! `Some(true)` / `Some(false)` / `None` (unknown). Every unknown result of a leaf logs the
//! official text saying why; nothing here allocates unless a log line is wanted.

use crate::condition::{
    AudienceRef, ConditionTree, ConditionValue, ExperimentAudiences, LeafCondition, LeafKind,
    MatchType,
};
use crate::config::ProjectConfig;
use crate::decide::{AttributeValue, UserData};
use crate::diagnostics::{LogLevel, LogSink, Trace, trace_log};
use crate::semver;
use std::cmp::Ordering;

/// Largest magnitude of a number accepted in a condition or compared with one.
const MAX_NUMBER: f64 = 9_007_199_254_740_992.0;
const MAX_INT: i64 = 1 << 53;

/// Evaluates a condition tree with `leaf` giving each leaf's value.
pub fn evaluate_tree<L, F>(tree: &ConditionTree<L>, leaf: &mut F) -> Option<bool>
where
    F: FnMut(&L) -> Option<bool>,
{
    match tree {
        ConditionTree::And(items) => {
            let mut saw_unknown = false;
            for item in items.iter() {
                match evaluate_tree(item, leaf) {
                    Some(false) => return Some(false),
                    None => saw_unknown = true,
                    Some(true) => {}
                }
            }
            (!saw_unknown).then_some(true)
        }
        ConditionTree::Or(items) => {
            let mut saw_unknown = false;
            for item in items.iter() {
                match evaluate_tree(item, leaf) {
                    Some(true) => return Some(true),
                    None => saw_unknown = true,
                    Some(false) => {}
                }
            }
            (!saw_unknown).then_some(false)
        }
        ConditionTree::Not(Some(operand)) => evaluate_tree(operand, leaf).map(|value| !value),
        ConditionTree::Not(None) => None,
        ConditionTree::Leaf(value) => leaf(value),
    }
}

/// Evaluates an audience's condition tree for a user, logging why leaves are unknown.
///
/// ```
/// use optimizely_fx_core::ProjectConfig;
/// use optimizely_fx_core::condition_eval::evaluate_conditions;
/// use optimizely_fx_core::decide::{Attributes, UserData};
///
/// let config = ProjectConfig::parse(r#"{"version": "4", "accountId": "1", "projectId": "2",
///   "revision": "3", "typedAudiences": [{"id": "a", "name": "adults", "conditions":
///   ["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}]}]}"#)
///     .unwrap();
/// let audience = config.audience(config.audience_by_id("a").unwrap());
/// let adult = UserData::with_attributes("u", [("age", 30)].into_iter().collect::<Attributes>());
/// assert_eq!(evaluate_conditions(audience.conditions(), &adult, &mut ()), Some(true));
/// assert_eq!(evaluate_conditions(audience.conditions(), &UserData::new("u"), &mut ()), None);
/// ```
pub fn evaluate_conditions(
    conditions: &ConditionTree<LeafCondition>,
    user: &UserData,
    log: &mut dyn LogSink,
) -> Option<bool> {
    let mut trace = Trace::new(None, log);
    conditions_result(conditions, user, &mut trace)
}

fn conditions_result(
    conditions: &ConditionTree<LeafCondition>,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    evaluate_tree(conditions, &mut |leaf| evaluate_leaf(leaf, user, trace))
}

/// Whether a user is in the audiences of an experiment, rule or holdout (unknown counts as
/// not in). Empty targeting matches everyone.
#[inline]
pub(crate) fn audiences_match(
    config: &ProjectConfig,
    audiences: &ExperimentAudiences,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> bool {
    match audiences.tree() {
        Some(tree) => audience_tree_matches(config, tree, user, trace),
        None => true,
    }
}

fn audience_tree_matches(
    config: &ProjectConfig,
    tree: &ConditionTree<AudienceRef>,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> bool {
    evaluate_tree(tree, &mut |audience| {
        audience_result(config, audience, user, trace)
    })
    .unwrap_or(false)
}

fn audience_result(
    config: &ProjectConfig,
    audience: &AudienceRef,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    let AudienceRef::Known(index) = audience else {
        return None;
    };
    let audience = config.audience(*index);
    trace_log!(
        trace,
        LogLevel::Debug,
        "Starting to evaluate audience \"{}\" with conditions: {}.",
        audience.id(),
        audience.conditions_json()
    );
    let result = conditions_result(audience.conditions(), user, trace);
    trace_log!(
        trace,
        LogLevel::Info,
        "Audience \"{}\" evaluated to {}.",
        audience.id(),
        result_text(result)
    );
    result
}

/// `TRUE`, `FALSE` or `UNKNOWN`.
pub(crate) fn result_text(result: Option<bool>) -> &'static str {
    match result {
        Some(true) => "TRUE",
        Some(false) => "FALSE",
        None => "UNKNOWN",
    }
}

fn evaluate_leaf(leaf: &LeafCondition, user: &UserData, trace: &mut Trace<'_>) -> Option<bool> {
    match leaf.kind() {
        LeafKind::Match(MatchType::Qualified) => Some(qualified(leaf, user)),
        LeafKind::Match(match_type) => attribute_condition(leaf, match_type, user, trace),
        LeafKind::UnknownConditionType => {
            trace.log(
                LogLevel::Warn,
                format_args!(
                    "Audience condition {} has an unknown condition type. You may need to upgrade to a newer release of the Optimizely SDK.",
                    leaf.json()
                ),
            );
            None
        }
        LeafKind::UnknownMatchType => {
            warn_unknown_match_type(trace, leaf.json());
            None
        }
        LeafKind::Undecodable => None,
    }
}

fn warn_unknown_match_type(trace: &mut Trace<'_>, subject: &str) {
    trace.log(
        LogLevel::Warn,
        format_args!(
            "Audience condition {subject} uses an unknown match type. You may need to upgrade to a newer release of the Optimizely SDK."
        ),
    );
}

/// `user.isQualifiedFor(value)`: a non-string value names no segment.
fn qualified(leaf: &LeafCondition, user: &UserData) -> bool {
    match leaf.value() {
        ConditionValue::String(segment) => user.is_qualified_for(segment),
        _ => false,
    }
}

fn attribute_condition(
    leaf: &LeafCondition,
    match_type: MatchType,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    let name = leaf.name().unwrap_or("");
    let value = leaf.name().and_then(|name| user.attributes.get(name));
    if match_type == MatchType::Exists {
        return Some(!matches!(value, None | Some(AttributeValue::Null)));
    }
    let Some(value) = value else {
        trace_log!(
            trace,
            LogLevel::Debug,
            "Audience condition {} evaluated to UNKNOWN because no value was passed for user attribute \"{name}\".",
            leaf.json()
        );
        return None;
    };
    let check = Check {
        leaf,
        name,
        value,
        trace,
    };
    match match_type {
        MatchType::Exact => check.exact(),
        MatchType::Substring => check.substring(),
        MatchType::Gt => check.number(|o| o == Ordering::Greater),
        MatchType::Ge => check.number(|o| o != Ordering::Less),
        MatchType::Lt => check.number(|o| o == Ordering::Less),
        MatchType::Le => check.number(|o| o != Ordering::Greater),
        MatchType::SemverEq => check.semver(|o| o == Ordering::Equal),
        MatchType::SemverGt => check.semver(|o| o == Ordering::Greater),
        MatchType::SemverGe => check.semver(|o| o != Ordering::Less),
        MatchType::SemverLt => check.semver(|o| o == Ordering::Less),
        MatchType::SemverLe => check.semver(|o| o != Ordering::Greater),
        MatchType::Exists | MatchType::Qualified => None,
    }
}

/// One attribute leaf with the user's value, checked in the official order: condition value,
/// null user value, user value type, number range.
struct Check<'l, 't, 'a> {
    leaf: &'l LeafCondition,
    name: &'l str,
    value: &'l AttributeValue,
    trace: &'t mut Trace<'a>,
}

impl Check<'_, '_, '_> {
    fn exact(self) -> Option<bool> {
        match self.leaf.value() {
            ConditionValue::Unsupported => self.unsupported_condition_value(),
            _ if *self.value == AttributeValue::Null => self.null_value(),
            ConditionValue::String(expected) => match self.value {
                AttributeValue::String(actual) => Some(actual.as_str() == &**expected),
                _ => self.wrong_type(),
            },
            ConditionValue::Bool(expected) => match self.value {
                AttributeValue::Bool(actual) => Some(actual == expected),
                _ => self.wrong_type(),
            },
            ConditionValue::Number(expected) => {
                let expected = *expected;
                self.user_number().map(|actual| actual == expected)
            }
        }
    }

    fn number(self, accept: fn(Ordering) -> bool) -> Option<bool> {
        let ConditionValue::Number(expected) = *self.leaf.value() else {
            return self.unsupported_condition_value();
        };
        if *self.value == AttributeValue::Null {
            return self.null_value();
        }
        let actual = self.user_number()?;
        actual.partial_cmp(&expected).map(accept)
    }

    fn substring(self) -> Option<bool> {
        let ConditionValue::String(expected) = self.leaf.value() else {
            return self.unsupported_condition_value();
        };
        match self.value {
            AttributeValue::Null => self.null_value(),
            AttributeValue::String(actual) => Some(actual.contains(&**expected)),
            _ => self.wrong_type(),
        }
    }

    fn semver(self, accept: fn(Ordering) -> bool) -> Option<bool> {
        let ConditionValue::String(target) = self.leaf.value() else {
            return self.unsupported_condition_value();
        };
        let actual = match self.value {
            AttributeValue::Null => return self.null_value(),
            AttributeValue::String(actual) => actual,
            _ => return self.wrong_type(),
        };
        let Some(target_version) = semver::Version::parse(target) else {
            warn_unknown_match_type(self.trace, target);
            return None;
        };
        let Some(user_version) = semver::Version::parse(actual) else {
            warn_unknown_match_type(self.trace, actual);
            return None;
        };
        Some(accept(semver::compare_parsed(
            &user_version,
            &target_version,
        )))
    }

    /// The user's value as a number within ±2^53, or unknown with the reason logged.
    fn user_number(self) -> Option<f64> {
        let in_range = match *self.value {
            AttributeValue::Int(i) if (-MAX_INT..=MAX_INT).contains(&i) => Some(i as f64),
            AttributeValue::Float(x) if x.is_finite() && x.abs() <= MAX_NUMBER => Some(x),
            AttributeValue::Int(_) | AttributeValue::Float(_) => None,
            _ => return self.wrong_type(),
        };
        if in_range.is_none() {
            self.trace.log(
                LogLevel::Warn,
                format_args!(
                    "Audience condition {} evaluated to UNKNOWN because the number value for user attribute \"{}\" is not in the range [-2^53, +2^53].",
                    self.leaf.json(),
                    self.name
                ),
            );
        }
        in_range
    }

    fn unsupported_condition_value<T>(self) -> Option<T> {
        self.trace.log(
            LogLevel::Warn,
            format_args!(
                "Audience condition {} evaluated to UNKNOWN because the condition value is not supported.",
                self.leaf.json()
            ),
        );
        None
    }

    fn null_value<T>(self) -> Option<T> {
        trace_log!(
            self.trace,
            LogLevel::Debug,
            "Audience condition {} evaluated to UNKNOWN because a null value was passed for user attribute \"{}\".",
            self.leaf.json(),
            self.name
        );
        None
    }

    fn wrong_type<T>(self) -> Option<T> {
        self.trace.log(
            LogLevel::Warn,
            format_args!(
                "Audience condition {} evaluated to UNKNOWN because a value of type \"{}\" was passed for user attribute \"{}\".",
                self.leaf.json(),
                self.value.type_name(),
                self.name
            ),
        );
        None
    }
}
