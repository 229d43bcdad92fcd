//! Where a config's strings live: ranges of the datafile text it keeps anyway, or of a small
//! pool for the strings the text does not hold verbatim (escaped strings, ids written as
//! numbers, compact JSON for log lines). Entities hold 8-byte [`Str`]s instead of owned
//! strings, and the id and key indexes hold 4-byte positions instead of copies of the keys.

use rustc_hash::FxHasher;
use std::hash::Hasher;

/// The longest datafile text, and the longest string pool, a config addresses: together they
/// stay within the reach of a `u32` offset.
pub(crate) const MAX_TEXT_LEN: usize = (u32::MAX / 2) as usize;

/// A string of the config: `len` bytes at `start` in the datafile text followed by the pool
/// (an offset of at least the text's length is in the pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Str {
    start: u32,
    len: u32,
}

impl Str {
    /// The empty string.
    pub(crate) const EMPTY: Str = Str { start: 0, len: 0 };

    /// The `len` bytes at `start` (callers keep offsets within twice [`MAX_TEXT_LEN`]).
    pub(crate) fn at(start: usize, len: usize) -> Self {
        Str {
            start: start as u32,
            len: len as u32,
        }
    }

    pub(crate) fn is_empty(self) -> bool {
        self.len == 0
    }

    /// A range of a scratch buffer moved to where the buffer's content ended up, `offset`.
    pub(crate) fn moved(self, offset: usize) -> Self {
        Str::at(self.start as usize + offset, self.len as usize)
    }

    pub(crate) fn start(self) -> usize {
        self.start as usize
    }

    /// Where the string is in the datafile text followed by the pool.
    #[inline]
    pub(crate) fn bounds(self) -> (usize, usize) {
        (self.start as usize, self.start as usize + self.len as usize)
    }
}

/// An optional [`Str`] in the space of one (`None` has a length no string can have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OptStr(Str);

impl OptStr {
    pub(crate) const NONE: OptStr = OptStr(Str {
        start: 0,
        len: u32::MAX,
    });

    pub(crate) fn get(self) -> Option<Str> {
        (self.0.len != u32::MAX).then_some(self.0)
    }
}

impl From<Option<Str>> for OptStr {
    fn from(value: Option<Str>) -> Self {
        value.map_or(OptStr::NONE, OptStr)
    }
}

/// The datafile text and the pool, for resolving [`Str`]s.
#[derive(Clone, Copy)]
pub(crate) struct Strings<'a> {
    pub(crate) text: &'a str,
    pub(crate) pool: &'a str,
}

impl<'a> Strings<'a> {
    #[inline]
    pub(crate) fn get(self, s: Str) -> &'a str {
        let (start, end) = s.bounds();
        match start.checked_sub(self.text.len()) {
            None => self.text.get(start..end),
            Some(start) => self.pool.get(start..end - self.text.len()),
        }
        .unwrap_or_default()
    }

    pub(crate) fn opt(self, s: OptStr) -> Option<&'a str> {
        s.get().map(|s| self.get(s))
    }

    /// The bytes of `s`: what comparisons and hashes need, without the character boundary
    /// checks of a `str` slice.
    #[inline]
    pub(crate) fn bytes(self, s: Str) -> &'a [u8] {
        let (start, end) = s.bounds();
        match start.checked_sub(self.text.len()) {
            None => self.text.as_bytes().get(start..end),
            Some(start) => self.pool.as_bytes().get(start..end - self.text.len()),
        }
        .unwrap_or_default()
    }
}

/// The pool under construction, with the text that [`Str`]s may borrow from.
pub(crate) struct Interner<'t> {
    pub(crate) text: &'t str,
    pub(crate) pool: String,
}

impl<'t> Interner<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Interner {
            text,
            pool: String::new(),
        }
    }

    /// `s` as a range of the text when it is a slice of it (a string without escapes, as the
    /// JSON parser lends it), else a copy in the pool.
    pub(crate) fn intern(&mut self, s: &str) -> Str {
        match self.offset_in_text(s) {
            Some(offset) => Str::at(offset, s.len()),
            None => self.copy(s),
        }
    }

    /// Where `s` starts in the datafile text, when it is a range of it rather than of the pool.
    pub(crate) fn text_offset(&self, s: Str) -> Option<usize> {
        (s.start() < self.text.len()).then_some(s.start())
    }

    /// Where `s` starts in the text, when it is a slice of it.
    pub(crate) fn offset_in_text(&self, s: &str) -> Option<usize> {
        let base = self.text.as_ptr() as usize;
        let address = s.as_ptr() as usize;
        (address >= base && address + s.len() <= base + self.text.len()).then(|| address - base)
    }

    /// Text written elsewhere, placed in the config: as a range of the datafile text when the
    /// text holds it verbatim at `start` (compact JSON usually is), else as a pool copy.
    pub(crate) fn place(&mut self, content: &str, start: Option<usize>) -> Str {
        let verbatim = start.filter(|&start| {
            self.text.as_bytes().get(start..start + content.len()) == Some(content.as_bytes())
        });
        match verbatim {
            Some(start) => Str::at(start, content.len()),
            None => self.copy(content),
        }
    }

    /// A copy of `s` in the pool.
    pub(crate) fn copy(&mut self, s: &str) -> Str {
        let start = self.text.len() + self.pool.len();
        self.pool.push_str(s);
        Str::at(start, s.len())
    }

    /// Text formatted straight into the pool.
    pub(crate) fn format(&mut self, args: std::fmt::Arguments<'_>) -> Str {
        use std::fmt::Write;
        let start = self.pool.len();
        let _ = self.pool.write_fmt(args);
        Str::at(self.text.len() + start, self.pool.len() - start)
    }

    pub(crate) fn strings(&self) -> Strings<'_> {
        Strings {
            text: self.text,
            pool: &self.pool,
        }
    }
}

/// A read-only hash index from the string key of entities (their id or key) to their
/// position; when keys repeat, the last entity wins. Slots hold positions only: keys are
/// compared through the entities themselves. The slots of all of a config's indexes share
/// one array, of which an index is a range. A few entities need no slots: comparing their
/// keys one by one costs about what hashing one does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StrIndex {
    /// Where the slots start; the number of entities when there are no slots.
    start: u32,
    /// Number of slots (a power of two), 0 for a scanned index.
    len: u32,
}

/// Up to this many entities are scanned rather than hashed.
const SCANNED: usize = 8;
/// Marks a scanned index whose keys all differ (the first match is the only one).
const UNIQUE_KEYS: u32 = 1 << 31;

const EMPTY_SLOT: u32 = u32::MAX;

fn hash(key: &[u8]) -> usize {
    let mut hasher = FxHasher::default();
    hasher.write(key);
    hasher.finish() as usize
}

impl StrIndex {
    /// Indexes `count` entities whose keys `key_of` gives, appending its slots to `slots`.
    pub(crate) fn build<'k>(
        slots: &mut Vec<u32>,
        count: usize,
        key_of: impl Fn(usize) -> &'k [u8],
    ) -> Self {
        Self::build_with(slots, count, &key_of)
    }

    /// [`build`](Self::build) compiled once for all indexes: it runs once per config and
    /// index, so a call through `key_of` costs nothing that matters.
    fn build_with<'k>(
        slots: &mut Vec<u32>,
        count: usize,
        key_of: &dyn Fn(usize) -> &'k [u8],
    ) -> Self {
        if count <= SCANNED {
            let unique = (0..count).all(|i| (0..i).all(|j| key_of(i) != key_of(j)));
            return StrIndex {
                start: count as u32 | if unique { UNIQUE_KEYS } else { 0 },
                len: 0,
            };
        }
        // At most two thirds full: short probe runs, a third less memory than half full.
        let capacity = (count + count / 2 + 1).next_power_of_two();
        let start = slots.len();
        slots.resize(start + capacity, EMPTY_SLOT);
        let table = &mut slots[start..];
        let mask = capacity - 1;
        for position in 0..count {
            let key = key_of(position);
            let mut slot = hash(key) & mask;
            loop {
                let occupant = table[slot];
                if occupant == EMPTY_SLOT || key_of(occupant as usize) == key {
                    table[slot] = position as u32;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        StrIndex {
            start: start as u32,
            len: capacity as u32,
        }
    }

    /// The position of the entity whose key is `wanted`.
    #[inline]
    pub(crate) fn get<'k>(
        self,
        slots: &[u32],
        wanted: &str,
        key_of: impl Fn(usize) -> &'k [u8],
    ) -> Option<usize> {
        let wanted = wanted.as_bytes();
        if self.len == 0 {
            let count = (self.start & !UNIQUE_KEYS) as usize;
            return match self.start & UNIQUE_KEYS != 0 {
                true => (0..count).find(|&p| key_of(p) == wanted),
                false => (0..count).rev().find(|&p| key_of(p) == wanted),
            };
        }
        let table = slots.get(self.start as usize..(self.start + self.len) as usize)?;
        let mask = table.len() - 1;
        let mut slot = hash(wanted) & mask;
        loop {
            let occupant = table[slot];
            if occupant == EMPTY_SLOT {
                return None;
            }
            if key_of(occupant as usize) == wanted {
                return Some(occupant as usize);
            }
            slot = (slot + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_slices_of_the_text_cost_no_pool_space() {
        let text = String::from(r#"{"id":"abc"}"#);
        let mut interner = Interner::new(&text);
        let borrowed = interner.intern(&text[7..10]);
        let copied = interner.intern("a\"b");
        let number = interner.format(format_args!("{}", 42));
        assert_eq!(interner.pool, "a\"b42");
        let strings = interner.strings();
        assert_eq!(strings.get(borrowed), "abc");
        assert_eq!(strings.get(copied), "a\"b");
        assert_eq!(strings.get(number), "42");
        assert_eq!(strings.get(Str::EMPTY), "");
        assert_eq!(strings.opt(OptStr::NONE), None);
        assert_eq!(strings.opt(OptStr::from(Some(borrowed))), Some("abc"));
    }

    #[test]
    fn the_index_finds_every_key_and_the_last_duplicate_wins() {
        let keys: Vec<String> = (0..1000).map(|i| format!("key{}", i % 700)).collect();
        let mut slots = vec![7, 7, 7];
        let few = ["a", "b", "a"];
        let scanned = StrIndex::build(&mut slots, few.len(), |i| few[i].as_bytes());
        assert_eq!(slots.len(), 3);
        assert_eq!(scanned.get(&slots, "a", |i| few[i].as_bytes()), Some(2));
        assert_eq!(scanned.get(&slots, "b", |i| few[i].as_bytes()), Some(1));
        assert_eq!(scanned.get(&slots, "c", |i| few[i].as_bytes()), None);
        let other = StrIndex::build(&mut slots, 1, |_| b"other");
        let index = StrIndex::build(&mut slots, keys.len(), |i| keys[i].as_bytes());
        for i in 0..700 {
            let found = index.get(&slots, &format!("key{i}"), |p| keys[p].as_bytes());
            let expected = if i < 300 { i + 700 } else { i };
            assert_eq!(found, Some(expected));
        }
        assert_eq!(index.get(&slots, "key700", |p| keys[p].as_bytes()), None);
        assert_eq!(other.get(&slots, "other", |_| b"other"), Some(0));
        assert_eq!(other.get(&slots, "key1", |_| b"other"), None);
        assert_eq!(StrIndex::default().get(&slots, "x", |_| b""), None);
    }
}
