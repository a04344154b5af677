//! Tasks: the `Send` side of a coroutine (park state, owner, join slot),
//! and which task is running on this thread ([`current`]).
//!
//! A coroutine itself (`coro::CoroState`) is `!Send` and lives in its
//! worker's slab. What other threads see is [`TaskShared`] (to wake it) and
//! its [`JoinSlot`] (to collect its result).
//!
//! One spawn makes two allocations:
//!
//! ```text
//!   Arc<TaskShared>          park state (state.rs), id, owner, slot, stamp
//!   Arc<Spawned<F, T>>  ---  the closure F (taken when it starts)
//!      |                     JoinSlot<T>: result, finished, waiter
//!      +-- as Arc<dyn Body>          : what the worker runs, then publishes
//!      +-- as Arc<dyn HasJoinSlot<T>>: what the JoinHandle<T> waits on
//! ```
//!
//! The worker publishes a result only after the coroutine's segments are
//! back, so a joiner never sees a result while its stack memory is held.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;

use parking_lot::Mutex;

use super::park::{self, Unparker};
use super::state::ParkState;
use super::wait::{Wait, WaitWord};
use super::watchdog;
use super::worker::Shared;
use crate::error::{JoinError, JoinErrorRepr};
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize as ClaimWord};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The shareable half of a coroutine.
pub(crate) struct TaskShared {
    pub park_state: ParkState,
    pub id: u64,
    /// Worker that started it (`usize::MAX` before).
    pub owner: AtomicUsize,
    /// Its slab slot on that worker.
    pub slot: AtomicUsize,
    /// Sampled time it became runnable (ns since the runtime epoch), 0 = none.
    pub stamp: AtomicU64,
    /// Registered in a `WaitQueue` (a coroutine waits in at most one at a
    /// time).
    pub wait_queued: AtomicBool,
    /// The claim word of its channel/select waits (`sync::waiter`).
    pub claim: ClaimWord,
    /// Its last slice ended in a yield or a preemption, not a park: the
    /// next slice must keep a token (`ParkState::transition_to_resumed`).
    /// Only its owner worker touches it.
    pub resumes_after_yield: std::sync::atomic::AtomicBool,
    /// `JoinHandle::cancel` was called (never cleared).
    pub cancel: std::sync::atomic::AtomicBool,
    /// The runtime it belongs to.
    pub shared: Arc<Shared>,
    /// Why it last suspended (`wait.rs`): written by the coroutine as it
    /// parks, by its worker around each slice; read by the dump.
    pub wait: WaitWord,
    /// The caller of the spawn (`#[track_caller]`).
    pub spawned_at: &'static Location<'static>,
    /// When it was spawned (`worker::coarse_ns`: a clock read per spawn
    /// would cost more than the rest of `TaskShared::new`).
    pub born_ns: u64,
    /// Stack bytes it held when it last suspended (written by its worker).
    pub stack_bytes: std::sync::atomic::AtomicUsize,
    /// Its index in the runtime's registry of live tasks (`registry.rs`).
    reg_index: usize,
    /// Set by `coroutine::Builder::name`; never changes.
    pub name: Option<Box<str>>,
    /// Usable bytes its first segment needs at least (0: the runtime's
    /// default): `coroutine::Builder::stack_size`, or room for a large
    /// closure or result.
    pub min_first_segment: usize,
}

impl Drop for TaskShared {
    fn drop(&mut self) {
        self.shared.registry.remove(self.id, self.reg_index);
    }
}

impl TaskShared {
    /// A new task of `shared`, spawned at `at`, listed in its registry;
    /// `name` and `min_first_segment` as [`TaskShared`]'s fields.
    pub(crate) fn new(
        shared: Arc<Shared>,
        at: &'static Location<'static>,
        name: Option<Box<str>>,
        min_first_segment: usize,
    ) -> Arc<TaskShared> {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        Arc::new_cyclic(|me| TaskShared {
            reg_index: shared.registry.insert(id, me.clone()),
            wait: WaitWord::new(),
            spawned_at: at,
            born_ns: super::worker::coarse_ns(),
            stack_bytes: std::sync::atomic::AtomicUsize::new(0),
            name,
            min_first_segment,
            park_state: ParkState::new(),
            id,
            owner: AtomicUsize::new(usize::MAX),
            slot: AtomicUsize::new(usize::MAX),
            stamp: AtomicU64::new(0),
            wait_queued: AtomicBool::new(false),
            claim: ClaimWord::new(0),
            resumes_after_yield: std::sync::atomic::AtomicBool::new(false),
            cancel: std::sync::atomic::AtomicBool::new(false),
            shared,
        })
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
}

thread_local! {
    /// The body of a coroutine that was just unwound (cancel, shutdown),
    /// its result staged as cancelled: the worker publishes it once the
    /// coroutine's segments are back ([`take_unwound`]).
    static UNWOUND: Cell<Option<Arc<dyn Body>>> = const { Cell::new(None) };
}

fn defer_publication(b: Arc<dyn Body>) {
    if let Some(other) = UNWOUND.with(|u| u.replace(Some(b))) {
        // Not taken by the worker (cannot happen: one unwind at a time);
        // publish rather than lose it.
        other.publish();
    }
}

/// The publication [`Body::run`] left when its coroutine was unwound.
pub(crate) fn take_unwound() -> Option<Arc<dyn Body>> {
    UNWOUND.with(Cell::take)
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

/// True when the caller is a plain thread holding a stop.
fn thread_holds_stop() -> bool {
    current().is_none() && THREAD_STOPS.with(|c| c.get() > 0)
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
    body: Option<Arc<dyn Body>>,
}

impl Unstarted {
    pub(crate) fn new(task: Arc<TaskShared>, body: Arc<dyn Body>) -> Unstarted {
        Unstarted {
            task,
            body: Some(body),
        }
    }

    /// It cannot start (no stack memory for its first segment): its closure
    /// is dropped unrun and its join gives a `JoinError` whose panic payload
    /// is `why` (as if it had panicked at its first check point).
    pub(crate) fn fail(mut self, why: String) {
        if let Some(b) = self.body.take() {
            b.fail(why);
        }
    }

    /// Take the body to run it (once).
    pub(crate) fn take_body(&mut self) -> Arc<dyn Body> {
        match self.body.take() {
            Some(b) => b,
            None => fatal!("coroutine {} started twice", self.task.id),
        }
    }
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(b) = self.body.take() {
            b.cancel();
        }
    }
}

/// The body as its coroutine's closure holds it. A cancel that lands
/// between `coro::start` and the first resume makes the worker destroy the
/// coroutine unstarted, dropping the closure without calling it: this
/// guard then stages the cancellation, so the join still completes (found
/// by the stress CLI's `--chaos`: the joiner used to wait for ever).
pub(crate) struct StartedBody(Option<Arc<dyn Body>>);

impl StartedBody {
    pub(crate) fn new(body: Arc<dyn Body>) -> StartedBody {
        StartedBody(Some(body))
    }

    /// The coroutine's first resume: run the body (see [`Body::run`]).
    pub(crate) fn run(mut self) -> Arc<dyn Body> {
        match self.0.take() {
            Some(b) => b.run(),
            None => fatal!("a coroutine body ran twice"),
        }
    }
}

impl Drop for StartedBody {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            b.stage_cancelled();
        }
    }
}

/// A coroutine body as the worker sees it: the user closure and its join
/// slot in one allocation (a [`Spawned`]).
pub(crate) trait Body: Send + Sync {
    /// Call the closure (once), catch its panic, stage the result; return
    /// `self` for [`Body::publish`] once the coroutine is gone.
    fn run(self: Arc<Self>) -> Arc<dyn Body>;
    /// Never started: drop the closure, complete the slot as cancelled.
    fn cancel(&self);
    /// Cannot start: drop the closure, complete the slot with a panic
    /// payload of `why`.
    fn fail(&self, why: String);

    /// Started (its coroutine exists) but destroyed before its first
    /// resume: drop the closure, stage the slot as cancelled and leave the
    /// publication to the worker, once the segments are back
    /// ([`take_unwound`]).
    fn stage_cancelled(self: Arc<Self>);
    /// Make the staged result visible and wake the joiner.
    fn publish(&self);
}

/// What a `JoinHandle<T>` holds: the join slot inside a `Spawned<F, T>`
/// (whose `F` it cannot name).
pub(crate) trait HasJoinSlot<T>: Send + Sync {
    fn join_slot(&self) -> &JoinSlot<T>;
}

/// The one allocation of a spawn (besides its `TaskShared`).
pub(crate) struct Spawned<F, T> {
    join: JoinSlot<T>,
    f: Mutex<Option<F>>,
}

struct SlotState<T> {
    result: Option<Result<T, JoinError>>,
    finished: bool,
    waiter: Option<Unparker>,
}

/// Where a coroutine's result waits for its `JoinHandle`.
pub(crate) struct JoinSlot<T> {
    state: Mutex<SlotState<T>>,
}

impl<T> JoinSlot<T> {
    fn new() -> JoinSlot<T> {
        JoinSlot {
            state: Mutex::new(SlotState {
                result: None,
                finished: false,
                waiter: None,
            }),
        }
    }

    /// Store the result; the joiner sees it only after [`JoinSlot::publish`].
    fn stage(&self, r: Result<T, JoinError>) {
        self.state.lock().result = Some(r);
    }

    fn complete(&self, r: Result<T, JoinError>) {
        self.stage(r);
        self.publish();
    }

    fn publish(&self) {
        let w = {
            let mut s = self.state.lock();
            s.finished = true;
            s.waiter.take()
        };
        if let Some(w) = w {
            w.unpark();
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state.lock().finished
    }

    /// Wait for the result (parks a coroutine, blocks a thread). A plain
    /// thread waiting for a coroutine of `shared` watches it for a
    /// deadlock meanwhile (`watchdog.rs`).
    pub(crate) fn wait(&self, shared: &Shared) -> Result<T, JoinError> {
        let mut watch = None;
        crate::coro::checkpoint(|| loop {
            {
                let mut s = self.state.lock();
                if s.finished {
                    match s.result.take() {
                        Some(r) => return r,
                        None => fatal!("a finished coroutine's join slot has no result"),
                    }
                }
                if thread_holds_stop() {
                    panic!(
                        "JoinHandle::join on a plain thread that holds a StopTheWorld guard: \
                         every worker is stopped, so the coroutine can never finish"
                    );
                }
                s.waiter = Some(park::current_unparker());
            }
            match current() {
                Some(t) => park::park_task(&t, None, Wait::Join),
                None => watchdog::park_thread(shared, &mut watch),
            }
        })
    }
}

fn cancelled() -> JoinError {
    JoinError {
        repr: JoinErrorRepr::Cancelled,
    }
}

/// Stages `Cancelled` in the join slot if the closure does not return (a
/// cancel or the runtime's shutdown unwound it) and leaves the publication
/// to the worker, which makes it after the segments are back.
struct CancelOnUnwind<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    body: Option<Arc<Spawned<F, T>>>,
}

impl<F, T> Drop for CancelOnUnwind<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn drop(&mut self) {
        if let Some(b) = self.body.take() {
            b.join.stage(Err(cancelled()));
            defer_publication(b);
        }
    }
}

impl<F, T> Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(f: F) -> Arc<Spawned<F, T>> {
        Arc::new(Spawned {
            join: JoinSlot::new(),
            f: Mutex::new(Some(f)),
        })
    }
}

impl<F, T> HasJoinSlot<T> for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn join_slot(&self) -> &JoinSlot<T> {
        &self.join
    }
}

impl<F, T> Body for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Catch the closure's panic into the join slot, but let the forced
    /// unwind of runtime shutdown pass through.
    fn run(self: Arc<Self>) -> Arc<dyn Body> {
        let Some(f) = self.f.lock().take() else {
            fatal!("a coroutine body ran twice");
        };
        let mut guard = CancelOnUnwind { body: Some(self) };
        let r = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
            Err(p) if crate::coro::is_shutdown_unwind(&*p) => Err(cancelled()),
            Err(p) => {
                if crate::coro::is_force_unwinding() {
                    // Not ours: corosensei's forced unwind must reach the root.
                    panic::resume_unwind(p);
                }
                if let Some(ctx) = crate::coro::ctx() {
                    ctx.wc().panicked.add(1);
                }
                Err(JoinError {
                    repr: JoinErrorRepr::Panic(p),
                })
            }
        };
        let Some(this) = guard.body.take() else {
            fatal!("a coroutine body lost its join slot");
        };
        this.join.stage(r);
        if crate::coro::is_force_unwinding() {
            // The closure swallowed the forced unwind and returned: the
            // worker discards this return, so publish through it too.
            defer_publication(this.clone());
        }
        this
    }

    fn cancel(&self) {
        drop(self.f.lock().take());
        self.join.complete(Err(cancelled()));
    }

    fn fail(&self, why: String) {
        drop(self.f.lock().take());
        self.join.complete(Err(JoinError {
            repr: JoinErrorRepr::Panic(Box::new(why)),
        }));
    }

    fn stage_cancelled(self: Arc<Self>) {
        drop(self.f.lock().take());
        self.join.stage(Err(cancelled()));
        defer_publication(self);
    }

    fn publish(&self) {
        self.join.publish()
    }
}
