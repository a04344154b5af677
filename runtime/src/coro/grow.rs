//! The check point: [`grow`] and everything it needs to switch segments
//! (the alternate pairing, the spare, `switch_to` and its margin).
//!
//! A switch picks, in order: the alternate (stress mode only), the spare,
//! a segment from the worker cache. Outside the stress mode a split that
//! the spare can serve never reaches `grow_slow`: `grow_split`'s spare-hit
//! path saves only the three `SegState` fields it changes (there is no
//! alternate to keep), touches no lock, allocator, syscall, `Rc` or dyn
//! call, and its `SpareFrame` puts the segment back as the spare. The
//! alternate pairing:
//!
//! ```text
//! Stress mode: every check point switches. Two segments, A and B, take turns;
//! each switch continues the *other* segment below the point where it was left.
//!
//!       segment A                   segment B
//!    +---------------+ A.top     +---------------+ B.top
//!    | the caller's  |           | f1: grow #1's |
//!    | frames        |           | closure       |
//!    |- - - - - - - -| sp0       |- - - - - - - -| sp1  (grow #2 called here)
//!    | SWITCH_MARGIN |           | SWITCH_MARGIN |
//!    |- - - - - - - -| alt.top   |- - - - - - - -| alt.top
//!    | f2: grow #2's |           | f3: grow #3's |
//!    | closure       |           | closure       |
//!    |- - - - - - - -| sp2       |      ...      |
//!    |      ...      |           |               |
//!    +---------------+ A.bottom  +---------------+ B.bottom
//!    | guard         |           | guard         |
//!    +---------------+           +---------------+
//!
//! grow #1 (on A, no alternate): take B (the spare, else the worker cache);
//!         alt := A, and switch_to records alt.top := sp0 - SWITCH_MARGIN;
//!         f1 runs on B from its top.
//! grow #2 (on B): the alternate A has >= 2 * RED_ZONE below alt.top, so f2
//!         runs on A from alt.top down; alt := B, alt.top := sp1 - margin.
//! grow #3 (on A): the alternate B has room: f3 runs on B below sp1;
//!         alt := A, alt.top := sp2 - margin.   ... and so on.
//! When the alternate has less than 2 * RED_ZONE left, a new segment C is
//! taken (the alternate becomes the segment just left): the pair is now
//! (that segment, C).
//!
//! Returning (or unwinding) from f3, f2, f1: each switch's frame (AltFrame
//! for an alternate, SegmentFrame for a new segment) restores the SegState
//! saved at its grow, so the walk back goes B -> A -> B -> A with the
//! alternate exactly as it was at each point; a SegmentFrame also keeps its
//! segment as the spare (or frees it in poison mode).
//!
//! Without the stress mode no alternate is recorded: a switch that was
//! needed leaves less than a red zone behind, never the 2 * RED_ZONE an
//! alternate must have, so a new segment goes straight to on_stack.
//! ```

use super::*;
use crate::stack::{grow_class, RED_ZONE};
use std::mem::ManuallyDrop;

/// A stack check point.
///
/// If fewer than [`RED_ZONE`](crate::RED_ZONE) bytes are left in the current segment (or the
/// stress mode is on), `f` runs on another segment: the coroutine's spare if
/// it has one, else one from this worker's cache. Otherwise `f` runs in
/// place. Off a coroutine, and on the system stack, `f` always runs in place.
///
/// Put a check point in every frame of a deep recursion:
///
/// ```
/// fn depth(n: u64) -> u64 {
///     if n == 0 { 0 } else { bamboo::grow(|| depth(n - 1)) + 1 }
/// }
/// let rt = bamboo::Runtime::new()?;
/// assert_eq!(rt.block_on(|| depth(100_000)), 100_000);
/// # Ok::<(), bamboo::Error>(())
/// ```
///
/// # Panics
/// When the coroutine's segments would exceed `max_stack`, with a message
/// containing `stack exceeds` and the limit in bytes.
#[inline]
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    // One load and one compare (Go's prologue against `stackguard0`): the
    // guard is the segment bottom plus the red zone, 0 off a coroutine
    // segment, and poisoned when a flag is up (see `coro::Bound`).
    let guard = CUR.with(|c| c.bound.guard.load(Relaxed));
    if stack_pointer() < guard {
        // Not poisoned: on a segment with no flag up, a red zone from its
        // bottom — the split, straight away (the hot split's path).
        if guard != POISON {
            return grow_split(f);
        }
        return grow_checked(f);
    }
    f()
}

/// Run `f` with at least `min_bytes` of stack free (like stacker's
/// `maybe_grow`): in place when the current segment has that much left
/// (and in the stress mode's forced switches' absence), else on a segment
/// of at least `min_bytes` usable bytes plus the red zone. For code you know
/// is deep (a parser, a recursive walk) and cannot put check points into.
///
/// ```
/// fn sum(n: u64) -> u64 { if n == 0 { 0 } else { n + sum(n - 1) } }
/// let rt = bamboo::Runtime::new()?;
/// // 100,000 frames without a check point: give them 64 MiB.
/// let s = rt.block_on(|| bamboo::grow_with(64 << 20, || sum(100_000)));
/// assert_eq!(s, 5_000_050_000);
/// # Ok::<(), bamboo::Error>(())
/// ```
///
/// Off a coroutine (a plain thread, the system stack) `f` runs in place.
///
/// # Panics
/// When `min_bytes` is larger than the largest segment (64 MiB), with
/// the value; when the chain would exceed `max_stack` (as [`grow`]).
#[inline]
pub fn grow_with<R>(min_bytes: usize, f: impl FnOnce() -> R) -> R {
    let (bottom, forced) = CUR.with(|c| {
        (
            c.seg.get().seg_bottom,
            c.bound.flags.load(Relaxed) & STACKMOVE != 0,
        )
    });
    let Some(bottom) = bottom else {
        return f();
    };
    let largest = crate::stack::usable(crate::stack::NCLASSES as u8 - 1);
    if min_bytes > largest {
        panic!("grow_with({min_bytes}): at most {largest} bytes (the largest segment)");
    }
    let left = stack_pointer().saturating_sub(bottom.get());
    if left >= min_bytes.saturating_add(RED_ZONE) && !forced {
        return f();
    }
    let min_class =
        crate::stack::class_of(min_bytes.max(crate::stack::MIN_USABLE).next_power_of_two())
            .unwrap_or(crate::stack::NCLASSES as u8 - 1);
    grow_slow(f, forced, min_class)
}

/// A check point below a poisoned guard: a flag up (a preemption request,
/// the stress mode), or the stale poison of a request already handled, or
/// the system stack while a request waits. A preemption yields first; then
/// the split or the stress mode's switch; else `f` runs in place. Not
/// inlined: the caller's fast path then needs no callee-saved registers.
#[inline(never)]
fn grow_checked<R>(f: impl FnOnce() -> R) -> R {
    let Some(bottom) = seg_bottom() else {
        // Off a coroutine segment (the system stack): in place; a request
        // waits for the coroutine's own stack (its guard stays poisoned).
        return f();
    };
    // Acquire: pairs with the Release store of the poison
    // (`Preempter::request`), whose flag we are about to read.
    fence(Acquire);
    let flags = CUR.with(|c| c.bound.flags.load(Relaxed));
    if flags & PREEMPT != 0 {
        preempt_yield();
    }
    let left = stack_pointer().saturating_sub(bottom.get());
    if left < RED_ZONE {
        return grow_split(f);
    }
    if flags & STACKMOVE != 0 {
        return grow_slow(f, true, 0);
    }
    f()
}

/// Yield because the monitor asked for it (the coroutine's time slice is
/// used up), unless yielding is not possible here: during a forced unwind
/// (runtime shutdown) the request is simply dropped.
#[cold]
#[inline(never)]
fn preempt_yield() {
    let can = CUR.with(|c| {
        // Acquire: pairs with `Preempter::request` (see there).
        c.bound.flags.fetch_and(!PREEMPT, Acquire);
        c.sync_guard();
        !c.unwinding.get() && !c.on_system.get() && !c.ident.get().is_null()
    });
    if can {
        suspend(Suspend::Preempt);
    }
}

/// The runtime's own check points: [`grow`], after yielding to the worker
/// if the coroutine has been asked to stop (a cancel: the worker then
/// unwinds it from this suspension instead of resuming it).
#[inline]
pub(crate) fn checkpoint<R>(f: impl FnOnce() -> R) -> R {
    if interrupt_requested() {
        suspend_yield();
    }
    grow(f)
}

/// Bytes kept free below the stack pointer recorded in [`switch_to`] when
/// the segment being left becomes the alternate: they hold the rest of
/// `switch_to`'s frame, `corosensei::on_stack` (monomorphic here, so a fixed
/// size) and the trampoline's return address and saved frame pointer.
/// Measured by the unit test `switch_margin_covers_the_switch_path`: under
/// 64 bytes optimised, ~600 bytes unoptimised.
const SWITCH_MARGIN: usize = if cfg!(debug_assertions) { 2048 } else { 256 };

/// Test-only measurement of how deep the switch path goes below the
/// recorded stack pointer: fill the bytes below it with a pattern before
/// switching, find the lowest overwritten byte on the other side.
#[cfg(test)]
mod margin_probe {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

    pub static ON: AtomicBool = AtomicBool::new(false);
    pub static MAX_USED: AtomicUsize = AtomicUsize::new(0);
    pub static CHECKS: AtomicUsize = AtomicUsize::new(0);
    const SPAN: usize = 8192;
    /// Bytes right below the marker left alone: `arm`'s own frame and its
    /// `write_bytes` call live there (large when unoptimised). A reported
    /// use of 0 means "less than SKIP".
    pub const SKIP: usize = if cfg!(debug_assertions) { 1024 } else { 128 };

    pub fn arm(sp: usize) -> bool {
        if !ON.load(Relaxed) {
            return false;
        }
        // SAFETY (test-only probe): the SPAN bytes below the marker are
        // unused stack of this segment (the red zone guarantees more), and
        // the top SKIP bytes, where write_bytes' own call lives, are spared.
        unsafe { std::ptr::write_bytes((sp - SPAN) as *mut u8, 0xa5, SPAN - SKIP) };
        true
    }

    pub fn check(sp: usize, armed: bool) {
        if !armed {
            return;
        }
        let lowest = (sp - SPAN..sp - SKIP)
            // SAFETY: reading bytes of the old segment, which stays mapped.
            .find(|&a| unsafe { *(a as *const u8) } != 0xa5)
            .unwrap_or(sp);
        MAX_USED.fetch_max(sp - lowest, Relaxed);
        CHECKS.fetch_add(1, Relaxed);
    }
}

#[inline(always)]
fn save() -> SegState {
    CUR.with(|c| c.seg.get())
}

#[inline(always)]
fn restore(s: &SegState) {
    CUR.with(|c| c.set_seg(*s));
}

/// Restores the segment state when a switch to the alternate returns or unwinds.
struct AltFrame(SegState);

impl Drop for AltFrame {
    fn drop(&mut self) {
        restore(&self.0);
    }
}

/// The `grow` frame of a switch to a new segment: owns the segment while
/// `f` runs on it; restores the state and keeps the segment as the spare
/// (or frees it) when `f` returns or unwinds.
struct SegmentFrame {
    seg: Option<Segment>,
    saved: SegState,
}

impl Drop for SegmentFrame {
    fn drop(&mut self) {
        let Some(seg) = self.seg.take() else {
            fatal!("grow frame dropped twice");
        };
        restore(&self.saved);
        keep_as_spare(seg);
    }
}

/// The segment a grow frame leaves becomes the spare; in poison mode it is
/// freed (and poisoned) at once instead, so a stale reference into it
/// faults. A spare that a nested grow left is freed (out of line).
#[inline(always)]
fn keep_as_spare(seg: Segment) {
    if CUR.with(|c| c.poison.get()) {
        free_segment_cold(seg);
    } else if let Some(old) = CUR.with(|c| c.spare.replace(Some(seg))) {
        free_segment_cold(old);
    }
}

/// The frame of a spare hit: like [`SegmentFrame`], but it saves only the
/// three fields a spare hit changes (the alternate is never set outside
/// the stress mode, and a spare hit never runs in it), and its drop is
/// inlined: three stores, the spare stored back, two tests. It is read
/// back from memory after the switch (see [`opaque`]), and its segment is
/// a `ManuallyDrop` (no `Option` to clear and test).
struct SpareFrame {
    seg: ManuallyDrop<Segment>,
    bottom: Option<NonZeroUsize>,
    class: u8,
    chain: usize,
}

impl Drop for SpareFrame {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `self.seg` is not touched again.
        let seg = unsafe { ManuallyDrop::take(&mut self.seg) };
        update_seg(|s| {
            s.seg_bottom = self.bottom;
            s.class = self.class;
            s.chain = self.chain;
        });
        keep_as_spare(seg);
    }
}

#[cold]
#[inline(never)]
fn free_segment_cold(seg: Segment) {
    free_segment(seg)
}

/// The split: fewer than `RED_ZONE` bytes left. The common case, the hot
/// split, is a **spare hit**: the coroutine's spare (the segment its last
/// returned grow frame left) is big enough and fits under `max_stack`, so
/// the switch is one state copy, two plain counter stores and `on_stack`:
/// no lock, no allocation, no syscall, no `Rc`, no dyn call. Anything else
/// (no spare, too small, over `max_stack`, the stress mode with its
/// alternate) goes to [`grow_slow`].
///
/// ```text
///   spare hit:  CUR.spare = S            grow_split            frame drop
///   CUR.seg  = {bottom A, chain c}  ->  {bottom S, chain c+|S|} -> {bottom A, chain c}
///   CUR.spare = Some(S)             ->  None (S runs f)         -> Some(S)
/// ```
#[inline(never)]
fn grow_split<R>(f: impl FnOnce() -> R) -> R {
    let (bottom, class, chain) = CUR.with(|c| {
        let s = c.seg.get();
        (s.seg_bottom, s.class, s.chain)
    });
    let want = grow_class(class);
    let hit = CUR.with(|c| {
        if c.bound.flags.load(Relaxed) != 0 {
            // The stress mode records alternates, and a request that came
            // after the guard was read makes the guard poisoned again: the
            // general path (whose update of the guard reads the flags).
            return None;
        }
        match c.spare.take() {
            Some(s) if s.class() >= want && chain + s.bytes() <= c.max_stack.get() => Some(s),
            other => {
                c.spare.set(other);
                None
            }
        }
    });
    let Some(seg) = hit else {
        return grow_slow(f, false, 0);
    };
    // A grow and a spare hit: one counter for both (see `split_hits`).
    with_worker_counters(|wc| wc.split_hits.add(1));
    let stack = seg.as_stack();
    // Without the stress mode there is never an alternate (see grow_slow),
    // so only the current segment's three fields change; no flag was up
    // just above, so the guard follows the new bottom (a request landing
    // in between is asked again, see `coro::Bound`).
    update_seg_unflagged(|s| {
        s.seg_bottom = NonZeroUsize::new(seg.bottom());
        s.class = seg.class();
        s.chain = chain + seg.bytes();
    });
    let mut frame = SpareFrame {
        seg: ManuallyDrop::new(seg),
        bottom,
        class,
        chain,
    };
    opaque(&mut frame);
    corosensei::on_stack(stack, f)
}

/// Tell the optimiser that `*p` may be read and written behind its back
/// (an empty `asm!` given its address), so that the code after the switch
/// reloads a frame from memory instead of keeping its fields alive in
/// callee-saved registers: the frame is stored anyway (its drop runs on an
/// unwind), and each register kept costs a push and a pop per crossing.
/// `std::hint::black_box(p)` does the same without `unsafe` but costs two
/// instructions more per crossing (it spills the pointer to the stack):
/// 114.0 against 112.0 per hot-split crossing under callgrind
/// (`examples/hotsplit.rs`, 2026-12-02), so it is only the fallback.
#[inline(always)]
fn opaque<T>(p: &mut T) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the asm is empty: it executes nothing, touches no memory, no
    // stack and no flags; it only receives the address in a register.
    unsafe {
        std::arch::asm!("/* {0} */", in(reg) p as *mut T, options(nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    std::hint::black_box(p);
}

/// Switch to `stack` and run `run` there. Not generic and never inlined, so
/// the bytes between its recorded stack pointer and the actual switch are a
/// fixed, small amount (see [`SWITCH_MARGIN`]): everything of the caller's
/// lies above the recorded pointer, which becomes the alternate's top.
#[inline(never)]
fn switch_to(stack: StackRef, run: &mut dyn FnMut()) {
    let sp = stack_pointer();
    let top = sp.saturating_sub(SWITCH_MARGIN) & !15;
    update_seg(|s| s.alt.top = top);
    #[cfg(test)]
    let probe = margin_probe::arm(sp);
    stack.entering();
    corosensei::on_stack(stack, move || {
        #[cfg(test)]
        margin_probe::check(sp, probe);
        run()
    });
}

/// Run `f` through [`switch_to`]; panics propagate (corosensei re-throws
/// them on this side of the switch).
#[inline(always)]
fn run_on<R>(stack: StackRef, f: impl FnOnce() -> R) -> R {
    let mut f = Some(f);
    let mut out = None;
    switch_to(stack, &mut || match f.take() {
        Some(f) => out = Some(f()),
        None => fatal!("a switched-to closure ran twice"),
    });
    // A panic in `f` propagates out of `switch_to`: reaching here means it
    // returned.
    match out {
        Some(r) => r,
        None => fatal!("a switched-to closure returned nothing"),
    }
}

#[inline(never)]
#[cold]
fn grow_slow<R>(f: impl FnOnce() -> R, forced: bool, min_class: u8) -> R {
    let saved = save();
    with_worker_counters(|wc| {
        wc.grows.add(1);
        if forced {
            wc.forced_grows.add(1);
        }
    });
    // The alternate: the segment a previous switch left, continued below
    // the point where it was left. Forced switches ping-pong between two
    // segments this way, so the stress mode costs frames, not segments.
    let alt = saved.alt;
    let alt_room =
        (2 * RED_ZONE).max(crate::stack::stack_bytes(min_class) * usize::from(min_class > 0));
    if let Some(alt_bottom) = alt.bottom.filter(|b| alt.top >= b.get() + alt_room) {
        // SAFETY: alt_bottom..alt.top is the unused part of a segment of
        // this coroutine's chain (below every live frame on it, guard below
        // it), and it stays in the chain while `f` runs.
        let stack = unsafe { StackRef::new(alt.top, alt_bottom.get()) };
        update_seg(|s| {
            s.seg_bottom = Some(alt_bottom);
            s.class = alt.class;
            s.alt.bottom = saved.seg_bottom;
            s.alt.class = saved.class;
        });
        let _frame = AltFrame(saved);
        return run_on(stack, f);
    }
    let want = grow_class(saved.class).max(min_class);
    let seg = match CUR.with(|c| c.spare.take()) {
        Some(s) if s.class() >= want => {
            with_worker_counters(|wc| wc.spare_hits.add(1));
            s
        }
        spare => {
            let ctx = ctx().unwrap_or_else(|| fatal!("grow off a worker"));
            if let Some(s) = spare {
                ctx.free(s);
            }
            match ctx.alloc(want) {
                Ok(s) => s,
                Err(e) => {
                    drop(ctx);
                    let id = current_id();
                    panic!("coroutine {id} cannot grow its stack, out of stack memory: {e}");
                }
            }
        }
    };
    let new_chain = saved.chain + seg.bytes();
    let max_stack = CUR.with(|c| c.max_stack.get());
    if new_chain > max_stack {
        CUR.with(|c| c.spare.set(Some(seg)));
        let id = current_id();
        panic!(
            "coroutine {id} stack exceeds max_stack of {max_stack} bytes (growing to {new_chain} bytes)"
        );
    }
    let stack = seg.as_stack();
    // Only the stress mode can use the segment we leave as an alternate: a
    // switch that was needed leaves less than a red zone behind, never the
    // `2 * RED_ZONE` an alternate must have. So without the stress mode
    // there is no alternate to record, and `f` goes straight to `on_stack`
    // (no `switch_to`, no dyn call).
    let stackmove = CUR.with(|c| c.bound.flags.load(Relaxed) & STACKMOVE != 0);
    update_seg(|s| {
        s.seg_bottom = NonZeroUsize::new(seg.bottom());
        s.class = seg.class();
        s.chain = new_chain;
        s.alt.bottom = if stackmove { saved.seg_bottom } else { None };
        s.alt.class = saved.class;
    });
    let _frame = SegmentFrame {
        seg: Some(seg),
        saved,
    };
    if stackmove {
        run_on(stack, f)
    } else {
        stack.entering();
        corosensei::on_stack(stack, f)
    }
}

/// Bytes left in the current segment (down to its guard), or `None` when the
/// caller is not running on a coroutine segment.
///
/// ```
/// assert_eq!(bamboo::remaining_stack(), None); // a plain thread
/// let rt = bamboo::Runtime::new()?;
/// let left = rt.block_on(|| bamboo::grow(bamboo::remaining_stack));
/// assert!(left.unwrap() >= bamboo::RED_ZONE);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn remaining_stack() -> Option<usize> {
    seg_bottom().map(|b| stack_pointer().saturating_sub(b.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const _: () = assert!(margin_probe::SKIP + 64 <= SWITCH_MARGIN);

    #[test]
    fn switch_margin_covers_the_switch_path() {
        margin_probe::ON.store(true, std::sync::atomic::Ordering::Relaxed);
        let rt = crate::Runtime::builder()
            .workers(1)
            .force_stack_move(true)
            .build()
            .unwrap();
        fn depth(n: u32) -> u32 {
            if n == 0 {
                0
            } else {
                grow(|| depth(n - 1)) + 1
            }
        }
        assert_eq!(rt.block_on(|| depth(1000)), 1000);
        let used = margin_probe::MAX_USED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(margin_probe::CHECKS.load(std::sync::atomic::Ordering::Relaxed) > 0);
        assert!(
            used + 64 <= SWITCH_MARGIN,
            "switch path uses {used} bytes below the marker; SWITCH_MARGIN is {SWITCH_MARGIN}"
        );
    }
}
