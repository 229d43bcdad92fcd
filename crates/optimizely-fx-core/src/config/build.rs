//! What was read → [`ProjectConfig`]: experiments in their final order, audiences with typed
//! ones overriding legacy ones, references between entities resolved through the id indexes,
//! and every parse-time derived datum (feature-rollout injection, flag variations, local
//! holdouts, ODP segments).

use super::entities::{
    AudienceData, AudienceIndex, ExperimentIndex, ExperimentRecord, FlagIndex, HoldoutData,
    HoldoutIndex, NONE, RangeData, Span, VariationIndex,
};
use super::read::{LegacyAudience, LegacyConditions, Parts, ReadAudience};
use super::text::{MAX_TEXT_LEN, Str, StrIndex, Strings};
use super::{ProjectConfig, Region};
use crate::condition::{ConditionSink, ConditionsOutcome, MAX_CONDITION_DEPTH, Target, UNRESOLVED};
use crate::datafile::{DatafileError, DatafileWarning};
use crate::odp::OdpIntegration;
use rustc_hash::{FxHashMap, FxHashSet};

const MAX_TRAFFIC_VALUE: u32 = 10_000;

fn too_deep(path: String) -> DatafileError {
    DatafileError::NestingTooDeep {
        path,
        limit: MAX_CONDITION_DEPTH,
    }
}

/// Builds the config, and returns the string pool, which the caller appends to the text it
/// gives the config.
pub(super) fn build(mut parts: Parts<'_>) -> Result<(ProjectConfig, Box<str>), DatafileError> {
    if let Some(i) = parts.too_deep_typed_audience {
        return Err(too_deep(format!("typedAudiences[{i}].conditions")));
    }
    let mut warnings = Vec::new();
    let audiences = assemble_audiences(&mut parts, &mut warnings)?;
    if let Some(path) = parts.too_deep_experiment.iter().flatten().next() {
        return Err(too_deep(path.clone()));
    }
    let (holdouts, global_count) = select_holdouts(&mut parts, &mut warnings)?;
    let mut b = Builder::new(parts, audiences, holdouts, global_count)?;
    b.order_variations();
    b.resolve_traffic();
    b.resolve_audience_refs();
    b.resolve_flags();
    b.inject_feature_rollout_variations();
    b.collect_flag_variations();
    b.resolve_forced_variations();
    b.attach_holdouts();
    b.finish(warnings)
}

/// Each audience's result for a user without attributes and segments (a constant of the
/// datafile), computed by the evaluator itself on the finished config.
pub(super) fn evaluate_for_blank_user(config: &mut ProjectConfig) {
    let blank = crate::decide::UserData::new("");
    for position in 0..config.audiences.len() {
        let conditions = config.audience(AudienceIndex(position as u32)).conditions();
        let result = crate::condition_eval::evaluate_conditions(conditions, &blank, &mut ());
        config.audiences[position].blank_user_result = result;
    }
}

// ----- audiences -----

/// Typed audiences first (a repeated id replaces the earlier one in place), then legacy ones
/// whose id no typed audience took (compiled now, repeated ids replaced in place too).
fn assemble_audiences(
    parts: &mut Parts<'_>,
    warnings: &mut Vec<DatafileWarning>,
) -> Result<Vec<ReadAudience>, DatafileError> {
    let typed = std::mem::take(&mut parts.typed_audiences);
    let legacy = std::mem::take(&mut parts.legacy_audiences);
    let (typed_positions, legacy_positions, count) = {
        let strings = parts.interner.strings();
        plan_audiences(strings, &typed, &legacy)
    };
    let mut audiences: Vec<Option<ReadAudience>> = (0..count).map(|_| None).collect();
    for (audience, position) in typed.into_iter().zip(typed_positions) {
        audiences[position] = Some(audience);
    }
    for (i, (audience, position)) in legacy.iter().zip(legacy_positions).enumerate() {
        if let Some(position) = position {
            audiences[position] = Some(compile_legacy(parts, audience, i, warnings)?);
        }
    }
    Ok(audiences.into_iter().flatten().collect())
}

/// Where each typed and legacy audience ends up (`None`: a legacy audience a typed one
/// overrides), and how many audiences there are.
fn plan_audiences<'s>(
    strings: Strings<'s>,
    typed: &[ReadAudience],
    legacy: &[LegacyAudience],
) -> (Vec<usize>, Vec<Option<usize>>, usize) {
    let mut position_of: FxHashMap<&'s str, (usize, bool)> = FxHashMap::default();
    let mut count = 0;
    let mut place = |id: &'s str, is_typed: bool| -> Option<usize> {
        match position_of.get(id) {
            Some(&(_, true)) if !is_typed => None,
            Some(&(position, _)) => Some(position),
            None => {
                position_of.insert(id, (count, is_typed));
                count += 1;
                Some(count - 1)
            }
        }
    };
    let typed_positions = typed
        .iter()
        .filter_map(|a| place(strings.get(a.data.id), true))
        .collect();
    let legacy_positions = legacy
        .iter()
        .map(|a| place(strings.get(a.id), false))
        .collect();
    (typed_positions, legacy_positions, count)
}

/// Decodes and compiles a legacy audience's string-encoded conditions; conditions that are
/// not JSON make an unknown leaf (with a warning).
fn compile_legacy(
    parts: &mut Parts<'_>,
    audience: &LegacyAudience,
    index: usize,
    warnings: &mut Vec<DatafileWarning>,
) -> Result<ReadAudience, DatafileError> {
    let segments_start = parts.segments.len();
    let (mut sink, side_text) = parts.condition_sink_and_side_text();
    let (root, conditions_json, too_deep_conditions) = match &audience.conditions {
        LegacyConditions::Null => {
            let outcome = sink.null_leaf();
            (outcome.root, outcome.json, false)
        }
        LegacyConditions::Json(value) => match sink.compile(Target::Audience, value) {
            Ok(outcome) => (outcome.root, outcome.json, outcome.too_deep),
            Err(_) => (sink.null_leaf().root, Str::EMPTY, false),
        },
        &LegacyConditions::Text {
            in_side_text,
            start,
            len,
        } => {
            let source = if in_side_text {
                side_text
            } else {
                sink.interner.text
            };
            let text = source
                .get(start as usize..(start + len) as usize)
                .unwrap_or_default();
            match decode(&mut sink, text) {
                Some(outcome) => {
                    let original = sink.interner.intern(text);
                    (outcome.root, original, outcome.too_deep)
                }
                None => {
                    warnings.push(DatafileWarning::UndecodableAudienceConditions {
                        audience_id: sink.interner.strings().get(audience.id).to_owned(),
                    });
                    let original = sink.interner.intern(text);
                    (sink.undecodable_leaf(original), original, false)
                }
            }
        }
    };
    if too_deep_conditions {
        return Err(too_deep(format!("audiences[{index}].conditions")));
    }
    let data = AudienceData {
        id: audience.id,
        name: audience.name.get().unwrap_or_default(),
        root,
        conditions_json,
        is_typed: false,
        blank_user_result: None,
    };
    Ok(ReadAudience {
        data,
        segments: Span::from(segments_start, parts.segments.len()),
    })
}

/// Compiles the JSON held in a legacy conditions string; `None` (with nothing left behind)
/// when it is not JSON.
fn decode(sink: &mut ConditionSink<'_, '_>, text: &str) -> Option<ConditionsOutcome> {
    let lengths = (
        sink.nodes.len(),
        sink.leaves.len(),
        sink.segments.len(),
        sink.interner.pool.len(),
    );
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let decoded = sink
        .compile(Target::Audience, &mut deserializer)
        .and_then(|outcome| deserializer.end().map(|()| outcome));
    if decoded.is_err() {
        sink.nodes.truncate(lengths.0);
        sink.leaves.truncate(lengths.1);
        sink.segments.truncate(lengths.2);
        sink.interner.pool.truncate(lengths.3);
    }
    decoded.ok()
}

// ----- holdouts -----

/// Global holdouts, then local ones that name at least one rule (the others are skipped with
/// a warning); conditions nested too deeply are reported in that order.
fn select_holdouts(
    parts: &mut Parts<'_>,
    warnings: &mut Vec<DatafileWarning>,
) -> Result<(Vec<HoldoutData>, usize), DatafileError> {
    let [global, local] = std::mem::take(&mut parts.holdouts);
    let global_count = global.len();
    let mut holdouts = Vec::with_capacity(global.len() + local.len());
    for (i, holdout) in global.into_iter().enumerate() {
        if holdout.too_deep {
            return Err(too_deep(format!("holdouts[{i}].audienceConditions")));
        }
        holdouts.push(holdout.data);
    }
    for (i, holdout) in local.into_iter().enumerate() {
        if holdout.data.included_rules.len == 0 {
            let key = parts.interner.strings().get(holdout.data.key).to_owned();
            warnings.push(DatafileWarning::LocalHoldoutWithoutRules { holdout_key: key });
            continue;
        }
        if holdout.too_deep {
            return Err(too_deep(format!("localHoldouts[{i}].audienceConditions")));
        }
        holdouts.push(holdout.data);
    }
    Ok((holdouts, global_count))
}

// ----- references -----

struct Builder<'t> {
    parts: Parts<'t>,
    pool: Box<str>,
    experiments: Vec<ExperimentRecord>,
    experiment_refs: Vec<ExperimentIndex>,
    audiences: Vec<AudienceData>,
    /// The ODP segments of each audience.
    audience_segments: Vec<Span>,
    holdouts: Vec<HoldoutData>,
    global_holdouts: usize,
    experiment_by_id: StrIndex,
    experiment_by_key: StrIndex,
    variation_by_id: StrIndex,
    audience_by_id: StrIndex,
    flag_refs: Vec<FlagIndex>,
    holdout_refs: Vec<HoldoutIndex>,
    rollout_by_id: StrIndex,
    /// The slots of every index.
    slots: Vec<u32>,
}

/// An experiment's variation and range lists while feature-rollout variations are appended.
struct InjectedLists {
    variations: Vec<VariationIndex>,
    ranges: Vec<RangeData>,
}

/// `key` of the entity at `position` of `entities`, for building and querying indexes.
macro_rules! key_of {
    ($strings:expr, $entities:expr, $field:ident) => {
        |position: usize| $strings.bytes($entities[position].$field)
    };
}

impl<'t> Builder<'t> {
    fn new(
        mut parts: Parts<'t>,
        read_audiences: Vec<ReadAudience>,
        holdouts: Vec<HoldoutData>,
        global_holdouts: usize,
    ) -> Result<Self, DatafileError> {
        let (audiences, audience_segments): (Vec<AudienceData>, Vec<Span>) = read_audiences
            .into_iter()
            .map(|a| (a.data, a.segments))
            .unzip();
        let (experiments, experiment_refs) = order_experiments(&mut parts);
        let pool = std::mem::take(&mut parts.interner.pool);
        if pool.len() > MAX_TEXT_LEN {
            return Err(DatafileError::TooLarge {
                limit: MAX_TEXT_LEN as u64,
            });
        }
        let pool = pool.into_boxed_str();
        let strings = Strings {
            text: parts.interner.text,
            pool: &pool,
        };
        let mut slots = Vec::new();
        let experiment_by_id = StrIndex::build(
            &mut slots,
            experiments.len(),
            key_of!(strings, experiments, id),
        );
        let experiment_by_key = StrIndex::build(
            &mut slots,
            experiments.len(),
            key_of!(strings, experiments, key),
        );
        let audience_by_id =
            StrIndex::build(&mut slots, audiences.len(), key_of!(strings, audiences, id));
        let rollouts = &parts.rollouts;
        let rollout_by_id =
            StrIndex::build(&mut slots, rollouts.len(), key_of!(strings, rollouts, id));
        Ok(Builder {
            parts,
            pool,
            experiments,
            experiment_refs,
            audiences,
            audience_segments,
            holdouts,
            global_holdouts,
            experiment_by_id,
            experiment_by_key,
            variation_by_id: StrIndex::default(),
            audience_by_id,
            flag_refs: Vec::new(),
            holdout_refs: Vec::new(),
            rollout_by_id,
            slots,
        })
    }

    fn strings(&self) -> Strings<'_> {
        Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        }
    }

    fn experiment_by_id(&self, id: Str) -> u32 {
        let strings = self.strings();
        let key_of = key_of!(strings, self.experiments, id);
        self.experiment_by_id
            .get(&self.slots, strings.get(id), key_of)
            .map_or(NONE, |i| i as u32)
    }

    /// Variations in the order of their experiments, then of the holdouts kept (variations of
    /// skipped holdouts are dropped), so that the last of a repeated id is the one the
    /// official SDKs keep.
    fn order_variations(&mut self) {
        let old = std::mem::take(&mut self.parts.variations);
        let old_refs = std::mem::take(&mut self.parts.variation_refs);
        let mut variations = Vec::with_capacity(old.len());
        let mut refs = Vec::with_capacity(old_refs.len());
        let lists = self
            .experiments
            .iter_mut()
            .map(|e| &mut e.variations)
            .chain(self.holdouts.iter_mut().map(|h| &mut h.variations));
        for list in lists {
            let start = refs.len();
            for &VariationIndex(v) in list.of(&old_refs) {
                refs.push(VariationIndex(variations.len() as u32));
                variations.push(old[v as usize]);
            }
            *list = Span::from(start, refs.len());
        }
        self.parts.variations = variations;
        self.parts.variation_refs = refs;
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let variations = &self.parts.variations;
        self.variation_by_id = StrIndex::build(
            &mut self.slots,
            variations.len(),
            key_of!(strings, variations, id),
        );
        self.share_variable_values();
    }

    /// Variable values are looked up by variation id in the official SDKs (the last variation
    /// with that id wins), so copies of a repeated id carry the winner's values.
    fn share_variable_values(&mut self) {
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let variations = &mut self.parts.variations;
        for i in 0..variations.len() {
            let key_of = |p: usize| strings.bytes(variations[p].id);
            let winner =
                self.variation_by_id
                    .get(&self.slots, strings.get(variations[i].id), key_of);
            if let Some(winner) = winner.filter(|&w| w != i) {
                variations[i].variables = variations[winner].variables;
            }
        }
    }

    /// Every traffic range's target: variations for experiments and holdouts, member
    /// experiments for groups.
    fn resolve_traffic(&mut self) {
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let variations = &self.parts.variations;
        let by_variation_id = |id: Str| {
            let key_of = key_of!(strings, variations, id);
            self.variation_by_id
                .get(&self.slots, strings.get(id), key_of)
                .map_or(NONE, |i| i as u32)
        };
        let ranges = &mut self.parts.ranges;
        let spans = self
            .experiments
            .iter()
            .map(|e| e.traffic_allocation)
            .chain(self.holdouts.iter().map(|h| h.traffic_allocation));
        for span in spans {
            for range in &mut ranges[span.range()] {
                range.target = by_variation_id(range.entity_id);
            }
        }
        let experiments = &self.experiments;
        for group in &self.parts.groups {
            for range in &mut ranges[group.traffic_allocation.range()] {
                let key_of = key_of!(strings, experiments, id);
                range.target = self
                    .experiment_by_id
                    .get(&self.slots, strings.get(range.entity_id), key_of)
                    .map_or(NONE, |i| i as u32);
            }
        }
    }

    fn resolve_audience_refs(&mut self) {
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let audiences = &self.audiences;
        for reference in &mut self.parts.refs {
            if reference.audience == UNRESOLVED {
                let key_of = key_of!(strings, audiences, id);
                reference.audience = self
                    .audience_by_id
                    .get(&self.slots, strings.get(reference.id), key_of)
                    .map_or(NONE, |i| i as u32);
            }
        }
    }

    /// Each flag's rollout and experiment rules, and each experiment's flags.
    fn resolve_flags(&mut self) {
        let strings = self.strings();
        let rollouts = &self.parts.rollouts;
        let rollout_by_id = self.rollout_by_id;
        let mut rollout_of = Vec::with_capacity(self.parts.flags.len());
        for flag in &self.parts.flags {
            let key_of = key_of!(strings, rollouts, id);
            let rollout = rollout_by_id.get(&self.slots, strings.get(flag.rollout_id), key_of);
            rollout_of.push(rollout.map_or(NONE, |r| r as u32));
        }
        let mut rule_targets = Vec::with_capacity(self.parts.rule_refs.len());
        for rule in &self.parts.rule_refs {
            rule_targets.push(self.experiment_by_id(rule.id));
        }
        for (flag, rollout) in self.parts.flags.iter_mut().zip(rollout_of) {
            flag.rollout = rollout;
        }
        for (rule, target) in self.parts.rule_refs.iter_mut().zip(rule_targets) {
            rule.experiment = target;
        }
        self.index_experiment_flags();
    }

    /// Flags listing each experiment, in flag order, each flag once.
    fn index_experiment_flags(&mut self) {
        let count = self.experiments.len();
        let mut last_flag = vec![NONE; count];
        let mut counts = vec![0u32; count];
        let mut visit = |fill: &mut dyn FnMut(usize, u32)| {
            last_flag.fill(NONE);
            for (f, flag) in self.parts.flags.iter().enumerate() {
                for rule in flag.experiment_rules.of(&self.parts.rule_refs) {
                    let e = rule.experiment as usize;
                    if rule.experiment != NONE && last_flag[e] != f as u32 {
                        last_flag[e] = f as u32;
                        fill(e, f as u32);
                    }
                }
            }
        };
        visit(&mut |e, _| counts[e] += 1);
        let mut next = Vec::with_capacity(count);
        let mut total = 0u32;
        for (experiment, &n) in self.experiments.iter_mut().zip(&counts) {
            experiment.flags = Span {
                start: total,
                len: n,
            };
            next.push(total);
            total += n;
        }
        let mut flag_refs = vec![FlagIndex(0); total as usize];
        visit(&mut |e, f| {
            flag_refs[next[e] as usize] = FlagIndex(f);
            next[e] += 1;
        });
        self.flag_refs = flag_refs;
    }

    /// Feature-rollout (`type: "fr"`) experiment rules get the flag's everyone-else variation
    /// appended, with a final range up to 10000, so users in the audience but outside the
    /// rule's traffic get that variation from this rule. A rule that several flags list gets
    /// one append per flag, gathered apart so that its lists are copied to the arenas once.
    fn inject_feature_rollout_variations(&mut self) {
        let mut injected: FxHashMap<u32, InjectedLists> = FxHashMap::default();
        for f in 0..self.parts.flags.len() {
            let Some(everyone_else) = self.everyone_else_variation(f, &injected) else {
                continue;
            };
            let rules = self.parts.flags[f].experiment_rules;
            for r in rules.range() {
                let e = self.parts.rule_refs[r].experiment;
                if e == NONE || !self.is_feature_rollout(e as usize) {
                    continue;
                }
                let lists = injected
                    .entry(e)
                    .or_insert_with(|| self.lists_of(e as usize));
                if !lists.variations.contains(&everyone_else) {
                    lists.variations.push(everyone_else);
                }
                lists.ranges.push(RangeData {
                    end_of_range: MAX_TRAFFIC_VALUE,
                    entity_id: self.parts.variations[everyone_else.get()].id,
                    target: everyone_else.0,
                });
            }
        }
        let mut injected: Vec<_> = injected.into_iter().collect();
        injected.sort_unstable_by_key(|&(e, _)| e);
        let parts = &mut self.parts;
        for (e, lists) in injected {
            let experiment = &mut self.experiments[e as usize];
            let start = parts.variation_refs.len();
            parts.variation_refs.extend(lists.variations);
            experiment.variations = Span::from(start, parts.variation_refs.len());
            let start = parts.ranges.len();
            parts.ranges.extend(lists.ranges);
            experiment.traffic_allocation = Span::from(start, parts.ranges.len());
        }
    }

    fn is_feature_rollout(&self, experiment: usize) -> bool {
        let strings = self.strings();
        strings.opt(self.experiments[experiment].experiment_type) == Some("fr")
    }

    /// Copies of an experiment's variation and range lists, to append to.
    fn lists_of(&self, experiment: usize) -> InjectedLists {
        let e = &self.experiments[experiment];
        InjectedLists {
            variations: e.variations.of(&self.parts.variation_refs).to_vec(),
            ranges: e.traffic_allocation.of(&self.parts.ranges).to_vec(),
        }
    }

    /// `variations[0]` of the last delivery rule of the flag's rollout (as injected so far).
    fn everyone_else_variation(
        &self,
        flag: usize,
        injected: &FxHashMap<u32, InjectedLists>,
    ) -> Option<VariationIndex> {
        let rollout = self.parts.flags[flag].rollout;
        let rules = self.parts.rollouts.get(rollout as usize)?.rules;
        let last_rule = rules.of(&self.experiment_refs).last()?;
        if let Some(lists) = injected.get(&last_rule.0) {
            return lists.variations.first().copied();
        }
        let experiment = &self.experiments[last_rule.get()];
        experiment
            .variations
            .of(&self.parts.variation_refs)
            .first()
            .copied()
    }

    /// Each flag's variations: those of its rules (experiment rules, then delivery rules),
    /// de-duplicated by id (first wins).
    fn collect_flag_variations(&mut self) {
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let parts = &mut self.parts;
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for flag in &mut parts.flags {
            seen.clear();
            let experiment_rules = flag
                .experiment_rules
                .of(&parts.rule_refs)
                .iter()
                .filter(|r| r.experiment != NONE)
                .map(|r| ExperimentIndex(r.experiment));
            let delivery_rules = parts
                .rollouts
                .get(flag.rollout as usize)
                .map(|r| r.rules.of(&self.experiment_refs))
                .unwrap_or_default();
            let start = parts.variation_refs.len();
            for rule in experiment_rules.chain(delivery_rules.iter().copied()) {
                let span = self.experiments[rule.get()].variations;
                for i in span.range() {
                    let v = parts.variation_refs[i];
                    if seen.insert(strings.get(parts.variations[v.get()].id)) {
                        parts.variation_refs.push(v);
                    }
                }
            }
            flag.variations = Span::from(start, parts.variation_refs.len());
        }
    }

    /// Whitelists: one entry per user id (the last one wins), sorted by user id, each
    /// resolved to the experiment's variation with its key (the last one wins).
    fn resolve_forced_variations(&mut self) {
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let parts = &mut self.parts;
        for experiment in &mut self.experiments {
            let span = experiment.forced_variations;
            if span.len == 0 {
                continue;
            }
            let entries = &mut parts.forced[span.range()];
            entries.reverse();
            entries.sort_by(|a, b| strings.get(a.user_id).cmp(strings.get(b.user_id)));
            let mut kept = 0;
            for i in 0..entries.len() {
                let repeated = kept > 0
                    && strings.get(entries[kept - 1].user_id) == strings.get(entries[i].user_id);
                if !repeated {
                    entries[kept] = entries[i];
                    kept += 1;
                }
            }
            let variations = experiment.variations.of(&parts.variation_refs);
            for entry in &mut entries[..kept] {
                let key = strings.get(entry.variation_key);
                entry.variation = variations
                    .iter()
                    .rev()
                    .find(|v| strings.get(parts.variations[v.get()].key) == key)
                    .map_or(NONE, |v| v.0);
            }
            experiment.forced_variations.len = kept as u32;
        }
    }

    /// Global holdouts, and each rule's local holdouts in datafile order.
    fn attach_holdouts(&mut self) {
        self.holdout_refs
            .extend((0..self.global_holdouts as u32).map(HoldoutIndex));
        let strings = Strings {
            text: self.parts.interner.text,
            pool: &self.pool,
        };
        let mut by_rule: FxHashMap<&str, Vec<HoldoutIndex>> = FxHashMap::default();
        for (h, holdout) in self.holdouts.iter().enumerate().skip(self.global_holdouts) {
            for &rule in holdout.included_rules.of(&self.parts.strs) {
                let targeted = by_rule.entry(strings.get(rule)).or_default();
                if !targeted.contains(&HoldoutIndex(h as u32)) {
                    targeted.push(HoldoutIndex(h as u32));
                }
            }
        }
        if by_rule.is_empty() {
            return;
        }
        for experiment in &mut self.experiments {
            if let Some(holdouts) = by_rule.get(strings.get(experiment.id)) {
                let start = self.holdout_refs.len();
                self.holdout_refs.extend_from_slice(holdouts);
                experiment.local_holdouts = Span::from(start, self.holdout_refs.len());
            }
        }
    }

    fn finish(
        self,
        warnings: Vec<DatafileWarning>,
    ) -> Result<(ProjectConfig, Box<str>), DatafileError> {
        let parts = self.parts;
        let strings = Strings {
            text: parts.interner.text,
            pool: &self.pool,
        };
        let odp = parts.odp.as_ref().and_then(|odp| {
            let public_key = strings.opt(odp.public_key).filter(|k| !k.is_empty())?;
            let host = strings.opt(odp.host).filter(|h| !h.is_empty())?;
            Some(OdpIntegration {
                public_key: public_key.to_owned(),
                host: host.to_owned(),
                pixel_url: strings
                    .opt(odp.pixel_url)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
                segments_to_check: segments_to_check(
                    strings,
                    &self.audience_segments,
                    &parts.segments,
                ),
            })
        });
        let experiment_count = self.experiments.len() - parts.experiments_in_rollouts;
        let mut experiment_extras = Vec::new();
        let mut keys = Vec::new();
        let experiments: Box<[_]> = self
            .experiments
            .iter()
            .map(|e| {
                keys.clear();
                let variations = e.variations.of(&parts.variation_refs);
                let own_keys = variations.iter();
                keys.extend(own_keys.map(|v| strings.bytes(parts.variations[v.get()].key)));
                let unique = all_different(&mut keys);
                let type_name = strings.opt(e.experiment_type);
                e.compact(type_name, variations, unique, &mut experiment_extras)
            })
            .collect();
        let audience_count = self
            .audiences
            .iter()
            .filter(|a| strings.get(a.id) != super::DUMMY_AUDIENCE_ID)
            .count();
        let mut slots = self.slots;
        let flags = &parts.flags;
        let flag_by_key = StrIndex::build(&mut slots, flags.len(), key_of!(strings, flags, key));
        let groups = &parts.groups;
        let group_by_id = StrIndex::build(&mut slots, groups.len(), key_of!(strings, groups, id));
        let attributes = &parts.attributes;
        let attribute_by_key = StrIndex::build(
            &mut slots,
            attributes.len(),
            key_of!(strings, attributes, key),
        );
        let attribute_by_id = StrIndex::build(
            &mut slots,
            attributes.len(),
            key_of!(strings, attributes, id),
        );
        let events = &parts.events;
        let event_by_key = StrIndex::build(&mut slots, events.len(), key_of!(strings, events, key));
        let global_holdouts = Span {
            start: 0,
            len: self.global_holdouts as u32,
        };
        let config = ProjectConfig {
            text: String::new(),
            pool_start: 0,
            version: parts.version,
            account_id: parts.account_id,
            project_id: parts.project_id,
            revision: parts.revision,
            sdk_key: parts.sdk_key,
            environment_key: parts.environment_key,
            anonymize_ip: parts.anonymize_ip.unwrap_or(false),
            bot_filtering: parts.bot_filtering,
            send_flag_decisions: parts.send_flag_decisions.unwrap_or(false),
            region: Region::parse(strings.opt(parts.region)),
            experiments,
            experiment_extras: experiment_extras.into_boxed_slice(),
            experiment_by_id: self.experiment_by_id,
            experiment_by_key: self.experiment_by_key,
            variations: parts.variations.into_boxed_slice(),
            variation_by_id: self.variation_by_id,
            usages: parts.usages.into_boxed_slice(),
            ranges: parts.ranges.into_boxed_slice(),
            forced: parts.forced.into_boxed_slice(),
            cmabs: parts.cmabs.into_boxed_slice(),
            flags: parts.flags.into_boxed_slice(),
            flag_by_key,
            variables: parts.variables.into_boxed_slice(),
            rule_refs: parts.rule_refs.into_boxed_slice(),
            rollouts: parts.rollouts.into_boxed_slice(),
            rollout_by_id: self.rollout_by_id,
            groups: parts.groups.into_boxed_slice(),
            group_by_id,
            audiences: self.audiences.into_boxed_slice(),
            audience_by_id: self.audience_by_id,
            nodes: parts.nodes.into_boxed_slice(),
            leaves: parts.leaves.into_boxed_slice(),
            audience_refs: parts.refs.into_boxed_slice(),
            attributes: parts.attributes.into_boxed_slice(),
            attribute_by_key,
            attribute_by_id,
            events: parts.events.into_boxed_slice(),
            event_by_key,
            holdouts: self.holdouts.into_boxed_slice(),
            global_holdouts,
            strs: parts.strs.into_boxed_slice(),
            variation_refs: parts.variation_refs.into_boxed_slice(),
            experiment_refs: self.experiment_refs.into_boxed_slice(),
            flag_refs: self.flag_refs.into_boxed_slice(),
            holdout_refs: self.holdout_refs.into_boxed_slice(),
            index_slots: slots.into_boxed_slice(),
            odp,
            experiment_count,
            audience_count,
            warnings,
        };
        Ok((config, self.pool))
    }
}

/// Experiments in their final order (top level, group members, delivery rules), with the
/// group member and rollout rule lists pointing at them and random groups marked.
fn order_experiments(parts: &mut Parts<'_>) -> (Vec<ExperimentRecord>, Vec<ExperimentIndex>) {
    let [top, members, rules] = std::mem::take(&mut parts.experiments);
    let member_base = top.len();
    let rule_base = top.len() + members.len();
    parts.experiments_in_rollouts = rules.len();
    let mut experiments = top;
    experiments.extend(members);
    experiments.extend(rules);
    let mut refs = Vec::with_capacity(experiments.len() - member_base);
    let strings = parts.interner.strings();
    for (g, group) in parts.groups.iter_mut().enumerate() {
        let start = refs.len();
        let random = strings.get(group.policy) == "random";
        for local in group.experiments.range() {
            let position = member_base + local;
            refs.push(ExperimentIndex(position as u32));
            if random {
                experiments[position].mutex_group = g as u32;
            }
        }
        group.experiments = Span::from(start, refs.len());
    }
    for rollout in &mut parts.rollouts {
        let start = refs.len();
        refs.extend(
            rollout
                .rules
                .range()
                .map(|local| ExperimentIndex((rule_base + local) as u32)),
        );
        rollout.rules = Span::from(start, refs.len());
    }
    (experiments, refs)
}

/// Whether no two of `keys` are equal (sorts them).
fn all_different(keys: &mut [&[u8]]) -> bool {
    keys.sort_unstable();
    keys.windows(2).all(|pair| pair[0] != pair[1])
}

/// Unique segments, first seen, in audience order (typed first).
fn segments_to_check(strings: Strings<'_>, audiences: &[Span], segments: &[Str]) -> Vec<String> {
    let mut seen = FxHashSet::default();
    let mut out = Vec::new();
    for audience in audiences {
        for &segment in audience.of(segments) {
            let segment = strings.get(segment);
            if seen.insert(segment) {
                out.push(segment.to_owned());
            }
        }
    }
    out
}
