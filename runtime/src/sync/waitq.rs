//! A queue of parked coroutines/threads waiting for a condition.
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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::sched::park::{self, Unparker};

struct Node {
    unparker: Unparker,
    /// Still in the queue (cleared by the notifier that pops it).
    queued: AtomicBool,
}

pub(crate) struct WaitQueue {
    q: Mutex<VecDeque<Arc<Node>>>,
    len: AtomicUsize,
}

impl WaitQueue {
    pub(crate) fn new() -> WaitQueue {
        WaitQueue {
            q: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    fn register(&self, me: &Unparker) -> Arc<Node> {
        let node = Arc::new(Node {
            unparker: me.clone(),
            queued: AtomicBool::new(true),
        });
        let mut q = self.q.lock();
        q.push_back(node.clone());
        self.len.store(q.len(), SeqCst);
        node
    }

    fn unregister(&self, node: &Arc<Node>) {
        if !node.queued.load(Acquire) {
            return;
        }
        let mut q = self.q.lock();
        if node.queued.load(Acquire) {
            if let Some(i) = q.iter().rposition(|n| Arc::ptr_eq(n, node)) {
                q.remove(i);
            }
            node.queued.store(false, Release);
        }
        self.len.store(q.len(), SeqCst);
    }

    /// Park until `f` returns `Some`.
    pub(crate) fn wait_until<R>(&self, mut f: impl FnMut() -> Option<R>) -> R {
        if let Some(r) = f() {
            return r;
        }
        let me = park::current_unparker();
        loop {
            let node = self.register(&me);
            if let Some(r) = f() {
                self.unregister(&node);
                return r;
            }
            park::park();
            self.unregister(&node);
            if let Some(r) = f() {
                return r;
            }
        }
    }

    fn pop(&self) -> Option<Arc<Node>> {
        let mut q = self.q.lock();
        let n = q.pop_front();
        if let Some(n) = &n {
            n.queued.store(false, Release);
        }
        self.len.store(q.len(), SeqCst);
        n
    }

    /// Wake the longest waiter.
    pub(crate) fn notify_one(&self) {
        if self.len.load(SeqCst) == 0 {
            return;
        }
        if let Some(n) = self.pop() {
            n.unparker.unpark();
        }
    }

    /// Wake every waiter.
    pub(crate) fn notify_all(&self) {
        if self.len.load(SeqCst) == 0 {
            return;
        }
        let all: Vec<Arc<Node>> = {
            let mut q = self.q.lock();
            self.len.store(0, SeqCst);
            q.drain(..).collect()
        };
        for n in all {
            n.queued.store(false, Release);
            n.unparker.unpark();
        }
    }
}
