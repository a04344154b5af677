//! Tasks: the `Send` side of a coroutine (park state, owner, join slot).
//!
//! A coroutine itself (`coro::CoroState`) is `!Send` and lives in its
//! worker's slab. What other threads see is [`TaskShared`] (to wake it) and
//! [`JoinInner`] (to collect its result).
//!
//! Park state machine (`park_state`):
//! ```text
//!   IDLE --unpark--> NOTIFIED --park (token)--> IDLE
//!   IDLE --park: worker after suspend--> PARKED --unpark--> NOTIFIED + enqueue
//!   any --finish--> DONE   (unpark of a DONE task never enqueues)
//! ```
//! Only the `PARKED -> NOTIFIED` transition enqueues, so a task is in at
//! most one run queue, and a queued slot always names a live coroutine.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::AcqRel};
use std::sync::Arc;

use parking_lot::Mutex;

use super::park::{self, Unparker};
use super::worker::Shared;
use crate::error::{JoinError, JoinErrorRepr};

pub(crate) const PARK_IDLE: u8 = 0;
pub(crate) const PARK_NOTIFIED: u8 = 1;
pub(crate) const PARK_PARKED: u8 = 2;
pub(crate) const PARK_DONE: u8 = 3;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The shareable half of a coroutine.
pub(crate) struct TaskShared {
    pub park_state: AtomicU8,
    pub id: u64,
    /// Worker that started it (`usize::MAX` before).
    pub owner: AtomicUsize,
    /// Its slab slot on that worker.
    pub slot: AtomicUsize,
    /// Sampled time it became runnable (ns since the runtime epoch), 0 = none.
    pub stamp: AtomicU64,
    /// Registered in a `sync::waitq::WaitQueue` (a coroutine waits in at
    /// most one at a time).
    pub wait_queued: AtomicBool,
    pub rt: Arc<Shared>,
}

impl TaskShared {
    pub(crate) fn new(rt: Arc<Shared>) -> TaskShared {
        TaskShared {
            park_state: AtomicU8::new(PARK_IDLE),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            owner: AtomicUsize::new(usize::MAX),
            slot: AtomicUsize::new(usize::MAX),
            stamp: AtomicU64::new(0),
            wait_queued: AtomicBool::new(false),
            rt,
        }
    }

    /// Wake the task: its next (or current) park returns.
    pub(crate) fn unpark(self: &Arc<Self>) {
        if self.park_state.swap(PARK_NOTIFIED, AcqRel) == PARK_PARKED {
            super::worker::schedule(self);
        }
    }
}

/// A spawned, not yet started coroutine. Stealable by any worker. Dropped
/// without starting (runtime shutdown), it completes its join slot as
/// cancelled and drops the user closure.
pub(crate) struct Unstarted {
    pub task: Arc<TaskShared>,
    body: Option<Body>,
}

impl Unstarted {
    pub(crate) fn new(task: Arc<TaskShared>, body: Body) -> Unstarted {
        Unstarted {
            task,
            body: Some(body),
        }
    }

    /// Take the body to run it (once).
    pub(crate) fn take_body(&mut self) -> Body {
        self.body
            .take()
            .expect("an unstarted coroutine has its body")
    }
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(b) = self.body.take() {
            b.cancel();
        }
    }
}

/// A coroutine body: the user closure and its join slot in one allocation
/// (shared with the `JoinHandle`). `run` calls the closure, stages its
/// result, and returns the publication for the worker to make after the
/// coroutine is gone.
pub(crate) trait RunBody: Send + Sync {
    fn run(self: Arc<Self>) -> Completion;
    /// Never started: drop the closure, complete the slot as cancelled.
    fn cancel(&self);
}

pub(crate) type Body = Arc<dyn RunBody>;

/// What a `JoinHandle<T>` holds: the join slot inside a `Spawned<F, T>`.
pub(crate) trait JoinSlotOf<T>: Send + Sync {
    fn join_inner(&self) -> &JoinInner<T>;
}

/// The one allocation of a spawn (besides its `TaskShared`).
pub(crate) struct Spawned<F, T> {
    join: JoinInner<T>,
    f: Mutex<Option<F>>,
}

struct JoinSlot<T> {
    result: Option<Result<T, JoinError>>,
    finished: bool,
    waiter: Option<Unparker>,
}

/// Where a coroutine's result waits for its `JoinHandle`.
pub(crate) struct JoinInner<T> {
    slot: Mutex<JoinSlot<T>>,
}

impl<T> JoinInner<T> {
    pub(crate) fn new() -> JoinInner<T> {
        JoinInner {
            slot: Mutex::new(JoinSlot {
                result: None,
                finished: false,
                waiter: None,
            }),
        }
    }

    /// Store the result; the joiner sees it only after [`Publish::publish`].
    fn stage(&self, r: Result<T, JoinError>) {
        self.slot.lock().result = Some(r);
    }

    fn complete(&self, r: Result<T, JoinError>) {
        self.stage(r);
        self.publish_now();
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.slot.lock().finished
    }

    /// Wait for the result (parks a coroutine, blocks a thread).
    pub(crate) fn wait(&self) -> Result<T, JoinError> {
        crate::coro::checkpoint(|| loop {
            {
                let mut s = self.slot.lock();
                if s.finished {
                    return s.result.take().expect("a finished coroutine has a result");
                }
                s.waiter = Some(park::current_unparker());
            }
            park::park();
        })
    }
}

/// Makes a staged result visible and wakes the joiner. The worker calls it
/// after the coroutine's segments are back, so a joiner never sees a result
/// while the coroutine still holds stack memory.
pub(crate) trait Publish: Send + Sync {
    fn publish(&self);
}

/// A finished coroutine's pending publication.
pub(crate) type Completion = Arc<dyn Publish>;

impl<T: Send> Publish for JoinInner<T> {
    fn publish(&self) {
        self.publish_now()
    }
}

impl<T> JoinInner<T> {
    fn publish_now(&self) {
        let w = {
            let mut s = self.slot.lock();
            s.finished = true;
            s.waiter.take()
        };
        if let Some(w) = w {
            w.unpark();
        }
    }
}

fn cancelled() -> JoinError {
    JoinError {
        repr: JoinErrorRepr::Cancelled,
    }
}

/// Completes the join slot with `Cancelled` if the closure does not return
/// (unwound at runtime shutdown).
struct CancelOnUnwind<'a, T> {
    join: &'a JoinInner<T>,
    armed: bool,
}

impl<T> Drop for CancelOnUnwind<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.join.complete(Err(cancelled()));
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
            join: JoinInner::new(),
            f: Mutex::new(Some(f)),
        })
    }
}

impl<F, T> Publish for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn publish(&self) {
        self.join.publish_now()
    }
}

impl<F, T> JoinSlotOf<T> for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn join_inner(&self) -> &JoinInner<T> {
        &self.join
    }
}

impl<F, T> RunBody for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Catch the closure's panic into the join slot, but let the forced
    /// unwind of runtime shutdown pass through.
    fn run(self: Arc<Self>) -> Completion {
        let f = self.f.lock().take().expect("a coroutine body runs once");
        let mut guard = CancelOnUnwind {
            join: &self.join,
            armed: true,
        };
        let r = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Ok(v),
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
        guard.armed = false;
        drop(guard);
        self.join.stage(r);
        self
    }

    fn cancel(&self) {
        drop(self.f.lock().take());
        self.join.complete(Err(cancelled()));
    }
}
