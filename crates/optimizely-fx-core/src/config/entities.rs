//! The entities of a [`ProjectConfig`]: how they are stored, and the views it hands out.
//!
//! Entities live in arenas (`Box<[_]>`s) inside the config and refer to each other through
//! the 32-bit index types below; their strings are [`Str`] ranges of the datafile text or of
//! the config's string pool, and their lists are [`Span`]s of shared arenas. The public types
//! ([`Experiment`], [`Variation`], …) are small `Copy` views pairing the stored data with its
//! config, so their getters return plain `&str`s and slices. An index is valid only for the
//! config that produced it.

use super::ProjectConfig;
use super::text::{OptStr, Str};
use crate::condition::{AudiencesData, ConditionTree, ExperimentAudiences, LeafCondition};
use std::fmt;
use std::sync::OnceLock;

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

/// A position that refers to nothing.
pub(crate) const NONE: u32 = u32::MAX;

/// A range of one of the config's shared arenas (an entity's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Span {
    /// The elements of `arena` from `start` to its end.
    pub(crate) fn from(start: usize, arena_len: usize) -> Self {
        Span {
            start: start as u32,
            len: (arena_len - start) as u32,
        }
    }

    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }

    /// The same elements in `arena`, or nothing for a span of another arena.
    pub(crate) fn of<T>(self, arena: &[T]) -> &[T] {
        arena.get(self.range()).unwrap_or_default()
    }
}

fn optional<T: From<u32>>(position: u32) -> Option<T> {
    (position != NONE).then(|| T::from(position))
}

macro_rules! from_u32 {
    ($($name:ident),*) => {$(
        impl From<u32> for $name {
            fn from(position: u32) -> Self {
                $name(position)
            }
        }
    )*};
}
from_u32!(
    ExperimentIndex,
    VariationIndex,
    FlagIndex,
    AudienceIndex,
    GroupIndex,
    RolloutIndex,
    HoldoutIndex
);

/// A view: some stored data with the config that holds its strings and lists.
macro_rules! view {
    ($(#[$doc:meta])* $name:ident, $data:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'c> {
            pub(crate) config: &'c ProjectConfig,
            pub(crate) data: &'c $data,
        }
    };
}

/// Getters returning the text of a view's string fields, each named as its field.
macro_rules! str_getters {
    ($($(#[$doc:meta])* $field:ident,)*) => {$(
        $(#[$doc])*
        pub fn $field(&self) -> &'c str {
            self.config.str(self.data.$field)
        }
    )*};
}

/// `Debug` for a view, through the getters named (`..` when it shows only some).
macro_rules! debug_view {
    (@with $finish:ident $name:ident: $($field:ident),*) => {
        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &self.$field()))*
                    .$finish()
            }
        }
    };
    ($name:ident: $($field:ident),*, ..) => {
        debug_view!(@with finish_non_exhaustive $name: $($field),*);
    };
    ($name:ident: $($field:ident),*) => {
        debug_view!(@with finish $name: $($field),*);
    };
}

// ----- variations -----

/// A stored variation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VariationData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) variables: Span,
    pub(crate) feature_enabled: bool,
}

view!(
    /// A variation of an experiment, delivery rule or holdout.
    Variation,
    VariationData
);

impl<'c> Variation<'c> {
    str_getters! {
        /// Variation id.
        id,
        /// Variation key.
        key,
    }
    /// `featureEnabled` (false when absent).
    pub fn feature_enabled(&self) -> bool {
        self.data.feature_enabled
    }
    /// The variation's variable values, in datafile order. When several variations share
    /// this id, all carry the values of the last one (the official SDKs look values up by
    /// variation id).
    pub fn variables(&self) -> impl ExactSizeIterator<Item = VariableUsage<'c>> + use<'c> {
        let config = self.config;
        self.data
            .variables
            .of(&config.usages)
            .iter()
            .map(move |data| VariableUsage { config, data })
    }
    /// This variation's entry for the flag variable with id `variable_id` (the last entry
    /// wins when an id is listed twice).
    pub fn variable_usage(&self, variable_id: &str) -> Option<VariableUsage<'c>> {
        let config = self.config;
        self.data
            .variables
            .of(&config.usages)
            .iter()
            .rev()
            .find(|usage| config.str(usage.variable_id) == variable_id)
            .map(|data| VariableUsage { config, data })
    }
}

debug_view!(Variation: id, key, feature_enabled);

/// A stored `{id, value}` entry of a variation's `variables`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageData {
    pub(crate) variable_id: Str,
    pub(crate) value: OptStr,
}

view!(
    /// One `{id, value}` entry of a variation's `variables`.
    VariableUsage,
    UsageData
);

impl<'c> VariableUsage<'c> {
    str_getters! {
        /// Id of the flag variable.
        variable_id,
    }
    /// The value as written in the datafile (cast by the variable's type when used);
    /// `None` when it is absent or not a JSON string, which casts to null.
    pub fn value(&self) -> Option<&'c str> {
        self.config.strings().opt(self.data.value)
    }
}

debug_view!(VariableUsage: variable_id, value);

// ----- traffic allocation -----

/// A stored range of a traffic allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangeData {
    pub(crate) end_of_range: u32,
    pub(crate) entity_id: Str,
    pub(crate) target: u32,
}

/// One range of a traffic allocation: bucket values below `end_of_range` (and at or above the
/// previous range's end) go to `entity_id`.
pub struct TrafficRange<'c, T> {
    config: &'c ProjectConfig,
    pub(crate) data: &'c RangeData,
    target: std::marker::PhantomData<T>,
}

impl<T> Clone for TrafficRange<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for TrafficRange<'_, T> {}

impl<'c, T: From<u32>> TrafficRange<'c, T> {
    /// Exclusive upper bound of the range (0..=10000 in practice).
    pub fn end_of_range(&self) -> u32 {
        self.data.end_of_range
    }
    str_getters! {
        /// The entity id as written (`""` means unallocated traffic).
        entity_id,
    }
    /// The entity resolved at parse time; `None` when the id is empty or unknown, which
    /// means "not bucketed".
    pub fn target(&self) -> Option<T> {
        optional(self.data.target)
    }
}

impl<T: From<u32> + fmt::Debug> fmt::Debug for TrafficRange<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrafficRange")
            .field("end_of_range", &self.end_of_range())
            .field("entity_id", &self.entity_id())
            .field("target", &self.target())
            .finish()
    }
}

/// The ranges of a traffic allocation, in datafile order.
pub struct TrafficAllocation<'c, T> {
    config: &'c ProjectConfig,
    ranges: &'c [RangeData],
    target: std::marker::PhantomData<T>,
}

impl<T> Clone for TrafficAllocation<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for TrafficAllocation<'_, T> {}

impl<'c, T: From<u32>> TrafficAllocation<'c, T> {
    fn new(config: &'c ProjectConfig, span: Span) -> Self {
        TrafficAllocation {
            config,
            ranges: span.of(&config.ranges),
            target: std::marker::PhantomData,
        }
    }

    fn view(&self, data: &'c RangeData) -> TrafficRange<'c, T> {
        TrafficRange {
            config: self.config,
            data,
            target: std::marker::PhantomData,
        }
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The range at `position`.
    pub fn get(&self, position: usize) -> Option<TrafficRange<'c, T>> {
        self.ranges.get(position).map(|data| self.view(data))
    }
    /// The last range.
    pub fn last(&self) -> Option<TrafficRange<'c, T>> {
        self.ranges.last().map(|data| self.view(data))
    }
    /// Every range, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TrafficRange<'c, T>> + use<'c, T>
    where
        T: 'c,
    {
        let this = *self;
        this.ranges.iter().map(move |data| this.view(data))
    }
    /// The first range whose exclusive end is above `bucket`: where a user with that bucket
    /// value lands.
    #[inline]
    pub fn range_for(&self, bucket: u32) -> Option<TrafficRange<'c, T>> {
        self.range_data_for(bucket).map(|data| self.view(data))
    }

    #[inline]
    pub(crate) fn range_data_for(&self, bucket: u32) -> Option<&'c RangeData> {
        self.ranges.iter().find(|range| bucket < range.end_of_range)
    }
}

impl<T: From<u32> + fmt::Debug> fmt::Debug for TrafficAllocation<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// ----- experiments -----

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExperimentType<'c> {
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
    Other(&'c str),
}

/// Stored CMAB settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CmabData {
    pub(crate) attribute_ids: Span,
    pub(crate) traffic_allocation: u32,
}

view!(
    /// CMAB settings of an experiment.
    Cmab,
    CmabData
);

impl<'c> Cmab<'c> {
    /// Attribute ids sent to the prediction service.
    pub fn attribute_ids(&self) -> impl ExactSizeIterator<Item = &'c str> + use<'c> {
        self.config.str_list(self.data.attribute_ids)
    }
    /// End of the single traffic range (`{entityId: "$", endOfRange: <this>}`).
    pub fn traffic_allocation(&self) -> u32 {
        self.data.traffic_allocation
    }
}

impl fmt::Debug for Cmab<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cmab")
            .field("attribute_ids", &self.attribute_ids().collect::<Vec<_>>())
            .field("traffic_allocation", &self.traffic_allocation())
            .finish()
    }
}

/// A stored whitelist entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForcedData {
    pub(crate) user_id: Str,
    pub(crate) variation_key: Str,
    pub(crate) variation: u32,
}

view!(
    /// A whitelist entry of `forcedVariations`: user id → variation key.
    ForcedVariation,
    ForcedData
);

impl<'c> ForcedVariation<'c> {
    str_getters! {
        /// The user id.
        user_id,
        /// The variation key as written.
        variation_key,
    }
    /// The experiment's variation with that key; `None` when the key is not one of them.
    pub fn variation(&self) -> Option<VariationIndex> {
        optional(self.data.variation)
    }
}

impl PartialEq for ForcedVariation<'_> {
    fn eq(&self, other: &Self) -> bool {
        (self.user_id(), self.variation_key(), self.variation())
            == (other.user_id(), other.variation_key(), other.variation())
    }
}

debug_view!(ForcedVariation: user_id, variation_key, variation);

/// An experiment, group member or delivery rule while the config is built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExperimentRecord {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) status: Str,
    pub(crate) layer_id: Str,
    pub(crate) experiment_type: OptStr,
    pub(crate) origin: ExperimentOrigin,
    pub(crate) mutex_group: u32,
    pub(crate) variations: Span,
    pub(crate) traffic_allocation: Span,
    pub(crate) audiences: AudiencesData,
    /// Sorted by user id.
    pub(crate) forced_variations: Span,
    pub(crate) cmab: u32,
    pub(crate) flags: Span,
    pub(crate) local_holdouts: Span,
    pub(crate) is_running: bool,
}

/// The `type` of a stored experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeCode {
    Absent,
    Ab,
    Mab,
    Cmab,
    Td,
    Fr,
    /// Kept as written in the experiment's extras.
    Other,
}

/// A stored experiment, group member or delivery rule: what every decision reads, and the
/// position of what few experiments have (`NONE` when it has none of it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExperimentData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) status: Str,
    pub(crate) layer_id: Str,
    pub(crate) origin: ExperimentOrigin,
    pub(crate) variations: Span,
    pub(crate) traffic_allocation: Span,
    pub(crate) audiences: AudiencesData,
    pub(crate) extras: u32,
    pub(crate) type_code: TypeCode,
    pub(crate) is_running: bool,
    /// No two of its variations share a key.
    pub(crate) unique_variation_keys: bool,
    /// Its variations are consecutive in the variation arena, in order.
    pub(crate) contiguous_variations: bool,
}

/// What only some experiments have: an unknown `type`, a mutual-exclusion group, a
/// whitelist, CMAB settings, flags listing them, local holdouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExperimentExtras {
    pub(crate) experiment_type: OptStr,
    pub(crate) mutex_group: u32,
    /// Sorted by user id.
    pub(crate) forced_variations: Span,
    pub(crate) cmab: u32,
    pub(crate) flags: Span,
    pub(crate) local_holdouts: Span,
}

impl ExperimentExtras {
    const NONE: ExperimentExtras = ExperimentExtras {
        experiment_type: OptStr::NONE,
        mutex_group: NONE,
        forced_variations: Span { start: 0, len: 0 },
        cmab: NONE,
        flags: Span { start: 0, len: 0 },
        local_holdouts: Span { start: 0, len: 0 },
    };
}

impl ExperimentRecord {
    /// The stored form; `extras` receives what only some experiments have.
    pub(crate) fn compact(
        &self,
        type_name: Option<&str>,
        variations: &[VariationIndex],
        unique_variation_keys: bool,
        extras: &mut Vec<ExperimentExtras>,
    ) -> ExperimentData {
        let contiguous_variations = variations.windows(2).all(|v| v[1].0 == v[0].0 + 1);
        let type_code = match type_name {
            None => TypeCode::Absent,
            Some("ab") => TypeCode::Ab,
            Some("mab") => TypeCode::Mab,
            Some("cmab") => TypeCode::Cmab,
            Some("td") => TypeCode::Td,
            Some("fr") => TypeCode::Fr,
            Some(_) => TypeCode::Other,
        };
        let own = ExperimentExtras {
            experiment_type: match type_code {
                TypeCode::Other => self.experiment_type,
                _ => OptStr::NONE,
            },
            mutex_group: self.mutex_group,
            forced_variations: self.forced_variations,
            cmab: self.cmab,
            flags: self.flags,
            local_holdouts: self.local_holdouts,
        };
        let has_extras = type_code == TypeCode::Other
            || own.mutex_group != NONE
            || own.cmab != NONE
            || own.forced_variations.len > 0
            || own.flags.len > 0
            || own.local_holdouts.len > 0;
        let position = match has_extras {
            true => {
                extras.push(own);
                (extras.len() - 1) as u32
            }
            false => NONE,
        };
        ExperimentData {
            id: self.id,
            key: self.key,
            status: self.status,
            layer_id: self.layer_id,
            origin: self.origin,
            variations: self.variations,
            traffic_allocation: self.traffic_allocation,
            audiences: self.audiences,
            extras: position,
            type_code,
            is_running: self.is_running,
            unique_variation_keys,
            contiguous_variations,
        }
    }
}

view!(
    /// An experiment, mutual-exclusion group member, or delivery rule (all share this shape).
    Experiment,
    ExperimentData
);

impl<'c> Experiment<'c> {
    str_getters! {
        /// Experiment (rule) id; the bucketing entity id.
        id,
        /// Experiment (rule) key.
        key,
        /// `status` as written (`""` when absent).
        status,
    }
    /// `status == "Running"`. Checked for experiment rules, not for delivery rules.
    pub fn is_running(&self) -> bool {
        self.data.is_running
    }
    str_getters! {
        /// `layerId` (`""` when absent); the impression's `campaign_id` when non-empty.
        layer_id,
    }
    /// The `type` field, when present.
    pub fn experiment_type(&self) -> Option<ExperimentType<'c>> {
        Some(match self.data.type_code {
            TypeCode::Absent => return None,
            TypeCode::Ab => ExperimentType::Ab,
            TypeCode::Mab => ExperimentType::Mab,
            TypeCode::Cmab => ExperimentType::Cmab,
            TypeCode::Td => ExperimentType::Td,
            TypeCode::Fr => ExperimentType::Fr,
            TypeCode::Other => {
                let name = self.config.strings().opt(self.extras().experiment_type);
                ExperimentType::Other(name.unwrap_or_default())
            }
        })
    }
    /// Whether the experiment has any of what only some experiments have (an unknown type,
    /// a mutual-exclusion group, a whitelist, CMAB settings, flags, local holdouts): decide
    /// skips those checks for the others.
    #[inline]
    pub(crate) fn has_extras(&self) -> bool {
        self.data.extras != NONE
    }
    /// Whether `variation` is one of the experiment's variations.
    #[inline]
    pub(crate) fn has_variation(&self, variation: VariationIndex) -> bool {
        let own = self.variations();
        match self.data.contiguous_variations {
            true => own
                .first()
                .is_some_and(|first| (first.0..first.0 + own.len() as u32).contains(&variation.0)),
            false => own.contains(&variation),
        }
    }
    /// What only some experiments have.
    #[inline]
    fn extras(&self) -> &'c ExperimentExtras {
        self.config
            .experiment_extras
            .get(self.data.extras as usize)
            .unwrap_or(&ExperimentExtras::NONE)
    }
    /// Where the entry comes from.
    pub fn origin(&self) -> ExperimentOrigin {
        self.data.origin
    }
    /// Whether this is a delivery rule of a rollout.
    pub fn is_delivery_rule(&self) -> bool {
        matches!(self.data.origin, ExperimentOrigin::Rollout(_))
    }
    /// The mutual-exclusion group to bucket through first (only `random`-policy groups).
    pub fn mutex_group(&self) -> Option<GroupIndex> {
        optional(self.extras().mutex_group)
    }
    /// The variations, in datafile order (plus an injected everyone-else variation for `fr`).
    pub fn variations(&self) -> &'c [VariationIndex] {
        self.data.variations.of(&self.config.variation_refs)
    }
    /// Traffic allocation in datafile order, targets resolved to variations.
    pub fn traffic_allocation(&self) -> TrafficAllocation<'c, VariationIndex> {
        TrafficAllocation::new(self.config, self.data.traffic_allocation)
    }
    /// Audience targeting.
    pub fn audiences(&self) -> ExperimentAudiences<'c> {
        ExperimentAudiences {
            config: self.config,
            data: &self.data.audiences,
        }
    }
    /// The whitelist entry for `user_id`.
    pub fn forced_variation(&self, user_id: &str) -> Option<ForcedVariation<'c>> {
        let config = self.config;
        let entries = self.extras().forced_variations.of(&config.forced);
        entries
            .binary_search_by(|entry| config.str(entry.user_id).cmp(user_id))
            .ok()
            .map(|position| ForcedVariation {
                config,
                data: &entries[position],
            })
    }
    /// The whole whitelist (`forcedVariations`), ordered by user id.
    pub fn forced_variations(
        &self,
    ) -> impl ExactSizeIterator<Item = ForcedVariation<'c>> + use<'c> {
        let config = self.config;
        self.extras()
            .forced_variations
            .of(&config.forced)
            .iter()
            .map(move |data| ForcedVariation { config, data })
    }
    /// Whether no two of its variations share a key.
    pub fn has_unique_variation_keys(&self) -> bool {
        self.data.unique_variation_keys
    }
    /// Whether the experiment has a whitelist.
    pub fn has_forced_variations(&self) -> bool {
        self.data.extras != NONE && self.extras().forced_variations.len > 0
    }
    /// CMAB settings, for CMAB experiments.
    pub fn cmab(&self) -> Option<Cmab<'c>> {
        let config = self.config;
        config
            .cmabs
            .get(self.extras().cmab as usize)
            .map(|data| Cmab { config, data })
    }
    /// Flags that list this experiment in `experimentIds` (feature experiments).
    pub fn flags(&self) -> &'c [FlagIndex] {
        self.extras().flags.of(&self.config.flag_refs)
    }
    /// Local holdouts whose `includedRules` name this rule's id, in datafile order.
    pub fn local_holdouts(&self) -> &'c [HoldoutIndex] {
        self.extras().local_holdouts.of(&self.config.holdout_refs)
    }
}

debug_view!(Experiment: id, key, origin, ..);

// ----- holdouts -----

/// A stored holdout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HoldoutData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) status: Str,
    pub(crate) variations: Span,
    pub(crate) traffic_allocation: Span,
    pub(crate) audiences: AudiencesData,
    pub(crate) included_rules: Span,
    pub(crate) is_running: bool,
    pub(crate) is_local: bool,
}

view!(
    /// A holdout: global (`holdouts[]`) or local to some rules (`localHoldouts[]`).
    Holdout,
    HoldoutData
);

impl<'c> Holdout<'c> {
    str_getters! {
        /// Holdout id; the bucketing entity id and the impression's `experiment_id`/`campaign_id`.
        id,
        /// Holdout key (the decision's rule key).
        key,
        /// `status` as written.
        status,
    }
    /// `status == "Running"`; other holdouts are skipped at evaluation.
    pub fn is_running(&self) -> bool {
        self.data.is_running
    }
    /// The variations.
    pub fn variations(&self) -> &'c [VariationIndex] {
        self.data.variations.of(&self.config.variation_refs)
    }
    /// Traffic allocation, targets resolved to variations.
    pub fn traffic_allocation(&self) -> TrafficAllocation<'c, VariationIndex> {
        TrafficAllocation::new(self.config, self.data.traffic_allocation)
    }
    /// Audience targeting.
    pub fn audiences(&self) -> ExperimentAudiences<'c> {
        ExperimentAudiences {
            config: self.config,
            data: &self.data.audiences,
        }
    }
    /// Rule ids a local holdout applies to (empty for global holdouts).
    pub fn included_rules(&self) -> impl ExactSizeIterator<Item = &'c str> + use<'c> {
        self.config.str_list(self.data.included_rules)
    }
    /// Whether it comes from `localHoldouts[]`.
    pub fn is_local(&self) -> bool {
        self.data.is_local
    }
}

debug_view!(Holdout: id, key, is_local, ..);

// ----- groups and rollouts -----

/// A stored group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupData {
    pub(crate) id: Str,
    pub(crate) policy: Str,
    pub(crate) traffic_allocation: Span,
    pub(crate) experiments: Span,
}

view!(
    /// A group of experiments; only `random` groups are mutually exclusive.
    Group,
    GroupData
);

impl<'c> Group<'c> {
    str_getters! {
        /// Group id; the entity id of the group bucketing.
        id,
        /// `policy` as written.
        policy,
    }
    /// `policy == "random"`: mutual exclusion.
    pub fn is_mutually_exclusive(&self) -> bool {
        self.policy() == "random"
    }
    /// Traffic allocation over member experiments.
    pub fn traffic_allocation(&self) -> TrafficAllocation<'c, ExperimentIndex> {
        TrafficAllocation::new(self.config, self.data.traffic_allocation)
    }
    /// Member experiments, in datafile order.
    pub fn experiments(&self) -> &'c [ExperimentIndex] {
        self.data.experiments.of(&self.config.experiment_refs)
    }
}

debug_view!(Group: id, policy, experiments);

/// A stored rollout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RolloutData {
    pub(crate) id: Str,
    pub(crate) rules: Span,
}

view!(
    /// A rollout: the delivery rules of a flag, evaluated in order (last = "Everyone Else").
    Rollout,
    RolloutData
);

impl<'c> Rollout<'c> {
    str_getters! {
        /// Rollout id.
        id,
    }
    /// Delivery rules in order.
    pub fn rules(&self) -> &'c [ExperimentIndex] {
        self.data.rules.of(&self.config.experiment_refs)
    }
}

debug_view!(Rollout: id, rules);

// ----- flags and variables -----

/// The type of a flag variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableType<'c> {
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
    Other(&'c str),
}

impl<'c> VariableType<'c> {
    pub(crate) fn parse(variable_type: Option<&'c str>, sub_type: Option<&str>) -> Self {
        let variable_type = variable_type.unwrap_or_default();
        match (variable_type, sub_type) {
            ("string", Some("json")) | ("json", _) => Self::Json,
            ("string", _) => Self::String,
            ("integer", _) => Self::Integer,
            ("double", _) => Self::Double,
            ("boolean", _) => Self::Boolean,
            _ => Self::Other(variable_type),
        }
    }

    /// The type name (`json` for the legacy string/json encoding).
    pub fn as_str(&self) -> &'c str {
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

/// A stored flag variable definition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VariableData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) variable_type: OptStr,
    pub(crate) sub_type: OptStr,
    pub(crate) default_value: OptStr,
}

view!(
    /// A flag variable definition.
    Variable,
    VariableData
);

impl<'c> Variable<'c> {
    str_getters! {
        /// Variable id (matched by variation usages).
        id,
        /// Variable key (the key in decision `variables`).
        key,
    }
    /// The type.
    pub fn variable_type(&self) -> VariableType<'c> {
        let strings = self.config.strings();
        VariableType::parse(
            strings.opt(self.data.variable_type),
            strings.opt(self.data.sub_type),
        )
    }
    /// `defaultValue` as written; `None` when it is absent or not a JSON string (the
    /// official SDKs then return null for the variable).
    pub fn default_value(&self) -> Option<&'c str> {
        self.config.strings().opt(self.data.default_value)
    }
}

debug_view!(Variable: id, key, variable_type, default_value);

/// A stored entry of a flag's `experimentIds`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleRefData {
    pub(crate) id: Str,
    pub(crate) experiment: u32,
}

view!(
    /// An entry of a flag's `experimentIds`, resolved.
    ExperimentRuleRef,
    RuleRefData
);

impl<'c> ExperimentRuleRef<'c> {
    str_getters! {
        /// The id as listed in the flag.
        id,
    }
    /// The experiment, or `None` when no experiment has that id
    /// (`Experiment ID %s is not in datafile.`).
    pub fn experiment(&self) -> Option<ExperimentIndex> {
        optional(self.data.experiment)
    }
}

debug_view!(ExperimentRuleRef: id, experiment);

/// A stored feature flag.
#[derive(Debug)]
pub(crate) struct FlagData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) rollout_id: Str,
    pub(crate) rollout: u32,
    pub(crate) experiment_rules: Span,
    pub(crate) variables: Span,
    pub(crate) variations: Span,
    /// Typed decision variables, built on the flag's first decision (decide module).
    pub(crate) variable_sets: OnceLock<Box<crate::decide::FlagVariableSets>>,
}

view!(
    /// A feature flag with its rules resolved.
    Flag,
    FlagData
);

impl<'c> Flag<'c> {
    str_getters! {
        /// Flag id.
        id,
        /// Flag key.
        key,
        /// `rolloutId` as written (`""` when absent).
        rollout_id,
    }
    /// The rollout named by `rolloutId`, when it exists.
    pub fn rollout(&self) -> Option<RolloutIndex> {
        optional(self.data.rollout)
    }
    /// `experimentIds` in order, resolved.
    pub fn experiment_rules(
        &self,
    ) -> impl ExactSizeIterator<Item = ExperimentRuleRef<'c>> + use<'c> {
        let config = self.config;
        self.data
            .experiment_rules
            .of(&config.rule_refs)
            .iter()
            .map(move |data| ExperimentRuleRef { config, data })
    }
    /// Whether `experimentIds` is empty.
    pub fn has_experiment_rules(&self) -> bool {
        self.data.experiment_rules.len > 0
    }
    /// Variable definitions in datafile order.
    pub fn variables(&self) -> impl ExactSizeIterator<Item = Variable<'c>> + use<'c> {
        let config = self.config;
        self.data
            .variables
            .of(&config.variables)
            .iter()
            .map(move |data| Variable { config, data })
    }
    /// The variable with key `key`.
    pub fn variable(&self, key: &str) -> Option<Variable<'c>> {
        self.variables().find(|v| v.key() == key)
    }
    /// All rules: experiment rules that exist (in `experimentIds` order), then delivery rules.
    pub fn rules(&self) -> impl Iterator<Item = ExperimentIndex> + use<'c> {
        let delivery_rules = self
            .rollout()
            .map(|rollout| self.config.rollout(rollout).rules())
            .unwrap_or_default();
        self.experiment_rules()
            .filter_map(|rule| rule.experiment())
            .chain(delivery_rules.iter().copied())
    }
    /// All variations of all rules, de-duplicated by id (first wins); used to validate forced
    /// decisions.
    pub fn variations(&self) -> &'c [VariationIndex] {
        self.data.variations.of(&self.config.variation_refs)
    }
}

debug_view!(Flag: id, key, ..);

// ----- audiences, attributes, events -----

/// A stored audience.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AudienceData {
    pub(crate) id: Str,
    pub(crate) name: Str,
    pub(crate) root: u32,
    pub(crate) conditions_json: Str,
    pub(crate) is_typed: bool,
    /// What the conditions evaluate to for a user without attributes and segments.
    pub(crate) blank_user_result: Option<bool>,
}

view!(
    /// An audience with its compiled conditions.
    Audience,
    AudienceData
);

/// Id of the placeholder audience that datafiles carry and OptimizelyConfig hides.
pub const DUMMY_AUDIENCE_ID: &str = "$opt_dummy_audience";

impl<'c> Audience<'c> {
    str_getters! {
        /// Audience id.
        id,
        /// Audience name (`""` when absent).
        name,
    }
    /// The compiled conditions.
    pub fn conditions(&self) -> ConditionTree<'c, LeafCondition<'c>> {
        ConditionTree::new(self.config, &self.config.nodes, self.data.root as usize)
    }
    str_getters! {
        /// The conditions as a JSON string: the original string of a legacy audience, compact
        /// JSON (datafile key order) for a typed one.
        conditions_json,
    }
    /// Whether it comes from `typedAudiences` (otherwise from legacy `audiences`).
    pub fn is_typed(&self) -> bool {
        self.data.is_typed
    }
    /// Whether this is the `$opt_dummy_audience` placeholder.
    pub fn is_placeholder(&self) -> bool {
        self.id() == DUMMY_AUDIENCE_ID
    }
}

debug_view!(Audience: id, name, is_typed, ..);

/// A stored attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttributeData {
    pub(crate) id: Str,
    pub(crate) key: Str,
}

view!(
    /// An attribute declared in the project.
    Attribute,
    AttributeData
);

impl<'c> Attribute<'c> {
    str_getters! {
        /// Attribute id (the event `entity_id`).
        id,
        /// Attribute key (the user attribute name).
        key,
    }
}

debug_view!(Attribute: id, key);

/// A stored conversion event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventData {
    pub(crate) id: Str,
    pub(crate) key: Str,
    pub(crate) experiment_ids: Span,
}

view!(
    /// A conversion event declared in the project.
    Event,
    EventData
);

impl<'c> Event<'c> {
    str_getters! {
        /// Event id (the conversion's `entity_id`).
        id,
        /// Event key.
        key,
    }
    /// `experimentIds` as written.
    pub fn experiment_ids(&self) -> impl ExactSizeIterator<Item = &'c str> + use<'c> {
        self.config.str_list(self.data.experiment_ids)
    }
}

debug_view!(Event: id, key, ..);

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
