//! Raw datafile → [`ProjectConfig`]: arenas, id/key maps and every parse-time derived datum.

use super::ProjectConfig;
use super::entities::{
    Attribute, Audience, AudienceIndex, Cmab, Event, Experiment, ExperimentIndex, ExperimentOrigin,
    ExperimentRuleRef, ExperimentType, Flag, FlagIndex, ForcedVariation, Group, GroupIndex,
    Holdout, HoldoutIndex, Region, Rollout, RolloutIndex, TrafficRange, Variable, VariableType,
    VariableUsage, Variation, VariationIndex,
};
use crate::condition::{
    self, ConditionTree, DepthExceeded, ExperimentAudiences, LeafCondition, MAX_CONDITION_DEPTH,
};
use crate::datafile::raw::{
    RawAttribute, RawAudience, RawDatafile, RawEvent, RawExperiment, RawFeatureFlag, RawGroup,
    RawHoldout, RawIntegration, RawRollout, RawTrafficAllocation, RawVariation,
};
use crate::datafile::{DatafileError, DatafileVersion, DatafileWarning};
use crate::odp::OdpIntegration;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

const RUNNING: &str = "Running";
const MAX_TRAFFIC_VALUE: u32 = 10_000;

/// Builds the config from a checked raw datafile; `datafile` is the original text.
pub(super) fn build(
    raw: RawDatafile,
    version: DatafileVersion,
    datafile: String,
) -> Result<ProjectConfig, DatafileError> {
    let mut b = Builder::default();
    b.add_audiences(raw.typed_audiences, raw.audiences)?;
    b.add_experiments(raw.experiments, raw.groups, raw.rollouts)?;
    b.add_holdouts(raw.holdouts, raw.local_holdouts)?;
    b.index_variations();
    b.add_flags(raw.feature_flags)?;
    b.inject_feature_rollout_variations();
    b.resolve_flag_rules();
    b.resolve_forced_variations();
    b.attach_local_holdouts();
    let odp = odp_integration(raw.integrations, b.segments_to_check());
    let experiment_count = b
        .experiments
        .iter()
        .filter(|e| !e.is_delivery_rule())
        .count();
    let audience_count = b.audiences.iter().filter(|a| !a.is_placeholder()).count();

    let (attributes, attribute_by_key, attribute_by_id) = index_attributes(raw.attributes);
    let (events, event_by_key) = index_events(raw.events);
    Ok(ProjectConfig {
        datafile,
        version,
        account_id: raw.account_id.0,
        project_id: raw.project_id.0,
        revision: raw.revision.0,
        sdk_key: raw.sdk_key,
        environment_key: raw.environment_key,
        anonymize_ip: raw.anonymize_ip.unwrap_or(false),
        bot_filtering: raw.bot_filtering,
        send_flag_decisions: raw.send_flag_decisions.unwrap_or(false),
        region: Region::parse(raw.region.as_deref()),
        experiments: b.experiments,
        experiment_by_id: b.experiment_by_id,
        experiment_by_key: b.experiment_by_key,
        variations: b.variations,
        variation_by_id: b.variation_by_id,
        flags: b.flags,
        flag_by_key: b.flag_by_key,
        rollouts: b.rollouts,
        rollout_by_id: b.rollout_by_id,
        groups: b.groups,
        group_by_id: b.group_by_id,
        audiences: b.audiences,
        audience_by_id: b.audience_by_id,
        attributes,
        attribute_by_key,
        attribute_by_id,
        events,
        event_by_key,
        holdouts: b.holdouts,
        global_holdouts: b.global_holdouts,
        rule_holdouts: b.rule_holdouts,
        odp,
        experiment_count,
        audience_count,
        warnings: b.warnings,
    })
}

#[derive(Default)]
struct Builder {
    audiences: Vec<Audience>,
    audience_segments: Vec<Vec<String>>,
    audience_by_id: FxHashMap<String, AudienceIndex>,
    experiments: Vec<Experiment>,
    experiment_by_id: FxHashMap<String, ExperimentIndex>,
    experiment_by_key: FxHashMap<String, ExperimentIndex>,
    /// Raw `forcedVariations` per experiment, resolved once variations are final.
    pending_forced: Vec<FxHashMap<String, String>>,
    variations: Vec<Variation>,
    variation_by_id: FxHashMap<String, VariationIndex>,
    groups: Vec<Group>,
    group_by_id: FxHashMap<String, GroupIndex>,
    rollouts: Vec<Rollout>,
    rollout_by_id: FxHashMap<String, RolloutIndex>,
    flags: Vec<Flag>,
    flag_by_key: FxHashMap<String, FlagIndex>,
    holdouts: Vec<Holdout>,
    global_holdouts: Vec<HoldoutIndex>,
    rule_holdouts: FxHashMap<String, Vec<HoldoutIndex>>,
    warnings: Vec<DatafileWarning>,
}

/// The next arena index for a collection of `len` entities.
fn next_index(len: usize, entity: &'static str) -> Result<u32, DatafileError> {
    u32::try_from(len).map_err(|_| DatafileError::TooManyEntities {
        entity,
        limit: u64::from(u32::MAX),
    })
}

fn too_deep(path: String) -> DatafileError {
    DatafileError::NestingTooDeep {
        path,
        limit: MAX_CONDITION_DEPTH,
    }
}

impl Builder {
    // ----- audiences -----

    /// Typed audiences first, then legacy ones whose id no typed audience took.
    fn add_audiences(
        &mut self,
        typed: Vec<RawAudience>,
        legacy: Vec<RawAudience>,
    ) -> Result<(), DatafileError> {
        for (i, raw) in typed.into_iter().enumerate() {
            let conditions = raw.conditions.unwrap_or(Value::Null);
            let compiled = compile_conditions(&conditions)
                .map_err(|_| too_deep(format!("typedAudiences[{i}].conditions")))?;
            let json = conditions.to_string();
            self.put_audience(raw.id.0, raw.name, compiled, json, true)?;
        }
        for (i, raw) in legacy.into_iter().enumerate() {
            let already_typed = self
                .audience_by_id
                .get(&raw.id.0)
                .is_some_and(|&idx| self.audiences[idx.get()].is_typed);
            if already_typed {
                continue;
            }
            let (compiled, json) = self
                .compile_legacy(&raw)
                .map_err(|_| too_deep(format!("audiences[{i}].conditions")))?;
            self.put_audience(raw.id.0, raw.name, compiled, json, false)?;
        }
        Ok(())
    }

    /// Decodes a legacy audience's string-encoded conditions; undecodable → unknown leaf.
    fn compile_legacy(&mut self, raw: &RawAudience) -> Result<(Compiled, String), DepthExceeded> {
        match &raw.conditions {
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(decoded) => Ok((compile_conditions(&decoded)?, text.clone())),
                Err(_) => {
                    self.warnings
                        .push(DatafileWarning::UndecodableAudienceConditions {
                            audience_id: raw.id.0.clone(),
                        });
                    let tree = condition::undecodable_conditions(text);
                    Ok(((tree, Vec::new()), text.clone()))
                }
            },
            Some(other) => Ok((compile_conditions(other)?, other.to_string())),
            None => Ok((compile_conditions(&Value::Null)?, "null".to_owned())),
        }
    }

    /// Inserts an audience, replacing an earlier one with the same id in place.
    fn put_audience(
        &mut self,
        id: String,
        name: Option<String>,
        (conditions, segments): Compiled,
        conditions_json: String,
        is_typed: bool,
    ) -> Result<(), DatafileError> {
        let audience = Audience {
            id,
            name: name.unwrap_or_default(),
            conditions,
            conditions_json,
            is_typed,
        };
        if let Some(&existing) = self.audience_by_id.get(&audience.id) {
            self.audiences[existing.get()] = audience;
            self.audience_segments[existing.get()] = segments;
            return Ok(());
        }
        let index = AudienceIndex(next_index(self.audiences.len(), "audiences")?);
        self.audience_by_id.insert(audience.id.clone(), index);
        self.audiences.push(audience);
        self.audience_segments.push(segments);
        Ok(())
    }

    /// Unique segments, first seen, in audience order (typed first).
    fn segments_to_check(&self) -> Vec<String> {
        let mut seen = FxHashSet::default();
        let mut out = Vec::new();
        for segment in self.audience_segments.iter().flatten() {
            if seen.insert(segment.as_str()) {
                out.push(segment.clone());
            }
        }
        out
    }

    fn audience_targeting(
        &self,
        conditions: Option<&Value>,
        ids: Vec<String>,
        path: impl FnOnce() -> String,
    ) -> Result<ExperimentAudiences, DatafileError> {
        let resolve = |id: &str| self.audience_by_id.get(id).copied();
        condition::compile_audience_refs(conditions, &ids, &resolve).map_err(|_| too_deep(path()))
    }

    // ----- experiments, groups, rollouts -----

    fn add_experiments(
        &mut self,
        top_level: Vec<RawExperiment>,
        groups: Vec<RawGroup>,
        rollouts: Vec<RawRollout>,
    ) -> Result<(), DatafileError> {
        for (i, raw) in top_level.into_iter().enumerate() {
            self.add_experiment(raw, ExperimentOrigin::TopLevel, None, || {
                format!("experiments[{i}]")
            })?;
        }
        for (g, raw_group) in groups.into_iter().enumerate() {
            let index = GroupIndex(next_index(self.groups.len(), "groups")?);
            let policy = raw_group.policy.unwrap_or_default();
            let mutex_group = (policy == "random").then_some(index);
            let mut members = Vec::with_capacity(raw_group.experiments.len());
            for (i, raw) in raw_group.experiments.into_iter().enumerate() {
                let origin = ExperimentOrigin::Group(index);
                members.push(self.add_experiment(raw, origin, mutex_group, || {
                    format!("groups[{g}].experiments[{i}]")
                })?);
            }
            self.group_by_id.insert(raw_group.id.0.clone(), index);
            self.groups.push(Group {
                id: raw_group.id.0,
                policy,
                traffic_allocation: unresolved_ranges(raw_group.traffic_allocation),
                experiments: members,
            });
        }
        for (r, raw_rollout) in rollouts.into_iter().enumerate() {
            let index = RolloutIndex(next_index(self.rollouts.len(), "rollouts")?);
            let mut rules = Vec::with_capacity(raw_rollout.experiments.len());
            for (i, raw) in raw_rollout.experiments.into_iter().enumerate() {
                let origin = ExperimentOrigin::Rollout(index);
                rules.push(self.add_experiment(raw, origin, None, || {
                    format!("rollouts[{r}].experiments[{i}]")
                })?);
            }
            self.rollout_by_id.insert(raw_rollout.id.0.clone(), index);
            self.rollouts.push(Rollout {
                id: raw_rollout.id.0,
                rules,
            });
        }
        self.resolve_group_ranges();
        Ok(())
    }

    fn add_experiment(
        &mut self,
        raw: RawExperiment,
        origin: ExperimentOrigin,
        mutex_group: Option<GroupIndex>,
        path: impl FnOnce() -> String,
    ) -> Result<ExperimentIndex, DatafileError> {
        let index = ExperimentIndex(next_index(self.experiments.len(), "experiments")?);
        let audience_ids = raw.audience_ids.into_iter().map(|id| id.0).collect();
        let audiences =
            self.audience_targeting(raw.audience_conditions.as_ref(), audience_ids, || {
                format!("{}.audienceConditions", path())
            })?;
        let variations = self.add_variations(raw.variations)?;
        let status = raw.status.unwrap_or_default();
        let experiment = Experiment {
            is_running: status == RUNNING,
            status,
            id: raw.id.0,
            key: raw.key.0,
            layer_id: raw.layer_id.map(|id| id.0).unwrap_or_default(),
            experiment_type: raw.experiment_type.map(ExperimentType::parse),
            origin,
            mutex_group,
            variations,
            traffic_allocation: unresolved_ranges(raw.traffic_allocation),
            audiences,
            forced_variations: FxHashMap::default(),
            cmab: raw.cmab.map(|cmab| Cmab {
                attribute_ids: cmab.attribute_ids.into_iter().map(|id| id.0).collect(),
                traffic_allocation: cmab.traffic_allocation.map_or(0, |end| end.0),
            }),
            flags: Vec::new(),
            local_holdouts: Vec::new(),
        };
        self.experiment_by_id.insert(experiment.id.clone(), index);
        self.experiment_by_key.insert(experiment.key.clone(), index);
        self.pending_forced.push(
            raw.forced_variations
                .into_iter()
                .map(|(user, key)| (user, key.0))
                .collect(),
        );
        self.experiments.push(experiment);
        Ok(index)
    }

    fn add_variations(
        &mut self,
        raw: Vec<RawVariation>,
    ) -> Result<Vec<VariationIndex>, DatafileError> {
        let mut indices = Vec::with_capacity(raw.len());
        for variation in raw {
            indices.push(VariationIndex(next_index(
                self.variations.len(),
                "variations",
            )?));
            self.variations.push(Variation {
                id: variation.id.0,
                key: variation.key.0,
                feature_enabled: variation.feature_enabled.unwrap_or(false),
                variables: variation
                    .variables
                    .into_iter()
                    .map(|usage| VariableUsage {
                        variable_id: usage.id.0,
                        value: usage.value.0,
                    })
                    .collect(),
            });
        }
        Ok(indices)
    }

    fn resolve_group_ranges(&mut self) {
        let by_id = &self.experiment_by_id;
        for group in &mut self.groups {
            for range in &mut group.traffic_allocation {
                range.target = by_id.get(&range.entity_id).copied();
            }
        }
    }

    // ----- holdouts -----

    fn add_holdouts(
        &mut self,
        global: Vec<RawHoldout>,
        local: Vec<RawHoldout>,
    ) -> Result<(), DatafileError> {
        for (i, raw) in global.into_iter().enumerate() {
            let index = self.add_holdout(raw, false, || format!("holdouts[{i}]"))?;
            self.global_holdouts.push(index);
        }
        for (i, raw) in local.into_iter().enumerate() {
            if raw.included_rules.is_empty() {
                self.warnings
                    .push(DatafileWarning::LocalHoldoutWithoutRules {
                        holdout_key: raw.key.0,
                    });
                continue;
            }
            let index = self.add_holdout(raw, true, || format!("localHoldouts[{i}]"))?;
            for rule_id in &self.holdouts[index.get()].included_rules {
                let targeted = self.rule_holdouts.entry(rule_id.clone()).or_default();
                if !targeted.contains(&index) {
                    targeted.push(index);
                }
            }
        }
        Ok(())
    }

    fn add_holdout(
        &mut self,
        raw: RawHoldout,
        is_local: bool,
        path: impl FnOnce() -> String,
    ) -> Result<HoldoutIndex, DatafileError> {
        let index = HoldoutIndex(next_index(self.holdouts.len(), "holdouts")?);
        let audience_ids = raw.audience_ids.into_iter().map(|id| id.0).collect();
        let audiences =
            self.audience_targeting(raw.audience_conditions.as_ref(), audience_ids, || {
                format!("{}.audienceConditions", path())
            })?;
        let variations = self.add_variations(raw.variations)?;
        let status = raw.status.unwrap_or_default();
        let included_rules = if is_local {
            raw.included_rules.into_iter().map(|id| id.0).collect()
        } else {
            Vec::new()
        };
        self.holdouts.push(Holdout {
            is_running: status == RUNNING,
            status,
            id: raw.id.0,
            key: raw.key.0,
            variations,
            traffic_allocation: unresolved_ranges(raw.traffic_allocation),
            audiences,
            included_rules,
            is_local,
        });
        Ok(index)
    }

    fn attach_local_holdouts(&mut self) {
        if self.rule_holdouts.is_empty() {
            return;
        }
        for experiment in &mut self.experiments {
            if let Some(holdouts) = self.rule_holdouts.get(&experiment.id) {
                experiment.local_holdouts.clone_from(holdouts);
            }
        }
    }

    // ----- variations -----

    /// Global variation id map (experiments and rules first, then holdouts; the last one
    /// wins), then every traffic range resolved through it.
    fn index_variations(&mut self) {
        let mut by_id = FxHashMap::default();
        by_id.reserve(self.variations.len());
        let experiment_variations = self.experiments.iter().flat_map(|e| &e.variations);
        let holdout_variations = self.holdouts.iter().flat_map(|h| &h.variations);
        for &index in experiment_variations.chain(holdout_variations) {
            by_id.insert(self.variations[index.get()].id.clone(), index);
        }
        let resolve = |ranges: &mut Vec<TrafficRange<VariationIndex>>| {
            for range in ranges {
                range.target = by_id.get(&range.entity_id).copied();
            }
        };
        self.experiments
            .iter_mut()
            .for_each(|e| resolve(&mut e.traffic_allocation));
        self.holdouts
            .iter_mut()
            .for_each(|h| resolve(&mut h.traffic_allocation));
        self.share_variable_values(&by_id);
        self.variation_by_id = by_id;
    }

    /// Variable values are looked up by variation id in the official SDKs (the last variation
    /// with that id wins), so copies of a repeated id carry the winner's values.
    fn share_variable_values(&mut self, by_id: &FxHashMap<String, VariationIndex>) {
        for i in 0..self.variations.len() {
            let Some(&winner) = by_id.get(&self.variations[i].id) else {
                continue;
            };
            if winner.get() != i {
                let values = self.variations[winner.get()].variables.clone();
                self.variations[i].variables = values;
            }
        }
    }

    /// Whitelists: user id → the experiment's variation with that key (the last one wins).
    fn resolve_forced_variations(&mut self) {
        let pending = std::mem::take(&mut self.pending_forced);
        for (experiment, forced) in self.experiments.iter_mut().zip(pending) {
            if forced.is_empty() {
                continue;
            }
            let mut by_key: FxHashMap<&str, VariationIndex> = FxHashMap::default();
            for &index in &experiment.variations {
                by_key.insert(self.variations[index.get()].key.as_str(), index);
            }
            experiment.forced_variations = forced
                .into_iter()
                .map(|(user, variation_key)| {
                    let variation = by_key.get(variation_key.as_str()).copied();
                    let entry = ForcedVariation {
                        variation_key,
                        variation,
                    };
                    (user, entry)
                })
                .collect();
        }
    }

    // ----- flags -----

    fn add_flags(&mut self, raw_flags: Vec<RawFeatureFlag>) -> Result<(), DatafileError> {
        for raw in raw_flags {
            let index = FlagIndex(next_index(self.flags.len(), "featureFlags")?);
            let experiment_rules: Vec<ExperimentRuleRef> = raw
                .experiment_ids
                .into_iter()
                .map(|id| ExperimentRuleRef {
                    experiment: self.experiment_by_id.get(&id.0).copied(),
                    id: id.0,
                })
                .collect();
            for experiment in experiment_rules.iter().filter_map(|r| r.experiment) {
                let flags = &mut self.experiments[experiment.get()].flags;
                if !flags.contains(&index) {
                    flags.push(index);
                }
            }
            let rollout_id = raw.rollout_id.map(|id| id.0).unwrap_or_default();
            let flag = Flag {
                rollout: self.rollout_by_id.get(&rollout_id).copied(),
                rollout_id,
                id: raw.id.0,
                key: raw.key.0,
                experiment_rules,
                variables: raw
                    .variables
                    .into_iter()
                    .map(|v| Variable {
                        variable_type: VariableType::parse(v.variable_type, v.sub_type.as_deref()),
                        id: v.id.0,
                        key: v.key.0,
                        default_value: v.default_value.0,
                    })
                    .collect(),
                rules: Vec::new(),
                variations: Vec::new(),
                variable_sets: Default::default(),
            };
            self.flag_by_key.insert(flag.key.clone(), index);
            self.flags.push(flag);
        }
        Ok(())
    }

    /// Feature-rollout (`type: "fr"`) experiment rules get the flag's everyone-else variation
    /// appended, with a final range up to 10000, so users in the audience but outside the
    /// rule's traffic get that variation from this rule.
    fn inject_feature_rollout_variations(&mut self) {
        for flag in &self.flags {
            let Some(everyone_else) = self.everyone_else_variation(flag) else {
                continue;
            };
            for experiment in flag.experiment_rules.iter().filter_map(|r| r.experiment) {
                let experiment = &mut self.experiments[experiment.get()];
                if experiment.experiment_type != Some(ExperimentType::Fr) {
                    continue;
                }
                if !experiment.variations.contains(&everyone_else) {
                    experiment.variations.push(everyone_else);
                }
                experiment.traffic_allocation.push(TrafficRange {
                    end_of_range: MAX_TRAFFIC_VALUE,
                    entity_id: self.variations[everyone_else.get()].id.clone(),
                    target: Some(everyone_else),
                });
            }
        }
    }

    /// `variations[0]` of the last delivery rule of the flag's rollout.
    fn everyone_else_variation(&self, flag: &Flag) -> Option<VariationIndex> {
        let rollout = &self.rollouts[flag.rollout?.get()];
        let last_rule = rollout.rules.last()?;
        self.experiments[last_rule.get()]
            .variations
            .first()
            .copied()
    }

    /// Each flag's rules (experiment rules, then delivery rules) and its variations
    /// de-duplicated by id (first wins).
    fn resolve_flag_rules(&mut self) {
        for flag in &mut self.flags {
            let experiment_rules = flag.experiment_rules.iter().filter_map(|r| r.experiment);
            let delivery_rules = flag
                .rollout
                .map(|r| self.rollouts[r.get()].rules.as_slice())
                .unwrap_or_default();
            flag.rules = experiment_rules
                .chain(delivery_rules.iter().copied())
                .collect();
            let mut seen = FxHashSet::default();
            flag.variations = flag
                .rules
                .iter()
                .flat_map(|rule| &self.experiments[rule.get()].variations)
                .copied()
                .filter(|v| seen.insert(self.variations[v.get()].id.as_str()))
                .collect();
        }
    }
}

/// A compiled audience tree with the segments it uses.
type Compiled = (ConditionTree<LeafCondition>, Vec<String>);

fn compile_conditions(conditions: &Value) -> Result<Compiled, DepthExceeded> {
    let tree = condition::compile_audience_conditions(conditions)?;
    let mut segments = Vec::new();
    condition::collect_segments(conditions, &mut segments);
    Ok((tree, segments))
}

/// Traffic ranges with targets still to resolve.
fn unresolved_ranges<T>(raw: Vec<RawTrafficAllocation>) -> Vec<TrafficRange<T>> {
    raw.into_iter()
        .map(|range| TrafficRange {
            end_of_range: range.end_of_range.0,
            entity_id: range.entity_id.map(|id| id.0).unwrap_or_default(),
            target: None,
        })
        .collect()
}

/// The first `odp` integration, when it has both a public key and a host.
fn odp_integration(
    integrations: Vec<RawIntegration>,
    segments_to_check: Vec<String>,
) -> Option<OdpIntegration> {
    let odp = integrations
        .into_iter()
        .find(|i| i.key.as_deref() == Some("odp"))?;
    let public_key = odp.public_key.filter(|k| !k.is_empty())?;
    let host = odp.host.filter(|h| !h.is_empty())?;
    Some(OdpIntegration {
        public_key,
        host,
        pixel_url: odp.pixel_url.filter(|p| !p.is_empty()),
        segments_to_check,
    })
}

type KeyIndex = FxHashMap<String, usize>;

fn index_attributes(raw: Vec<RawAttribute>) -> (Vec<Attribute>, KeyIndex, KeyIndex) {
    let attributes: Vec<Attribute> = raw
        .into_iter()
        .map(|a| Attribute {
            id: a.id.0,
            key: a.key.0,
        })
        .collect();
    let by_key = attributes
        .iter()
        .enumerate()
        .map(|(i, a)| (a.key.clone(), i))
        .collect();
    let by_id = attributes
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    (attributes, by_key, by_id)
}

fn index_events(raw: Vec<RawEvent>) -> (Vec<Event>, KeyIndex) {
    let events: Vec<Event> = raw
        .into_iter()
        .map(|e| Event {
            id: e.id.0,
            key: e.key.0,
            experiment_ids: e.experiment_ids.into_iter().map(|id| id.0).collect(),
        })
        .collect();
    let by_key = events
        .iter()
        .enumerate()
        .map(|(i, e)| (e.key.clone(), i))
        .collect();
    (events, by_key)
}
