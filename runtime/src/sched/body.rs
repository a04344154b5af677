//! A coroutine's body: the user closure and its join slot in one
//! allocation ([`Spawned`]), as the worker runs it ([`Body`]) and as its
//! `JoinHandle` waits on it ([`HasJoinSlot`], [`JoinSlot`]).
//!
//! Contract:
//! - The closure is taken once: by [`Body::run`] as the coroutine starts,
//!   or by a cancel, a failure to start or the destruction of a coroutine
//!   that never ran (each completes or stages the slot).
//! - [`Body::run`] stages the result; the worker publishes it
//!   ([`Body::publish`]) only once the coroutine's segments are back, so a
//!   joiner never sees a result while its stack memory is held. A
//!   detached body (no handle left: [`is_detached`]) drops its result
//!   instead and is not published.
//! - An unwound coroutine's body (cancel, shutdown) is left for the worker
//!   in a thread-local ([`take_unwound`]), published after its segments.
//! - Bodies are reused by spawn site once empty (`free_bodies.rs`): the
//!   [`Done`] a body returns says whether it dropped its result.
//!
//! ```text
//!   Arc<Spawned<F, T>>  ---  the closure F (taken when it starts)
//!      |                     JoinSlot<T>: result, finished, waiter
//!      +-- as Arc<dyn Body>          : what the worker runs, then publishes
//!      +-- as Arc<dyn HasJoinSlot<T>>: what the JoinHandle<T> waits on
//! ```

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use super::park::{self, Unparker};
use super::task::{plain_thread_holds_stop, with_current};
use super::wait::Wait;
use super::watchdog;
use super::worker::Shared;
use crate::error::{JoinError, JoinErrorRepr};
use crate::lock::SpinLock;

thread_local! {
    /// The body of a coroutine that was just unwound (cancel, shutdown),
    /// its result staged as cancelled: the worker publishes it once the
    /// coroutine's segments are back ([`take_unwound`]).
    static UNWOUND: Cell<Option<Arc<dyn Body>>> = const { Cell::new(None) };
}

/// Nothing but the caller's reference holds `body`: its `JoinHandle` is
/// gone (handles are made only at the spawn, and nothing keeps a weak
/// reference to a body), so no one will read its result or wait for it.
/// A finished detached coroutine (skynet's leaves, a dropped handle) skips
/// its join slot's two lock round trips.
pub(crate) fn is_detached<B: ?Sized>(body: &Arc<B>) -> bool {
    Arc::strong_count(body) == 1
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
    pub(crate) fn run(mut self) -> Done {
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

/// What a finished coroutine's body hands its worker.
pub(crate) struct Done {
    /// The body, for [`Body::publish`] once the coroutine is gone.
    pub(crate) body: Arc<dyn Body>,
    /// No handle was left as it returned and its result was dropped: the
    /// body is empty (`free_bodies::keep` may take it). False when the
    /// result was staged, also if the handle is dropped after that.
    pub(crate) emptied: bool,
}

/// A coroutine body as the worker sees it: the user closure and its join
/// slot in one allocation (a [`Spawned`]).
pub(crate) trait Body: Send + Sync {
    /// Call the closure (once), catch its panic, stage the result; return
    /// `self` for [`Body::publish`] once the coroutine is gone.
    fn run(self: Arc<Self>) -> Done;
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
    /// The body as its own type, for `free_bodies::keep`.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// What a `JoinHandle<T>` holds: the join slot inside a `Spawned<F, T>`
/// (whose `F` it cannot name).
pub(crate) trait HasJoinSlot<T>: Send + Sync {
    fn join_slot(&self) -> &JoinSlot<T>;
    /// The body as its own type, for `free_bodies::keep`.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// The one allocation of a spawn (besides its `TaskShared`), from its
/// site's free list when one is there (`free_bodies.rs`).
pub(crate) struct Spawned<F, T> {
    join: JoinSlot<T>,
    f: SpinLock<Option<F>>,
}

struct SlotState<T> {
    result: Option<Result<T, JoinError>>,
    finished: bool,
    waiter: Option<Unparker>,
}

/// Where a coroutine's result waits for its `JoinHandle`.
pub(crate) struct JoinSlot<T> {
    state: SpinLock<SlotState<T>>,
}

impl<T> JoinSlot<T> {
    fn new() -> JoinSlot<T> {
        JoinSlot {
            state: SpinLock::new(SlotState {
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
        // The caller's task borrowed once (`with_current`: no reference
        // count traffic but the waiter's own clone).
        crate::coro::checkpoint(|| {
            with_current(|me| loop {
                {
                    let mut s = self.state.lock();
                    if s.finished {
                        match s.result.take() {
                            Some(r) => return r,
                            None => fatal!("a finished coroutine's join slot has no result"),
                        }
                    }
                    if me.is_none() && plain_thread_holds_stop() {
                        panic!(
                            "JoinHandle::join on a plain thread that holds a StopTheWorld guard: \
                             every worker is stopped, so the coroutine can never finish"
                        );
                    }
                    s.waiter = Some(match me {
                        Some(t) => Unparker::Coroutine(t.clone()),
                        None => Unparker::Thread(crate::loom::thread::current()),
                    });
                }
                match me {
                    Some(t) => park::park_task(t, None, Wait::Join),
                    None => watchdog::park_thread(shared, &mut watch),
                }
            })
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
        if let Some(mut b) = super::free_bodies::reuse::<Spawned<F, T>>() {
            // Kept empty, by its last holder (`free_bodies::keep`): unique.
            // Field by field: the struct itself is not dropped.
            if let Some(m) = Arc::get_mut(&mut b) {
                m.join = JoinSlot::new();
                m.f = SpinLock::new(Some(f));
                #[cfg(feature = "test-hooks")]
                BODY_REUSES.fetch_add(1, Relaxed);
                return b;
            }
            fatal!("a free coroutine body is shared");
        }
        #[cfg(feature = "test-hooks")]
        BODIES.fetch_add(1, Relaxed);
        Arc::new(Spawned {
            join: JoinSlot::new(),
            f: SpinLock::new(Some(f)),
        })
    }
}

/// Bodies allocated and not yet freed, in this process (free lists
/// included): the free-list test checks them at shutdown.
#[cfg(feature = "test-hooks")]
pub(crate) static BODIES: AtomicUsize = AtomicUsize::new(0);
/// Spawns that reused a body from a free list.
#[cfg(feature = "test-hooks")]
pub(crate) static BODY_REUSES: AtomicUsize = AtomicUsize::new(0);

#[cfg(feature = "test-hooks")]
impl<F, T> Drop for Spawned<F, T> {
    fn drop(&mut self) {
        BODIES.fetch_sub(1, Relaxed);
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

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<F, T> Body for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Catch the closure's panic into the join slot, but let the forced
    /// unwind of runtime shutdown pass through.
    fn run(self: Arc<Self>) -> Done {
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
        if is_detached(&this) && !crate::coro::is_force_unwinding() {
            // No `JoinHandle` is left and none can be made: nobody reads
            // the result (dropped here, on the coroutine's stack) and the
            // worker does not publish it (`slice.rs`).
            drop(r);
            return Done {
                body: this,
                emptied: true,
            };
        }
        this.join.stage(r);
        if crate::coro::is_force_unwinding() {
            // The closure swallowed the forced unwind and returned: the
            // worker discards this return, so publish through it too.
            defer_publication(this.clone());
        }
        Done {
            body: this,
            emptied: false,
        }
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

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}
