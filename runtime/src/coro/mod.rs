//! Coroutines and stack switching: the only place that resumes, suspends
//! and moves a coroutine between segments.
//!
//! Contract:
//! - A coroutine is a `corosensei::Coroutine` whose own stack is its first
//!   [`Segment`]. Further segments are pushed by [`grow`] with
//!   `corosensei::on_stack`: the `grow` frame on the old segment owns the new
//!   segment while `f` runs on it, so the chain is the call stack itself and
//!   growing never allocates.
//! - The running coroutine's segment state is one `Copy` value, `SegState`
//!   (current segment bottom, class, chain bytes, alternate), kept in the
//!   thread-local `CUR` with the spare segment and one pointer to the
//!   coroutine's identity (`switch::Ident`: id, name, task, interrupt
//!   flag, yielder, in its `CoroState`). The worker swaps them in before
//!   `resume` and out after: the stack limit is per coroutine, never per
//!   thread. `seg_bottom == None` means "not on a
//!   coroutine segment" (plain thread, scheduler loop, or system stack):
//!   `grow` then runs `f` in place.
//! - The system stack ([`system_stack`]) is one fixed mapping per worker;
//!   while on it `seg_bottom` is `None` and `CUR.on_system` is set, so
//!   `grow` never switches and suspending is a fatal error.
//! - This layer knows nothing of the scheduler: a coroutine is an id, a
//!   body returning some `R`, and an opaque task `Arc<T>` that
//!   `current_task::<T>()` hands back while the coroutine runs.
//! - Only the worker thread that started a coroutine ever touches its
//!   segments, its worker cache and its counters: nothing here locks.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::num::NonZeroUsize;
use std::panic::{self, PanicHookInfo};
use std::rc::Rc;
use std::sync::atomic::{
    fence, AtomicBool, AtomicU8, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Once};

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use memmap2::MmapMut;
use parking_lot::{Mutex, RawMutex};

use crate::counters::{Counters, WorkerCounters};
use crate::stack::cache::SegCache;
use crate::stack::pool::Pool;
use crate::stack::{os, Segment, StackRef};

/// Bytes of every worker's system stack.
pub const SYSTEM_STACK: usize = 1 << 20;

/// Why a coroutine gave control back to its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// `yield_now`: run again after the others.
    Yield,
    /// `park`: run again when unparked.
    Park,
    /// A check point after the time slice ran out: run again after the others.
    Preempt,
}

type Co<R> = Coroutine<(), Suspend, R, FirstSegment>;
type CoYielder = Yielder<(), Suspend>;

/// The segment a previous switch left, usable below the point where it was
/// left (see `grow.rs` for the pairing). `bottom == None`: no alternate.
#[derive(Clone, Copy, Debug)]
struct Alternate {
    /// Bottom (start of the red zone) of that segment.
    bottom: Option<NonZeroUsize>,
    /// Highest free address in it (written by `switch_to` at each switch).
    top: usize,
    /// Its size class.
    class: u8,
}

/// A coroutine's segment state: kept in `CUR` while it runs, in its
/// `CoroState` while it is suspended, and saved/restored whole by `grow`
/// around a switch. `Copy`, so every move is one assignment.
#[derive(Clone, Copy, Debug)]
struct SegState {
    /// Bottom of the current segment; `None` when not on a coroutine
    /// segment (plain thread, scheduler loop, system stack).
    seg_bottom: Option<NonZeroUsize>,
    /// Size class of the current segment.
    class: u8,
    /// Stack bytes of the segments in the chain (spare excluded).
    chain: usize,
    alt: Alternate,
}

impl SegState {
    /// Not on a coroutine segment.
    const OFF: SegState = SegState {
        seg_bottom: None,
        class: 0,
        chain: 0,
        alt: Alternate {
            bottom: None,
            top: 0,
            class: 0,
        },
    };
}

/// State of the coroutine running on this thread, plus this worker's
/// settings copied from its stack context (so `grow` needs no `Rc`).
struct Cur {
    seg: Cell<SegState>,
    spare: Cell<Option<Segment>>,
    /// The running coroutine's identity (id, name, task, interrupt flag,
    /// yielder; see [`Ident`]), in its `CoroState`; null when none runs.
    /// One pointer, so a switch writes one word for all of it. Read by the
    /// SIGSEGV handler: `Cur` has no field that needs dropping, so this
    /// thread-local is a plain TLS slot (no lazy destructor registration,
    /// safe to read in a signal handler).
    ident: Cell<*const Ident>,
    /// `grow`'s bound and why it may be poisoned (see [`Bound`]).
    bound: Bound,
    /// Poison mode, `max_stack` and this worker's counters, copied from the
    /// stack context so the spare-segment path needs no `Rc`/`RefCell`.
    poison: Cell<bool>,
    max_stack: Cell<usize>,
    counters: Cell<*const WorkerCounters>,
    on_system: Cell<bool>,
    unwinding: Cell<bool>,
    /// The stack pointer `suspend` recorded just before its switch (0: the
    /// coroutine did not suspend); `leave` moves it to the `CoroState`,
    /// where the shrink pass reads it (`shrink.rs`).
    suspend_sp: Cell<usize>,
    /// This worker's system stack (top, bottom), 0s off a worker; for the
    /// overflow report, which cannot touch the `Rc` of the context.
    sys: Cell<(usize, usize)>,
}

/// What a coroutine's owner gives `start` so that another thread can ask
/// it to stop: the runtime's check points ([`checkpoint`]) look at the flag
/// and, when it is set, suspend the coroutine as a yield, so its worker can
/// unwind it (a cancel).
///
/// Also the task's name, which the overflow report prints: it must not
/// change while the task lives (`start` keeps a pointer to it).
pub(crate) trait Interruptible: Send + Sync {
    fn interrupt_flag(&self) -> &AtomicBool;
    fn name(&self) -> Option<&str>;
}

thread_local! {
    static CUR: Cur = const {
        Cur {
            seg: Cell::new(SegState::OFF),
            spare: Cell::new(None),
            ident: Cell::new(std::ptr::null()),
            bound: Bound {
                guard: AtomicUsize::new(0),
                flags: AtomicU8::new(0),
            },
            poison: Cell::new(false),
            max_stack: Cell::new(0),
            counters: Cell::new(std::ptr::null()),
            on_system: Cell::new(false),
            unwinding: Cell::new(false),
            suspend_sp: Cell::new(0),
            sys: Cell::new((0, 0)),
        }
    };
    static CTX: RefCell<Option<Rc<StackCtx>>> = const { RefCell::new(None) };
}

const _: () = assert!(
    !std::mem::needs_drop::<Cur>(),
    "CUR must stay a plain TLS slot"
);

/// The check point's bound (Go's `stackguard0`) and the flags that poison
/// it. Atomics, because the monitor thread and a stop-the-world write them
/// from other threads through a [`Preempter`]; everything else about `CUR`
/// is this thread's alone.
///
/// ```text
///   guard = 0                    off a coroutine segment: grow runs f in place
///         = seg_bottom + RED_ZONE on a segment, no flag: the fast path is
///                                 `sp < guard ? slow : f()` (one load, one compare)
///         = POISON (usize::MAX)  a flag is up: every check point takes the slow
///                                 path, which handles the flag
/// ```
///
/// The worker recomputes `guard` from the segment and `flags` whenever
/// either changes ([`Cur::sync_guard`]). A request (`flags |= PREEMPT`,
/// then `guard = POISON`) that lands between that recomputation's load of
/// `flags` and its store of `guard` is overwritten; the flag stays set and
/// its requester asks again (the monitor at its next tick, a stop every
/// millisecond), as Go's sysmon does.
struct Bound {
    guard: AtomicUsize,
    /// [`STACKMOVE`] (the stress mode of this worker's runtime, fixed) and
    /// [`PREEMPT`] (set by a [`Preempter`], cleared by the check point
    /// that yields and by the worker between slices).
    flags: AtomicU8,
}

/// `Bound::flags` bit: the stress mode is on (every check point switches).
const STACKMOVE: u8 = 1;
/// `Bound::flags` bit: the running coroutine has used up its time slice;
/// its next check point yields.
const PREEMPT: u8 = 2;
/// The poisoned `Bound::guard`: every stack pointer is below it, so every
/// check point takes the slow path.
const POISON: usize = usize::MAX;

/// The guard for a segment state and flags (see [`Bound`]).
#[inline(always)]
fn guard_for(bottom: Option<NonZeroUsize>, flags: u8) -> usize {
    match bottom {
        None => 0,
        Some(_) if flags != 0 => POISON,
        Some(b) => b.get() + crate::stack::RED_ZONE,
    }
}

impl Cur {
    /// Install a segment state and the guard that goes with it.
    #[inline(always)]
    fn set_seg(&self, s: SegState) {
        self.seg.set(s);
        self.sync_guard();
    }

    /// Recompute the guard from the segment state and the flags.
    #[inline(always)]
    fn sync_guard(&self) {
        let g = guard_for(self.seg.get().seg_bottom, self.bound.flags.load(Relaxed));
        self.bound.guard.store(g, Relaxed);
    }
}

/// Asks the coroutine running on one worker thread to yield at its next
/// check point, from any thread (the monitor, stop-the-world).
///
/// It holds the address of that thread's `Cur::bound` (a plain TLS slot,
/// valid for the thread's whole life) under a lock; the worker's
/// [`StackCtx`], which made it on that thread and is dropped on it, clears
/// the address when it goes, so a request never writes to a thread that
/// has exited.
pub(crate) struct Preempter {
    flags: Mutex<usize>,
}

impl Preempter {
    /// Set the preempt bit of the worker thread; false once it has exited.
    pub(crate) fn request(&self) -> bool {
        let g = self.flags.lock();
        if *g == 0 {
            return false;
        }
        // SAFETY: a non-zero address is the `Cur::bound` of a live worker
        // thread: `StackCtx::new` stored it on that thread and the
        // `StackCtx` drop (on the same thread, before it exits: the Rc is
        // !Send) zeroes it under this lock, which we hold.
        let bound = unsafe { &*(*g as *const Bound) };
        // Release, paired with the Acquire in the check point's
        // `preempt_yield`: what the requester wrote before (a stop's
        // `requested` flag) is visible to the worker once it has yielded.
        bound.flags.fetch_or(PREEMPT, Release);
        // Then poison the bound, so the next check point leaves its fast
        // path (Release: one that sees the poison sees the flag, see
        // `grow_checked`).
        bound.guard.store(POISON, Release);
        true
    }
}

/// Drop a pending preemption request of this thread (the worker going idle:
/// a request made for a slice that has ended must not cut the next one).
pub(crate) fn clear_preempt() {
    CUR.with(|c| {
        if c.bound.flags.load(Relaxed) & PREEMPT != 0 {
            c.bound.flags.fetch_and(!PREEMPT, Relaxed);
        }
        c.sync_guard();
    })
}

/// The current segment's bottom, if on a coroutine segment.
#[inline(always)]
fn seg_bottom() -> Option<NonZeroUsize> {
    CUR.with(|c| c.seg.get().seg_bottom)
}

/// Update the running coroutine's segment state in place.
#[inline(always)]
fn update_seg(f: impl FnOnce(&mut SegState)) {
    CUR.with(|c| {
        let mut s = c.seg.get();
        f(&mut s);
        c.set_seg(s);
    })
}

/// [`update_seg`] for a caller that has just seen no flag up (the spare
/// hit of a split): the guard follows the new bottom without reading the
/// flags again.
#[inline(always)]
fn update_seg_unflagged(f: impl FnOnce(&mut SegState)) {
    CUR.with(|c| {
        let mut s = c.seg.get();
        f(&mut s);
        c.seg.set(s);
        c.bound.guard.store(guard_for(s.seg_bottom, 0), Relaxed);
    })
}

/// Stack resources of one worker thread.
pub(crate) struct StackCtx {
    pub pool: Arc<Pool>,
    pub counters: Arc<Counters>,
    pub idx: usize,
    cache_mutex: Arc<Mutex<SegCache>>,
    cache: RefCell<Option<parking_lot::ArcMutexGuard<RawMutex, SegCache>>>,
    sys: MmapMut,
    sys_reg: Option<usize>,
    /// The system stack and this worker thread's own stack, registered with
    /// valgrind (see [`StackCtx::new`]); deregistered before `sys` is
    /// unmapped.
    valgrind: Vec<ValgrindStackRegistration>,
    pub first_segment_class: u8,
    pub max_stack: usize,
    pub stackmove: bool,
    pub poison: bool,
    preempter: Arc<Preempter>,
}

impl StackCtx {
    pub(crate) fn new(
        pool: Arc<Pool>,
        counters: Arc<Counters>,
        idx: usize,
        cache_mutex: Arc<Mutex<SegCache>>,
        cfg: &crate::config::Config,
    ) -> Result<StackCtx, crate::Error> {
        let first_segment_class = crate::stack::class_of(cfg.segment_size).ok_or_else(|| {
            crate::Error::InvalidConfig {
                setting: "segment_size",
                value: cfg.segment_size.to_string(),
                reason: "not a power of two in 4 KiB..=64 MiB".into(),
            }
        })?;
        let sys = os::map_chunk(SYSTEM_STACK + crate::stack::GUARD)?;
        // SAFETY: the lowest GUARD bytes of a fresh mapping we own.
        unsafe { os::protect(sys.as_ptr() as usize, crate::stack::GUARD)? };
        counters
            .global
            .os_stacks
            .fetch_add(SYSTEM_STACK as u64, std::sync::atomic::Ordering::Relaxed);
        let sys_reg = crate::stack::registry::add(
            sys.as_ptr() as usize,
            sys.len(),
            sys.len(),
            crate::stack::registry::GuardKind::SystemStack,
        );
        // Valgrind tells a stack switch from a large frame by the stacks
        // registered with it: a move of the stack pointer into another
        // registered stack is a switch; any other move of under 2 MB is
        // taken as a push or pop, and marks the bytes between the two
        // stack pointers addressable or inaccessible. Segments are
        // registered per slot when their chunk is mapped (stack/pool.rs);
        // the two stacks a worker switches from and to are registered
        // here. Outside valgrind a registration is a handful of no-op
        // instructions, once per worker start.
        let mut valgrind = vec![ValgrindStackRegistration::new(
            (sys.as_ptr() as usize + crate::stack::GUARD) as *mut u8,
            SYSTEM_STACK,
        )];
        if let Some((lo, hi)) = os::thread_stack_bounds() {
            valgrind.push(ValgrindStackRegistration::new(lo as *mut u8, hi - lo));
        }
        let guard = cache_mutex.lock_arc();
        let flags = CUR.with(|c| &c.bound as *const Bound as usize);
        Ok(StackCtx {
            valgrind,
            preempter: Arc::new(Preempter {
                flags: Mutex::new(flags),
            }),
            sys_reg,
            pool,
            counters,
            idx,
            cache_mutex,
            cache: RefCell::new(Some(guard)),
            sys,
            first_segment_class,
            max_stack: cfg.max_stack,
            stackmove: cfg.debug.stackmove,
            poison: cfg.debug.stackpoison,
        })
    }

    /// The way other threads ask this worker's running coroutine to yield.
    pub(crate) fn preempter(&self) -> Arc<Preempter> {
        self.preempter.clone()
    }

    #[inline]
    pub(crate) fn wc(&self) -> &WorkerCounters {
        &self.counters.workers[self.idx]
    }

    fn sys_stack(&self) -> StackRef {
        let lo = self.sys.as_ptr() as usize;
        // SAFETY: the mapping lives as long as self, has a guard at its
        // bottom, and only this worker thread runs on it.
        unsafe { StackRef::new(lo + self.sys.len(), lo + crate::stack::GUARD) }
    }

    /// A segment of `class` from this worker's cache; `Err` when the OS
    /// refuses more stack memory.
    pub(crate) fn alloc(&self, class: u8) -> Result<Segment, crate::Error> {
        let mut c = self.cache.borrow_mut();
        let cache = c
            .as_mut()
            .unwrap_or_else(|| fatal!("worker {} allocates without its cache", self.idx));
        cache.alloc(class, &self.pool, self.wc())
    }

    pub(crate) fn free(&self, seg: Segment) {
        let mut c = self.cache.borrow_mut();
        let cache = c
            .as_mut()
            .unwrap_or_else(|| fatal!("worker {} frees without its cache", self.idx));
        cache.free(seg, &self.pool, self.wc())
    }

    /// Flush this worker's cache into the pool (the owner's own cache).
    pub(crate) fn flush_own(&self) {
        if let Some(c) = self.cache.borrow_mut().as_mut() {
            c.flush(&self.pool, self.wc());
        }
    }

    /// Flush this worker's cache into the pool if it was not flushed for a
    /// while (a worker about to sleep; see `SegCache::flush_if_stale`).
    pub(crate) fn flush_own_if_stale(&self) {
        if let Some(c) = self.cache.borrow_mut().as_mut() {
            c.flush_if_stale(&self.pool, self.wc());
        }
    }

    /// Let go of the cache lock while idle or stopped.
    pub(crate) fn release_cache(&self) {
        self.cache.borrow_mut().take();
    }

    /// Take the cache lock back (waits while a flusher holds it).
    pub(crate) fn acquire_cache(&self) {
        let mut c = self.cache.borrow_mut();
        if c.is_none() {
            *c = Some(self.cache_mutex.lock_arc());
        }
    }
}

impl Drop for StackCtx {
    fn drop(&mut self) {
        // From now on no request may reach this thread's flags.
        *self.preempter.flags.lock() = 0;
        if let Some(r) = self.sys_reg {
            crate::stack::registry::remove(r);
        }
        self.valgrind.clear();
    }
}

/// Make `ctx` the stack context of this (worker) thread, or clear it.
pub(crate) fn set_ctx(ctx: Option<Rc<StackCtx>>) {
    CUR.with(|c| {
        let stackmove = ctx.as_ref().is_some_and(|x| x.stackmove);
        c.bound
            .flags
            .store(if stackmove { STACKMOVE } else { 0 }, Relaxed);
        c.sync_guard();
        c.poison.set(ctx.as_ref().is_some_and(|x| x.poison));
        c.max_stack.set(ctx.as_ref().map_or(0, |x| x.max_stack));
        c.counters.set(
            ctx.as_ref()
                .map_or(std::ptr::null(), |x| x.wc() as *const _),
        );
        c.sys.set(ctx.as_ref().map_or((0, 0), |x| {
            let lo = x.sys.as_ptr() as usize;
            (lo + x.sys.len(), lo + crate::stack::GUARD)
        }));
    });
    CTX.with(|c| *c.borrow_mut() = ctx);
}

/// Run `f` with this worker's counters, without touching the `Rc` of the
/// stack context.
#[inline]
fn with_worker_counters(f: impl FnOnce(&WorkerCounters)) {
    let p = CUR.with(|c| c.counters.get());
    if p.is_null() {
        fatal!("stack check point on a thread without a worker");
    }
    // SAFETY: `p` points into the `Arc<Counters>` held by this thread's
    // `StackCtx`, which `set_ctx` installed and which stays alive until
    // `set_ctx(None)` clears the pointer (after the worker's last coroutine
    // is gone); the reference does not outlive this call.
    f(unsafe { &*p })
}

fn free_segment(seg: Segment) {
    match ctx() {
        Some(ctx) => ctx.free(seg),
        None => fatal!(
            "segment {:#x}..{:#x} freed off a worker",
            seg.bottom(),
            seg.top()
        ),
    }
}

/// The stack context of this thread, if it is a worker.
pub(crate) fn ctx() -> Option<Rc<StackCtx>> {
    CTX.with(|c| c.borrow().clone())
}

/// A started coroutine, owned by its worker; `R` is what its body returns,
/// `T` the task its scheduler attaches to it (see [`current_task`]).
pub(crate) struct CoroState<R, T> {
    co: Co<R>,
    seg: SegState,
    spare: Option<Segment>,
    /// What `CUR` points to while it runs (its id, name, task, interrupt
    /// flag, yielder and shutdown state).
    ident: Ident,
    task: Arc<T>,
    /// Where it last suspended and its shrink mark, in one word
    /// (`shrink.rs`).
    suspended: Suspended,
    /// `StartOpts::hint`.
    hint: usize,
}

/// A coroutine's shutdown state (`Ident::cancel`): `Requested` until its
/// suspend point next returns and delivers it, then `Delivered` (a
/// coroutine gets the shutdown unwind once; later suspends, in its
/// destructors, wait for real).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cancel {
    No,
    Requested,
    Delivered,
}

/// The payload of the unwind a runtime shutdown starts at a suspended
/// coroutine's suspend point (an ordinary unwind: destructors may block).
pub(crate) struct ShutdownUnwind;

/// True when `p` is the payload of a shutdown's unwind.
pub(crate) fn is_shutdown_unwind(p: &(dyn std::any::Any + Send)) -> bool {
    p.is::<ShutdownUnwind>()
}

/// Ask a suspended coroutine to unwind (once) when it is next resumed:
/// its suspend point raises [`ShutdownUnwind`]. False when it was asked
/// before.
pub(crate) fn request_cancel<R, T>(st: &mut CoroState<R, T>) -> bool {
    if st.ident.cancel.get() == Cancel::No {
        st.ident.cancel.set(Cancel::Requested);
        true
    } else {
        false
    }
}

impl<R, T> CoroState<R, T> {
    /// The task attached at [`start`].
    pub(crate) fn task(&self) -> &Arc<T> {
        &self.task
    }

    /// Bytes of its segment chain as of its last suspension (the spare
    /// excluded).
    #[inline]
    pub(crate) fn chain_bytes(&self) -> usize {
        self.seg.chain
    }
}

/// What a slice of a coroutine ended with.
pub(crate) enum Outcome<R> {
    Yielded,
    /// Yielded at a check point because its time slice was used up.
    Preempted,
    Parked,
    /// Returned `R`; the caller publishes it once the segments are back.
    Finished(R),
}

/// How to start a coroutine: its id (for reports; its name comes from its
/// task, `Interruptible::name`) and a prefetch hint; the first
/// segment's size was chosen by [`first_segment`].
pub(crate) struct StartOpts {
    pub id: u64,
    /// An address only prefetched, never read (0: none): with its task and
    /// stack, the worker asks for the lines around it before a resume
    /// ([`CoroBox::prefetch_task`]); the scheduler passes its body's
    /// allocation, which the coroutine's end touches.
    pub hint: usize,
}

/// The class of a first segment with at least `usable` bytes (the
/// runtime's default class when `usable` is 0), capped at the largest.
pub(crate) fn first_class(ctx: &StackCtx, usable: usize) -> u8 {
    if usable == 0 {
        return ctx.first_segment_class;
    }
    let want = usable.max(crate::stack::MIN_USABLE).next_power_of_two();
    crate::stack::class_of(want).unwrap_or(crate::stack::NCLASSES as u8 - 1)
}

/// A first segment with at least `usable` bytes (0: the runtime's default)
/// for a coroutine about to start (see [`start`]); `Err` when the OS
/// refuses more stack memory.
pub(crate) fn first_segment(ctx: &StackCtx, usable: usize) -> Result<Segment, crate::Error> {
    ctx.alloc(first_class(ctx, usable))
}

/// Create a coroutine on its first segment `seg` (from [`first_segment`];
/// not yet run); it will run `body`, with `task` as its [`current_task`]
/// while it runs.
pub(crate) fn start<R: 'static, T: Interruptible + 'static>(
    seg: Segment,
    opts: StartOpts,
    task: Arc<T>,
    body: impl FnOnce() -> R + 'static,
) -> CoroBox<R, T> {
    let id = opts.id;
    // (The task, which `st` keeps, holds the name and never changes it.)
    let name = task
        .name()
        .map_or((std::ptr::null(), 0), |n| (n.as_ptr(), n.len()));
    let state = SegState {
        seg_bottom: NonZeroUsize::new(seg.bottom()),
        class: seg.class(),
        chain: seg.bytes(),
        ..SegState::OFF
    };
    let top = seg.top();
    let co = Co::with_stack(FirstSegment(seg), move |y: &CoYielder, ()| {
        set_yielder(y);
        body()
    });
    let ident = Ident {
        id,
        name,
        task: Arc::as_ptr(&task).cast(),
        task_type: TypeId::of::<T>(),
        interrupt: task.interrupt_flag(),
        yielder: Cell::new(std::ptr::null()),
        cancel: Cell::new(Cancel::No),
    };
    let st = CoroState {
        co,
        seg: state,
        spare: None,
        ident,
        task,
        suspended: Suspended::NEVER,
        hint: opts.hint,
    };
    // SAFETY: `top` is the top of the first segment `co` was just built on.
    unsafe { CoroBox::new(st, top) }
}

/// Give back every segment of a finished coroutine; its task comes back.
pub(crate) fn finish<R, T>(ctx: &StackCtx, st: CoroBox<R, T>) -> Arc<T> {
    finish_state(ctx, st.into_inner())
}

fn finish_state<R, T>(ctx: &StackCtx, mut st: CoroState<R, T>) -> Arc<T> {
    if let Some(s) = st.spare.take() {
        ctx.free(s);
    }
    let FirstSegment(seg) = st.co.into_stack();
    // Conservation: a finished coroutine's chain is its first segment alone
    // (every grow frame gave its segment back when it returned).
    if st.seg.chain != seg.bytes() {
        fatal!(
            "coroutine {} finished with {} chain bytes, first segment {:#x}..{:#x} has {}",
            st.ident.id,
            st.seg.chain,
            seg.bottom(),
            seg.top(),
            seg.bytes()
        );
    }
    ctx.free(seg);
    st.task
}

/// Unwind a suspended coroutine (its destructors run on this worker), then
/// give back its segments; its task comes back.
pub(crate) fn destroy<R, T: Interruptible + 'static>(ctx: &StackCtx, st: CoroBox<R, T>) -> Arc<T> {
    let mut st = st.into_inner();
    if !st.co.done() && st.ident.cancel.get() == Cancel::Delivered {
        // Suspended again after the shutdown's unwind reached it: inside a
        // destructor (or after catching that unwind). A forced unwind would
        // throw inside that destructor, an abort without a word.
        fatal!(
            "coroutine {} waits in a destructor during runtime shutdown, for something no \
             other coroutine will ever do (every one left is waiting too)",
            st.ident.id
        );
    }
    if !st.co.done() {
        enter(&mut st);
        CUR.with(|c| c.unwinding.set(true));
        st.co.force_unwind();
        CUR.with(|c| c.unwinding.set(false));
        leave(&mut st);
    }
    finish_state(ctx, st)
}

/// Run `f` for the overflow report: on this worker's system stack when the
/// caller (the SIGSEGV handler, on the alternate signal stack) is not
/// already on it, else in place. The system stack is free whenever a
/// coroutine segment overflows: nothing suspends on it.
pub(crate) fn on_report_stack(f: &mut dyn FnMut()) {
    let ((hi, lo), on_system) = CUR.with(|c| (c.sys.get(), c.on_system.get()));
    if hi == 0 || on_system {
        return f();
    }
    // SAFETY: this worker's system stack, mapped with a guard below `lo`
    // for as long as the worker's context is installed (`set_ctx`), and not
    // in use: the fault is in a coroutine segment (not on_system), and
    // nothing is ever suspended on the system stack.
    let stack = unsafe { StackRef::new(hi, lo) };
    corosensei::on_stack(stack, f)
}

/// True when the caller is a coroutine (and not on the system stack).
pub(crate) fn in_coroutine() -> bool {
    seg_bottom().is_some()
}

/// The current stack pointer: the register itself where we know how to
/// read it. (The address of a local is no substitute: AddressSanitizer with
/// `detect_stack_use_after_return` moves locals whose address escapes to a
/// heap "fake stack", and check points would measure the wrong memory.)
#[inline(always)]
fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: copies the stack pointer register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let marker = 0u8;
        std::hint::black_box(&marker) as *const u8 as usize
    }
}

mod grow;
mod home;
mod shrink;
mod switch;
mod system;

pub(crate) use grow::checkpoint;
pub use grow::{grow, grow_with, remaining_stack};
use home::FirstSegment;
pub(crate) use home::{prefetch_arc, CoroBox};
use shrink::Suspended;
pub(crate) use shrink::{shrink, Shrink};
pub(crate) use switch::{
    coroutine_running, current_id, current_task, interrupt_requested, is_force_unwinding,
    report_info, resume, suspend_park, suspend_yield, with_current_task,
};
use switch::{enter, leave, set_yielder, suspend, Ident};
pub use system::system_stack;
pub(crate) use system::{install_panic_hook, system_stack_dyn};
