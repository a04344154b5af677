//! Tasks: the `Send` side of a coroutine (park state, owner, slot), the
//! unstarted coroutine a queue holds ([`Unstarted`]), and which task is
//! running on this thread ([`current`]).
//!
//! A coroutine itself (`coro::CoroState`) is `!Send` and lives in its
//! worker's slab. What other threads see is [`TaskShared`] (to wake it) and
//! its body's join slot (`body.rs`, to collect its result). A spawn needs
//! two allocations, each taken from a free list when one is there:
//!
//! ```text
//!   Arc<TaskShared>          park state (state.rs), id, owner, slot, stamp
//!   Arc<Spawned<F, T>>       the closure and the join slot (body.rs)
//! ```
//!
//! Task structs are reused (Go's `gfree`, `free_tasks.rs`): whoever drops
//! the last strong reference of a finished task on a worker thread
//! (`free_tasks::recycle`: the worker as the coroutine finishes, or its
//! `JoinHandle`) pushes it on that worker's free list (which overflows
//! into the runtime's shared list); the next spawn on that worker pops it
//! and resets every per-spawn field ([`TaskShared::reset`]). Structs with
//! a name or a first-segment size (`extra`, set once per allocation) are
//! never reused ([`TaskShared::is_reusable`]), and a spawn with one always
//! allocates. Bodies are reused by spawn site (`free_bodies.rs`), once
//! empty: by `JoinHandle::join` after it took the result, or by the worker
//! as a detached coroutine (no handle left) finishes.
//!
//! A struct is listed in the runtime's registry once, at its allocation,
//! and unlisted when it is freed (Go's `allgs`), not at every spawn: on the
//! benchmark machine a locked instruction costs ~11 ns, and a listing per
//! spawn was five of them (downgrade, the shard's lock and unlock, twice).
//! So the registry's weak reference stays while the struct sits on a free
//! list, and "unshared" means one strong reference: no other weak ones
//! exist (only the registry makes them). A dump may upgrade a free struct
//! (it is DONE: skipped) or one being reset (it may print a mix of two
//! spawns' fields); nothing else can reach a struct on a free list, so no
//! wake-up or join of the old task can land on the new one. A worker
//! frees its own list as it exits, and the shared list (every worker
//! clears it after its own last push, so the last one to exit leaves it
//! empty: the structs hold the runtime's `Shared`, which would otherwise
//! never be freed); an idle worker frees what the shared list held unused
//! for a while (`free_tasks.rs`).
//!
//! ```text
//!   spawn:  free list pop ──> reset fields        (listed since its allocation)
//!           ──or── Arc::new ──> list in registry
//!   end:    last strong ref on a worker, DONE, no extra? ──yes──> push
//!                                                        └──no──> normal drop
//!   drop of the struct ──> unlist
//! ```

use std::cell::Cell;
use std::panic::Location;
#[cfg(feature = "test-hooks")]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

use crossbeam_utils::atomic::AtomicCell;

use super::body::Body;
use super::state::ParkState;
use super::wait::WaitWord;
use super::worker::{Local, Shared};
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize as ClaimWord};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The shareable half of a coroutine.
///
/// `repr(C)`, the words every slice, park and wake touches first: with the
/// `Arc`'s counts in front of them they sit in the allocation's first 48
/// bytes, so a worker that starts or resumes a coroutine whose struct is
/// cold in its cache (skynet: most are) misses once, not twice (Rust's own
/// order put the byte-sized flags last, a line away from the counts).
#[repr(C)]
pub(crate) struct TaskShared {
    pub park_state: ParkState,
    /// `JoinHandle::cancel` was called (never cleared).
    pub cancel: std::sync::atomic::AtomicBool,
    /// Its last slice ended in a yield or a preemption, not a park: the
    /// next slice must keep a token (`ParkState::transition_to_resumed`).
    /// Only its owner worker touches it.
    pub resumes_after_yield: std::sync::atomic::AtomicBool,
    /// Registered in a `WaitQueue` (a coroutine waits in at most one at a
    /// time).
    pub wait_queued: AtomicBool,
    /// Why it last suspended (`wait.rs`): written by the coroutine as it
    /// parks, by its worker around each slice; read by the dump.
    pub wait: WaitWord,
    /// Worker that started it ([`NO_OWNER`] before).
    pub owner: AtomicU32,
    /// Its slab slot on that worker (a slab never holds `u32::MAX`
    /// coroutines: each needs a stack segment).
    pub slot: AtomicU32,
    /// The claim word of its channel/select waits (`sync::waiter`).
    pub claim: ClaimWord,
    /// Stack bytes it held when it last suspended (written by its worker).
    pub stack_bytes: std::sync::atomic::AtomicUsize,
    /// Sampled time it became runnable (ns since the runtime epoch), 0 = none.
    pub stamp: AtomicU64,
    /// Its id ([`TaskShared::id`]): set at each spawn of the struct.
    id: AtomicU64,
    /// The runtime it belongs to.
    pub shared: Arc<Shared>,
    /// Its place in the runtime's registry of live tasks (`registry.rs`:
    /// shard and index), from its allocation to its drop.
    reg_index: AtomicU64,
    /// The caller of the spawn (`#[track_caller]`).
    spawned_at: AtomicCell<&'static Location<'static>>,
    /// When it was spawned (`worker::coarse_ns`: a clock read per spawn
    /// would cost more than the rest of `TaskShared::new`).
    born_ns: AtomicU64,
    /// What few spawns set (a name, a first-segment size): one pointer,
    /// `None` for most, so that `ArcInner<TaskShared>` stays a small
    /// allocation (<= 120 bytes, a 128-byte chunk: glibc's fast bins; a
    /// 144-byte chunk goes through its sorted bins, `unlink_chunk` and
    /// consolidation). `tests::task_struct_is_a_small_allocation`.
    extra: Option<Box<Extra>>,
}

/// The rarely set part of a [`TaskShared`].
struct Extra {
    /// Set by `coroutine::Builder::name`; never changes.
    name: Option<Box<str>>,
    /// Usable bytes its first segment needs at least (0: the runtime's
    /// default): `coroutine::Builder::stack_size`, or room for a large
    /// closure or result.
    min_first_segment: usize,
}

fn extra(name: Option<Box<str>>, min_first_segment: usize) -> Option<Box<Extra>> {
    if name.is_none() && min_first_segment == 0 {
        None
    } else {
        Some(Box::new(Extra {
            name,
            min_first_segment,
        }))
    }
}

/// `TaskShared::owner` of a task no worker has started.
pub(crate) const NO_OWNER: u32 = u32::MAX;

/// `TaskShared::reg_index` of a task in no registry.
const UNLISTED: u64 = u64::MAX;

/// `TaskShared::slot` of a task no worker has started.
const NO_SLOT: u32 = u32::MAX;

impl Drop for TaskShared {
    fn drop(&mut self) {
        self.unlist();
        #[cfg(feature = "test-hooks")]
        TASK_STRUCTS.fetch_sub(1, Relaxed);
    }
}

/// Task structs allocated and not yet freed, in this process (free lists
/// included): what the free-list test checks at shutdown.
#[cfg(feature = "test-hooks")]
pub(crate) static TASK_STRUCTS: AtomicUsize = AtomicUsize::new(0);
/// Spawns that reused a task struct from a free list.
#[cfg(feature = "test-hooks")]
pub(crate) static TASK_REUSES: AtomicUsize = AtomicUsize::new(0);

/// Ids a thread takes from [`NEXT_ID`] at a time: a spawn takes the next
/// one of its thread's block, so spawns on two workers do not share the
/// counter's cache line. Ids stay unique in the process; they are ordered
/// by spawn only among the spawns of one thread.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's block of ids: the next one and the end.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A new task id, unique in the process.
#[inline]
fn next_id() -> u64 {
    IDS.try_with(|c| {
        let (next, end) = c.get();
        if next < end {
            c.set((next + 1, end));
            next
        } else {
            let b = NEXT_ID.fetch_add(ID_BLOCK, Relaxed);
            c.set((b + 1, b + ID_BLOCK));
            b
        }
    })
    .unwrap_or_else(|_| NEXT_ID.fetch_add(1, Relaxed))
}

impl TaskShared {
    /// A task of `shared`, spawned at `at`, listed in its registry;
    /// `name` and `min_first_segment` as [`TaskShared::name`] and
    /// [`TaskShared::min_first_segment`]. Spawned on worker `local` (one of
    /// `shared`'s; `None` on any other thread), it reuses a struct from
    /// that worker's free list when there is one and is listed in that
    /// worker's registry shard.
    pub(crate) fn new(
        shared: &Arc<Shared>,
        local: Option<&Local>,
        at: &'static Location<'static>,
        name: Option<Box<str>>,
        min_first_segment: usize,
    ) -> Arc<TaskShared> {
        let id = next_id();
        let born_ns = super::worker::coarse_ns();
        let reusable = name.is_none() && min_first_segment == 0;
        if let Some(t) = local
            .filter(|_| reusable)
            .and_then(super::free_tasks::reuse)
        {
            // Still listed in the registry from its allocation.
            t.reset(id, at, born_ns);
            #[cfg(feature = "test-hooks")]
            TASK_REUSES.fetch_add(1, Relaxed);
            return t;
        }
        #[cfg(feature = "test-hooks")]
        TASK_STRUCTS.fetch_add(1, Relaxed);
        // Every per-spawn field gets its value from `reset`, the one list
        // of them: the literal only has to build a struct that reads as a
        // finished task until then.
        let t = Arc::new(TaskShared {
            reg_index: AtomicU64::new(UNLISTED),
            wait: WaitWord::new(),
            spawned_at: AtomicCell::new(at),
            born_ns: AtomicU64::new(0),
            stack_bytes: std::sync::atomic::AtomicUsize::new(0),
            extra: extra(name, min_first_segment),
            park_state: ParkState::done(),
            id: AtomicU64::new(0),
            owner: AtomicU32::new(0),
            slot: AtomicU32::new(0),
            stamp: AtomicU64::new(0),
            wait_queued: AtomicBool::new(false),
            claim: ClaimWord::new(0),
            resumes_after_yield: std::sync::atomic::AtomicBool::new(false),
            cancel: std::sync::atomic::AtomicBool::new(false),
            shared: shared.clone(),
        });
        t.reset(id, at, born_ns);
        let k = shared.registry.shard_for(local.map(|l| l.idx), id);
        let place = shared.registry.insert(k, id, Arc::downgrade(&t));
        t.reg_index.store(place, Relaxed);
        t
    }

    /// A finished task whose struct may serve another spawn: it ran to
    /// its end (a spawn during shutdown's never starts) and has no `extra`
    /// (set once per allocation).
    pub(crate) fn is_reusable(&self) -> bool {
        self.extra.is_none() && self.park_state.is_done()
    }

    /// Make a struct, new or from a free list, a new task: every field
    /// that changes per spawn (`shared`, `extra` and the registry place
    /// are set once per allocation: a struct with `extra` is never
    /// reused). Only the holder of the one strong reference calls it,
    /// before the task is queued or handed out (the queue's release
    /// publishes these relaxed stores); a dump that upgraded the registry's
    /// weak reference meanwhile may see a mix of the two tasks' fields.
    fn reset(&self, id: u64, at: &'static Location<'static>, born_ns: u64) {
        self.wait.reset();
        self.spawned_at.store(at);
        self.born_ns.store(born_ns, Relaxed);
        self.stack_bytes.store(0, Relaxed);
        self.id.store(id, Relaxed);
        self.owner.store(NO_OWNER, Relaxed);
        self.slot.store(NO_SLOT, Relaxed);
        self.stamp.store(0, Relaxed);
        self.wait_queued.store(false, Relaxed);
        self.claim.store(0, Relaxed);
        self.resumes_after_yield.store(false, Relaxed);
        self.cancel.store(false, Relaxed);
        // Last: a dump skips the struct until its state leaves DONE.
        self.park_state.reset();
    }

    /// Its id, unique in the process among tasks alive at once (a reused
    /// struct gets a new one at each spawn).
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Relaxed)
    }

    /// The caller of its spawn.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at.load()
    }

    /// When it was spawned (`worker::coarse_ns`).
    pub(crate) fn born_ns(&self) -> u64 {
        self.born_ns.load(Relaxed)
    }

    /// Remove it from its runtime's registry (once; later calls do
    /// nothing). Only its `Drop` calls it, so a load and a store suffice.
    fn unlist(&self) {
        let i = self.reg_index.load(Relaxed);
        if i != UNLISTED {
            self.reg_index.store(UNLISTED, Relaxed);
            self.shared.registry.remove(self.id(), i);
        }
    }

    /// Its name (`coroutine::Builder::name`), if it has one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.name.as_deref())
    }

    /// Usable bytes its first segment needs at least (0: the runtime's
    /// default): `coroutine::Builder::stack_size`, or room for a large
    /// closure or result.
    pub(crate) fn min_first_segment(&self) -> usize {
        self.extra.as_ref().map_or(0, |e| e.min_first_segment)
    }

    /// Its slab slot on its owner worker.
    #[inline]
    pub(crate) fn slot(&self) -> usize {
        self.slot.load(Relaxed) as usize
    }

    /// Ask the coroutine to stop (see `JoinHandle::cancel`): set the flag,
    /// then wake it so a parked or sleeping one reaches its worker, which
    /// unwinds it instead of resuming it.
    pub(crate) fn request_cancel(self: &Arc<Self>) {
        if !self.cancel.swap(true, AcqRel) {
            self.unpark();
        }
    }

    #[inline]
    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.load(Acquire)
    }

    /// Wake the task: its next (or current) park returns.
    pub(crate) fn unpark(self: &Arc<Self>) {
        if self.park_state.notify() {
            super::worker::schedule(self);
        }
    }
}

impl crate::coro::Interruptible for TaskShared {
    fn interrupt_flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.cancel
    }

    /// Set once per allocation (`extra`: a struct with one is never
    /// reused), so it holds for the task's life.
    fn name(&self) -> Option<&str> {
        TaskShared::name(self)
    }
}

thread_local! {
    /// Stops held by this plain thread (not by a coroutine running on it).
    static THREAD_STOPS: Cell<isize> = const { Cell::new(0) };
}

/// A stop was taken (`+1`) or released (`-1`); counted only for a plain
/// thread, whose waits nothing can end while every worker is stopped.
pub(crate) fn note_thread_stop(delta: isize) {
    if current().is_none() {
        THREAD_STOPS.with(|c| c.set(c.get() + delta));
    }
}

/// True when the caller, a plain thread (not a coroutine: the caller
/// knows), holds a stop.
pub(super) fn plain_thread_holds_stop() -> bool {
    THREAD_STOPS.with(|c| c.get() > 0)
}

/// The task of the running coroutine (`None` on a plain thread or in the
/// scheduler loop): the payload the worker attached at `coro::start`.
#[inline]
pub(crate) fn current() -> Option<Arc<TaskShared>> {
    crate::coro::current_task::<TaskShared>()
}

/// Run `f` with the running coroutine's task borrowed (no reference-count
/// traffic); `None` on a plain thread or in the scheduler loop.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Arc<TaskShared>>) -> R) -> R {
    crate::coro::with_current_task::<TaskShared, R>(f)
}

/// A spawned, not yet started coroutine. Stealable by any worker. Dropped
/// without starting (runtime shutdown), it completes its join slot as
/// cancelled and drops the user closure.
pub(crate) struct Unstarted {
    pub task: Arc<TaskShared>,
    body: UnstartedBody,
}

/// The body of an [`Unstarted`], which cancels it when dropped unstarted
/// (a field of its own, so that [`Unstarted::into_parts`] can move the task
/// out without a reference-count round trip).
struct UnstartedBody(Option<Arc<dyn Body>>);

impl Drop for UnstartedBody {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            b.cancel();
        }
    }
}

impl Unstarted {
    pub(crate) fn new(task: Arc<TaskShared>, body: Arc<dyn Body>) -> Unstarted {
        Unstarted {
            task,
            body: UnstartedBody(Some(body)),
        }
    }

    /// It cannot start (no stack memory for its first segment): its closure
    /// is dropped unrun and its join gives a `JoinError` whose panic payload
    /// is `why` (as if it had panicked at its first check point).
    pub(crate) fn fail(mut self, why: String) {
        if let Some(b) = self.body.0.take() {
            b.fail(why);
        }
    }

    /// Its task and body, to start it (once).
    pub(crate) fn into_parts(self) -> (Arc<TaskShared>, Arc<dyn Body>) {
        let Unstarted { task, mut body } = self;
        match body.0.take() {
            Some(b) => (task, b),
            None => fatal!("coroutine {} started twice", task.id()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// A spawn storm (1M live coroutines) allocates one of these per
    /// spawn: past 120 bytes its chunk leaves glibc's fast bins.
    #[test]
    fn task_struct_is_a_small_allocation() {
        let arc_inner = std::mem::size_of::<super::TaskShared>() + 2 * std::mem::size_of::<usize>();
        assert!(
            arc_inner <= 120,
            "ArcInner<TaskShared> is {arc_inner} bytes"
        );
    }

    /// The words a slice, park and wake touch sit with the `Arc`'s two
    /// counts in the allocation's first 48 bytes (the struct's docs).
    #[cfg(not(loom))]
    #[test]
    fn hot_words_share_the_counts_line() {
        use std::mem::{offset_of, size_of};
        let counts = 2 * size_of::<usize>();
        let end = [
            offset_of!(super::TaskShared, park_state) + size_of::<super::ParkState>(),
            offset_of!(super::TaskShared, cancel) + 1,
            offset_of!(super::TaskShared, resumes_after_yield) + 1,
            offset_of!(super::TaskShared, wait_queued) + 1,
            offset_of!(super::TaskShared, wait) + size_of::<super::WaitWord>(),
            offset_of!(super::TaskShared, owner) + 4,
            offset_of!(super::TaskShared, slot) + 4,
            offset_of!(super::TaskShared, claim) + size_of::<super::ClaimWord>(),
            offset_of!(super::TaskShared, stack_bytes) + size_of::<usize>(),
        ]
        .into_iter()
        .max()
        .unwrap();
        assert!(
            counts + end <= 48,
            "hot words end at byte {} of the ArcInner",
            counts + end
        );
    }
}
