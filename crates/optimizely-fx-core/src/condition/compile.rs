//! Condition JSON → flat [`Node`] trees, compiled while the datafile is being read: no JSON
//! tree is built for the common shapes (arrays of operators, ids and leaf objects), and the
//! compact JSON text that log lines quote is written on the way.

use super::{
    ConditionType, LeafData, LeafKind, MAX_CONDITION_DEPTH, MatchType, NONE, Node, Op, RefData,
    ValueData,
};
use crate::config::text::{Interner, OptStr, Str, Strings};
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::fmt;
use std::io::Write;

/// `DeserializeSeed` for a seed that is its own visitor: it asks the parser to read the value
/// with `$read` and visits what comes.
macro_rules! seed_visits_itself {
    ($seed:ident$(<$($lt:lifetime),*>)?, $value:ty, $read:ident) => {
        impl<'de> serde::de::DeserializeSeed<'de> for $seed$(<$($lt),*>)? {
            type Value = $value;

            fn deserialize<D: serde::de::Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<$value, D::Error> {
                deserializer.$read(self)
            }
        }
    };
}
pub(crate) use seed_visits_itself;

/// An audience reference whose id is still to be looked up among the audiences.
pub(crate) const UNRESOLVED: u32 = u32::MAX - 1;

/// Largest magnitude of a condition number (JavaScript's safe-integer bound, floats allowed).
const MAX_CONDITION_NUMBER: f64 = 9_007_199_254_740_992.0;

/// Which kind of tree is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// An audience's `conditions`: leaves are condition objects.
    Audience,
    /// An experiment's `audienceConditions`: leaves are audience ids.
    Refs,
}

/// Buffers reused from one compile to the next.
#[derive(Default)]
pub(crate) struct Scratch {
    json: Vec<u8>,
    /// The fields of the condition object being read, their strings in `text`.
    entries: Vec<(FieldText, LeafValue)>,
    text: String,
}

/// A string of the condition object being read: its range in the scratch text, and where it
/// is in the datafile text when it is a slice of it (`u32::MAX`: it is not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldText {
    start: u32,
    len: u32,
    in_datafile: u32,
}

impl FieldText {
    fn of(self, text: &str) -> &str {
        text.get(self.start as usize..(self.start + self.len) as usize)
            .unwrap_or_default()
    }

    /// The string kept in the config: a range of the datafile when it is one, else a copy.
    fn keep(self, scratch_text: &str, interner: &mut Interner<'_>) -> Str {
        match self.in_datafile {
            u32::MAX => interner.copy(self.of(scratch_text)),
            offset => Str::at(offset as usize, self.len as usize),
        }
    }
}

/// Copies `s` into the scratch text.
fn scratch_span(text: &mut String, interner: &Interner<'_>, s: &str) -> FieldText {
    let start = text.len();
    text.push_str(s);
    FieldText {
        start: start as u32,
        len: s.len() as u32,
        in_datafile: interner.offset_in_text(s).map_or(u32::MAX, |o| o as u32),
    }
}

/// Where compiled trees go: the config's node, leaf, reference and segment arenas, and the
/// string pool.
pub(crate) struct ConditionSink<'a, 't> {
    pub(crate) interner: &'a mut Interner<'t>,
    pub(crate) nodes: &'a mut Vec<Node>,
    pub(crate) leaves: &'a mut Vec<LeafData>,
    pub(crate) refs: &'a mut Vec<RefData>,
    pub(crate) segments: &'a mut Vec<Str>,
    pub(crate) scratch: &'a mut Scratch,
}

/// A compiled tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConditionsOutcome {
    /// Its root node (`NONE` for an experiment-level `[]`, which matches everyone).
    pub(crate) root: u32,
    /// The compact JSON of the whole value: a range of the text when the datafile holds it
    /// verbatim, else of the pool.
    pub(crate) json: Str,
    /// Whether arrays nest deeper than [`MAX_CONDITION_DEPTH`] (the tree is then unusable).
    pub(crate) too_deep: bool,
}

impl ConditionSink<'_, '_> {
    /// Compiles the JSON value `deserializer` holds.
    pub(crate) fn compile<'de, D: Deserializer<'de>>(
        &mut self,
        target: Target,
        deserializer: D,
    ) -> Result<ConditionsOutcome, D::Error> {
        self.scratch.json.clear();
        let first_leaf = self.leaves.len();
        let root = self.nodes.len();
        let mut compiler = Compiler {
            sink: self,
            target,
            too_deep: false,
            anchor: None,
        };
        let top = deserializer.deserialize_any(Element {
            compiler: &mut compiler,
            depth: 0,
            first: false,
        })?;
        let (too_deep, anchor) = (compiler.too_deep, compiler.anchor);
        let json = match (target, self.scratch.json.as_slice()) {
            // An empty experiment-level list is stored as the empty string.
            (Target::Refs, b"[]") => Str::EMPTY,
            _ => self.place_json(first_leaf, anchor),
        };
        let everyone = target == Target::Refs && matches!(top, Elem::Array(0));
        if everyone {
            self.nodes.truncate(root);
        }
        Ok(ConditionsOutcome {
            root: if everyone { NONE } else { root as u32 },
            json,
            too_deep,
        })
    }

    /// The tree of a leaf with JSON `null` (absent audience conditions).
    pub(crate) fn null_leaf(&mut self) -> ConditionsOutcome {
        let json = self.interner.copy("null");
        let root = self.nodes.len() as u32;
        push_leaf(self.nodes, self.leaves, unknown_condition_type(json));
        ConditionsOutcome {
            root,
            json,
            too_deep: false,
        }
    }

    /// The tree of a legacy audience whose `conditions` string is not JSON.
    pub(crate) fn undecodable_leaf(&mut self, original: Str) -> u32 {
        let root = self.nodes.len() as u32;
        let leaf = LeafData {
            kind: LeafKind::Undecodable,
            ..unknown_condition_type(original)
        };
        push_leaf(self.nodes, self.leaves, leaf);
        root
    }

    /// The JSON of an `audienceIds` list (`EMPTY` for `[]`).
    pub(crate) fn id_list_json(&mut self, ids: &[Str]) -> Str {
        let Some(&first) = ids.first() else {
            return Str::EMPTY;
        };
        let strings = self.interner.strings();
        let json = &mut self.scratch.json;
        json.clear();
        for (i, &id) in ids.iter().enumerate() {
            json.push(if i == 0 { b'[' } else { b',' });
            write_json_str(json, strings.get(id));
        }
        json.push(b']');
        // `["first"...`: the first id's text starts 2 bytes in.
        let anchor = self.interner.text_offset(first).map(|offset| (2, offset));
        self.place_json(self.leaves.len(), anchor)
    }

    /// Places the scratch JSON (in the text when it is there verbatim, else in the pool) and
    /// moves the JSON ranges of the leaves compiled since `first_leaf` with it.
    fn place_json(&mut self, first_leaf: usize, anchor: Option<(usize, usize)>) -> Str {
        let json = std::str::from_utf8(&self.scratch.json).unwrap_or_default();
        let start = anchor.and_then(|(in_json, in_text)| in_text.checked_sub(in_json));
        let placed = self.interner.place(json, start);
        for leaf in &mut self.leaves[first_leaf..] {
            leaf.json = leaf.json.moved(placed.start());
        }
        placed
    }
}

/// The tree of an `audienceIds` list (an implicit `or`, unless it starts with an operator);
/// `NONE` when the list is empty.
pub(crate) fn compile_id_list(
    nodes: &mut Vec<Node>,
    refs: &mut Vec<RefData>,
    strings: Strings<'_>,
    ids: &[Str],
) -> u32 {
    let Some(&first) = ids.first() else {
        return NONE;
    };
    let (op, operands) = match operator(strings.get(first)) {
        Some(op) => (op, &ids[1..]),
        None => (Op::Or, ids),
    };
    let root = nodes.len();
    nodes.push(Node::new(op, 1, 0));
    let operands = if op == Op::Not {
        &operands[..operands.len().min(1)]
    } else {
        operands
    };
    for &id in operands {
        push_ref(
            nodes,
            refs,
            RefData {
                id,
                audience: UNRESOLVED,
            },
        );
    }
    nodes[root] = Node::new(op, nodes.len() - root, 0);
    root as u32
}

fn operator(text: &str) -> Option<Op> {
    match text {
        "and" => Some(Op::And),
        "or" => Some(Op::Or),
        "not" => Some(Op::Not),
        _ => None,
    }
}

fn push_leaf(nodes: &mut Vec<Node>, leaves: &mut Vec<LeafData>, leaf: LeafData) {
    nodes.push(Node::new(Op::Leaf, 1, leaves.len() as u32));
    leaves.push(leaf);
}

fn push_ref(nodes: &mut Vec<Node>, refs: &mut Vec<RefData>, reference: RefData) {
    nodes.push(Node::new(Op::Leaf, 1, refs.len() as u32));
    refs.push(reference);
}

/// A leaf that is not a condition object: unknown condition type.
fn unknown_condition_type(json: Str) -> LeafData {
    LeafData {
        kind: LeafKind::UnknownConditionType,
        condition_type: None,
        name: OptStr::NONE,
        value: ValueData::Unsupported,
        json,
    }
}

struct Compiler<'s, 'a, 't> {
    sink: &'s mut ConditionSink<'a, 't>,
    target: Target,
    too_deep: bool,
    /// The first string borrowed from the text: where its content is in the JSON written,
    /// and in the text (to find the whole JSON in the text).
    anchor: Option<(usize, usize)>,
}

/// What one array element turned out to be.
enum Elem {
    /// A leading `"and"` / `"or"` / `"not"`.
    Operator(Op),
    /// A leaf.
    Leaf,
    /// A nested array with this many elements.
    Array(usize),
}

impl Compiler<'_, '_, '_> {
    fn json(&mut self) -> &mut Vec<u8> {
        &mut self.sink.scratch.json
    }

    /// A range of the scratch JSON, written since `start` (placed with the whole JSON at the
    /// end).
    fn json_since(&self, start: usize) -> Str {
        Str::at(start, self.sink.scratch.json.len() - start)
    }

    fn string<E: de::Error>(&mut self, text: &str, first: bool) -> Result<Elem, E> {
        let start = self.sink.scratch.json.len();
        if self.anchor.is_none()
            && let Some(offset) = self.sink.interner.offset_in_text(text)
        {
            self.anchor = Some((start + 1, offset));
        }
        write_json_str(self.json(), text);
        if first && let Some(op) = operator(text) {
            return Ok(Elem::Operator(op));
        }
        match self.target {
            Target::Audience => {
                let json = self.json_since(start);
                push_leaf(
                    self.sink.nodes,
                    self.sink.leaves,
                    unknown_condition_type(json),
                );
            }
            Target::Refs => {
                let id = self.sink.interner.intern(text);
                self.resolvable_ref(id);
            }
        }
        Ok(Elem::Leaf)
    }

    fn number<E: de::Error>(&mut self, number: Option<Number>) -> Result<Elem, E> {
        let start = self.sink.scratch.json.len();
        match &number {
            Some(n) => {
                let _ = write!(self.json(), "{n}");
            }
            None => self.json().extend_from_slice(b"null"),
        }
        match (self.target, number) {
            (Target::Refs, Some(n)) => {
                let id = self.sink.interner.format(format_args!("{n}"));
                self.resolvable_ref(id);
            }
            _ => self.scalar_leaf(start),
        }
        Ok(Elem::Leaf)
    }

    fn literal<E: de::Error>(&mut self, text: &str) -> Result<Elem, E> {
        let start = self.sink.scratch.json.len();
        self.json().extend_from_slice(text.as_bytes());
        self.scalar_leaf(start);
        Ok(Elem::Leaf)
    }

    /// A leaf for a JSON value that names no audience and is no condition object.
    fn scalar_leaf(&mut self, json_start: usize) {
        let json = self.json_since(json_start);
        match self.target {
            Target::Audience => push_leaf(
                self.sink.nodes,
                self.sink.leaves,
                unknown_condition_type(json),
            ),
            Target::Refs => {
                let text = &self.sink.scratch.json[json_start..];
                let id = self
                    .sink
                    .interner
                    .copy(std::str::from_utf8(text).unwrap_or_default());
                push_ref(
                    self.sink.nodes,
                    self.sink.refs,
                    RefData { id, audience: NONE },
                );
            }
        }
    }

    fn resolvable_ref(&mut self, id: Str) {
        let reference = RefData {
            id,
            audience: UNRESOLVED,
        };
        push_ref(self.sink.nodes, self.sink.refs, reference);
    }

    fn array<'de, A: SeqAccess<'de>>(
        &mut self,
        mut seq: A,
        depth: usize,
    ) -> Result<Elem, A::Error> {
        if depth >= MAX_CONDITION_DEPTH {
            self.too_deep = true;
            // The rest is read as JSON values, which keeps the parser's own depth limit.
            while seq.next_element::<Value>()?.is_some() {}
            return Ok(Elem::Array(0));
        }
        let position = self.sink.nodes.len();
        self.sink.nodes.push(Node::new(Op::Or, 1, 0));
        self.json().push(b'[');
        let mut op = Op::Or;
        let mut count = 0;
        loop {
            let before_comma = self.sink.scratch.json.len();
            if count > 0 {
                self.json().push(b',');
            }
            let has_operand = self.sink.nodes.len() > position + 1;
            let more = if op == Op::Not && has_operand {
                self.ignored_operand(&mut seq, depth)?
            } else {
                let element = Element {
                    compiler: self,
                    depth: depth + 1,
                    first: count == 0,
                };
                match seq.next_element_seed(element)? {
                    Some(Elem::Operator(found)) => {
                        op = found;
                        true
                    }
                    Some(_) => true,
                    None => false,
                }
            };
            if !more {
                self.sink.scratch.json.truncate(before_comma);
                break;
            }
            count += 1;
        }
        self.json().push(b']');
        let size = self.sink.nodes.len() - position;
        self.sink.nodes[position] = Node::new(op, size, 0);
        Ok(Elem::Array(count))
    }

    /// A `not` operand after the first: not evaluated, but part of the JSON and scanned for
    /// segments.
    fn ignored_operand<'de, A: SeqAccess<'de>>(
        &mut self,
        seq: &mut A,
        depth: usize,
    ) -> Result<bool, A::Error> {
        let Some(value) = seq.next_element::<Value>()? else {
            return Ok(false);
        };
        let _ = serde_json::to_writer(self.json(), &value);
        if self.target == Target::Audience {
            collect_segments(&value, depth + 1, self.sink.interner, self.sink.segments);
        }
        Ok(true)
    }

    fn object<'de, A: MapAccess<'de>>(&mut self, map: A) -> Result<Elem, A::Error> {
        match self.target {
            Target::Audience => self.condition_leaf(map)?,
            Target::Refs => {
                let value = Value::deserialize(MapAccessDeserializer::new(map))?;
                let start = self.sink.scratch.json.len();
                let _ = serde_json::to_writer(self.json(), &value);
                self.scalar_leaf(start);
            }
        }
        Ok(Elem::Leaf)
    }

    /// A condition object: its fields in order (a repeated key keeps its first position and
    /// takes the last value, as a JSON object map does), then the typed leaf.
    fn condition_leaf<'de, A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let scratch = &mut *self.sink.scratch;
        let mut entries = std::mem::take(&mut scratch.entries);
        let mut text = std::mem::take(&mut scratch.text);
        entries.clear();
        text.clear();
        let interner = &*self.sink.interner;
        while let Some(key) = map.next_key_seed(ScratchString(&mut text, interner))? {
            let value = map.next_value_seed(LeafValueSeed(&mut text, interner))?;
            let name = key.of(&text);
            match entries.iter_mut().find(|(k, _)| k.of(&text) == name) {
                Some(entry) => entry.1 = value,
                None => entries.push((key, value)),
            }
        }
        let start = self.sink.scratch.json.len();
        write_object(&mut self.sink.scratch.json, &text, &entries);
        let json = self.json_since(start);
        let fields = Fields {
            entries: &entries,
            text: &text,
        };
        let (leaf, segment) = fields.leaf(json, self.sink.interner);
        push_leaf(self.sink.nodes, self.sink.leaves, leaf);
        self.sink.segments.extend(segment);
        self.sink.scratch.entries = entries;
        self.sink.scratch.text = text;
        Ok(())
    }
}

/// One element of a condition array (or the whole value at the top).
struct Element<'c, 's, 'a, 't> {
    compiler: &'c mut Compiler<'s, 'a, 't>,
    depth: usize,
    first: bool,
}

seed_visits_itself!(Element<'_, '_, '_, '_>, Elem, deserialize_any);

impl<'de> Visitor<'de> for Element<'_, '_, '_, '_> {
    type Value = Elem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("audience conditions")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Elem, E> {
        self.compiler.string(v, self.first)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Elem, E> {
        self.compiler.number(Some(Number::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Elem, E> {
        self.compiler.number(Some(Number::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Elem, E> {
        self.compiler.number(Number::from_f64(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Elem, E> {
        self.compiler.literal(if v { "true" } else { "false" })
    }

    fn visit_unit<E: de::Error>(self) -> Result<Elem, E> {
        self.compiler.literal("null")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Elem, A::Error> {
        self.compiler.array(seq, self.depth)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Elem, A::Error> {
        self.compiler.object(map)
    }
}

/// A string copied into the scratch text.
struct ScratchString<'s, 'i, 't>(&'s mut String, &'i Interner<'t>);

seed_visits_itself!(ScratchString<'_, '_, '_>, FieldText, deserialize_str);

impl<'de> Visitor<'de> for ScratchString<'_, '_, '_> {
    type Value = FieldText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldText, E> {
        Ok(scratch_span(self.0, self.1, v))
    }
}

/// The value of a condition object's field.
#[derive(Debug)]
pub(crate) enum LeafValue {
    Str(FieldText),
    Number(Number),
    Bool(bool),
    Null,
    Other(Value),
}

struct LeafValueSeed<'s, 'i, 't>(&'s mut String, &'i Interner<'t>);

seed_visits_itself!(LeafValueSeed<'_, '_, '_>, LeafValue, deserialize_any);

impl<'de> Visitor<'de> for LeafValueSeed<'_, '_, '_> {
    type Value = LeafValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LeafValue, E> {
        Ok(LeafValue::Str(scratch_span(self.0, self.1, v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LeafValue, E> {
        Ok(LeafValue::Number(Number::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LeafValue, E> {
        Ok(LeafValue::Number(Number::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LeafValue, E> {
        Ok(Number::from_f64(v).map_or(LeafValue::Null, LeafValue::Number))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<LeafValue, E> {
        Ok(LeafValue::Bool(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<LeafValue, E> {
        Ok(LeafValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LeafValue, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(LeafValue::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LeafValue, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(LeafValue::Other)
    }
}

/// The fields of a condition object.
struct Fields<'e> {
    entries: &'e [(FieldText, LeafValue)],
    text: &'e str,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&LeafValue> {
        self.entries
            .iter()
            .find(|(key, _)| key.of(self.text) == name)
            .map(|(_, value)| value)
    }

    fn string(&self, name: &str) -> Option<FieldText> {
        match self.get(name) {
            Some(LeafValue::Str(s)) => Some(*s),
            _ => None,
        }
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.string(name).map(|s| s.of(self.text))
    }

    /// The typed leaf, and the ODP segment it names (Go rule): the `value` of a
    /// `"qualified"` match when it is a non-empty string, whatever the condition type.
    fn leaf(&self, json: Str, interner: &mut Interner<'_>) -> (LeafData, Option<Str>) {
        let condition_type = match self.text("type") {
            Some("custom_attribute") => Some(ConditionType::CustomAttribute),
            Some("third_party_dimension") => Some(ConditionType::ThirdPartyDimension),
            _ => None,
        };
        let value = self.string("value").map(|s| s.keep(self.text, interner));
        let qualified = self.text("match") == Some("qualified");
        let segment = value.filter(|value| qualified && !value.is_empty());
        let leaf = LeafData {
            kind: self.kind(condition_type),
            condition_type,
            name: self
                .string("name")
                .map(|s| s.keep(self.text, interner))
                .into(),
            value: match value {
                Some(s) => ValueData::String(s),
                None => self.typed_value(),
            },
            json,
        };
        (leaf, segment)
    }

    fn kind(&self, condition_type: Option<ConditionType>) -> LeafKind {
        let Some(condition_type) = condition_type else {
            return LeafKind::UnknownConditionType;
        };
        let match_type = match self.get("match") {
            None => Some(default_match(condition_type)),
            Some(LeafValue::Str(name)) => parse_match(name.of(self.text)),
            Some(_) => None,
        };
        match match_type {
            Some(m) if supports(condition_type, m) => LeafKind::Match(m),
            _ => LeafKind::UnknownMatchType,
        }
    }

    /// A `value` that is not a string.
    fn typed_value(&self) -> ValueData {
        match self.get("value") {
            Some(LeafValue::Bool(b)) => ValueData::Bool(*b),
            Some(LeafValue::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && x.abs() <= MAX_CONDITION_NUMBER => ValueData::Number(x),
                _ => ValueData::Unsupported,
            },
            _ => ValueData::Unsupported,
        }
    }
}

fn default_match(condition_type: ConditionType) -> MatchType {
    match condition_type {
        ConditionType::CustomAttribute => MatchType::Exact,
        ConditionType::ThirdPartyDimension => MatchType::Qualified,
    }
}

fn supports(condition_type: ConditionType, match_type: MatchType) -> bool {
    let is_segment_match = match_type == MatchType::Qualified;
    match condition_type {
        ConditionType::CustomAttribute => !is_segment_match,
        ConditionType::ThirdPartyDimension => is_segment_match,
    }
}

fn parse_match(name: &str) -> Option<MatchType> {
    Some(match name {
        "exact" => MatchType::Exact,
        "exists" => MatchType::Exists,
        "substring" => MatchType::Substring,
        "gt" => MatchType::Gt,
        "ge" => MatchType::Ge,
        "lt" => MatchType::Lt,
        "le" => MatchType::Le,
        "semver_eq" => MatchType::SemverEq,
        "semver_gt" => MatchType::SemverGt,
        "semver_ge" => MatchType::SemverGe,
        "semver_lt" => MatchType::SemverLt,
        "semver_le" => MatchType::SemverLe,
        "qualified" => MatchType::Qualified,
        _ => return None,
    })
}

/// Appends the ODP segments of a condition tree held as JSON (Go rule): the `value` of every
/// object leaf whose `match` is `"qualified"` and whose value is a non-empty string, depth
/// first, arrays deeper than [`MAX_CONDITION_DEPTH`] not scanned.
fn collect_segments(value: &Value, depth: usize, interner: &mut Interner<'_>, out: &mut Vec<Str>) {
    match value {
        Value::Array(items) if depth < MAX_CONDITION_DEPTH => {
            for item in items {
                collect_segments(item, depth + 1, interner, out);
            }
        }
        Value::Object(fields) => {
            let is_qualified = fields.get("match").and_then(Value::as_str) == Some("qualified");
            if let (true, Some(Value::String(segment))) = (is_qualified, fields.get("value"))
                && !segment.is_empty()
            {
                out.push(interner.copy(segment));
            }
        }
        _ => {}
    }
}

/// `text` as a JSON string, escaped as `serde_json` escapes it.
pub(crate) fn write_json_str(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

fn write_object(out: &mut Vec<u8>, text: &str, entries: &[(FieldText, LeafValue)]) {
    out.push(b'{');
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, key.of(text));
        out.push(b':');
        match value {
            LeafValue::Str(s) => write_json_str(out, s.of(text)),
            LeafValue::Number(n) => {
                let _ = write!(out, "{n}");
            }
            LeafValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            LeafValue::Null => out.extend_from_slice(b"null"),
            LeafValue::Other(value) => {
                let _ = serde_json::to_writer(&mut *out, value);
            }
        }
    }
    out.push(b'}');
}
