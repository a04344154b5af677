//! Spawning and joining: [`spawn`], the spawn path every spawn function
//! shares ([`spawn_sized`]), and [`JoinHandle`].
//!
//! Contract:
//! - A spawn takes its body (`body::Spawned`: the closure and its join
//!   slot) from its site's free list on the worker (`free_bodies.rs`) and
//!   its task struct from the worker's (`free_tasks.rs`), allocating
//!   either only when none is there; the handle and the queue entry share
//!   both.
//! - The closure is boxed first when it is larger than
//!   [`BOX_CLOSURE_OVER`], and the first segment is made large enough for
//!   what the coroutine moves ([`payload_room`]).
//! - Placement (`placement.rs`) decides where the spawn starts; this file
//!   only hands it over, on this worker when the caller runs on one of the
//!   runtime's workers, else through the shared injector.
//! - A handle's drop gives the task struct back (`free_tasks::recycle`);
//!   the result it never read is dropped with the body. A `join` gives
//!   the body back (`free_bodies::keep`) once it holds the result.
//!
//! ```text
//!   spawn(f) --> Spawned { join slot, f } --+--> JoinHandle (join, cancel, drop)
//!                TaskShared (free list) ----+--> Unstarted --place--> a worker's deque
//! ```

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::body::{Body, HasJoinSlot, Spawned};
use super::placement::{self, Placed};
use super::task::{TaskShared, Unstarted};
use super::worker::{self, Shared};
use super::{free_bodies, free_tasks};
use crate::error::JoinError;

/// Owned permission to wait for a coroutine's result.
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let h = rt.spawn(|| panic!("boom"));
/// let e = h.join().unwrap_err();
/// assert!(e.is_panic());
/// # Ok::<(), bamboo::Error>(())
/// ```
pub struct JoinHandle<T> {
    /// `Some` until `join` hands the emptied body to `free_bodies::keep`.
    inner: Option<Arc<dyn HasJoinSlot<T>>>,
    /// `Some` until the drop hands it to `free_tasks::recycle`.
    task: Option<Arc<TaskShared>>,
    id: u64,
}

impl<T> JoinHandle<T> {
    fn body(&self) -> &Arc<dyn HasJoinSlot<T>> {
        match &self.inner {
            Some(b) => b,
            None => fatal!("JoinHandle of coroutine {} has no body", self.id),
        }
    }

    fn task(&self) -> &Arc<TaskShared> {
        match &self.task {
            Some(t) => t,
            None => fatal!("JoinHandle of coroutine {} has no task", self.id),
        }
    }

    /// Wait for the coroutine: parks a coroutine, blocks a plain thread.
    pub fn join(mut self) -> Result<T, JoinError> {
        let r = self.body().join_slot().wait(&self.task().shared);
        // The result is out and the joiner woken: an empty body, kept for
        // the next spawn of its site when this is its last reference (the
        // coroutine's is gone once it has finished on its worker).
        if let Some(b) = self.inner.take() {
            if Arc::strong_count(&b) == 1 {
                free_bodies::keep(b.into_any());
            }
        }
        r
    }

    /// Stop the coroutine; `join` then reports
    /// [`JoinError::is_cancelled`] (unless it had already finished: then
    /// this does nothing).
    ///
    /// - Not started yet: it never starts.
    /// - Parked or sleeping (a channel, lock, join, `sleep`...): it is
    ///   unwound at that suspension point, on its own worker, by a forced
    ///   unwind: its destructors run there and its segments go back before
    ///   `join` returns.
    /// - Running: at its next runtime check point (any runtime call: yield,
    ///   spawn, a channel or lock operation, `sleep`, `join`; `grow` only
    ///   when it switches segment) it yields and is unwound the same way. A
    ///   loop that makes no runtime call is not stopped.
    ///
    /// A destructor that blocks while its coroutine is being cancelled
    /// (parks on a channel, lock, join or sleep that cannot complete at
    /// once) cannot wait: a forced unwind cannot suspend, so the runtime
    /// aborts the process with a message naming the coroutine (as it does
    /// for the forced unwind of a runtime shutdown). Keep blocking work out
    /// of destructors, or make it non-blocking (`try_send`, `try_lock`).
    /// A value handed to the coroutine by a channel at the instant it is
    /// cancelled is dropped with it.
    ///
    /// ```
    /// let rt = bamboo::Runtime::new()?;
    /// let (_tx, rx) = bamboo::sync::channel::<u32>(0);
    /// let h = rt.spawn(move || rx.recv()); // parks for ever
    /// h.cancel();
    /// assert!(h.join().unwrap_err().is_cancelled());
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.task().request_cancel();
    }

    /// True once the coroutine has returned, panicked or been cancelled.
    pub fn is_finished(&self) -> bool {
        self.body().join_slot().is_finished()
    }

    /// The coroutine's id (unique in the process). Ids grow with the spawns
    /// of one thread, but are not ordered across threads: each thread takes
    /// them from the process-wide counter in blocks of 1,024.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Drop for JoinHandle<T> {
    /// The handle often holds a finished coroutine's last reference: its
    /// task struct goes to this worker's free list (`task.rs`).
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            free_tasks::recycle(t);
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).finish()
    }
}

/// A closure larger than this is boxed at once by every spawn function,
/// so it is copied onto no stack on its way (the spawner's frames would
/// otherwise hold several copies of it).
pub(crate) const BOX_CLOSURE_OVER: usize = 1 << 10;

/// How many bytes of a coroutine's first segment a closure of `f` bytes
/// and a result of `t` bytes may take as they are moved (unoptimised
/// builds copy a value once per frame it passes through).
pub(crate) const fn payload_room(f: usize, t: usize) -> usize {
    8 * (f + t)
}

/// Every spawn goes through here: box a large closure, and make the first
/// segment large enough for the closure and result the coroutine moves
/// (the explicit `stack` or the runtime's default, whichever is larger,
/// plus the payload's room when that is more than a few KiB).
#[inline(always)]
#[track_caller]
pub(crate) fn spawn_sized<F, T>(
    shared: &Arc<Shared>,
    name: Option<Box<str>>,
    stack: usize,
    f: F,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let room = payload_room(std::mem::size_of::<F>(), std::mem::size_of::<T>());
    let stack = if room > 4 << 10 {
        stack.max(shared.cfg.segment_size).max(room + (16 << 10))
    } else {
        stack
    };
    if std::mem::size_of::<F>() > BOX_CLOSURE_OVER {
        let f = Box::new(f);
        spawn_with(shared, name, stack, f)
    } else {
        spawn_with(shared, name, stack, f)
    }
}

/// Spawn with a name and a first-segment size (0: the runtime's): the
/// closure's allocation (with its join slot) here, the rest, which does
/// not depend on `F` and `T`, in [`spawn_body`].
#[track_caller]
fn spawn_with<F, T>(
    shared: &Arc<Shared>,
    name: Option<Box<str>>,
    stack: usize,
    f: F,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let at = std::panic::Location::caller();
    crate::coro::checkpoint(|| {
        let spawned = Spawned::new(f);
        let join: Arc<dyn HasJoinSlot<T>> = spawned.clone();
        let task = spawn_body(shared, at, name, stack, spawned);
        JoinHandle {
            inner: Some(join),
            id: task.id(),
            task: Some(task),
        }
    })
}

/// Make the task of a spawn and place it: on this worker when the caller
/// runs on one of `shared`'s workers (its own free list, registry shard
/// and spawn counter: nothing another worker touches, no reference count
/// of the runtime's), else on the shared injector.
fn spawn_body(
    shared: &Arc<Shared>,
    at: &'static std::panic::Location<'static>,
    name: Option<Box<str>>,
    stack: usize,
    body: Arc<dyn Body>,
) -> Arc<TaskShared> {
    let local = worker::local().filter(|l| Arc::ptr_eq(&l.shared, shared));
    let l = local.as_deref();
    let task = TaskShared::new(shared, l, at, name, stack);
    let u = Unstarted::new(task.clone(), body);
    if shared.shutdown.load(Relaxed) {
        drop(u); // completes the join slot as cancelled
        return task;
    }
    worker::maybe_stamp(&u.task);
    // Where it starts (placement.rs `place`): a lone coroutine in this
    // worker's deque wakes nobody (its "run next"); the next one goes to
    // an idle worker if there is one; more queue here and wake a worker
    // to steal the older ones.
    let placed = match l {
        Some(l) => {
            l.ctx.wc().spawns.add(1);
            placement::place(l, u)
        }
        None => {
            shared.counters.global.spawned.fetch_add(1, Relaxed);
            shared.injector.push(u);
            Placed::Elsewhere
        }
    };
    if let Some(how) = placed.wake() {
        shared.wake(how);
    }
    task
}

/// Spawn a coroutine on the current runtime.
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let sum = rt.block_on(|| {
///     let hs: Vec<_> = (0..10u64).map(|i| bamboo::spawn(move || i * i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(sum, 285);
/// # Ok::<(), bamboo::Error>(())
/// ```
///
/// # Panics
/// When called outside a bamboo coroutine or worker thread.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // (The worker's `Shared` by reference: a `Handle` would clone it, and
    // its reference count is one cache line every worker's spawns share.)
    match worker::local() {
        Some(l) => spawn_sized(&l.shared, None, 0, f),
        None => panic!(
            "bamboo::spawn called outside a bamboo runtime (use Runtime::spawn or Handle::spawn)"
        ),
    }
}
