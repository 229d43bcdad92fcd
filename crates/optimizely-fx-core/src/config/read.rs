//! Datafile JSON → the config's arenas, in one pass over the text.
//!
//! The JSON parser lends every string without escapes as a slice of the datafile text, which
//! becomes a [`Str`] range of it: ids and keys are never copied. Audience conditions are
//! compiled into their trees as they are read. What cannot be resolved yet (references
//! between entities, which the datafile may list in any order) is resolved by `build`.
//!
//! The shapes accepted are those of the serde model in `datafile::raw`, which the tests
//! hold the reader to: unknown fields are ignored, missing or `null` lists are empty, ids
//! may be JSON numbers, a repeated field is an error. A rejection names the property at
//! fault, as recorded on the way out of the readers (see `FailurePath`).

use super::entities::{
    AttributeData, AudienceData, CmabData, EventData, ExperimentOrigin, ExperimentRecord, FlagData,
    ForcedData, GroupData, GroupIndex, HoldoutData, NONE, RangeData, RolloutData, RolloutIndex,
    RuleRefData, Span, UsageData, VariableData, VariationData, VariationIndex,
};
use super::text::{Interner, OptStr, Str};
use crate::condition::{
    AudiencesData, ConditionSink, ConditionsOutcome, LeafData, Node, RefData, Scratch, Target,
    compile_id_list, seed_visits_itself,
};
use crate::datafile::numbers::{EndOfRange, number_to_string};
use crate::datafile::{self, DatafileError, DatafileVersion};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// The experiment lists of a datafile, in the order the config arranges them.
const TOP_LEVEL: usize = 0;
const GROUP_MEMBERS: usize = 1;
const ROLLOUT_RULES: usize = 2;

/// A legacy audience, whose string-encoded conditions are compiled only if no typed
/// audience overrides it.
pub(super) struct LegacyAudience {
    pub(super) id: Str,
    pub(super) name: OptStr,
    pub(super) conditions: LegacyConditions,
}

pub(super) enum LegacyConditions {
    /// Absent or `null`.
    Null,
    /// A string: a range of the datafile text, or of the side text for escaped strings.
    Text {
        in_side_text: bool,
        start: u32,
        len: u32,
    },
    /// Any other JSON value.
    Json(Value),
}

/// An audience as read, with the ODP segments its conditions use (a range of the segment
/// list, which only the build needs).
pub(super) struct ReadAudience {
    pub(super) data: AudienceData,
    pub(super) segments: Span,
}

/// A holdout as read, with whether its conditions nest too deeply.
pub(super) struct ReadHoldout {
    pub(super) data: HoldoutData,
    pub(super) too_deep: bool,
}

/// The first `odp` integration.
pub(super) struct ReadOdp {
    pub(super) host: OptStr,
    pub(super) public_key: OptStr,
    pub(super) pixel_url: OptStr,
}

/// Everything read from the datafile, references still unresolved.
pub(super) struct Parts<'t> {
    pub(super) interner: Interner<'t>,
    /// Escaped legacy audience condition strings.
    pub(super) side_text: String,
    pub(super) scratch: Scratch,
    pub(super) version: DatafileVersion,
    pub(super) account_id: Str,
    pub(super) project_id: Str,
    pub(super) revision: Str,
    pub(super) sdk_key: OptStr,
    pub(super) environment_key: OptStr,
    pub(super) region: OptStr,
    pub(super) bot_filtering: Option<bool>,
    pub(super) anonymize_ip: Option<bool>,
    pub(super) send_flag_decisions: Option<bool>,

    /// Top-level experiments, group members and delivery rules.
    pub(super) experiments: [Vec<ExperimentRecord>; 3],
    /// How many of the experiments are delivery rules (set when they are put in order).
    pub(super) experiments_in_rollouts: usize,
    /// Per list, the first experiment whose audience conditions nest too deeply.
    pub(super) too_deep_experiment: [Option<String>; 3],
    /// Member spans are ranges of the group member list.
    pub(super) groups: Vec<GroupData>,
    /// Rule spans are ranges of the delivery rule list.
    pub(super) rollouts: Vec<RolloutData>,
    pub(super) holdouts: [Vec<ReadHoldout>; 2],
    pub(super) flags: Vec<FlagData>,
    pub(super) variables: Vec<VariableData>,
    pub(super) rule_refs: Vec<RuleRefData>,
    pub(super) typed_audiences: Vec<ReadAudience>,
    pub(super) too_deep_typed_audience: Option<usize>,
    pub(super) legacy_audiences: Vec<LegacyAudience>,
    pub(super) attributes: Vec<AttributeData>,
    pub(super) events: Vec<EventData>,
    pub(super) odp: Option<ReadOdp>,

    pub(super) variations: Vec<VariationData>,
    pub(super) usages: Vec<UsageData>,
    pub(super) ranges: Vec<RangeData>,
    /// Whitelist entries, each experiment's entries together, unsorted.
    pub(super) forced: Vec<ForcedData>,
    pub(super) cmabs: Vec<CmabData>,
    pub(super) strs: Vec<Str>,
    /// The ODP segments of audience conditions.
    pub(super) segments: Vec<Str>,
    /// Experiment and holdout variation lists, in the order read.
    pub(super) variation_refs: Vec<VariationIndex>,
    pub(super) nodes: Vec<Node>,
    pub(super) leaves: Vec<LeafData>,
    pub(super) refs: Vec<RefData>,
}

impl<'t> Parts<'t> {
    /// Where condition trees are compiled to: the parts' condition arenas.
    fn condition_sink(&mut self) -> ConditionSink<'_, 't> {
        self.condition_sink_and_side_text().0
    }

    /// The condition sink, and beside it the escaped legacy condition strings to compile.
    pub(super) fn condition_sink_and_side_text(&mut self) -> (ConditionSink<'_, 't>, &str) {
        let sink = ConditionSink {
            interner: &mut self.interner,
            nodes: &mut self.nodes,
            leaves: &mut self.leaves,
            refs: &mut self.refs,
            segments: &mut self.segments,
            scratch: &mut self.scratch,
        };
        (sink, &self.side_text)
    }
}

/// Reads `text`: the datafile's shape, version and integration keys are checked; conditions
/// nested too deeply are reported by `build`, which knows the order the official SDKs report
/// them in.
pub(super) fn read(text: &str) -> Result<Parts<'_>, DatafileError> {
    datafile::check_is_object(text)?;
    let mut reader = Reader::new(text);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let shape = Object(TopLevel(&mut reader))
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(err) = shape {
        let path = reader.failure.to_string();
        return Err(datafile::explain_failure(text, &err, &path));
    }
    let version_text = reader.parts.interner.strings().get(reader.version);
    let version = DatafileVersion::from_datafile(version_text).ok_or_else(|| {
        DatafileError::UnsupportedVersion {
            version: version_text.to_owned(),
        }
    })?;
    if reader.integration_without_key {
        return Err(DatafileError::MissingIntegrationKey);
    }
    Ok(reader.into_parts(version))
}

/// Whether the text has the shape of a datafile (whatever its version), for comparing the
/// reader with the serde model.
#[cfg(test)]
pub(super) fn shape_is_accepted(text: &str) -> bool {
    let mut reader = Reader::new(text);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Object(TopLevel(&mut reader))
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .is_ok()
}

/// The parts being filled, with state that only reading needs.
struct Reader<'t> {
    parts: Parts<'t>,
    version: Str,
    integration_without_key: bool,
    /// `audienceIds` of the entity being read (kept only when it has no `audienceConditions`).
    audience_ids: Vec<Str>,
    /// Where the value that failed to read is, once reading has failed.
    failure: FailurePath,
}

impl<'t> Reader<'t> {
    fn new(text: &'t str) -> Self {
        Reader {
            parts: Parts {
                interner: Interner::new(text),
                side_text: String::new(),
                scratch: Scratch::default(),
                version: DatafileVersion::V4,
                account_id: Str::EMPTY,
                project_id: Str::EMPTY,
                revision: Str::EMPTY,
                sdk_key: OptStr::NONE,
                environment_key: OptStr::NONE,
                region: OptStr::NONE,
                bot_filtering: None,
                anonymize_ip: None,
                send_flag_decisions: None,
                experiments: Default::default(),
                experiments_in_rollouts: 0,
                too_deep_experiment: Default::default(),
                groups: Vec::new(),
                rollouts: Vec::new(),
                holdouts: Default::default(),
                flags: Vec::new(),
                variables: Vec::new(),
                rule_refs: Vec::new(),
                typed_audiences: Vec::new(),
                too_deep_typed_audience: None,
                legacy_audiences: Vec::new(),
                attributes: Vec::new(),
                events: Vec::new(),
                odp: None,
                variations: Vec::new(),
                usages: Vec::new(),
                ranges: Vec::new(),
                forced: Vec::new(),
                cmabs: Vec::new(),
                strs: Vec::new(),
                segments: Vec::new(),
                variation_refs: Vec::new(),
                nodes: Vec::new(),
                leaves: Vec::new(),
                refs: Vec::new(),
            },
            version: Str::EMPTY,
            integration_without_key: false,
            audience_ids: Vec::new(),
            failure: FailurePath::default(),
        }
    }

    fn into_parts(self, version: DatafileVersion) -> Parts<'t> {
        Parts {
            version,
            ..self.parts
        }
    }

    fn interner(&mut self) -> &mut Interner<'t> {
        &mut self.parts.interner
    }

    fn condition_sink(&mut self) -> ConditionSink<'_, 't> {
        self.parts.condition_sink()
    }

    /// Targeting from `audienceConditions` when present (and not `null`), else from the
    /// `audienceIds` just read.
    fn audiences(&mut self, conditions: Option<ConditionsOutcome>) -> (AudiencesData, bool) {
        if let Some(outcome) = conditions {
            let data = AudiencesData {
                root: outcome.root,
                json: outcome.json,
            };
            return (data, outcome.too_deep);
        }
        let ids = std::mem::take(&mut self.audience_ids);
        let json = self.condition_sink().id_list_json(&ids);
        let parts = &mut self.parts;
        let root = compile_id_list(
            &mut parts.nodes,
            &mut parts.refs,
            parts.interner.strings(),
            &ids,
        );
        self.audience_ids = ids;
        (AudiencesData { root, json }, false)
    }
}

// ----- generic pieces -----

/// Where the value that failed to read sits in the datafile, e.g.
/// `experiments[0].variations[1].id` (`datafile` for the top-level object itself).
///
/// Nothing is recorded while reading succeeds: each object and list adds its step as the
/// error passes back out through it, so the steps arrive innermost first.
#[derive(Default)]
struct FailurePath(Vec<Step>);

enum Step {
    Field(&'static str),
    /// An entry of a map.
    Key(String),
    /// A field with a name not known.
    UnknownField,
    Index(usize),
}

impl FailurePath {
    /// `result`, with the step `step` makes recorded if it is an error.
    #[inline]
    fn note<T, E>(&mut self, result: Result<T, E>, step: impl FnOnce() -> Step) -> Result<T, E> {
        if result.is_err() {
            self.record(step());
        }
        result
    }

    #[cold]
    #[inline(never)]
    fn record(&mut self, step: Step) {
        self.0.push(step);
    }
}

impl fmt::Display for FailurePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("datafile");
        }
        for (position, step) in self.0.iter().rev().enumerate() {
            let dot = if position == 0 { "" } else { "." };
            match step {
                Step::Field(name) => write!(f, "{dot}{name}")?,
                Step::Key(key) => write!(f, "{dot}{key}")?,
                Step::UnknownField => write!(f, "{dot}?")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A JSON object read field by field.
trait ObjectReader<'de> {
    type Value;
    const FIELDS: &'static [&'static str];
    /// The fields without which the object is rejected.
    const REQUIRED: &'static [usize] = &[];

    /// Reads the value of known field `field`.
    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error>;

    /// The object, once every field is read.
    fn finish<E: de::Error>(self) -> Result<Self::Value, E>;

    /// Where a failure is recorded.
    fn failure(&mut self) -> &mut FailurePath;
}

struct Object<R>(R);

impl<'de, R: ObjectReader<'de>> DeserializeSeed<'de> for Object<R> {
    type Value = R::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<R::Value, D::Error> {
        deserializer.deserialize_struct("entity", R::FIELDS, self)
    }
}

impl<'de, R: ObjectReader<'de>> Visitor<'de> for Object<R> {
    type Value = R::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<R::Value, A::Error> {
        let mut seen = 0u64;
        while let Some(field) = map.next_key_seed(FieldName(R::FIELDS))? {
            let Some(field) = field else {
                // Skipping fails only on malformed JSON, whose error names no property.
                let skipped = map.next_value::<IgnoredAny>();
                self.0.failure().note(skipped, || Step::UnknownField)?;
                continue;
            };
            if seen & (1 << field) != 0 {
                return Err(de::Error::duplicate_field(R::FIELDS[field]));
            }
            seen |= 1 << field;
            let read = self.0.field(field, &mut map);
            self.0
                .failure()
                .note(read, || Step::Field(R::FIELDS[field]))?;
        }
        if let Some(&missing) = R::REQUIRED.iter().find(|&&f| seen & (1 << f) == 0) {
            return Err(de::Error::missing_field(R::FIELDS[missing]));
        }
        self.0.finish()
    }

    /// Serde's derived structs also read a JSON array, as the fields in order; the serde
    /// model did, so this reader does too.
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<R::Value, A::Error> {
        let mut fields = Positional {
            seq: &mut seq,
            ended: false,
        };
        for field in 0..R::FIELDS.len() {
            let read = self.0.field(field, &mut fields);
            // A required field past the end is the array's fault, not the (null) value's.
            if fields.ended && R::REQUIRED.contains(&field) {
                return Err(de::Error::invalid_length(field, &"more fields"));
            }
            self.0.failure().note(read, || Step::Index(field))?;
        }
        self.0.finish()
    }
}

/// The elements of an array read as the values of an object's fields; once the array ends,
/// the remaining fields read as `null` (their default).
struct Positional<'s, S> {
    seq: &'s mut S,
    ended: bool,
}

impl<'de, S: SeqAccess<'de>> MapAccess<'de> for Positional<'_, S> {
    type Error = S::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _: K,
    ) -> Result<Option<K::Value>, S::Error> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, S::Error> {
        let mut seed = Some(seed);
        if !self.ended {
            match self.seq.next_element_seed(Taken(&mut seed))? {
                Some(value) => return Ok(value),
                None => self.ended = true,
            }
        }
        match seed {
            Some(seed) => seed.deserialize(de::value::UnitDeserializer::new()),
            None => Err(de::Error::custom("a field was read twice")),
        }
    }
}

/// A seed that is still there if the array had no element for it.
struct Taken<'s, V>(&'s mut Option<V>);

impl<'de, V: DeserializeSeed<'de>> DeserializeSeed<'de> for Taken<'_, V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        match self.0.take() {
            Some(seed) => seed.deserialize(deserializer),
            None => Err(de::Error::custom("a field was read twice")),
        }
    }
}

/// A key, as its position among the fields known (`None`: an unknown field).
struct FieldName(&'static [&'static str]);

seed_visits_itself!(FieldName, Option<usize>, deserialize_str);

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|&name| name == v))
    }
}

/// Reads the elements of a JSON array, one at a time.
trait Elements<'de> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error>;

    /// Where a failure is recorded.
    fn failure(&mut self) -> &mut FailurePath;
}

/// A JSON array, or `null` for none.
struct List<E>(E);

impl<'de, E: Elements<'de>> DeserializeSeed<'de> for List<E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, E: Elements<'de>> Visitor<'de> for List<E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or null")
    }

    fn visit_none<Er: de::Error>(self) -> Result<(), Er> {
        Ok(())
    }

    fn visit_unit<Er: de::Error>(self) -> Result<(), Er> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            let next = seq.next_element_seed(Element(&mut self.0));
            if self
                .0
                .failure()
                .note(next, || Step::Index(index))?
                .is_none()
            {
                break;
            }
        }
        Ok(())
    }
}

struct Element<'e, E>(&'e mut E);

impl<'de, E: Elements<'de>> DeserializeSeed<'de> for Element<'_, E> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.0.element(deserializer)
    }
}

/// A JSON string as a [`Str`].
struct Text<'i, 't>(&'i mut Interner<'t>);

seed_visits_itself!(Text<'_, '_>, Str, deserialize_str);

impl<'de> Visitor<'de> for Text<'_, '_> {
    type Value = Str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(self.0.intern(v))
    }
}

/// An id or key: a JSON string, or a JSON number read as its decimal text.
struct Id<'i, 't>(&'i mut Interner<'t>);

seed_visits_itself!(Id<'_, '_>, Str, deserialize_any);

impl<'de> Visitor<'de> for Id<'_, '_> {
    type Value = Str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
        Ok(self.0.intern(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Str, E> {
        Ok(self.0.format(format_args!("{v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Str, E> {
        Ok(self.0.format(format_args!("{v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Str, E> {
        Ok(self.0.copy(&number_to_string(v)))
    }
}

/// `null` or a value read by the seed `S`.
struct Nullable<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Nullable<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Nullable<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// A variable value: any JSON, kept only when it is a string (the official SDKs cast
/// anything else to null).
struct StringValue<'i, 't>(&'i mut Interner<'t>);

seed_visits_itself!(StringValue<'_, '_>, OptStr, deserialize_any);

impl<'de> Visitor<'de> for StringValue<'_, '_> {
    type Value = OptStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<OptStr, E> {
        Ok(Some(self.0.intern(v)).into())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<OptStr, E> {
        Ok(OptStr::NONE)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<OptStr, E> {
        Ok(OptStr::NONE)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<OptStr, E> {
        Ok(OptStr::NONE)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<OptStr, E> {
        Ok(OptStr::NONE)
    }

    fn visit_unit<E: de::Error>(self) -> Result<OptStr, E> {
        Ok(OptStr::NONE)
    }

    // Arrays and objects are read as JSON values, which keeps the parser's depth limit.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OptStr, A::Error> {
        while seq.next_element::<Value>()?.is_some() {}
        Ok(OptStr::NONE)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OptStr, A::Error> {
        while map.next_entry::<IgnoredAny, Value>()?.is_some() {}
        Ok(OptStr::NONE)
    }
}

/// A list of ids or keys, appended to a list of [`Str`]s.
struct Ids<'v, 'i, 't> {
    interner: &'i mut Interner<'t>,
    out: &'v mut Vec<Str>,
    failure: &'v mut FailurePath,
}

impl<'de> Elements<'de> for Ids<'_, '_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let id = Id(self.interner).deserialize(deserializer)?;
        self.out.push(id);
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        self.failure
    }
}

/// Reads a list of ids into the shared string list; returns its span there.
fn id_list<'de, A: MapAccess<'de>>(reader: &mut Reader<'_>, map: &mut A) -> Result<Span, A::Error> {
    let parts = &mut reader.parts;
    let start = parts.strs.len();
    map.next_value_seed(List(Ids {
        interner: &mut parts.interner,
        out: &mut parts.strs,
        failure: &mut reader.failure,
    }))?;
    Ok(Span::from(start, parts.strs.len()))
}

fn opt_text<'de, A: MapAccess<'de>>(
    reader: &mut Reader<'_>,
    map: &mut A,
) -> Result<OptStr, A::Error> {
    Ok(map
        .next_value_seed(Nullable(Text(reader.interner())))?
        .into())
}

fn opt_id<'de, A: MapAccess<'de>>(
    reader: &mut Reader<'_>,
    map: &mut A,
) -> Result<OptStr, A::Error> {
    Ok(map.next_value_seed(Nullable(Id(reader.interner())))?.into())
}

fn id<'de, A: MapAccess<'de>>(reader: &mut Reader<'_>, map: &mut A) -> Result<Str, A::Error> {
    map.next_value_seed(Id(reader.interner()))
}

/// An entity read field by field into its stored form, then appended to its arena.
trait Record: Sized {
    const FIELDS: &'static [&'static str];
    /// The fields without which the entity is rejected.
    const REQUIRED: &'static [usize];

    /// The entity before any field is read.
    fn empty() -> Self;

    /// Reads the value of known field `field`.
    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error>;

    /// The arena the entity is appended to.
    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self>;

    /// Appends the entity, once read, to its arena.
    fn store(self, parts: &mut Parts<'_>) {
        Self::arena(parts).push(self);
    }
}

struct RecordReader<'r, 't, T> {
    r: &'r mut Reader<'t>,
    data: T,
}

impl<'r, 't, T: Record> RecordReader<'r, 't, T> {
    fn new(r: &'r mut Reader<'t>) -> Object<Self> {
        Object(RecordReader {
            r,
            data: T::empty(),
        })
    }
}

impl<'de, T: Record> ObjectReader<'de> for RecordReader<'_, '_, T> {
    type Value = T;
    const FIELDS: &'static [&'static str] = T::FIELDS;
    const REQUIRED: &'static [usize] = T::REQUIRED;

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        self.data.field(self.r, field, map)
    }

    fn finish<E: de::Error>(self) -> Result<T, E> {
        Ok(self.data)
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

/// The elements of a list of records, each appended to its arena.
struct Records<'r, 't, T>(&'r mut Reader<'t>, PhantomData<T>);

impl<'r, 't, T: Record> Records<'r, 't, T> {
    fn of(r: &'r mut Reader<'t>) -> List<Self> {
        List(Records(r, PhantomData))
    }
}

impl<'de, T: Record> Elements<'de> for Records<'_, '_, T> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let data = RecordReader::<T>::new(self.0).deserialize(deserializer)?;
        data.store(&mut self.0.parts);
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.0.failure
    }
}

/// Reads a list of records; returns its span in their arena.
fn records<'de, T: Record, A: MapAccess<'de>>(
    r: &mut Reader<'_>,
    map: &mut A,
) -> Result<Span, A::Error> {
    let start = T::arena(&mut r.parts).len();
    map.next_value_seed(Records::<T>::of(r))?;
    Ok(Span::from(start, T::arena(&mut r.parts).len()))
}

// ----- top level -----

struct TopLevel<'r, 't>(&'r mut Reader<'t>);

impl<'de> ObjectReader<'de> for TopLevel<'_, '_> {
    type Value = ();
    const FIELDS: &'static [&'static str] = &[
        "version",
        "accountId",
        "projectId",
        "revision",
        "experiments",
        "groups",
        "featureFlags",
        "rollouts",
        "audiences",
        "typedAudiences",
        "attributes",
        "events",
        "integrations",
        "holdouts",
        "localHoldouts",
        "botFiltering",
        "anonymizeIP",
        "sendFlagDecisions",
        "sdkKey",
        "environmentKey",
        "region",
    ];
    const REQUIRED: &'static [usize] = &[0, 1, 2, 3];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let r = &mut *self.0;
        match field {
            0 => r.version = map.next_value_seed(Text(r.interner()))?,
            1 => r.parts.account_id = id(r, map)?,
            2 => r.parts.project_id = id(r, map)?,
            3 => r.parts.revision = id(r, map)?,
            4 => map.next_value_seed(List(Experiments::new(r, TOP_LEVEL)))?,
            5 => map.next_value_seed(Records::<GroupData>::of(r))?,
            6 => map.next_value_seed(Records::<FlagData>::of(r))?,
            7 => map.next_value_seed(Records::<RolloutData>::of(r))?,
            8 => map.next_value_seed(List(LegacyAudiences(r)))?,
            9 => map.next_value_seed(List(TypedAudiences(r)))?,
            10 => map.next_value_seed(Records::<AttributeData>::of(r))?,
            11 => map.next_value_seed(Records::<EventData>::of(r))?,
            12 => map.next_value_seed(List(Integrations(r)))?,
            13 => map.next_value_seed(List(Holdouts { r, local: false }))?,
            14 => map.next_value_seed(List(Holdouts { r, local: true }))?,
            15 => r.parts.bot_filtering = map.next_value()?,
            16 => r.parts.anonymize_ip = map.next_value()?,
            17 => r.parts.send_flag_decisions = map.next_value()?,
            18 => r.parts.sdk_key = opt_text(r, map)?,
            19 => r.parts.environment_key = opt_text(r, map)?,
            _ => r.parts.region = opt_text(r, map)?,
        }
        Ok(())
    }

    fn finish<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.0.failure
    }
}

// ----- experiments, variations, traffic -----

/// The experiments of one list (top level, a group's members, a rollout's rules).
struct Experiments<'r, 't> {
    r: &'r mut Reader<'t>,
    list: usize,
    origin: ExperimentOrigin,
    /// Where the current group's or rollout's entries start in their list.
    first: usize,
}

impl<'r, 't> Experiments<'r, 't> {
    fn new(r: &'r mut Reader<'t>, list: usize) -> Self {
        let first = r.parts.experiments[list].len();
        let origin = match list {
            TOP_LEVEL => ExperimentOrigin::TopLevel,
            GROUP_MEMBERS => ExperimentOrigin::Group(GroupIndex(r.parts.groups.len() as u32)),
            _ => ExperimentOrigin::Rollout(RolloutIndex(r.parts.rollouts.len() as u32)),
        };
        Experiments {
            r,
            list,
            origin,
            first,
        }
    }
}

impl<'de> Elements<'de> for Experiments<'_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let (experiment, too_deep) =
            Object(ExperimentReader::new(self.r, self.origin)).deserialize(deserializer)?;
        let parts = &mut self.r.parts;
        let list = &mut parts.experiments[self.list];
        if too_deep && parts.too_deep_experiment[self.list].is_none() {
            let position = list.len() - self.first;
            let path = match self.origin {
                ExperimentOrigin::TopLevel => format!("experiments[{position}]"),
                ExperimentOrigin::Group(g) => format!("groups[{}].experiments[{position}]", g.0),
                ExperimentOrigin::Rollout(r) => {
                    format!("rollouts[{}].experiments[{position}]", r.0)
                }
            };
            parts.too_deep_experiment[self.list] = Some(format!("{path}.audienceConditions"));
        }
        list.push(experiment);
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

struct ExperimentReader<'r, 't> {
    r: &'r mut Reader<'t>,
    data: ExperimentRecord,
    conditions: Option<ConditionsOutcome>,
}

impl<'r, 't> ExperimentReader<'r, 't> {
    fn new(r: &'r mut Reader<'t>, origin: ExperimentOrigin) -> Self {
        r.audience_ids.clear();
        ExperimentReader {
            r,
            conditions: None,
            data: ExperimentRecord {
                id: Str::EMPTY,
                key: Str::EMPTY,
                status: Str::EMPTY,
                layer_id: Str::EMPTY,
                experiment_type: OptStr::NONE,
                origin,
                mutex_group: NONE,
                variations: Span::default(),
                traffic_allocation: Span::default(),
                audiences: AudiencesData {
                    root: NONE,
                    json: Str::EMPTY,
                },
                forced_variations: Span::default(),
                cmab: NONE,
                flags: Span::default(),
                local_holdouts: Span::default(),
                is_running: false,
            },
        }
    }
}

impl<'de> ObjectReader<'de> for ExperimentReader<'_, '_> {
    type Value = (ExperimentRecord, bool);
    const FIELDS: &'static [&'static str] = &[
        "id",
        "key",
        "status",
        "layerId",
        "variations",
        "trafficAllocation",
        "audienceIds",
        "audienceConditions",
        "forcedVariations",
        "type",
        "cmab",
    ];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let (r, data) = (&mut *self.r, &mut self.data);
        match field {
            0 => data.id = id(r, map)?,
            1 => data.key = id(r, map)?,
            2 => data.status = opt_text(r, map)?.get().unwrap_or_default(),
            3 => data.layer_id = opt_id(r, map)?.get().unwrap_or_default(),
            4 => data.variations = variations(r, map)?,
            5 => data.traffic_allocation = traffic_allocation(r, map)?,
            6 => audience_ids(r, map)?,
            7 => self.conditions = audience_conditions(r, map)?,
            8 => data.forced_variations = forced_variations(r, map)?,
            9 => data.experiment_type = opt_text(r, map)?,
            _ => {
                data.cmab = map
                    .next_value_seed(Nullable(Object(CmabReader::new(r))))?
                    .unwrap_or(NONE)
            }
        }
        Ok(())
    }

    fn finish<E: de::Error>(mut self) -> Result<(ExperimentRecord, bool), E> {
        let (audiences, too_deep) = self.r.audiences(self.conditions);
        self.data.audiences = audiences;
        let status = self.r.parts.interner.strings().get(self.data.status);
        self.data.is_running = status == RUNNING;
        Ok((self.data, too_deep))
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

const RUNNING: &str = "Running";

fn audience_ids<'de, A: MapAccess<'de>>(r: &mut Reader<'_>, map: &mut A) -> Result<(), A::Error> {
    r.audience_ids.clear();
    map.next_value_seed(List(Ids {
        interner: &mut r.parts.interner,
        out: &mut r.audience_ids,
        failure: &mut r.failure,
    }))
}

/// `audienceConditions`, compiled; `None` when absent or `null`.
fn audience_conditions<'de, A: MapAccess<'de>>(
    r: &mut Reader<'_>,
    map: &mut A,
) -> Result<Option<ConditionsOutcome>, A::Error> {
    map.next_value_seed(Nullable(Conditions {
        sink: r.condition_sink(),
        target: Target::Refs,
    }))
}

/// A condition tree compiled straight from the JSON.
struct Conditions<'a, 't> {
    sink: ConditionSink<'a, 't>,
    target: Target,
}

impl<'de> DeserializeSeed<'de> for Conditions<'_, '_> {
    type Value = ConditionsOutcome;

    fn deserialize<D: Deserializer<'de>>(
        mut self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        self.sink.compile(self.target, deserializer)
    }
}

struct CmabReader<'r, 't> {
    r: &'r mut Reader<'t>,
    data: CmabData,
}

impl<'r, 't> CmabReader<'r, 't> {
    fn new(r: &'r mut Reader<'t>) -> Self {
        CmabReader {
            r,
            data: CmabData {
                attribute_ids: Span::default(),
                traffic_allocation: 0,
            },
        }
    }
}

impl<'de> ObjectReader<'de> for CmabReader<'_, '_> {
    type Value = u32;
    const FIELDS: &'static [&'static str] = &["attributeIds", "trafficAllocation"];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        match field {
            0 => self.data.attribute_ids = id_list(self.r, map)?,
            _ => {
                let end = map.next_value::<Option<EndOfRange>>()?;
                self.data.traffic_allocation = end.map_or(0, |end| end.0);
            }
        }
        Ok(())
    }

    fn finish<E: de::Error>(self) -> Result<u32, E> {
        let cmabs = &mut self.r.parts.cmabs;
        cmabs.push(self.data);
        Ok((cmabs.len() - 1) as u32)
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

/// Reads a `variations` list; returns its span, the same in the variation list and in the
/// variation references (reading a variation adds it to both).
fn variations<'de, A: MapAccess<'de>>(r: &mut Reader<'_>, map: &mut A) -> Result<Span, A::Error> {
    records::<VariationData, _>(r, map)
}

impl Record for VariationData {
    const FIELDS: &'static [&'static str] = &["id", "key", "featureEnabled", "variables"];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn empty() -> Self {
        VariationData {
            id: Str::EMPTY,
            key: Str::EMPTY,
            variables: Span::default(),
            feature_enabled: false,
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            1 => self.key = id(r, map)?,
            2 => self.feature_enabled = map.next_value::<Option<bool>>()?.unwrap_or(false),
            _ => self.variables = records::<UsageData, _>(r, map)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.variations
    }

    fn store(self, parts: &mut Parts<'_>) {
        parts
            .variation_refs
            .push(VariationIndex(parts.variations.len() as u32));
        parts.variations.push(self);
    }
}

impl Record for UsageData {
    const FIELDS: &'static [&'static str] = &["id", "value"];
    const REQUIRED: &'static [usize] = &[0];

    fn empty() -> Self {
        UsageData {
            variable_id: Str::EMPTY,
            value: OptStr::NONE,
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.variable_id = id(r, map)?,
            _ => self.value = map.next_value_seed(StringValue(r.interner()))?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.usages
    }
}

/// Reads a `trafficAllocation` list; returns its span in the range list.
fn traffic_allocation<'de, A: MapAccess<'de>>(
    r: &mut Reader<'_>,
    map: &mut A,
) -> Result<Span, A::Error> {
    records::<RangeData, _>(r, map)
}

impl Record for RangeData {
    const FIELDS: &'static [&'static str] = &["entityId", "endOfRange"];
    const REQUIRED: &'static [usize] = &[1];

    fn empty() -> Self {
        RangeData {
            end_of_range: 0,
            entity_id: Str::EMPTY,
            target: NONE,
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.entity_id = opt_id(r, map)?.get().unwrap_or_default(),
            _ => self.end_of_range = map.next_value::<EndOfRange>()?.0,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.ranges
    }
}

/// Reads `forcedVariations` (user id → variation key); returns its span in the whitelist.
fn forced_variations<'de, A: MapAccess<'de>>(
    r: &mut Reader<'_>,
    map: &mut A,
) -> Result<Span, A::Error> {
    let start = r.parts.forced.len();
    map.next_value_seed(Nullable(Whitelist(r)))?;
    Ok(Span::from(start, r.parts.forced.len()))
}

struct Whitelist<'r, 't>(&'r mut Reader<'t>);

seed_visits_itself!(Whitelist<'_, '_>, (), deserialize_map);

impl<'de> Visitor<'de> for Whitelist<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of user ids to variation keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Reader { parts, failure, .. } = self.0;
        while let Some(user_id) = map.next_key_seed(Text(&mut parts.interner))? {
            let read = map.next_value_seed(Id(&mut parts.interner));
            let user = || Step::Key(parts.interner.strings().get(user_id).to_owned());
            let variation_key = failure.note(read, user)?;
            parts.forced.push(ForcedData {
                user_id,
                variation_key,
                variation: NONE,
            });
        }
        Ok(())
    }
}

// ----- groups, rollouts, holdouts -----

impl Record for GroupData {
    const FIELDS: &'static [&'static str] = &["id", "policy", "trafficAllocation", "experiments"];
    const REQUIRED: &'static [usize] = &[0];

    fn empty() -> Self {
        GroupData {
            id: Str::EMPTY,
            policy: Str::EMPTY,
            traffic_allocation: Span::default(),
            experiments: Span::default(),
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            1 => self.policy = opt_text(r, map)?.get().unwrap_or_default(),
            2 => self.traffic_allocation = traffic_allocation(r, map)?,
            _ => self.experiments = member_experiments(r, map, GROUP_MEMBERS)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.groups
    }
}

impl Record for RolloutData {
    const FIELDS: &'static [&'static str] = &["id", "experiments"];
    const REQUIRED: &'static [usize] = &[0];

    fn empty() -> Self {
        RolloutData {
            id: Str::EMPTY,
            rules: Span::default(),
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            _ => self.rules = member_experiments(r, map, ROLLOUT_RULES)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.rollouts
    }
}

/// Reads a group's members or a rollout's rules into `list`; returns their span there.
fn member_experiments<'de, A: MapAccess<'de>>(
    r: &mut Reader<'_>,
    map: &mut A,
    list: usize,
) -> Result<Span, A::Error> {
    let start = r.parts.experiments[list].len();
    map.next_value_seed(List(Experiments::new(r, list)))?;
    Ok(Span::from(start, r.parts.experiments[list].len()))
}

struct Holdouts<'r, 't> {
    r: &'r mut Reader<'t>,
    local: bool,
}

impl<'de> Elements<'de> for Holdouts<'_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let reader = HoldoutReader::new(self.r, self.local);
        let holdout = Object(reader).deserialize(deserializer)?;
        self.r.parts.holdouts[usize::from(self.local)].push(holdout);
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

struct HoldoutReader<'r, 't> {
    r: &'r mut Reader<'t>,
    data: HoldoutData,
    conditions: Option<ConditionsOutcome>,
}

impl<'r, 't> HoldoutReader<'r, 't> {
    fn new(r: &'r mut Reader<'t>, is_local: bool) -> Self {
        r.audience_ids.clear();
        HoldoutReader {
            r,
            conditions: None,
            data: HoldoutData {
                id: Str::EMPTY,
                key: Str::EMPTY,
                status: Str::EMPTY,
                variations: Span::default(),
                traffic_allocation: Span::default(),
                audiences: AudiencesData {
                    root: NONE,
                    json: Str::EMPTY,
                },
                included_rules: Span::default(),
                is_running: false,
                is_local,
            },
        }
    }
}

impl<'de> ObjectReader<'de> for HoldoutReader<'_, '_> {
    type Value = ReadHoldout;
    const FIELDS: &'static [&'static str] = &[
        "id",
        "key",
        "status",
        "variations",
        "trafficAllocation",
        "audienceIds",
        "audienceConditions",
        "includedRules",
    ];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let (r, data) = (&mut *self.r, &mut self.data);
        match field {
            0 => data.id = id(r, map)?,
            1 => data.key = id(r, map)?,
            2 => data.status = opt_text(r, map)?.get().unwrap_or_default(),
            3 => data.variations = variations(r, map)?,
            4 => data.traffic_allocation = traffic_allocation(r, map)?,
            5 => audience_ids(r, map)?,
            6 => self.conditions = audience_conditions(r, map)?,
            _ => data.included_rules = id_list(r, map)?,
        }
        Ok(())
    }

    fn finish<E: de::Error>(mut self) -> Result<ReadHoldout, E> {
        let (audiences, too_deep) = self.r.audiences(self.conditions);
        self.data.audiences = audiences;
        let status = self.r.parts.interner.strings().get(self.data.status);
        self.data.is_running = status == RUNNING;
        if !self.data.is_local {
            self.data.included_rules = Span::default();
        }
        Ok(ReadHoldout {
            data: self.data,
            too_deep,
        })
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

// ----- flags -----

impl Record for FlagData {
    const FIELDS: &'static [&'static str] =
        &["id", "key", "rolloutId", "experimentIds", "variables"];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn empty() -> Self {
        FlagData {
            id: Str::EMPTY,
            key: Str::EMPTY,
            rollout_id: Str::EMPTY,
            rollout: NONE,
            experiment_rules: Span::default(),
            variables: Span::default(),
            variations: Span::default(),
            variable_sets: Default::default(),
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            1 => self.key = id(r, map)?,
            2 => self.rollout_id = opt_id(r, map)?.get().unwrap_or_default(),
            3 => {
                let ids = id_list(r, map)?;
                let parts = &mut r.parts;
                let start = parts.rule_refs.len();
                let refs = ids.of(&parts.strs).iter().map(|&id| RuleRefData {
                    id,
                    experiment: NONE,
                });
                parts.rule_refs.extend(refs);
                parts.strs.truncate(ids.start as usize);
                self.experiment_rules = Span::from(start, parts.rule_refs.len());
            }
            _ => self.variables = records::<VariableData, _>(r, map)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.flags
    }
}

impl Record for VariableData {
    const FIELDS: &'static [&'static str] = &["id", "key", "type", "subType", "defaultValue"];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn empty() -> Self {
        VariableData {
            id: Str::EMPTY,
            key: Str::EMPTY,
            variable_type: OptStr::NONE,
            sub_type: OptStr::NONE,
            default_value: OptStr::NONE,
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            1 => self.key = id(r, map)?,
            2 => self.variable_type = opt_text(r, map)?,
            3 => self.sub_type = opt_text(r, map)?,
            _ => self.default_value = map.next_value_seed(StringValue(r.interner()))?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.variables
    }
}

// ----- audiences -----

struct TypedAudiences<'r, 't>(&'r mut Reader<'t>);

impl<'de> Elements<'de> for TypedAudiences<'_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let segments = self.0.parts.segments.len();
        let reader = TypedAudienceReader {
            r: self.0,
            id: Str::EMPTY,
            name: Str::EMPTY,
            conditions: None,
        };
        let (audience, too_deep) = Object(reader).deserialize(deserializer)?;
        let parts = &mut self.0.parts;
        if too_deep && parts.too_deep_typed_audience.is_none() {
            parts.too_deep_typed_audience = Some(parts.typed_audiences.len());
        }
        parts.typed_audiences.push(ReadAudience {
            data: audience,
            segments: Span::from(segments, parts.segments.len()),
        });
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.0.failure
    }
}

struct TypedAudienceReader<'r, 't> {
    r: &'r mut Reader<'t>,
    id: Str,
    name: Str,
    conditions: Option<ConditionsOutcome>,
}

impl<'de> ObjectReader<'de> for TypedAudienceReader<'_, '_> {
    type Value = (AudienceData, bool);
    const FIELDS: &'static [&'static str] = &["id", "name", "conditions"];
    const REQUIRED: &'static [usize] = &[0];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let r = &mut *self.r;
        match field {
            0 => self.id = id(r, map)?,
            1 => self.name = opt_text(r, map)?.get().unwrap_or_default(),
            _ => {
                self.conditions = Some(map.next_value_seed(Conditions {
                    sink: r.condition_sink(),
                    target: Target::Audience,
                })?);
            }
        }
        Ok(())
    }

    fn finish<E: de::Error>(self) -> Result<(AudienceData, bool), E> {
        let outcome = match self.conditions {
            Some(outcome) => outcome,
            None => self.r.condition_sink().null_leaf(),
        };
        let audience = AudienceData {
            id: self.id,
            name: self.name,
            root: outcome.root,
            conditions_json: outcome.json,
            is_typed: true,
            blank_user_result: None,
        };
        Ok((audience, outcome.too_deep))
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

struct LegacyAudiences<'r, 't>(&'r mut Reader<'t>);

impl<'de> Elements<'de> for LegacyAudiences<'_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let reader = LegacyAudienceReader {
            r: self.0,
            audience: LegacyAudience {
                id: Str::EMPTY,
                name: OptStr::NONE,
                conditions: LegacyConditions::Null,
            },
        };
        let audience = Object(reader).deserialize(deserializer)?;
        self.0.parts.legacy_audiences.push(audience);
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.0.failure
    }
}

struct LegacyAudienceReader<'r, 't> {
    r: &'r mut Reader<'t>,
    audience: LegacyAudience,
}

impl<'de> ObjectReader<'de> for LegacyAudienceReader<'_, '_> {
    type Value = LegacyAudience;
    const FIELDS: &'static [&'static str] = &["id", "name", "conditions"];
    const REQUIRED: &'static [usize] = &[0];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let r = &mut *self.r;
        match field {
            0 => self.audience.id = id(r, map)?,
            1 => self.audience.name = opt_text(r, map)?,
            _ => {
                let conditions = map.next_value_seed(LegacySeed {
                    interner: &r.parts.interner,
                    side_text: &mut r.parts.side_text,
                })?;
                self.audience.conditions = conditions;
            }
        }
        Ok(())
    }

    fn finish<E: de::Error>(self) -> Result<LegacyAudience, E> {
        Ok(self.audience)
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}

/// A legacy audience's `conditions`: usually a string holding JSON.
struct LegacySeed<'a, 't> {
    interner: &'a Interner<'t>,
    side_text: &'a mut String,
}

seed_visits_itself!(LegacySeed<'_, '_>, LegacyConditions, deserialize_any);

impl LegacySeed<'_, '_> {
    fn json<E>(value: Result<Value, E>) -> Result<LegacyConditions, E> {
        value.map(|value| match value {
            Value::Null => LegacyConditions::Null,
            other => LegacyConditions::Json(other),
        })
    }
}

impl<'de> Visitor<'de> for LegacySeed<'_, '_> {
    type Value = LegacyConditions;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("audience conditions")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<LegacyConditions, E> {
        let (in_side_text, start) = match self.interner.offset_in_text(v) {
            Some(start) => (false, start),
            None => {
                let start = self.side_text.len();
                self.side_text.push_str(v);
                (true, start)
            }
        };
        Ok(LegacyConditions::Text {
            in_side_text,
            start: start as u32,
            len: v.len() as u32,
        })
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<LegacyConditions, E> {
        Ok(LegacyConditions::Json(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<LegacyConditions, E> {
        Ok(LegacyConditions::Json(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<LegacyConditions, E> {
        Ok(LegacyConditions::Json(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<LegacyConditions, E> {
        Ok(LegacyConditions::Json(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<LegacyConditions, E> {
        Ok(LegacyConditions::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LegacyConditions, A::Error> {
        use serde::Deserialize;
        Self::json(Value::deserialize(de::value::SeqAccessDeserializer::new(
            seq,
        )))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LegacyConditions, A::Error> {
        use serde::Deserialize;
        Self::json(Value::deserialize(de::value::MapAccessDeserializer::new(
            map,
        )))
    }
}

// ----- attributes, events, integrations -----

impl Record for AttributeData {
    const FIELDS: &'static [&'static str] = &["id", "key"];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn empty() -> Self {
        AttributeData {
            id: Str::EMPTY,
            key: Str::EMPTY,
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            _ => self.key = id(r, map)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.attributes
    }
}

impl Record for EventData {
    const FIELDS: &'static [&'static str] = &["id", "key", "experimentIds"];
    const REQUIRED: &'static [usize] = &[0, 1];

    fn empty() -> Self {
        EventData {
            id: Str::EMPTY,
            key: Str::EMPTY,
            experiment_ids: Span::default(),
        }
    }

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        r: &mut Reader<'_>,
        field: usize,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match field {
            0 => self.id = id(r, map)?,
            1 => self.key = id(r, map)?,
            _ => self.experiment_ids = id_list(r, map)?,
        }
        Ok(())
    }

    fn arena<'p>(parts: &'p mut Parts<'_>) -> &'p mut Vec<Self> {
        &mut parts.events
    }
}

struct Integrations<'r, 't>(&'r mut Reader<'t>);

impl<'de> Elements<'de> for Integrations<'_, '_> {
    fn element<D: Deserializer<'de>>(&mut self, deserializer: D) -> Result<(), D::Error> {
        let reader = IntegrationReader {
            r: self.0,
            key: OptStr::NONE,
            odp: ReadOdp {
                host: OptStr::NONE,
                public_key: OptStr::NONE,
                pixel_url: OptStr::NONE,
            },
        };
        let (key, odp) = Object(reader).deserialize(deserializer)?;
        let r = &mut *self.0;
        match key.get() {
            None => r.integration_without_key = true,
            Some(key) => {
                let is_odp = r.parts.interner.strings().get(key) == "odp";
                if is_odp && r.parts.odp.is_none() {
                    r.parts.odp = Some(odp);
                }
            }
        }
        Ok(())
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.0.failure
    }
}

struct IntegrationReader<'r, 't> {
    r: &'r mut Reader<'t>,
    key: OptStr,
    odp: ReadOdp,
}

impl<'de> ObjectReader<'de> for IntegrationReader<'_, '_> {
    type Value = (OptStr, ReadOdp);
    const FIELDS: &'static [&'static str] = &["key", "host", "publicKey", "pixelUrl"];

    fn field<A: MapAccess<'de>>(&mut self, field: usize, map: &mut A) -> Result<(), A::Error> {
        let value = opt_text(self.r, map)?;
        match field {
            0 => self.key = value,
            1 => self.odp.host = value,
            2 => self.odp.public_key = value,
            _ => self.odp.pixel_url = value,
        }
        Ok(())
    }

    fn finish<E: de::Error>(self) -> Result<(OptStr, ReadOdp), E> {
        Ok((self.key, self.odp))
    }

    fn failure(&mut self) -> &mut FailurePath {
        &mut self.r.failure
    }
}
