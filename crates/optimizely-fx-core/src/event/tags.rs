//! The reserved `revenue` and `value` event tags, parsed as the JavaScript SDK parses them.

use crate::diagnostics::{LogLevel, LogSink};
use serde_json::{Map, Number, Value};

const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// The `revenue` tag as an integer: a number truncated toward zero, or a string read like
/// JavaScript's `parseInt` (`"4200"` → 4200, `"42abc"` → 42). `None` when absent, not finite or
/// not a number or string.
///
/// ```
/// use optimizely_fx_core::event::revenue_value;
/// use serde_json::json;
/// let tags = json!({"revenue": 42.9}).as_object().unwrap().clone();
/// assert_eq!(revenue_value(&tags, &mut ()), Some(42.into()));
/// ```
pub fn revenue_value(tags: &Map<String, Value>, log: &mut dyn LogSink) -> Option<Number> {
    let raw = tags.get("revenue").filter(|v| !v.is_null())?;
    let parsed = match raw {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.clone()),
        Value::Number(n) => n.as_f64().and_then(|x| integral_number(x.trunc())),
        Value::String(s) => js_parse_int(s).and_then(integral_number),
        _ => None,
    };
    log_parse(log, parsed.as_ref(), raw, "revenue");
    parsed
}

/// The `value` tag as a number: a finite number as is, or a string read like JavaScript's
/// `parseFloat` (`"3.5"` → 3.5). `None` when absent, not finite or not a number or string.
///
/// ```
/// use optimizely_fx_core::event::event_value;
/// use serde_json::json;
/// let tags = json!({"value": "3.5"}).as_object().unwrap().clone();
/// assert_eq!(event_value(&tags, &mut ()).and_then(|n| n.as_f64()), Some(3.5));
/// ```
pub fn event_value(tags: &Map<String, Value>, log: &mut dyn LogSink) -> Option<Number> {
    let raw = tags.get("value").filter(|v| !v.is_null())?;
    let parsed = match raw {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => js_parse_float(s).and_then(Number::from_f64),
        _ => None,
    };
    log_parse(log, parsed.as_ref(), raw, "value");
    parsed
}

fn log_parse(log: &mut dyn LogSink, parsed: Option<&Number>, raw: &Value, which: &str) {
    if !log.enabled(LogLevel::Info) {
        return;
    }
    let noun = if which == "revenue" {
        "revenue"
    } else {
        "event"
    };
    match parsed {
        Some(number) => log.log(
            LogLevel::Info,
            format_args!("Parsed {noun} value \"{number}\" from event tags."),
        ),
        None => log.log(
            LogLevel::Info,
            format_args!("Failed to parse {noun} value \"{raw}\" from event tags."),
        ),
    }
}

/// A finite integral float as a JSON number: an integer when exactly representable.
fn integral_number(x: f64) -> Option<Number> {
    if !x.is_finite() {
        return None;
    }
    if x.abs() <= MAX_SAFE_INTEGER {
        return Some(Number::from(x as i64));
    }
    Number::from_f64(x)
}

fn trim_js_whitespace(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// JavaScript `parseInt(text)` (no radix): optional sign, `0x` for hexadecimal, then the
/// leading digits; `None` for NaN.
fn js_parse_int(text: &str) -> Option<f64> {
    let text = trim_js_whitespace(text);
    let (negative, rest) = split_sign(text);
    let (radix, digits) = match rest.get(..2) {
        Some("0x") | Some("0X") => (16, &rest[2..]),
        _ => (10, rest),
    };
    let len = digits
        .bytes()
        .take_while(|b| (*b as char).is_digit(radix))
        .count();
    if len == 0 {
        return None;
    }
    let digits = &digits[..len];
    let magnitude = if radix == 10 {
        digits.parse::<f64>().ok()?
    } else {
        digits
            .chars()
            .filter_map(|c| c.to_digit(16))
            .fold(0.0, |acc, d| acc * 16.0 + f64::from(d))
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// JavaScript `parseFloat(text)`: the longest leading decimal literal (or `Infinity`);
/// `None` for NaN.
fn js_parse_float(text: &str) -> Option<f64> {
    let text = trim_js_whitespace(text);
    let (negative, rest) = split_sign(text);
    let magnitude = if rest.starts_with("Infinity") {
        f64::INFINITY
    } else {
        let len = decimal_literal_len(rest.as_bytes());
        if len == 0 {
            return None;
        }
        rest[..len].parse::<f64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// Length of the longest prefix that is `digits [. digits] [e [sign] digits]` or
/// `. digits [e ...]`, with at least one digit in the mantissa.
fn decimal_literal_len(bytes: &[u8]) -> usize {
    let count_digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let integer = count_digits(0);
    let mut end = integer;
    let mut mantissa_digits = integer;
    if bytes.get(end) == Some(&b'.') {
        let fraction = count_digits(end + 1);
        if integer > 0 || fraction > 0 {
            end += 1 + fraction;
            mantissa_digits += fraction;
        }
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exponent = count_digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_like_javascript() {
        assert_eq!(js_parse_int("4200"), Some(4200.0));
        assert_eq!(js_parse_int("  -42.9abc"), Some(-42.0));
        assert_eq!(js_parse_int("0x1A"), Some(26.0));
        assert_eq!(js_parse_int("abc"), None);
        assert_eq!(js_parse_int(""), None);
        assert_eq!(js_parse_int("-"), None);
    }

    #[test]
    fn parse_float_like_javascript() {
        assert_eq!(js_parse_float("3.5"), Some(3.5));
        assert_eq!(js_parse_float(" .5e1x"), Some(5.0));
        assert_eq!(js_parse_float("1e"), Some(1.0));
        assert_eq!(js_parse_float("5."), Some(5.0));
        assert_eq!(js_parse_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(js_parse_float("."), None);
        assert_eq!(js_parse_float("abc"), None);
        assert_eq!(js_parse_float("inf"), None);
    }

    #[test]
    fn revenue_and_value_from_tags() {
        let tags = |v: Value| v.as_object().unwrap().clone();
        let revenue = |v: Value| revenue_value(&tags(v), &mut ()).map(|n| n.to_string());
        assert_eq!(
            revenue(serde_json::json!({"revenue": "4200"})),
            Some("4200".into())
        );
        assert_eq!(
            revenue(serde_json::json!({"revenue": -1.7})),
            Some("-1".into())
        );
        assert_eq!(revenue(serde_json::json!({"revenue": "x"})), None);
        assert_eq!(revenue(serde_json::json!({"revenue": true})), None);
        assert_eq!(revenue(serde_json::json!({"other": 1})), None);
        let value = |v: Value| event_value(&tags(v), &mut ()).and_then(|n| n.as_f64());
        assert_eq!(value(serde_json::json!({"value": 2.75})), Some(2.75));
        assert_eq!(value(serde_json::json!({"value": "Infinity"})), None);
        assert_eq!(value(serde_json::json!({"value": "abc"})), None);
    }
}
