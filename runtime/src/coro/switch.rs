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

/// Who the running coroutine is, for the code it runs and the SIGSEGV
/// handler: a field of its `CoroState`, which stays put while it runs
/// (in its first segment's header, or on the worker's stack for a
/// `destroy`), so `enter` stores one pointer to it in `CUR` and `leave`
/// one null, instead of a word per item. Fixed for the coroutine's life
/// but for `yielder` (set by its body as it starts) and `cancel`.
pub(super) struct Ident {
    pub(super) id: u64,
    /// Its name (bytes, length; null when unnamed), for the overflow
    /// report: it points into the task, which outlives the coroutine.
    pub(super) name: (*const u8, usize),
    /// Its task (the scheduler's payload): `Arc::as_ptr` of the state's
    /// `task`, which owns it; `task_type` is the payload's type, so that
    /// [`current_task`] can check it and stay safe for any caller.
    pub(super) task: *const (),
    pub(super) task_type: TypeId,
    /// Its interrupt flag, in that task.
    pub(super) interrupt: *const AtomicBool,
    /// Its `Yielder`, in its root frame (null until its body starts).
    pub(super) yielder: Cell<*const CoYielder>,
    /// Its shutdown state (see [`Cancel`]): delivered by [`suspend`] as
    /// it returns.
    pub(super) cancel: Cell<Cancel>,
}

/// Run `f` with the running coroutine's identity (`None` when none runs
/// here). `f` must not switch (the identity is the slice's).
#[inline(always)]
fn with_ident<R>(f: impl FnOnce(Option<&Ident>) -> R) -> R {
    let p = CUR.with(|c| c.ident.get());
    // SAFETY: a non-null `CUR.ident` was set by `enter` to the `Ident` of
    // the coroutine running on this thread, inside its `CoroState`, which
    // neither moves nor is dropped until `leave` (on this thread, after
    // the coroutine gave control back) clears the pointer; every caller
    // runs inside that coroutine (or is the SIGSEGV handler interrupting
    // it), and the reference does not outlive `f`, which does not switch.
    // Only the `Cell`s in it are written, through `&`; the worker's
    // `&mut CoroState` is not used for anything but `co` until `leave`.
    f(unsafe { p.as_ref() })
}

/// Called by a coroutine's body as it starts: its `Yielder`.
pub(super) fn set_yielder(y: &CoYielder) {
    with_ident(|id| match id {
        Some(id) => id.yielder.set(y as *const CoYielder),
        None => fatal!("a coroutine started without its identity in CUR"),
    })
}

#[inline(always)]
pub(super) fn enter<R, T: Interruptible + 'static>(st: &mut CoroState<R, T>) {
    CUR.with(|c| {
        c.set_seg(st.seg);
        c.spare.set(st.spare.take());
        c.ident.set(&st.ident);
    });
}

#[inline(always)]
pub(super) fn leave<R, T>(st: &mut CoroState<R, T>) {
    CUR.with(|c| {
        st.seg = c.seg.get();
        c.set_seg(SegState::OFF);
        st.spare = c.spare.take();
        // A fresh record (mark `Ran`): it has run since any pass looked.
        st.suspended = Suspended::at(c.suspend_sp.replace(0));
        c.ident.set(std::ptr::null());
    });
}

/// The task of the running coroutine, if one runs on this thread and its
/// task is a `T` (`None` on a plain thread or in the scheduler loop).
#[inline]
pub(crate) fn current_task<T: Send + Sync + 'static>() -> Option<Arc<T>> {
    let p = with_ident(|id| {
        id.filter(|id| id.task_type == TypeId::of::<T>())
            .map(|id| id.task.cast::<T>())
    })?;
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
    let p = with_ident(|id| {
        id.filter(|id| id.task_type == TypeId::of::<T>())
            .map(|id| id.task)
    });
    let task = p.map(|p| {
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
    let Some(p) = with_ident(|id| id.map(|id| id.interrupt)) else {
        return false;
    };
    // SAFETY: `interrupt` points into the task `Arc` owned by the running
    // coroutine's `CoroState`, which lives in its worker's slab for as
    // long as the coroutine runs, so the flag is alive here.
    let requested = unsafe { (*p).load(std::sync::atomic::Ordering::Relaxed) };
    // The flag first: it is almost never set, so a check point tests
    // one pointer and one byte.
    requested && CUR.with(|c| !c.on_system.get() && !c.unwinding.get())
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
    CUR.with(|c| !c.ident.get().is_null())
}

/// Id of the running coroutine, 0 if none. Async-signal-safe enough for the
/// SIGSEGV handler: a thread-local `Cell` load and one from the state it
/// points to.
pub(crate) fn current_id() -> u64 {
    with_ident(|id| id.map_or(0, |id| id.id))
}

/// What the overflow report says about the running coroutine: its name
/// (empty when unnamed), the stack bytes of its chain and its limit.
/// Async-signal-safe: plain thread-local `Cell` loads.
pub(crate) fn report_info() -> (&'static [u8], usize, usize) {
    CUR.with(|c| {
        let (p, n) = with_ident(|id| id.map_or((std::ptr::null(), 0), |id| id.name));
        let name: &'static [u8] = if p.is_null() {
            &[]
        } else {
            // SAFETY: a name the running coroutine's task owns (`Interruptible::name`); the task outlives every slice,
            // and this is only read while the coroutine runs (the handler
            // aborts the process right after).
            unsafe { std::slice::from_raw_parts(p, n) }
        };
        (name, c.seg.get().chain, c.max_stack.get())
    })
}

pub(super) fn suspend(reason: Suspend) {
    CUR.with(|c| {
        if c.unwinding.get() || c.on_system.get() {
            cannot_suspend(reason, c.unwinding.get());
        }
    });
    let y = with_ident(|id| id.map_or(std::ptr::null(), |id| id.yielder.get()));
    if y.is_null() {
        fatal!("suspend outside a coroutine");
    }
    // Everything live of this coroutine lies above this address, but for
    // the rest of this frame and the switch below it (the shrink pass keeps
    // SHRINK_MARGIN bytes under it).
    CUR.with(|c| c.suspend_sp.set(stack_pointer()));
    // SAFETY: `yielder` was set by the body of the coroutine running on this
    // thread as it started (`set_yielder`, through its identity); the
    // Yielder lives in that coroutine's root frame, which outlives every
    // call made from it.
    unsafe { (*y).suspend(reason) };
    // Back in this coroutine: the shutdown's unwind is delivered here, once
    // (`request_cancel`). A load in the common case (the state is almost
    // never `Requested`).
    let deliver = with_ident(|id| {
        id.is_some_and(|id| {
            let r = id.cancel.get() == Cancel::Requested;
            if r {
                id.cancel.set(Cancel::Delivered);
            }
            r
        })
    });
    if deliver {
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
