//! What decide returns: [`Decision`], [`Decisions`], and the [`DecideOption`]s that shape it.

use std::fmt;
use std::str::FromStr;

use optimizely_fx_core::decide::{self, DecideOptions, UnknownDecideOption, Variables};
use serde_json::Value;

use crate::user_context::UserContext;

/// An option of a decide call, with the names the other Optimizely SDKs use
/// (`"DISABLE_DECISION_EVENT"`, ...; see [`FromStr`] and [`name`](Self::name)).
///
/// A call's options are added to the client's
/// [default options](crate::ClientBuilder::default_decide_options).
///
/// ```
/// use optimizely_fx::DecideOption;
///
/// let option: DecideOption = "INCLUDE_REASONS".parse()?;
/// assert_eq!(option, DecideOption::IncludeReasons);
/// assert_eq!(option.name(), "INCLUDE_REASONS");
/// assert!("SHOW_EVERYTHING".parse::<DecideOption>().is_err());
/// # Ok::<(), optimizely_fx::UnknownDecideOption>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecideOption {
    /// `DISABLE_DECISION_EVENT`: send no impression event for this call (the decision
    /// notification still fires, with `decision_event_dispatched: false`).
    DisableDecisionEvent,
    /// `ENABLED_FLAGS_ONLY`: `decide_for_keys` / `decide_all` leave out disabled flags.
    /// Ignored by single-flag `decide`.
    EnabledFlagsOnly,
    /// `IGNORE_USER_PROFILE_SERVICE`: neither look up nor save the user profile.
    IgnoreUserProfileService,
    /// `INCLUDE_REASONS`: fill [`Decision::reasons`].
    IncludeReasons,
    /// `EXCLUDE_VARIABLES`: leave [`Decision::variables`] empty.
    ExcludeVariables,
    /// `IGNORE_CMAB_CACHE` (accepted; CMAB rules are skipped by this SDK for now).
    IgnoreCmabCache,
    /// `RESET_CMAB_CACHE` (accepted; CMAB rules are skipped by this SDK for now).
    ResetCmabCache,
    /// `INVALIDATE_USER_CMAB_CACHE` (accepted; CMAB rules are skipped by this SDK for now).
    InvalidateUserCmabCache,
}

impl DecideOption {
    /// Every option, in the order of the official list.
    pub const ALL: [DecideOption; 8] = [
        DecideOption::DisableDecisionEvent,
        DecideOption::EnabledFlagsOnly,
        DecideOption::IgnoreUserProfileService,
        DecideOption::IncludeReasons,
        DecideOption::ExcludeVariables,
        DecideOption::IgnoreCmabCache,
        DecideOption::ResetCmabCache,
        DecideOption::InvalidateUserCmabCache,
    ];

    /// The official name, e.g. `"DISABLE_DECISION_EVENT"`.
    pub fn name(self) -> &'static str {
        match self {
            DecideOption::DisableDecisionEvent => "DISABLE_DECISION_EVENT",
            DecideOption::EnabledFlagsOnly => "ENABLED_FLAGS_ONLY",
            DecideOption::IgnoreUserProfileService => "IGNORE_USER_PROFILE_SERVICE",
            DecideOption::IncludeReasons => "INCLUDE_REASONS",
            DecideOption::ExcludeVariables => "EXCLUDE_VARIABLES",
            DecideOption::IgnoreCmabCache => "IGNORE_CMAB_CACHE",
            DecideOption::ResetCmabCache => "RESET_CMAB_CACHE",
            DecideOption::InvalidateUserCmabCache => "INVALIDATE_USER_CMAB_CACHE",
        }
    }

    pub(crate) fn bits(self) -> DecideOptions {
        match self {
            DecideOption::DisableDecisionEvent => DecideOptions::DISABLE_DECISION_EVENT,
            DecideOption::EnabledFlagsOnly => DecideOptions::ENABLED_FLAGS_ONLY,
            DecideOption::IgnoreUserProfileService => DecideOptions::IGNORE_USER_PROFILE_SERVICE,
            DecideOption::IncludeReasons => DecideOptions::INCLUDE_REASONS,
            DecideOption::ExcludeVariables => DecideOptions::EXCLUDE_VARIABLES,
            DecideOption::IgnoreCmabCache => DecideOptions::IGNORE_CMAB_CACHE,
            DecideOption::ResetCmabCache => DecideOptions::RESET_CMAB_CACHE,
            DecideOption::InvalidateUserCmabCache => DecideOptions::INVALIDATE_USER_CMAB_CACHE,
        }
    }

    /// The union of `options` as the core's bit set.
    pub(crate) fn union(options: &[DecideOption]) -> DecideOptions {
        options
            .iter()
            .fold(DecideOptions::NONE, |all, option| all | option.bits())
    }
}

impl FromStr for DecideOption {
    type Err = UnknownDecideOption;

    /// Parses an official option name, exactly as written (e.g. `"EXCLUDE_VARIABLES"`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        DecideOption::ALL
            .into_iter()
            .find(|option| option.name() == name)
            .ok_or_else(|| UnknownDecideOption {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for DecideOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The decision for one flag and one user.
///
/// Decide never fails: when the client has no datafile yet or the flag key is unknown, the
/// decision is an *error decision* (no variation, disabled, no variables) whose
/// [`reasons`](Self::reasons) say why, even without
/// [`IncludeReasons`](DecideOption::IncludeReasons).
///
/// ```
/// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
/// use optimizely_fx::{Client, DecideOption};
///
/// let client = Client::builder().datafile(datafile).build()?;
/// let user = client.create_user_context("user-1", [("country", "nl")]);
/// let decision = user.decide("missing_flag", &[DecideOption::DisableDecisionEvent]);
/// assert!(!decision.enabled);
/// assert_eq!(decision.variation_key, None);
/// assert_eq!(decision.reasons, ["No flag was found for key \"missing_flag\"."]);
/// assert_eq!(decision.user_context.user_id(), "user-1");
/// # client.close(std::time::Duration::from_millis(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// The variation key, or `None` when the user got no variation.
    pub variation_key: Option<String>,
    /// Whether the flag is enabled for the user.
    pub enabled: bool,
    /// Every variable of the flag, name → typed value (booleans, numbers, strings, parsed
    /// JSON), in the flag's order; the variation's values when the flag is enabled, else the
    /// defaults. A value that does not cast to its type is `null`. Empty with
    /// [`ExcludeVariables`](DecideOption::ExcludeVariables) and for error decisions.
    pub variables: Variables,
    /// The key of the rule (experiment, delivery rule or holdout) that decided, if any.
    pub rule_key: Option<String>,
    /// The flag key asked for.
    pub flag_key: String,
    /// A copy of the user context as it was when deciding.
    pub user_context: UserContext,
    /// Why, step by step: only with [`IncludeReasons`](DecideOption::IncludeReasons), except
    /// for error decisions.
    pub reasons: Vec<String>,
}

impl Decision {
    pub(crate) fn from_core(decision: decide::Decision, user_context: UserContext) -> Self {
        Decision {
            variation_key: decision.variation_key,
            enabled: decision.enabled,
            variables: decision.variables,
            rule_key: decision.rule_key,
            flag_key: decision.flag_key,
            user_context,
            reasons: decision.reasons,
        }
    }

    /// The value of one variable, if the decision has it.
    pub fn variable(&self, key: &str) -> Option<&Value> {
        self.variables.get(key)
    }
}

/// The decisions of `decide_for_keys` or `decide_all`, in the order asked (the order of the
/// keys, or datafile order), each flag once.
///
/// ```
/// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
/// use optimizely_fx::{Attributes, Client, DecideOption};
///
/// let client = Client::builder().datafile(datafile).build()?;
/// let user = client.create_user_context("user-1", Attributes::new());
/// let decisions = user.decide_all(&[DecideOption::DisableDecisionEvent]);
/// for decision in &decisions {
///     println!("{}: {:?}", decision.flag_key, decision.variation_key);
/// }
/// let first = decisions.keys().next().unwrap().to_owned();
/// assert!(decisions.get(&first).is_some());
/// # client.close(std::time::Duration::from_millis(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    decisions: Vec<Decision>,
}

impl Decisions {
    pub(crate) fn new(decisions: Vec<Decision>) -> Self {
        Decisions { decisions }
    }

    /// The decision of `flag_key`, if it is among them.
    pub fn get(&self, flag_key: &str) -> Option<&Decision> {
        self.decisions.iter().find(|d| d.flag_key == flag_key)
    }

    /// The flag keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.decisions.iter().map(|d| d.flag_key.as_str())
    }

    /// The decisions, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Decision> {
        self.decisions.iter()
    }

    /// How many decisions there are.
    pub fn len(&self) -> usize {
        self.decisions.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }

    /// The decisions as a vector, in order.
    pub fn into_vec(self) -> Vec<Decision> {
        self.decisions
    }
}

impl IntoIterator for Decisions {
    type Item = Decision;
    type IntoIter = std::vec::IntoIter<Decision>;

    fn into_iter(self) -> Self::IntoIter {
        self.decisions.into_iter()
    }
}

impl<'a> IntoIterator for &'a Decisions {
    type Item = &'a Decision;
    type IntoIter = std::slice::Iter<'a, Decision>;

    fn into_iter(self) -> Self::IntoIter {
        self.decisions.iter()
    }
}
