//! Reading a `POST /v3/events` body into the events to store, without building a JSON tree.
//!
//! [`read_valid_batch`] accepts only bodies that are certainly valid: a JSON array of events,
//! each an object with exactly the known fields, each field once, non-empty `type` and
//! `action`, a non-empty `identifiers` object of strings (each kind once) and an optional
//! `data` object of scalars. Anything else (invalid or merely unusual) gives `None`, and the
//! caller validates the body the slow way, which also words the `400` answer. Strings with
//! escapes are among the unusual. The stored text of each event is its text as received.

use std::borrow::Cow;

use serde_json::Value;

/// One valid event, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReceivedEvent<'a> {
    pub(crate) event_type: Cow<'a, str>,
    pub(crate) action: Cow<'a, str>,
    /// `(kind, value)` pairs in the order received, each kind once.
    pub(crate) identifiers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The whole event as JSON text.
    pub(crate) event_json: Cow<'a, str>,
}

impl ReceivedEvent<'_> {
    /// An event checked by the slow validation, serialised again.
    pub(crate) fn from_value(event: &Value) -> ReceivedEvent<'static> {
        let text = |name: &str| {
            let text = event.get(name).and_then(Value::as_str).unwrap_or_default();
            Cow::Owned(text.to_owned())
        };
        let identifiers = event
            .get("identifiers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(kind, value)| {
                let value = value.as_str()?;
                Some((Cow::Owned(kind.clone()), Cow::Owned(value.to_owned())))
            })
            .collect();
        ReceivedEvent {
            event_type: text("type"),
            action: text("action"),
            identifiers,
            event_json: Cow::Owned(event.to_string()),
        }
    }

    /// A copy that borrows nothing.
    pub(crate) fn into_owned(self) -> ReceivedEvent<'static> {
        let owned = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        ReceivedEvent {
            event_type: owned(self.event_type),
            action: owned(self.action),
            identifiers: self
                .identifiers
                .into_iter()
                .map(|(kind, value)| (owned(kind), owned(value)))
                .collect(),
            event_json: owned(self.event_json),
        }
    }
}

/// The events of a body that is certainly valid, or `None` (see the module docs).
pub(crate) fn read_valid_batch(body: &[u8]) -> Option<Vec<ReceivedEvent<'_>>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut scanner = Scanner { text, at: 0 };
    let mut events = Vec::new();
    scanner.skip_whitespace();
    scanner.expect(b'[')?;
    scanner.skip_whitespace();
    if !scanner.eat(b']') {
        loop {
            events.push(scanner.event()?);
            scanner.skip_whitespace();
            if scanner.eat(b']') {
                break;
            }
            scanner.expect(b',')?;
            scanner.skip_whitespace();
        }
    }
    scanner.skip_whitespace();
    (scanner.at == text.len()).then_some(events)
}

/// An integer with at most this many characters is certainly within `f64` range.
const MAX_SURELY_FINITE_DIGITS: usize = 300;

/// The index of the first `"`, `\`, or control character in `bytes`, if any. Eight bytes at
/// a time: strings make up most of an event.
fn first_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of each byte that is below `limit` (for `limit` up to 128); any bit
    // set wrongly lies above the lowest correct one, so the lowest set bit is exact.
    let below =
        |word: u64, limit: u8| word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH_BITS;
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    for (index, chunk) in chunks.enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if found != 0 {
            return Some(index * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    let position = rest
        .iter()
        .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
    Some(bytes.len() - rest.len() + position)
}

/// A single forward pass over JSON text that accepts only the shapes described in the
/// module docs. Strings with escapes are not accepted (the slow path handles them).
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// `{"type": ..., "action": ..., "identifiers": {...}, "data": {...}}` in any order,
    /// each field once, `data` optional.
    fn event(&mut self) -> Option<ReceivedEvent<'a>> {
        let start = self.at;
        let (mut event_type, mut action, mut identifiers, mut data) = (None, None, None, false);
        self.object(|scanner, field| {
            match field {
                "type" if event_type.is_none() => event_type = Some(scanner.non_empty_string()?),
                "action" if action.is_none() => action = Some(scanner.non_empty_string()?),
                "identifiers" if identifiers.is_none() => {
                    identifiers = Some(scanner.identifiers()?);
                }
                "data" if !data => {
                    scanner.scalar_object()?;
                    data = true;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(ReceivedEvent {
            event_type: Cow::Borrowed(event_type?),
            action: Cow::Borrowed(action?),
            identifiers: identifiers?,
            event_json: Cow::Borrowed(&self.text[start..self.at]),
        })
    }

    /// A non-empty object of string values, each key once.
    fn identifiers(&mut self) -> Option<Vec<(Cow<'a, str>, Cow<'a, str>)>> {
        let mut pairs: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(2);
        self.object(|scanner, kind| {
            if pairs.iter().any(|(seen, _)| seen == kind) {
                return None;
            }
            let value = scanner.string()?;
            pairs.push((Cow::Borrowed(kind), Cow::Borrowed(value)));
            Some(())
        })?;
        (!pairs.is_empty()).then_some(pairs)
    }

    /// An object whose values are strings, numbers, booleans or null.
    fn scalar_object(&mut self) -> Option<()> {
        self.object(|scanner, _| scanner.scalar())
    }

    /// An object, calling `member` with the scanner at each value and the value's key.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            member(self, key)?;
            self.skip_whitespace();
            if self.eat(b'}') {
                return Some(());
            }
            self.expect(b',')?;
            self.skip_whitespace();
        }
    }

    fn non_empty_string(&mut self) -> Option<&'a str> {
        self.string().filter(|text| !text.is_empty())
    }

    /// A string without escapes or control characters; returns its contents.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let length = first_special(&self.text.as_bytes()[start..])?;
        self.at += length;
        self.expect(b'"')?;
        Some(&self.text[start..start + length])
    }

    fn scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let found = self.text[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found.then_some(())
    }

    /// A JSON number whose value is a finite `f64` (as serde_json requires).
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        self.eat(b'-');
        if !self.eat(b'0') {
            self.digits()?;
        }
        let integer = self.at - start;
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _sign = self.eat(b'+') || self.eat(b'-');
            self.digits()?;
        }
        if self.at - start == integer && integer <= MAX_SURELY_FINITE_DIGITS {
            return Some(());
        }
        let value: f64 = self.text[start..self.at].parse().ok()?;
        value.is_finite().then_some(())
    }

    /// One or more ASCII digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &str) -> Option<Vec<ReceivedEvent<'_>>> {
        read_valid_batch(body.as_bytes())
    }

    #[test]
    fn reads_a_valid_batch_borrowing_the_text_as_received() {
        let body = r#" [ {"type":"fullstack","action":"identified",
            "identifiers":{"fs_user_id":"u","email":""},
            "data":{"a":1,"b":null,"c":true,"d":"x","e":-2.5e3,"f":0,"g":1E+2,"a":false}},
            {"action":"é","identifiers":{"vuid":"v"},"type":"t"} ] "#;
        let read = events(body).expect("valid");
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].event_type, "fullstack");
        assert_eq!(read[0].action, "identified");
        assert_eq!(
            read[0].identifiers,
            [
                ("fs_user_id".into(), "u".into()),
                ("email".into(), "".into())
            ]
        );
        assert!(read[0].event_json.starts_with(r#"{"type":"fullstack""#));
        assert!(read[0].event_json.ends_with(
            r#""data":{"a":1,"b":null,"c":true,"d":"x","e":-2.5e3,"f":0,"g":1E+2,"a":false}}"#
        ));
        assert_eq!(read[1].action, "é");
        assert_eq!(
            read[1].event_json,
            r#"{"action":"é","identifiers":{"vuid":"v"},"type":"t"}"#
        );
        assert_eq!(events("[]"), Some(Vec::new()));
    }

    #[test]
    fn the_stored_text_reads_back_as_the_event() {
        let body = r#"[{"type":"t","action":"a","identifiers":{"k":"v"},"data":{"n":1.0}}]"#;
        let read = events(body).expect("valid");
        let original: Value = serde_json::from_str(body).unwrap();
        let stored: Value = serde_json::from_str(&read[0].event_json).unwrap();
        assert_eq!(stored, original[0]);
        let from_value = ReceivedEvent::from_value(&original[0]);
        assert_eq!(from_value.event_type, read[0].event_type);
        assert_eq!(from_value.identifiers, read[0].identifiers);
        let from_value: Value = serde_json::from_str(&from_value.event_json).unwrap();
        assert_eq!(from_value, stored);
    }

    #[test]
    fn finds_the_first_quote_backslash_or_control_character() {
        let naive = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        };
        let text = "abcdefgh ijklmnop é ü ~\x7f qrstuvwx";
        for special in ["\"", "\\", "\n", "\x00", "\x1f"] {
            for at in 0..=text.len() {
                let Some((before, after)) = text.split_at_checked(at) else {
                    continue;
                };
                let probe = format!("{before}{special}{after}{special}");
                assert_eq!(first_special(probe.as_bytes()), Some(at), "{probe:?}");
            }
        }
        assert_eq!(first_special(text.as_bytes()), naive(text.as_bytes()));
        assert_eq!(first_special(b""), None);
    }

    #[test]
    fn leaves_anything_unusual_to_the_slow_validation() {
        let event = |fields: &str| format!(r#"[{{"type":"t","action":"a",{fields}}}]"#);
        let refused = [
            "{}".to_owned(),
            "[".to_owned(),
            "[1]".to_owned(),
            r#"[{"type":"t","action":"a"}]"#.to_owned(),
            event(r#""identifiers":{}"#),
            event(r#""identifiers":[]"#),
            event(r#""identifiers":{"k":1}"#),
            event(r#""identifiers":{"k":"v","k":"w"}"#),
            event(r#""identifiers":{"k":"v"},"data":null"#),
            event(r#""identifiers":{"k":"v"},"data":[]"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":{}}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":[1]}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":1e999}"#),
            event(r#""identifiers":{"k":"v"},"extra":1"#),
            event(r#""identifiers":{"k":"v"},"type":"again""#),
            r#"[{"type":"","action":"a","identifiers":{"k":"v"}}]"#.to_owned(),
            r#"[{"type":"t","action":"","identifiers":{"k":"v"}}]"#.to_owned(),
            r#"[{"type":1,"action":"a","identifiers":{"k":"v"}}]"#.to_owned(),
            r#"[{"type":"t","action":"a","identifiers":{"k":"v"}}] x"#.to_owned(),
            r#"[{"type":"t","action":"a\u00e9","identifiers":{"k":"v"}}]"#.to_owned(),
            "[{\"type\":\"t\",\"action\":\"a\tb\",\"identifiers\":{\"k\":\"v\"}}]".to_owned(),
            event(r#""identifiers":{"k":"v"},"data":{"x":01}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":1.}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":.5}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":+1}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":-}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":1e}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":tru}"#),
            event(r#""identifiers":{"k":"v"},"data":{"x":1,}"#),
            r#"[{"type":"t","action":"a","identifiers":{"k":"v"}},]"#.to_owned(),
        ];
        for body in &refused {
            assert_eq!(events(body), None, "{body}");
        }
        assert_eq!(read_valid_batch(b"[\"\xff\"]"), None);
    }
}
