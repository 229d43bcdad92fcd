//! Audience conditions compiled at parse time into typed trees.
//!
//! Two levels share one tree shape, [`ConditionTree`]:
//! * an audience's `conditions` become a `ConditionTree<LeafCondition>`, whose leaves compare
//!   one user attribute (or ODP segment) with a pre-typed value;
//! * an experiment's `audienceConditions` (or `audienceIds`) become an
//!   [`ExperimentAudiences`], a `ConditionTree<AudienceRef>` over audiences resolved to
//!   indices.
//!
//! Trees are evaluated with three-valued logic (true, false, unknown); nothing here needs JSON
//! at evaluation time. Every tree of a config lives in one array of small nodes (prefix
//! order, each operator followed by its operands), so a tree costs no allocation of its own
//! and evaluation walks contiguous memory. Nesting is bounded by [`MAX_CONDITION_DEPTH`], so
//! recursive evaluation cannot overflow the stack.

mod compile;

pub(crate) use compile::{
    ConditionSink, ConditionsOutcome, Scratch, Target, UNRESOLVED, compile_id_list,
    seed_visits_itself,
};

use crate::config::text::{OptStr, Str};
use crate::config::{AudienceIndex, ProjectConfig};
use std::fmt;
use std::marker::PhantomData;

/// The deepest nesting of operator arrays accepted in one condition tree.
pub const MAX_CONDITION_DEPTH: usize = 64;

/// A position that refers to nothing (no tree, no audience).
pub(crate) const NONE: u32 = u32::MAX;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    And,
    Or,
    Not,
    Leaf,
}

/// One node of a condition tree. A tree is `size` consecutive nodes: this one, then its
/// operands' trees one after the other. A leaf's `leaf` is its position among the config's
/// leaf conditions (audience trees) or audience references (experiment trees).
///
/// The operator takes the top two bits of `head`, the size the others: a tree has fewer
/// than 2^30 nodes, as each takes at least two bytes of a datafile below 2 GiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    head: u32,
    pub(crate) leaf: u32,
}

const SIZE_BITS: u32 = 30;
const SIZE_MASK: u32 = (1 << SIZE_BITS) - 1;

impl Node {
    pub(crate) fn new(op: Op, size: usize, leaf: u32) -> Self {
        let op = match op {
            Op::And => 0,
            Op::Or => 1,
            Op::Not => 2,
            Op::Leaf => 3,
        };
        Node {
            head: op << SIZE_BITS | (size as u32 & SIZE_MASK),
            leaf,
        }
    }

    #[inline]
    pub(crate) fn op(self) -> Op {
        match self.head >> SIZE_BITS {
            0 => Op::And,
            1 => Op::Or,
            2 => Op::Not,
            _ => Op::Leaf,
        }
    }

    /// Nodes in this tree, this one included (at least 1).
    #[inline]
    pub(crate) fn size(self) -> usize {
        ((self.head & SIZE_MASK) as usize).max(1)
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConditionValue<'c> {
    /// A JSON string.
    String(&'c str),
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

/// The stored value of a leaf.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueData {
    String(Str),
    Number(f64),
    Bool(bool),
    Unsupported,
}

/// A leaf of an audience's conditions, as stored in its config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafData {
    pub(crate) kind: LeafKind,
    pub(crate) condition_type: Option<ConditionType>,
    pub(crate) name: OptStr,
    pub(crate) value: ValueData,
    pub(crate) json: Str,
}

/// A leaf of an audience's condition tree.
#[derive(Clone, Copy)]
pub struct LeafCondition<'c> {
    config: &'c ProjectConfig,
    data: &'c LeafData,
}

impl<'c> LeafCondition<'c> {
    /// How the leaf evaluates.
    pub fn kind(&self) -> LeafKind {
        self.data.kind
    }

    /// The leaf's `type`, when it is one this SDK knows.
    pub fn condition_type(&self) -> Option<ConditionType> {
        self.data.condition_type
    }

    /// The attribute (or, for segments, dimension) name; `None` when absent or not a string.
    pub fn name(&self) -> Option<&'c str> {
        self.config.strings().opt(self.data.name)
    }

    /// The pre-typed condition value.
    pub fn value(&self) -> ConditionValue<'c> {
        match self.data.value {
            ValueData::String(s) => ConditionValue::String(self.config.str(s)),
            ValueData::Number(x) => ConditionValue::Number(x),
            ValueData::Bool(b) => ConditionValue::Bool(b),
            ValueData::Unsupported => ConditionValue::Unsupported,
        }
    }

    /// The leaf as compact JSON in datafile key order, for log texts such as
    /// `Audience condition <json> evaluated to UNKNOWN ...`.
    pub fn json(&self) -> &'c str {
        self.config.str(self.data.json)
    }
}

impl PartialEq for LeafCondition<'_> {
    fn eq(&self, other: &Self) -> bool {
        (
            self.kind(),
            self.condition_type(),
            self.name(),
            self.value(),
            self.json(),
        ) == (
            other.kind(),
            other.condition_type(),
            other.name(),
            other.value(),
            other.json(),
        )
    }
}

impl fmt::Debug for LeafCondition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCondition")
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("value", &self.value())
            .finish()
    }
}

/// An audience reference of an experiment-level tree, as stored: the id as written (or, for
/// a value that is not an id, its JSON) and the audience it names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefData {
    pub(crate) id: Str,
    pub(crate) audience: u32,
}

/// A leaf of an experiment-level tree: one audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceRef<'c> {
    /// An audience of this config.
    Known(AudienceIndex),
    /// An id (or other JSON value, as compact JSON) naming no audience: evaluates to unknown.
    Unknown(&'c str),
}

/// The kinds of leaves a [`ConditionTree`] can have. Sealed: implemented by
/// [`LeafCondition`] and [`AudienceRef`] only.
pub trait ConditionLeaf<'c>: Copy + private::Sealed {
    /// The leaf at `position` among the leaves of this kind in `config`.
    #[doc(hidden)]
    fn at(config: &'c ProjectConfig, position: u32) -> Self;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::LeafCondition<'_> {}
    impl Sealed for super::AudienceRef<'_> {}
}

impl<'c> ConditionLeaf<'c> for LeafCondition<'c> {
    fn at(config: &'c ProjectConfig, position: u32) -> Self {
        LeafCondition {
            config,
            data: &config.leaves[position as usize],
        }
    }
}

impl<'c> ConditionLeaf<'c> for AudienceRef<'c> {
    fn at(config: &'c ProjectConfig, position: u32) -> Self {
        let data = config.audience_refs[position as usize];
        match data.audience {
            NONE => AudienceRef::Unknown(config.str(data.id)),
            index => AudienceRef::Known(AudienceIndex(index)),
        }
    }
}

/// A condition tree: `and` / `or` / `not` over leaves of type `L`.
///
/// Semantics (three-valued, as in the official SDKs):
/// * `And`: any false → false; else any unknown → unknown; else true (empty → true);
/// * `Or`: any true → true; else any unknown → unknown; else false (empty → false);
/// * `Not`: negates its operand; unknown stays unknown; no operand → unknown.
pub struct ConditionTree<'c, L> {
    config: &'c ProjectConfig,
    nodes: &'c [Node],
    leaf: PhantomData<L>,
}

impl<L> Clone for ConditionTree<'_, L> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L> Copy for ConditionTree<'_, L> {}

/// The top of a [`ConditionTree`].
pub enum Condition<'c, L> {
    /// All operands must hold.
    And(Operands<'c, L>),
    /// At least one operand must hold. Arrays without a leading operator are an implicit `Or`.
    Or(Operands<'c, L>),
    /// Negation of the first operand of a `["not", ...]` array (later operands are ignored).
    Not(Option<ConditionTree<'c, L>>),
    /// A leaf.
    Leaf(L),
}

impl<'c, L: ConditionLeaf<'c>> ConditionTree<'c, L> {
    /// The tree whose root is `nodes[root]`.
    pub(crate) fn new(config: &'c ProjectConfig, nodes: &'c [Node], root: usize) -> Self {
        let size = nodes[root].size();
        ConditionTree {
            config,
            nodes: &nodes[root..root + size],
            leaf: PhantomData,
        }
    }

    /// The nodes of this tree (its root first).
    pub(crate) fn nodes(&self) -> &'c [Node] {
        self.nodes
    }

    pub(crate) fn config(&self) -> &'c ProjectConfig {
        self.config
    }

    /// The root operator with its operands, or the leaf.
    pub fn condition(&self) -> Condition<'c, L> {
        let root = self.nodes[0];
        let operands = Operands {
            config: self.config,
            rest: &self.nodes[1..],
            leaf: PhantomData,
        };
        match root.op() {
            Op::And => Condition::And(operands),
            Op::Or => Condition::Or(operands),
            Op::Not => Condition::Not(operands.clone().next()),
            Op::Leaf => Condition::Leaf(L::at(self.config, root.leaf)),
        }
    }

    /// Every leaf, depth first, left to right.
    pub fn leaves(&self) -> Vec<L> {
        let mut out = Vec::new();
        self.push_leaves(&mut out);
        out
    }

    fn push_leaves(&self, out: &mut Vec<L>) {
        match self.condition() {
            Condition::And(operands) | Condition::Or(operands) => {
                operands.for_each(|operand| operand.push_leaves(out));
            }
            Condition::Not(Some(operand)) => operand.push_leaves(out),
            Condition::Not(None) => {}
            Condition::Leaf(leaf) => out.push(leaf),
        }
    }
}

impl<'c, L: ConditionLeaf<'c> + fmt::Debug> fmt::Debug for ConditionTree<'c, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.condition() {
            Condition::And(operands) => f.debug_tuple("And").field(&operands).finish(),
            Condition::Or(operands) => f.debug_tuple("Or").field(&operands).finish(),
            Condition::Not(operand) => f.debug_tuple("Not").field(&operand).finish(),
            Condition::Leaf(leaf) => leaf.fmt(f),
        }
    }
}

/// The operands of an `and` or `or` (or the first of a `not`), in order.
pub struct Operands<'c, L> {
    config: &'c ProjectConfig,
    rest: &'c [Node],
    leaf: PhantomData<L>,
}

impl<L> Clone for Operands<'_, L> {
    fn clone(&self) -> Self {
        Operands {
            config: self.config,
            rest: self.rest,
            leaf: PhantomData,
        }
    }
}

impl<'c, L: ConditionLeaf<'c>> Iterator for Operands<'c, L> {
    type Item = ConditionTree<'c, L>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = self.rest.first()?;
        let (tree, rest) = self.rest.split_at(first.size().min(self.rest.len()));
        self.rest = rest;
        Some(ConditionTree {
            config: self.config,
            nodes: tree,
            leaf: PhantomData,
        })
    }
}

impl<'c, L: ConditionLeaf<'c>> Operands<'c, L> {
    /// Number of operands.
    pub fn len(&self) -> usize {
        self.clone().count()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

impl<'c, L: ConditionLeaf<'c> + fmt::Debug> fmt::Debug for Operands<'c, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// How an experiment, rule or holdout targets audiences, as stored: the root of its tree
/// (`NONE`: everyone matches), and the compact JSON of its `audienceConditions` (or else of
/// its `audienceIds`; empty for `[]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AudiencesData {
    pub(crate) root: u32,
    pub(crate) json: Str,
}

/// Who an experiment, rule or holdout targets: its `audienceConditions`, or else its
/// `audienceIds` as an implicit `or`.
#[derive(Clone, Copy)]
pub struct ExperimentAudiences<'c> {
    pub(crate) config: &'c ProjectConfig,
    pub(crate) data: &'c AudiencesData,
}

impl<'c> ExperimentAudiences<'c> {
    /// The tree to evaluate; `None` when the list is empty or absent, which matches everyone
    /// without evaluation.
    pub fn tree(&self) -> Option<ConditionTree<'c, AudienceRef<'c>>> {
        (self.data.root != NONE)
            .then(|| ConditionTree::new(self.config, &self.config.nodes, self.data.root as usize))
    }

    /// Whether everyone matches (empty or absent conditions).
    #[inline]
    pub fn matches_everyone(&self) -> bool {
        self.data.root == NONE
    }

    /// The conditions as compact JSON (`audienceConditions` if present, else `audienceIds`),
    /// for `Evaluating audiences for experiment "<key>": <json>.`.
    pub fn json(&self) -> &'c str {
        match self.data.json.is_empty() {
            true => "[]",
            false => self.config.str(self.data.json),
        }
    }
}

impl fmt::Debug for ExperimentAudiences<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExperimentAudiences")
            .field("json", &self.json())
            .finish()
    }
}
