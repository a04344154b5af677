//! One size class's dirty list in the segment pool: free segments whose
//! pages may be resident, oldest first, each with a bound on when it came
//! back.
//!
//! Contract:
//! - A segment takes one word here ([`PackedSeg`]), in blocks of
//!   [`BLOCK`] words that are allocated at their full size and never grow,
//!   shrink or move: a push writes one word into the newest block, or into
//!   a new block when that one is full. Nothing is copied as the list
//!   grows. (A `VecDeque<(Segment, Instant)>` took 32 bytes a segment and
//!   doubled, copying, as a million released coroutines gave back their
//!   segments: the page faults on its new buffers were a fifth of that
//!   release.) One emptied block is kept for the next push.
//! - Each segment has a stamp: nanoseconds since the pool's epoch, at or
//!   after the time it came back (the pool rounds its clock reading up to
//!   a multiple of `pool::STAMP_NS`). Stamps never decrease from the front
//!   to the back: a push older than the newest stamp takes the newest. So
//!   a segment is never taken for older than it is, and consecutive
//!   segments of one stamp share one record.
//! - [`DirtyList::pop_back`] takes the newest (reuse), [`DirtyList::pop_front`]
//!   the oldest (the scavenger).

use std::collections::VecDeque;

use super::{PackedSeg, Segment};

/// Segments per block: one 4 KiB allocation.
pub(super) const BLOCK: usize = 512;

/// `n` consecutive segments stamped `at`.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    n: usize,
    at: u64,
}

/// See the module doc.
#[derive(Default)]
pub(crate) struct DirtyList {
    /// Oldest first; each block has capacity for [`BLOCK`] segments and is
    /// never pushed to beyond its capacity. None is empty.
    blocks: VecDeque<VecDeque<PackedSeg>>,
    /// Oldest first; their `n` add up to `len`; none has `n == 0`.
    stamps: VecDeque<Stamp>,
    spare: Option<VecDeque<PackedSeg>>,
    len: usize,
}

impl DirtyList {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append `seg` as the newest, stamped `at` (or the newest stamp, if
    /// that is later).
    pub(crate) fn push(&mut self, seg: Segment, at: u64) {
        let full = self.blocks.back().is_none_or(|b| b.len() == b.capacity());
        if full {
            let b = match self.spare.take() {
                Some(b) => b,
                None => VecDeque::with_capacity(BLOCK),
            };
            self.blocks.push_back(b);
        }
        match self.blocks.back_mut() {
            Some(b) => b.push_back(seg.pack()),
            None => fatal!("dirty list: no block after adding one"),
        }
        match self.stamps.back_mut() {
            Some(s) if s.at >= at => s.n += 1,
            _ => self.stamps.push_back(Stamp { n: 1, at }),
        }
        self.len += 1;
    }

    /// Take the newest segment.
    pub(crate) fn pop_back(&mut self) -> Option<Segment> {
        let b = self.blocks.back_mut()?;
        let Some(p) = b.pop_back() else {
            fatal!("dirty list: an empty block at the back");
        };
        if b.is_empty() {
            let b = self.blocks.pop_back();
            self.keep(b);
        }
        Self::take_stamp(self.stamps.back_mut(), self.len);
        if self.stamps.back().is_some_and(|s| s.n == 0) {
            self.stamps.pop_back();
        }
        self.len -= 1;
        Some(p.unpack())
    }

    /// The stamp of the oldest segment.
    pub(crate) fn front_at(&self) -> Option<u64> {
        self.stamps.front().map(|s| s.at)
    }

    /// Take the oldest segment.
    pub(crate) fn pop_front(&mut self) -> Option<Segment> {
        let b = self.blocks.front_mut()?;
        let Some(p) = b.pop_front() else {
            fatal!("dirty list: an empty block at the front");
        };
        if b.is_empty() {
            let b = self.blocks.pop_front();
            self.keep(b);
        }
        Self::take_stamp(self.stamps.front_mut(), self.len);
        if self.stamps.front().is_some_and(|s| s.n == 0) {
            self.stamps.pop_front();
        }
        self.len -= 1;
        Some(p.unpack())
    }

    /// Every segment with its stamp, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&PackedSeg, u64)> {
        self.blocks
            .iter()
            .flatten()
            .zip(Self::stamp_seq(&self.stamps))
    }

    /// [`iter`](Self::iter), the segments mutable (their trimmed bit).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&mut PackedSeg, u64)> {
        self.blocks
            .iter_mut()
            .flatten()
            .zip(Self::stamp_seq(&self.stamps))
    }

    fn stamp_seq(stamps: &VecDeque<Stamp>) -> impl Iterator<Item = u64> + '_ {
        stamps.iter().flat_map(|s| std::iter::repeat_n(s.at, s.n))
    }

    fn take_stamp(s: Option<&mut Stamp>, len: usize) {
        match s {
            Some(s) if s.n > 0 => s.n -= 1,
            _ => fatal!("dirty list of {len} segments: its stamps do not cover them"),
        }
    }

    fn keep(&mut self, b: Option<VecDeque<PackedSeg>>) {
        if self.spare.is_none() {
            self.spare = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fake segments: page-aligned tops far from any mapping (never touched).
    fn seg(i: usize) -> Segment {
        // SAFETY: the segment is never used as a stack or its memory
        // touched; only its fields are read.
        unsafe { Segment::from_raw((i + 1) << 16, (i % 5) as u8) }
    }

    /// Against a VecDeque model, across block boundaries, from both ends:
    /// the same segments in the same order with the same stamps, the
    /// trimmed bit kept, blocks never grown.
    #[test]
    fn matches_a_deque_across_blocks() {
        let mut l = DirtyList::default();
        let mut model: VecDeque<(usize, u64)> = VecDeque::new();
        let mut next = 0;
        let mut at = 0u64;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            match rng % 8 {
                0..=4 => {
                    // Mostly rising times, sometimes an older one.
                    if rng.is_multiple_of(3) {
                        at += 1;
                    }
                    let t = if rng.is_multiple_of(11) {
                        at.saturating_sub(2)
                    } else {
                        at
                    };
                    let mut s = seg(next);
                    s.set_trimmed(step % 2 == 0);
                    l.push(s, t);
                    let t = model.back().map_or(t, |&(_, b)| t.max(b));
                    model.push_back((next, t));
                    next += 1;
                }
                5 | 6 => {
                    let got = l.pop_back().map(|s| s.top());
                    assert_eq!(got, model.pop_back().map(|(i, _)| seg(i).top()));
                }
                _ => {
                    assert_eq!(l.front_at(), model.front().map(|&(_, t)| t));
                    let got = l.pop_front().map(|s| s.top());
                    assert_eq!(got, model.pop_front().map(|(i, _)| seg(i).top()));
                }
            }
            assert_eq!(l.len(), model.len());
            assert!(l
                .blocks
                .iter()
                .all(|b| b.capacity() >= BLOCK && !b.is_empty()));
            if step % 997 == 0 {
                let got: Vec<(usize, u64)> = l.iter().map(|(p, t)| (p.top(), t)).collect();
                let want: Vec<(usize, u64)> =
                    model.iter().map(|&(i, t)| (seg(i).top(), t)).collect();
                assert_eq!(got, want);
            }
        }
        // Unpacking gives back class and trimmed bit.
        for (p, _) in l.iter_mut() {
            p.set_trimmed(true);
        }
        while let Some(s) = l.pop_front() {
            let i = (s.top() >> 16) - 1;
            assert_eq!(s.class(), (i % 5) as u8);
            assert!(s.is_trimmed());
        }
        assert!(l.is_empty() && l.stamps.is_empty() && l.blocks.is_empty());
    }

    /// A push older than the newest stamp takes the newest (never taken
    /// for older than it is) and shares its record.
    #[test]
    fn an_older_push_takes_the_newest_stamp() {
        let mut l = DirtyList::default();
        l.push(seg(0), 10);
        l.push(seg(1), 20);
        l.push(seg(2), 15);
        let ats: Vec<u64> = l.iter().map(|(_, t)| t).collect();
        assert_eq!(ats, [10, 20, 20]);
        assert_eq!(l.stamps.len(), 2);
    }
}
