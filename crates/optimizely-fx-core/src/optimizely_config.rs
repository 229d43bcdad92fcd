//! `OptimizelyConfig`: the read-only view of a datafile that `getOptimizelyConfig()` returns
//! (experiments, flags with their rules and variables, attributes, audiences, events).
//!
//! Serializes to the official field names (`experimentsMap`, `featuresMap`, `variablesMap`, …).
//! Build it once per config and cache it; it is not on any hot path.

use crate::config::{Experiment, Flag, ProjectConfig, Variation};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// The whole view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyConfig {
    /// `environmentKey` (`""` when absent).
    pub environment_key: String,
    /// `sdkKey` (`""` when absent).
    pub sdk_key: String,
    /// `revision`.
    pub revision: String,
    /// Every experiment that is not a delivery rule (group members included), by key; when
    /// keys repeat, the last one wins.
    pub experiments_map: IndexMap<String, OptimizelyExperiment>,
    /// Every flag, by key.
    pub features_map: IndexMap<String, OptimizelyFeature>,
    /// Attributes in datafile order.
    pub attributes: Vec<OptimizelyAttribute>,
    /// Typed audiences, then legacy ones not overridden by a typed one (placeholder hidden).
    pub audiences: Vec<OptimizelyAudience>,
    /// Events in datafile order.
    pub events: Vec<OptimizelyEvent>,
}

/// An experiment or rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyExperiment {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
    /// `audienceConditions` as text, e.g. `"us" OR ("female" AND NOT "adult")`; `""` when the
    /// experiment has no `audienceConditions`.
    pub audiences: String,
    /// Variations by key.
    pub variations_map: IndexMap<String, OptimizelyVariation>,
}

/// A variation with the variable values it serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyVariation {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
    /// `featureEnabled`.
    pub feature_enabled: bool,
    /// The flag's variables: defaults, overridden by this variation's values when it is
    /// enabled.
    pub variables_map: IndexMap<String, OptimizelyVariable>,
}

/// A variable with the value served (as written in the datafile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptimizelyVariable {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
    /// `string`, `integer`, `double`, `boolean` or `json`.
    #[serde(rename = "type")]
    pub variable_type: String,
    /// The value as text.
    pub value: String,
}

/// A flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyFeature {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
    /// Experiment rules in evaluation order.
    pub experiment_rules: Vec<OptimizelyExperiment>,
    /// Delivery rules in evaluation order.
    pub delivery_rules: Vec<OptimizelyExperiment>,
    /// Variables with their default values.
    pub variables_map: IndexMap<String, OptimizelyVariable>,
    /// Experiment rules by key (deprecated in the official SDKs, kept for compatibility).
    pub experiments_map: IndexMap<String, OptimizelyExperiment>,
}

/// An attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptimizelyAttribute {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
}

/// An audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptimizelyAudience {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// The conditions as JSON text.
    pub conditions: String,
}

/// A conversion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptimizelyEvent {
    /// Id.
    pub id: String,
    /// Key.
    pub key: String,
    /// Experiment ids.
    pub experiment_ids: Vec<String>,
}

impl OptimizelyConfig {
    /// Builds the view of `config`.
    ///
    /// ```
    /// use optimizely_fx_core::ProjectConfig;
    /// use optimizely_fx_core::optimizely_config::OptimizelyConfig;
    ///
    /// let config = ProjectConfig::parse(r#"{"version": "4", "accountId": "1", "projectId": "2",
    ///   "revision": "3", "featureFlags": [{"id": "10", "key": "f", "rolloutId": "",
    ///   "experimentIds": [], "variables": [{"id": "v", "key": "size", "type": "integer",
    ///   "defaultValue": "3"}]}]}"#).unwrap();
    /// let view = OptimizelyConfig::new(&config);
    /// assert_eq!(view.features_map["f"].variables_map["size"].value, "3");
    /// ```
    pub fn new(config: &ProjectConfig) -> Self {
        let builder = Builder::new(config);
        let mut experiments_map = IndexMap::new();
        for experiment in config.experiments() {
            if !experiment.is_delivery_rule() {
                let flag = experiment.flags().first().map(|&f| config.flag(f));
                let view = builder.experiment(experiment, flag);
                experiments_map.insert(view.key.clone(), view);
            }
        }
        let features_map = config
            .flags()
            .map(|flag| (flag.key().to_owned(), builder.feature(flag)))
            .collect();
        Self {
            environment_key: config.environment_key().unwrap_or_default().to_owned(),
            sdk_key: config.sdk_key().unwrap_or_default().to_owned(),
            revision: config.revision().to_owned(),
            experiments_map,
            features_map,
            attributes: config
                .attributes()
                .map(|a| OptimizelyAttribute {
                    id: a.id().to_owned(),
                    key: a.key().to_owned(),
                })
                .collect(),
            audiences: config
                .audiences()
                .filter(|a| !a.is_placeholder())
                .map(|a| OptimizelyAudience {
                    id: a.id().to_owned(),
                    name: a.name().to_owned(),
                    conditions: a.conditions_json().to_owned(),
                })
                .collect(),
            events: config
                .events()
                .map(|e| OptimizelyEvent {
                    id: e.id().to_owned(),
                    key: e.key().to_owned(),
                    experiment_ids: e.experiment_ids().map(str::to_owned).collect(),
                })
                .collect(),
        }
    }
}

struct Builder<'c> {
    config: &'c ProjectConfig,
    /// Experiment id → its raw `audienceConditions`, read from the datafile text.
    audience_conditions: HashMap<String, Value>,
    audience_names: HashMap<&'c str, &'c str>,
}

impl<'c> Builder<'c> {
    fn new(config: &'c ProjectConfig) -> Self {
        Self {
            config,
            audience_conditions: raw_audience_conditions(config.datafile()),
            audience_names: config.audiences().map(|a| (a.id(), a.name())).collect(),
        }
    }

    fn feature(&self, flag: Flag<'c>) -> OptimizelyFeature {
        let config = self.config;
        let experiment_rules: Vec<OptimizelyExperiment> = flag
            .experiment_rules()
            .filter_map(|r| r.experiment())
            .map(|index| self.experiment(config.experiment(index), Some(flag)))
            .collect();
        let delivery_rules = flag
            .rollout()
            .map(|rollout| {
                config
                    .rollout(rollout)
                    .rules()
                    .iter()
                    .map(|&index| self.experiment(config.experiment(index), Some(flag)))
                    .collect()
            })
            .unwrap_or_default();
        OptimizelyFeature {
            id: flag.id().to_owned(),
            key: flag.key().to_owned(),
            experiments_map: experiment_rules
                .iter()
                .map(|e| (e.key.clone(), e.clone()))
                .collect(),
            experiment_rules,
            delivery_rules,
            variables_map: default_variables(flag),
        }
    }

    fn experiment(
        &self,
        experiment: Experiment<'_>,
        flag: Option<Flag<'_>>,
    ) -> OptimizelyExperiment {
        let variations_map = experiment
            .variations()
            .iter()
            .map(|&index| {
                let variation = self.config.variation(index);
                (variation.key().to_owned(), variation_view(variation, flag))
            })
            .collect();
        let audiences = self
            .audience_conditions
            .get(experiment.id())
            .map(|conditions| self.serialize_audiences(conditions))
            .unwrap_or_default();
        OptimizelyExperiment {
            id: experiment.id().to_owned(),
            key: experiment.key().to_owned(),
            audiences,
            variations_map,
        }
    }

    /// `["or", "1", ["and", "2", ["not", "3"]]]` → `"one" OR ("two" AND NOT "three")`.
    fn serialize_audiences(&self, conditions: &Value) -> String {
        let Value::Array(items) = conditions else {
            return String::new();
        };
        let mut text = String::new();
        let mut operator = String::new();
        for item in items {
            let part = match item {
                Value::Array(_) => format!("({})", self.serialize_audiences(item)),
                Value::String(s) if matches!(s.as_str(), "and" | "or" | "not") => {
                    operator = s.to_uppercase();
                    continue;
                }
                other => {
                    let id = match other {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    let name = self.audience_names.get(id.as_str()).copied().unwrap_or(&id);
                    format!("\"{name}\"")
                }
            };
            if text.is_empty() && operator != "NOT" {
                text = part;
            } else {
                if operator.is_empty() {
                    operator = "OR".to_owned();
                }
                text = if text.is_empty() {
                    format!("{operator} {part}")
                } else {
                    format!("{text} {operator} {part}")
                };
            }
        }
        text
    }
}

fn variable_view(id: &str, key: &str, variable_type: &str, value: &str) -> OptimizelyVariable {
    OptimizelyVariable {
        id: id.to_owned(),
        key: key.to_owned(),
        variable_type: variable_type.to_owned(),
        value: value.to_owned(),
    }
}

fn default_variables(flag: Flag<'_>) -> IndexMap<String, OptimizelyVariable> {
    flag.variables()
        .map(|v| {
            let value = v.default_value().unwrap_or_default();
            let view = variable_view(v.id(), v.key(), v.variable_type().as_str(), value);
            (v.key().to_owned(), view)
        })
        .collect()
}

fn variation_view(variation: Variation<'_>, flag: Option<Flag<'_>>) -> OptimizelyVariation {
    let mut variables_map = flag.map(default_variables).unwrap_or_default();
    if let Some(flag) = flag.filter(|_| variation.feature_enabled()) {
        for variable in flag.variables() {
            if let Some(value) = variation
                .variable_usage(variable.id())
                .and_then(|usage| usage.value())
                && let Some(entry) = variables_map.get_mut(variable.key())
            {
                entry.value = value.to_owned();
            }
        }
    }
    OptimizelyVariation {
        id: variation.id().to_owned(),
        key: variation.key().to_owned(),
        feature_enabled: variation.feature_enabled(),
        variables_map,
    }
}

/// Experiment id → `audienceConditions` of every experiment and rule in the datafile text.
fn raw_audience_conditions(datafile: &str) -> HashMap<String, Value> {
    let Ok(root) = serde_json::from_str::<Value>(datafile) else {
        return HashMap::new();
    };
    let lists = [
        root.get("experiments"),
        root.get("groups"),
        root.get("rollouts"),
    ];
    let mut out = HashMap::new();
    let mut add = |experiments: Option<&Value>| {
        for experiment in experiments.and_then(Value::as_array).into_iter().flatten() {
            if let (Some(id), Some(conditions)) = (
                experiment.get("id").and_then(id_text),
                experiment.get("audienceConditions"),
            ) {
                out.insert(id, conditions.clone());
            }
        }
    };
    add(lists[0]);
    for container in [lists[1], lists[2]] {
        for entry in container.and_then(Value::as_array).into_iter().flatten() {
            add(entry.get("experiments"));
        }
    }
    out
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
