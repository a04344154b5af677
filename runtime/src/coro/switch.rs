//! The switch into and out of a coroutine, and what the running
//! coroutine's identity in `CUR` answers while it runs.
//!
//! Contract:
//! - [`resume`] is the only way into a coroutine and [`suspend`] the only
//!   way out of one short of finishing: `enter` installs the coroutine's
//!   segment state, spare, yielder and identity in `CUR` before the
//!   switch, `leave` moves them back into its `CoroState` after it; in
//!   between, everything here reads `CUR` alone (no `Rc`, no lock).
//! - Off a coroutine (plain thread, scheduler loop) the identity is empty:
//!   id 0, no task, no interrupt flag, no yielder.
//! - [`current_id`] and [`report_info`] are read by the SIGSEGV handler:
//!   plain thread-local loads only.

use super::*;

#[inline(always)]
pub(super) fn enter<R, T: Interruptible + 'static>(st: &mut CoroState<R, T>) {
    CUR.with(|c| {
        c.set_seg(st.seg);
        c.spare.set(st.spare.take());
        c.yielder.set(st.yielder);
        c.id.set(st.id);
        c.task.set(Arc::as_ptr(&st.task).cast());
        c.task_type.set(Some(TypeId::of::<T>()));
        c.interrupt.set(st.task.interrupt_flag());
        c.name.set(st.name);
        if st.cancel == Cancel::Requested {
            st.cancel = Cancel::Delivered;
            c.cancel.set(true);
        }
    });
}

#[inline(always)]
pub(super) fn leave<R, T>(st: &mut CoroState<R, T>) {
    CUR.with(|c| {
        st.seg = c.seg.get();
        c.set_seg(SegState::OFF);
        st.spare = c.spare.take();
        st.yielder = c.yielder.replace(std::ptr::null());
        // A fresh record (mark `Ran`): it has run since any pass looked.
        st.suspended = Suspended::at(c.suspend_sp.replace(0));
        c.task.set(std::ptr::null());
        c.id.set(0);
        c.interrupt.set(std::ptr::null());
        c.name.set((std::ptr::null(), 0));
        c.cancel.set(false);
    });
}

/// The task of the running coroutine, if one runs on this thread and its
/// task is a `T` (`None` on a plain thread or in the scheduler loop).
#[inline]
pub(crate) fn current_task<T: Send + Sync + 'static>() -> Option<Arc<T>> {
    let (p, ty) = CUR.with(|c| (c.task.get(), c.task_type.get()));
    if p.is_null() || ty != Some(TypeId::of::<T>()) {
        return None;
    }
    let p = p.cast::<T>();
    // SAFETY: `p` came from `Arc::<T>::as_ptr` (the type id matches) on the
    // `Arc` owned by the running coroutine's `CoroState`, which stays in
    // its worker's slab (alive) for as long as the coroutine runs; we add
    // one strong count before making a second `Arc` from it.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// Run `f` with the task of the running coroutine borrowed (`None` on a
/// plain thread or in the scheduler loop): like [`current_task`] without
/// the reference-count increment and decrement. `f` may park.
#[inline]
pub(crate) fn with_current_task<T: Send + Sync + 'static, R>(
    f: impl FnOnce(Option<&Arc<T>>) -> R,
) -> R {
    let (p, ty) = CUR.with(|c| (c.task.get(), c.task_type.get()));
    let task = (!p.is_null() && ty == Some(TypeId::of::<T>())).then(|| {
        // SAFETY: `p` came from `Arc::<T>::as_ptr` (the type id matches) on
        // the `Arc` owned by the running coroutine's `CoroState`. That
        // strong count outlives every frame of the coroutine, this one
        // included: `co` is the state's first field, so dropping a
        // suspended coroutine unwinds its stack before the task is dropped.
        // The `ManuallyDrop` borrows that count: it never adds one and
        // never gives one back (also when `f` panics or is unwound by a
        // cancel).
        std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p.cast::<T>()) })
    });
    // One call site, so `f` inlines into the caller.
    f(task.as_deref())
}

/// True when the running coroutine has been asked to stop, and stopping
/// here is possible (not on the system stack, not already being unwound).
#[inline]
pub(crate) fn interrupt_requested() -> bool {
    CUR.with(|c| {
        let p = c.interrupt.get();
        if p.is_null() {
            return false;
        }
        // SAFETY: `p` points into the task `Arc` owned by the running
        // coroutine's `CoroState` (set by `enter`, cleared by `leave`); that
        // state lives in its worker's slab for as long as the coroutine
        // runs, so the flag is alive here.
        let requested = unsafe { (*p).load(std::sync::atomic::Ordering::Relaxed) };
        // The flag first: it is almost never set, so a check point tests
        // one pointer and one byte.
        requested && !c.on_system.get() && !c.unwinding.get()
    })
}

/// Run a coroutine until it yields, parks or finishes. Inlined, with
/// `enter` and `leave`, into its one caller (the worker's slice).
#[inline(always)]
pub(crate) fn resume<R, T: Interruptible + 'static>(st: &mut CoroState<R, T>) -> Outcome<R> {
    enter(st);
    let r = st.co.resume(());
    leave(st);
    match r {
        CoroutineResult::Yield(Suspend::Yield) => Outcome::Yielded,
        CoroutineResult::Yield(Suspend::Park) => Outcome::Parked,
        CoroutineResult::Yield(Suspend::Preempt) => Outcome::Preempted,
        CoroutineResult::Return(c) => Outcome::Finished(c),
    }
}

/// True while the current coroutine is being force-unwound (runtime drop).
pub(crate) fn is_force_unwinding() -> bool {
    CUR.with(|c| c.unwinding.get())
}

/// True when a coroutine is running on this thread (possibly on the system
/// stack).
#[inline]
pub(crate) fn coroutine_running() -> bool {
    current_id() != 0
}

/// Id of the running coroutine, 0 if none. Async-signal-safe enough for the
/// SIGSEGV handler: one thread-local `Cell` load.
pub(crate) fn current_id() -> u64 {
    CUR.with(|c| c.id.get())
}

/// What the overflow report says about the running coroutine: its name
/// (empty when unnamed), the stack bytes of its chain and its limit.
/// Async-signal-safe: plain thread-local `Cell` loads.
pub(crate) fn report_info() -> (&'static [u8], usize, usize) {
    CUR.with(|c| {
        let (p, n) = c.name.get();
        let name: &'static [u8] = if p.is_null() {
            &[]
        } else {
            // SAFETY: set by `enter` from a name the running coroutine's
            // task owns (`StartOpts::name`); the task outlives every slice,
            // and this is only read while the coroutine runs (the handler
            // aborts the process right after).
            unsafe { std::slice::from_raw_parts(p, n) }
        };
        (name, c.seg.get().chain, c.max_stack.get())
    })
}

pub(super) fn suspend(reason: Suspend) {
    let y = CUR.with(|c| {
        if c.unwinding.get() || c.on_system.get() {
            cannot_suspend(reason, c.unwinding.get());
        }
        c.yielder.get()
    });
    if y.is_null() {
        fatal!("suspend outside a coroutine");
    }
    // Everything live of this coroutine lies above this address, but for
    // the rest of this frame and the switch below it (the shrink pass keeps
    // SHRINK_MARGIN bytes under it).
    CUR.with(|c| c.suspend_sp.set(stack_pointer()));
    // SAFETY: `yielder` was set by the body of the coroutine running on this
    // thread (enter/leave swap it with the coroutine); the Yielder lives in
    // that coroutine's root frame, which outlives every call made from it.
    unsafe { (*y).suspend(reason) };
    // A load in the common case (no store: the flag is almost never set).
    if CUR.with(|c| c.cancel.get() && c.cancel.replace(false)) {
        // The runtime is shutting down: unwind from here, as a panic
        // would, but without the panic hook.
        std::panic::resume_unwind(Box::new(ShutdownUnwind));
    }
}

/// A suspension that cannot happen: during a forced unwind (corosensei
/// would unwind the suspending destructor again, which aborts anyway, with a
/// message that names nothing), or on the system stack. Out of line, so the
/// check in [`suspend`] stays two loads.
#[cold]
#[inline(never)]
fn cannot_suspend(reason: Suspend, unwinding: bool) -> ! {
    let what = if reason == Suspend::Park {
        "park"
    } else {
        "yield"
    };
    if unwinding {
        fatal!(
            "coroutine {} tried to {what} while being unwound (cancel or runtime shutdown): a destructor blocked",
            current_id()
        );
    }
    fatal!(
        "coroutine {} tried to {what} on the system stack",
        current_id()
    );
}

/// Suspend the running coroutine until it is unparked.
/// (The worker counts parks and yields when the coroutine comes back.)
pub(crate) fn suspend_park() {
    suspend(Suspend::Park)
}

/// Suspend the running coroutine; it runs again after the others.
pub(crate) fn suspend_yield() {
    suspend(Suspend::Yield)
}
