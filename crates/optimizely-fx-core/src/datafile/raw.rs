//! Serde shapes of the datafile JSON, as close to the wire as possible.
//!
//! The config is read by `config::read`, which accepts the same shapes; this model is the
//! reference it is tested against (`config::differential_tests`): what each accepts, what
//! it reads, and the path each names for a rejection.
//!
//! Lenient where the official SDKs are lenient: unknown fields are ignored, missing or `null`
//! arrays and objects are empty, and ids written as JSON numbers become their decimal string
//! (the JavaScript SDK uses them as object keys, which has the same effect).

use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;
use std::fmt;

use super::numbers::{EndOfRange, number_to_string};

/// Top level of a datafile.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "a datafile JSON object")]
pub(crate) struct RawDatafile {
    pub version: String,
    pub account_id: Id,
    pub project_id: Id,
    pub revision: Id,
    #[serde(default, deserialize_with = "nullable")]
    pub experiments: Vec<RawExperiment>,
    #[serde(default, deserialize_with = "nullable")]
    pub groups: Vec<RawGroup>,
    #[serde(default, deserialize_with = "nullable")]
    pub feature_flags: Vec<RawFeatureFlag>,
    #[serde(default, deserialize_with = "nullable")]
    pub rollouts: Vec<RawRollout>,
    #[serde(default, deserialize_with = "nullable")]
    pub audiences: Vec<RawAudience>,
    #[serde(default, deserialize_with = "nullable")]
    pub typed_audiences: Vec<RawAudience>,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<RawAttribute>,
    #[serde(default, deserialize_with = "nullable")]
    pub events: Vec<RawEvent>,
    #[serde(default, deserialize_with = "nullable")]
    pub integrations: Vec<RawIntegration>,
    #[serde(default, deserialize_with = "nullable")]
    pub holdouts: Vec<RawHoldout>,
    #[serde(default, deserialize_with = "nullable")]
    pub local_holdouts: Vec<RawHoldout>,
    #[serde(default)]
    pub bot_filtering: Option<bool>,
    #[serde(default, rename = "anonymizeIP")]
    pub anonymize_ip: Option<bool>,
    #[serde(default)]
    pub send_flag_decisions: Option<bool>,
    #[serde(default)]
    pub sdk_key: Option<String>,
    #[serde(default)]
    pub environment_key: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// An experiment, a group member or a delivery (rollout) rule.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawExperiment {
    pub id: Id,
    pub key: Id,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub layer_id: Option<Id>,
    #[serde(default, deserialize_with = "nullable")]
    pub variations: Vec<RawVariation>,
    #[serde(default, deserialize_with = "nullable")]
    pub traffic_allocation: Vec<RawTrafficAllocation>,
    #[serde(default, deserialize_with = "nullable")]
    pub audience_ids: Vec<Id>,
    /// Kept as JSON: it is compiled into a condition tree over audience ids.
    #[serde(default)]
    pub audience_conditions: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub forced_variations: FxHashMap<String, Id>,
    #[serde(default, rename = "type")]
    pub experiment_type: Option<String>,
    #[serde(default)]
    pub cmab: Option<RawCmab>,
}

/// CMAB settings of an experiment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCmab {
    #[serde(default, deserialize_with = "nullable")]
    pub attribute_ids: Vec<Id>,
    #[serde(default)]
    pub traffic_allocation: Option<EndOfRange>,
}

/// A holdout (global in `holdouts`, rule-scoped in `localHoldouts`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawHoldout {
    pub id: Id,
    pub key: Id,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub variations: Vec<RawVariation>,
    #[serde(default, deserialize_with = "nullable")]
    pub traffic_allocation: Vec<RawTrafficAllocation>,
    #[serde(default, deserialize_with = "nullable")]
    pub audience_ids: Vec<Id>,
    #[serde(default)]
    pub audience_conditions: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub included_rules: Vec<Id>,
}

/// A variation of an experiment, rule or holdout.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawVariation {
    pub id: Id,
    pub key: Id,
    #[serde(default)]
    pub feature_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub variables: Vec<RawVariableUsage>,
}

/// A variation's value for one flag variable.
#[derive(Debug, Deserialize)]
pub(crate) struct RawVariableUsage {
    pub id: Id,
    #[serde(default)]
    pub value: Text,
}

/// One range of a traffic allocation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawTrafficAllocation {
    #[serde(default)]
    pub entity_id: Option<Id>,
    pub end_of_range: EndOfRange,
}

/// A mutual-exclusion (or overlapping) group.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawGroup {
    pub id: Id,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub traffic_allocation: Vec<RawTrafficAllocation>,
    #[serde(default, deserialize_with = "nullable")]
    pub experiments: Vec<RawExperiment>,
}

/// A feature flag.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawFeatureFlag {
    pub id: Id,
    pub key: Id,
    #[serde(default)]
    pub rollout_id: Option<Id>,
    #[serde(default, deserialize_with = "nullable")]
    pub experiment_ids: Vec<Id>,
    #[serde(default, deserialize_with = "nullable")]
    pub variables: Vec<RawVariable>,
}

/// A flag variable definition.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawVariable {
    pub id: Id,
    pub key: Id,
    #[serde(default, rename = "type")]
    pub variable_type: Option<String>,
    #[serde(default)]
    pub sub_type: Option<String>,
    #[serde(default)]
    pub default_value: Text,
}

/// A rollout: the delivery rules of a flag.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRollout {
    pub id: Id,
    #[serde(default, deserialize_with = "nullable")]
    pub experiments: Vec<RawExperiment>,
}

/// An audience; `conditions` is a JSON string in `audiences` and JSON in `typedAudiences`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAudience {
    pub id: Id,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub conditions: Option<Value>,
}

/// An attribute declared in the project.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAttribute {
    pub id: Id,
    pub key: Id,
}

/// A conversion event declared in the project.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEvent {
    pub id: Id,
    pub key: Id,
    #[serde(default, deserialize_with = "nullable")]
    pub experiment_ids: Vec<Id>,
}

/// A third-party integration; `key: "odp"` is the ODP one.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawIntegration {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub pixel_url: Option<String>,
}

/// `null` reads as the type's default (an empty list or map).
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A variable value: any JSON, kept only when it is a string (the official SDKs cast
/// anything else to null).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Text(pub Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::String(text) => Text(Some(text)),
            _ => Text(None),
        })
    }
}

/// An id or key: a JSON string, or a JSON number read as its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor).map(Id)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(number_to_string(v))
    }
}
