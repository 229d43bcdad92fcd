//! The per-flag decision algorithm: forced decisions, holdouts, experiment rules, delivery rules.

use super::user::{UserData, UserProfile};
use crate::bucketing;
use crate::condition::ExperimentAudiences;
use crate::condition_eval::audiences_match;
use crate::config::text::Str;
use crate::config::{
    Experiment, ExperimentIndex, Flag, FlagIndex, HoldoutIndex, NONE, ProjectConfig,
    TrafficAllocation, VariationIndex,
};
use crate::diagnostics::{LogLevel, Trace, trace_reason};
use std::fmt;

/// Where a decision came from (the impression's `rule_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionSource {
    /// An experiment rule, or a flag-level forced decision.
    FeatureTest,
    /// A delivery rule, or no decision at all.
    Rollout,
    /// A holdout.
    Holdout,
}

impl DecisionSource {
    /// `feature-test`, `rollout` or `holdout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeatureTest => "feature-test",
            Self::Rollout => "rollout",
            Self::Holdout => "holdout",
        }
    }
}

impl fmt::Display for DecisionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule a decision was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleRef {
    None,
    Experiment(ExperimentIndex),
    Holdout(HoldoutIndex),
}

/// The outcome of the algorithm for one flag, as indices into the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resolution {
    pub(crate) rule: RuleRef,
    pub(crate) variation: Option<VariationIndex>,
    pub(crate) source: DecisionSource,
}

impl Resolution {
    const NONE_FROM_ROLLOUT: Self = Self {
        rule: RuleRef::None,
        variation: None,
        source: DecisionSource::Rollout,
    };
}

/// Everything one flag evaluation reads and writes.
pub(crate) struct FlagRun<'r, 'c, 't> {
    pub(crate) config: &'c ProjectConfig,
    pub(crate) user: &'r UserData,
    pub(crate) flag: Flag<'c>,
    pub(crate) flag_index: FlagIndex,
    pub(crate) bucketing_id: &'r str,
    pub(crate) profile: Option<&'r mut UserProfile>,
    pub(crate) trace: &'r mut Trace<'t>,
}

/// Which audience-evaluation wording applies (`experiment "<key>"` or `rule <n>`); the key
/// is resolved only when a line is written.
#[derive(Clone, Copy)]
enum AudienceSubject<'a> {
    Experiment(Str),
    Rule(&'a str),
}

impl<'c> FlagRun<'_, 'c, '_> {
    /// core.md §2.3, after the flag-level forced decision.
    pub(crate) fn resolve_after_flag_forced(&mut self) -> Resolution {
        for &holdout in self.config.global_holdouts() {
            if let Some(variation) = self.holdout_variation(holdout) {
                return holdout_resolution(holdout, variation);
            }
        }
        if let Some(resolution) = self.experiment_rules() {
            return resolution;
        }
        let resolution = self.delivery_rules();
        let (user_id, flag) = (&self.user.user_id, self.flag);
        if resolution.variation.is_some() {
            trace_reason!(
                self.trace,
                LogLevel::Debug,
                "User {user_id} is in rollout of feature {}.",
                flag.key()
            );
        } else {
            trace_reason!(
                self.trace,
                LogLevel::Debug,
                "User {user_id} is not in rollout of feature {}.",
                flag.key()
            );
        }
        resolution
    }

    /// A forced decision for the flag (`rule: None`) or one of its rules, whose variation
    /// belongs to the flag. Inlined: most users have no forced decisions, which costs one
    /// comparison.
    #[inline(always)]
    pub(crate) fn forced_variation(
        &mut self,
        rule: Option<Experiment<'c>>,
    ) -> Option<VariationIndex> {
        if self.user.forced_decisions.is_empty() {
            return None;
        }
        self.lookup_forced_variation(rule.map(|rule| rule.key()))
    }

    #[inline(never)]
    fn lookup_forced_variation(&mut self, rule_key: Option<&str>) -> Option<VariationIndex> {
        let (user, flag) = (self.user, self.flag);
        let flag_key = flag.key();
        let variation_key = user.forced_decisions.get(flag_key, rule_key)?;
        let variation = self
            .config
            .flag_variation_by_key(self.flag_index, variation_key);
        let user_id = &user.user_id;
        match (variation, rule_key) {
            (Some(_), Some(rule_key)) => self.trace.reason(
                LogLevel::Info,
                format_args!(
                    "Variation ({variation_key}) is mapped to flag ({flag_key}), rule ({rule_key}) and user ({user_id}) in the forced decision map."
                ),
            ),
            (Some(_), None) => self.trace.reason(
                LogLevel::Info,
                format_args!(
                    "Variation ({variation_key}) is mapped to flag ({flag_key}) and user ({user_id}) in the forced decision map."
                ),
            ),
            (None, Some(rule_key)) => self.trace.reason(
                LogLevel::Info,
                format_args!(
                    "Invalid variation is mapped to flag ({flag_key}), rule ({rule_key}) and user ({user_id}) in the forced decision map."
                ),
            ),
            (None, None) => self.trace.reason(
                LogLevel::Info,
                format_args!(
                    "Invalid variation is mapped to flag ({flag_key}) and user ({user_id}) in the forced decision map."
                ),
            ),
        }
        variation
    }

    fn experiment_rules(&mut self) -> Option<Resolution> {
        let flag = self.flag;
        if !flag.has_experiment_rules() {
            trace_reason!(
                self.trace,
                LogLevel::Debug,
                "Feature {} is not attached to any experiments.",
                flag.key()
            );
            return None;
        }
        for rule_ref in flag.experiment_rules() {
            let Some(index) = rule_ref.experiment() else {
                self.trace.log(
                    LogLevel::Error,
                    format_args!("Experiment ID {} is not in datafile.", rule_ref.id()),
                );
                continue;
            };
            if let Some(resolution) = self.experiment_rule(index) {
                return resolution;
            }
        }
        None
    }

    /// `None`: try the next rule. `Some(Some(_))`: decided. `Some(None)`: the rule chose a
    /// variation whose key neither the rule nor the flag has, which ends the experiment rules
    /// (the reference SDK then goes on to the delivery rules).
    fn experiment_rule(&mut self, index: ExperimentIndex) -> Option<Option<Resolution>> {
        let config = self.config;
        let rule = config.experiment(index);
        let variation = match self.forced_variation(Some(rule)) {
            Some(forced) => Some(forced),
            None => {
                if rule.has_extras()
                    && let Some(resolution) = self.local_holdouts(rule)
                {
                    return Some(Some(resolution));
                }
                self.experiment_variation(rule)
            }
        }?;
        // The reference SDK re-reads the variation by key: first in the rule, then in the flag;
        // when neither has it the flag falls through to its delivery rules. A variation of the
        // rule whose key no other variation of the rule has is its own answer.
        let variation = if rule.has_unique_variation_keys() && rule.has_variation(variation) {
            Some(variation)
        } else {
            let key = config.variation(variation).key();
            config
                .experiment_variation_by_key(index, key)
                .or_else(|| self.flag_variation_by_key(key))
        };
        Some(variation.map(|variation| Resolution {
            rule: RuleRef::Experiment(index),
            variation: Some(variation),
            source: DecisionSource::FeatureTest,
        }))
    }

    fn flag_variation_by_key(&self, key: &str) -> Option<VariationIndex> {
        self.flag
            .variations()
            .iter()
            .copied()
            .find(|&v| self.config.variation(v).key() == key)
    }

    fn local_holdouts(&mut self, rule: Experiment<'c>) -> Option<Resolution> {
        rule.local_holdouts().iter().find_map(|&holdout| {
            self.holdout_variation(holdout)
                .map(|variation| holdout_resolution(holdout, variation))
        })
    }

    /// core.md §2.4: status, whitelist, sticky bucketing, audiences, CMAB, bucketing.
    fn experiment_variation(&mut self, experiment: Experiment<'c>) -> Option<VariationIndex> {
        let (config, user) = (self.config, self.user);
        if !experiment.is_running() {
            trace_reason!(
                self.trace,
                LogLevel::Info,
                "Experiment {} is not running.",
                experiment.key()
            );
            return None;
        }
        // Whitelists, CMAB settings and groups are among the extras of an experiment.
        let extras = experiment.has_extras();
        if extras && let Some(variation) = self.whitelisted_variation(experiment) {
            return Some(variation);
        }
        if let Some(variation) = self.stored_variation(experiment) {
            return Some(variation);
        }
        let subject = AudienceSubject::Experiment(experiment.data.key);
        if !self.in_audiences(experiment.audiences(), subject) {
            let user_id = &user.user_id;
            trace_reason!(
                self.trace,
                LogLevel::Info,
                "User {user_id} does not meet conditions to be in experiment {}.",
                experiment.key()
            );
            return None;
        }
        let variation = if extras && experiment.cmab().is_some() {
            self.trace.reason(
                LogLevel::Info,
                format_args!("CMAB is not supported in sync mode."),
            );
            None
        } else {
            self.bucket_experiment(experiment)
        };
        let user_id = &user.user_id;
        match variation {
            Some(variation) => {
                trace_reason!(
                    self.trace,
                    LogLevel::Info,
                    "User {user_id} is in variation {} of experiment {}.",
                    config.variation(variation).key(),
                    experiment.key()
                );
                if let Some(profile) = self.profile.as_deref_mut() {
                    profile.record(experiment.id(), config.variation(variation).id());
                }
            }
            None => trace_reason!(
                self.trace,
                LogLevel::Debug,
                "User {user_id} is in no variation of experiment {}.",
                experiment.key()
            ),
        }
        variation
    }

    fn whitelisted_variation(&mut self, experiment: Experiment<'_>) -> Option<VariationIndex> {
        if !experiment.has_forced_variations() {
            return None;
        }
        let user_id = &self.user.user_id;
        let forced = experiment.forced_variation(user_id)?;
        let variation_key = forced.variation_key();
        match forced.variation() {
            Some(variation) => {
                self.trace.reason(
                    LogLevel::Info,
                    format_args!("User {user_id} is forced in variation {variation_key}."),
                );
                Some(variation)
            }
            None => {
                self.trace.reason(
                    LogLevel::Error,
                    format_args!(
                        "Variation key {variation_key} is not in datafile. Not activating user {user_id}."
                    ),
                );
                None
            }
        }
    }

    fn stored_variation(&mut self, experiment: Experiment<'_>) -> Option<VariationIndex> {
        let config = self.config;
        let profile = self.profile.as_deref()?;
        let variation_id = profile.variation_for(experiment.id())?;
        let user_id = &self.user.user_id;
        let key = experiment.key();
        match config.variation_by_id(variation_id) {
            Some(variation) => {
                let variation_key = config.variation(variation).key();
                self.trace.reason(
                    LogLevel::Info,
                    format_args!(
                        "Returning previously activated variation \"{variation_key}\" of experiment \"{key}\" for user \"{user_id}\" from user profile."
                    ),
                );
                Some(variation)
            }
            None => {
                self.trace.log(
                    LogLevel::Info,
                    format_args!(
                        "User {user_id} was previously bucketed into variation with ID {variation_id} for experiment {key}, but no matching variation was found."
                    ),
                );
                None
            }
        }
    }

    /// Group bucketing (mutually exclusive groups only), then bucketing into the experiment.
    fn bucket_experiment(&mut self, experiment: Experiment<'c>) -> Option<VariationIndex> {
        if experiment.has_extras()
            && let Some(group_index) = experiment.mutex_group()
        {
            let group = self.config.group(group_index);
            let bucket = bucketing::bucket_value(self.bucketing_id, group.id());
            let chosen = group
                .traffic_allocation()
                .range_for(bucket)
                .map(|range| range.entity_id());
            let (user_id, key, group_id) = (&self.user.user_id, experiment.key(), group.id());
            match chosen {
                None => {
                    self.trace.reason(
                        LogLevel::Info,
                        format_args!(
                            "User {user_id} is not in any experiment of group {group_id}."
                        ),
                    );
                    return None;
                }
                Some(id) if id != experiment.id() => {
                    self.trace.reason(
                        LogLevel::Info,
                        format_args!(
                            "User {user_id} is not in experiment {key} of group {group_id}."
                        ),
                    );
                    return None;
                }
                Some(_) => self.trace.reason(
                    LogLevel::Info,
                    format_args!("User {user_id} is in experiment {key} of group {group_id}."),
                ),
            }
        }
        self.bucket(experiment.data.id, experiment.traffic_allocation())
    }

    /// Buckets into an allocation with `entity_id` as the hash suffix.
    fn bucket(
        &mut self,
        entity_id: Str,
        allocation: TrafficAllocation<'_, VariationIndex>,
    ) -> Option<VariationIndex> {
        let hash = bucketing::murmur3_x86_32_concat(
            self.bucketing_id.as_bytes(),
            self.config.bytes(entity_id),
            bucketing::HASH_SEED,
        );
        let bucket = bucketing::scale_hash(hash);
        let user_id = &self.user.user_id;
        trace_reason!(
            self.trace,
            LogLevel::Debug,
            "Assigned bucket {bucket} to user with bucketing ID {user_id}."
        );
        let range = allocation.range_data_for(bucket)?;
        if range.target == NONE && !range.entity_id.is_empty() {
            self.trace.reason(
                LogLevel::Warn,
                format_args!("Bucketed into an invalid variation ID. Returning null."),
            );
        }
        (range.target != NONE).then_some(VariationIndex(range.target))
    }

    /// Whether the user is in the audiences, with the evaluation traced when anything is
    /// recorded. Inlined: most rules target everyone, which costs one comparison.
    #[inline(always)]
    fn in_audiences(
        &mut self,
        audiences: ExperimentAudiences<'_>,
        subject: AudienceSubject<'_>,
    ) -> bool {
        match self.trace.is_silent() {
            true if audiences.matches_everyone() => true,
            true => audiences_match(self.config, audiences, self.user, self.trace),
            false => self.in_audiences_traced(audiences, subject),
        }
    }

    fn in_audiences_traced(
        &mut self,
        audiences: ExperimentAudiences<'_>,
        subject: AudienceSubject<'_>,
    ) -> bool {
        let (kind, name) = match subject {
            AudienceSubject::Experiment(key) => ("experiment", self.config.str(key)),
            AudienceSubject::Rule(logging_key) => ("rule", logging_key),
        };
        self.trace.reason(
            LogLevel::Debug,
            format_args!(
                "Evaluating audiences for {kind} \"{name}\": {}.",
                audiences.json()
            ),
        );
        let matched = audiences_match(self.config, audiences, self.user, self.trace);
        let result = if matched { "TRUE" } else { "FALSE" };
        self.trace.reason(
            LogLevel::Info,
            format_args!("Audiences for {kind} {name} collectively evaluated to {result}."),
        );
        matched
    }

    /// core.md §2.5.
    fn holdout_variation(&mut self, index: HoldoutIndex) -> Option<VariationIndex> {
        let (config, user) = (self.config, self.user);
        let holdout = config.holdout(index);
        if !holdout.is_running() {
            trace_reason!(
                self.trace,
                LogLevel::Info,
                "Holdout {} is not running.",
                holdout.key()
            );
            return None;
        }
        let user_id = &user.user_id;
        let subject = AudienceSubject::Experiment(holdout.data.key);
        if !self.in_audiences(holdout.audiences(), subject) {
            trace_reason!(
                self.trace,
                LogLevel::Info,
                "User {user_id} does not meet conditions for holdout {}.",
                holdout.key()
            );
            return None;
        }
        trace_reason!(
            self.trace,
            LogLevel::Info,
            "User {user_id} meets conditions for holdout {}.",
            holdout.key()
        );
        let variation = self.bucket(holdout.data.id, holdout.traffic_allocation());
        match variation {
            Some(variation) => {
                trace_reason!(
                    self.trace,
                    LogLevel::Info,
                    "User {user_id} is in variation {} of holdout {}.",
                    config.variation(variation).key(),
                    holdout.key()
                );
            }
            None => self.trace.reason(
                LogLevel::Info,
                format_args!("User {user_id} is in no holdout variation."),
            ),
        }
        variation
    }

    /// core.md §2.3 step 4.
    fn delivery_rules(&mut self) -> Resolution {
        let flag = self.flag;
        if flag.data.rollout_id.is_empty() {
            trace_reason!(
                self.trace,
                LogLevel::Debug,
                "There is no rollout of feature {}.",
                flag.key()
            );
            return Resolution::NONE_FROM_ROLLOUT;
        }
        let Some(rollout) = flag.rollout() else {
            trace_reason!(
                self.trace,
                LogLevel::Error,
                "Invalid rollout ID {} attached to feature {}",
                flag.rollout_id(),
                flag.key()
            );
            return Resolution::NONE_FROM_ROLLOUT;
        };
        let rules = self.config.rollout(rollout).rules();
        if rules.is_empty() {
            trace_reason!(
                self.trace,
                LogLevel::Error,
                "Rollout of feature {} has no experiments",
                flag.key()
            );
            return Resolution::NONE_FROM_ROLLOUT;
        }
        let mut position = 0;
        while let Some(&rule) = rules.get(position) {
            let everyone_else = position + 1 == rules.len();
            match self.delivery_rule(rule, position, everyone_else) {
                DeliveryOutcome::Decided(resolution) => return resolution,
                DeliveryOutcome::SkipToEveryoneElse => position = rules.len() - 1,
                DeliveryOutcome::Next => position += 1,
            }
        }
        Resolution::NONE_FROM_ROLLOUT
    }

    fn delivery_rule(
        &mut self,
        index: ExperimentIndex,
        position: usize,
        everyone_else: bool,
    ) -> DeliveryOutcome {
        let (config, user) = (self.config, self.user);
        let rule = config.experiment(index);
        let decided = |variation| {
            DeliveryOutcome::Decided(Resolution {
                rule: RuleRef::Experiment(index),
                variation: Some(variation),
                source: DecisionSource::Rollout,
            })
        };
        if let Some(variation) = self.forced_variation(Some(rule)) {
            return decided(variation);
        }
        if rule.has_extras()
            && let Some(resolution) = self.local_holdouts(rule)
        {
            return DeliveryOutcome::Decided(resolution);
        }
        let mut number_buffer = itoa_buffer();
        let logging_key = match (everyone_else, self.trace.is_silent()) {
            (true, _) => "Everyone Else",
            // Written only when a line quotes it.
            (false, true) => "",
            (false, false) => write_number(&mut number_buffer, position + 1),
        };
        let user_id = &user.user_id;
        if !self.in_audiences(rule.audiences(), AudienceSubject::Rule(logging_key)) {
            self.trace.reason(
                LogLevel::Debug,
                format_args!(
                    "User {user_id} does not meet conditions for targeting rule {logging_key}."
                ),
            );
            return DeliveryOutcome::Next;
        }
        self.trace.reason(
            LogLevel::Debug,
            format_args!("User {user_id} meets conditions for targeting rule {logging_key}."),
        );
        match self.bucket(rule.data.id, rule.traffic_allocation()) {
            Some(variation) => {
                self.trace.reason(
                    LogLevel::Debug,
                    format_args!("User {user_id} bucketed into targeting rule {logging_key}."),
                );
                decided(variation)
            }
            None if everyone_else => DeliveryOutcome::Next,
            None => {
                self.trace.reason(
                    LogLevel::Debug,
                    format_args!(
                        "User {user_id} not bucketed into targeting rule {logging_key} due to traffic allocation. Trying everyone rule."
                    ),
                );
                DeliveryOutcome::SkipToEveryoneElse
            }
        }
    }
}

enum DeliveryOutcome {
    Decided(Resolution),
    SkipToEveryoneElse,
    Next,
}

fn holdout_resolution(holdout: HoldoutIndex, variation: VariationIndex) -> Resolution {
    Resolution {
        rule: RuleRef::Holdout(holdout),
        variation: Some(variation),
        source: DecisionSource::Holdout,
    }
}

/// A stack buffer for formatting a rule position without allocating.
fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

fn write_number(buffer: &mut [u8; 20], mut number: usize) -> &str {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[start..]).unwrap_or("")
}
