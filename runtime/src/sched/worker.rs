//! Workers: the per-runtime shared state and the worker loop.
//!
//! Contract:
//! - Each worker thread owns (thread-locally, in [`Local`]) its ready queue
//!   of *started* coroutines, its slab of coroutines, its timers and its
//!   stack context. Started coroutines never leave their worker: this is
//!   what keeps thread-locals sound inside a coroutine.
//! - *Unstarted* coroutines ([`Unstarted`]) sit in the spawner's
//!   crossbeam deque or in the shared injector; any idle worker may steal
//!   them, because nothing of theirs has touched a thread yet.
//! - Wake-ups from other threads go to the owner's `remote` queue; the owner
//!   moves them to its ready queue at its next safe point.
//! - Safe points are between coroutine slices: there the worker checks for
//!   stop-the-world and shutdown.
//! - Idle workers spin briefly, then wait in their poller (`poller.rs`):
//!   one `epoll_wait` for socket readiness, the next timer and wake-ups
//!   from other threads (no busy waiting), after releasing their
//!   segment-cache lock. A running worker also polls without waiting every
//!   `POLL_EVERY` slices, so sockets registered here are served while it
//!   is busy.
//!
//! Lock order (outermost first): stop-the-world lock (`stw_lock`, a
//! coroutine semaphore) → metrics lock → worker cache locks (by index) →
//! pool lock. The `Stw` mutex and join/sync locks are leaves.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Instant;

use crossbeam_deque::{Injector, Stealer, Worker as LocalDeque};
use parking_lot::Mutex;

use super::blocking::BlockingPool;
use super::free_bodies::{SharedBodies, Sites};
use super::free_tasks::FreeTasks;
use super::monitor::MonitorWake;
use super::placement::{note_slice, pick};
use super::poller::{LocalPoll, PollerShared};
use super::registry::Registry;
use super::remote::{self, RemoteQueue};
use super::shrink::{self, ShrinkPass};
use super::shutdown::shutdown;
use super::slice::{debug_assert_coroutines, record_latency, run_slice, Next, Slab};
use super::stw::Stw;
use super::task::{TaskShared, Unstarted};
use super::timer::Timers;
use super::waitq::Semaphore;
use super::wake_batch::Woken;
use crate::config::Config;
use crate::coro::{self, Preempter, StackCtx};
use crate::counters::Counters;
use crate::loom::sync::atomic::{fence, AtomicBool};
use crate::stack::cache::SegCache;
use crate::stack::pool::Pool;

/// A busy worker polls its sockets (without waiting) once per this many
/// slices (Go's scheduler checks the netpoller every 61 schedule ticks; a
/// power of two here, so the test is a mask, not a multiply: nothing
/// else in the loop needs to stay out of step with it).
const POLL_EVERY: u64 = 64;
const _: () = assert!(POLL_EVERY.is_power_of_two() && shrink::CHECK_EVERY.is_power_of_two());

/// Shared state of one worker.
pub(crate) struct WorkerShared {
    pub remote: RemoteQueue<Woken>,
    pub thread: OnceLock<Thread>,
    pub sleeping: AtomicBool,
    pub cache: Arc<Mutex<SegCache>>,
    /// Its poller's registry and waker: the way to wake this worker.
    pub poller: Arc<PollerShared>,
    /// Timers on its heap (a mirror the owner writes when the heap
    /// changes; read by the deadlock watchdog).
    pub timers_pending: AtomicUsize,
    /// Breaks in its run that are no coroutine slice: the owner bumps it
    /// when it goes idle and when it leaves a stop. With its switch count
    /// (`/sched/switches`, bumped per slice) it makes the slice number the
    /// monitor watches (Go's `schedtick`), so a slice costs the worker no
    /// extra store. Single writer (the owner).
    pub slices: AtomicU64,
    /// Coroutines spawned into its deque (single writer, the owner): with
    /// its slice number, what tells another worker that a lone unstarted
    /// coroutine there is still the one it saw (`placement::stealable`).
    pub pushes: AtomicU64,
    /// Asks this worker's running coroutine to yield (set once the worker
    /// thread has its stack context).
    pub preempter: OnceLock<Arc<Preempter>>,
    /// Set by the owner while it has nothing to run (spinning or asleep
    /// in `idle`); a spawner that clears it (`placement::place`) has
    /// claimed this worker for a new coroutine.
    pub looking: AtomicBool,
    /// Unstarted coroutines handed to this worker while it was idle
    /// (`placement::place`): pushed by the spawner that cleared `looking`,
    /// which then wakes it if it sleeps. The owner takes them first when
    /// it looks for unstarted work; `Runtime::drop` drops what a shutdown
    /// left.
    pub handoff: Injector<Unstarted>,
}

/// Counters of the shutdown's drain, shared by the workers.
pub(crate) struct Drain {
    /// Workers that have not finished draining (starts at the worker count).
    pub active: AtomicUsize,
    /// Draining workers with nothing to run and no timer, waiting for a
    /// wake-up.
    pub idle: AtomicUsize,
    /// Set once every draining worker has waited with nothing to run for
    /// [`DRAIN_GRACE`]: the coroutines left wait for each other.
    pub stuck: AtomicBool,
}

/// State shared by every thread of one runtime.
pub(crate) struct Shared {
    pub cfg: Config,
    pub counters: Arc<Counters>,
    pub pool: Arc<Pool>,
    pub workers: Box<[WorkerShared]>,
    pub injector: Injector<Unstarted>,
    pub stealers: Box<[Stealer<Unstarted>]>,
    /// Workers in their sleep's handshake ([`sleep_unless`]), for
    /// [`take_sleeper`].
    pub sleepers: crate::loom::sync::atomic::AtomicUsize,
    pub shutdown: AtomicBool,
    /// The shutdown's drain (see [`shutdown`]): workers still draining,
    /// how many of them wait with nothing to run, and whether they gave
    /// up (everything left waits on everything else).
    pub drain: Drain,
    pub stw: Stw,
    pub stw_lock: Semaphore,
    pub epoch: Instant,
    pub blocking: Arc<BlockingPool>,
    /// Every live task (`registry.rs`), for the dump.
    pub registry: Registry,
    /// The deadlock watchdog has reported (it reports once).
    pub deadlock_reported: std::sync::atomic::AtomicBool,
    /// How workers and the shutdown wake the monitor thread (`monitor.rs`).
    pub monitor: MonitorWake,
    /// Task structs the workers' free lists overflowed into
    /// (`free_tasks.rs`).
    pub free_tasks: FreeTasks,
    /// Coroutine bodies the workers' lists overflowed into, by spawn site
    /// (`free_bodies.rs`).
    pub free_bodies: SharedBodies,
}

impl Shared {
    pub(crate) fn new(
        cfg: Config,
        stealers: Vec<Stealer<Unstarted>>,
        pollers: Vec<Arc<PollerShared>>,
    ) -> Shared {
        let n = cfg.workers;
        debug_assert_eq!(pollers.len(), n);
        let counters = Arc::new(Counters::new(n));
        let pool = Arc::new(Pool::new(counters.clone(), coro::system_stack_dyn));
        Shared {
            workers: pollers
                .into_iter()
                .map(|poller| WorkerShared {
                    remote: RemoteQueue::new(),
                    thread: OnceLock::new(),
                    sleeping: AtomicBool::new(false),
                    cache: Arc::new(Mutex::new(SegCache::new(cfg.debug.stackpoison))),
                    poller,
                    timers_pending: AtomicUsize::new(0),
                    slices: AtomicU64::new(0),
                    pushes: AtomicU64::new(0),
                    preempter: OnceLock::new(),
                    looking: AtomicBool::new(false),
                    handoff: Injector::new(),
                })
                .collect(),
            registry: Registry::new(n),
            deadlock_reported: std::sync::atomic::AtomicBool::new(false),
            blocking: BlockingPool::new(cfg.blocking_threads),
            cfg,
            counters,
            pool,
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            sleepers: crate::loom::sync::atomic::AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            drain: Drain {
                active: AtomicUsize::new(n),
                idle: AtomicUsize::new(0),
                stuck: AtomicBool::new(false),
            },
            stw: Stw::new(),
            stw_lock: Semaphore::new(),
            epoch: Instant::now(),
            monitor: MonitorWake::default(),
            free_tasks: FreeTasks::new(),
            free_bodies: SharedBodies::new(),
        }
    }

    /// A timer is pending on some worker's heap or on the process-wide
    /// timer thread (a time channel may still fire).
    pub(crate) fn timers_pending(&self) -> bool {
        self.workers
            .iter()
            .any(|w| w.timers_pending.load(Relaxed) > 0)
            || super::timer::FALLBACK_PENDING.load(Relaxed) > 0
    }

    /// Nanoseconds since this runtime started (never 0).
    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }
}

/// Coarse monotonic time in nanoseconds (`CLOCK_MONOTONIC_COARSE`,
/// 1-10 ms resolution, a few ns to read): for ages that a dump prints (a
/// spawn stamps its coroutine's birth with it; `Shared::now_ns` there cost
/// ~7% of a spawn+join), never for intervals shorter than a tick.
#[inline]
pub(crate) fn coarse_ns() -> u64 {
    crate::stack::os::monotonic_coarse_ns()
}

impl Shared {
    pub(crate) fn unpark_all(&self) {
        for w in self.workers.iter() {
            w.poller.wake();
        }
    }

    /// Wake one sleeping worker, if any, to look for work (the full
    /// handshake, [`Wake::Fenced`]).
    pub(crate) fn wake_one(&self) {
        self.wake(Wake::Fenced);
    }

    /// Wake one sleeping worker found `how` ([`take_sleeper`]); only the
    /// planted bugs of `placement::Placed::wake` ask for
    /// [`Wake::CountOnly`] (f4e24b0 used it for a third spawn in a row;
    /// the loom model `spawn_batch_wake` found the lost wake-up).
    pub(crate) fn wake(&self, how: Wake) {
        if let Some(w) = take_sleeper(how, &self.sleepers, &self.workers, |w| &w.sleeping) {
            w.poller.wake();
        }
    }

    /// Index of the calling thread's worker, if it is a worker of this runtime.
    pub(crate) fn current_worker(self: &Arc<Self>) -> Option<usize> {
        with_local(|l| Arc::ptr_eq(&l.shared, self).then_some(l.idx)).flatten()
    }

    /// Stop every worker but the caller's at a safe point. Caller holds `stw_lock`.
    pub(crate) fn stop_world(self: &Arc<Self>) {
        let me = self.current_worker();
        let expected = self.workers.len() - usize::from(me.is_some());
        // The coroutine running on every other worker is asked to yield at
        // its next check point, so the stop does not wait for the end of
        // its time slice.
        self.stw.stop(
            expected,
            me.unwrap_or(usize::MAX),
            || self.unpark_all(),
            || {
                for (i, w) in self.workers.iter().enumerate() {
                    if Some(i) != me {
                        if let Some(p) = w.preempter.get() {
                            p.request();
                        }
                    }
                }
            },
        );
        self.counters.global.stw.fetch_add(1, Relaxed);
    }

    /// Set the shutdown flag and wake every worker, stopped ones included.
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.blocking.shutdown();
        self.monitor.shutdown();
        self.stw.release_for_shutdown();
        self.unpark_all();
    }

    /// Let the stopped workers go.
    pub(crate) fn start_world(&self) {
        self.stw.start();
    }

    /// Park this worker while the world is stopped.
    fn stopped_here(&self, ctx: &StackCtx) {
        ctx.release_cache();
        self.stw.park_here(&self.shutdown, ctx.idx);
        // Stopped time is no coroutine's slice; the requests that stopped
        // this worker's coroutine (the stop repeats them) are spent.
        new_slice(&self.workers[ctx.idx]);
        coro::clear_preempt();
        ctx.acquire_cache();
    }

    /// Move every worker's cached segments to the pool. Releases nothing:
    /// the paced scavenger gives pages back once they stayed free for a
    /// while (`stack::scavenge`). The caller has stopped the world; its own
    /// cache (if it is a worker) is flushed through its thread-local handle.
    pub(crate) fn flush_caches(self: &Arc<Self>) {
        let me = self.current_worker();
        for (i, w) in self.workers.iter().enumerate() {
            if Some(i) == me {
                if let Some(ctx) = coro::ctx() {
                    ctx.flush_own();
                }
            } else {
                w.cache.lock().flush(&self.pool, &self.counters.workers[i]);
            }
        }
    }
}

/// How a wake-up for queued work looks for a sleeper ([`take_sleeper`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The sleep handshake: a fence, then the sleepers' count.
    Fenced,
    /// The count alone (no caller outside the planted bugs of
    /// `placement::Placed::wake`).
    CountOnly,
}

/// The waker's side of the sleep handshake: the sleeper a wake-up for
/// queued work takes, if any. With [`Wake::Fenced`], a fence first, after
/// the caller's push: against [`sleep_unless`] (Dekker's handshake, as in
/// `remote.rs`) either this sees the sleeper counted and flagged, or the
/// sleeper's re-check sees the push. Then none when the `sleepers` count
/// shows none, else the first of `workers` whose `sleeping` flag this
/// clears (no other waker will wake that one: the caller must). Generic
/// over the worker so that the loom model `spawn_batch_wake`
/// (`sched/models.rs`) runs it.
#[inline]
pub(crate) fn take_sleeper<'a, W>(
    how: Wake,
    sleepers: &crate::loom::sync::atomic::AtomicUsize,
    workers: &'a [W],
    sleeping: impl Fn(&W) -> &AtomicBool,
) -> Option<&'a W> {
    if how == Wake::Fenced {
        fence(SeqCst);
    }
    if sleepers.load(Relaxed) == 0 {
        return None;
    }
    workers.iter().find(|w| {
        let s = sleeping(w);
        s.load(Relaxed) && s.swap(false, AcqRel)
    })
}

/// The sleeper's side of the handshake ([`take_sleeper`] is the waker's):
/// announce the sleep (`remote::announce_sleep`: `sleeping`, a fence),
/// count this worker among the `sleepers`, then `recheck` for work (true:
/// some is there, do not wait) and `wait` unless it found some; then
/// clear both. What `wait` returned, `None` when the re-check found work.
/// Shared with the loom model `spawn_batch_wake`.
#[inline]
pub(super) fn sleep_unless<R>(
    sleeping: &AtomicBool,
    sleepers: &crate::loom::sync::atomic::AtomicUsize,
    recheck: impl FnOnce() -> bool,
    wait: impl FnOnce() -> R,
) -> Option<R> {
    remote::announce_sleep(sleeping);
    sleepers.fetch_add(1, SeqCst);
    let r = if recheck() { None } else { Some(wait()) };
    sleeping.store(false, SeqCst);
    sleepers.fetch_sub(1, SeqCst);
    r
}

/// Worker-thread-local scheduler state.
pub(crate) struct Local {
    pub shared: Arc<Shared>,
    pub idx: usize,
    pub ctx: Rc<StackCtx>,
    pub ready: RefCell<VecDeque<usize>>,
    pub unstarted: LocalDeque<Unstarted>,
    pub timers: RefCell<Timers>,
    pub poll: RefCell<LocalPoll>,
    /// A coroutine parked since the shrink pass last looked (`shrink.rs`).
    pub parked_since_pass: Cell<bool>,
    /// Queued coroutines (after the next) whose state is already asked
    /// for (`prefetch_next`).
    pub(super) prefetched: Cell<usize>,
    /// Per other worker: its slice number plus pushes when this worker
    /// first saw a lone unstarted coroutine in its deque, and when
    /// (`placement::stealable`).
    pub(super) lone_seen: Box<[Cell<Option<super::placement::LoneSeen>>]>,
    /// Takes from its own deque (`placement::pop_own`: every
    /// `OLDEST_EVERY`th takes the oldest).
    pub(super) own_pops: Cell<u32>,
    /// Task structs for this worker's next spawns (`free_tasks::recycle`).
    pub free_tasks: RefCell<Vec<Arc<TaskShared>>>,
    /// Bodies for this worker's next spawns, by site (`free_bodies::keep`).
    pub free_bodies: RefCell<Sites>,
    /// `yield_now` calls that returned at once since the last one that
    /// went through the worker loop (`placement::yield_at_once`).
    pub(super) quick_yields: Cell<u32>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's worker state, if it is a worker (`None`
/// too while the thread's locals are being destroyed: a `JoinHandle`
/// dropped by another thread-local's destructor reaches `free_tasks::recycle`).
/// Inlined: a wake-up's local push (`schedule`) is a handful of
/// instructions, and a call with its saved registers doubled it.
#[inline]
pub(crate) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| l.borrow().as_ref().map(|l| f(l)))
        .ok()
        .flatten()
}

/// This thread's worker state, if it is a worker (a non-atomic reference
/// count: callers that need it across more than one step take it once).
pub(crate) fn local() -> Option<Rc<Local>> {
    LOCAL.try_with(|l| l.borrow().clone()).ok().flatten()
}

/// The shared state of the runtime this thread works for.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    with_local(|l| l.shared.clone())
}

thread_local! {
    static SAMPLE: Cell<u32> = const { Cell::new(0) };
}

/// One wake-up or spawn in this many is stamped for the runnable-to-running
/// latency histogram: a stamp costs a clock read, and a sample of 1 in 16
/// keeps the histogram's shape at a sixteenth of the cost.
const LATENCY_SAMPLE_EVERY: u32 = 16;

/// Stamp `task` as runnable now, one time in [`LATENCY_SAMPLE_EVERY`].
#[inline]
pub(crate) fn maybe_stamp(task: &TaskShared) {
    let n = SAMPLE.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n
    });
    if n.is_multiple_of(LATENCY_SAMPLE_EVERY) {
        task.stamp.store(task.shared.now_ns(), Relaxed);
    }
}

/// Put a parked task back on its worker's run queue: the local push
/// inline, a wake-up from another thread out of line.
#[inline]
pub(crate) fn schedule(task: &Arc<TaskShared>) {
    let owner = task.owner.load(Acquire) as usize;
    maybe_stamp(task);
    if with_local(|l| l.ready_if_owner(task, owner)) != Some(true) {
        schedule_remote(task, owner);
    }
}

impl Local {
    /// When this worker is `owner`, the worker of `task`'s runtime: put it
    /// on its ready queue (true). Each caller's closure around it is its
    /// own instance of `with_local`, so `schedule`'s stays inlined.
    #[inline(always)]
    pub(crate) fn ready_if_owner(&self, task: &TaskShared, owner: usize) -> bool {
        if self.idx == owner && Arc::ptr_eq(&self.shared, &task.shared) {
            self.ready.borrow_mut().push_back(task.slot());
            true
        } else {
            false
        }
    }
}

/// [`schedule`] from another thread (or another runtime's worker): through
/// the owner's remote queue, waking it if it sleeps.
#[cold]
#[inline(never)]
pub(crate) fn schedule_remote(task: &Arc<TaskShared>, owner: usize) {
    let w = &task.shared.workers[owner];
    if remote::push(&w.remote, &w.sleeping, Woken::One(task.clone())) {
        w.poller.wake();
    }
}

/// Body of a worker thread.
pub(crate) fn run(shared: Arc<Shared>, idx: usize, deque: LocalDeque<Unstarted>, poll: LocalPoll) {
    let _alt = crate::signal::AltStack::install();
    let ctx = match StackCtx::new(
        shared.pool.clone(),
        shared.counters.clone(),
        idx,
        shared.workers[idx].cache.clone(),
        &shared.cfg,
    ) {
        Ok(c) => Rc::new(c),
        Err(e) => fatal!("worker {idx}: {e}"),
    };
    coro::set_ctx(Some(ctx.clone()));
    let _ = shared.workers[idx].preempter.set(ctx.preempter());
    let local = Rc::new(Local {
        shared: shared.clone(),
        idx,
        ctx: ctx.clone(),
        ready: RefCell::new(VecDeque::with_capacity(256)),
        unstarted: deque,
        timers: RefCell::new(Timers::default()),
        poll: RefCell::new(poll),
        parked_since_pass: Cell::new(false),
        prefetched: Cell::new(0),
        lone_seen: (0..shared.workers.len()).map(|_| Cell::new(None)).collect(),
        own_pops: Cell::new(0),
        free_tasks: RefCell::new(Vec::with_capacity(super::free_tasks::FREE_TASKS)),
        free_bodies: RefCell::default(),
        quick_yields: Cell::new(0),
    });
    LOCAL.with(|l| *l.borrow_mut() = Some(local.clone()));

    let mut slab = Slab::default();
    let mut shrink = ShrinkPass::default();
    let mut due = Vec::new();
    let mut tick: u64 = 0;
    // After a yield, coroutines that have not started go first: yielding
    // lets *every* other coroutine run, as in Go.
    let mut prefer_new = false;
    let me = &shared.workers[idx];
    let wc = ctx.wc();
    loop {
        if shared.stw.stops(idx) {
            shared.stopped_here(&ctx);
        }
        if shared.shutdown.load(Acquire) {
            break;
        }
        fire_timers(&local, me, &mut due);
        if !me.remote.is_empty() {
            take_remote(&local, me);
        }
        tick = tick.wrapping_add(1);
        if tick & (POLL_EVERY - 1) == 0 && me.poller.has_sockets() {
            poll_now(&local, Some(std::time::Duration::ZERO));
        }
        if tick & (shrink::CHECK_EVERY - 1) == 0 && shrink.pending(&local.parked_since_pass) {
            shrink.tick_busy(
                &local.parked_since_pass,
                &mut slab,
                ctx.wc(),
                Instant::now(),
            );
        }
        match pick(&local, tick, prefer_new) {
            Some(Next::Ready(slot, left)) => {
                prefer_new = run_slice(&local, &mut slab, slot, left, wc)
            }
            Some(Next::New(u)) if u.task.cancel_requested() => {
                // Cancelled before it started: it never starts (dropping it
                // completes its join slot as cancelled).
                drop(u);
            }
            Some(Next::New(u)) => {
                record_latency(&local, &u.task);
                let seg = match coro::first_segment(&ctx, u.task.min_first_segment()) {
                    Ok(seg) => seg,
                    Err(e) => {
                        // Out of stack memory: this one never starts (its
                        // join says why, counted like a cancelled unstarted
                        // one); what runs keeps running, and a later spawn
                        // gets the segments finished coroutines give back.
                        let id = u.task.id();
                        u.fail(format!(
                            "coroutine {id} could not start, out of stack memory: {e}"
                        ));
                        continue;
                    }
                };
                // The queue's references move into the coroutine: no
                // reference-count round trip (each is a locked instruction).
                let (task, body) = u.into_parts();
                let opts = coro::StartOpts {
                    id: task.id(),
                    // Its join slot: what the coroutine's end touches.
                    hint: Arc::as_ptr(&body).cast::<()>() as usize,
                };
                let body = super::body::StartedBody::new(body);
                let st = coro::start(seg, opts, task, move || body.run());
                st.task().stack_bytes.store(st.chain_bytes(), Relaxed);
                let slot = slab.insert(st);
                if slot >= u32::MAX as usize {
                    fatal!("worker {idx}: slab slot {slot} does not fit a task's 32 bits");
                }
                let Some(Some(st)) = slab.entries.get(slot) else {
                    fatal!("worker {idx}: slot {slot} is empty after its insert");
                };
                let task = st.task();
                task.slot.store(slot as u32, Relaxed);
                task.owner.store(idx as u32, Release);
                ctx.wc().started.add(1);
                debug_assert_coroutines(&local, &slab);
                let queued = note_slice(&local);
                prefer_new = run_slice(&local, &mut slab, slot, queued, wc);
            }
            None => {
                me.looking.store(true, SeqCst);
                super::idle::idle(&local, &mut || {
                    shrink.tick(
                        &local.parked_since_pass,
                        &mut slab,
                        ctx.wc(),
                        Instant::now(),
                    )
                });
                me.looking.store(false, Relaxed);
            }
        }
    }
    shutdown(&local, &mut slab);
    // Before the exit is counted: a runtime drop that returns has freed
    // every task struct its workers kept. The shared list too: this
    // worker pushes no more, and the last worker to get here empties it.
    local.free_tasks.borrow_mut().clear();
    drop(shared.free_tasks.clear());
    local.free_bodies.borrow_mut().clear();
    drop(shared.free_bodies.clear());
    ctx.flush_own();
    // Conservation of segments: with every coroutine of this worker gone
    // and its cache flushed, it holds no segment bytes at all.
    debug_assert_eq!(
        (ctx.wc().stack_inuse.get(), ctx.wc().segments_inuse.get()),
        (0, 0),
        "worker {idx} exits holding segments (bytes, count)"
    );
    // From now on this worker runs nothing: count it as stopped for good.
    shared.stw.exited();
    LOCAL.with(|l| l.borrow_mut().take());
    coro::set_ctx(None);
}

/// Between two slices: one load when no timer is armed (the common case
/// of a busy worker), the heap only when there is one. The load is of the
/// heap's length mirror (`WorkerShared::timers_pending`, written whenever
/// the heap grows or fires), not a borrow of the heap: it may say "armed"
/// for a heap cleared without it (the shutdown's drain), never "empty" for
/// one that is not.
#[inline(always)]
pub(super) fn fire_timers(local: &Local, me: &WorkerShared, due: &mut Vec<Arc<TaskShared>>) {
    if timers_armed(me) {
        fire_due_timers(local, due);
    }
}

/// Timers on this worker's heap, by its mirror (see [`fire_timers`]).
#[inline(always)]
pub(super) fn timers_armed(me: &WorkerShared) -> bool {
    me.timers_pending.load(Relaxed) != 0
}

/// Move the wake-ups other threads queued for this worker to its ready
/// queue (out of the loop's line: a loop with none pays one test).
#[inline(never)]
pub(super) fn take_remote(local: &Local, me: &WorkerShared) {
    while let Some(w) = me.remote.pop() {
        let mut ready = local.ready.borrow_mut();
        match w {
            Woken::One(t) => ready.push_back(t.slot()),
            Woken::Many(ts) => ready.extend(ts.iter().map(|t| t.slot())),
        }
    }
}

#[inline(never)]
fn fire_due_timers(local: &Local, due: &mut Vec<Arc<TaskShared>>) {
    {
        let mut t = local.timers.borrow_mut();
        t.pop_due(Instant::now(), due);
        local.shared.workers[local.idx]
            .timers_pending
            .store(t.len(), Relaxed);
    }
    for t in due.drain(..) {
        t.unpark();
    }
}

/// Nothing for this worker in its own queues (remote wake-ups, handoff,
/// unstarted deque), in the injector, and no stop or shutdown to act on:
/// the part of "is there work" that `idle::has_work` and
/// `placement::yield_at_once` share (ready coroutines, timers, sockets and
/// other workers' deques each of them judges its own way).
pub(super) fn nothing_queued(local: &Local) -> bool {
    let s = &local.shared;
    let me = &s.workers[local.idx];
    me.remote.is_empty()
        && me.handoff.is_empty()
        && local.unstarted.is_empty()
        && s.injector.is_empty()
        && !s.stw.stops(local.idx)
        && !s.shutdown.load(SeqCst)
}

/// Poll this worker's sockets, waiting up to `timeout` (`None`: until a
/// wake-up), and wake their waiters. True if any socket was ready.
pub(super) fn poll_now(local: &Local, timeout: Option<std::time::Duration>) -> bool {
    let me = &local.shared.workers[local.idx];
    local.poll.borrow_mut().poll(&me.poller, timeout) > 0
}

/// A new slice number for the monitor (`monitor.rs`) without a slice:
/// a plain load and store, the owner is the only writer.
#[inline(always)]
pub(super) fn new_slice(me: &WorkerShared) {
    me.slices
        .store(me.slices.load(Relaxed).wrapping_add(1), Relaxed);
}
