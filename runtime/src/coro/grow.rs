//! The check point: [`grow`] and everything it needs to switch segments
//! (the alternate pairing, the spare, `switch_to` and its margin).

use super::*;
use crate::stack::{grow_class, RED_ZONE};

/// A stack check point.
///
/// If fewer than [`RED_ZONE`] bytes are left in the current segment (or the
/// stress mode is on), `f` runs on another segment: the coroutine's spare if
/// it has one, else one from this worker's cache. Otherwise `f` runs in
/// place. Off a coroutine, and on the system stack, `f` always runs in place.
///
/// # Panics
/// When the coroutine's segments would exceed `max_stack`, with a message
/// containing `stack exceeds` and the limit in bytes.
#[inline]
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    let (limit, forced) = CUR.with(|c| (c.limit.get(), c.stackmove.get()));
    if limit != 0 {
        let left = stack_pointer().saturating_sub(limit);
        if left < RED_ZONE {
            return grow_slow(f, false);
        }
        if forced {
            return grow_slow(f, true);
        }
    }
    f()
}

/// Alias of [`grow`] for the runtime's own check points.
#[inline]
pub(crate) fn checkpoint<R>(f: impl FnOnce() -> R) -> R {
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

/// The segment state `grow` saves and restores around `f`.
#[derive(Clone, Copy)]
struct Saved {
    limit: usize,
    class: u8,
    chain: usize,
    alt_lo: usize,
    alt_top: usize,
    alt_class: u8,
}

fn save() -> Saved {
    CUR.with(|c| Saved {
        limit: c.limit.get(),
        class: c.class.get(),
        chain: c.chain.get(),
        alt_lo: c.alt_lo.get(),
        alt_top: c.alt_top.get(),
        alt_class: c.alt_class.get(),
    })
}

fn restore(s: &Saved) {
    CUR.with(|c| {
        c.limit.set(s.limit);
        c.class.set(s.class);
        c.chain.set(s.chain);
        c.alt_lo.set(s.alt_lo);
        c.alt_top.set(s.alt_top);
        c.alt_class.set(s.alt_class);
    });
}

/// Restores the segment state when a switch to the alternate returns or unwinds.
struct AltFrame(Saved);

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
    saved: Saved,
}

impl Drop for SegmentFrame {
    fn drop(&mut self) {
        let seg = self.seg.take().expect("segment frame holds its segment");
        restore(&self.saved);
        if CUR.with(|c| c.poison.get()) {
            // Poison mode: the segment left behind is freed (and poisoned)
            // at once so a stale reference into it faults.
            free_segment(seg);
        } else if let Some(old) = CUR.with(|c| c.spare.replace(Some(seg))) {
            free_segment(old);
        }
    }
}

/// Switch to `stack` and run `run` there. Not generic and never inlined, so
/// the bytes between its recorded stack pointer and the actual switch are a
/// fixed, small amount (see [`SWITCH_MARGIN`]): everything of the caller's
/// lies above the recorded pointer, which becomes the alternate's top.
#[inline(never)]
fn switch_to(stack: StackRef, run: &mut dyn FnMut()) {
    let sp = stack_pointer();
    CUR.with(|c| c.alt_top.set(sp.saturating_sub(SWITCH_MARGIN) & !15));
    #[cfg(test)]
    let probe = margin_probe::arm(sp);
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
    switch_to(stack, &mut || out = Some((f.take().expect("run once"))()));
    out.expect("f ran to completion")
}

#[inline(never)]
#[cold]
fn grow_slow<R>(f: impl FnOnce() -> R, forced: bool) -> R {
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
    if saved.alt_lo != 0 && saved.alt_top >= saved.alt_lo + 2 * RED_ZONE {
        // SAFETY: alt_lo..alt_top is the unused part of a segment of this
        // coroutine's chain (below every live frame on it, guard below it),
        // and it stays in the chain while `f` runs.
        let stack = unsafe { StackRef::new(saved.alt_top, saved.alt_lo) };
        CUR.with(|c| {
            c.limit.set(saved.alt_lo);
            c.class.set(saved.alt_class);
            c.alt_lo.set(saved.limit);
            c.alt_class.set(saved.class);
        });
        let _frame = AltFrame(saved);
        return run_on(stack, f);
    }
    let want = grow_class(saved.class);
    let seg = match CUR.with(|c| c.spare.take()) {
        Some(s) if s.class() >= want => {
            with_worker_counters(|wc| wc.spare_hits.add(1));
            s
        }
        spare => {
            let ctx = ctx().unwrap_or_else(|| os::fatal(format_args!("grow off a worker")));
            if let Some(s) = spare {
                ctx.free(s);
            }
            ctx.alloc(want)
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
    let stackmove = CUR.with(|c| {
        c.limit.set(seg.bottom());
        c.class.set(seg.class());
        c.chain.set(new_chain);
        let m = c.stackmove.get();
        c.alt_lo.set(if m { saved.limit } else { 0 });
        c.alt_class.set(saved.class);
        m
    });
    let _frame = SegmentFrame {
        seg: Some(seg),
        saved,
    };
    if stackmove {
        run_on(stack, f)
    } else {
        corosensei::on_stack(stack, f)
    }
}

/// Bytes left in the current segment (down to its guard), or `None` when the
/// caller is not running on a coroutine segment.
pub fn remaining_stack() -> Option<usize> {
    let limit = CUR.with(|c| c.limit.get());
    (limit != 0).then(|| stack_pointer().saturating_sub(limit))
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
