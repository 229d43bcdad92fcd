//! The immutable, indexed project configuration built once from a datafile.
//!
//! Everything decide and the event builders need is resolved at parse time: arenas of
//! entities addressed by 32-bit indices, hash maps from ids and keys to those indices,
//! compiled audience conditions, and traffic allocations whose targets are already indices.

mod build;
mod entities;

pub use entities::{
    Attribute, Audience, AudienceIndex, Cmab, DUMMY_AUDIENCE_ID, Event, Experiment,
    ExperimentIndex, ExperimentOrigin, ExperimentRuleRef, ExperimentType, Flag, FlagIndex,
    ForcedVariation, Group, GroupIndex, Holdout, HoldoutIndex, Region, Rollout, RolloutIndex,
    TrafficRange, Variable, VariableType, VariableUsage, Variation, VariationIndex,
};

use crate::datafile::{DatafileError, DatafileVersion, DatafileWarning};
use crate::odp::OdpIntegration;
use rustc_hash::FxHashMap;
use std::fmt;

/// A parsed, validated and indexed datafile. Immutable; cheap to share behind an `Arc`.
///
/// ```
/// use optimizely_fx_core::ProjectConfig;
///
/// let config = ProjectConfig::parse(
///     r#"{"version": "4", "accountId": "1", "projectId": "2", "revision": "3"}"#,
/// )
/// .unwrap();
/// assert_eq!(config.revision(), "3");
/// assert_eq!(config.flag_count(), 0);
/// ```
pub struct ProjectConfig {
    pub(crate) datafile: String,
    pub(crate) version: DatafileVersion,
    pub(crate) account_id: String,
    pub(crate) project_id: String,
    pub(crate) revision: String,
    pub(crate) sdk_key: Option<String>,
    pub(crate) environment_key: Option<String>,
    pub(crate) anonymize_ip: bool,
    pub(crate) bot_filtering: Option<bool>,
    pub(crate) send_flag_decisions: bool,
    pub(crate) region: Region,

    pub(crate) experiments: Vec<Experiment>,
    pub(crate) experiment_by_id: FxHashMap<String, ExperimentIndex>,
    pub(crate) experiment_by_key: FxHashMap<String, ExperimentIndex>,
    pub(crate) variations: Vec<Variation>,
    pub(crate) variation_by_id: FxHashMap<String, VariationIndex>,
    pub(crate) flags: Vec<Flag>,
    pub(crate) flag_by_key: FxHashMap<String, FlagIndex>,
    pub(crate) rollouts: Vec<Rollout>,
    pub(crate) rollout_by_id: FxHashMap<String, RolloutIndex>,
    pub(crate) groups: Vec<Group>,
    pub(crate) group_by_id: FxHashMap<String, GroupIndex>,
    pub(crate) audiences: Vec<Audience>,
    pub(crate) audience_by_id: FxHashMap<String, AudienceIndex>,
    pub(crate) attributes: Vec<Attribute>,
    pub(crate) attribute_by_key: FxHashMap<String, usize>,
    pub(crate) attribute_by_id: FxHashMap<String, usize>,
    pub(crate) events: Vec<Event>,
    pub(crate) event_by_key: FxHashMap<String, usize>,
    pub(crate) holdouts: Vec<Holdout>,
    pub(crate) global_holdouts: Vec<HoldoutIndex>,
    pub(crate) rule_holdouts: FxHashMap<String, Vec<HoldoutIndex>>,

    pub(crate) odp: Option<OdpIntegration>,
    pub(crate) experiment_count: usize,
    pub(crate) audience_count: usize,
    pub(crate) warnings: Vec<DatafileWarning>,
}

impl ProjectConfig {
    /// Parses, checks and indexes a datafile.
    ///
    /// Accepts datafile versions `"2"`, `"3"` and `"4"`. Unknown fields are ignored and
    /// missing arrays are empty; ids written as JSON numbers are read as their decimal text.
    /// Never panics; every rejection is a [`DatafileError`].
    pub fn parse(json: &str) -> Result<Self, DatafileError> {
        Self::parse_owned(json.to_owned())
    }

    /// Like [`parse`](Self::parse), keeping `json` as the [`datafile`](Self::datafile) text
    /// without copying it.
    pub fn parse_owned(json: String) -> Result<Self, DatafileError> {
        let (raw, version) = crate::datafile::parse_raw(&json)?;
        build::build(raw, version, json)
    }

    /// The original datafile text.
    pub fn datafile(&self) -> &str {
        &self.datafile
    }
    /// Datafile format version.
    pub fn version(&self) -> DatafileVersion {
        self.version
    }
    /// `revision` (event `revision`; config updates happen only when it changes).
    pub fn revision(&self) -> &str {
        &self.revision
    }
    /// `accountId` (event `account_id`).
    pub fn account_id(&self) -> &str {
        &self.account_id
    }
    /// `projectId` (event `project_id`).
    pub fn project_id(&self) -> &str {
        &self.project_id
    }
    /// `sdkKey`, when present.
    pub fn sdk_key(&self) -> Option<&str> {
        self.sdk_key.as_deref()
    }
    /// `environmentKey`, when present.
    pub fn environment_key(&self) -> Option<&str> {
        self.environment_key.as_deref()
    }
    /// `anonymizeIP` (false when absent).
    pub fn anonymize_ip(&self) -> bool {
        self.anonymize_ip
    }
    /// `botFiltering` when present (sent as `$opt_bot_filtering` only then).
    pub fn bot_filtering(&self) -> Option<bool> {
        self.bot_filtering
    }
    /// `sendFlagDecisions` (false when absent).
    pub fn send_flag_decisions(&self) -> bool {
        self.send_flag_decisions
    }
    /// Event region (`US` unless the datafile says `EU`).
    pub fn region(&self) -> Region {
        self.region
    }
    /// The ODP integration, present only when the first `odp` integration has a non-empty
    /// `publicKey` and `host`.
    pub fn odp(&self) -> Option<&OdpIntegration> {
        self.odp.as_ref()
    }
    /// Things worth logging once about an accepted datafile.
    pub fn warnings(&self) -> &[DatafileWarning] {
        &self.warnings
    }

    /// Number of flags (`featureFlags`).
    pub fn flag_count(&self) -> usize {
        self.flags.len()
    }
    /// Number of experiments that are not delivery rules (top level and group members).
    pub fn experiment_count(&self) -> usize {
        self.experiment_count
    }
    /// Number of audiences after typed audiences override legacy ones, without the
    /// `$opt_dummy_audience` placeholder.
    pub fn audience_count(&self) -> usize {
        self.audience_count
    }

    /// All experiment entries: top level, then group members, then delivery rules.
    pub fn experiments(&self) -> &[Experiment] {
        &self.experiments
    }
    /// The experiment at `index`. Panics only for an index from another config.
    pub fn experiment(&self, index: ExperimentIndex) -> &Experiment {
        &self.experiments[index.get()]
    }
    /// Experiment (or rule) by id; the last one wins when ids repeat.
    pub fn experiment_by_id(&self, id: &str) -> Option<ExperimentIndex> {
        self.experiment_by_id.get(id).copied()
    }
    /// Experiment (or rule) by key; the last one wins when keys repeat.
    pub fn experiment_by_key(&self, key: &str) -> Option<ExperimentIndex> {
        self.experiment_by_key.get(key).copied()
    }
    /// The experiment's variation with key `key` (the last one wins when keys repeat).
    pub fn experiment_variation_by_key(
        &self,
        experiment: ExperimentIndex,
        key: &str,
    ) -> Option<VariationIndex> {
        self.experiment(experiment)
            .variations
            .iter()
            .rev()
            .copied()
            .find(|&v| self.variation(v).key == key)
    }

    /// All variations (of experiments, rules and holdouts).
    pub fn variations(&self) -> &[Variation] {
        &self.variations
    }
    /// The variation at `index`. Panics only for an index from another config.
    pub fn variation(&self, index: VariationIndex) -> &Variation {
        &self.variations[index.get()]
    }
    /// Variation by id, over all experiments, rules and holdouts (the last one wins).
    pub fn variation_by_id(&self, id: &str) -> Option<VariationIndex> {
        self.variation_by_id.get(id).copied()
    }

    /// All flags in datafile order.
    pub fn flags(&self) -> &[Flag] {
        &self.flags
    }
    /// The flag at `index`. Panics only for an index from another config.
    pub fn flag(&self, index: FlagIndex) -> &Flag {
        &self.flags[index.get()]
    }
    /// Flag by key.
    pub fn flag_by_key(&self, key: &str) -> Option<FlagIndex> {
        self.flag_by_key.get(key).copied()
    }
    /// The flag's variation with key `key` (first in rule order), for forced decisions.
    pub fn flag_variation_by_key(&self, flag: FlagIndex, key: &str) -> Option<VariationIndex> {
        self.flag(flag)
            .variations
            .iter()
            .copied()
            .find(|&v| self.variation(v).key == key)
    }

    /// All rollouts.
    pub fn rollouts(&self) -> &[Rollout] {
        &self.rollouts
    }
    /// The rollout at `index`. Panics only for an index from another config.
    pub fn rollout(&self, index: RolloutIndex) -> &Rollout {
        &self.rollouts[index.get()]
    }
    /// Rollout by id.
    pub fn rollout_by_id(&self, id: &str) -> Option<RolloutIndex> {
        self.rollout_by_id.get(id).copied()
    }

    /// All groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
    /// The group at `index`. Panics only for an index from another config.
    pub fn group(&self, index: GroupIndex) -> &Group {
        &self.groups[index.get()]
    }
    /// Group by id.
    pub fn group_by_id(&self, id: &str) -> Option<GroupIndex> {
        self.group_by_id.get(id).copied()
    }

    /// All audiences: typed ones first, then legacy ones not overridden by a typed one
    /// (including the `$opt_dummy_audience` placeholder, see [`Audience::is_placeholder`]).
    pub fn audiences(&self) -> &[Audience] {
        &self.audiences
    }
    /// The audience at `index`. Panics only for an index from another config.
    pub fn audience(&self, index: AudienceIndex) -> &Audience {
        &self.audiences[index.get()]
    }
    /// Audience by id.
    pub fn audience_by_id(&self, id: &str) -> Option<AudienceIndex> {
        self.audience_by_id.get(id).copied()
    }

    /// All attributes in datafile order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
    /// Attribute by key (for event `entity_id`s).
    pub fn attribute_by_key(&self, key: &str) -> Option<&Attribute> {
        self.attribute_by_key
            .get(key)
            .and_then(|&i| self.attributes.get(i))
    }
    /// Attribute by id.
    pub fn attribute_by_id(&self, id: &str) -> Option<&Attribute> {
        self.attribute_by_id
            .get(id)
            .and_then(|&i| self.attributes.get(i))
    }

    /// All events in datafile order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// Event by key (for `track`).
    pub fn event_by_key(&self, key: &str) -> Option<&Event> {
        self.event_by_key.get(key).and_then(|&i| self.events.get(i))
    }

    /// All holdouts: global ones, then local ones that apply to at least one rule.
    pub fn holdouts(&self) -> &[Holdout] {
        &self.holdouts
    }
    /// The holdout at `index`. Panics only for an index from another config.
    pub fn holdout(&self, index: HoldoutIndex) -> &Holdout {
        &self.holdouts[index.get()]
    }
    /// Global holdouts (`holdouts[]`), in datafile order; they apply to every flag.
    pub fn global_holdouts(&self) -> &[HoldoutIndex] {
        &self.global_holdouts
    }
    /// Local holdouts targeting the rule with id `rule_id`, in datafile order.
    pub fn rule_holdouts(&self, rule_id: &str) -> &[HoldoutIndex] {
        self.rule_holdouts.get(rule_id).map_or(&[], Vec::as_slice)
    }
}

impl fmt::Debug for ProjectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectConfig")
            .field("version", &self.version)
            .field("revision", &self.revision)
            .field("account_id", &self.account_id)
            .field("project_id", &self.project_id)
            .field("flags", &self.flags.len())
            .field("experiments", &self.experiment_count)
            .field("audiences", &self.audience_count)
            .field("odp_integrated", &self.odp.is_some())
            .finish_non_exhaustive()
    }
}
