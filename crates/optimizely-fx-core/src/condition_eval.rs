//! Three-valued evaluation of compiled audience conditions against a user.
//!
//! `Some(true)` / `Some(false)` / `None` (unknown). Every unknown result of a leaf logs the
//! official text saying why; nothing here allocates unless a log line is wanted.

use crate::condition::{
    AudienceRef, ConditionLeaf, ConditionTree, ConditionValue, ExperimentAudiences, LeafCondition,
    LeafKind, MatchType, NONE, Node, Op,
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
pub fn evaluate_tree<'c, L, F>(tree: ConditionTree<'c, L>, leaf: &mut F) -> Option<bool>
where
    L: ConditionLeaf<'c>,
    F: FnMut(L) -> Option<bool>,
{
    let config = tree.config();
    evaluate_nodes(tree.nodes(), 0, &mut |position| {
        leaf(L::at(config, position))
    })
}

/// Evaluates the tree rooted at `nodes[at]`; `leaf` gives the value of a leaf from its
/// position among the config's leaves.
///
/// Iterative: the operators being evaluated wait on a small stack, and an operand that
/// settles its operator (a false one for `and`, a true one for `or`, any for `not`) skips the
/// operator's remaining operands. Trees deeper than the stack are finished recursively.
#[inline]
fn evaluate_nodes<F>(nodes: &[Node], at: usize, leaf: &mut F) -> Option<bool>
where
    F: FnMut(u32) -> Option<bool>,
{
    // Each waiting operator: where its tree ends, and its operator in the low two bits.
    let mut ends = [0u32; STACK_DEPTH];
    // Bit `d`: the operator at depth `d` has seen an unknown operand.
    let mut saw_unknown = 0u32;
    let mut depth = 0;
    let mut next = at;
    loop {
        // Go down to the next leaf (or childless operator), opening operators on the way.
        let node = nodes[next];
        let mut value = match node.op() {
            Op::Leaf => leaf(node.leaf),
            op if node.size() == 1 => childless(op),
            _ if depth == STACK_DEPTH => evaluate_nodes(nodes, next, leaf),
            op => {
                ends[depth] = ((next + node.size()) as u32) << 2 | op_code(op);
                saw_unknown &= !(1 << depth);
                depth += 1;
                next += 1;
                continue;
            }
        };
        next += node.size();
        // Go up while the value settles the operators waiting for it.
        while depth > 0 {
            let waiting = ends[depth - 1];
            let end = (waiting >> 2) as usize;
            let settled = match waiting & 3 {
                NOT => Some(value.map(|v| !v)),
                code => {
                    let decisive = code == OR;
                    match value {
                        Some(v) if v == decisive => Some(value),
                        None => {
                            saw_unknown |= 1 << (depth - 1);
                            None
                        }
                        Some(_) => None,
                    }
                }
            };
            match settled {
                Some(result) => value = result,
                None if next < end => break,
                None => {
                    let unknown = saw_unknown & (1 << (depth - 1)) != 0;
                    value = (!unknown).then_some(waiting & 3 == AND);
                }
            }
            next = end;
            depth -= 1;
        }
        if depth == 0 {
            return value;
        }
    }
}

/// Operators open at once before the evaluation recurses.
const STACK_DEPTH: usize = 8;
const AND: u32 = 0;
const OR: u32 = 1;
const NOT: u32 = 2;

fn op_code(op: Op) -> u32 {
    match op {
        Op::And => AND,
        Op::Or => OR,
        _ => NOT,
    }
}

/// The value of an operator without operands: `and` true, `or` false, `not` unknown.
fn childless(op: Op) -> Option<bool> {
    match op {
        Op::And => Some(true),
        Op::Or => Some(false),
        _ => None,
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
    conditions: ConditionTree<'_, LeafCondition<'_>>,
    user: &UserData,
    log: &mut dyn LogSink,
) -> Option<bool> {
    let mut trace = Trace::new(None, log);
    conditions_result(conditions.config(), conditions.nodes(), user, &mut trace)
}

fn conditions_result(
    config: &ProjectConfig,
    nodes: &[Node],
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    evaluate_nodes(nodes, 0, &mut |position| {
        let leaf = LeafCondition::at(config, position);
        evaluate_leaf(leaf, user, trace)
    })
}

/// Whether a user is in the audiences of an experiment, rule or holdout (unknown counts as
/// not in). Empty targeting matches everyone.
#[inline(never)]
pub(crate) fn audiences_match(
    config: &ProjectConfig,
    audiences: ExperimentAudiences<'_>,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> bool {
    match audiences.tree() {
        Some(tree) => audience_tree_matches(config, tree.nodes(), user, trace),
        None => true,
    }
}

fn audience_tree_matches(
    config: &ProjectConfig,
    nodes: &[Node],
    user: &UserData,
    trace: &mut Trace<'_>,
) -> bool {
    evaluate_nodes(nodes, 0, &mut |position| {
        audience_result(config, position, user, trace)
    })
    .unwrap_or(false)
}

fn audience_result(
    config: &ProjectConfig,
    reference: u32,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    let index = config.audience_refs[reference as usize].audience;
    if index == NONE {
        return None;
    }
    let audience = &config.audiences[index as usize];
    if !trace.logs() {
        if user.is_blank() {
            return audience.blank_user_result;
        }
        let nodes = &config.nodes[audience.root as usize..];
        return conditions_result(config, nodes, user, trace);
    }
    let nodes = &config.nodes[audience.root as usize..];
    let audience = match AudienceRef::at(config, reference) {
        AudienceRef::Known(index) => config.audience(index),
        AudienceRef::Unknown(_) => return None,
    };
    trace_log!(
        trace,
        LogLevel::Debug,
        "Starting to evaluate audience \"{}\" with conditions: {}.",
        audience.id(),
        audience.conditions_json()
    );
    let result = conditions_result(config, nodes, user, trace);
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

fn evaluate_leaf(leaf: LeafCondition<'_>, user: &UserData, trace: &mut Trace<'_>) -> Option<bool> {
    match leaf.kind() {
        LeafKind::Match(MatchType::Qualified) => Some(qualified(leaf, user)),
        LeafKind::Match(match_type) => attribute_condition(leaf, match_type, user, trace),
        LeafKind::UnknownConditionType => {
            trace_log!(
                trace,
                LogLevel::Warn,
                "Audience condition {} has an unknown condition type. You may need to upgrade to a newer release of the Optimizely SDK.",
                leaf.json()
            );
            None
        }
        LeafKind::UnknownMatchType => {
            if trace.logs() {
                warn_unknown_match_type(trace, leaf.json());
            }
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
fn qualified(leaf: LeafCondition<'_>, user: &UserData) -> bool {
    match leaf.value() {
        ConditionValue::String(segment) => user.is_qualified_for(segment),
        _ => false,
    }
}

fn attribute_condition(
    leaf: LeafCondition<'_>,
    match_type: MatchType,
    user: &UserData,
    trace: &mut Trace<'_>,
) -> Option<bool> {
    // Without attributes there is nothing to look up (the common anonymous user).
    let name = match user.attributes.is_empty() && !trace.logs() {
        true => None,
        false => leaf.name(),
    };
    let value = name.and_then(|name| user.attributes.get(name));
    let name = name.unwrap_or("");
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
    leaf: LeafCondition<'l>,
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
                AttributeValue::String(actual) => Some(actual.as_str() == expected),
                _ => self.wrong_type(),
            },
            ConditionValue::Bool(expected) => match self.value {
                AttributeValue::Bool(actual) => Some(*actual == expected),
                _ => self.wrong_type(),
            },
            ConditionValue::Number(expected) => self.user_number().map(|actual| actual == expected),
        }
    }

    fn number(self, accept: fn(Ordering) -> bool) -> Option<bool> {
        let ConditionValue::Number(expected) = self.leaf.value() else {
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
            AttributeValue::String(actual) => Some(actual.contains(expected)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A condition tree as nested values, for the reference evaluation.
    #[derive(Debug, Clone)]
    enum Tree {
        And(Vec<Tree>),
        Or(Vec<Tree>),
        Not(Option<Box<Tree>>),
        Leaf(Option<bool>),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf =
            prop_oneof![Just(None), Just(Some(true)), Just(Some(false))].prop_map(Tree::Leaf);
        leaf.prop_recursive(40, 200, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::And),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::Or),
                prop::option::of(inner).prop_map(|t| Tree::Not(t.map(Box::new))),
            ]
        })
    }

    /// A chain of `levels` nested `not`s (deeper than the evaluator's stack).
    fn deep(levels: usize, value: Option<bool>) -> Tree {
        (0..levels).fold(Tree::Leaf(value), |t, _| Tree::Not(Some(Box::new(t))))
    }

    fn reference(tree: &Tree) -> Option<bool> {
        let all = |items: &[Tree], decisive: bool| {
            let mut unknown = false;
            for item in items {
                match reference(item) {
                    Some(v) if v == decisive => return Some(decisive),
                    None => unknown = true,
                    Some(_) => {}
                }
            }
            (!unknown).then_some(!decisive)
        };
        match tree {
            Tree::And(items) => all(items, false),
            Tree::Or(items) => all(items, true),
            Tree::Not(operand) => operand.as_deref().and_then(reference).map(|v| !v),
            Tree::Leaf(value) => *value,
        }
    }

    /// The tree in prefix order; leaf `i` has value `values[i]`.
    fn flatten(tree: &Tree, nodes: &mut Vec<Node>, values: &mut Vec<Option<bool>>) {
        let at = nodes.len();
        let (op, operands): (Op, Vec<&Tree>) = match tree {
            Tree::And(items) => (Op::And, items.iter().collect()),
            Tree::Or(items) => (Op::Or, items.iter().collect()),
            Tree::Not(operand) => (Op::Not, operand.iter().map(|b| &**b).collect()),
            Tree::Leaf(value) => {
                nodes.push(Node::new(Op::Leaf, 1, values.len() as u32));
                values.push(*value);
                return;
            }
        };
        nodes.push(Node::new(op, 1, 0));
        for operand in operands {
            flatten(operand, nodes, values);
        }
        nodes[at] = Node::new(op, nodes.len() - at, 0);
    }

    fn evaluate(tree: &Tree) -> (Option<bool>, usize) {
        let (mut nodes, mut values) = (Vec::new(), Vec::new());
        flatten(tree, &mut nodes, &mut values);
        let mut calls = 0;
        let result = evaluate_nodes(&nodes, 0, &mut |leaf| {
            calls += 1;
            values[leaf as usize]
        });
        (result, calls)
    }

    #[test]
    fn deep_chains_are_evaluated_past_the_stack() {
        for levels in [15, 16, 17, 33, 64] {
            for value in [None, Some(true), Some(false)] {
                let tree = Tree::And(vec![deep(levels, value), Tree::Leaf(Some(true))]);
                assert_eq!(evaluate(&tree).0, reference(&tree), "{levels} {value:?}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_iterative_evaluation_is_the_three_valued_logic(tree in tree()) {
            prop_assert_eq!(evaluate(&tree).0, reference(&tree));
        }

        #[test]
        fn a_settled_operator_skips_its_other_operands(tree in tree()) {
            // `or(true, tree)` never looks at `tree`.
            let wrapped = Tree::Or(vec![Tree::Leaf(Some(true)), tree]);
            prop_assert_eq!(evaluate(&wrapped), (Some(true), 1));
        }
    }
}
