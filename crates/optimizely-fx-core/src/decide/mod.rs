//! The decide engine: which variation of each flag a user gets, and why.
//!
//! Decisions match the official SDKs (JavaScript as the reference) decision for decision:
//! flag-level and rule-level forced decisions, global and local holdouts, experiment rules
//! (status, whitelist, sticky bucketing, audiences, mutual-exclusion groups, bucketing) and
//! delivery rules with the jump to "Everyone Else". CMAB rules are skipped with a reason.
//!
//! Decisions never fail: problems become reasons, as in the official SDKs.
//!
//! ```
//! use optimizely_fx_core::ProjectConfig;
//! use optimizely_fx_core::decide::{DecideOptions, UserData, decide};
//!
//! let config = ProjectConfig::parse(r#"{"version": "4", "accountId": "1", "projectId": "2",
//!   "revision": "3", "featureFlags": [{"id": "10", "key": "checkout", "rolloutId": "r",
//!   "experimentIds": [], "variables": []}], "rollouts": [{"id": "r", "experiments": [
//!   {"id": "20", "key": "everyone", "status": "Running", "layerId": "30", "audienceIds": [],
//!    "variations": [{"id": "40", "key": "on", "featureEnabled": true, "variables": []}],
//!    "trafficAllocation": [{"entityId": "40", "endOfRange": 10000}]}]}]}"#).unwrap();
//! let user = UserData::new("user-1");
//! let decision = decide(&config, &user, "checkout", DecideOptions::NONE, None);
//! assert_eq!(decision.variation_key.as_deref(), Some("on"));
//! assert!(decision.enabled);
//! assert_eq!(decision.rule_key.as_deref(), Some("everyone"));
//! ```

mod engine;
mod options;
mod user;
mod variables;

pub use engine::DecisionSource;
pub use options::{DecideOptions, UnknownDecideOption};
pub use user::{
    AttributeValue, Attributes, BUCKETING_ID_ATTRIBUTE, ForcedDecisionKey, ForcedDecisions,
    UserData, UserProfile,
};
pub(crate) use variables::FlagVariableSets;
pub use variables::{Variables, cast_variable};

use crate::config::{FlagIndex, ProjectConfig, VariationIndex};
use crate::diagnostics::{LogLevel, LogSink, Trace, trace_log};
use engine::{FlagRun, Resolution, RuleRef};

/// Reason of the decision returned when there is no valid config yet.
pub const SDK_NOT_READY: &str = "Optimizely SDK not configured properly yet.";

/// The decision for one flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The flag key asked for.
    pub flag_key: String,
    /// The variation key, or `None` when the user got no variation.
    pub variation_key: Option<String>,
    /// Whether the flag is enabled for the user (the variation's `featureEnabled`).
    pub enabled: bool,
    /// Every variable of the flag (unless `EXCLUDE_VARIABLES`), name → typed value, in the
    /// flag's order; a value that does not cast to its type is `null`.
    pub variables: Variables,
    /// The key of the rule (experiment, delivery rule or holdout) that decided, if any.
    pub rule_key: Option<String>,
    /// Why, step by step (only with `INCLUDE_REASONS`, except for error decisions).
    pub reasons: Vec<String>,
    /// Where the decision came from (impression `rule_type`).
    pub source: DecisionSource,
    /// Whether an impression event must be sent for this decision: decided by an experiment
    /// rule, a flag-level forced decision or a holdout, or by a delivery rule (or nothing)
    /// when the datafile has `sendFlagDecisions`; never with `DISABLE_DECISION_EVENT`, never
    /// for an error decision.
    pub send_impression: bool,
    origin: Origin,
}

/// What a decision was made from, as indices into the config it was made with (so that ids
/// needed only for events and notifications cost no allocation on the decide path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin {
    config: usize,
    rule: RuleRef,
    variation: Option<VariationIndex>,
}

impl Origin {
    const NONE: Self = Self {
        config: 0,
        rule: RuleRef::None,
        variation: None,
    };

    fn config_address(config: &ProjectConfig) -> usize {
        std::ptr::from_ref(config) as usize
    }

    /// The rule and variation, if `config` is the config the decision was made with.
    fn in_config(&self, config: &ProjectConfig) -> Option<(RuleRef, Option<VariationIndex>)> {
        (self.config == Self::config_address(config)).then_some((self.rule, self.variation))
    }
}

impl Decision {
    /// An error decision: no variation, disabled, no variables, with `reason`.
    pub fn error(flag_key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            flag_key: flag_key.into(),
            variation_key: None,
            enabled: false,
            variables: Variables::new(),
            rule_key: None,
            reasons: vec![reason.into()],
            source: DecisionSource::Rollout,
            send_impression: false,
            origin: Origin::NONE,
        }
    }

    /// Whether this is an error decision (no config, unknown flag key): such decisions carry
    /// their reasons always, and send no impression and no notification.
    #[inline]
    pub fn is_error(&self) -> bool {
        self.origin == Origin::NONE
    }

    /// The id of the rule or holdout that decided (the impression's `experiment_id` and the
    /// notification's `experimentId`).
    ///
    /// `config` must be the config the decision was made with; for any other config (or an
    /// error decision, or no rule) this is `None`.
    pub fn experiment_id<'c>(&self, config: &'c ProjectConfig) -> Option<&'c str> {
        match self.origin.in_config(config)?.0 {
            RuleRef::None => None,
            RuleRef::Experiment(index) => {
                let experiment = config.experiments.get(index.get())?;
                Some(config.str(experiment.id))
            }
            RuleRef::Holdout(index) => {
                let holdout = config.holdouts.get(index.get())?;
                Some(config.str(holdout.id))
            }
        }
    }

    /// The id of the decided variation (see [`experiment_id`](Self::experiment_id) for
    /// `config`).
    pub fn variation_id<'c>(&self, config: &'c ProjectConfig) -> Option<&'c str> {
        let index = self.origin.in_config(config)?.1?;
        let variation = config.variations.get(index.get())?;
        Some(config.str(variation.id))
    }

    /// The impression's `campaign_id`: the rule's `layerId`, or the rule's (or holdout's) id
    /// when it has none; `None` without a rule (see [`experiment_id`](Self::experiment_id) for
    /// `config`).
    pub fn campaign_id<'c>(&self, config: &'c ProjectConfig) -> Option<&'c str> {
        match self.origin.in_config(config)?.0 {
            RuleRef::Experiment(index) => {
                let rule = config.experiments.get(index.get())?;
                let id = match rule.layer_id.is_empty() {
                    true => rule.id,
                    false => rule.layer_id,
                };
                Some(config.str(id))
            }
            _ => self.experiment_id(config),
        }
    }

    /// The decision returned when there is no valid config yet.
    pub fn sdk_not_ready(flag_key: impl Into<String>) -> Self {
        Self::error(flag_key, SDK_NOT_READY)
    }

    /// The decision for a flag key that is not in the datafile.
    pub fn unknown_flag(flag_key: impl Into<String>) -> Self {
        let flag_key = flag_key.into();
        let reason = format!("No flag was found for key \"{flag_key}\".");
        Self::error(flag_key, reason)
    }
}

/// Decides one flag for a user. `ENABLED_FLAGS_ONLY` is ignored here.
///
/// `profile` is the user's sticky-bucketing record when a user profile service is in use; it
/// is read and updated in place (see [`UserProfile::is_updated`]) unless
/// `IGNORE_USER_PROFILE_SERVICE` is set.
pub fn decide(
    config: &ProjectConfig,
    user: &UserData,
    flag_key: &str,
    options: DecideOptions,
    profile: Option<&mut UserProfile>,
) -> Decision {
    Decider::new(config, user)
        .options(options)
        .profile(profile)
        .decide(flag_key)
}

/// Decides several flags, in the order of `keys` (repeated keys are decided once).
/// An unknown key yields an error decision; `ENABLED_FLAGS_ONLY` drops disabled decisions
/// (error decisions stay).
pub fn decide_for_keys<K: AsRef<str>>(
    config: &ProjectConfig,
    user: &UserData,
    keys: &[K],
    options: DecideOptions,
    profile: Option<&mut UserProfile>,
) -> Vec<Decision> {
    Decider::new(config, user)
        .options(options)
        .profile(profile)
        .decide_for_keys(keys)
}

/// Decides every flag of the datafile, in datafile order.
pub fn decide_all(
    config: &ProjectConfig,
    user: &UserData,
    options: DecideOptions,
    profile: Option<&mut UserProfile>,
) -> Vec<Decision> {
    Decider::new(config, user)
        .options(options)
        .profile(profile)
        .decide_all()
}

/// A decide call with everything optional spelled out: options, user profile, log sink.
///
/// ```
/// use optimizely_fx_core::ProjectConfig;
/// use optimizely_fx_core::decide::{DecideOptions, Decider, UserData};
/// use optimizely_fx_core::diagnostics::LogLine;
///
/// let config = ProjectConfig::parse(r#"{"version": "4", "accountId": "1", "projectId": "2",
///   "revision": "3"}"#).unwrap();
/// let mut log: Vec<LogLine> = Vec::new();
/// let decision = Decider::new(&config, &UserData::new("u"))
///     .options(DecideOptions::INCLUDE_REASONS)
///     .log(&mut log)
///     .decide("missing");
/// assert_eq!(decision.reasons, ["No flag was found for key \"missing\"."]);
/// assert_eq!(log[0].message, "Feature missing is not in datafile.");
/// ```
pub struct Decider<'a> {
    config: &'a ProjectConfig,
    user: &'a UserData,
    options: DecideOptions,
    profile: Option<&'a mut UserProfile>,
    log: Option<&'a mut dyn LogSink>,
}

impl<'a> Decider<'a> {
    /// A decide call for `user` on `config`, without options, profile or logging.
    pub fn new(config: &'a ProjectConfig, user: &'a UserData) -> Self {
        Self {
            config,
            user,
            options: DecideOptions::NONE,
            profile: None,
            log: None,
        }
    }

    /// Sets the options (client defaults or-ed with the call's).
    pub fn options(mut self, options: DecideOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the user's profile for sticky bucketing.
    pub fn profile(mut self, profile: Option<&'a mut UserProfile>) -> Self {
        self.profile = profile;
        self
    }

    /// Sends log lines (warnings, decision steps) to `log`.
    pub fn log(mut self, log: &'a mut dyn LogSink) -> Self {
        self.log = Some(log);
        self
    }

    /// Decides one flag (`ENABLED_FLAGS_ONLY` is ignored).
    pub fn decide(mut self, flag_key: &str) -> Decision {
        self.decide_key(flag_key)
    }

    /// Decides several flags in the order of `keys`, each key once.
    pub fn decide_for_keys<K: AsRef<str>>(mut self, keys: &[K]) -> Vec<Decision> {
        let mut decisions = Vec::with_capacity(keys.len());
        for (position, key) in keys.iter().enumerate() {
            let key = key.as_ref();
            if keys[..position]
                .iter()
                .any(|earlier| earlier.as_ref() == key)
            {
                continue;
            }
            let decision = self.decide_key(key);
            if self.keeps(&decision) {
                decisions.push(decision);
            }
        }
        decisions
    }

    /// Decides every flag of the datafile, in datafile order.
    pub fn decide_all(mut self) -> Vec<Decision> {
        let config = self.config;
        let mut decisions = Vec::with_capacity(config.flag_count());
        for index in 0..config.flag_count() {
            let index = FlagIndex(index as u32);
            let decision = self.decide_flag(index, config.flag(index).key());
            if self.keeps(&decision) {
                decisions.push(decision);
            }
        }
        decisions
    }

    /// `ENABLED_FLAGS_ONLY` drops disabled decisions, but never error decisions.
    fn keeps(&self, decision: &Decision) -> bool {
        decision.enabled
            || !self.options.contains(DecideOptions::ENABLED_FLAGS_ONLY)
            || decision.is_error()
    }

    fn decide_key(&mut self, flag_key: &str) -> Decision {
        match self.config.flag_by_key(flag_key) {
            Some(index) => self.decide_flag(index, flag_key),
            None => {
                if let Some(log) = self.log.as_deref_mut()
                    && log.enabled(LogLevel::Error)
                {
                    log.log(
                        LogLevel::Error,
                        format_args!("Feature {flag_key} is not in datafile."),
                    );
                }
                Decision::unknown_flag(flag_key)
            }
        }
    }

    /// Decides the flag at `flag_index`, whose key is `flag_key`.
    fn decide_flag(&mut self, flag_index: FlagIndex, flag_key: &str) -> Decision {
        let mut reasons = Vec::new();
        let wants_reasons = self.options.contains(DecideOptions::INCLUDE_REASONS);
        let mut nowhere = ();
        let reasons_sink = wants_reasons.then_some(&mut reasons);
        let mut trace = match self.log.as_deref_mut() {
            Some(log) => Trace::new(reasons_sink, log),
            None => Trace::unlogged(reasons_sink, &mut nowhere),
        };
        let profile = match self
            .options
            .contains(DecideOptions::IGNORE_USER_PROFILE_SERVICE)
        {
            true => None,
            false => self.profile.as_deref_mut(),
        };
        let mut decision = resolve_and_build(
            self.config,
            self.user,
            (flag_index, flag_key),
            self.options,
            profile,
            &mut trace,
        );
        decision.reasons = reasons;
        decision
    }
}

fn resolve_and_build(
    config: &ProjectConfig,
    user: &UserData,
    (flag_index, flag_key): (FlagIndex, &str),
    options: DecideOptions,
    profile: Option<&mut UserProfile>,
    trace: &mut Trace<'_>,
) -> Decision {
    let (bucketing_id, bucketing_id_is_string) = user.bucketing_id();
    if !bucketing_id_is_string {
        trace.log(
            LogLevel::Warn,
            format_args!("BucketingID attribute is not a string. Defaulted to userId"),
        );
    }
    let mut run = FlagRun {
        config,
        user,
        flag: config.flag(flag_index),
        flag_index,
        bucketing_id,
        profile,
        trace,
    };
    let resolution = match run.forced_variation(None) {
        Some(variation) => Resolution {
            rule: RuleRef::None,
            variation: Some(variation),
            source: DecisionSource::FeatureTest,
        },
        None => run.resolve_after_flag_forced(),
    };
    build_decision(
        config,
        user,
        (flag_index, flag_key),
        resolution,
        options,
        run.trace,
    )
}

fn build_decision(
    config: &ProjectConfig,
    user: &UserData,
    (flag_index, flag_key): (FlagIndex, &str),
    resolution: Resolution,
    options: DecideOptions,
    trace: &mut Trace<'_>,
) -> Decision {
    let flag = config.flag(flag_index);
    let variation = resolution.variation.map(|index| config.variation(index));
    let enabled = variation.is_some_and(|v| v.feature_enabled());
    let no_variables = flag.data.variables.len == 0;
    let variables = if no_variables || options.contains(DecideOptions::EXCLUDE_VARIABLES) {
        Variables::new()
    } else {
        variables::decision_variables(config, flag, resolution.variation, enabled, trace)
    };
    let rule_key = match resolution.rule {
        RuleRef::None => None,
        RuleRef::Experiment(index) => Some(config.experiment(index).key()),
        RuleRef::Holdout(index) => Some(config.holdout(index).key()),
    };
    let impression_source = match resolution.source {
        DecisionSource::FeatureTest | DecisionSource::Holdout => true,
        DecisionSource::Rollout => config.send_flag_decisions(),
    };
    let user_enabled_text = if enabled { "enabled" } else { "not enabled" };
    trace_log!(
        trace,
        LogLevel::Info,
        "Feature {flag_key} is {user_enabled_text} for user {}.",
        user.user_id
    );
    Decision {
        flag_key: flag_key.to_owned(),
        variation_key: variation.map(|v| v.key().to_owned()),
        enabled,
        variables,
        rule_key: rule_key.map(str::to_owned),
        reasons: Vec::new(),
        source: resolution.source,
        send_impression: impression_source
            && !options.contains(DecideOptions::DISABLE_DECISION_EVENT),
        origin: Origin {
            config: Origin::config_address(config),
            rule: resolution.rule,
            variation: resolution.variation,
        },
    }
}
