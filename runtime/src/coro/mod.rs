//! Coroutines and stack switching: the only place that resumes, suspends
//! and moves a coroutine between segments.
//!
//! Contract:
//! - A coroutine is a `corosensei::Coroutine` whose own stack is its first
//!   [`Segment`]. Further segments are pushed by [`grow`] with
//!   `corosensei::on_stack`: the `grow` frame on the old segment owns the new
//!   segment while `f` runs on it, so the chain is the call stack itself and
//!   growing never allocates.
//! - The running coroutine's segment state lives in the thread-local `CUR`
//!   (current segment bottom, class, chain bytes, spare segment, yielder). The
//!   worker swaps it in before `resume` and out after: the stack limit is per
//!   coroutine, never per thread. `CUR.limit == 0` means "not on a coroutine
//!   segment" (plain thread, scheduler loop, or system stack): `grow` then
//!   runs `f` in place.
//! - The system stack ([`system_stack`]) is one fixed mapping per worker;
//!   while on it `CUR.limit` is 0 and `CUR.on_system` is set, so `grow`
//!   never switches and suspending is a fatal error.
//! - Only the worker thread that started a coroutine ever touches its
//!   segments, its worker cache and its counters: nothing here locks.

use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::rc::Rc;
use std::sync::{Arc, Once};

use corosensei::{Coroutine, CoroutineResult, Yielder};
use memmap2::MmapMut;
use parking_lot::{Mutex, RawMutex};

use crate::sched::counters::{Counters, WorkerCounters};
use crate::sched::task::{Body, Completion, TaskShared};
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
}

type Co = Coroutine<(), Suspend, Completion, Segment>;
type CoYielder = Yielder<(), Suspend>;

/// Segment state of the coroutine running on this thread.
struct Cur {
    /// Bottom of the current segment; 0 when not on a coroutine segment.
    limit: Cell<usize>,
    class: Cell<u8>,
    /// Stack bytes of the segments in the chain (spare excluded).
    chain: Cell<usize>,
    spare: Cell<Option<Segment>>,
    /// The alternate segment: bottom, free top and class of the segment the
    /// innermost switch left (0 = none). See `grow_slow`.
    alt_lo: Cell<usize>,
    alt_top: Cell<usize>,
    alt_class: Cell<u8>,
    yielder: Cell<*const CoYielder>,
    /// The running coroutine's task, borrowed from its `CoroState` (which
    /// owns the `Arc` and outlives every slice); null when none.
    task: Cell<*const TaskShared>,
    /// Its id (0 when none); read by the SIGSEGV handler. `Cur` has no
    /// field that needs dropping, so this thread-local is a plain TLS slot:
    /// no lazy destructor registration, safe to read in a signal handler.
    id: Cell<u64>,
    /// Stress mode of the runtime this worker belongs to.
    stackmove: Cell<bool>,
    /// Poison mode, `max_stack` and this worker's counters, copied from the
    /// stack context so the spare-segment path needs no `Rc`/`RefCell`.
    poison: Cell<bool>,
    max_stack: Cell<usize>,
    counters: Cell<*const WorkerCounters>,
    on_system: Cell<bool>,
    unwinding: Cell<bool>,
}

thread_local! {
    static CUR: Cur = const {
        Cur {
            limit: Cell::new(0),
            class: Cell::new(0),
            chain: Cell::new(0),
            spare: Cell::new(None),
            alt_lo: Cell::new(0),
            alt_top: Cell::new(0),
            alt_class: Cell::new(0),
            yielder: Cell::new(std::ptr::null()),
            task: Cell::new(std::ptr::null()),
            id: Cell::new(0),
            stackmove: Cell::new(false),
            poison: Cell::new(false),
            max_stack: Cell::new(0),
            counters: Cell::new(std::ptr::null()),
            on_system: Cell::new(false),
            unwinding: Cell::new(false),
        }
    };
    static CTX: RefCell<Option<Rc<StackCtx>>> = const { RefCell::new(None) };
}

const _: () = assert!(
    !std::mem::needs_drop::<Cur>(),
    "CUR must stay a plain TLS slot"
);

/// Stack resources of one worker thread.
pub(crate) struct StackCtx {
    pub pool: Arc<Pool>,
    pub counters: Arc<Counters>,
    pub idx: usize,
    cache_mutex: Arc<Mutex<SegCache>>,
    cache: RefCell<Option<parking_lot::ArcMutexGuard<RawMutex, SegCache>>>,
    sys: MmapMut,
    sys_reg: Option<usize>,
    pub first_class: u8,
    pub max_stack: usize,
    pub stackmove: bool,
    pub poison: bool,
}

impl StackCtx {
    pub(crate) fn new(
        pool: Arc<Pool>,
        counters: Arc<Counters>,
        idx: usize,
        cache_mutex: Arc<Mutex<SegCache>>,
        cfg: &crate::config::Config,
    ) -> Result<StackCtx, crate::Error> {
        let first_class = crate::stack::class_of(cfg.segment_size).ok_or_else(|| {
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
        let guard = cache_mutex.lock_arc();
        Ok(StackCtx {
            sys_reg,
            pool,
            counters,
            idx,
            cache_mutex,
            cache: RefCell::new(Some(guard)),
            sys,
            first_class,
            max_stack: cfg.max_stack,
            stackmove: cfg.debug.stackmove,
            poison: cfg.debug.stackpoison,
        })
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

    pub(crate) fn alloc(&self, class: u8) -> Segment {
        let mut c = self.cache.borrow_mut();
        let cache = c.as_mut().unwrap_or_else(|| {
            os::fatal(format_args!(
                "worker {} allocates without its cache",
                self.idx
            ))
        });
        cache.alloc(class, &self.pool, self.wc())
    }

    pub(crate) fn free(&self, seg: Segment) {
        let mut c = self.cache.borrow_mut();
        let cache = c.as_mut().unwrap_or_else(|| {
            os::fatal(format_args!("worker {} frees without its cache", self.idx))
        });
        cache.free(seg, &self.pool, self.wc())
    }

    /// Flush this worker's cache into the pool (the owner's own cache).
    pub(crate) fn flush_own(&self) {
        if let Some(c) = self.cache.borrow_mut().as_mut() {
            c.flush(&self.pool, self.wc());
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
        if let Some(r) = self.sys_reg {
            crate::stack::registry::remove(r);
        }
    }
}

/// Make `ctx` the stack context of this (worker) thread, or clear it.
pub(crate) fn set_ctx(ctx: Option<Rc<StackCtx>>) {
    CUR.with(|c| {
        c.stackmove.set(ctx.as_ref().is_some_and(|x| x.stackmove));
        c.poison.set(ctx.as_ref().is_some_and(|x| x.poison));
        c.max_stack.set(ctx.as_ref().map_or(0, |x| x.max_stack));
        c.counters.set(
            ctx.as_ref()
                .map_or(std::ptr::null(), |x| x.wc() as *const _),
        );
    });
    CTX.with(|c| *c.borrow_mut() = ctx);
}

/// Run `f` with this worker's counters, without touching the `Rc` of the
/// stack context.
#[inline]
fn with_worker_counters(f: impl FnOnce(&WorkerCounters)) {
    let p = CUR.with(|c| c.counters.get());
    if p.is_null() {
        os::fatal(format_args!(
            "stack check point on a thread without a worker"
        ));
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
        None => os::fatal(format_args!(
            "segment {:#x}..{:#x} freed off a worker",
            seg.bottom(),
            seg.top()
        )),
    }
}

/// The stack context of this thread, if it is a worker.
pub(crate) fn ctx() -> Option<Rc<StackCtx>> {
    CTX.with(|c| c.borrow().clone())
}

/// A started coroutine, owned by its worker.
pub(crate) struct CoroState {
    co: Co,
    limit: usize,
    class: u8,
    chain: usize,
    spare: Option<Segment>,
    alt: (usize, usize, u8),
    yielder: *const CoYielder,
    task: Arc<TaskShared>,
}

impl CoroState {
    pub(crate) fn task(&self) -> &Arc<TaskShared> {
        &self.task
    }
}

/// What a slice of a coroutine ended with.
pub(crate) enum Outcome {
    Yielded,
    Parked,
    /// Returned; publish the completion once the segments are back.
    Finished(Completion),
}

/// Create a coroutine on a fresh first segment (not yet run).
pub(crate) fn start(ctx: &StackCtx, task: Arc<TaskShared>, f: Body) -> CoroState {
    let seg = ctx.alloc(ctx.first_class);
    let (limit, class, chain) = (seg.bottom(), seg.class(), seg.bytes());
    let co = Co::with_stack(seg, move |y: &CoYielder, ()| {
        CUR.with(|c| c.yielder.set(y as *const CoYielder));
        f.run()
    });
    CoroState {
        co,
        limit,
        class,
        chain,
        spare: None,
        alt: (0, 0, 0),
        yielder: std::ptr::null(),
        task,
    }
}

fn enter(st: &mut CoroState) {
    CUR.with(|c| {
        c.limit.set(st.limit);
        c.class.set(st.class);
        c.chain.set(st.chain);
        c.spare.set(st.spare.take());
        c.alt_lo.set(st.alt.0);
        c.alt_top.set(st.alt.1);
        c.alt_class.set(st.alt.2);
        c.yielder.set(st.yielder);
        c.id.set(st.task.id);
        c.task.set(Arc::as_ptr(&st.task));
    });
}

fn leave(st: &mut CoroState) {
    CUR.with(|c| {
        st.limit = c.limit.replace(0);
        st.class = c.class.get();
        st.chain = c.chain.replace(0);
        st.spare = c.spare.take();
        st.alt = (c.alt_lo.replace(0), c.alt_top.replace(0), c.alt_class.get());
        st.yielder = c.yielder.replace(std::ptr::null());
        c.task.set(std::ptr::null());
        c.id.set(0);
    });
}

/// Run a coroutine until it yields, parks or finishes.
pub(crate) fn resume(st: &mut CoroState) -> Outcome {
    enter(st);
    let r = st.co.resume(());
    leave(st);
    match r {
        CoroutineResult::Yield(Suspend::Yield) => Outcome::Yielded,
        CoroutineResult::Yield(Suspend::Park) => Outcome::Parked,
        CoroutineResult::Return(c) => Outcome::Finished(c),
    }
}

/// Give back every segment of a finished coroutine.
pub(crate) fn finish(ctx: &StackCtx, mut st: CoroState) {
    if let Some(s) = st.spare.take() {
        ctx.free(s);
    }
    let seg = st.co.into_stack();
    if st.chain != seg.bytes() {
        os::fatal(format_args!(
            "coroutine finished with {} chain bytes, first segment {:#x}..{:#x} has {}",
            st.chain,
            seg.bottom(),
            seg.top(),
            seg.bytes()
        ));
    }
    ctx.free(seg);
}

/// Unwind a suspended coroutine (its destructors run on this worker), then
/// give back its segments.
pub(crate) fn destroy(ctx: &StackCtx, mut st: CoroState) {
    if !st.co.done() {
        enter(&mut st);
        CUR.with(|c| c.unwinding.set(true));
        st.co.force_unwind();
        CUR.with(|c| c.unwinding.set(false));
        leave(&mut st);
    }
    finish(ctx, st)
}

/// True while the current coroutine is being force-unwound (runtime drop).
pub(crate) fn is_force_unwinding() -> bool {
    CUR.with(|c| c.unwinding.get())
}

/// The task of the running coroutine (`None` on a plain thread or in the
/// scheduler loop).
pub(crate) fn current_task() -> Option<Arc<TaskShared>> {
    let p = CUR.with(|c| c.task.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from `Arc::as_ptr` on the `Arc` owned by the running
    // coroutine's `CoroState`, which stays in its worker's slab (alive) for
    // as long as the coroutine runs; we add one strong count before making
    // a second `Arc` from it.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// True when a coroutine is running on this thread (possibly on the system
/// stack), without touching its task's reference count.
#[inline]
pub(crate) fn has_task() -> bool {
    CUR.with(|c| !c.task.get().is_null())
}

/// Id of the running coroutine, 0 if none. Async-signal-safe enough for the
/// SIGSEGV handler: one thread-local `Cell` load.
pub(crate) fn current_id() -> u64 {
    CUR.with(|c| c.id.get())
}

fn suspend(reason: Suspend) {
    let y = CUR.with(|c| {
        if c.on_system.get() {
            os::fatal(format_args!(
                "coroutine {} tried to {} on the system stack",
                current_id(),
                if reason == Suspend::Park {
                    "park"
                } else {
                    "yield"
                }
            ));
        }
        c.yielder.get()
    });
    if y.is_null() {
        os::fatal(format_args!("suspend outside a coroutine"));
    }
    // SAFETY: `yielder` was set by the body of the coroutine running on this
    // thread (enter/leave swap it with the coroutine); the Yielder lives in
    // that coroutine's root frame, which outlives every call made from it.
    unsafe { (*y).suspend(reason) };
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

/// True when the caller is a coroutine (and not on the system stack).
pub(crate) fn in_coroutine() -> bool {
    CUR.with(|c| c.limit.get() != 0)
}

#[inline(always)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

mod grow;
mod system;

pub(crate) use grow::checkpoint;
pub use grow::{grow, remaining_stack};
pub(crate) use system::install_panic_hook;
pub use system::system_stack;
