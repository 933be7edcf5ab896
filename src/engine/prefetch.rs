//! Prefetch by touch: a pass that streams over a large array reads it block by block, first
//! loading one value per cache line of the block, then doing its work on the block.
//!
//! **Why.** A pass that does real work per value (a table increment, a float conversion, a few
//! branches) reads its input more slowly than memory could deliver it, and on the 2-core VMs
//! the benchmarks run on, the hardware prefetcher did not keep such a pass fed from memory.
//! Measured on the 1.6M session durations of the 10M-event sample, taken from memory (not
//! cache), natively: the statistics pass of [`super::outliers::duration_stats`] took 5.3 ms,
//! and 2.6 ms with an explicit prefetch instruction 2 KiB ahead; a plain sum over the same
//! values takes 1.4 ms. The touch loop has the same effect without an instruction WebAssembly
//! lacks: its loads are independent of each other and of the work, so the CPU keeps many of
//! them in flight and the block is in cache when the work reaches it (natively as fast as the
//! prefetch instruction: `duration_stats` in all 3.4–3.8 ms touched, 3.8–3.9 ms prefetched;
//! in wasm a gap change at 10M events 61–64 → 48–50 ms). A load placed inside the work loop
//! did not help: it holds up the loop until its line arrives. It changes no result, only when a
//! cache line is loaded.

/// Bytes per block: small enough to stay in the L1 cache while the work runs over it, large
/// enough that the touch loop has many loads in flight.
const BLOCK_BYTES: usize = 4096;

/// Items of `T` per block of [`BLOCK_BYTES`] (at least 2, and even: a pass may take its
/// values in pairs).
pub(crate) const fn block_items<T>() -> usize {
    let n = match BLOCK_BYTES.checked_div(std::mem::size_of::<T>()) {
        Some(n) => n,
        None => 2,
    };
    if n < 2 {
        2
    } else {
        n & !1
    }
}

/// Items of `T` per 64-byte cache line (at least 1).
const fn line_items<T>() -> usize {
    let size = std::mem::size_of::<T>();
    if size == 0 || size >= 64 {
        1
    } else {
        64 / size
    }
}

/// Load one value per cache line of `block`, so that the lines are on their way into the cache
/// before the work reads them.
#[inline(always)]
fn touch<T: Copy + Into<i64>>(block: &[T]) {
    let mut any = 0i64;
    for &x in block.iter().step_by(line_items::<T>()) {
        any ^= x.into();
    }
    // Keeps the loads: their values are otherwise unused.
    std::hint::black_box(any);
}

/// `values` in blocks (each of an even number of items but perhaps the last), each touched
/// (see the module docs) as the iterator hands it out.
#[inline(always)]
pub(crate) fn touched_blocks<T: Copy + Into<i64>>(values: &[T]) -> impl Iterator<Item = &[T]> {
    values.chunks(block_items::<T>()).inspect(|b| touch(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_values_in_order_with_even_lengths() {
        for n in [0usize, 1, 511, 512, 513, 1500] {
            let values: Vec<i64> = (0..n as i64).collect();
            let blocks: Vec<&[i64]> = touched_blocks(&values).collect();
            let flat: Vec<i64> = blocks.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(flat, values);
            let (last, full) = blocks
                .split_last()
                .map_or((None, &[][..]), |(l, f)| (Some(l), f));
            assert!(full.iter().all(|b| b.len() == 512), "n = {n}");
            assert!(last.is_none_or(|l| l.len() <= 512));
        }
        assert_eq!(block_items::<u16>(), 2048);
        assert_eq!(block_items::<[u8; 3000]>(), 2);
        assert_eq!(line_items::<i32>(), 16);
    }
}
