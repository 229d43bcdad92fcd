//! Optimizely's own semantic-version rules for the `semver_*` audience matches.
//!
//! These are not SemVer 2.0: `"2.0"` is a valid version, only the target's parts are compared
//! (so target `"2.0"` equals user `"2.0.1"`), and build metadata is compared like a
//! pre-release suffix instead of being ignored.

use std::cmp::Ordering;

/// A version string split into its numeric parts and optional suffix.
///
/// Borrowed from the input; parsing allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    numbers: [&'a str; 3],
    number_count: usize,
    suffix: Option<&'a str>,
    pre_release: bool,
    build: bool,
}

impl<'a> Version<'a> {
    /// Parses a version; `None` when it is not a valid Optimizely version.
    ///
    /// Valid: one to three dot-separated runs of ASCII digits, optionally followed by `-suffix`
    /// (pre-release) or `+suffix` (build), whichever delimiter comes first. No whitespace.
    ///
    /// ```
    /// use optimizely_fx_core::semver::Version;
    /// assert!(Version::parse("2.0").is_some());
    /// assert!(Version::parse("1.2.3-beta.1+build").is_some());
    /// assert!(Version::parse("3.7.2.2").is_none());
    /// assert!(Version::parse("1. 2").is_none());
    /// ```
    pub fn parse(text: &'a str) -> Option<Self> {
        if text.chars().any(is_js_whitespace) {
            return None;
        }
        let pre_release = is_pre_release(text);
        let build = !pre_release && text.contains('+');
        let (prefix, suffix) = match (pre_release, build) {
            (true, _) => text.split_once('-')?,
            (_, true) => text.split_once('+')?,
            _ => (text, ""),
        };
        let mut numbers = [""; 3];
        let mut number_count = 0;
        for part in prefix.split('.') {
            if number_count == 3 || !is_digits(part) {
                return None;
            }
            numbers[number_count] = part;
            number_count += 1;
        }
        Some(Self {
            numbers,
            number_count,
            suffix: (!suffix.is_empty()).then_some(suffix),
            pre_release,
            build,
        })
    }

    /// True when the version has a pre-release suffix (`1.0.0-beta`).
    pub fn is_pre_release(&self) -> bool {
        self.pre_release
    }

    /// True when the version has build metadata and no pre-release (`1.0.0+42`).
    pub fn is_build(&self) -> bool {
        self.build
    }

    fn part_count(&self) -> usize {
        self.number_count + usize::from(self.suffix.is_some())
    }

    fn part(&self, index: usize) -> &'a str {
        if index < self.number_count {
            self.numbers[index]
        } else {
            self.suffix.unwrap_or("")
        }
    }
}

/// Compares a user's version with a condition's (target) version the way the official SDKs do.
///
/// Returns `None` when either version is invalid (the condition then evaluates to unknown).
///
/// ```
/// use optimizely_fx_core::semver::compare;
/// use std::cmp::Ordering;
/// assert_eq!(compare("2.0.1", "2.0"), Some(Ordering::Equal));
/// assert_eq!(compare("2.0", "2.0.0"), Some(Ordering::Less));
/// assert_eq!(compare("2.0.0-beta", "2.0.0"), Some(Ordering::Less));
/// assert_eq!(compare("2.0.0", "2.0.0-beta"), Some(Ordering::Greater));
/// assert_eq!(compare("x", "2.0.0"), None);
/// ```
pub fn compare(user: &str, target: &str) -> Option<Ordering> {
    Some(compare_parsed(
        &Version::parse(user)?,
        &Version::parse(target)?,
    ))
}

/// [`compare`] on versions parsed already.
pub fn compare_parsed(user: &Version<'_>, target: &Version<'_>) -> Ordering {
    for index in 0..target.part_count() {
        if index >= user.part_count() {
            return if target.pre_release || target.build {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (user_part, target_part) = (user.part(index), target.part(index));
        let ordering = if is_digits(user_part) {
            compare_numeric_parts(user_part, target_part)
        } else {
            compare_text_parts(user, user_part, target, target_part)
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    if user.pre_release && !target.pre_release {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

fn compare_text_parts(
    user: &Version<'_>,
    user_part: &str,
    target: &Version<'_>,
    target_part: &str,
) -> Ordering {
    match utf16_cmp(user_part, target_part) {
        Ordering::Less if target.pre_release && !user.pre_release => Ordering::Greater,
        Ordering::Less => Ordering::Less,
        Ordering::Greater if !target.pre_release && user.pre_release => Ordering::Less,
        Ordering::Greater => Ordering::Greater,
        Ordering::Equal => Ordering::Equal,
    }
}

/// Compares a numeric user part with a target part. Both digit runs: exact integer order.
/// A non-numeric target part (the target's suffix) is read like JavaScript's `parseInt`; a
/// part that reads as no number compares as equal, as it does in the reference SDK.
fn compare_numeric_parts(user_part: &str, target_part: &str) -> Ordering {
    if is_digits(target_part) {
        return compare_digit_runs(user_part, target_part);
    }
    match (js_parse_int(user_part), js_parse_int(target_part)) {
        (Some(user), Some(target)) => user.partial_cmp(&target).unwrap_or(Ordering::Equal),
        _ => Ordering::Equal,
    }
}

fn compare_digit_runs(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `parseInt(text, 10)` for a string without leading whitespace: optional sign, then the
/// leading decimal digits; `None` for NaN.
fn js_parse_int(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    let magnitude: f64 = unsigned[..digits_len].parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn is_pre_release(text: &str) -> bool {
    match (text.find('-'), text.find('+')) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(dash), Some(plus)) => dash < plus,
    }
}

/// The characters JavaScript's `\s` matches.
fn is_js_whitespace(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_kept_as_one_part() {
        let version = Version::parse("1.2.3-beta.1.2").unwrap();
        assert_eq!(version.part_count(), 4);
        assert_eq!(version.part(3), "beta.1.2");
    }

    #[test]
    fn js_parse_int_reads_leading_digits() {
        assert_eq!(js_parse_int("12abc"), Some(12.0));
        assert_eq!(js_parse_int("-3"), Some(-3.0));
        assert_eq!(js_parse_int("beta"), None);
        assert_eq!(js_parse_int("-"), None);
    }
}
