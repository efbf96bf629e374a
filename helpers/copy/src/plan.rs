//! Turning block-status extents into work: which ranges to read and write,
//! which to zero, which to skip.  Pure functions, no I/O.

use v2v_nbd::{ContextExtent, Extent};

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
    /// The target's minimum block size (1 if none): every request starts
    /// and ends on a multiple of it, except a tail at `disk_size`.
    pub align: u64,
    /// The disk's size (where a request may end unaligned).
    pub disk_size: u64,
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
    to_items(pieces, o)
}

/// Plan one window of pass 2 of an overlapped copy (`--delta`): `depth`
/// is the source's `qemu:allocation-depth` over the window.  Only what
/// the top image (the conversion's overlay) holds, depth 1, is copied:
/// written there, or zeroed or trimmed there (those read as zeroes and
/// become zero requests, [`zero_runs`]); the rest is what pass 1 copied
/// already and is skipped.  The target is never taken as zero: pass 1
/// wrote it.
pub fn plan_delta(depth: &[ContextExtent], o: &PlanOpts) -> (Vec<Item>, u64) {
    let mut pieces: Vec<(u64, u64, Class)> = Vec::new();
    for e in depth {
        let c = if e.flags == 1 {
            Class::Data { dst_zero: false }
        } else {
            Class::Skip
        };
        match pieces.last_mut() {
            Some(l) if l.2 == c && l.0 + l.1 == e.offset => l.1 += e.length,
            _ if e.length > 0 => pieces.push((e.offset, e.length, c)),
            _ => {}
        }
    }
    to_items(pieces, o)
}

/// Contiguous, sorted pieces into requests: aligned to the target's
/// block size, split at the request size.
fn to_items(mut pieces: Vec<(u64, u64, Class)>, o: &PlanOpts) -> (Vec<Item>, u64) {
    if o.align > 1 {
        pieces = align_pieces(&pieces, o.align, o.disk_size);
    }
    let data_align = DATA_ALIGN.max(o.align);
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
            Class::Data { dst_zero } => {
                split_data(off, len, o.request_size, data_align, |off, len| {
                    items.push(Item::Data { off, len, dst_zero })
                })
            }
        }
    }
    (items, skipped)
}

/// The class of a block made of parts of classes `a` and `b`: data if
/// either is (its target reads as zeroes only if the whole block's does),
/// else zero if either is, else skip.
fn combine(a: Class, b: Class) -> Class {
    let target_zero = |c: Class| match c {
        Class::Skip => true,
        Class::Zero => false,
        Class::Data { dst_zero } => dst_zero,
    };
    match (a, b) {
        (Class::Data { .. }, _) | (_, Class::Data { .. }) => Class::Data {
            dst_zero: target_zero(a) && target_zero(b),
        },
        (Class::Zero, _) | (_, Class::Zero) => Class::Zero,
        _ => Class::Skip,
    }
}

/// Round contiguous, sorted pieces out to blocks of `align` bytes (clamped
/// at `size`): a block that holds data anywhere is read and written whole,
/// one that holds source zeroes over a non-zero target is zeroed whole (its
/// other parts read as zeroes on both sides already), the rest is skipped.
/// Aligned pieces come back unchanged.
fn align_pieces(pieces: &[(u64, u64, Class)], align: u64, size: u64) -> Vec<(u64, u64, Class)> {
    let down = |x: u64| x / align * align;
    let up = |x: u64| x.div_ceil(align).saturating_mul(align).min(size.max(x));
    let mut out: Vec<(u64, u64, Class)> = Vec::new();
    let push = |out: &mut Vec<(u64, u64, Class)>, s: u64, e: u64, c: Class| {
        if e <= s {
            return;
        }
        match out.last_mut() {
            Some(last) if last.2 == c && last.0 + last.1 == s => last.1 = e - last.0,
            _ => out.push((s, e - s, c)),
        }
    };
    for &(off, len, c) in pieces {
        let (s, e) = (down(off), up(off + len));
        match out.last().copied() {
            // The previous piece was widened into this one's first block
            // (pieces are contiguous, so the overlap is at most that block).
            Some((ls, ll, lc)) if ls + ll > s => {
                let le = ls + ll;
                out.pop();
                push(&mut out, ls, s, lc);
                push(&mut out, s, le.min(e), combine(lc, c));
                push(&mut out, le, e, c);
            }
            _ => push(&mut out, s, e, c),
        }
    }
    out
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
/// possible, every cut on a multiple of `align` ([`DATA_ALIGN`] or the
/// target's larger minimum block size) (so a target with
/// clusters never sees a write that covers part of one at a cut).  Unlike
/// [`split`], a piece is not cut at multiples of `chunk`: a 1.5 MiB extent
/// that crosses a 2 MiB boundary stays one request, not two - on a guest's
/// scattered extents that is ~20 % fewer requests (each one a cluster
/// allocation on a qcow2 target).  A `chunk` that is not a multiple of
/// `align` falls back to [`split`].
fn split_data(off: u64, len: u64, chunk: u64, align: u64, mut f: impl FnMut(u64, u64)) {
    if chunk % align != 0 {
        return split(off, len, chunk, f);
    }
    let end = off + len;
    let mut at = off;
    while at < end {
        let mut next = at + chunk;
        if next < end {
            // Pull the cut back to an aligned offset (only the first cut
            // moves: after it, `at` is aligned and so is `at + chunk`).
            let aligned = next / align * align;
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
/// (A multiple of any NBD minimum block size, which is at most 64 KiB.)
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
            align: 1,
            disk_size: 1 << 40,
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

    fn aligned(align: u64, disk_size: u64, tz: bool) -> PlanOpts {
        PlanOpts {
            align,
            disk_size,
            ..opts(tz)
        }
    }
    const K4: u64 = 4096;

    /// Every request starts and ends on the alignment (or ends at the
    /// disk's end), requests do not overlap, and the requests plus the
    /// skipped bytes cover the window exactly.
    fn assert_aligned(items: &[Item], skipped: u64, align: u64, start: u64, end: u64) {
        let mut at = start;
        let mut covered = 0;
        for i in items {
            assert_eq!(i.off() % align, 0, "{items:?}");
            assert!(
                i.off() + i.len() == end || (i.off() + i.len()) % align == 0,
                "{items:?}"
            );
            assert!(i.off() >= at, "overlap: {items:?}");
            at = i.off() + i.len();
            covered += i.len();
        }
        assert!(at <= end);
        assert_eq!(covered + skipped, end - start, "{items:?}");
    }

    #[test]
    fn minimum_block_size_widens_data_and_shrinks_zeroes() {
        // A fresh ext4 image: 4 KiB data extents scattered between holes.
        let src = [
            ext(0, 272 * 1024, false),
            ext(272 * 1024, 4 * K4, true),
            ext(288 * 1024, K4, false),
            ext(292 * 1024, M - 292 * 1024, true),
            ext(M, K4, false),
            ext(M + K4, 3 * M - K4 - 100, true),
            ext(4 * M - 100, 100, false),
        ];
        let size = 4 * M;
        // Today's plan has unaligned data requests.
        let (items, _) = plan(&src, None, &aligned(1, size, false));
        assert_eq!(items[0], data(0, 272 * 1024));
        // Target zero: data widened to 64 KiB blocks, the rest skipped; the
        // last partial block stays a tail.
        let (items, skipped) = plan(&src, None, &aligned(K64, size, true));
        assert_aligned(&items, skipped, K64, 0, size);
        let dz = |off, len| Item::Data {
            off,
            len,
            dst_zero: true,
        };
        assert_eq!(
            items,
            vec![dz(0, 5 * K64), dz(M, K64), dz(4 * M - K64, K64)]
        );
        // Target not zero: the zero pieces shrink inward to whole blocks,
        // the widened data covers the rest.
        let (items, skipped) = plan(&src, None, &aligned(K64, size, false));
        assert_eq!(skipped, 0);
        assert_aligned(&items, 0, K64, 0, size);
        assert_eq!(
            items,
            vec![
                data(0, 5 * K64),
                Item::Zero {
                    off: 5 * K64,
                    len: M - 5 * K64
                },
                data(M, K64),
                Item::Zero {
                    off: M + K64,
                    len: 3 * M - 2 * K64
                },
                data(4 * M - K64, K64),
            ]
        );
        // A block with data over a target whose other part is not zero is
        // not dst_zero.
        let dst = [ext(0, K4, false), ext(K4, size - K4, true)];
        let src2 = [ext(0, 2 * K4, true), ext(2 * K4, size - 2 * K4, false)];
        let (items, _) = plan(&src2, Some(&dst), &aligned(K64, size, false));
        assert_eq!(items[0], data(0, K64));
        assert!(matches!(items[1], Item::Data { dst_zero: true, .. }));
        // A disk smaller than one block: one tail request.
        let (items, _) = plan(&[ext(0, 5000, false)], None, &aligned(K64, 5000, true));
        assert_eq!(items, vec![dz(0, 5000)]);
    }

    #[test]
    fn minimum_block_size_keeps_sector_aligned_plans() {
        let src = [
            ext(0, 272 * 1024, false),
            ext(272 * 1024, 4 * K4, true),
            ext(288 * 1024, 3 * M, false),
            ext(288 * 1024 + 3 * M, 512, true),
        ];
        let size = 288 * 1024 + 3 * M + 512;
        let dst = [ext(0, 7 * K4, false), ext(7 * K4, size - 7 * K4, true)];
        for tz in [false, true] {
            for d in [None, Some(&dst[..])] {
                let one = plan(&src, d, &aligned(1, size, tz));
                assert_eq!(plan(&src, d, &aligned(512, size, tz)), one);
            }
        }
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
    fn depth(offset: u64, length: u64, flags: u32) -> ContextExtent {
        ContextExtent {
            offset,
            length,
            flags,
        }
    }

    #[test]
    fn delta_copies_only_the_top_layer() {
        // Depth 0 (a hole in the whole chain) and 2 (the unmodified
        // source, copied by pass 1) are skipped; depth 1 (the overlay) is
        // read and written, even on a target that was created zeroed.
        let d = [
            depth(0, M, 2),
            depth(M, 2 * M + M / 2, 1),
            depth(3 * M + M / 2, M / 2, 0),
            depth(4 * M, M, 1),
            depth(5 * M, 3 * M, 2),
        ];
        let (items, skipped) = plan_delta(&d, &opts(true));
        assert_eq!(skipped, M + M / 2 + 3 * M);
        assert_eq!(
            items,
            vec![
                data(M, M),
                data(2 * M, M),
                data(3 * M, M / 2),
                data(4 * M, M)
            ]
        );
        let bytes: u64 = items.iter().map(|i| i.len()).sum();
        assert_eq!(bytes + skipped, 8 * M);
    }

    #[test]
    fn delta_of_an_untouched_overlay_is_empty() {
        let (items, skipped) = plan_delta(&[depth(0, 8 * M, 2)], &opts(false));
        assert!(items.is_empty());
        assert_eq!(skipped, 8 * M);
        let (items, skipped) = plan_delta(&[], &opts(false));
        assert!(items.is_empty() && skipped == 0);
    }

    #[test]
    fn delta_rounds_out_to_the_target_block_size() {
        // One 4 KiB write inside a 64 KiB-cluster target: the cluster.
        let mut o = opts(false);
        o.align = K64;
        let d = [
            depth(0, 4096, 2),
            depth(4096, 4096, 1),
            depth(8192, 1 << 20, 2),
        ];
        let (items, _) = plan_delta(&d, &o);
        assert_eq!(items, vec![data(0, K64)]);
    }
}
