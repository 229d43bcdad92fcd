//! The per-flag decision algorithm: forced decisions, holdouts, experiment rules, delivery rules.

use super::user::{UserData, UserProfile};
use crate::bucketing;
use crate::condition::ExperimentAudiences;
use crate::condition_eval::audiences_match;
use crate::config::{
    Experiment, ExperimentIndex, Flag, FlagIndex, Holdout, HoldoutIndex, ProjectConfig,
    TrafficRange, VariationIndex,
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
    pub(crate) flag: &'c Flag,
    pub(crate) flag_index: FlagIndex,
    pub(crate) bucketing_id: &'r str,
    pub(crate) profile: Option<&'r mut UserProfile>,
    pub(crate) trace: &'r mut Trace<'t>,
}

/// Which audience-evaluation wording applies (`experiment "<key>"` or `rule <n>`).
#[derive(Clone, Copy)]
enum AudienceSubject<'a> {
    Experiment(&'a str),
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
        let (user_id, flag_key) = (&self.user.user_id, self.flag.key());
        if resolution.variation.is_some() {
            self.trace.reason(
                LogLevel::Debug,
                format_args!("User {user_id} is in rollout of feature {flag_key}."),
            );
        } else {
            self.trace.reason(
                LogLevel::Debug,
                format_args!("User {user_id} is not in rollout of feature {flag_key}."),
            );
        }
        resolution
    }

    /// A forced decision for `(flag, rule)` whose variation belongs to the flag.
    #[inline]
    pub(crate) fn forced_variation(&mut self, rule_key: Option<&str>) -> Option<VariationIndex> {
        if self.user.forced_decisions.is_empty() {
            return None;
        }
        self.lookup_forced_variation(rule_key)
    }

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
        if flag.experiment_rules().is_empty() {
            self.trace.reason(
                LogLevel::Debug,
                format_args!("Feature {} is not attached to any experiments.", flag.key()),
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
        let variation = match self.forced_variation(Some(rule.key())) {
            Some(forced) => Some(forced),
            None => {
                if let Some(resolution) = self.local_holdouts(rule) {
                    return Some(Some(resolution));
                }
                self.experiment_variation(index)
            }
        }?;
        // The reference SDK re-reads the variation by key: first in the rule, then in the flag;
        // when neither has it the flag falls through to its delivery rules.
        let key = config.variation(variation).key();
        let variation = config
            .experiment_variation_by_key(index, key)
            .or_else(|| self.flag_variation_by_key(key));
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

    fn local_holdouts(&mut self, rule: &'c Experiment) -> Option<Resolution> {
        rule.local_holdouts().iter().find_map(|&holdout| {
            self.holdout_variation(holdout)
                .map(|variation| holdout_resolution(holdout, variation))
        })
    }

    /// core.md §2.4: status, whitelist, sticky bucketing, audiences, CMAB, bucketing.
    fn experiment_variation(&mut self, index: ExperimentIndex) -> Option<VariationIndex> {
        let (config, user) = (self.config, self.user);
        let experiment = config.experiment(index);
        let key = experiment.key();
        if !experiment.is_running() {
            self.trace.reason(
                LogLevel::Info,
                format_args!("Experiment {key} is not running."),
            );
            return None;
        }
        if let Some(variation) = self.whitelisted_variation(experiment) {
            return Some(variation);
        }
        if let Some(variation) = self.stored_variation(experiment) {
            return Some(variation);
        }
        let subject = AudienceSubject::Experiment(key);
        if !self.in_audiences(experiment.audiences(), subject) {
            let user_id = &user.user_id;
            self.trace.reason(
                LogLevel::Info,
                format_args!("User {user_id} does not meet conditions to be in experiment {key}."),
            );
            return None;
        }
        let variation = if experiment.cmab().is_some() {
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
                let variation = config.variation(variation);
                let variation_key = variation.key();
                trace_reason!(
                    self.trace,
                    LogLevel::Info,
                    "User {user_id} is in variation {variation_key} of experiment {key}."
                );
                if let Some(profile) = self.profile.as_deref_mut() {
                    profile.record(experiment.id(), variation.id());
                }
            }
            None => self.trace.reason(
                LogLevel::Debug,
                format_args!("User {user_id} is in no variation of experiment {key}."),
            ),
        }
        variation
    }

    fn whitelisted_variation(&mut self, experiment: &Experiment) -> Option<VariationIndex> {
        if experiment.forced_variations().is_empty() {
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

    fn stored_variation(&mut self, experiment: &Experiment) -> Option<VariationIndex> {
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
    fn bucket_experiment(&mut self, experiment: &'c Experiment) -> Option<VariationIndex> {
        if let Some(group_index) = experiment.mutex_group() {
            let group = self.config.group(group_index);
            let bucket = bucketing::bucket_value(self.bucketing_id, group.id());
            let chosen =
                find_range(group.traffic_allocation(), bucket).map(TrafficRange::entity_id);
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
        self.bucket(experiment.id(), experiment.traffic_allocation())
    }

    /// Buckets into an allocation with `entity_id` as the hash suffix.
    fn bucket(
        &mut self,
        entity_id: &str,
        allocation: &[TrafficRange<VariationIndex>],
    ) -> Option<VariationIndex> {
        let bucket = bucketing::bucket_value(self.bucketing_id, entity_id);
        let user_id = &self.user.user_id;
        trace_reason!(
            self.trace,
            LogLevel::Debug,
            "Assigned bucket {bucket} to user with bucketing ID {user_id}."
        );
        let range = find_range(allocation, bucket)?;
        if range.target().is_none() && !range.entity_id().is_empty() {
            self.trace.reason(
                LogLevel::Warn,
                format_args!("Bucketed into an invalid variation ID. Returning null."),
            );
        }
        range.target()
    }

    #[inline]
    fn in_audiences(
        &mut self,
        audiences: &ExperimentAudiences,
        subject: AudienceSubject<'_>,
    ) -> bool {
        if self.trace.is_silent() {
            return audiences_match(self.config, audiences, self.user, self.trace);
        }
        self.in_audiences_traced(audiences, subject)
    }

    fn in_audiences_traced(
        &mut self,
        audiences: &ExperimentAudiences,
        subject: AudienceSubject<'_>,
    ) -> bool {
        let (kind, name) = match subject {
            AudienceSubject::Experiment(key) => ("experiment", key),
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
        let holdout: &Holdout = config.holdout(index);
        let key = holdout.key();
        if !holdout.is_running() {
            self.trace.reason(
                LogLevel::Info,
                format_args!("Holdout {key} is not running."),
            );
            return None;
        }
        let user_id = &user.user_id;
        if !self.in_audiences(holdout.audiences(), AudienceSubject::Experiment(key)) {
            self.trace.reason(
                LogLevel::Info,
                format_args!("User {user_id} does not meet conditions for holdout {key}."),
            );
            return None;
        }
        self.trace.reason(
            LogLevel::Info,
            format_args!("User {user_id} meets conditions for holdout {key}."),
        );
        let variation = self.bucket(holdout.id(), holdout.traffic_allocation());
        match variation {
            Some(variation) => {
                let variation_key = config.variation(variation).key();
                self.trace.reason(
                    LogLevel::Info,
                    format_args!(
                        "User {user_id} is in variation {variation_key} of holdout {key}."
                    ),
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
        let flag_key = flag.key();
        if flag.rollout_id().is_empty() {
            self.trace.reason(
                LogLevel::Debug,
                format_args!("There is no rollout of feature {flag_key}."),
            );
            return Resolution::NONE_FROM_ROLLOUT;
        }
        let Some(rollout) = flag.rollout() else {
            self.trace.reason(
                LogLevel::Error,
                format_args!(
                    "Invalid rollout ID {} attached to feature {flag_key}",
                    flag.rollout_id()
                ),
            );
            return Resolution::NONE_FROM_ROLLOUT;
        };
        let rules = self.config.rollout(rollout).rules();
        if rules.is_empty() {
            self.trace.reason(
                LogLevel::Error,
                format_args!("Rollout of feature {flag_key} has no experiments"),
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
        if let Some(variation) = self.forced_variation(Some(rule.key())) {
            return decided(variation);
        }
        if let Some(resolution) = self.local_holdouts(rule) {
            return DeliveryOutcome::Decided(resolution);
        }
        let mut number_buffer = itoa_buffer();
        let logging_key = if everyone_else {
            "Everyone Else"
        } else {
            write_number(&mut number_buffer, position + 1)
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
        match self.bucket(rule.id(), rule.traffic_allocation()) {
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

/// The first range whose exclusive end is above `bucket`.
fn find_range<T: Copy>(allocation: &[TrafficRange<T>], bucket: u32) -> Option<&TrafficRange<T>> {
    allocation
        .iter()
        .find(|range| bucket < range.end_of_range())
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
