//! Stack memory: segments, their size classes, the per-runtime pool and the
//! per-worker cache.
//!
//! A coroutine's stack is a chain of **segments**. Each segment is a slot of
//! a large anonymous mapping (a *chunk*, mapped with `memmap2`); every slot
//! has a guard region below its stack bytes:
//!
//! ```text
//!  high addresses
//!  +---------------------------+ <- top (Stack::base): first frame goes here
//!  |                           |
//!  |  budget: usable(class)    |   a check point switches segment when the
//!  |  bytes, 4 KiB << class    |   stack pointer is below  bottom + RED_ZONE
//!  |                           |
//!  +- - - - - - - - - - - - - -+ <- bottom + RED_ZONE
//!  |  red zone (RED_ZONE)      |   always left for the runtime's own paths
//!  +---------------------------+ <- bottom (Stack::limit)
//!  |  guard (GUARD bytes)      |   MADV_GUARD_INSTALL, else PROT_NONE;
//!  +---------------------------+   a touch raises SIGSEGV (see signal.rs)
//!  | next slot's top ...       |
//!  low addresses
//! ```
//!
//! A segment's *stack bytes* (what the metrics count) are `usable + RED_ZONE`;
//! the guard is address space only.
//!
//! Ownership: a free segment is in exactly one place: a worker's
//! `cache::SegCache` or the runtime's `pool::Pool` (dirty or released
//! list). A segment in use is held by exactly one coroutine (its first
//! segment, a grown segment owned by a `grow` frame, or its spare). Segments
//! are move-only values ([`Segment`] is not `Clone`), so a segment can never
//! be handed out twice by safe code.

pub(crate) mod cache;
pub(crate) mod dirty;
pub(crate) mod os;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod scavenge;
pub(crate) mod valgrind;

use std::num::NonZeroUsize;

use corosensei::stack::{Stack, StackPointer};

/// Runs a closure on a stack that does not move (a worker's system stack),
/// or directly on a plain thread. Handed down by the layer that owns the
/// system stack, so this layer never names it; used only on the slow path
/// that maps a chunk.
pub(crate) type OnFixedStack = fn(&mut dyn FnMut());

/// Bytes below every segment that fault on access.
pub const GUARD: usize = 16 << 10;
/// Bytes every check point keeps free for the runtime's own paths.
pub const RED_ZONE: usize = 32 << 10;
/// Usable bytes of class 0.
pub const MIN_USABLE: usize = 4 << 10;
/// Number of size classes: usable sizes 4 KiB .. 64 MiB.
pub const NCLASSES: usize = 15;
/// Grown segments double in size up to this class (1 MiB usable).
pub const GROW_CAP_CLASS: u8 = 8;
/// Bytes at the top of a free segment whose pages stay resident when it
/// goes back to the pool: what a typical coroutine touches again at once.
/// The pages below are given back (`stack::pool`, "trim"), so a segment a
/// deep call once dirtied does not keep them while it waits for reuse.
pub const TRIM_KEEP: usize = 8 << 10;

/// Usable (budget) bytes of a class.
#[inline]
pub const fn usable(class: u8) -> usize {
    MIN_USABLE << class
}

/// Stack bytes of a class: budget plus red zone.
#[inline]
pub const fn stack_bytes(class: u8) -> usize {
    usable(class) + RED_ZONE
}

/// Distance between slot tops in a chunk of this class.
#[inline]
pub const fn stride(class: u8) -> usize {
    stack_bytes(class) + GUARD
}

/// The class whose usable size is `bytes` (which must be a power of two in range).
pub fn class_of(bytes: usize) -> Option<u8> {
    if !bytes.is_power_of_two() || bytes < MIN_USABLE {
        return None;
    }
    let c = (bytes / MIN_USABLE).trailing_zeros() as usize;
    (c < NCLASSES).then_some(c as u8)
}

/// The class of the segment a grow from a segment of `cur` asks for.
#[inline]
pub(crate) const fn grow_class(cur: u8) -> u8 {
    if cur >= GROW_CAP_CLASS {
        cur
    } else {
        cur + 1
    }
}

/// Stack bytes of a chain that has grown once from a first segment of
/// `class`: the smallest `max_stack` with which a grow can succeed.
pub(crate) const fn min_chain_to_grow(class: u8) -> usize {
    stack_bytes(class) + stack_bytes(grow_class(class))
}

/// One stack segment: a move-only handle to a slot of a chunk.
///
/// Invariant: `top - stack_bytes(class) .. top` is mapped read-write memory
/// of a live chunk, with a guard region of `GUARD` bytes directly below;
/// the chunk outlives the segment (chunks are unmapped only when the pool is
/// dropped, after every segment has come back).
///
/// `trimmed`: no page below the top [`TRIM_KEEP`] bytes is resident, and
/// none can have become so (the segment has not been handed to a coroutine
/// since). Set by the pool when it gives those pages back (or for a fresh
/// slot) and by poisoning; cleared when a cache hands the segment out.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    /// Never 0 (mapped memory), so `Option<Segment>` (the spare) is two
    /// words with `None` as a zero top.
    top: NonZeroUsize,
    /// The class in the low byte, `trimmed` in bit 8: one whole word, so
    /// the struct has no padding. (With a `u8` and a `bool` the six padding
    /// bytes were copied too, by odd-sized loads that overlapped the byte
    /// stores of the previous copy: a store-forwarding stall on every hot
    /// split, half its time.)
    meta: usize,
}

const TRIMMED: usize = 1 << 8;

impl Segment {
    /// # Safety
    /// `top` must satisfy the type invariant and no other `Segment` may
    /// refer to the same slot; the slot must be untouched since mapped
    /// (it starts `trimmed`).
    pub(crate) unsafe fn from_raw(top: usize, class: u8) -> Segment {
        match NonZeroUsize::new(top) {
            Some(top) => Segment {
                top,
                meta: class as usize | TRIMMED,
            },
            None => fatal!("a segment of class {class} at address 0"),
        }
    }

    /// See the type's doc: pages below the top [`TRIM_KEEP`] bytes known
    /// to be gone.
    #[inline]
    pub(crate) fn is_trimmed(&self) -> bool {
        self.meta & TRIMMED != 0
    }

    /// Record whether the pages below the top [`TRIM_KEEP`] bytes are
    /// known to be gone (the caller just released them, or hands the
    /// segment out).
    #[inline]
    pub(crate) fn set_trimmed(&mut self, trimmed: bool) {
        self.meta = (self.meta & !TRIMMED) | if trimmed { TRIMMED } else { 0 };
    }

    /// Highest address (exclusive); the stack grows down from here.
    #[inline]
    pub fn top(&self) -> usize {
        self.top.get()
    }

    /// Lowest usable address (start of the red zone).
    #[inline]
    pub fn bottom(&self) -> usize {
        self.top.get() - stack_bytes(self.class())
    }

    /// Size class.
    #[inline]
    pub fn class(&self) -> u8 {
        self.meta as u8
    }

    /// Stack bytes (budget + red zone).
    #[inline]
    pub fn bytes(&self) -> usize {
        stack_bytes(self.class())
    }

    /// A borrowed view usable with `corosensei::on_stack`.
    #[inline]
    pub(crate) fn as_stack(&self) -> StackRef {
        StackRef {
            base: self.top.get(),
            limit: self.bottom(),
        }
    }
}

/// A [`Segment`] in one word, as the pool's dirty lists hold it: a slot's
/// top is page-aligned, so the class (4 bits) and the trimmed bit go in
/// the low bits. Move-only like the segment it came from (it *is* that
/// segment while it is packed).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PackedSeg(NonZeroUsize);

const PACK_CLASS: usize = 0xf;
const PACK_TRIMMED: usize = 0x10;
const _: () = assert!(NCLASSES <= PACK_CLASS + 1 && PACK_TRIMMED < 4096);

impl Segment {
    /// This segment in one word.
    #[inline]
    pub(crate) fn pack(self) -> PackedSeg {
        let top = self.top.get();
        if top & 0xfff != 0 {
            fatal!("packing a segment whose top {top:#x} is not page-aligned");
        }
        let t = if self.is_trimmed() { PACK_TRIMMED } else { 0 };
        match NonZeroUsize::new(top | self.class() as usize | t) {
            Some(w) => PackedSeg(w),
            None => fatal!("packing a segment at address 0"),
        }
    }
}

impl PackedSeg {
    /// The segment back.
    #[inline]
    pub(crate) fn unpack(self) -> Segment {
        let trimmed = self.is_trimmed();
        let meta = self.class() as usize | if trimmed { TRIMMED } else { 0 };
        match NonZeroUsize::new(self.top()) {
            Some(top) => Segment { top, meta },
            None => fatal!("unpacking a segment at address 0"),
        }
    }

    /// [`Segment::top`].
    #[inline]
    pub(crate) fn top(&self) -> usize {
        self.0.get() & !0xfff
    }

    /// [`Segment::class`].
    #[inline]
    pub(crate) fn class(&self) -> u8 {
        (self.0.get() & PACK_CLASS) as u8
    }

    /// [`Segment::bytes`].
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        stack_bytes(self.class())
    }

    /// [`Segment::bottom`].
    #[inline]
    pub(crate) fn bottom(&self) -> usize {
        self.top() - self.bytes()
    }

    /// [`Segment::is_trimmed`].
    #[inline]
    pub(crate) fn is_trimmed(&self) -> bool {
        self.0.get() & PACK_TRIMMED != 0
    }

    /// [`Segment::set_trimmed`].
    #[inline]
    pub(crate) fn set_trimmed(&mut self, trimmed: bool) {
        let w = (self.0.get() & !PACK_TRIMMED) | if trimmed { PACK_TRIMMED } else { 0 };
        match NonZeroUsize::new(w) {
            Some(w) => self.0 = w,
            None => fatal!("a packed segment at address 0"),
        }
    }
}

/// Bounds of memory that is usable as a stack, for `corosensei::on_stack`.
///
/// Only created from a [`Segment`] or a system stack, whose memory outlives
/// every use of the `StackRef`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StackRef {
    base: usize,
    limit: usize,
}

impl StackRef {
    /// # Safety
    /// `limit..base` must be mapped read-write memory with a guard below it
    /// that stays mapped for as long as the `StackRef` is used as a stack.
    pub(crate) unsafe fn new(base: usize, limit: usize) -> StackRef {
        StackRef { base, limit }
    }

    /// Call right before switching onto this stack: under valgrind, marks
    /// the bytes below `base` addressable (see `valgrind.rs`); otherwise a
    /// few no-op instructions.
    #[inline]
    pub(crate) fn entering(&self) {
        valgrind::entering(self.limit, self.base);
    }
}

// SAFETY: a StackRef is only built from a Segment (type invariant: mapped,
// guarded, >= 36 KiB) or a system stack (mapped with a guard, 1 MiB); both
// are 16-byte aligned because slot sizes are multiples of the page size.
unsafe impl Stack for StackRef {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.base).expect("stack base is never null")
    }
    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.limit).expect("stack limit is never null")
    }
}

// SAFETY: the Segment type invariant: mapped, guarded, aligned memory of at
// least MIN_USABLE + RED_ZONE bytes, owned by this value alone.
unsafe impl Stack for Segment {
    #[inline]
    fn base(&self) -> StackPointer {
        self.top
    }
    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom()).expect("segment bottom is never null")
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(class_of(4096), Some(0));
        assert_eq!(class_of(16 << 10), Some(2));
        assert_eq!(class_of(64 << 20), Some(14));
        assert_eq!(class_of(128 << 20), None);
        assert_eq!(class_of(3000), None);
        assert_eq!(class_of(12 << 10), None);
        assert_eq!(grow_class(2), 3);
        assert_eq!(grow_class(GROW_CAP_CLASS), GROW_CAP_CLASS);
        assert_eq!(grow_class(12), 12);
        assert_eq!(stride(0) % 4096, 0);
    }
}
