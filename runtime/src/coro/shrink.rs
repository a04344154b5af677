//! Stack shrinking for parked coroutines (Go shrinks stacks at GC): the
//! pages of a parked coroutine's stack below its saved stack pointer hold
//! nothing live, so its worker's paced pass (`sched::shrink`) gives them
//! back to the OS. A connection handler that once parsed a big request does
//! not keep that memory while it waits.
//!
//! Contract:
//! - [`shrink`] runs only on the coroutine's own worker thread, in its
//!   scheduler loop between slices (no coroutine runs on the thread:
//!   `current_id() == 0`, checked), on a coroutine whose last slice ended
//!   in a park. Only that thread ever resumes or unwinds the coroutine, so
//!   it cannot run while its pages are given back: an unpark from any
//!   other thread only queues it (`sched::state`: `PARKED -> NOTIFIED`),
//!   and the queue is served by the same loop, after the pass. The park
//!   protocol needs no extra state for this.
//! - What is given back (`MADV_DONTNEED`: the pages read back as zero):
//!   1. the current segment below `sp - SHRINK_MARGIN`, rounded down to a
//!      page, where `sp` is the address `suspend` recorded just before the
//!      switch. The margin holds the rest of the suspend path: the
//!      remainder of `suspend`'s frame, `Yielder::suspend`, and the
//!      registers corosensei's switch saves below its stack pointer.
//!      Nothing else below `sp` is live: the stack grows down, a suspended
//!      coroutine gets no signal frame (signals run on the thread's current
//!      stack or the alternate signal stack), and the x86-64 128-byte red
//!      zone belongs to leaf functions, which a suspension path is not;
//!   2. the alternate segment (stress mode) below its recorded top, which
//!      `grow` keeps free for its next switch (coro/grow.rs);
//!   3. the whole spare segment: it holds no frame while the coroutine is
//!      suspended (a `grow` frame made it the spare when it returned).
//!
//!   Older segments of a chain are left alone: a switch that was needed
//!   leaves less than `RED_ZONE` below it.
//! - Only resident pages are counted (`/stack/shrunk:bytes`): `mincore`
//!   finds them first, and a range with none is not advised at all (one
//!   syscall instead of two for the common coroutine that never went deep).
//! - Each coroutine carries a [`ShrinkMark`] (in the low bits of its
//!   [`Suspended`] word, beside the recorded stack pointer): every slice
//!   ends with it `Ran`; a pass that finds it parked and `Ran` only marks
//!   it `Seen`; a later pass that still finds it `Seen` shrinks it and
//!   marks it `Shrunk`. So a coroutine is shrunk at most once per park,
//!   and only after it stayed parked across two passes.
//!
//! ```text
//!   current segment of a parked coroutine
//!   +------------------------+ top
//!   | live frames            |
//!   |- - - - - - - - - - - - | sp, recorded by suspend()
//!   | suspend path, saved    |
//!   | registers: the margin  |
//!   |- - - - - - - - - - - - | (sp - SHRINK_MARGIN) rounded down to a page
//!   | dead: MADV_DONTNEED    |   (only from its lowest resident page up)
//!   +------------------------+ bottom (red zone included)
//!   | guard                  |
//!   +------------------------+
//! ```

use super::*;
use crate::stack::os::PAGE;
use crate::stack::stack_bytes;

/// Bytes below the recorded stack pointer that a shrink never gives back
/// (see the module contract). The suspend path uses well under 1 KiB even
/// unoptimised; the rest is slack, and costs at most three pages per
/// parked coroutine that went deep.
pub const SHRINK_MARGIN: usize = 8 << 10;

/// Where a coroutine is in the shrink protocol (see the module contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShrinkMark {
    /// Resumed since a pass last looked at it.
    Ran = 0,
    /// Found parked by a pass, not resumed since.
    Seen = 1,
    /// Shrunk during this park.
    Shrunk = 2,
}

/// The stack pointer a coroutine last suspended at, rounded down to 16
/// bytes (0: never suspended), with its [`ShrinkMark`] in the low bits:
/// one word per coroutine, where a separate mark would cost another (a
/// parked coroutine pays for every byte of its `CoroState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Suspended(usize);

impl Suspended {
    /// Not suspended yet; mark `Ran`.
    pub(crate) const NEVER: Suspended = Suspended(0);

    /// Suspended at `sp`; mark `Ran`. Rounding down keeps more bytes, not
    /// fewer.
    #[inline]
    pub(crate) fn at(sp: usize) -> Suspended {
        Suspended(sp & !15)
    }

    pub(super) fn sp(self) -> usize {
        self.0 & !15
    }

    fn mark(self) -> ShrinkMark {
        match self.0 & 3 {
            0 => ShrinkMark::Ran,
            1 => ShrinkMark::Seen,
            _ => ShrinkMark::Shrunk,
        }
    }

    fn with(self, m: ShrinkMark) -> Suspended {
        Suspended(self.sp() | m as usize)
    }
}

/// What one look at a parked coroutine did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shrink {
    /// It ran since the last look: now marked, shrunk by a later pass if
    /// it stays parked.
    Marked,
    /// Shrunk now: resident bytes given back.
    Done(usize),
    /// Already shrunk during this park.
    Already,
}

/// Look at a parked coroutine (see the module contract: its own worker,
/// between slices) and shrink it if it stayed parked since the last look.
pub(crate) fn shrink<R, T>(st: &mut CoroState<R, T>) -> Shrink {
    match st.suspended.mark() {
        ShrinkMark::Shrunk => return Shrink::Already,
        ShrinkMark::Ran => {
            st.suspended = st.suspended.with(ShrinkMark::Seen);
            return Shrink::Marked;
        }
        ShrinkMark::Seen => st.suspended = st.suspended.with(ShrinkMark::Shrunk),
    }
    let sp = st.suspended.sp();
    let running = current_id();
    if running != 0 {
        fatal!(
            "shrinking coroutine {} while coroutine {running} runs on its worker",
            st.ident.id
        );
    }
    if st.co.done() || sp == 0 {
        return Shrink::Done(0);
    }
    let Some(bottom) = st.seg.seg_bottom.map(NonZeroUsize::get) else {
        fatal!("parked coroutine {} is on no segment", st.ident.id);
    };
    let top = bottom + stack_bytes(st.seg.class);
    if !(bottom..top).contains(&sp) {
        fatal!(
            "parked coroutine {} saved sp {sp:#x} outside its segment {bottom:#x}..{top:#x}",
            st.ident.id
        );
    }
    let mut bytes = give_back(st.ident.id, bottom, sp.saturating_sub(SHRINK_MARGIN));
    let alt = st.seg.alt;
    if let Some(ab) = alt.bottom {
        bytes += give_back(st.ident.id, ab.get(), alt.top);
    }
    if let Some(s) = &st.spare {
        bytes += give_back(st.ident.id, s.bottom(), s.top());
    }
    Shrink::Done(bytes)
}

/// Give back the resident pages of `lo..hi` (`hi` rounded down to a page),
/// from the lowest resident one up. Returns the resident bytes released.
fn give_back(id: u64, lo: usize, hi: usize) -> usize {
    let hi = hi & !(PAGE - 1);
    if hi <= lo {
        return 0;
    }
    let (bytes, lowest) = match os::resident(lo, hi - lo) {
        Ok(r) => r,
        Err(e) => fatal!("shrinking coroutine {id}: {e}"),
    };
    let Some(from) = lowest else {
        return 0;
    };
    // SAFETY: from..hi lies inside a segment of the parked coroutine `id`
    // (mapped read-write, in a live chunk), below every byte it has live
    // (module contract), and the coroutine cannot run while this runs (its
    // own worker's loop calls this between slices).
    if let Err(e) = unsafe { os::release(from, hi - from) } {
        fatal!("shrinking coroutine {id} ({from:#x}..{hi:#x}): {e}");
    }
    bytes
}
