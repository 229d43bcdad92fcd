//! Real datafiles with a few edits anywhere inside: a node replaced by an odd scalar or by
//! another node of the same datafile (which makes ids point at the wrong kind of entity),
//! removed, or duplicated. Reaches decide with datafiles that are well-formed JSON and almost
//! right, which byte-level mutation seldom produces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optimizely_fx_core::ProjectConfig;
use serde_json::{Value, json};

const DATAFILES: [&str; 7] = [
    include_str!("../../../../tests/fixtures/datafiles/go-decide-test-datafile.json"),
    include_str!(
        "../../../../tests/fixtures/datafiles/py-test_decision_service_holdout.config_dict_with_holdouts.json"
    ),
    include_str!("../../../../tests/fixtures/datafiles/js-test_data.configWithFeatures.json"),
    include_str!("../../../../tests/fixtures/datafiles/js-test_data.typedAudiencesConfig.json"),
    include_str!("../../../../tests/fixtures/datafiles/js-test_data.mutexFeatureTestsConfig.json"),
    include_str!(
        "../../../../tests/fixtures/datafiles/py-base.config_dict_with_audience_segments.json"
    ),
    include_str!("../../../../tests/fixtures/datafiles/rs-sandbox.json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, edits)) = data.split_first() else {
        return;
    };
    let mut datafile: Value = serde_json::from_str(DATAFILES[which as usize % DATAFILES.len()])
        .expect("fixture datafiles are JSON");
    for edit in edits.chunks_exact(4) {
        apply(&mut datafile, edit);
    }
    if let Ok(config) = ProjectConfig::parse(&datafile.to_string()) {
        optimizely_fx_core_fuzz::exercise(&config);
    }
});

/// One edit: bytes 0–1 pick the node (in depth-first order), byte 2 the kind of edit, byte 3
/// the scalar or the node to copy.
fn apply(root: &mut Value, edit: &[u8]) {
    let count = count_nodes(root);
    if count < 2 {
        return;
    }
    let target = 1 + usize::from(u16::from_le_bytes([edit[0], edit[1]])) % (count - 1);
    let source = usize::from(edit[3]) * count / 256;
    let replacement = match edit[2] % 4 {
        0 => Some(scalar(edit[3])),
        1 => nth_node(root, source).cloned(),
        2 => None,
        _ => nth_node(root, target).map(|v| json!([v, v])),
    };
    if replacement.as_ref().map_or(0, count_nodes) + count > MAX_NODES {
        return;
    }
    edit_nth(root, target, replacement);
}

/// Copies can double a datafile at each edit; this keeps each run short.
const MAX_NODES: usize = 20_000;

fn scalar(selector: u8) -> Value {
    match selector % 12 {
        0 => Value::Null,
        1 => json!(""),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(10001),
        5 => json!(1e300),
        6 => json!(0.5),
        7 => json!(true),
        8 => json!("x"),
        9 => json!([]),
        10 => json!({}),
        _ => json!("[\"and\", {\"type\": \"custom_attribute\", \"name\": \"a\", \"value\": 1}]"),
    }
}

fn children(value: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    }
}

fn count_nodes(value: &Value) -> usize {
    1 + children(value).map(count_nodes).sum::<usize>()
}

fn nth_node(value: &Value, n: usize) -> Option<&Value> {
    if n == 0 {
        return Some(value);
    }
    let mut skipped = 1;
    let index = position(children(value), n, &mut skipped)?;
    nth_node(children(value).nth(index)?, n - skipped)
}

/// Replaces the `n`th node below `value` (never `value` itself) with `replacement`, or removes
/// it when there is none.
fn edit_nth(value: &mut Value, n: usize, replacement: Option<Value>) {
    let mut skipped = 1;
    let Some(index) = position(children(value), n, &mut skipped) else {
        return;
    };
    if n == skipped {
        match (value, replacement) {
            (Value::Array(items), Some(new)) => items[index] = new,
            (Value::Array(items), None) => {
                items.remove(index);
            }
            (Value::Object(map), Some(new)) => {
                if let Some(slot) = map.values_mut().nth(index) {
                    *slot = new;
                }
            }
            (Value::Object(map), None) => {
                if let Some(key) = map.keys().nth(index).cloned() {
                    map.shift_remove(&key);
                }
            }
            _ => {}
        }
        return;
    }
    let child = match value {
        Value::Array(items) => items.get_mut(index),
        Value::Object(map) => map.values_mut().nth(index),
        _ => None,
    };
    if let Some(child) = child {
        edit_nth(child, n - skipped, replacement);
    }
}

/// The child holding node `n` (counted from 1 below the parent); `skipped` becomes the number
/// of the nodes before that child plus one.
fn position<'a>(
    children: impl Iterator<Item = &'a Value>,
    n: usize,
    skipped: &mut usize,
) -> Option<usize> {
    for (i, child) in children.enumerate() {
        let size = count_nodes(child);
        if n < *skipped + size {
            return Some(i);
        }
        *skipped += size;
    }
    None
}
