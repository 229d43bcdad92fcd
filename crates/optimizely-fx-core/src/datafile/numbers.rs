//! The datafile's numbers that need care: ids written as numbers, and traffic range bounds.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// Decimal text of a JSON number the way JavaScript's `String(n)` prints common values:
/// integral values without a fractional part.
pub(crate) fn number_to_string(v: f64) -> String {
    const EXACT_INTEGER_LIMIT: f64 = 1e21;
    if v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

/// A traffic range's exclusive upper bound, clamped to `0..=u32::MAX`.
///
/// A fractional bound `x` is stored as `ceil(x)`: for integer bucket values `b`,
/// `b < x` exactly when `b < ceil(x)`, so the comparison stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EndOfRange(pub u32);

impl<'de> Deserialize<'de> for EndOfRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(EndOfRangeVisitor)
            .map(EndOfRange)
    }
}

struct EndOfRangeVisitor;

impl Visitor<'_> for EndOfRangeVisitor {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        Ok(if v < 0 {
            0
        } else {
            u32::try_from(v).unwrap_or(u32::MAX)
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u32, E> {
        let ceiled = v.ceil();
        Ok(if ceiled <= 0.0 {
            0
        } else if ceiled >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            // In range and integral after the checks above, so the cast is exact.
            ceiled as u32
        })
    }
}
