//! Why a datafile was rejected, and what was odd but tolerated in an accepted one.

use std::fmt;

/// A datafile that cannot become a [`ProjectConfig`](crate::ProjectConfig).
///
/// The messages follow the official SDKs' texts so logs read the same across SDKs. None of
/// them quote secret values (such as an ODP public key) from the datafile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatafileError {
    /// The text is not valid JSON.
    #[error("Datafile is invalid because it is malformed. JSON error: {detail}.")]
    Malformed {
        /// The JSON parser's message, with the line and column of the problem.
        detail: String,
    },
    /// The `version` field names a datafile version this SDK does not read.
    #[error("This version of the Rust SDK does not support the given datafile version: {version}")]
    UnsupportedVersion {
        /// The version string found in the datafile.
        version: String,
    },
    /// An `integrations[]` entry has no `key`.
    #[error("Integration key missing from datafile. All integrations should include a key.")]
    MissingIntegrationKey,
    /// A field is missing or has the wrong JSON type.
    #[error("Datafile is invalid - property {path}: {reason}")]
    InvalidProperty {
        /// Where the problem is, e.g. `experiments[0].variations[1].featureEnabled`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// JSON arrays/objects (or audience condition trees) are nested deeper than supported.
    #[error(
        "Datafile is invalid - property {path}: nesting is deeper than the supported {limit} levels"
    )]
    NestingTooDeep {
        /// Where the nesting became too deep (`datafile` when the position is not known).
        path: String,
        /// The supported number of levels.
        limit: usize,
    },
    /// The datafile text is longer than a config addresses.
    #[error("Datafile is invalid - it is larger than {limit} bytes")]
    TooLarge {
        /// The largest supported size in bytes.
        limit: u64,
    },
    /// The datafile has more entities of one kind than fit the config's 32-bit indices.
    #[error("Datafile is invalid - it has more than {limit} {entity}")]
    TooManyEntities {
        /// The kind of entity, e.g. `variations`.
        entity: &'static str,
        /// The largest supported count.
        limit: u64,
    },
}

/// Something unusual in an accepted datafile, worth logging once when the config is loaded.
///
/// The core crate does not log; the SDK logs these after a successful parse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatafileWarning {
    /// A `localHoldouts[]` entry without a non-empty `includedRules` list; it is ignored.
    LocalHoldoutWithoutRules {
        /// The holdout's key.
        holdout_key: String,
    },
    /// A legacy audience whose `conditions` string is not JSON; it evaluates to unknown.
    UndecodableAudienceConditions {
        /// The audience id.
        audience_id: String,
    },
}

impl fmt::Display for DatafileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LocalHoldoutWithoutRules { holdout_key } => write!(
                f,
                "Local holdout \"{holdout_key}\" is missing or has empty \"includedRules\"; skipping."
            ),
            Self::UndecodableAudienceConditions { audience_id } => write!(
                f,
                "Audience {audience_id} has conditions that are not valid JSON; it will evaluate to UNKNOWN."
            ),
        }
    }
}
