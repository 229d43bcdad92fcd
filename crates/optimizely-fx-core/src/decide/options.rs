//! Decide options: a small copyable bit set with the official option names.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of decide options.
///
/// Combine with `|`; the client's default options and a call's options are simply or-ed.
///
/// ```
/// use optimizely_fx_core::decide::DecideOptions;
/// let options = DecideOptions::INCLUDE_REASONS | DecideOptions::EXCLUDE_VARIABLES;
/// assert!(options.contains(DecideOptions::INCLUDE_REASONS));
/// assert_eq!(DecideOptions::parse("ENABLED_FLAGS_ONLY"), Ok(DecideOptions::ENABLED_FLAGS_ONLY));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DecideOptions(u16);

impl DecideOptions {
    /// No option.
    pub const NONE: Self = Self(0);
    /// Never send an impression event for this call.
    pub const DISABLE_DECISION_EVENT: Self = Self(1);
    /// `decide_for_keys` / `decide_all` leave out decisions whose flag is disabled.
    pub const ENABLED_FLAGS_ONLY: Self = Self(1 << 1);
    /// Neither read nor update the user profile (sticky bucketing).
    pub const IGNORE_USER_PROFILE_SERVICE: Self = Self(1 << 2);
    /// Fill `reasons` in each decision.
    pub const INCLUDE_REASONS: Self = Self(1 << 3);
    /// Return no variables.
    pub const EXCLUDE_VARIABLES: Self = Self(1 << 4);
    /// CMAB cache control (accepted; CMAB rules are skipped by this engine).
    pub const IGNORE_CMAB_CACHE: Self = Self(1 << 5);
    /// CMAB cache control (accepted; CMAB rules are skipped by this engine).
    pub const RESET_CMAB_CACHE: Self = Self(1 << 6);
    /// CMAB cache control (accepted; CMAB rules are skipped by this engine).
    pub const INVALIDATE_USER_CMAB_CACHE: Self = Self(1 << 7);

    const NAMED: [(&'static str, Self); 8] = [
        ("DISABLE_DECISION_EVENT", Self::DISABLE_DECISION_EVENT),
        ("ENABLED_FLAGS_ONLY", Self::ENABLED_FLAGS_ONLY),
        (
            "IGNORE_USER_PROFILE_SERVICE",
            Self::IGNORE_USER_PROFILE_SERVICE,
        ),
        ("INCLUDE_REASONS", Self::INCLUDE_REASONS),
        ("EXCLUDE_VARIABLES", Self::EXCLUDE_VARIABLES),
        ("IGNORE_CMAB_CACHE", Self::IGNORE_CMAB_CACHE),
        ("RESET_CMAB_CACHE", Self::RESET_CMAB_CACHE),
        (
            "INVALIDATE_USER_CMAB_CACHE",
            Self::INVALIDATE_USER_CMAB_CACHE,
        ),
    ];

    /// Whether every option of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the options of `other` removed.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Whether no option is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses one official option name (e.g. `INCLUDE_REASONS`), exactly as written.
    pub fn parse(name: &str) -> Result<Self, UnknownDecideOption> {
        Self::NAMED
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, option)| *option)
            .ok_or_else(|| UnknownDecideOption {
                name: name.to_owned(),
            })
    }

    /// Parses a list of option names; the first unknown one is the error.
    pub fn parse_all<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnknownDecideOption> {
        names
            .into_iter()
            .try_fold(Self::NONE, |options, name| Ok(options | Self::parse(name)?))
    }

    /// The official names of the options set, in a fixed order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(_, option)| self.contains(*option))
            .map(|(name, _)| name)
    }
}

impl BitOr for DecideOptions {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for DecideOptions {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for DecideOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// A decide option name that is not one of the official names.
///
/// The official SDKs log `Unrecognized decide option %s provided.` and ignore the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unrecognized decide option {name} provided.")]
pub struct UnknownDecideOption {
    /// The name given.
    pub name: String,
}
