//! Turning block-status extents into work: which ranges to read and write,
//! which to zero, which to skip.  Pure functions, no I/O.

use v2v_nbd::Extent;

/// Largest zero request we send (libnbd 1.14 rejects counts of 4 GiB or
/// more; 1 GiB keeps requests aligned and cancellation quick).
pub const MAX_ZERO: u64 = 1 << 30;

/// One unit of work for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// Read `len` bytes at `off` from the source and write them to the
    /// target (or a zero request / nothing if they turn out to be zeroes).
    /// `dst_zero`: the target already reads as zeroes there.
    Data { off: u64, len: u64, dst_zero: bool },
    /// Zero request on the target (the source reads as zeroes there).
    Zero { off: u64, len: u64 },
    /// The target cannot zero: write a buffer of zeroes.
    WriteZero { off: u64, len: u64 },
}

impl Item {
    pub fn off(&self) -> u64 {
        match *self {
            Item::Data { off, .. } | Item::Zero { off, .. } | Item::WriteZero { off, .. } => off,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn len(&self) -> u64 {
        match *self {
            Item::Data { len, .. } | Item::Zero { len, .. } | Item::WriteZero { len, .. } => len,
        }
    }
}

/// How to plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanOpts {
    /// Largest read/write request.
    pub request_size: u64,
    /// The whole target reads as zeroes before the copy.
    pub target_is_zero: bool,
    /// The target supports zero requests.
    pub can_zero: bool,
}

/// Piece classes, before splitting into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Skip,
    Zero,
    Data { dst_zero: bool },
}

/// Plan one window of the disk.  `src` covers the window exactly (as
/// [`v2v_nbd::Handle::block_status`] returns it); `dst`, if given, is the
/// target's status over the same window.  Returns the work items in offset
/// order and the number of bytes skipped (neither read nor written).
pub fn plan(src: &[Extent], dst: Option<&[Extent]>, o: &PlanOpts) -> (Vec<Item>, u64) {
    let mut pieces: Vec<(u64, u64, Class)> = Vec::new();
    let mut push = |off: u64, len: u64, c: Class| {
        if len == 0 {
            return;
        }
        if let Some(last) = pieces.last_mut() {
            if last.2 == c && last.0 + last.1 == off {
                last.1 += len;
                return;
            }
        }
        pieces.push((off, len, c));
    };
    let dst = dst.unwrap_or(&[]);
    let mut j = 0;
    for e in src {
        let mut at = e.offset;
        while at < e.end() {
            // The target extent containing `at`, if any.
            while j < dst.len() && dst[j].end() <= at {
                j += 1;
            }
            let (dz, until) = match dst.get(j) {
                Some(d) if d.offset <= at => (d.zero, d.end().min(e.end())),
                Some(d) => (false, d.offset.min(e.end())),
                None => (false, e.end()),
            };
            let dz = dz || o.target_is_zero;
            let c = match (e.zero, dz) {
                (true, true) => Class::Skip,
                (true, false) => Class::Zero,
                (false, dst_zero) => Class::Data { dst_zero },
            };
            push(at, until - at, c);
            at = until;
        }
    }
    let mut items = Vec::new();
    let mut skipped = 0;
    for (off, len, c) in pieces {
        match c {
            Class::Skip => skipped += len,
            Class::Zero if o.can_zero => split(off, len, MAX_ZERO, |off, len| {
                items.push(Item::Zero { off, len })
            }),
            Class::Zero => split(off, len, o.request_size, |off, len| {
                items.push(Item::WriteZero { off, len })
            }),
            Class::Data { dst_zero } => split_data(off, len, o.request_size, |off, len| {
                items.push(Item::Data { off, len, dst_zero })
            }),
        }
    }
    (items, skipped)
}

/// Split `[off, off+len)` at multiples of `chunk` (so requests stay aligned).
fn split(off: u64, len: u64, chunk: u64, mut f: impl FnMut(u64, u64)) {
    let end = off + len;
    let mut at = off;
    while at < end {
        let next = ((at / chunk) + 1) * chunk;
        let n = next.min(end) - at;
        f(at, n);
        at += n;
    }
}

/// Cuts between data requests fall on multiples of this (a qcow2 cluster).
const DATA_ALIGN: u64 = 64 << 10;

/// Split a data piece into as few requests of at most `chunk` bytes as
/// possible, every cut on a multiple of [`DATA_ALIGN`] (so a target with
/// clusters never sees a write that covers part of one at a cut).  Unlike
/// [`split`], a piece is not cut at multiples of `chunk`: a 1.5 MiB extent
/// that crosses a 2 MiB boundary stays one request, not two - on a guest's
/// scattered extents that is ~20 % fewer requests (each one a cluster
/// allocation on a qcow2 target).  A `chunk` that is not a multiple of
/// `DATA_ALIGN` falls back to [`split`].
fn split_data(off: u64, len: u64, chunk: u64, mut f: impl FnMut(u64, u64)) {
    if chunk % DATA_ALIGN != 0 {
        return split(off, len, chunk, f);
    }
    let end = off + len;
    let mut at = off;
    while at < end {
        let mut next = at + chunk;
        if next < end {
            // Pull the cut back to an aligned offset (only the first cut
            // moves: after it, `at` is aligned and so is `at + chunk`).
            let aligned = next / DATA_ALIGN * DATA_ALIGN;
            if aligned > at {
                next = aligned;
            }
        }
        let n = next.min(end) - at;
        f(at, n);
        at += n;
    }
}

/// Whether a buffer is all zero bytes (vectorises well: OR-folds 4 KiB
/// blocks and stops at the first non-zero one).
pub fn is_zero(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(4096);
    for c in &mut chunks {
        if c.iter().fold(0u8, |a, &x| a | x) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&x| x == 0)
}

/// Granularity of zero detection inside a read buffer.
pub const ZERO_GRAIN: usize = 64 << 10;

/// Runs of data and zeroes in a buffer, at [`ZERO_GRAIN`] granularity:
/// `(start, end, is_zero)` in order, adjacent runs of the same kind merged.
pub fn zero_runs(b: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut runs: Vec<(usize, usize, bool)> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let end = (at + ZERO_GRAIN).min(b.len());
        let z = is_zero(&b[at..end]);
        match runs.last_mut() {
            Some(last) if last.2 == z => last.1 = end,
            _ => runs.push((at, end, z)),
        }
        at = end;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(offset: u64, length: u64, zero: bool) -> Extent {
        Extent {
            offset,
            length,
            zero,
            hole: zero,
        }
    }
    const M: u64 = 1 << 20;
    fn opts(tz: bool) -> PlanOpts {
        PlanOpts {
            request_size: M,
            target_is_zero: tz,
            can_zero: true,
        }
    }

    fn data(off: u64, len: u64) -> Item {
        Item::Data {
            off,
            len,
            dst_zero: false,
        }
    }
    const K64: u64 = DATA_ALIGN;

    #[test]
    fn data_is_split_into_fewest_aligned_requests() {
        // 0.75 MiB from 0.5 MiB, across the 1 MiB boundary: one request, not two.
        let (items, skipped) = plan(&[ext(M / 2, M / 2 + M / 4, false)], None, &opts(false));
        assert_eq!(skipped, 0);
        assert_eq!(items, vec![data(M / 2, M / 2 + M / 4)]);
        // 2.5 MiB from an aligned offset: 1M, 1M, 0.5M.
        let (items, _) = plan(&[ext(M / 2, 2 * M + M / 2, false)], None, &opts(false));
        assert_eq!(
            items,
            vec![
                data(M / 2, M),
                data(M / 2 + M, M),
                data(M / 2 + 2 * M, M / 2)
            ]
        );
        // An unaligned start: the first cut is pulled back to a 64 KiB
        // multiple, every later request is whole and aligned.
        let (items, _) = plan(&[ext(100, 2 * M, false)], None, &opts(false));
        assert_eq!(
            items,
            vec![data(100, M - 100), data(M, M), data(2 * M, 100)]
        );
        let (items, _) = plan(&[ext(K64 + 7, 3 * M, false)], None, &opts(false));
        assert_eq!(items.len(), 4);
        assert!(items.iter().all(|i| i.len() <= M));
        assert!(items[1..].iter().all(|i| i.off() % K64 == 0));
        assert_eq!(items.iter().map(|i| i.len()).sum::<u64>(), 3 * M);
    }

    #[test]
    fn odd_request_sizes_split_on_their_own_grid() {
        let o = PlanOpts {
            request_size: 100_000,
            ..opts(false)
        };
        let (items, _) = plan(&[ext(50_000, 200_000, false)], None, &o);
        assert_eq!(
            items,
            vec![
                data(50_000, 50_000),
                data(100_000, 100_000),
                data(200_000, 50_000)
            ]
        );
    }

    #[test]
    fn holes_zeroed_or_skipped() {
        let src = [
            ext(0, M, false),
            ext(M, 3 * M, true),
            ext(4 * M, 100, false),
        ];
        let (items, skipped) = plan(&src, None, &opts(false));
        assert_eq!(skipped, 0);
        assert_eq!(items[1], Item::Zero { off: M, len: 3 * M });
        assert_eq!(
            items[2],
            Item::Data {
                off: 4 * M,
                len: 100,
                dst_zero: false
            }
        );
        let (items, skipped) = plan(&src, None, &opts(true));
        assert_eq!(skipped, 3 * M);
        assert_eq!(items.len(), 2);
        assert!(matches!(items[0], Item::Data { dst_zero: true, .. }));
    }

    #[test]
    fn target_status_decides_per_range() {
        // Source: zero 0..4M.  Target: data 0..1M, zero 1M..4M.
        let src = [ext(0, 4 * M, true)];
        let dst = [ext(0, M, false), ext(M, 3 * M, true)];
        let (items, skipped) = plan(&src, Some(&dst), &opts(false));
        assert_eq!(skipped, 3 * M);
        assert_eq!(items, vec![Item::Zero { off: 0, len: M }]);
        // Source data over the same target: dst_zero follows the target.
        let src = [ext(0, 4 * M, false)];
        let (items, _) = plan(&src, Some(&dst), &opts(false));
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[0],
            Item::Data {
                off: 0,
                len: M,
                dst_zero: false
            }
        );
        assert_eq!(
            items[3],
            Item::Data {
                off: 3 * M,
                len: M,
                dst_zero: true
            }
        );
    }

    #[test]
    fn big_zero_runs_split_and_fallback_writes() {
        let src = [ext(0, 5 << 30, true)];
        let (items, _) = plan(&src, None, &opts(false));
        assert_eq!(items.len(), 5);
        assert!(items.iter().all(|i| i.len() == MAX_ZERO));
        let o = PlanOpts {
            can_zero: false,
            ..opts(false)
        };
        let (items, _) = plan(&[ext(0, 3 * M + 5, true)], None, &o);
        assert_eq!(items.len(), 4);
        assert_eq!(items[3], Item::WriteZero { off: 3 * M, len: 5 });
    }

    #[test]
    fn zero_detection() {
        let mut b = vec![0u8; 3 * ZERO_GRAIN + 7];
        assert!(is_zero(&b));
        assert_eq!(zero_runs(&b), vec![(0, b.len(), true)]);
        b[ZERO_GRAIN + 1] = 1;
        *b.last_mut().unwrap() = 9;
        assert!(!is_zero(&b));
        assert_eq!(
            zero_runs(&b),
            vec![
                (0, ZERO_GRAIN, true),
                (ZERO_GRAIN, 2 * ZERO_GRAIN, false),
                (2 * ZERO_GRAIN, 3 * ZERO_GRAIN, true),
                (3 * ZERO_GRAIN, b.len(), false),
            ]
        );
    }
}
