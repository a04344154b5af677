//! The synchronization primitives the lock-free protocols are written
//! against, so that the model checker can run the real code (tokio's
//! `loom/` shim is the model).
//!
//! Contract:
//! - A normal build re-exports std's atomics and threads and parking_lot's
//!   `Mutex`/`Condvar`: zero cost, same types.
//! - A `--cfg loom` build (`scripts/loom.sh`) re-exports loom's, wrapped to
//!   parking_lot's API (`lock()` returns the guard, `Condvar::wait` takes
//!   `&mut guard`). Only the models (`sched/models.rs`) run in that build;
//!   loom's types must not be used outside `loom::model`.
//! - [`planted`] lets a model switch on one known bug in the real code
//!   (`Bug`), to show that the model finds it. A normal build has no bugs
//!   to plant: `planted` is a constant `false`.
//!
//! Modules that use this shim: `sched/state.rs` (park state),
//! `sched/waitq.rs` (wait queue), `sched/park.rs` (thread parking),
//! `sched/stw.rs` (stop-the-world rendezvous), `sched/remote.rs` (remote
//! wake-up handshake), `sched/placement.rs` (the handoff to an idle
//! worker, a spawn's wake-up), `sched/worker.rs` (the sleepers' count and
//! the sleep handshake's fence), `sched/poller.rs` (readiness generations),
//! `sync/waiter.rs` (the claim word of channel and select waits).

/// Bugs a model may plant in the real code (each one is a naive version of
/// a step the protocol needs; see `sched/models.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    /// `WaitQueue::wait_until` parks right after registering, without
    /// checking its condition again.
    WaitqNoRecheck,
    /// `WaitQueue` without its two fences (register's `len` store vs the
    /// notifier's `len` load: store buffering).
    WaitqNoFence,
    /// `ParkState::transition_to_parked` stores PARKED instead of a CAS
    /// from IDLE (a token that arrived during the suspend is lost).
    ParkStoreNotCas,
    /// `ParkState::transition_to_resumed` drops a token (as the start of a
    /// slice after a park does), so a preempted waiter loses its wake-up.
    ResumeDropsToken,
    /// `ParkState::notify` enqueues on every token, not only from PARKED.
    ParkNotifyAlwaysEnqueues,
    /// A worker that exits does not count itself as stopped.
    StwExitNotCounted,
    /// A stop does not ask the running coroutines to yield.
    StwNoAsk,
    /// A stop asks the running coroutines to yield before it raises its
    /// flag.
    StwAskBeforeFlag,
    /// The remote push does not fence before reading `sleeping`.
    RemoteNoFence,
    /// A spawner that handed a coroutine to an idle worker does not fence
    /// before reading its `sleeping` flag.
    HandoffNoFence,
    /// No push of a spawn batch fences: those that leave two or more in
    /// the spawner's deque (`Placed::Queued`, `QueuedBehind`) wake a
    /// sleeper by the sleepers' count alone.
    QueuedNoFence,
    /// f4e24b0's shortcut: a push that finds two or more already in the
    /// spawner's deque (`Placed::QueuedBehind`) wakes a sleeper by the
    /// count alone, without the handshake's fence (a thief that steals
    /// right after it leaves a sleeper a lone-looking deque).
    QueuedBehindNoFence,
    /// `IoState::enqueue` does not compare the readiness generation.
    PollerNoGenCheck,
    /// `Waiter::claim` loads `WAITING` and then stores its case, instead
    /// of one compare-and-swap (two claimers can both win).
    ClaimLoadStore,
    /// `Owner::settle` reads a single operation's word before taking the
    /// queue's lock (a claim in between is taken for a timeout).
    SingleSettleBeforeLock,
}

#[cfg(loom)]
std::thread_local! {
    static PLANTED: std::cell::Cell<Option<Bug>> = const { std::cell::Cell::new(None) };
}

/// True when a model planted `bug`.
#[cfg(loom)]
pub(crate) fn planted(bug: Bug) -> bool {
    PLANTED.with(|p| p.get()) == Some(bug)
}

/// Outside `--cfg loom` no bug is ever planted.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn planted(_bug: Bug) -> bool {
    false
}

/// Plant `bug` (or none) for the models run by this test thread. loom runs
/// every model thread on the test's own OS thread, so the thread-local
/// reaches all of them.
#[cfg(all(loom, test))]
pub(crate) fn plant(bug: Option<Bug>) {
    PLANTED.with(|p| p.set(bug));
}

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use parking_lot::{Condvar, Mutex};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
    }
}

#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, park_timeout, Thread};
}

#[cfg(loom)]
pub(crate) mod sync {
    use std::ops::{Deref, DerefMut};
    use std::time::Duration;

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
    }

    /// loom's mutex with parking_lot's API.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Its guard (an `Option` so that [`Condvar::wait`] can move it).
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(v: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(v))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutex poisoned")))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard held")
        }
    }

    /// loom's condition variable with parking_lot's API. loom never times
    /// out a wait: `wait_for` is `wait`, so a protocol that needs the
    /// timeout to make progress deadlocks in the model (on purpose).
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, g: &mut MutexGuard<'_, T>) {
            let inner = g.0.take().expect("guard held");
            g.0 = Some(self.0.wait(inner).expect("loom mutex poisoned"));
        }
        pub(crate) fn wait_for<T>(&self, g: &mut MutexGuard<'_, T>, _d: Duration) {
            self.wait(g)
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all()
        }
    }
}

#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{current, park, Thread};

    /// loom has no timed park: a model thread waits until unparked.
    pub(crate) fn park_timeout(_d: std::time::Duration) {
        park()
    }
}
