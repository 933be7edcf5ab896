//! Where a dropped file's bytes come from, read by range.
//!
//! Why ranges: a browser `File` is on disk, not in memory. Copying a 1 GB Parquet file into the
//! worker's wasm heap first costs that gigabyte for the whole load — and wasm memory never
//! shrinks, so the tab keeps it. Read by range, a Parquet load holds only the footer and the
//! projected column chunks of the row group being decoded: a few MB next to the store being built.
//! The worker implements [`ByteSource`] over `File.slice()` + `FileReaderSync`; natively (CLI,
//! tests) the bytes are in memory and a range is a zero-copy slice.
//!
//! [`Prefetched`] adapts a source to the `parquet` crate's [`ChunkReader`]: the ranges the loader
//! knows it will need (the footer; a row group's column chunks) are fetched up front in as few
//! reads as possible, and anything else the decoder asks for is read on demand.
//!
//! Why a read can also be asynchronous ([`ByteSource::read_async`]): in Chromium, reading a
//! `File` through a BYOB stream costs about half of what `FileReaderSync` does (10M events,
//! 185 MB: ~170 vs ~300 ms, docs/BENCHMARKS.md), and the reused stream buffer leaves no garbage
//! `ArrayBuffer`s behind. So the loader awaits the reads of row-group spans; the native entry
//! points run the same code on sources whose reads are ready at once.

use std::fmt;
use std::future::Future;
use std::io::Read;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// A file whose bytes can be read by range.
pub trait ByteSource: Send + Sync + fmt::Debug {
    /// Size of the file in bytes.
    fn len(&self) -> u64;

    /// True for a zero-byte file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes `start..start + len` (clamped to the end of the file). The error says why the
    /// file could not be read (e.g. it was moved or deleted after the drop).
    fn read(&self, start: u64, len: usize) -> Result<Bytes, String>;

    /// The whole file.
    fn read_all(&self) -> Result<Bytes, String> {
        let len = usize::try_from(self.len()).map_err(|_| "the file is too large".to_string())?;
        self.read(0, len)
    }

    /// [`ByteSource::read`] for a caller that can wait (the loader's row-group spans). Default:
    /// the synchronous read, ready at once.
    fn read_async(&self, start: u64, len: usize) -> PendingRead<'_> {
        Box::pin(std::future::ready(self.read(start, len)))
    }

    /// A hint that `read_async(start, len)` comes next, after the reads already asked for: a
    /// source that reads elsewhere (the worker's reader thread) starts on it while the caller
    /// decodes. Default: nothing.
    fn will_read(&self, _start: u64, _len: usize) {}
}

/// A read that may complete later (see [`ByteSource::read_async`]). Not `Send`: the worker's
/// reads are JS promises.
pub type PendingRead<'a> = Pin<Box<dyn Future<Output = Result<Bytes, String>> + 'a>>;

impl ByteSource for Bytes {
    fn len(&self) -> u64 {
        Bytes::len(self) as u64
    }

    fn read(&self, start: u64, len: usize) -> Result<Bytes, String> {
        let total = Bytes::len(self);
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(total);
        let end = start.saturating_add(len).min(total);
        Ok(self.slice(start..end))
    }
}

/// Bytes read on demand when the decoder asks beyond the prefetched ranges: a Thrift page header
/// is a few hundred bytes, so one such read covers it.
const READ_AHEAD: usize = 64 << 10;

/// Ranges closer than this are fetched as one read: the gap costs less than another round trip
/// to the browser's blob store.
const COALESCE_GAP: u64 = 1 << 20;

/// A [`ByteSource`] with some of its ranges already fetched, as the `parquet` crate's
/// [`ChunkReader`]. Cheap to clone (the fetched bytes are shared).
#[derive(Clone)]
pub(crate) struct Prefetched {
    source: Arc<dyn ByteSource>,
    /// Fetched `(start, bytes)`, sorted by start, not overlapping.
    ranges: Vec<(u64, Bytes)>,
}

impl fmt::Debug for Prefetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetched")
            .field("source", &self.source)
            .field("ranges", &self.ranges.len())
            .finish()
    }
}

fn external(e: String) -> ParquetError {
    ParquetError::General(format!("could not read the file: {e}"))
}

impl Prefetched {
    /// Fetch `wanted` (in any order; merged when they overlap or nearly touch).
    pub(crate) fn fetch(
        source: &Arc<dyn ByteSource>,
        wanted: &[Range<u64>],
    ) -> Result<Prefetched, String> {
        let ranges = Self::reads(source.len(), wanted)?
            .into_iter()
            .map(|(start, len)| Ok((start, source.read(start, len)?)))
            .collect::<Result<_, String>>()?;
        Ok(Prefetched {
            source: source.clone(),
            ranges,
        })
    }

    /// Announce the reads a later [`Prefetched::fetch_async`] of `wanted` will make
    /// ([`ByteSource::will_read`]).
    pub(crate) fn announce(source: &Arc<dyn ByteSource>, wanted: &[Range<u64>]) {
        for (start, len) in Self::reads(source.len(), wanted).unwrap_or_default() {
            source.will_read(start, len);
        }
    }

    /// [`Prefetched::fetch`] through [`ByteSource::read_async`], one read after another.
    pub(crate) async fn fetch_async(
        source: &Arc<dyn ByteSource>,
        wanted: &[Range<u64>],
    ) -> Result<Prefetched, String> {
        let mut fetched = Prefetched {
            source: source.clone(),
            ranges: Vec::new(),
        };
        for (start, len) in Self::reads(source.len(), wanted)? {
            let bytes = source.read_async(start, len).await?;
            fetched.ranges.push((start, bytes));
        }
        Ok(fetched)
    }

    /// The reads `(start, len)` that fetch `wanted` from a file of `size` bytes: clamped,
    /// sorted, and merged when they overlap or are less than [`COALESCE_GAP`] apart.
    fn reads(size: u64, wanted: &[Range<u64>]) -> Result<Vec<(u64, usize)>, String> {
        let mut spans: Vec<Range<u64>> = wanted
            .iter()
            .map(|r| r.start.min(size)..r.end.min(size))
            .filter(|r| r.start < r.end)
            .collect();
        spans.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(spans.len());
        for r in spans {
            match merged.last_mut() {
                Some(last) if r.start <= last.end.saturating_add(COALESCE_GAP) => {
                    last.end = last.end.max(r.end);
                }
                _ => merged.push(r),
            }
        }
        merged
            .into_iter()
            .map(|r| {
                let len = usize::try_from(r.end - r.start).map_err(|_| "a range is too large")?;
                Ok((r.start, len))
            })
            .collect()
    }

    /// `len` bytes at `start` if they were fetched.
    pub(crate) fn bytes_at(&self, start: u64, len: usize) -> Option<Bytes> {
        self.cached_from(start)
            .filter(|b| b.len() >= len)
            .map(|b| b.slice(..len))
    }

    /// The fetched bytes from `start` to the end of the fetched range that contains it.
    fn cached_from(&self, start: u64) -> Option<Bytes> {
        let i = self.ranges.partition_point(|(s, _)| *s <= start);
        let (s, b) = self.ranges.get(i.checked_sub(1)?)?;
        let off = usize::try_from(start - s).ok()?;
        (off < b.len()).then(|| b.slice(off..))
    }
}

impl Length for Prefetched {
    fn len(&self) -> u64 {
        self.source.len()
    }
}

impl ChunkReader for Prefetched {
    type T = SourceRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SourceRead> {
        let buf = match self.cached_from(start) {
            Some(b) => b,
            None => self.source.read(start, READ_AHEAD).map_err(external)?,
        };
        Ok(SourceRead {
            source: self.source.clone(),
            next: start + buf.len() as u64,
            buf,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        if let Some(b) = self.cached_from(start) {
            if b.len() >= length {
                return Ok(b.slice(..length));
            }
        }
        let b = self.source.read(start, length).map_err(external)?;
        if b.len() < length {
            return Err(ParquetError::EOF(format!(
                "wanted {length} bytes at offset {start}, the file has {}",
                self.source.len()
            )));
        }
        Ok(b)
    }
}

/// A [`Read`] from an offset to the end of the file, served from prefetched bytes first and then
/// in [`READ_AHEAD`] pieces.
pub(crate) struct SourceRead {
    source: Arc<dyn ByteSource>,
    buf: Bytes,
    /// File offset just after `buf`.
    next: u64,
}

impl Read for SourceRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() && self.next < self.source.len() {
            self.buf = self
                .source
                .read(self.next, READ_AHEAD)
                .map_err(std::io::Error::other)?;
            self.next += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len());
        self.buf.copy_to_slice(&mut out[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// In-memory bytes that count reads, to check what is fetched when.
    #[derive(Debug)]
    struct Counting {
        bytes: Bytes,
        reads: AtomicUsize,
    }

    impl ByteSource for Counting {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn read(&self, start: u64, len: usize) -> Result<Bytes, String> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            ByteSource::read(&self.bytes, start, len)
        }
    }

    fn counting(n: usize) -> Arc<Counting> {
        Arc::new(Counting {
            bytes: Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
            reads: AtomicUsize::new(0),
        })
    }

    #[test]
    fn bytes_ranges_are_clamped() {
        let b = Bytes::from_static(b"0123456789");
        assert_eq!(ByteSource::read(&b, 8, 5).unwrap().as_ref(), b"89");
        assert_eq!(ByteSource::read(&b, 20, 5).unwrap().len(), 0);
        assert_eq!(b.read_all().unwrap(), b);
    }

    #[test]
    fn near_ranges_are_fetched_in_one_read_and_served_from_it() {
        let c = counting(3 << 20);
        let src: Arc<dyn ByteSource> = c.clone();
        let p = Prefetched::fetch(
            &src,
            &[2000..3000, 10..100, 50..60, (3 << 20) - 10..4 << 20],
        )
        .unwrap();
        // 10..3000 merged; the tail is more than COALESCE_GAP away.
        assert_eq!(c.reads.load(Ordering::Relaxed), 2);
        assert_eq!(p.ranges.len(), 2);
        assert_eq!(p.get_bytes(2500, 10).unwrap(), c.bytes.slice(2500..2510));
        assert_eq!(c.reads.load(Ordering::Relaxed), 2);
        let mut r = p.get_read(2990).unwrap();
        let mut out = vec![0u8; 20];
        r.read_exact(&mut out).unwrap();
        assert_eq!(out, c.bytes.slice(2990..3010));
        // 2990..3000 came from the cache, the rest from one read-ahead.
        assert_eq!(c.reads.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn ranges_outside_the_prefetch_are_read_on_demand() {
        let c = counting(1000);
        let src: Arc<dyn ByteSource> = c.clone();
        let p = Prefetched::fetch(&src, &[]).unwrap();
        assert_eq!(p.get_bytes(100, 50).unwrap(), c.bytes.slice(100..150));
        assert!(p.get_bytes(990, 50).is_err(), "past the end is an error");
        let mut all = Vec::new();
        p.get_read(900).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all, c.bytes.slice(900..));
    }
}
