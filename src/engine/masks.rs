//! Event masks: one bit per considered event (bit `k` of word `w` is event `64·w + k`), built by
//! one scan of a small integer column.
//!
//! Why: after a knob change, several recomputes only ask which events pass a per-event test — a
//! gap code at least `G` (the session cuts), an action in a set (the activity units) — and then
//! walk only those. In wasm the scan runs in 128-bit `simd128` lanes, 8 or 16 events per
//! comparison and one `bitmask` per lane group, instead of a compare, shift and or per event
//! (at 10M events the cut bitset went from ~10 ms to under 3 ms in Chromium). Natively the scalar
//! loop is used (the compiler vectorises it as it sees fit). Both give the same bits; the
//! browser tests compare the worker's reports with the native CLI's after these knob changes.

use super::prefetch;

/// Bits over `len` events; bits past `len` in the last word are 0.
#[derive(Debug, Default, Clone)]
pub struct EventMask {
    words: Vec<u64>,
    len: usize,
}

impl EventMask {
    /// Number of events covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }

    /// Number of marked events.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn reset(&mut self, len: usize) {
        self.words.clear();
        self.words.resize(len.div_ceil(64), 0);
        self.len = len;
    }

    /// Mark event `i` when `codes[i] ≥ min` (unsigned).
    pub fn codes_at_least(&mut self, codes: &[u16], min: u16) {
        self.reset(codes.len());
        let full = codes.len() / 64;
        for_touched_words(
            &mut self.words[..full],
            &codes[..full * 64],
            |words, codes| {
                #[cfg(target_arch = "wasm32")]
                simd::codes_at_least(codes, min, words);
                #[cfg(not(target_arch = "wasm32"))]
                packed_words(words, codes, |c| c >= min);
            },
        );
        if let Some(last) = self.words.get_mut(full) {
            *last = scalar_word(&codes[full * 64..], |c| c >= min);
        }
    }

    /// Also mark each event `i ≥ 1` whose value differs from event `i − 1`'s (`values` covers
    /// the same events): the midnight split marks where the local day changes. Kept apart from
    /// the gap codes so that those do not depend on the time zone.
    pub fn or_changes(&mut self, values: &[u16]) {
        debug_assert_eq!(values.len(), self.len);
        let mut prev = values.first().copied().unwrap_or(0);
        for (word, chunk) in self.words.iter_mut().zip(values.chunks(64)) {
            let mut w = 0u64;
            for (k, &v) in chunk.iter().enumerate() {
                w |= ((v != prev) as u64) << k;
                prev = v;
            }
            *word |= w;
        }
    }

    /// Mark event `i` when `set[actions[i]]` (codes past `set` are not in it).
    pub fn actions_in(&mut self, actions: &[u16], set: &[bool]) {
        self.reset(actions.len());
        let in_set = |a: u16| set.get(a as usize).copied().unwrap_or(false);
        let full = actions.len() / 64;
        #[cfg(target_arch = "wasm32")]
        let done = simd::small_set(set).map_or(0, |table| {
            for_touched_words(
                &mut self.words[..full],
                &actions[..full * 64],
                |words, codes| simd::actions_in(codes, &table, words),
            );
            full
        });
        #[cfg(not(target_arch = "wasm32"))]
        let done = {
            for_touched_words(
                &mut self.words[..full],
                &actions[..full * 64],
                |words, codes| packed_words(words, codes, in_set),
            );
            full
        };
        for (word, chunk) in self.words[done..]
            .iter_mut()
            .zip(actions[done * 64..].chunks(64))
        {
            // (In wasm, a set too large for the lane table: measured only natively, so the
            // shift-and-or stays there.)
            *word = scalar_word(chunk, in_set);
        }
    }

    /// Mark each considered event `i` with `set[actions[rows(i)]]`: the gathered form of
    /// [`EventMask::actions_in`] for considered events that are not the store's rows in order.
    pub fn actions_in_rows(
        &mut self,
        actions: &[u16],
        len: usize,
        rows: impl Fn(usize) -> u32,
        set: &[bool],
    ) {
        self.reset(len);
        for i in 0..len {
            let a = actions[rows(i) as usize] as usize;
            if set.get(a).copied().unwrap_or(false) {
                self.words[i / 64] |= 1 << (i % 64);
            }
        }
    }

    /// Whether any event in `b..e` is marked.
    #[inline]
    pub fn any_in(&self, b: usize, e: usize) -> bool {
        let e = e.min(self.len);
        if b >= e {
            return false;
        }
        let (first, last) = (b / 64, (e - 1) / 64);
        let lo = u64::MAX << (b % 64);
        let hi = u64::MAX >> (63 - (e - 1) % 64);
        if first == last {
            return self.words[first] & lo & hi != 0;
        }
        self.words[first] & lo != 0
            || self.words[first + 1..last].iter().any(|&w| w != 0)
            || self.words[last] & hi != 0
    }

    /// The marked events in `b..e`, ascending.
    #[inline]
    pub fn ones_in(&self, b: usize, e: usize) -> impl Iterator<Item = usize> + '_ {
        let e = e.min(self.len);
        let (first, end) = (b / 64, e.div_ceil(64));
        let words = if b < e {
            &self.words[first..end]
        } else {
            &[][..]
        };
        words.iter().enumerate().flat_map(move |(k, &word)| {
            let w = first + k;
            let mut word = word;
            if w == b / 64 {
                word &= u64::MAX << (b % 64);
            }
            if w + 1 == end && !e.is_multiple_of(64) {
                word &= (1u64 << (e % 64)) - 1;
            }
            std::iter::from_fn(move || {
                (word != 0).then(|| {
                    let bit = word.trailing_zeros() as usize;
                    word &= word - 1;
                    w * 64 + bit
                })
            })
        })
    }

    /// Call `f` with every marked event, ascending (the plain loop of [`EventMask::ones`], for
    /// hot walks).
    #[inline(always)]
    pub fn for_each_one(&self, mut f: impl FnMut(usize)) {
        for (w, &word) in self.words.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                f(w * 64 + word.trailing_zeros() as usize);
                word &= word - 1;
            }
        }
    }
}

/// Run `kernel` over `codes` (64 per word of `words`, whole words only) in blocks of
/// [`prefetch::block_items`] codes, each touched first (see [`prefetch`]).
#[inline(always)]
fn for_touched_words(words: &mut [u64], codes: &[u16], mut kernel: impl FnMut(&mut [u64], &[u16])) {
    debug_assert_eq!(codes.len(), words.len() * 64);
    const BLOCK_WORDS: usize = prefetch::block_items::<u16>() / 64;
    const _: () = assert!(prefetch::block_items::<u16>().is_multiple_of(64));
    for (words, codes) in words
        .chunks_mut(BLOCK_WORDS)
        .zip(prefetch::touched_blocks(codes))
    {
        kernel(words, codes);
    }
}

/// Each word of `words` from its 64 of `codes` by [`packed_word`] (native kernels).
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
fn packed_words(words: &mut [u64], codes: &[u16], test: impl Fn(u16) -> bool) {
    for (word, chunk) in words.iter_mut().zip(codes.chunks_exact(64)) {
        *word = packed_word(chunk, &test);
    }
}

/// [`scalar_word`] of exactly 64 values, in two steps the compiler vectorises: a byte per
/// value (0 or 1), then each 8 bytes packed into 8 bits by one multiplication (byte `i` lands
/// on bit `56 + i`: every partial product has a bit position of its own, so nothing carries).
/// The shift-and-or per value of [`scalar_word`] stays scalar natively. (Native only: wasm
/// scans with its `simd128` kernels.)
#[cfg(not(target_arch = "wasm32"))]
#[inline]
fn packed_word(chunk: &[u16], test: impl Fn(u16) -> bool) -> u64 {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let mut bytes = [0u8; 64];
    for (b, &c) in bytes.iter_mut().zip(chunk) {
        *b = test(c) as u8;
    }
    let mut w = 0u64;
    for (g, group) in bytes.chunks_exact(8).enumerate() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(group);
        w |= (u64::from_le_bytes(eight).wrapping_mul(GATHER) >> 56) << (8 * g);
    }
    w
}

/// One word from up to 64 values: bit `k` set when `test(chunk[k])`.
#[inline]
fn scalar_word(chunk: &[u16], test: impl Fn(u16) -> bool) -> u64 {
    let mut w = 0u64;
    for (k, &c) in chunk.iter().enumerate() {
        w |= (test(c) as u64) << k;
    }
    w
}

#[cfg(target_arch = "wasm32")]
mod simd {
    use core::arch::wasm32::*;

    /// Load 8 `u16` lanes from `chunk[at..at + 8]`.
    #[inline]
    #[target_feature(enable = "simd128")]
    fn load8(chunk: &[u16], at: usize) -> v128 {
        let lanes = &chunk[at..at + 8];
        // SAFETY: `lanes` is 8 `u16`s = 16 readable bytes; wasm loads need no alignment.
        unsafe { v128_load(lanes.as_ptr().cast()) }
    }

    /// `codes.len() == 64 · words.len()`.
    #[target_feature(enable = "simd128")]
    pub fn codes_at_least(codes: &[u16], min: u16, words: &mut [u64]) {
        let min = u16x8_splat(min);
        for (word, chunk) in words.iter_mut().zip(codes.chunks_exact(64)) {
            let mut w = 0u64;
            for j in 0..8 {
                let hit = u16x8_ge(load8(chunk, 8 * j), min);
                w |= (u16x8_bitmask(hit) as u64) << (8 * j);
            }
            *word = w;
        }
    }

    /// The set as a 16-byte lookup table (`0xff` = in the set), when it holds only codes < 16.
    pub fn small_set(set: &[bool]) -> Option<[u8; 16]> {
        if set.iter().skip(16).any(|&x| x) {
            return None;
        }
        let mut table = [0u8; 16];
        for (t, &x) in table.iter_mut().zip(set) {
            *t = if x { 0xff } else { 0 };
        }
        Some(table)
    }

    /// `actions.len() == 64 · words.len()`; `table` from [`small_set`]. Codes ≥ 16 are clamped
    /// to 16, an index the swizzle maps to 0 (not in the set).
    #[target_feature(enable = "simd128")]
    pub fn actions_in(actions: &[u16], table: &[u8; 16], words: &mut [u64]) {
        // SAFETY: `table` is 16 readable bytes.
        let table = unsafe { v128_load(table.as_ptr().cast()) };
        let cap = u16x8_splat(16);
        for (word, chunk) in words.iter_mut().zip(actions.chunks_exact(64)) {
            let mut w = 0u64;
            for j in 0..4 {
                let lo = u16x8_min(load8(chunk, 16 * j), cap);
                let hi = u16x8_min(load8(chunk, 16 * j + 8), cap);
                let hit = i8x16_swizzle(table, u8x16_narrow_i16x8(lo, hi));
                w |= (u8x16_bitmask(hit) as u64) << (16 * j);
            }
            *word = w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic spread of codes (xorshift).
    fn codes(n: usize, seed: u64, modulo: u16) -> Vec<u16> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % modulo as u64) as u16
            })
            .collect()
    }

    /// The marked events, by both walks (which must agree).
    fn ones(m: &EventMask) -> Vec<usize> {
        let mut v = Vec::new();
        m.for_each_one(|i| v.push(i));
        assert_eq!(m.ones_in(0, m.len()).collect::<Vec<_>>(), v);
        v
    }

    #[test]
    fn codes_at_least_marks_exactly_the_passing_events() {
        for n in [0, 1, 63, 64, 65, 128, 1000] {
            let c = codes(n, n as u64 + 7, u16::MAX);
            let mut m = EventMask::default();
            for min in [0x8000, 30, 0, 1, u16::MAX] {
                m.codes_at_least(&c, min);
                let want: Vec<usize> = (0..n).filter(|&i| c[i] >= min).collect();
                assert_eq!(ones(&m), want, "n {n} min {min}");
                assert_eq!(m.count(), want.len());
                assert_eq!(m.len(), n);
            }
        }
        // A gap of exactly G passes; one less does not.
        let mut m = EventMask::default();
        m.codes_at_least(&[29, 30, 31, 5, u16::MAX], 30);
        assert_eq!(ones(&m), vec![1, 2, 4]);
    }

    #[test]
    fn or_changes_adds_each_change_of_value() {
        for n in [0, 1, 63, 64, 65, 129, 1000] {
            let c = codes(n, 3 * n as u64 + 1, 200);
            // Runs of equal values, so that changes are neither everywhere nor nowhere.
            let days: Vec<u16> = (0..n).map(|i| (i / 7) as u16 % 5).collect();
            let mut m = EventMask::default();
            m.codes_at_least(&c, 150);
            m.or_changes(&days);
            let want: Vec<usize> = (0..n)
                .filter(|&i| c[i] >= 150 || (i > 0 && days[i] != days[i - 1]))
                .collect();
            assert_eq!(ones(&m), want, "n {n}");
            assert_eq!(m.count(), want.len());
        }
    }

    #[test]
    fn actions_in_small_and_large_sets() {
        for n in [0, 5, 64, 130, 1000] {
            let a = codes(n, 99 + n as u64, 40);
            let mut m = EventMask::default();
            let small: Vec<bool> = (0..8).map(|i| i % 3 == 1).collect();
            let large: Vec<bool> = (0..40).map(|i| i % 5 == 2).collect();
            for set in [&small, &large, &Vec::new()] {
                m.actions_in(&a, set);
                let want: Vec<usize> = (0..n)
                    .filter(|&i| set.get(a[i] as usize).copied().unwrap_or(false))
                    .collect();
                assert_eq!(ones(&m), want);
                // Gathered through a reversed row order.
                let rev: Vec<u16> = a.iter().rev().copied().collect();
                m.actions_in_rows(&rev, n, |i| (n - 1 - i) as u32, set);
                assert_eq!(ones(&m), want);
            }
        }
    }

    #[test]
    fn packed_word_equals_the_shift_and_or() {
        let mut patterns: Vec<Vec<u16>> = vec![vec![0; 64], vec![1; 64]];
        patterns.push((0..64).map(|k| (k % 2) as u16).collect());
        patterns.push((0..64).map(|k| (k == 63) as u16).collect());
        patterns.push((0..64).map(|k| (k == 0 || k == 56) as u16).collect());
        for seed in 1..50 {
            patterns.push(codes(64, seed, 2));
        }
        for p in &patterns {
            assert_eq!(
                packed_word(p, |c| c == 1),
                scalar_word(p, |c| c == 1),
                "{p:?}"
            );
        }
    }

    #[test]
    fn any_in_agrees_with_the_marks() {
        for n in [0, 1, 64, 200, 700] {
            // Sparse marks, so that many ranges hold none.
            let c = codes(n, 5 + n as u64, 40);
            let mut m = EventMask::default();
            m.codes_at_least(&c, 38);
            for b in (0..=n).step_by(3) {
                for e in [b, b + 1, b + 2, b + 63, b + 64, b + 65, b + 130, n, n + 5] {
                    let want = (b..e.min(n)).any(|i| c[i] >= 38);
                    assert_eq!(m.any_in(b, e), want, "n {n} {b}..{e}");
                }
            }
        }
    }

    #[test]
    fn ones_in_ranges() {
        let c: Vec<u16> = (0..200).map(|i| (i % 3 == 0) as u16).collect();
        let mut m = EventMask::default();
        m.codes_at_least(&c, 1);
        for (b, e) in [
            (0, 200),
            (1, 64),
            (63, 65),
            (64, 128),
            (70, 70),
            (150, 300),
            (199, 200),
        ] {
            let want: Vec<usize> = (b..e.min(200)).filter(|i| i % 3 == 0).collect();
            assert_eq!(m.ones_in(b, e).collect::<Vec<_>>(), want, "{b}..{e}");
        }
    }
}
