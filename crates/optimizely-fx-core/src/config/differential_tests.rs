//! The config reader against the serde model of `datafile::raw` on mutated datafiles: both
//! accept the same texts, what the config holds is what the serde model read, and a
//! rejection names the property `serde_path_to_error` names in the serde model.

use super::ProjectConfig;
use crate::datafile::DatafileError;
use crate::datafile::raw::{Id, RawDatafile, RawExperiment, RawHoldout, RawVariation, Text};
use proptest::prelude::*;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "version": "4", "accountId": "1", "projectId": 2, "revision": "3",
        "sdkKey": "sdk", "environmentKey": "prod", "botFiltering": true, "anonymizeIP": false,
        "attributes": [{"id": "a1", "key": "age"}, {"id": 7, "key": "plan"}],
        "events": [{"id": "e1", "key": "buy", "experimentIds": ["100"]}],
        "audiences": [
            {"id": "t1", "name": "legacy t1", "conditions": "[\"or\", {\"name\": \"age\", \"type\": \"custom_attribute\", \"value\": 3}]"},
            {"id": "l1", "name": "legacy", "conditions": "[\"and\", {\"name\": \"plan\", \"type\": \"custom_attribute\", \"match\": \"exact\", \"value\": \"gold\"}]"},
            {"id": "l2", "name": "broken", "conditions": "[\"and\", "}
        ],
        "typedAudiences": [
            {"id": "t1", "name": "typed", "conditions": ["and", {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18},
                ["not", {"type": "third_party_dimension", "name": "odp.audiences", "match": "qualified", "value": "seg1"}]]}
        ],
        "experiments": [
            {"id": "100", "key": "exp", "status": "Running", "layerId": "L1", "type": "ab",
             "audienceIds": ["t1"], "audienceConditions": ["or", "t1", "l1"],
             "forcedVariations": {"qa": "b", "dev": "a"},
             "variations": [
                {"id": "101", "key": "a", "featureEnabled": true, "variables": [{"id": "v1", "value": "x"}]},
                {"id": "102", "key": "b", "featureEnabled": false, "variables": [{"id": "v1", "value": {"n": 1}}]}
             ],
             "trafficAllocation": [{"entityId": "101", "endOfRange": 5000}, {"entityId": "102", "endOfRange": 10000}]},
            {"id": "200", "key": "fr_rule", "status": "Running", "type": "fr", "audienceIds": ["l1", 5],
             "variations": [{"id": "201", "key": "on", "featureEnabled": true}],
             "trafficAllocation": [{"entityId": "201", "endOfRange": 2500.5}]}
        ],
        "groups": [
            {"id": "g1", "policy": "random", "trafficAllocation": [{"entityId": "300", "endOfRange": 10000}],
             "experiments": [{"id": "300", "key": "member", "status": "Paused",
                "variations": [{"id": "301", "key": "m"}], "trafficAllocation": [{"entityId": "301", "endOfRange": 10000}]}]}
        ],
        "rollouts": [
            {"id": "r1", "experiments": [
                {"id": "400", "key": "targeted", "status": "Running", "audienceIds": ["t1"],
                 "variations": [{"id": "401", "key": "on", "featureEnabled": true}],
                 "trafficAllocation": [{"entityId": "401", "endOfRange": 10000}]},
                {"id": "500", "key": "everyone", "status": "Running", "audienceIds": [],
                 "variations": [{"id": "501", "key": "ee", "featureEnabled": true, "variables": [{"id": "v1", "value": "ee"}]}],
                 "trafficAllocation": [{"entityId": "501", "endOfRange": 10000}]}
            ]}
        ],
        "featureFlags": [
            {"id": "f1", "key": "flag", "rolloutId": "r1", "experimentIds": ["100", "200", "404"],
             "variables": [{"id": "v1", "key": "title", "type": "string", "defaultValue": "d"},
                           {"id": "v2", "key": "conf", "type": "string", "subType": "json", "defaultValue": 3}]}
        ],
        "holdouts": [
            {"id": "h1", "key": "hold", "status": "Running", "audienceIds": [],
             "variations": [{"id": "h1v", "key": "off"}], "trafficAllocation": [{"entityId": "h1v", "endOfRange": 100}]}
        ],
        "localHoldouts": [
            {"id": "h2", "key": "local", "status": "Running", "includedRules": ["100"], "audienceConditions": ["not", "t1"],
             "variations": [{"id": "h2v", "key": "off"}], "trafficAllocation": [{"entityId": "h2v", "endOfRange": 100}]},
            {"id": "h3", "key": "unused", "includedRules": [], "variations": [{"id": "h3v", "key": "off"}]}
        ],
        "integrations": [{"key": "odp", "host": "h", "publicKey": "k"}]
    })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        Just(json!(2.5)),
        Just(json!(1e3)),
        prop_oneof![
            Just("and"),
            Just("or"),
            Just("not"),
            Just("t1"),
            Just("l1"),
            Just("101"),
            Just("r1"),
            Just("odp"),
            Just("fr"),
            Just("qualified"),
            Just("custom_attribute"),
            Just("Running"),
            Just("a\"b\\u00e9"),
            Just(""),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "id",
        "key",
        "status",
        "variations",
        "trafficAllocation",
        "entityId",
        "endOfRange",
        "audienceIds",
        "audienceConditions",
        "forcedVariations",
        "featureEnabled",
        "variables",
        "value",
        "type",
        "match",
        "name",
        "conditions",
        "experiments",
        "includedRules",
        "policy",
    ])
    .prop_map(str::to_owned)
}

/// Every object and array position of `value`, as JSON pointers.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                pointers(field, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    /// An object becomes the array of its values (serde's positional form of a struct).
    Positional(usize),
    /// A field written a second time in the text.
    Repeat(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any_json()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Positional),
        1 => any::<usize>().prop_map(Mutation::Repeat),
    ]
}

fn mutated(mutations: &[Mutation]) -> String {
    let mut datafile = base();
    let mut repeat = None;
    for mutation in mutations {
        let mut all = Vec::new();
        pointers(&datafile, String::new(), &mut all);
        let pick = |at: usize| all[at % all.len()].clone();
        match mutation {
            Mutation::Replace(at, value) => {
                if let Some(slot) = datafile.pointer_mut(&pick(*at)) {
                    *slot = value.clone();
                }
            }
            Mutation::Remove(at) => {
                let pointer = pick(*at);
                if let Some((parent, key)) = pointer.rsplit_once('/')
                    && let Some(Value::Object(fields)) = datafile.pointer_mut(parent)
                {
                    fields.shift_remove(key);
                }
            }
            Mutation::Positional(at) => {
                if let Some(slot) = datafile.pointer_mut(&pick(*at))
                    && let Value::Object(fields) = slot
                {
                    *slot = Value::Array(fields.values().cloned().collect());
                }
            }
            Mutation::Repeat(at) => repeat = Some(*at),
        }
    }
    let text = datafile.to_string();
    match repeat {
        // `{"k":v,...` → `{"k":v,"k":v,...` at one of the objects.
        Some(at) => repeat_a_field(&text, at).unwrap_or(text),
        None => text,
    }
}

fn repeat_a_field(text: &str, at: usize) -> Option<String> {
    let starts: Vec<usize> = text.match_indices("{\"").map(|(i, _)| i).collect();
    let start = *starts.get(at % starts.len().max(1))?;
    let value: Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()?
        .ok()?;
    let (key, first) = value.as_object()?.iter().next()?;
    let field = format!("{}:{first},", serde_json::to_string(key).ok()?);
    Some(format!(
        "{}{field}{}",
        &text[..start + 1],
        &text[start + 1..]
    ))
}

/// Whether the config reader accepts the text's shape (version and rules aside).
fn reader_accepts(text: &str) -> bool {
    super::read::shape_is_accepted(text)
}

fn id(id: &Id) -> &str {
    &id.0
}

fn text(text: &Text) -> Option<&str> {
    text.0.as_deref()
}

fn audience_json(conditions: Option<&Value>, ids: &[Id]) -> String {
    match conditions {
        Some(value) if !value.is_null() => value.to_string(),
        _ => serde_json::to_string(&ids.iter().map(id).collect::<Vec<_>>()).unwrap(),
    }
}

/// The variation whose values a variation id resolves to: the last with that id, over the
/// experiments and then the holdouts kept.
fn last_variation<'r>(raw: &'r RawDatafile, variation_id: &str) -> Option<&'r RawVariation> {
    let experiments = all_experiments(raw).flat_map(|e| &e.variations);
    let holdouts = kept_holdouts(raw).flat_map(|h| &h.variations);
    experiments
        .chain(holdouts)
        .filter(|v| id(&v.id) == variation_id)
        .last()
}

fn all_experiments(raw: &RawDatafile) -> impl Iterator<Item = &RawExperiment> {
    let groups = raw.groups.iter().flat_map(|g| &g.experiments);
    let rollouts = raw.rollouts.iter().flat_map(|r| &r.experiments);
    raw.experiments.iter().chain(groups).chain(rollouts)
}

fn kept_holdouts(raw: &RawDatafile) -> impl Iterator<Item = &RawHoldout> {
    let local = raw
        .local_holdouts
        .iter()
        .filter(|h| !h.included_rules.is_empty());
    raw.holdouts.iter().chain(local)
}

fn compare(raw: &RawDatafile, config: &ProjectConfig) {
    assert_eq!(config.account_id(), id(&raw.account_id));
    assert_eq!(config.project_id(), id(&raw.project_id));
    assert_eq!(config.revision(), id(&raw.revision));
    assert_eq!(config.sdk_key(), raw.sdk_key.as_deref());
    assert_eq!(config.bot_filtering(), raw.bot_filtering);
    assert_eq!(config.anonymize_ip(), raw.anonymize_ip.unwrap_or(false));
    compare_experiments(raw, config);
    compare_flags(raw, config);
    compare_audiences(raw, config);
    let attributes: Vec<_> = raw
        .attributes
        .iter()
        .map(|a| (id(&a.id), id(&a.key)))
        .collect();
    let read: Vec<_> = config.attributes().map(|a| (a.id(), a.key())).collect();
    assert_eq!(read, attributes);
    for (event, raw_event) in config.events().zip(&raw.events) {
        assert_eq!(
            (event.id(), event.key()),
            (id(&raw_event.id), id(&raw_event.key))
        );
        let ids: Vec<_> = raw_event.experiment_ids.iter().map(id).collect();
        assert_eq!(event.experiment_ids().collect::<Vec<_>>(), ids);
    }
    let holdouts: Vec<_> = kept_holdouts(raw).map(|h| id(&h.id)).collect();
    assert_eq!(
        config.holdouts().map(|h| h.id()).collect::<Vec<_>>(),
        holdouts
    );
    for (holdout, raw_holdout) in config.holdouts().zip(kept_holdouts(raw)) {
        let json = audience_json(
            raw_holdout.audience_conditions.as_ref(),
            &raw_holdout.audience_ids,
        );
        assert_eq!(holdout.audiences().json(), json);
    }
}

fn compare_experiments(raw: &RawDatafile, config: &ProjectConfig) {
    assert_eq!(config.experiments().len(), all_experiments(raw).count());
    for (experiment, raw_experiment) in config.experiments().zip(all_experiments(raw)) {
        assert_eq!(experiment.id(), id(&raw_experiment.id));
        assert_eq!(experiment.key(), id(&raw_experiment.key));
        assert_eq!(
            experiment.status(),
            raw_experiment.status.as_deref().unwrap_or("")
        );
        assert_eq!(
            experiment.layer_id(),
            raw_experiment.layer_id.as_ref().map_or("", id)
        );
        let json = audience_json(
            raw_experiment.audience_conditions.as_ref(),
            &raw_experiment.audience_ids,
        );
        assert_eq!(experiment.audiences().json(), json);
        let variations = experiment.variations();
        assert!(variations.len() - raw_experiment.variations.len() <= 1);
        for (&v, raw_variation) in variations.iter().zip(&raw_experiment.variations) {
            let variation = config.variation(v);
            assert_eq!(variation.id(), id(&raw_variation.id));
            assert_eq!(variation.key(), id(&raw_variation.key));
            assert_eq!(
                variation.feature_enabled(),
                raw_variation.feature_enabled.unwrap_or(false)
            );
            let values = last_variation(raw, variation.id()).unwrap();
            let usages: Vec<_> = values
                .variables
                .iter()
                .map(|u| (id(&u.id), text(&u.value)))
                .collect();
            let read: Vec<_> = variation
                .variables()
                .map(|u| (u.variable_id(), u.value()))
                .collect();
            assert_eq!(read, usages);
        }
        for (range, raw_range) in experiment
            .traffic_allocation()
            .iter()
            .zip(&raw_experiment.traffic_allocation)
        {
            assert_eq!(range.end_of_range(), raw_range.end_of_range.0);
            assert_eq!(
                range.entity_id(),
                raw_range.entity_id.as_ref().map_or("", id)
            );
        }
        assert_eq!(
            experiment.forced_variations().len(),
            raw_experiment.forced_variations.len()
        );
        for (user, key) in &raw_experiment.forced_variations {
            let forced = experiment.forced_variation(user).unwrap();
            assert_eq!(forced.variation_key(), id(key));
        }
    }
}

fn compare_flags(raw: &RawDatafile, config: &ProjectConfig) {
    assert_eq!(config.flag_count(), raw.feature_flags.len());
    for (flag, raw_flag) in config.flags().zip(&raw.feature_flags) {
        assert_eq!(
            (flag.id(), flag.key()),
            (id(&raw_flag.id), id(&raw_flag.key))
        );
        assert_eq!(
            flag.rollout_id(),
            raw_flag.rollout_id.as_ref().map_or("", id)
        );
        let rules: Vec<_> = flag.experiment_rules().map(|r| r.id()).collect();
        assert_eq!(
            rules,
            raw_flag.experiment_ids.iter().map(id).collect::<Vec<_>>()
        );
        for (variable, raw_variable) in flag.variables().zip(&raw_flag.variables) {
            assert_eq!(variable.id(), id(&raw_variable.id));
            assert_eq!(variable.key(), id(&raw_variable.key));
            assert_eq!(variable.default_value(), text(&raw_variable.default_value));
        }
    }
}

fn compare_audiences(raw: &RawDatafile, config: &ProjectConfig) {
    // Typed first (a repeated id replaces in place), then legacy ones no typed one overrides.
    let mut expected: Vec<(String, bool, String)> = Vec::new();
    let typed_ids: Vec<&str> = raw.typed_audiences.iter().map(|a| id(&a.id)).collect();
    let entries = raw
        .typed_audiences
        .iter()
        .map(|a| (a, true))
        .chain(raw.legacy_audiences_not_in(&typed_ids).map(|a| (a, false)));
    for (audience, is_typed) in entries {
        let json = match (&audience.conditions, is_typed) {
            (Some(Value::String(text)), false) => text.clone(),
            (Some(value), _) => value.to_string(),
            (None, _) => "null".to_owned(),
        };
        let entry = (id(&audience.id).to_owned(), is_typed, json);
        match expected.iter_mut().find(|e| e.0 == entry.0) {
            Some(slot) => *slot = entry,
            None => expected.push(entry),
        }
    }
    let read: Vec<_> = config
        .audiences()
        .map(|a| {
            (
                a.id().to_owned(),
                a.is_typed(),
                a.conditions_json().to_owned(),
            )
        })
        .collect();
    assert_eq!(read, expected);
}

impl RawDatafile {
    fn legacy_audiences_not_in<'a>(
        &'a self,
        typed_ids: &'a [&'a str],
    ) -> impl Iterator<Item = &'a crate::datafile::raw::RawAudience> {
        self.audiences
            .iter()
            .filter(move |a| !typed_ids.contains(&id(&a.id)))
    }
}

#[test]
fn the_base_datafile_reads_the_same_both_ways() {
    let text = base().to_string();
    let raw: RawDatafile = serde_json::from_str(&text).unwrap();
    compare(&raw, &ProjectConfig::parse(&text).unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_reader_accepts_what_the_serde_model_accepts(mutations in prop::collection::vec(mutation(), 1..4)) {
        let text = mutated(&mutations);
        let raw = serde_json::from_str::<RawDatafile>(&text);
        prop_assert_eq!(raw.is_ok(), reader_accepts(&text), "{}: {:?}", text, raw.as_ref().err());
        let (Ok(raw), Ok(config)) = (raw, ProjectConfig::parse(&text)) else {
            return Ok(());
        };
        compare(&raw, &config);
    }

    #[test]
    fn rejections_name_the_serde_models_path(mutations in prop::collection::vec(mutation(), 1..4)) {
        let text = mutated(&mutations);
        // A text that is not an object is refused before reading (the serde model would read
        // an array as its fields in order).
        let is_object = text.trim_start().starts_with('{');
        if let (true, Err(DatafileError::InvalidProperty { path, reason })) = (is_object, ProjectConfig::parse(&text)) {
            prop_assert_eq!(path, serde_model_path(&text), "{}: {}", text, reason);
        }
    }

    #[test]
    fn rejections_are_the_serde_models(mutations in prop::collection::vec(mutation(), 1..4)) {
        let text = mutated(&mutations);
        if let Err(err) = ProjectConfig::parse(&text) {
            let raw = serde_json::from_str::<RawDatafile>(&text);
            match err {
                DatafileError::InvalidProperty { .. } | DatafileError::Malformed { .. } => {
                    prop_assert!(raw.is_err(), "{}: {:?}", text, err);
                }
                _ => {}
            }
        }
    }
}

/// The path `serde_path_to_error` names for the serde model's rejection of `text`.
fn serde_model_path(text: &str) -> String {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, RawDatafile>(&mut deserializer) {
        Err(located) => match located.path().to_string() {
            top if top == "." => "datafile".to_owned(),
            path => path,
        },
        Ok(_) => "(accepted)".to_owned(),
    }
}
