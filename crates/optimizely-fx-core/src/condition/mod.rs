//! Audience conditions compiled at parse time into typed trees.
//!
//! Two levels share one tree type, [`ConditionTree`]:
//! * an audience's `conditions` become a `ConditionTree<LeafCondition>`, whose leaves compare
//!   one user attribute (or ODP segment) with a pre-typed value;
//! * an experiment's `audienceConditions` (or `audienceIds`) become an
//!   [`ExperimentAudiences`], a `ConditionTree<AudienceRef>` over audiences resolved to
//!   indices.
//!
//! Trees are evaluated with three-valued logic (true, false, unknown); nothing here needs JSON
//! at evaluation time. Nesting is bounded by [`MAX_CONDITION_DEPTH`], so recursive evaluation
//! cannot overflow the stack.

mod compile;

pub(crate) use compile::{
    DepthExceeded, collect_segments, compile_audience_conditions, compile_audience_refs,
    undecodable_conditions,
};

use crate::config::AudienceIndex;

/// The deepest nesting of operator arrays accepted in one condition tree.
pub const MAX_CONDITION_DEPTH: usize = 64;

/// A condition tree: `and` / `or` / `not` over leaves of type `L`.
///
/// Semantics (three-valued, as in the official SDKs):
/// * `And`: any false → false; else any unknown → unknown; else true (empty → true);
/// * `Or`: any true → true; else any unknown → unknown; else false (empty → false);
/// * `Not`: negates its operand; unknown stays unknown; no operand → unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionTree<L> {
    /// All operands must hold.
    And(Box<[ConditionTree<L>]>),
    /// At least one operand must hold. Arrays without a leading operator are an implicit `Or`.
    Or(Box<[ConditionTree<L>]>),
    /// Negation of the first operand of a `["not", ...]` array (later operands are ignored).
    Not(Option<Box<ConditionTree<L>>>),
    /// A leaf.
    Leaf(L),
}

impl<L> ConditionTree<L> {
    /// Every leaf, depth first, left to right.
    pub fn leaves(&self) -> Vec<&L> {
        let mut out = Vec::new();
        self.push_leaves(&mut out);
        out
    }

    fn push_leaves<'a>(&'a self, out: &mut Vec<&'a L>) {
        match self {
            Self::And(items) | Self::Or(items) => {
                items.iter().for_each(|item| item.push_leaves(out));
            }
            Self::Not(Some(operand)) => operand.push_leaves(out),
            Self::Not(None) => {}
            Self::Leaf(leaf) => out.push(leaf),
        }
    }
}

/// The `type` of an audience condition leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// `custom_attribute`: compares a user attribute.
    CustomAttribute,
    /// `third_party_dimension`: an ODP segment membership test.
    ThirdPartyDimension,
}

/// The `match` of an audience condition leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// Equality of a string, number or boolean (the default for `custom_attribute`).
    Exact,
    /// The attribute is present and not null.
    Exists,
    /// The string attribute contains the condition string.
    Substring,
    /// Number greater than.
    Gt,
    /// Number greater than or equal.
    Ge,
    /// Number less than.
    Lt,
    /// Number less than or equal.
    Le,
    /// Semantic version equal.
    SemverEq,
    /// Semantic version greater than.
    SemverGt,
    /// Semantic version greater than or equal.
    SemverGe,
    /// Semantic version less than.
    SemverLt,
    /// Semantic version less than or equal.
    SemverLe,
    /// The user is qualified for the ODP segment (the default for `third_party_dimension`).
    Qualified,
}

impl MatchType {
    /// The match type as written in the datafile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Exists => "exists",
            Self::Substring => "substring",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::SemverEq => "semver_eq",
            Self::SemverGt => "semver_gt",
            Self::SemverGe => "semver_ge",
            Self::SemverLt => "semver_lt",
            Self::SemverLe => "semver_le",
            Self::Qualified => "qualified",
        }
    }
}

/// The `value` of a condition leaf, typed once at parse time.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionValue {
    /// A JSON string.
    String(Box<str>),
    /// A JSON number that is finite and within ±2^53 (integers and floats alike).
    Number(f64),
    /// A JSON boolean.
    Bool(bool),
    /// Absent, `null`, an array, an object or a number outside ±2^53: no match type accepts
    /// it (`exists` ignores the value).
    Unsupported,
}

/// What a leaf does when evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeafKind {
    /// A known condition type with a match type it supports.
    Match(MatchType),
    /// The `type` is missing or not known (or the leaf is not a JSON object): evaluates to
    /// unknown, with the "unknown condition type" warning.
    UnknownConditionType,
    /// The `match` is not one the condition type supports: evaluates to unknown, with the
    /// "unknown match type" warning. (`custom_attribute` does not take `qualified`;
    /// `third_party_dimension` takes only `qualified`, as in the JavaScript SDK.)
    UnknownMatchType,
    /// A legacy audience whose `conditions` string is not valid JSON: evaluates to unknown.
    Undecodable,
}

/// A leaf of an audience's condition tree.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafCondition {
    pub(crate) kind: LeafKind,
    pub(crate) condition_type: Option<ConditionType>,
    pub(crate) name: Option<Box<str>>,
    pub(crate) value: ConditionValue,
    pub(crate) json: Box<str>,
}

impl LeafCondition {
    /// How the leaf evaluates.
    pub fn kind(&self) -> LeafKind {
        self.kind
    }

    /// The leaf's `type`, when it is one this SDK knows.
    pub fn condition_type(&self) -> Option<ConditionType> {
        self.condition_type
    }

    /// The attribute (or, for segments, dimension) name; `None` when absent or not a string.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The pre-typed condition value.
    pub fn value(&self) -> &ConditionValue {
        &self.value
    }

    /// The leaf as compact JSON in datafile key order, for log texts such as
    /// `Audience condition <json> evaluated to UNKNOWN ...`.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// A leaf of an experiment-level tree: one audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudienceRef {
    /// An audience of this config.
    Known(AudienceIndex),
    /// An id (or other JSON value, as compact JSON) naming no audience: evaluates to unknown.
    Unknown(Box<str>),
}

/// Who an experiment, rule or holdout targets: its `audienceConditions`, or else its
/// `audienceIds` as an implicit `or`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentAudiences {
    pub(crate) tree: Option<ConditionTree<AudienceRef>>,
    pub(crate) json: Box<str>,
}

impl ExperimentAudiences {
    /// The tree to evaluate; `None` when the list is empty or absent, which matches everyone
    /// without evaluation.
    pub fn tree(&self) -> Option<&ConditionTree<AudienceRef>> {
        self.tree.as_ref()
    }

    /// Whether everyone matches (empty or absent conditions).
    pub fn matches_everyone(&self) -> bool {
        self.tree.is_none()
    }

    /// The conditions as compact JSON (`audienceConditions` if present, else `audienceIds`),
    /// for `Evaluating audiences for experiment "<key>": <json>.`.
    pub fn json(&self) -> &str {
        &self.json
    }
}
