//! The indexed entities of a [`ProjectConfig`](super::ProjectConfig).
//!
//! Entities live in arenas (`Vec`s) inside the config and refer to each other through the
//! 32-bit index types below. An index is valid only for the config that produced it.

use crate::condition::{ConditionTree, ExperimentAudiences, LeafCondition};
use rustc_hash::FxHashMap;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u32);

        impl $name {
            /// Position in the config's arena of this entity kind.
            pub fn get(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index_type!(
    /// Index of an [`Experiment`] (experiment, group member or delivery rule).
    ExperimentIndex
);
index_type!(
    /// Index of a [`Variation`] (of an experiment, rule or holdout).
    VariationIndex
);
index_type!(
    /// Index of a [`Flag`].
    FlagIndex
);
index_type!(
    /// Index of an [`Audience`].
    AudienceIndex
);
index_type!(
    /// Index of a [`Group`].
    GroupIndex
);
index_type!(
    /// Index of a [`Rollout`].
    RolloutIndex
);
index_type!(
    /// Index of a [`Holdout`].
    HoldoutIndex
);

/// A variation of an experiment, delivery rule or holdout.
#[derive(Debug, Clone, PartialEq)]
pub struct Variation {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) feature_enabled: bool,
    pub(crate) variables: Vec<VariableUsage>,
}

impl Variation {
    /// Variation id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Variation key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// `featureEnabled` (false when absent).
    pub fn feature_enabled(&self) -> bool {
        self.feature_enabled
    }
    /// The variation's variable values, in datafile order. When several variations share
    /// this id, all carry the values of the last one (the official SDKs look values up by
    /// variation id).
    pub fn variables(&self) -> &[VariableUsage] {
        &self.variables
    }
    /// This variation's entry for the flag variable with id `variable_id` (the last entry
    /// wins when an id is listed twice).
    pub fn variable_usage(&self, variable_id: &str) -> Option<&VariableUsage> {
        self.variables
            .iter()
            .rev()
            .find(|usage| usage.variable_id == variable_id)
    }
}

/// One `{id, value}` entry of a variation's `variables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableUsage {
    pub(crate) variable_id: String,
    pub(crate) value: Option<String>,
}

impl VariableUsage {
    /// Id of the flag variable.
    pub fn variable_id(&self) -> &str {
        &self.variable_id
    }
    /// The value as written in the datafile (cast by the variable's type when used);
    /// `None` when it is absent or not a JSON string, which casts to null.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// One range of a traffic allocation: bucket values below `end_of_range` (and at or above the
/// previous range's end) go to `entity_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRange<T> {
    pub(crate) end_of_range: u32,
    pub(crate) entity_id: String,
    pub(crate) target: Option<T>,
}

impl<T: Copy> TrafficRange<T> {
    /// Exclusive upper bound of the range (0..=10000 in practice).
    pub fn end_of_range(&self) -> u32 {
        self.end_of_range
    }
    /// The entity id as written (`""` means unallocated traffic).
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }
    /// The entity resolved at parse time; `None` when the id is empty or unknown, which
    /// means "not bucketed".
    pub fn target(&self) -> Option<T> {
        self.target
    }
}

/// Where an experiment entry comes from in the datafile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentOrigin {
    /// Top-level `experiments[]`.
    TopLevel,
    /// `groups[].experiments[]`.
    Group(GroupIndex),
    /// `rollouts[].experiments[]`: a delivery rule.
    Rollout(RolloutIndex),
}

/// The experiment `type` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExperimentType {
    /// `ab`: A/B test.
    Ab,
    /// `mab`: multi-armed bandit.
    Mab,
    /// `cmab`: contextual multi-armed bandit.
    Cmab,
    /// `td`: targeted delivery.
    Td,
    /// `fr`: feature rollout (gets the everyone-else variation injected at parse time).
    Fr,
    /// A type this SDK does not know, kept as written.
    Other(String),
}

impl ExperimentType {
    pub(crate) fn parse(value: String) -> Self {
        match value.as_str() {
            "ab" => Self::Ab,
            "mab" => Self::Mab,
            "cmab" => Self::Cmab,
            "td" => Self::Td,
            "fr" => Self::Fr,
            _ => Self::Other(value),
        }
    }
}

/// CMAB settings of an experiment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmab {
    pub(crate) attribute_ids: Vec<String>,
    pub(crate) traffic_allocation: u32,
}

impl Cmab {
    /// Attribute ids sent to the prediction service.
    pub fn attribute_ids(&self) -> &[String] {
        &self.attribute_ids
    }
    /// End of the single traffic range (`{entityId: "$", endOfRange: <this>}`).
    pub fn traffic_allocation(&self) -> u32 {
        self.traffic_allocation
    }
}

/// A whitelist entry of `forcedVariations`: user id → variation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedVariation {
    pub(crate) variation_key: String,
    pub(crate) variation: Option<VariationIndex>,
}

impl ForcedVariation {
    /// The variation key as written.
    pub fn variation_key(&self) -> &str {
        &self.variation_key
    }
    /// The experiment's variation with that key; `None` when the key is not one of them.
    pub fn variation(&self) -> Option<VariationIndex> {
        self.variation
    }
}

/// An experiment, mutual-exclusion group member, or delivery rule (all share this shape).
#[derive(Debug, Clone)]
pub struct Experiment {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) status: String,
    pub(crate) is_running: bool,
    pub(crate) layer_id: String,
    pub(crate) experiment_type: Option<ExperimentType>,
    pub(crate) origin: ExperimentOrigin,
    pub(crate) mutex_group: Option<GroupIndex>,
    pub(crate) variations: Vec<VariationIndex>,
    pub(crate) traffic_allocation: Vec<TrafficRange<VariationIndex>>,
    pub(crate) audiences: ExperimentAudiences,
    pub(crate) forced_variations: FxHashMap<String, ForcedVariation>,
    pub(crate) cmab: Option<Cmab>,
    pub(crate) flags: Vec<FlagIndex>,
    pub(crate) local_holdouts: Vec<HoldoutIndex>,
}

impl Experiment {
    /// Experiment (rule) id; the bucketing entity id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Experiment (rule) key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// `status` as written (`""` when absent).
    pub fn status(&self) -> &str {
        &self.status
    }
    /// `status == "Running"`. Checked for experiment rules, not for delivery rules.
    pub fn is_running(&self) -> bool {
        self.is_running
    }
    /// `layerId` (`""` when absent); the impression's `campaign_id` when non-empty.
    pub fn layer_id(&self) -> &str {
        &self.layer_id
    }
    /// The `type` field, when present.
    pub fn experiment_type(&self) -> Option<&ExperimentType> {
        self.experiment_type.as_ref()
    }
    /// Where the entry comes from.
    pub fn origin(&self) -> ExperimentOrigin {
        self.origin
    }
    /// Whether this is a delivery rule of a rollout.
    pub fn is_delivery_rule(&self) -> bool {
        matches!(self.origin, ExperimentOrigin::Rollout(_))
    }
    /// The mutual-exclusion group to bucket through first (only `random`-policy groups).
    pub fn mutex_group(&self) -> Option<GroupIndex> {
        self.mutex_group
    }
    /// The variations, in datafile order (plus an injected everyone-else variation for `fr`).
    pub fn variations(&self) -> &[VariationIndex] {
        &self.variations
    }
    /// Traffic allocation in datafile order, targets resolved to variations.
    pub fn traffic_allocation(&self) -> &[TrafficRange<VariationIndex>] {
        &self.traffic_allocation
    }
    /// Audience targeting.
    pub fn audiences(&self) -> &ExperimentAudiences {
        &self.audiences
    }
    /// The whitelist entry for `user_id`.
    pub fn forced_variation(&self, user_id: &str) -> Option<&ForcedVariation> {
        self.forced_variations.get(user_id)
    }
    /// The whole whitelist (`forcedVariations`).
    pub fn forced_variations(&self) -> &FxHashMap<String, ForcedVariation> {
        &self.forced_variations
    }
    /// CMAB settings, for CMAB experiments.
    pub fn cmab(&self) -> Option<&Cmab> {
        self.cmab.as_ref()
    }
    /// Flags that list this experiment in `experimentIds` (feature experiments).
    pub fn flags(&self) -> &[FlagIndex] {
        &self.flags
    }
    /// Local holdouts whose `includedRules` name this rule's id, in datafile order.
    pub fn local_holdouts(&self) -> &[HoldoutIndex] {
        &self.local_holdouts
    }
}

/// A holdout: global (`holdouts[]`) or local to some rules (`localHoldouts[]`).
#[derive(Debug, Clone)]
pub struct Holdout {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) status: String,
    pub(crate) is_running: bool,
    pub(crate) variations: Vec<VariationIndex>,
    pub(crate) traffic_allocation: Vec<TrafficRange<VariationIndex>>,
    pub(crate) audiences: ExperimentAudiences,
    pub(crate) included_rules: Vec<String>,
    pub(crate) is_local: bool,
}

impl Holdout {
    /// Holdout id; the bucketing entity id and the impression's `experiment_id`/`campaign_id`.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Holdout key (the decision's rule key).
    pub fn key(&self) -> &str {
        &self.key
    }
    /// `status` as written.
    pub fn status(&self) -> &str {
        &self.status
    }
    /// `status == "Running"`; other holdouts are skipped at evaluation.
    pub fn is_running(&self) -> bool {
        self.is_running
    }
    /// The variations.
    pub fn variations(&self) -> &[VariationIndex] {
        &self.variations
    }
    /// Traffic allocation, targets resolved to variations.
    pub fn traffic_allocation(&self) -> &[TrafficRange<VariationIndex>] {
        &self.traffic_allocation
    }
    /// Audience targeting.
    pub fn audiences(&self) -> &ExperimentAudiences {
        &self.audiences
    }
    /// Rule ids a local holdout applies to (empty for global holdouts).
    pub fn included_rules(&self) -> &[String] {
        &self.included_rules
    }
    /// Whether it comes from `localHoldouts[]`.
    pub fn is_local(&self) -> bool {
        self.is_local
    }
}

/// A group of experiments; only `random` groups are mutually exclusive.
#[derive(Debug, Clone)]
pub struct Group {
    pub(crate) id: String,
    pub(crate) policy: String,
    pub(crate) traffic_allocation: Vec<TrafficRange<ExperimentIndex>>,
    pub(crate) experiments: Vec<ExperimentIndex>,
}

impl Group {
    /// Group id; the entity id of the group bucketing.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// `policy` as written.
    pub fn policy(&self) -> &str {
        &self.policy
    }
    /// `policy == "random"`: mutual exclusion.
    pub fn is_mutually_exclusive(&self) -> bool {
        self.policy == "random"
    }
    /// Traffic allocation over member experiments.
    pub fn traffic_allocation(&self) -> &[TrafficRange<ExperimentIndex>] {
        &self.traffic_allocation
    }
    /// Member experiments, in datafile order.
    pub fn experiments(&self) -> &[ExperimentIndex] {
        &self.experiments
    }
}

/// A rollout: the delivery rules of a flag, evaluated in order (last = "Everyone Else").
#[derive(Debug, Clone)]
pub struct Rollout {
    pub(crate) id: String,
    pub(crate) rules: Vec<ExperimentIndex>,
}

impl Rollout {
    /// Rollout id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Delivery rules in order.
    pub fn rules(&self) -> &[ExperimentIndex] {
        &self.rules
    }
}

/// The type of a flag variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableType {
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `double`.
    Double,
    /// `boolean`.
    Boolean,
    /// `json`, or the legacy `string` with `subType: "json"`.
    Json,
    /// A type this SDK does not know (values are returned as raw strings).
    Other(String),
}

impl VariableType {
    pub(crate) fn parse(variable_type: Option<String>, sub_type: Option<&str>) -> Self {
        let variable_type = variable_type.unwrap_or_default();
        match (variable_type.as_str(), sub_type) {
            ("string", Some("json")) | ("json", _) => Self::Json,
            ("string", _) => Self::String,
            ("integer", _) => Self::Integer,
            ("double", _) => Self::Double,
            ("boolean", _) => Self::Boolean,
            _ => Self::Other(variable_type),
        }
    }

    /// The type name (`json` for the legacy string/json encoding).
    pub fn as_str(&self) -> &str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Double => "double",
            Self::Boolean => "boolean",
            Self::Json => "json",
            Self::Other(name) => name,
        }
    }
}

/// A flag variable definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) variable_type: VariableType,
    pub(crate) default_value: Option<String>,
}

impl Variable {
    /// Variable id (matched by variation usages).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Variable key (the key in decision `variables`).
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The type.
    pub fn variable_type(&self) -> &VariableType {
        &self.variable_type
    }
    /// `defaultValue` as written; `None` when it is absent or not a JSON string (the
    /// official SDKs then return null for the variable).
    pub fn default_value(&self) -> Option<&str> {
        self.default_value.as_deref()
    }
}

/// An entry of a flag's `experimentIds`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentRuleRef {
    pub(crate) id: String,
    pub(crate) experiment: Option<ExperimentIndex>,
}

impl ExperimentRuleRef {
    /// The id as listed in the flag.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The experiment, or `None` when no experiment has that id
    /// (`Experiment ID %s is not in datafile.`).
    pub fn experiment(&self) -> Option<ExperimentIndex> {
        self.experiment
    }
}

/// A feature flag with its rules resolved.
#[derive(Debug, Clone)]
pub struct Flag {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) rollout_id: String,
    pub(crate) rollout: Option<RolloutIndex>,
    pub(crate) experiment_rules: Vec<ExperimentRuleRef>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) rules: Vec<ExperimentIndex>,
    pub(crate) variations: Vec<VariationIndex>,
    /// Typed decision variables, built on the flag's first decision (decide module).
    pub(crate) variable_sets: std::sync::OnceLock<crate::decide::FlagVariableSets>,
}

impl Flag {
    /// Flag id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Flag key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// `rolloutId` as written (`""` when absent).
    pub fn rollout_id(&self) -> &str {
        &self.rollout_id
    }
    /// The rollout named by `rolloutId`, when it exists.
    pub fn rollout(&self) -> Option<RolloutIndex> {
        self.rollout
    }
    /// `experimentIds` in order, resolved.
    pub fn experiment_rules(&self) -> &[ExperimentRuleRef] {
        &self.experiment_rules
    }
    /// Variable definitions in datafile order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }
    /// The variable with key `key`.
    pub fn variable(&self, key: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.key == key)
    }
    /// All rules: experiment rules that exist (in `experimentIds` order), then delivery rules.
    pub fn rules(&self) -> &[ExperimentIndex] {
        &self.rules
    }
    /// All variations of all rules, de-duplicated by id (first wins); used to validate forced
    /// decisions.
    pub fn variations(&self) -> &[VariationIndex] {
        &self.variations
    }
}

/// An audience with its compiled conditions.
#[derive(Debug, Clone)]
pub struct Audience {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) conditions: ConditionTree<LeafCondition>,
    pub(crate) conditions_json: String,
    pub(crate) is_typed: bool,
}

/// Id of the placeholder audience that datafiles carry and OptimizelyConfig hides.
pub const DUMMY_AUDIENCE_ID: &str = "$opt_dummy_audience";

impl Audience {
    /// Audience id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Audience name (`""` when absent).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The compiled conditions.
    pub fn conditions(&self) -> &ConditionTree<LeafCondition> {
        &self.conditions
    }
    /// The conditions as a JSON string: the original string of a legacy audience, compact
    /// JSON (datafile key order) for a typed one.
    pub fn conditions_json(&self) -> &str {
        &self.conditions_json
    }
    /// Whether it comes from `typedAudiences` (otherwise from legacy `audiences`).
    pub fn is_typed(&self) -> bool {
        self.is_typed
    }
    /// Whether this is the `$opt_dummy_audience` placeholder.
    pub fn is_placeholder(&self) -> bool {
        self.id == DUMMY_AUDIENCE_ID
    }
}

/// An attribute declared in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub(crate) id: String,
    pub(crate) key: String,
}

impl Attribute {
    /// Attribute id (the event `entity_id`).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Attribute key (the user attribute name).
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A conversion event declared in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) experiment_ids: Vec<String>,
}

impl Event {
    /// Event id (the conversion's `entity_id`).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Event key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// `experimentIds` as written.
    pub fn experiment_ids(&self) -> &[String] {
        &self.experiment_ids
    }
}

/// Which logx endpoint events go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Region {
    /// `https://logx.optimizely.com/v1/events` (default, and for unknown regions).
    #[default]
    Us,
    /// `https://eu.logx.optimizely.com/v1/events`.
    Eu,
}

impl Region {
    pub(crate) fn parse(region: Option<&str>) -> Self {
        match region {
            Some("EU") => Self::Eu,
            _ => Self::Us,
        }
    }
}
