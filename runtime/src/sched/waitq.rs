//! A queue of parked coroutines/threads waiting for a condition, and the
//! runtime's own coroutine-aware lock built on it ([`Semaphore`]).
//!
//! It lives in the scheduler layer because the scheduler itself needs it
//! (the stop-the-world lock); `sync` builds every primitive on it and
//! re-exports it as `crate::sync::waitq`.
//!
//! Protocol (no lost wake-ups): a waiter checks its condition, registers a
//! node, checks again, and only then parks; a notifier changes the state
//! first, then pops a node and wakes it. A woken waiter re-checks and
//! re-registers, so every notification either reaches a waiter that retries
//! or was taken by one that already succeeded.
//!
//! A popped node is marked, so the woken waiter does not have to search the
//! queue for itself: leaving the queue is O(1) after a notification, and
//! only an early exit (condition true right after registering, or a
//! spurious wake-up) searches.
//!
//! A cancel (`JoinHandle::cancel`) unwinds a parked coroutine out of its
//! park: on the way out it leaves the queue, and passes on a notification
//! that had already popped it (`park_registered`).
//!
//! A coroutine's node is its own task (a coroutine waits in one queue at a
//! time: it registers, then parks), so waiting allocates nothing; a plain
//! thread gets a small heap node per wait.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Instant;

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicUsize};
use crate::loom::sync::Mutex;
use crate::loom::{planted, Bug};

use super::park::{self, Unparker};
use super::task::TaskShared;
use super::wait::Wait;

/// A registered waiter.
#[derive(Clone)]
enum Node {
    /// A coroutine: its task carries the `queued` flag.
    Coroutine(Arc<TaskShared>),
    /// A plain thread.
    Thread(Arc<ThreadNode>),
}

struct ThreadNode {
    thread: crate::loom::thread::Thread,
    queued: AtomicBool,
}

impl Node {
    fn new(me: &Unparker) -> Node {
        match me {
            Unparker::Coroutine(t) => {
                t.wait_queued.store(true, Release);
                Node::Coroutine(t.clone())
            }
            Unparker::Thread(t) => Node::Thread(Arc::new(ThreadNode {
                thread: t.clone(),
                queued: AtomicBool::new(true),
            })),
        }
    }

    /// Still in the queue (cleared by the notifier that pops it).
    fn queued(&self) -> &AtomicBool {
        match self {
            Node::Coroutine(t) => &t.wait_queued,
            Node::Thread(n) => &n.queued,
        }
    }

    fn same(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Coroutine(a), Node::Coroutine(b)) => Arc::ptr_eq(a, b),
            (Node::Thread(a), Node::Thread(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn wake(&self) {
        match self {
            Node::Coroutine(t) => t.unpark(),
            Node::Thread(n) => n.thread.unpark(),
        }
    }
}

/// Waiters for one condition; see the module docs for the protocol.
pub(crate) struct WaitQueue {
    q: Mutex<VecDeque<Node>>,
    len: AtomicUsize,
    /// What its waiters wait for (the coroutine dump's words).
    why: Wait,
}

impl WaitQueue {
    /// A queue whose waiters wait for `why`.
    pub(crate) fn new(why: Wait) -> WaitQueue {
        WaitQueue {
            q: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            why,
        }
    }

    fn register(&self, me: &Unparker) -> Node {
        let node = Node::new(me);
        let mut q = self.q.lock();
        q.push_back(node.clone());
        self.len.store(q.len(), SeqCst);
        drop(q);
        // Dekker's handshake with `notify_*`: our `len` store, then our
        // condition check, against their state change, then their `len`
        // load. Without a full fence on both sides each may miss the other
        // (store buffering) and the wake-up is lost; the loom model
        // `waitq_semaphore` finds that interleaving.
        if !planted(Bug::WaitqNoFence) {
            fence(SeqCst);
        }
        node
    }

    /// Leave the queue; false when a notifier had already popped the node
    /// (its notification was meant for us).
    fn unregister(&self, node: &Node) -> bool {
        if !node.queued().load(Acquire) {
            return false;
        }
        let mut q = self.q.lock();
        let removed = node.queued().load(Acquire);
        if removed {
            if let Some(i) = q.iter().rposition(|n| n.same(node)) {
                q.remove(i);
            }
            node.queued().store(false, Release);
        }
        self.len.store(q.len(), SeqCst);
        removed
    }

    /// Park until unparked; when a cancel unwinds the coroutine out of the
    /// park instead, leave the queue on the way out (a node left behind
    /// would take a later notification to a finished task: lost wake-up),
    /// and pass on a notification that had already popped us, since the
    /// unwound waiter will not retry (the next waiter re-checks instead).
    /// Both are short, non-parking operations, as a forced unwind requires.
    fn park_registered(&self, node: &Node, park: impl FnOnce()) {
        struct LeaveOnUnwind<'a> {
            q: &'a WaitQueue,
            node: &'a Node,
        }
        impl Drop for LeaveOnUnwind<'_> {
            fn drop(&mut self) {
                // Only a forced unwind (cancel, shutdown) leaves a park this
                // way in the runtime; any other panic here is a test
                // harness's (loom's deadlock report), whose teardown must
                // not touch the queue again.
                if crate::coro::is_force_unwinding() && !self.q.unregister(self.node) {
                    self.q.notify_one();
                }
            }
        }
        let leave = LeaveOnUnwind { q: self, node };
        park();
        std::mem::forget(leave);
    }

    /// Park until `f` returns `Some`.
    pub(crate) fn wait_until<R>(&self, mut f: impl FnMut() -> Option<R>) -> R {
        if let Some(r) = f() {
            return r;
        }
        let me = park::current_unparker();
        loop {
            let node = self.register(&me);
            if planted(Bug::WaitqNoRecheck) {
                // The naive order: park right after registering.
            } else if let Some(r) = f() {
                self.unregister(&node);
                return r;
            }
            self.park_registered(&node, || park::park(self.why));
            self.unregister(&node);
            if let Some(r) = f() {
                return r;
            }
        }
    }

    /// Park until `f` returns `Some`, or until `deadline` (`None`).
    pub(crate) fn wait_until_deadline<R>(
        &self,
        deadline: Instant,
        mut f: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = f() {
            return Some(r);
        }
        let me = park::current_unparker();
        loop {
            if Instant::now() >= deadline {
                return None;
            }
            let node = self.register(&me);
            if let Some(r) = f() {
                self.unregister(&node);
                return Some(r);
            }
            self.park_registered(&node, || park::park_until(deadline, self.why));
            self.unregister(&node);
            if let Some(r) = f() {
                return Some(r);
            }
        }
    }

    fn pop(&self) -> Option<Node> {
        let mut q = self.q.lock();
        let n = q.pop_front();
        if let Some(n) = &n {
            n.queued().store(false, Release);
        }
        self.len.store(q.len(), SeqCst);
        n
    }

    /// Wake the longest waiter.
    pub(crate) fn notify_one(&self) {
        if !planted(Bug::WaitqNoFence) {
            fence(SeqCst); // see `register`
        }
        if self.len.load(SeqCst) == 0 {
            return;
        }
        if let Some(n) = self.pop() {
            n.wake();
        }
    }

    /// Wake every waiter.
    pub(crate) fn notify_all(&self) {
        if !planted(Bug::WaitqNoFence) {
            fence(SeqCst); // see `register`
        }
        if self.len.load(SeqCst) == 0 {
            return;
        }
        let all: Vec<Node> = {
            let mut q = self.q.lock();
            self.len.store(0, SeqCst);
            q.drain(..).collect()
        };
        for n in all {
            n.queued().store(false, Release);
            n.wake();
        }
    }
}

/// A binary semaphore for the runtime's own locks (stop-the-world):
/// acquire parks a coroutine rather than blocking its worker.
pub(crate) struct Semaphore {
    held: AtomicBool,
    waiters: WaitQueue,
}

impl Semaphore {
    pub(crate) fn new() -> Semaphore {
        Semaphore {
            held: AtomicBool::new(false),
            waiters: WaitQueue::new(Wait::StopTheWorld),
        }
    }

    pub(crate) fn acquire(&self) {
        self.waiters.wait_until(|| {
            self.held
                .compare_exchange(false, true, Acquire, Relaxed)
                .ok()
                .map(|_| ())
        })
    }

    pub(crate) fn release(&self) {
        self.held.store(false, Release);
        self.waiters.notify_one();
    }
}
