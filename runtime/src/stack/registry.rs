//! Process-wide, lock-free registry of stack chunks, read by the SIGSEGV
//! handler to tell a guard-region hit from any other fault.
//!
//! Writers (the pool, under its lock) append entries and clear them before a
//! chunk is unmapped; the signal handler only performs atomic loads, so it is
//! async-signal-safe. An entry is `(start, len, stride, kind)`; a fault at
//! `addr` is a guard hit when `addr` is in the mapping and its offset within
//! its slot is below `GUARD` (slots are laid out `[guard][stack bytes]` from
//! low to high). Segment chunks have one slot per segment; a worker's system
//! stack is one slot.
//!
//! Entries are only removed when their mapping is about to be unmapped (pool
//! drop, worker exit); a handler racing with the reuse of a slot could pair
//! an old start with a new length, which at worst misnames a fault that is
//! fatal anyway.

use std::sync::atomic::{
    AtomicUsize,
    Ordering::{Acquire, Release},
};

use super::GUARD;

const MAX_CHUNKS: usize = 8192;

struct Entry {
    start: AtomicUsize,
    len: AtomicUsize,
    stride: AtomicUsize,
    kind: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    stride: AtomicUsize::new(0),
    kind: AtomicUsize::new(0),
};

static ENTRIES: [Entry; MAX_CHUNKS] = [EMPTY; MAX_CHUNKS];
static HIGH: AtomicUsize = AtomicUsize::new(0);
static LOCK: parking_lot::Mutex<()> = parking_lot::const_mutex(());

/// Record a chunk. Returns the entry index for [`remove`], or `None` when the
/// table is full (the chunk still works; only overflow reports lose detail).
pub(crate) fn add(start: usize, len: usize, stride: usize, kind: GuardKind) -> Option<usize> {
    let _g = LOCK.lock();
    let high = HIGH.load(Acquire);
    let idx = (0..high)
        .find(|&i| ENTRIES[i].start.load(Acquire) == 0)
        .or((high < MAX_CHUNKS).then_some(high))?;
    let e = &ENTRIES[idx];
    e.len.store(len, Release);
    e.stride.store(stride, Release);
    e.kind.store(kind as usize, Release);
    e.start.store(start, Release);
    if idx == high {
        HIGH.store(high + 1, Release);
    }
    Some(idx)
}

/// Forget a chunk (before unmapping it).
pub(crate) fn remove(idx: usize) {
    let _g = LOCK.lock();
    ENTRIES[idx].start.store(0, Release);
}

/// What a registered mapping holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// Coroutine stack segments.
    Segment = 0,
    /// A worker's system stack.
    SystemStack = 1,
}

/// A guard-region hit: the bounds of the segment whose guard was touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardHit {
    /// Segment or system stack.
    pub kind: GuardKind,
    /// Lowest address of the guard region.
    pub guard_lo: usize,
    /// Lowest stack address of the segment (top of the guard).
    pub seg_lo: usize,
    /// Highest stack address of the segment (exclusive).
    pub seg_hi: usize,
}

/// Is `addr` inside the guard region of a registered segment?
/// Async-signal-safe: atomic loads and arithmetic only.
pub fn lookup_guard(addr: usize) -> Option<GuardHit> {
    let high = HIGH.load(Acquire);
    for e in &ENTRIES[..high] {
        let start = e.start.load(Acquire);
        if start == 0 || addr < start {
            continue;
        }
        let len = e.len.load(Acquire);
        if addr - start >= len {
            continue;
        }
        let s = e.stride.load(Acquire);
        if s == 0 {
            continue;
        }
        let off = (addr - start) % s;
        let slot = start + (addr - start) / s * s;
        if off < GUARD {
            let kind = if e.kind.load(Acquire) == GuardKind::SystemStack as usize {
                GuardKind::SystemStack
            } else {
                GuardKind::Segment
            };
            return Some(GuardHit {
                kind,
                guard_lo: slot,
                seg_lo: slot + GUARD,
                seg_hi: slot + s,
            });
        }
        return None;
    }
    None
}
