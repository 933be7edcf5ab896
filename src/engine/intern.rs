//! [`StrIndex`]: distinct strings numbered densely in first-seen order — the table behind the
//! loader's dictionaries (pages, actions, versions) and string user ids.
//!
//! Page ids are high-cardinality (~900k distinct in 10M events) and every row group brings its
//! own Parquet dictionary, so the loader looks up millions of strings in a table no cache holds:
//! a look-up costs what its cache misses cost. So the table is open addressing with linear
//! probing over one array of 24-byte slots that hold the key itself — a string of up to 15 bytes
//! is its own 16-byte key ([`inline_key`]) — its index and 32 bits of its hash: a look-up reads
//! one slot (usually one cache line), with no control-byte array, no pointer to chase and no
//! `memcmp`. (A `hashbrown::HashTable` of indices over a key array costs three misses per hit,
//! one of inline keys two; both measured slower here.) Longer strings (rare: URLs, UUIDs) live
//! in one shared text buffer.

use std::hash::Hasher;

use super::builder::FxHasher;

/// Byte 15 of a key that refers to a long string (a short key holds its length, ≤ 15, there).
const LONG_TAG: u8 = 0xFF;

/// Strings of up to 15 bytes packed with their length into one `u128` (byte 15 = length), so two
/// short strings are equal exactly when their keys are.
pub(crate) fn inline_key(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut w = [0u8; 16];
    w[..b.len()].copy_from_slice(b);
    w[15] = b.len() as u8;
    Some(u128::from_le_bytes(w))
}

/// The key of a long string: its position in [`StrIndex::long`] (bytes 0..8) and [`LONG_TAG`].
fn long_key(slot: usize) -> u128 {
    (slot as u128) | ((LONG_TAG as u128) << 120)
}

fn long_slot(key: u128) -> Option<usize> {
    ((key >> 120) as u8 == LONG_TAG).then_some(key as u64 as usize)
}

fn hash_short(key: u128) -> u64 {
    let mut h = FxHasher::default();
    h.write_u128(key);
    h.finish_raw()
}

fn hash_long(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish_raw()
}

/// Values warmed, then inserted, at a time in [`StrIndex::insert_all`]: enough for their
/// cache misses to overlap, few enough that their slots are still cached when inserted (1024
/// measured +40 % on the page column's time with [`StrIndex::warm`]'s 512-value cap).
const WARM_CHUNK: usize = 256;

/// A string's table hash (top 32 bits) and inline key (`None` for a long string).
#[derive(Debug, Clone, Copy)]
struct Hashed {
    hash32: u32,
    key: Option<[u64; 2]>,
}

impl Hashed {
    fn of(s: &str) -> Hashed {
        let (hash, key) = match inline_key(s) {
            Some(k) => (hash_short(k), Some(words(k))),
            None => (hash_long(s), None),
        };
        Hashed {
            hash32: (hash >> 32) as u32,
            key,
        }
    }
}

/// One table slot. `index == 0` marks an empty slot; otherwise the string's index is
/// `index - 1`, `hash` the top 32 bits of its hash (so growing never re-reads a long string).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    key: [u64; 2],
    hash: u32,
    index: u32,
}

fn words(key: u128) -> [u64; 2] {
    [key as u64, (key >> 64) as u64]
}

/// Slots are at most this fraction full (linear probing stays short: ~1.5 probes per hit).
const MAX_LOAD_NUM: usize = 1;
const MAX_LOAD_DEN: usize = 2;

/// Distinct strings numbered `0, 1, 2, …` in the order they were first inserted.
///
/// Equality is byte equality (no trimming or case folding: callers clean their strings first).
/// The empty string is an ordinary value.
#[derive(Debug, Default)]
pub(crate) struct StrIndex {
    /// A power of two in length (or empty), probed from the top bits of the hash.
    slots: Vec<Slot>,
    len: usize,
    /// Start and end of each long string in `text`.
    long: Vec<(usize, usize)>,
    /// The bytes of all long strings, back to back.
    text: String,
}

impl StrIndex {
    /// Number of distinct strings.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The index of `s`, inserted at the end when it is new (`true` = it was new).
    ///
    /// Indices are `u32`: the loader never holds more than `u32::MAX` rows, so never more
    /// distinct strings than that.
    pub(crate) fn insert(&mut self, s: &str) -> (u32, bool) {
        self.insert_hashed(s, Hashed::of(s))
    }

    /// [`StrIndex::insert`] with `s`'s hash and key already computed (see [`Hashed`]).
    fn insert_hashed(&mut self, s: &str, hashed: Hashed) -> (u32, bool) {
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.grow();
        }
        let Hashed { hash32, key } = hashed;
        let mask = self.slots.len() - 1;
        let mut at = self.home(hash32);
        loop {
            let Some(slot) = self.slots.get(at) else {
                // Unreachable: `at` is masked and the table is never empty here.
                return (0, false);
            };
            if slot.index == 0 {
                break;
            }
            if slot.hash == hash32 {
                let same = match key {
                    Some(k) => slot.key == k,
                    None => self.long_text(slot.key) == Some(s),
                };
                if same {
                    return (slot.index - 1, false);
                }
            }
            at = (at + 1) & mask;
        }
        let index = self.len as u32;
        let key = match key {
            Some(k) => k,
            None => {
                let start = self.text.len();
                self.text.push_str(s);
                self.long.push((start, self.text.len()));
                words(long_key(self.long.len() - 1))
            }
        };
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = Slot {
                key,
                hash: hash32,
                index: index.saturating_add(1),
            };
        }
        self.len += 1;
        (index, true)
    }

    /// The index of each of `values` appended to `out`, exactly as [`StrIndex::insert`] on
    /// each in order (new strings numbered in that order). In chunks of [`WARM_CHUNK`]: each
    /// value is hashed once, its first slot warmed (see [`StrIndex::warm`]), then inserted with
    /// the same hash — hashing twice (once to warm, once to insert) was ~3 % of a native load.
    pub(crate) fn insert_all(&mut self, values: &[&str], out: &mut Vec<u32>) {
        let mut hashed: Vec<Hashed> = Vec::with_capacity(WARM_CHUNK.min(values.len()));
        for chunk in values.chunks(WARM_CHUNK) {
            hashed.clear();
            hashed.extend(chunk.iter().map(|s| Hashed::of(s)));
            if !self.slots.is_empty() {
                let mut touched = 0u32;
                for h in &hashed {
                    touched ^= self
                        .slots
                        .get(self.home(h.hash32))
                        .map_or(0, |slot| slot.index ^ slot.key[0] as u32);
                }
                std::hint::black_box(touched);
            }
            for (s, &h) in chunk.iter().zip(&hashed) {
                out.push(self.insert_hashed(s, h).0);
            }
        }
    }

    /// Reads the slot a look-up of each of `values` probes first, and returns a value that
    /// means nothing (the caller consumes it). The positions are computed first and the slots
    /// then read in a tight loop of independent loads, so many cache misses are in flight at
    /// once and the `insert`s of the same strings that follow find their slots in cache;
    /// wasm32 has no prefetch instruction, but a plain load whose result is used is one.
    /// Call it with a few hundred values at most: they must still be cached when inserted.
    pub(crate) fn warm(&self, values: &[&str]) -> u32 {
        const MAX: usize = 512;
        if self.slots.is_empty() {
            return 0;
        }
        let mut homes = [0u32; MAX];
        let n = values.len().min(MAX);
        for (home, s) in homes.iter_mut().zip(values) {
            let hash = match inline_key(s) {
                Some(k) => hash_short(k),
                None => hash_long(s),
            };
            // `home` is below 2^32 (see there).
            *home = self.home((hash >> 32) as u32) as u32;
        }
        let mut touched = 0u32;
        for &home in homes.get(..n).unwrap_or(&[]) {
            // Both ends of the slot: a quarter of the 24-byte slots straddle two cache lines.
            touched ^= self
                .slots
                .get(home as usize)
                .map_or(0, |slot| slot.index ^ slot.key[0] as u32);
        }
        touched
    }

    /// The first slot to probe for a string whose hash has these top 32 bits.
    fn home(&self, hash32: u32) -> usize {
        let bits = self.slots.len().trailing_zeros();
        if bits == 0 {
            return 0;
        }
        // Beyond 2^32 slots (over 2^31 strings, far more than a wasm32 tab holds) the homes only
        // cover the first 2^32 slots; probing still wraps over all of them, so nothing is lost.
        (hash32 >> (32 - bits.min(32))) as usize
    }

    fn long_text(&self, key: [u64; 2]) -> Option<&str> {
        let k = (key[0] as u128) | ((key[1] as u128) << 64);
        long_slot(k)
            .and_then(|slot| self.long.get(slot))
            .and_then(|&(a, b)| self.text.get(a..b))
    }

    /// Twice the slots (at least 64), every entry moved by its stored hash.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = size - 1;
        for slot in old.into_iter().filter(|s| s.index != 0) {
            let mut at = self.home(slot.hash);
            while self.slots.get(at).is_some_and(|s| s.index != 0) {
                at = (at + 1) & mask;
            }
            if let Some(free) = self.slots.get_mut(at) {
                *free = slot;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_first_seen_order() {
        let mut t = StrIndex::default();
        assert_eq!(t.insert("b"), (0, true));
        assert_eq!(t.insert("a"), (1, true));
        assert_eq!(t.insert("b"), (0, false));
        assert_eq!(t.insert(""), (2, true), "the empty string is a value");
        assert_eq!(t.insert(""), (2, false));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn short_and_long_strings_at_the_15_byte_edge() {
        let mut t = StrIndex::default();
        let s15 = "abcdefghijklmno";
        let s16 = "abcdefghijklmnop";
        let s17 = "abcdefghijklmnopq";
        assert_eq!(inline_key(s15).map(|k| (k >> 120) as u8), Some(15));
        assert_eq!(inline_key(s16), None);
        assert_eq!(t.insert(s16), (0, true));
        assert_eq!(t.insert(s15), (1, true));
        assert_eq!(t.insert(s17), (2, true));
        assert_eq!(t.insert(s16), (0, false));
        assert_eq!(t.insert(s17), (2, false));
        assert_eq!(t.insert(s15), (1, false));
        // NUL bytes: a short key's length byte (15) still tells it from a long key's tag.
        let tricky = "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}";
        assert_eq!(t.insert(tricky), (3, true));
        assert_eq!(t.insert("héllo wörld, a long one"), (4, true));
        assert_eq!(t.insert("héllo wörld, a long one"), (4, false));
    }

    #[test]
    fn insert_all_numbers_as_inserting_one_at_a_time() {
        // Repeats inside one call and across calls, long strings, more than one warm chunk,
        // and growth in the middle of a call.
        let value = |i: u32| match i % 5 {
            0 => format!("https://example.com/a/long/page/{}", i % 700),
            _ => format!("p{}", i % 900),
        };
        let mut one = StrIndex::default();
        let mut all = StrIndex::default();
        for round in 0..3u32 {
            let values: Vec<String> = (0..1000).map(|i| value(i * 7 + round * 311)).collect();
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let want: Vec<u32> = refs.iter().map(|s| one.insert(s).0).collect();
            let mut got = vec![42];
            all.insert_all(&refs, &mut got);
            assert_eq!(got.first(), Some(&42), "appends");
            assert_eq!(got.get(1..), Some(want.as_slice()), "round {round}");
            assert_eq!(all.len(), one.len());
        }
    }

    #[test]
    fn many_values_survive_growth() {
        let mut t = StrIndex::default();
        let n = 200_000u32;
        for i in 0..n {
            let s = if i % 7 == 0 {
                format!("https://example.com/a/rather/long/page/{i}")
            } else {
                format!("p{i}")
            };
            assert_eq!(t.insert(&s), (i, true), "{s}");
        }
        for i in (0..n).rev() {
            let s = if i % 7 == 0 {
                format!("https://example.com/a/rather/long/page/{i}")
            } else {
                format!("p{i}")
            };
            assert_eq!(t.insert(&s), (i, false), "{s}");
        }
        assert_eq!(t.len(), n as usize);
    }
}
