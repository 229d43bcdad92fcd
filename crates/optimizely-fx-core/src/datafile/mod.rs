//! Reading datafile JSON: the supported versions, the rejection rules and their errors (the
//! raw serde model, the reference the config reader is tested against, is built for tests).
//!
//! [`ProjectConfig::parse`](crate::ProjectConfig::parse) is the entry point; this module
//! checks the version and explains rejections as a [`DatafileError`].

mod error;
pub(crate) mod numbers;
// Fields are only read by `Debug` and the differential tests.
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod raw;

pub use error::{DatafileError, DatafileWarning};

use serde::Deserialize;
use serde_json::error::Category;
use std::fmt;

/// How deep JSON arrays and objects may nest in a datafile (the JSON parser refuses the
/// 128th level, which keeps parsing free of stack overflows).
pub const MAX_JSON_DEPTH: usize = 127;

/// The datafile format versions this SDK reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatafileVersion {
    /// Version `"2"`: legacy experiments only.
    V2,
    /// Version `"3"`.
    V3,
    /// Version `"4"`: feature flags, rollouts, typed audiences (all current datafiles).
    V4,
}

impl DatafileVersion {
    /// The version as written in the datafile.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "2",
            Self::V3 => "3",
            Self::V4 => "4",
        }
    }

    pub(crate) fn from_datafile(version: &str) -> Option<Self> {
        match version {
            "2" => Some(Self::V2),
            "3" => Some(Self::V3),
            "4" => Some(Self::V4),
            _ => None,
        }
    }
}

impl fmt::Display for DatafileVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejects a text that is not a JSON object (serde would read an array positionally).
pub(crate) fn check_is_object(json: &str) -> Result<(), DatafileError> {
    match json.trim_start().starts_with('{') {
        true => Ok(()),
        false => Err(not_an_object(json)),
    }
}

/// Builds the error for a failed parse of `json` at `path` (where the reader was when it
/// failed). Runs only on failure, so it may read the text again to learn more (the version,
/// the nesting) without slowing the successful path down.
pub(crate) fn explain_failure(json: &str, err: &serde_json::Error, path: &str) -> DatafileError {
    match err.classify() {
        Category::Data => {
            if let Some(unsupported) = unsupported_version(json) {
                return unsupported;
            }
            DatafileError::InvalidProperty {
                path: path.to_owned(),
                reason: err.to_string(),
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            if nesting_depth_exceeds(json, MAX_JSON_DEPTH) {
                DatafileError::NestingTooDeep {
                    path: strip_trailing_indices(path).to_owned(),
                    limit: MAX_JSON_DEPTH,
                }
            } else {
                DatafileError::Malformed {
                    detail: err.to_string(),
                }
            }
        }
    }
}

/// The error for a text that is not a JSON object (serde would read an array positionally).
fn not_an_object(json: &str) -> DatafileError {
    match serde_json::from_str::<serde::de::IgnoredAny>(json) {
        Ok(_) => DatafileError::InvalidProperty {
            path: "datafile".to_owned(),
            reason: "expected a JSON object".to_owned(),
        },
        Err(err) => explain_failure(json, &err, "datafile"),
    }
}

/// Only the version, read when a full parse failed, so that an unsupported version is
/// reported as such rather than as a shape error in a newer datafile format.
#[derive(Debug, Deserialize)]
struct VersionOnly {
    pub version: Option<serde_json::Value>,
}

/// The version error when the datafile names a version we do not read.
fn unsupported_version(json: &str) -> Option<DatafileError> {
    let only: VersionOnly = serde_json::from_str(json).ok()?;
    let version = match only.version? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    DatafileVersion::from_datafile(&version)
        .is_none()
        .then_some(DatafileError::UnsupportedVersion { version })
}

/// `conditions[0][0][0]` → `conditions`: names the property holding the deep value rather
/// than listing every level.
fn strip_trailing_indices(path: &str) -> &str {
    let mut rest = path;
    while let Some(open) = rest.strip_suffix(']').and_then(|inner| inner.rfind('[')) {
        let digits = &rest[open + 1..rest.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        rest = &rest[..open];
    }
    if rest.is_empty() { path } else { rest }
}

/// Whether arrays/objects nest deeper than `limit` anywhere in `json` (strings skipped).
fn nesting_depth_exceeds(json: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}
