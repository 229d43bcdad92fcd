//! ODP events: what a caller builds ([`OdpEvent`]), the checks it must pass, and the enriched
//! form that goes on the wire ([`WireOdpEvent`]).

use std::fmt;
use std::num::NonZeroU32;

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use smallvec::SmallVec;

/// Event type used when the caller gives none (or an empty one).
pub const DEFAULT_EVENT_TYPE: &str = "fullstack";
/// The identifier key every `fs_user_id` / `fs-user-id` spelling is normalised to.
pub const FS_USER_ID: &str = "fs_user_id";
/// Default `data_source_type` added to every event.
pub const DATA_SOURCE_TYPE: &str = "sdk";
/// Default `data_source` added to every event.
pub const DATA_SOURCE: &str = "rust-sdk";

/// Largest magnitude a number may have to be sent to ODP (2^53, as the official SDKs check).
const MAX_SAFE_NUMBER: f64 = 9_007_199_254_740_992.0;

/// A value in an ODP event's `data`: string, integer, float, bool or null.
///
/// `From` impls make building data natural:
///
/// ```
/// use optimizely_fx_core::odp::OdpValue;
/// assert_eq!(OdpValue::from("v"), OdpValue::String("v".into()));
/// assert_eq!(OdpValue::from(3), OdpValue::Integer(3));
/// assert_eq!(OdpValue::from(None::<String>), OdpValue::Null);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum OdpValue {
    /// A string.
    String(String),
    /// An integer. Valid when its magnitude is at most 2^53.
    Integer(i64),
    /// A float. Valid when finite with a magnitude of at most 2^53.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// JSON `null`.
    Null,
}

impl OdpValue {
    /// The ODP value of a JSON scalar: strings, numbers (integers stay integers), booleans and
    /// null; `None` for arrays and objects, which ODP data cannot hold.
    ///
    /// ```
    /// use optimizely_fx_core::odp::OdpValue;
    /// assert_eq!(OdpValue::from_json(&serde_json::json!(2)), Some(OdpValue::Integer(2)));
    /// assert_eq!(OdpValue::from_json(&serde_json::json!(2.5)), Some(OdpValue::Float(2.5)));
    /// assert_eq!(OdpValue::from_json(&serde_json::json!([1])), None);
    /// ```
    pub fn from_json(value: &serde_json::Value) -> Option<OdpValue> {
        use serde_json::Value;
        match value {
            Value::String(s) => Some(OdpValue::String(s.clone())),
            Value::Bool(b) => Some(OdpValue::Bool(*b)),
            Value::Null => Some(OdpValue::Null),
            Value::Number(n) => n
                .as_i64()
                .map(OdpValue::Integer)
                .or_else(|| n.as_f64().map(OdpValue::Float)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// Why this value cannot be sent to ODP, or `None` when it can.
    fn invalid_reason(&self) -> Option<&'static str> {
        match *self {
            OdpValue::Integer(i) if i.unsigned_abs() > MAX_SAFE_NUMBER as u64 => {
                Some("integer magnitude exceeds 2^53")
            }
            OdpValue::Float(f) if !f.is_finite() => Some("number is not finite"),
            OdpValue::Float(f) if f.abs() > MAX_SAFE_NUMBER => {
                Some("number magnitude exceeds 2^53")
            }
            _ => None,
        }
    }
}

impl Serialize for OdpValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OdpValue::String(s) => serializer.serialize_str(s),
            OdpValue::Integer(i) => serializer.serialize_i64(*i),
            OdpValue::Float(f) => serializer.serialize_f64(*f),
            OdpValue::Bool(b) => serializer.serialize_bool(*b),
            OdpValue::Null => serializer.serialize_unit(),
        }
    }
}

impl From<&str> for OdpValue {
    fn from(v: &str) -> Self {
        OdpValue::String(v.to_owned())
    }
}

impl From<String> for OdpValue {
    fn from(v: String) -> Self {
        OdpValue::String(v)
    }
}

impl From<&String> for OdpValue {
    fn from(v: &String) -> Self {
        OdpValue::String(v.clone())
    }
}

impl From<bool> for OdpValue {
    fn from(v: bool) -> Self {
        OdpValue::Bool(v)
    }
}

impl From<f64> for OdpValue {
    fn from(v: f64) -> Self {
        OdpValue::Float(v)
    }
}

impl From<f32> for OdpValue {
    fn from(v: f32) -> Self {
        OdpValue::Float(f64::from(v))
    }
}

impl From<u64> for OdpValue {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(OdpValue::Float(v as f64), OdpValue::Integer)
    }
}

impl From<usize> for OdpValue {
    fn from(v: usize) -> Self {
        OdpValue::from(v as u64)
    }
}

macro_rules! odp_value_from_small_int {
    ($($t:ty),*) => {$(
        impl From<$t> for OdpValue {
            fn from(v: $t) -> Self {
                OdpValue::Integer(i64::from(v))
            }
        }
    )*};
}
odp_value_from_small_int!(i8, i16, i32, i64, u8, u16, u32);

impl<T: Into<OdpValue>> From<Option<T>> for OdpValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(OdpValue::Null, Into::into)
    }
}

impl From<()> for OdpValue {
    fn from(_: ()) -> Self {
        OdpValue::Null
    }
}

/// An ODP event as the caller describes it: action, optional type, identifiers and data.
///
/// This is the input of `send_odp_event`; it is checked and enriched into a [`WireOdpEvent`]
/// by [`OdpEvent::into_wire`]. Later entries with the same identifier or data key replace
/// earlier ones.
///
/// ```
/// use optimizely_fx_core::odp::OdpEvent;
/// let event = OdpEvent::new("purchased")
///     .identifier("fs_user_id", "user123")
///     .identifier("email", "a@b.c")
///     .data("count", 1)
///     .data("coupon", None::<String>);
/// assert_eq!(event.action(), "purchased");
/// ```
///
/// An event is one allocation, made once and freed once: its text (up to 104 bytes) and up to
/// four identifiers and data entries live inline in it. The event itself is a pointer, so
/// building it and queueing it move 8 bytes at a time.
#[derive(Clone, PartialEq, Default)]
pub struct OdpEvent {
    parts: Box<Parts>,
}

#[derive(Clone, PartialEq, Default)]
struct Parts {
    text: Text,
    action: Span,
    /// Empty for the default type.
    event_type: Span,
    /// Set when the text outgrew what a [`Span`] can address; the event is then refused.
    oversized: bool,
    has_identifier: bool,
    /// Index in `fields` of the first data entry whose value cannot be sent. Tracked while
    /// the event is built so that checking it before sending costs a few comparisons.
    /// Stored plus one.
    first_invalid: Option<NonZeroU32>,
    fields: SmallVec<[Field; 4]>,
}

/// A range of an event's text. 32-bit offsets keep the event small, and so cheap to move
/// through the queue; text beyond 4 GiB marks the event oversized instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    /// The span of `len` bytes appended to a text of `text_len` bytes, if it is addressable.
    fn after(text_len: usize, len: usize) -> Option<Span> {
        let end = u32::try_from(text_len.checked_add(len)?).ok()?;
        Some(Span {
            start: end - len as u32,
            len: len as u32,
        })
    }
}

/// A data value whose string, if any, lives in the event's text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    Str(Span),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Identifier { key: Span, value: Span },
    Data { key: Span, value: Scalar },
}

impl OdpEvent {
    /// A new event with the given action, type `fullstack`, no identifiers and no data.
    pub fn new(action: impl AsRef<str>) -> Self {
        let action = action.as_ref();
        let mut event = OdpEvent::default();
        event.parts.action = event.push_text(action);
        event
    }

    /// Sets the event type (an empty type means the default, `fullstack`).
    pub fn event_type(mut self, event_type: impl AsRef<str>) -> Self {
        self.parts.event_type = self.push_text(event_type.as_ref());
        self
    }

    /// Adds an identifier, e.g. `("email", "a@b.c")` or `("fs_user_id", "user123")`.
    pub fn identifier(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.push_identifier(key.as_ref(), value.as_ref());
        self
    }

    /// Adds identifiers from any iterator of key/value pairs.
    pub fn identifiers<K, V>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in pairs {
            self.push_identifier(key.as_ref(), value.as_ref());
        }
        self
    }

    /// Adds a data entry; the value may be a string, number, bool, `None` or `()` (null).
    pub fn data(mut self, key: impl AsRef<str>, value: impl Into<OdpValue>) -> Self {
        self.push_data(key.as_ref(), value.into());
        self
    }

    /// Adds data entries from any iterator of key/value pairs.
    pub fn data_entries<K, V>(mut self, pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: Into<OdpValue>,
    {
        for (key, value) in pairs {
            self.push_data(key.as_ref(), value.into());
        }
        self
    }

    /// The action, as given.
    pub fn action(&self) -> &str {
        self.str(self.parts.action)
    }

    /// Checks the event and turns it into what is sent: type defaulted, `fs_user_id` spellings
    /// normalised, default data added (user data overrides it).
    ///
    /// Checks, in order: the action is not empty; at least one identifier; every data value is
    /// a string, a finite number with a magnitude of at most 2^53, a bool or null.
    /// `idempotence_id` should be the bits of a fresh UUID v4 and `sdk_version` the SDK's
    /// version. Nothing is allocated here: the enrichment is applied when the event is
    /// serialised, which the SDK does on its background thread.
    #[inline]
    pub fn into_wire(
        self,
        idempotence_id: u128,
        sdk_version: &'static str,
    ) -> Result<WireOdpEvent, OdpEventError> {
        self.check()?;
        Ok(WireOdpEvent {
            event: self,
            idempotence_id: idempotence_id.to_be_bytes(),
            sdk_version,
        })
    }

    fn check(&self) -> Result<(), OdpEventError> {
        if self.parts.oversized {
            return Err(OdpEventError::TooLarge);
        }
        if self.parts.action.len == 0 {
            return Err(OdpEventError::InvalidAction);
        }
        if !self.parts.has_identifier {
            return Err(OdpEventError::MissingIdentifiers);
        }
        match self.parts.first_invalid {
            None => Ok(()),
            Some(index) => Err(self.invalid_data_error(index.get() as usize - 1)),
        }
    }

    #[cold]
    fn invalid_data_error(&self, index: usize) -> OdpEventError {
        match self.parts.fields.get(index) {
            Some(&Field::Data { key, value }) => OdpEventError::InvalidData {
                key: self.str(key).to_owned(),
                reason: value.invalid_reason().unwrap_or("value cannot be sent"),
            },
            _ => OdpEventError::InvalidData {
                key: String::new(),
                reason: "value cannot be sent",
            },
        }
    }

    fn push_text(&mut self, text: &str) -> Span {
        let Some(span) = Span::after(self.parts.text.len(), text.len()) else {
            self.parts.oversized = true;
            return Span::default();
        };
        self.parts.text.push_str(text);
        span
    }

    fn push_identifier(&mut self, key: &str, value: &str) {
        let key = self.push_text(key);
        let value = self.push_text(value);
        self.parts.fields.push(Field::Identifier { key, value });
        self.parts.has_identifier = true;
    }

    fn push_data(&mut self, key: &str, value: OdpValue) {
        let key = self.push_text(key);
        let value = match value {
            OdpValue::String(s) => Scalar::Str(self.push_text(&s)),
            OdpValue::Integer(i) => Scalar::Integer(i),
            OdpValue::Float(f) => Scalar::Float(f),
            OdpValue::Bool(b) => Scalar::Bool(b),
            OdpValue::Null => Scalar::Null,
        };
        if self.parts.first_invalid.is_none() && value.invalid_reason().is_some() {
            self.parts.first_invalid = u32::try_from(self.parts.fields.len() + 1)
                .ok()
                .and_then(NonZeroU32::new);
            self.parts.oversized |= self.parts.first_invalid.is_none();
        }
        self.parts.fields.push(Field::Data { key, value });
    }

    fn str(&self, span: Span) -> &str {
        let start = span.start as usize;
        self.parts
            .text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
    }

    fn identifier_fields(&self) -> impl Iterator<Item = (Span, Span)> + '_ {
        self.parts.fields.iter().filter_map(|field| match *field {
            Field::Identifier { key, value } => Some((key, value)),
            Field::Data { .. } => None,
        })
    }

    fn data_fields(&self) -> impl Iterator<Item = (Span, Scalar)> + '_ {
        self.parts.fields.iter().filter_map(|field| match *field {
            Field::Data { key, value } => Some((key, value)),
            Field::Identifier { .. } => None,
        })
    }

    fn value_ref(&self, value: Scalar) -> ValueRef<'_> {
        match value {
            Scalar::Str(span) => ValueRef::Str(self.str(span)),
            Scalar::Integer(i) => ValueRef::Integer(i),
            Scalar::Float(f) => ValueRef::Float(f),
            Scalar::Bool(b) => ValueRef::Bool(b),
            Scalar::Null => ValueRef::Null,
        }
    }
}

/// Bytes of text stored inline in an event: room for an action and a few short entries.
const INLINE_TEXT: usize = 104;

/// An event's text: inline while it fits, then in a `String`. Only whole `&str`s are ever
/// appended, so the bytes are UTF-8 and every [`Span`] is on char boundaries.
#[derive(Clone)]
enum Text {
    Inline { bytes: [u8; INLINE_TEXT], len: u8 },
    Heap(String),
}

impl Default for Text {
    fn default() -> Self {
        Text::Inline {
            bytes: [0; INLINE_TEXT],
            len: 0,
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.get(0..self.len()) == other.get(0..other.len())
    }
}

impl Text {
    fn len(&self) -> usize {
        match self {
            Text::Inline { len, .. } => usize::from(*len),
            Text::Heap(text) => text.len(),
        }
    }

    fn push_str(&mut self, text: &str) {
        match self {
            Text::Inline { bytes, len } => {
                let (start, end) = (usize::from(*len), usize::from(*len) + text.len());
                match (bytes.get_mut(start..end), u8::try_from(end)) {
                    (Some(room), Ok(end)) => {
                        room.copy_from_slice(text.as_bytes());
                        *len = end;
                    }
                    _ => self.spill(text),
                }
            }
            Text::Heap(heap) => heap.push_str(text),
        }
    }

    #[cold]
    fn spill(&mut self, text: &str) {
        let kept = self.get(0..self.len()).unwrap_or_default();
        let mut heap = String::with_capacity((kept.len() + text.len()).max(2 * INLINE_TEXT));
        heap.push_str(kept);
        heap.push_str(text);
        *self = Text::Heap(heap);
    }

    fn get(&self, range: std::ops::Range<usize>) -> Option<&str> {
        match self {
            Text::Inline { bytes, len } => {
                let bytes = bytes.get(..usize::from(*len))?.get(range)?;
                std::str::from_utf8(bytes).ok()
            }
            Text::Heap(text) => text.get(range),
        }
    }
}

impl fmt::Debug for OdpEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let identifiers: Vec<(&str, &str)> = self
            .identifier_fields()
            .map(|(k, v)| (self.str(k), self.str(v)))
            .collect();
        let data: Vec<(&str, ValueRef<'_>)> = self
            .data_fields()
            .map(|(k, v)| (self.str(k), self.value_ref(v)))
            .collect();
        f.debug_struct("OdpEvent")
            .field("action", &self.action())
            .field(
                "event_type",
                &Some(self.str(self.parts.event_type)).filter(|t| !t.is_empty()),
            )
            .field("identifiers", &identifiers)
            .field("data", &data)
            .finish()
    }
}

impl Scalar {
    /// Why this value cannot be sent to ODP, or `None` when it can.
    fn invalid_reason(&self) -> Option<&'static str> {
        match *self {
            Scalar::Integer(i) => OdpValue::Integer(i).invalid_reason(),
            Scalar::Float(f) => OdpValue::Float(f).invalid_reason(),
            Scalar::Str(_) | Scalar::Bool(_) | Scalar::Null => None,
        }
    }
}

/// Why an [`OdpEvent`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OdpEventError {
    /// The action is empty.
    #[error("ODP action is not valid (cannot be empty).")]
    InvalidAction,
    /// No identifiers were given.
    #[error("ODP events must have at least one key-value pair in identifiers.")]
    MissingIdentifiers,
    /// A data value cannot be sent.
    #[error("ODP data is not valid. (key \"{key}\": {reason})")]
    InvalidData {
        /// The data key whose value was refused.
        key: String,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// The event's text (action, type, keys and string values together) exceeds 4 GiB.
    #[error("ODP event is too large (more than 4 GiB of text).")]
    TooLarge,
}

/// A checked ODP event with its idempotence id, serialised as
/// `{"type","action","identifiers","data"}` — one element of the JSON array POSTed to
/// `{host}/v3/events`. The type default, identifier normalisation and default data are applied
/// when it is serialised (or read through its accessors).
#[derive(Debug, Clone, PartialEq)]
pub struct WireOdpEvent {
    event: OdpEvent,
    /// Big-endian bytes: a `u128` field would raise the alignment, and so the size, of every
    /// queued event.
    idempotence_id: [u8; 16],
    sdk_version: &'static str,
}

impl WireOdpEvent {
    /// The event type (`fullstack` unless set).
    pub fn event_type(&self) -> &str {
        match self.event.str(self.event.parts.event_type) {
            "" => DEFAULT_EVENT_TYPE,
            t => t,
        }
    }

    /// The action.
    pub fn action(&self) -> &str {
        self.event.action()
    }

    /// Identifiers after normalisation, in first-seen order.
    pub fn identifiers(&self) -> Vec<(String, String)> {
        self.identifier_refs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// Data: the default entries first, then the caller's (a caller key replaces a default one
    /// in place).
    pub fn data(&self) -> Vec<(String, OdpValue)> {
        let id = UuidText::new(u128::from_be_bytes(self.idempotence_id));
        self.data_refs(id.as_str())
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The value of one data key.
    pub fn data_value(&self, key: &str) -> Option<OdpValue> {
        self.data()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    fn identifier_refs(&self) -> SmallVec<[(&str, &str); 4]> {
        let mut out = SmallVec::new();
        for (key, value) in self.event.identifier_fields() {
            let key = self.event.str(key);
            let key = if is_fs_user_id_alias(key) {
                FS_USER_ID
            } else {
                key
            };
            upsert(&mut out, key, self.event.str(value));
        }
        out
    }

    fn data_refs<'a>(&'a self, idempotence_id: &'a str) -> SmallVec<[(&'a str, ValueRef<'a>); 8]> {
        let mut data: SmallVec<[(&str, ValueRef<'_>); 8]> = SmallVec::new();
        data.push(("idempotence_id", ValueRef::Str(idempotence_id)));
        data.push(("data_source_type", ValueRef::Str(DATA_SOURCE_TYPE)));
        data.push(("data_source", ValueRef::Str(DATA_SOURCE)));
        data.push(("data_source_version", ValueRef::Str(self.sdk_version)));
        for (key, value) in self.event.data_fields() {
            upsert(&mut data, self.event.str(key), self.event.value_ref(value));
        }
        data
    }
}

/// A data value borrowed from the event or from the defaults.
#[derive(Debug, Clone, Copy)]
enum ValueRef<'a> {
    Str(&'a str),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl ValueRef<'_> {
    fn to_owned(self) -> OdpValue {
        match self {
            ValueRef::Str(s) => OdpValue::String(s.to_owned()),
            ValueRef::Integer(i) => OdpValue::Integer(i),
            ValueRef::Float(f) => OdpValue::Float(f),
            ValueRef::Bool(b) => OdpValue::Bool(b),
            ValueRef::Null => OdpValue::Null,
        }
    }
}

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            ValueRef::Str(s) => serializer.serialize_str(s),
            ValueRef::Integer(i) => serializer.serialize_i64(i),
            ValueRef::Float(f) => serializer.serialize_f64(f),
            ValueRef::Bool(b) => serializer.serialize_bool(b),
            ValueRef::Null => serializer.serialize_unit(),
        }
    }
}

impl Serialize for WireOdpEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let id = UuidText::new(u128::from_be_bytes(self.idempotence_id));
        let mut event = serializer.serialize_struct("OdpEvent", 4)?;
        event.serialize_field("type", self.event_type())?;
        event.serialize_field("action", self.action())?;
        event.serialize_field("identifiers", &PairsAsMap(&self.identifier_refs()))?;
        event.serialize_field("data", &PairsAsMap(&self.data_refs(id.as_str())))?;
        event.end()
    }
}

struct PairsAsMap<'a, K, V>(&'a [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for PairsAsMap<'_, K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The canonical text form of a UUID, 8-4-4-4-12 lower-case hex digits, built on the stack.
struct UuidText([u8; 36]);

impl UuidText {
    fn new(bits: u128) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut nibble = 0;
        for (index, byte) in text.iter_mut().enumerate() {
            if matches!(index, 8 | 13 | 18 | 23) {
                continue;
            }
            let shift = 124 - 4 * nibble;
            *byte = HEX[((bits >> shift) & 0xf) as usize];
            nibble += 1;
        }
        UuidText(text)
    }

    fn as_str(&self) -> &str {
        // Only ASCII hex digits and dashes are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

fn is_fs_user_id_alias(key: &str) -> bool {
    key.eq_ignore_ascii_case("fs_user_id") || key.eq_ignore_ascii_case("fs-user-id")
}

fn upsert<'a, V, A>(pairs: &mut SmallVec<A>, key: &'a str, value: V)
where
    A: smallvec::Array<Item = (&'a str, V)>,
{
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: u128 = 0x5f1f7d35_2b8a_4d39_9c53_4a8b7b0c1e2f;

    fn wire(event: OdpEvent) -> Result<WireOdpEvent, OdpEventError> {
        event.into_wire(UUID, "1.2.3")
    }

    #[test]
    fn serialises_exactly_the_wire_shape_with_default_data() {
        let event = wire(
            OdpEvent::new("purchased")
                .identifier("FS-User-ID", "u1")
                .identifier("email", "a@b.c")
                .data("count", 1)
                .data("price", 9.5)
                .data("gift", true)
                .data("coupon", None::<String>),
        )
        .unwrap();
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"type":"fullstack","action":"purchased","identifiers":{"fs_user_id":"u1","email":"a@b.c"},"data":{"idempotence_id":"5f1f7d35-2b8a-4d39-9c53-4a8b7b0c1e2f","data_source_type":"sdk","data_source":"rust-sdk","data_source_version":"1.2.3","count":1,"price":9.5,"gift":true,"coupon":null}}"#
        );
    }

    #[test]
    fn empty_type_becomes_fullstack_and_custom_type_is_kept() {
        assert_eq!(
            wire(OdpEvent::new("a").event_type("").identifier("k", "v"))
                .unwrap()
                .event_type(),
            "fullstack"
        );
        assert_eq!(
            wire(OdpEvent::new("a").event_type("custom").identifier("k", "v"))
                .unwrap()
                .event_type(),
            "custom"
        );
    }

    #[test]
    fn every_fs_user_id_spelling_is_normalised_last_value_wins() {
        for key in [
            "fs_user_id",
            "FS_USER_ID",
            "fs-user-id",
            "FS-USER-ID",
            "Fs_User_Id",
        ] {
            let event = wire(OdpEvent::new("a").identifier(key, "x")).unwrap();
            assert_eq!(event.identifiers(), [("fs_user_id".into(), "x".into())]);
        }
        let event = wire(
            OdpEvent::new("a")
                .identifier("fs-user-id", "first")
                .identifier("vuid", "v")
                .identifier("FS_USER_ID", "second"),
        )
        .unwrap();
        assert_eq!(
            event.identifiers(),
            [
                ("fs_user_id".into(), "second".into()),
                ("vuid".into(), "v".into())
            ]
        );
        let other = wire(OdpEvent::new("a").identifier("fs.user.id", "x")).unwrap();
        assert_eq!(other.identifiers()[0].0, "fs.user.id");
    }

    #[test]
    fn caller_data_overrides_defaults_in_place() {
        let event = wire(
            OdpEvent::new("a")
                .identifier("k", "v")
                .data("data_source", "my-app")
                .data("idempotence_id", "fixed"),
        )
        .unwrap();
        assert_eq!(event.data().len(), 4);
        assert_eq!(event.data()[0], ("idempotence_id".into(), "fixed".into()));
        assert_eq!(event.data_value("data_source"), Some("my-app".into()));
        assert_eq!(event.data_value("data_source_type"), Some("sdk".into()));
    }

    #[test]
    fn refusals_come_in_order() {
        assert_eq!(
            wire(OdpEvent::new("").data("x", f64::NAN)),
            Err(OdpEventError::InvalidAction)
        );
        assert_eq!(
            wire(OdpEvent::new("a").data("x", f64::NAN)),
            Err(OdpEventError::MissingIdentifiers)
        );
        let err = wire(OdpEvent::new("a").identifier("k", "v").data("x", f64::NAN)).unwrap_err();
        assert_eq!(
            err,
            OdpEventError::InvalidData {
                key: "x".into(),
                reason: "number is not finite"
            }
        );
        assert!(err.to_string().starts_with("ODP data is not valid."));
    }

    #[test]
    fn the_first_invalid_data_entry_is_reported() {
        let event = OdpEvent::new("a")
            .data("fine", 1)
            .data("first", f64::INFINITY)
            .identifier("k", "v")
            .data("second", OdpValue::Integer(i64::MAX));
        assert_eq!(
            wire(event),
            Err(OdpEventError::InvalidData {
                key: "first".into(),
                reason: "number is not finite"
            })
        );
    }

    #[test]
    fn text_beyond_4_gib_makes_the_event_too_large() {
        assert_eq!(Span::after(10, 5), Some(Span { start: 10, len: 5 }));
        let last = u32::MAX as usize;
        assert_eq!(
            Span::after(last - 5, 5),
            Some(Span {
                start: u32::MAX - 5,
                len: 5
            })
        );
        assert_eq!(Span::after(last - 5, 6), None);
        assert_eq!(Span::after(usize::MAX, 1), None);
        let mut event = OdpEvent::new("a").identifier("k", "v");
        event.parts.oversized = true;
        assert_eq!(wire(event), Err(OdpEventError::TooLarge));
    }

    #[test]
    fn a_queued_event_stays_small() {
        // Every queued event is moved into the queue and out again: a pointer and the id.
        assert!(std::mem::size_of::<WireOdpEvent>() <= 48);
        assert_eq!(std::mem::size_of::<OdpEvent>(), 8);
    }

    #[test]
    fn text_beyond_the_inline_room_is_kept_whole() {
        let long = "é".repeat(300);
        let event = wire(
            OdpEvent::new(&long)
                .identifier("email", &long)
                .data("note", long.as_str()),
        )
        .unwrap();
        assert_eq!(event.action(), long);
        assert_eq!(event.identifiers(), vec![("email".into(), long.clone())]);
        assert_eq!(event.data_value("note"), Some(long.as_str().into()));

        // Inline first, then moved to the heap part-way.
        let (x, y) = ("x".repeat(60), "ü".repeat(30));
        let event = wire(OdpEvent::new("a").identifier("k1", &x).identifier("k2", &y)).unwrap();
        assert_eq!(event.action(), "a");
        assert_eq!(
            event.identifiers(),
            vec![("k1".into(), x.clone()), ("k2".into(), y.clone())]
        );
    }

    #[test]
    fn number_bounds() {
        let ok = |v: OdpValue| wire(OdpEvent::new("a").identifier("k", "v").data("n", v)).is_ok();
        assert!(ok(OdpValue::Float(9_007_199_254_740_992.0)));
        assert!(ok(OdpValue::Float(-9_007_199_254_740_992.0)));
        assert!(!ok(OdpValue::Float(9_007_199_254_740_994.0)));
        assert!(!ok(OdpValue::Float(f64::INFINITY)));
        assert!(!ok(OdpValue::Float(f64::NEG_INFINITY)));
        assert!(ok(OdpValue::Integer(9_007_199_254_740_992)));
        assert!(!ok(OdpValue::Integer(9_007_199_254_740_993)));
        assert!(!ok(OdpValue::Integer(i64::MIN)));
        assert!(!ok(OdpValue::from(u64::MAX)));
    }
}
