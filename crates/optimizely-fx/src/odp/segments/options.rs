//! Per-call options of a segments fetch and the client-wide segments settings.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::cache::SegmentsCache;

/// Default number of users whose segments the default cache keeps.
pub const DEFAULT_SEGMENTS_CACHE_SIZE: usize = 10_000;
/// Default age after which a cached segments list is no longer used.
pub const DEFAULT_SEGMENTS_CACHE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default overall deadline of one segments request to ODP.
pub const DEFAULT_SEGMENTS_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An option of one segments fetch (see
/// [`Client::fetch_qualified_segments`](crate::Client::fetch_qualified_segments)).
///
/// Parses from and displays as the official names:
///
/// ```
/// use optimizely_fx::SegmentOption;
/// let option: SegmentOption = "IGNORE_CACHE".parse()?;
/// assert_eq!(option, SegmentOption::IgnoreCache);
/// assert_eq!(SegmentOption::ResetCache.to_string(), "RESET_CACHE");
/// assert!("ignore".parse::<SegmentOption>().is_err());
/// # Ok::<(), optimizely_fx::ParseSegmentOptionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SegmentOption {
    /// `IGNORE_CACHE`: neither read nor write the cache; always ask ODP.
    IgnoreCache,
    /// `RESET_CACHE`: empty the whole cache first (for every user), then ask ODP and cache
    /// the answer.
    ResetCache,
}

impl SegmentOption {
    /// The official name, `IGNORE_CACHE` or `RESET_CACHE`.
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentOption::IgnoreCache => "IGNORE_CACHE",
            SegmentOption::ResetCache => "RESET_CACHE",
        }
    }
}

impl fmt::Display for SegmentOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not the name of a [`SegmentOption`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid segment option {0:?} (expected IGNORE_CACHE or RESET_CACHE)")]
pub struct ParseSegmentOptionError(String);

impl FromStr for SegmentOption {
    type Err = ParseSegmentOptionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "IGNORE_CACHE" => Ok(SegmentOption::IgnoreCache),
            "RESET_CACHE" => Ok(SegmentOption::ResetCache),
            _ => Err(ParseSegmentOptionError(text.to_owned())),
        }
    }
}

/// What the options of one fetch ask of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheUse {
    pub(crate) ignore: bool,
    pub(crate) reset: bool,
}

impl CacheUse {
    pub(crate) fn of(options: &[SegmentOption]) -> Self {
        CacheUse {
            ignore: options.contains(&SegmentOption::IgnoreCache),
            reset: options.contains(&SegmentOption::ResetCache),
        }
    }

    /// A reset cache cannot hold the user, so the lookup is skipped then too.
    pub(crate) fn looks_up(self) -> bool {
        !self.ignore && !self.reset
    }

    pub(crate) fn saves(self) -> bool {
        !self.ignore
    }
}

/// Segments settings of a client, as given to its builder.
#[derive(Clone)]
pub(crate) struct SegmentsSettings {
    pub(crate) cache_size: usize,
    pub(crate) cache_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) custom_cache: Option<Arc<dyn SegmentsCache>>,
}

impl Default for SegmentsSettings {
    fn default() -> Self {
        SegmentsSettings {
            cache_size: DEFAULT_SEGMENTS_CACHE_SIZE,
            cache_timeout: DEFAULT_SEGMENTS_CACHE_TIMEOUT,
            request_timeout: DEFAULT_SEGMENTS_REQUEST_TIMEOUT,
            custom_cache: None,
        }
    }
}

impl SegmentsSettings {
    /// The request timeout to use: a zero timeout would fail every request, so it falls back
    /// to the default.
    pub(crate) fn effective_request_timeout(&self) -> Duration {
        if self.request_timeout.is_zero() {
            log::warn!(
                "segments_request_timeout of zero is not usable; using the default of {} s",
                DEFAULT_SEGMENTS_REQUEST_TIMEOUT.as_secs()
            );
            return DEFAULT_SEGMENTS_REQUEST_TIMEOUT;
        }
        self.request_timeout
    }
}

impl fmt::Debug for SegmentsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cache = if self.custom_cache.is_some() {
            "custom"
        } else {
            "default"
        };
        f.debug_struct("SegmentsSettings")
            .field("cache", &cache)
            .field("cache_size", &self.cache_size)
            .field("cache_timeout", &self.cache_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_through_their_names() {
        for option in [SegmentOption::IgnoreCache, SegmentOption::ResetCache] {
            assert_eq!(option.to_string().parse::<SegmentOption>(), Ok(option));
        }
        let err = "reset_cache".parse::<SegmentOption>().unwrap_err();
        assert!(err.to_string().contains("\"reset_cache\""), "{err}");
    }

    #[test]
    fn reset_skips_the_lookup_but_still_saves() {
        let reset = CacheUse::of(&[SegmentOption::ResetCache]);
        assert!(!reset.looks_up() && reset.saves());
        let ignore = CacheUse::of(&[SegmentOption::IgnoreCache]);
        assert!(!ignore.looks_up() && !ignore.saves());
        let plain = CacheUse::of(&[]);
        assert!(plain.looks_up() && plain.saves());
    }
}
