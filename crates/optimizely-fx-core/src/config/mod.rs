//! The immutable, indexed project configuration built once from a datafile.
//!
//! Everything decide and the event builders need is resolved at parse time: arenas of
//! entities addressed by 32-bit indices, hash indexes from ids and keys to those indices,
//! compiled audience conditions, and traffic allocations whose targets are already indices.
//!
//! The config keeps the datafile text (it is handed back by [`ProjectConfig::datafile`]) and
//! its entities' strings are ranges of that text, so loading copies no id or key: a config
//! costs the text plus a few compact arrays.

mod build;
#[cfg(test)]
mod differential_tests;
mod entities;
mod read;
pub(crate) mod text;

pub use entities::{
    Attribute, Audience, AudienceIndex, Cmab, DUMMY_AUDIENCE_ID, Event, Experiment,
    ExperimentIndex, ExperimentOrigin, ExperimentRuleRef, ExperimentType, Flag, FlagIndex,
    ForcedVariation, Group, GroupIndex, Holdout, HoldoutIndex, Region, Rollout, RolloutIndex,
    TrafficAllocation, TrafficRange, Variable, VariableType, VariableUsage, Variation,
    VariationIndex,
};
pub(crate) use entities::{
    AttributeData, AudienceData, CmabData, EventData, ExperimentData, ExperimentExtras, FlagData,
    ForcedData, GroupData, HoldoutData, NONE, RangeData, RolloutData, RuleRefData, Span, UsageData,
    VariableData, VariationData,
};

use crate::condition::{LeafData, Node, RefData};
use crate::datafile::{DatafileError, DatafileVersion, DatafileWarning};
use crate::odp::OdpIntegration;
use std::fmt;
use text::{OptStr, Str, StrIndex, Strings};

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
    /// The datafile text, then the string pool (from `pool_start` on): one buffer, which a
    /// [`Str`] offset addresses directly.
    pub(crate) text: String,
    pub(crate) pool_start: usize,
    pub(crate) version: DatafileVersion,
    pub(crate) account_id: Str,
    pub(crate) project_id: Str,
    pub(crate) revision: Str,
    pub(crate) sdk_key: OptStr,
    pub(crate) environment_key: OptStr,
    pub(crate) anonymize_ip: bool,
    pub(crate) bot_filtering: Option<bool>,
    pub(crate) send_flag_decisions: bool,
    pub(crate) region: Region,

    pub(crate) experiments: Box<[ExperimentData]>,
    pub(crate) experiment_extras: Box<[ExperimentExtras]>,
    pub(crate) experiment_by_id: StrIndex,
    pub(crate) experiment_by_key: StrIndex,
    pub(crate) variations: Box<[VariationData]>,
    pub(crate) variation_by_id: StrIndex,
    pub(crate) usages: Box<[UsageData]>,
    pub(crate) ranges: Box<[RangeData]>,
    pub(crate) forced: Box<[ForcedData]>,
    pub(crate) cmabs: Box<[CmabData]>,
    pub(crate) flags: Box<[FlagData]>,
    pub(crate) flag_by_key: StrIndex,
    pub(crate) variables: Box<[VariableData]>,
    pub(crate) rule_refs: Box<[RuleRefData]>,
    pub(crate) rollouts: Box<[RolloutData]>,
    pub(crate) rollout_by_id: StrIndex,
    pub(crate) groups: Box<[GroupData]>,
    pub(crate) group_by_id: StrIndex,
    pub(crate) audiences: Box<[AudienceData]>,
    pub(crate) audience_by_id: StrIndex,
    pub(crate) nodes: Box<[Node]>,
    pub(crate) leaves: Box<[LeafData]>,
    pub(crate) audience_refs: Box<[RefData]>,
    pub(crate) attributes: Box<[AttributeData]>,
    pub(crate) attribute_by_key: StrIndex,
    pub(crate) attribute_by_id: StrIndex,
    pub(crate) events: Box<[EventData]>,
    pub(crate) event_by_key: StrIndex,
    pub(crate) holdouts: Box<[HoldoutData]>,
    pub(crate) global_holdouts: Span,

    /// Lists of strings (event experiment ids, audience ids, included rules, segments, …).
    pub(crate) strs: Box<[Str]>,
    pub(crate) variation_refs: Box<[VariationIndex]>,
    pub(crate) experiment_refs: Box<[ExperimentIndex]>,
    pub(crate) flag_refs: Box<[FlagIndex]>,
    pub(crate) holdout_refs: Box<[HoldoutIndex]>,
    /// The slots of every `StrIndex` above.
    pub(crate) index_slots: Box<[u32]>,

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
    /// without copying it (its spare capacity is released).
    pub fn parse_owned(mut json: String) -> Result<Self, DatafileError> {
        if json.len() > text::MAX_TEXT_LEN {
            return Err(DatafileError::TooLarge {
                limit: text::MAX_TEXT_LEN as u64,
            });
        }
        let parts = read::read(&json)?;
        let (mut config, pool) = build::build(parts)?;
        config.pool_start = json.len();
        json.reserve_exact(pool.len());
        json.push_str(&pool);
        json.shrink_to_fit();
        config.text = json;
        build::evaluate_for_blank_user(&mut config);
        Ok(config)
    }

    #[inline]
    pub(crate) fn strings(&self) -> Strings<'_> {
        let (text, pool) = self
            .text
            .split_at_checked(self.pool_start)
            .unwrap_or_default();
        Strings { text, pool }
    }

    #[inline]
    pub(crate) fn str(&self, s: Str) -> &str {
        let (start, end) = s.bounds();
        self.text.get(start..end).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn bytes(&self, s: Str) -> &[u8] {
        let (start, end) = s.bounds();
        self.text.as_bytes().get(start..end).unwrap_or_default()
    }

    pub(crate) fn strs(&self, span: Span) -> &[Str] {
        span.of(&self.strs)
    }

    /// The position in `arena` of the entity whose string `field` is `key`, found through
    /// `index`.
    #[inline]
    fn position<T>(
        &self,
        index: StrIndex,
        arena: &[T],
        field: impl Fn(&T) -> Str,
        key: &str,
    ) -> Option<usize> {
        index.get(&self.index_slots, key, |i| self.bytes(field(&arena[i])))
    }

    pub(crate) fn str_list(&self, span: Span) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.strs(span).iter().map(|&s| self.str(s))
    }

    /// The original datafile text.
    pub fn datafile(&self) -> &str {
        self.text.get(..self.pool_start).unwrap_or_default()
    }
    /// Datafile format version.
    pub fn version(&self) -> DatafileVersion {
        self.version
    }
    /// `revision` (event `revision`; config updates happen only when it changes).
    pub fn revision(&self) -> &str {
        self.str(self.revision)
    }
    /// `accountId` (event `account_id`).
    pub fn account_id(&self) -> &str {
        self.str(self.account_id)
    }
    /// `projectId` (event `project_id`).
    pub fn project_id(&self) -> &str {
        self.str(self.project_id)
    }
    /// `sdkKey`, when present.
    pub fn sdk_key(&self) -> Option<&str> {
        self.strings().opt(self.sdk_key)
    }
    /// `environmentKey`, when present.
    pub fn environment_key(&self) -> Option<&str> {
        self.strings().opt(self.environment_key)
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
    pub fn experiments(&self) -> impl ExactSizeIterator<Item = Experiment<'_>> + Clone + '_ {
        self.experiments
            .iter()
            .map(|data| Experiment { config: self, data })
    }
    /// The experiment at `index`. Panics only for an index from another config.
    #[inline]
    pub fn experiment(&self, index: ExperimentIndex) -> Experiment<'_> {
        Experiment {
            config: self,
            data: &self.experiments[index.get()],
        }
    }
    /// Experiment (or rule) by id; the last one wins when ids repeat.
    pub fn experiment_by_id(&self, id: &str) -> Option<ExperimentIndex> {
        self.position(self.experiment_by_id, &self.experiments, |e| e.id, id)
            .map(|i| ExperimentIndex(i as u32))
    }
    /// Experiment (or rule) by key; the last one wins when keys repeat.
    pub fn experiment_by_key(&self, key: &str) -> Option<ExperimentIndex> {
        self.position(self.experiment_by_key, &self.experiments, |e| e.key, key)
            .map(|i| ExperimentIndex(i as u32))
    }
    /// The experiment's variation with key `key` (the last one wins when keys repeat).
    pub fn experiment_variation_by_key(
        &self,
        experiment: ExperimentIndex,
        key: &str,
    ) -> Option<VariationIndex> {
        self.experiment(experiment)
            .variations()
            .iter()
            .rev()
            .copied()
            .find(|&v| self.variation(v).key() == key)
    }

    /// All variations (of experiments, rules and holdouts).
    pub fn variations(&self) -> impl ExactSizeIterator<Item = Variation<'_>> + Clone + '_ {
        self.variations
            .iter()
            .map(|data| Variation { config: self, data })
    }
    /// The variation at `index`. Panics only for an index from another config.
    #[inline]
    pub fn variation(&self, index: VariationIndex) -> Variation<'_> {
        Variation {
            config: self,
            data: &self.variations[index.get()],
        }
    }
    /// Variation by id, over all experiments, rules and holdouts (the last one wins).
    pub fn variation_by_id(&self, id: &str) -> Option<VariationIndex> {
        self.position(self.variation_by_id, &self.variations, |e| e.id, id)
            .map(|i| VariationIndex(i as u32))
    }

    /// All flags in datafile order.
    pub fn flags(&self) -> impl ExactSizeIterator<Item = Flag<'_>> + Clone + '_ {
        self.flags.iter().map(|data| Flag { config: self, data })
    }
    /// The flag at `index`. Panics only for an index from another config.
    #[inline]
    pub fn flag(&self, index: FlagIndex) -> Flag<'_> {
        Flag {
            config: self,
            data: &self.flags[index.get()],
        }
    }
    /// Flag by key.
    #[inline]
    pub fn flag_by_key(&self, key: &str) -> Option<FlagIndex> {
        self.position(self.flag_by_key, &self.flags, |e| e.key, key)
            .map(|i| FlagIndex(i as u32))
    }
    /// The flag's variation with key `key` (first in rule order), for forced decisions.
    pub fn flag_variation_by_key(&self, flag: FlagIndex, key: &str) -> Option<VariationIndex> {
        self.flag(flag)
            .variations()
            .iter()
            .copied()
            .find(|&v| self.variation(v).key() == key)
    }

    /// All rollouts.
    pub fn rollouts(&self) -> impl ExactSizeIterator<Item = Rollout<'_>> + Clone + '_ {
        self.rollouts
            .iter()
            .map(|data| Rollout { config: self, data })
    }
    /// The rollout at `index`. Panics only for an index from another config.
    pub fn rollout(&self, index: RolloutIndex) -> Rollout<'_> {
        Rollout {
            config: self,
            data: &self.rollouts[index.get()],
        }
    }
    /// Rollout by id.
    pub fn rollout_by_id(&self, id: &str) -> Option<RolloutIndex> {
        self.position(self.rollout_by_id, &self.rollouts, |e| e.id, id)
            .map(|i| RolloutIndex(i as u32))
    }

    /// All groups.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = Group<'_>> + Clone + '_ {
        self.groups.iter().map(|data| Group { config: self, data })
    }
    /// The group at `index`. Panics only for an index from another config.
    pub fn group(&self, index: GroupIndex) -> Group<'_> {
        Group {
            config: self,
            data: &self.groups[index.get()],
        }
    }
    /// Group by id.
    pub fn group_by_id(&self, id: &str) -> Option<GroupIndex> {
        self.position(self.group_by_id, &self.groups, |e| e.id, id)
            .map(|i| GroupIndex(i as u32))
    }

    /// All audiences: typed ones first, then legacy ones not overridden by a typed one
    /// (including the `$opt_dummy_audience` placeholder, see [`Audience::is_placeholder`]).
    pub fn audiences(&self) -> impl ExactSizeIterator<Item = Audience<'_>> + Clone + '_ {
        self.audiences
            .iter()
            .map(|data| Audience { config: self, data })
    }
    /// The audience at `index`. Panics only for an index from another config.
    #[inline]
    pub fn audience(&self, index: AudienceIndex) -> Audience<'_> {
        Audience {
            config: self,
            data: &self.audiences[index.get()],
        }
    }
    /// Audience by id.
    pub fn audience_by_id(&self, id: &str) -> Option<AudienceIndex> {
        self.position(self.audience_by_id, &self.audiences, |e| e.id, id)
            .map(|i| AudienceIndex(i as u32))
    }

    /// All attributes in datafile order.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = Attribute<'_>> + Clone + '_ {
        self.attributes
            .iter()
            .map(|data| Attribute { config: self, data })
    }
    /// Attribute by key (for event `entity_id`s).
    pub fn attribute_by_key(&self, key: &str) -> Option<Attribute<'_>> {
        let position = self.position(self.attribute_by_key, &self.attributes, |e| e.key, key)?;
        Some(Attribute {
            config: self,
            data: &self.attributes[position],
        })
    }
    /// Attribute by id.
    pub fn attribute_by_id(&self, id: &str) -> Option<Attribute<'_>> {
        let position = self.position(self.attribute_by_id, &self.attributes, |e| e.id, id)?;
        Some(Attribute {
            config: self,
            data: &self.attributes[position],
        })
    }

    /// All events in datafile order.
    pub fn events(&self) -> impl ExactSizeIterator<Item = Event<'_>> + Clone + '_ {
        self.events.iter().map(|data| Event { config: self, data })
    }
    /// Event by key (for `track`).
    pub fn event_by_key(&self, key: &str) -> Option<Event<'_>> {
        let position = self.position(self.event_by_key, &self.events, |e| e.key, key)?;
        Some(Event {
            config: self,
            data: &self.events[position],
        })
    }

    /// All holdouts: global ones, then local ones that apply to at least one rule.
    pub fn holdouts(&self) -> impl ExactSizeIterator<Item = Holdout<'_>> + Clone + '_ {
        self.holdouts
            .iter()
            .map(|data| Holdout { config: self, data })
    }
    /// The holdout at `index`. Panics only for an index from another config.
    pub fn holdout(&self, index: HoldoutIndex) -> Holdout<'_> {
        Holdout {
            config: self,
            data: &self.holdouts[index.get()],
        }
    }
    /// Global holdouts (`holdouts[]`), in datafile order; they apply to every flag.
    #[inline]
    pub fn global_holdouts(&self) -> &[HoldoutIndex] {
        self.global_holdouts.of(&self.holdout_refs)
    }
    /// Local holdouts targeting the rule with id `rule_id`, in datafile order.
    pub fn rule_holdouts(&self, rule_id: &str) -> &[HoldoutIndex] {
        self.experiment_by_id(rule_id)
            .map_or(&[], |rule| self.experiment(rule).local_holdouts())
    }
}

impl fmt::Debug for ProjectConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectConfig")
            .field("version", &self.version)
            .field("revision", &self.revision())
            .field("account_id", &self.account_id())
            .field("project_id", &self.project_id())
            .field("flags", &self.flags.len())
            .field("experiments", &self.experiment_count)
            .field("audiences", &self.audience_count)
            .field("odp_integrated", &self.odp.is_some())
            .finish_non_exhaustive()
    }
}
