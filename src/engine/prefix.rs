//! Prefix sums of per-event integers (policy-applied `duration_ms`) in ~4 bytes per event.
//!
//! The metrics cache keeps `prefix[i]` = Σ of the first `i` considered events' durations so a
//! session's or a user's total is `prefix[end] − prefix[begin]` after any session-knob change
//! without reading the durations again. As plain `i64`s that was 8 B/event (76 MiB at 10M
//! events, a large part of the worker's peak memory). Here each value is stored as a `u32`
//! offset from the sum at the start of its block of [`BLOCK`] events, plus one `i64` per block:
//! 4.125 B/event. Offsets are exact integers; a value whose offset does not fit (a block whose
//! durations sum past 2^32 − 1 ms ≈ 49 days, or a negative duration pulling a sum below its
//! block's start — only on absurd data) is kept whole in a sorted side table, so every read is
//! exact.

/// Events per stored base sum.
const BLOCK: usize = 64;
/// Offset marking a value kept in the side table.
const SPILLED: u32 = u32::MAX;

/// Exact prefix sums in ~4 bytes each. Values are pushed in order: the `i`-th push is
/// `prefix[i]`.
#[derive(Debug, Default)]
pub struct CompactPrefix {
    /// `base[k]` = the value at index `k·BLOCK`.
    base: Vec<i64>,
    /// `value[i] − base[i / BLOCK]`, or [`SPILLED`].
    offsets: Vec<u32>,
    /// `(i, value[i])` of the spilled values, ascending by `i`.
    spilled: Vec<(usize, i64)>,
    /// The last base, and the index at which the next block starts.
    current_base: i64,
    next_block: usize,
}

impl CompactPrefix {
    /// Forget the values (the allocations stay).
    pub fn clear(&mut self) {
        self.base.clear();
        self.offsets.clear();
        self.spilled.clear();
        self.current_base = 0;
        self.next_block = 0;
    }

    /// Room for `n` more values.
    pub fn reserve(&mut self, n: usize) {
        self.offsets.reserve(n);
        self.base.reserve(n / BLOCK + 1);
    }

    /// Append the next value.
    #[inline]
    pub fn push(&mut self, value: i64) {
        let i = self.offsets.len();
        if i == self.next_block {
            self.base.push(value);
            self.current_base = value;
            self.next_block += BLOCK;
        }
        let off = value.wrapping_sub(self.current_base);
        if (off as u64) < SPILLED as u64 {
            self.offsets.push(off as u32);
        } else {
            self.spill(i, value);
        }
    }

    #[cold]
    fn spill(&mut self, i: usize, value: i64) {
        self.offsets.push(SPILLED);
        self.spilled.push((i, value));
    }

    /// Append the running sums `start + v₁, start + v₁ + v₂, …` of `values`; returns the
    /// last one (`start` when there are none).
    ///
    /// A block at a time: the block's offsets are made in a local array and appended whole, so
    /// the loop keeps its state in registers (in wasm, [`CompactPrefix::push`] per value kept
    /// the lengths in memory: ~10M of them on every outlier-knob change at 10M events). Never
    /// inlined, for the same reason: inside `MetricsCache::run` its state was spilled.
    #[inline(never)]
    pub fn extend_sums(&mut self, start: i64, mut values: impl Iterator<Item = i64>) -> i64 {
        let mut acc = start;
        // Up to the next block boundary, one at a time.
        while !self.offsets.len().is_multiple_of(BLOCK) {
            let Some(v) = values.next() else {
                return acc;
            };
            acc += v;
            self.push(acc);
        }
        let mut block = [0u32; BLOCK];
        loop {
            let Some(v) = values.next() else {
                return acc;
            };
            acc += v;
            let (at, base) = (self.offsets.len(), acc);
            let mut k = 1;
            while k < BLOCK {
                let Some(v) = values.next() else {
                    break;
                };
                acc += v;
                block[k] = self.offset_or_spill(at + k, acc, base);
                k += 1;
            }
            self.append_block(base, &block[..k]);
            if k < BLOCK {
                return acc;
            }
        }
    }

    /// The offset of value `acc` (index `i`) from its block's `base`, or [`SPILLED`] with the
    /// value kept aside.
    #[inline(always)]
    fn offset_or_spill(&mut self, i: usize, acc: i64, base: i64) -> u32 {
        let off = acc.wrapping_sub(base);
        if (off as u64) < SPILLED as u64 {
            off as u32
        } else {
            self.spilled.push((i, acc));
            SPILLED
        }
    }

    /// Append a block that starts with value `base`, its offsets `block` (`block[0]` = 0; fewer
    /// than [`BLOCK`] only at the end). The offsets so far end at a block boundary.
    fn append_block(&mut self, base: i64, block: &[u32]) {
        let at = self.offsets.len();
        self.base.push(base);
        self.current_base = base;
        self.next_block = at + BLOCK;
        self.offsets.extend_from_slice(block);
    }

    /// [`CompactPrefix::extend_sums`] of `f` over a slice: whole blocks are summed from fixed
    /// chunks of 64 (no end test per value, the mapping inlined): in wasm, an outlier-knob change
    /// at 10M events took ~53 ms through the iterator and ~49 ms through this.
    #[inline(never)]
    pub fn extend_sums_of<T: Copy>(
        &mut self,
        start: i64,
        values: &[T],
        f: impl Fn(T) -> i64,
    ) -> i64 {
        // The partial first block (and all of a short input) through the general path.
        let len = self.offsets.len();
        let head = (len.next_multiple_of(BLOCK) - len).min(values.len());
        let (first, rest) = values.split_at(head);
        let mut acc = self.extend_sums(start, first.iter().map(|&v| f(v)));
        let mut chunks = rest.chunks_exact(BLOCK);
        let mut block = [0u32; BLOCK];
        for chunk in &mut chunks {
            let at = self.offsets.len();
            acc += f(chunk[0]);
            let base = acc;
            for (k, &v) in chunk.iter().enumerate().skip(1) {
                acc += f(v);
                block[k] = self.offset_or_spill(at + k, acc, base);
            }
            self.append_block(base, &block);
        }
        self.extend_sums(acc, chunks.remainder().iter().map(|&v| f(v)))
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// The `i`-th value (`i < len`).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let off = self.offsets[i];
        if off != SPILLED {
            self.base[i / BLOCK] + off as i64
        } else {
            self.spilled_value(i)
        }
    }

    #[cold]
    fn spilled_value(&self, i: usize) -> i64 {
        let k = self.spilled.partition_point(|&(j, _)| j < i);
        self.spilled[k].1
    }

    /// `get(b) − get(a)`: the sum of the values pushed between.
    #[inline]
    pub fn range(&self, a: usize, b: usize) -> i64 {
        self.get(b) - self.get(a)
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4 + self.base.capacity() * 8 + self.spilled.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[i64]) {
        let mut p = CompactPrefix::default();
        let mut expected = vec![0i64];
        p.push(0);
        let last = p.extend_sums(0, values.iter().copied());
        let mut acc = 0i64;
        for &v in values {
            acc += v;
            expected.push(acc);
        }
        assert_eq!(last, acc);
        assert_eq!(p.len(), expected.len());
        for (i, &e) in expected.iter().enumerate() {
            assert_eq!(p.get(i), e, "index {i}");
        }
        for (a, b) in [(0, expected.len() - 1), (1, expected.len() / 2)] {
            if a <= b {
                assert_eq!(p.range(a, b), expected[b] - expected[a]);
            }
        }
    }

    #[test]
    fn exact_for_ordinary_absurd_and_negative_values() {
        check(&[]);
        check(&[5]);
        // Ordinary durations over many blocks.
        check(&(0..1_000).map(|i| (i * 7_919) % 60_000).collect::<Vec<_>>());
        // A block summing past u32::MAX, negative values, i32 extremes.
        let mut v: Vec<i64> = (0..300).map(|i| (i % 13) * 1_000).collect();
        v[70] = i32::MAX as i64;
        v[71] = i32::MAX as i64;
        v[72] = i32::MAX as i64;
        v[140] = -5;
        v[200] = i32::MIN as i64;
        check(&v);
        // An offset of exactly u32::MAX (the marker) is spilled, not misread.
        check(&[u32::MAX as i64, 1, 2]);
        check(&[u32::MAX as i64 - 1, 1, 1]);
    }

    /// `extend_sums` (blocks from an iterator) and `extend_sums_of` (blocks from a slice)
    /// equal a push per value, from every start and length around the block size, with spilled
    /// offsets inside a whole block; and each goes on alike afterwards.
    #[test]
    fn block_sums_equal_pushes_from_any_start() {
        let values: Vec<i64> = (0..400).map(|i| (i * 7_919) % 60_000 - 900).collect();
        let big = [u32::MAX as i64, 1, i32::MAX as i64, -7];
        for before in [0, 1, 63, 64, 65, 130] {
            for len in [0, 1, 62, 63, 64, 65, 128, 200, 400] {
                let mut v = values[..len].to_vec();
                if len > 100 {
                    v[70..74].copy_from_slice(&big);
                }
                let f = |x: i64| x * 2;
                let fresh = || {
                    let mut p = CompactPrefix::default();
                    for i in 0..before {
                        p.push(i as i64);
                    }
                    p
                };
                let (mut pushes, mut iter, mut slice) = (fresh(), fresh(), fresh());
                let mut acc = before as i64;
                for &x in &v {
                    acc += f(x);
                    pushes.push(acc);
                }
                assert_eq!(
                    iter.extend_sums(before as i64, v.iter().map(|&x| f(x))),
                    acc
                );
                assert_eq!(slice.extend_sums_of(before as i64, &v, f), acc);
                for p in [&mut iter, &mut slice] {
                    assert_eq!(p.len(), pushes.len());
                    for i in 0..pushes.len() {
                        assert_eq!(p.get(i), pushes.get(i), "before {before}, len {len}, i {i}");
                    }
                    assert_eq!(
                        (p.base.len(), p.next_block, p.spilled.len()),
                        (pushes.base.len(), pushes.next_block, pushes.spilled.len())
                    );
                    p.push(acc + 7);
                    assert_eq!(p.get(pushes.len()), acc + 7);
                }
            }
        }
    }

    #[test]
    fn clear_keeps_nothing_but_capacity() {
        let mut p = CompactPrefix::default();
        p.extend_sums(0, [i64::MAX / 4, i64::MAX / 4].into_iter());
        p.clear();
        assert_eq!(p.len(), 0);
        p.push(0);
        p.push(3);
        assert_eq!((p.get(0), p.get(1)), (0, 3));
    }
}
