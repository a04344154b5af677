//! Where a started coroutine's [`CoroState`] lives: in the top
//! [`HEADER`] bytes of its own first segment, not on the heap. That page
//! is resident for as long as the coroutine exists anyway (its root frames
//! are right below), so a parked coroutine's bookkeeping costs its worker
//! one pointer (the slab entry) instead of a `CoroState` of its own: about
//! 150 bytes of RSS per parked coroutine.
//!
//! ```text
//!   first segment
//!   +------------------------+ top (page aligned)
//!   | CoroState (<= HEADER)  |  written once by `CoroBox::new`, then only
//!   |                        |  through the CoroBox, by its worker
//!   +------------------------+ top - HEADER = Stack::base of the coroutine
//!   | root frames, ... down  |  the coroutine's own stack: it never
//!   |                        |  writes at or above its base
//!   +------------------------+ bottom
//! ```
//!
//! Contract:
//! - A [`CoroBox`] owns the `CoroState` in its first segment, and through
//!   it (`co`, the `corosensei::Coroutine`) that segment: the memory stays
//!   mapped and unused by anything else for as long as the box exists.
//! - The state leaves its home only by [`CoroBox::into_inner`] (or the
//!   box's drop), which moves it onto the caller's stack *before* anything
//!   can give the segment back; nothing reads the header afterwards.
//! - Like the slab that holds it, a `CoroBox` is used only by the worker
//!   thread that started the coroutine (it is neither `Send` nor `Sync`).
//! - The bytes of the header count as stack bytes of the segment (as
//!   before: the metrics count whole segments); the coroutine's usable
//!   room is `HEADER` bytes less.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use corosensei::stack::{Stack, StackPointer};

use super::CoroState;
use crate::stack::Segment;

/// Bytes at the top of a first segment reserved for its `CoroState`.
/// A multiple of 16, so the coroutine's base stays 16-byte aligned.
pub(crate) const HEADER: usize = 256;

/// A coroutine's first segment as its `corosensei` stack: frames start
/// [`HEADER`] bytes below the top.
pub(crate) struct FirstSegment(pub(crate) Segment);

// SAFETY: `base` is `top - HEADER`: 16-byte aligned (top is page aligned,
// HEADER a multiple of 16) and inside the segment, whose stack bytes
// (>= 36 KiB, mapped read-write with a guard below `limit`, owned by this
// value alone: the Segment invariant) extend from `limit` up past it.
unsafe impl Stack for FirstSegment {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.0.top() - HEADER).expect("segment top is never below HEADER")
    }
    #[inline]
    fn limit(&self) -> StackPointer {
        self.0.limit()
    }
}

/// A started coroutine's state, kept at the top of its own first segment.
pub(crate) struct CoroBox<R, T>(NonNull<CoroState<R, T>>);

impl<R, T> CoroBox<R, T> {
    /// Move `st` into the header of its first segment.
    ///
    /// # Safety
    /// `top` must be the top of the [`FirstSegment`] that `st.co` (just
    /// created, not yet resumed) owns.
    pub(crate) unsafe fn new(st: CoroState<R, T>, top: usize) -> CoroBox<R, T> {
        const {
            assert!(std::mem::size_of::<CoroState<R, T>>() <= HEADER);
            assert!(std::mem::align_of::<CoroState<R, T>>() <= 16);
        }
        crate::stack::valgrind::addressable(top - HEADER, HEADER);
        let p = (top - HEADER) as *mut CoroState<R, T>;
        // SAFETY: `top - HEADER .. top` lies in the first segment (the
        // caller's contract) and so in its mapped,
        // read-write stack bytes, which `st.co` owns alone (the Segment
        // invariant); the coroutine's stack starts below it
        // (`FirstSegment::base`), so nothing else writes there; the address
        // is aligned for `CoroState` (16-byte aligned, checked above). The
        // write moves `st` in without dropping whatever bytes were there.
        unsafe { p.write(st) };
        match NonNull::new(p) {
            Some(p) => CoroBox(p),
            None => fatal!("a first segment whose top is {top:#x}"),
        }
    }

    /// Move the state out of its home (to give its segments back).
    pub(crate) fn into_inner(self) -> CoroState<R, T> {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: the box owns an initialised state at this address (see
        // `new`); `me` is never dropped, so it is read out exactly once and
        // the header is not used again.
        unsafe { me.0.as_ptr().read() }
    }
}

impl<R, T> CoroBox<R, T> {
    /// Ask the CPU to start loading the state's cache lines (and with them
    /// the translation of the stack's top page, one page-table walk per
    /// coroutine with 2 MiB slots): a worker calls it for coroutines it
    /// will resume a few slices later, several at once, so that their
    /// walks overlap each other and the slices in between.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        prefetch_lines(
            self.0.as_ptr().cast::<u8>(),
            std::mem::size_of::<CoroState<R, T>>(),
        );
    }

    /// Ask the CPU to start loading what a resume touches next: the task
    /// (its reference counts included), [`HINT_PREFETCH`] bytes from 16
    /// below its start hint (`StartOpts::hint`), and the coroutine's stack from a
    /// line below where it suspended up to its state, at most
    /// [`STACK_PREFETCH`] bytes (its return path runs through all of it);
    /// reads the state (call [`CoroBox::prefetch`] a slice earlier).
    #[inline(always)]
    pub(crate) fn prefetch_task(&self) {
        let arc = std::sync::Arc::as_ptr(self.task()).cast::<u8>();
        // The reference counts are the two words before the value.
        prefetch_lines(arc.wrapping_sub(16), 16 + std::mem::size_of::<T>());
        if self.hint > 16 {
            prefetch_lines((self.hint - 16) as *const u8, HINT_PREFETCH);
        }
        let sp = self.suspended.sp();
        let state = self.0.as_ptr() as usize;
        if sp > 64 && sp < state {
            let from = (sp - 64).max(state.saturating_sub(STACK_PREFETCH));
            let p = self.0.as_ptr().cast::<u8>().wrapping_sub(state - from);
            prefetch_lines(p, state - from);
        }
    }
}

/// The most stack bytes [`CoroBox::prefetch_task`] asks for (a parked
/// coroutine's frames are usually well under 1 KiB).
const STACK_PREFETCH: usize = 2048;

/// Bytes of a start hint's allocation [`CoroBox::prefetch_task`] asks
/// for (from its reference counts, 16 bytes below the hint).
const HINT_PREFETCH: usize = 128;

/// Ask the CPU to start loading the value of `a` with its reference
/// counts (a loop that will touch it a few iterations later: the close of
/// a channel waking its receivers' tasks). A hint: never faults.
#[inline(always)]
pub(crate) fn prefetch_arc<T>(a: &std::sync::Arc<T>) {
    let p = std::sync::Arc::as_ptr(a).cast::<u8>();
    prefetch_lines(p.wrapping_sub(16), 16 + std::mem::size_of::<T>());
}

/// Prefetch every cache line of `p .. p + len`.
#[inline(always)]
fn prefetch_lines(p: *const u8, len: usize) {
    let off = p as usize & 63;
    let line = p.wrapping_sub(off);
    let mut i = 0;
    while i < off + len {
        prefetch(line.wrapping_add(i));
        i += 64;
    }
}

#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` needs only SSE (part of the x86-64 baseline); it
    // is a hint that never faults and reads nothing into the program, so
    // any address is fine.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<R, T> Deref for CoroBox<R, T> {
    type Target = CoroState<R, T>;
    #[inline]
    fn deref(&self) -> &CoroState<R, T> {
        // SAFETY: initialised by `new`, owned by this box (module contract);
        // the borrow of `self` keeps it there.
        unsafe { self.0.as_ref() }
    }
}

impl<R, T> DerefMut for CoroBox<R, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut CoroState<R, T> {
        // SAFETY: as in `deref`; `&mut self` makes the access unique.
        unsafe { self.0.as_mut() }
    }
}

impl<R, T> Drop for CoroBox<R, T> {
    fn drop(&mut self) {
        // SAFETY: read out once (the box is being dropped), before the
        // state's own drop gives the segment back.
        drop(unsafe { self.0.as_ptr().read() });
    }
}
