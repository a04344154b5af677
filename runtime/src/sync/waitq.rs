//! A queue of parked coroutines/threads waiting for a condition.
//!
//! Protocol (no lost wake-ups): a waiter checks its condition, registers its
//! unparker, checks again, and only then parks; a notifier changes the
//! state first and then wakes. A woken waiter re-checks and re-registers, so
//! a wake-up is never "used up" by a waiter that did not need it without
//! that waiter having retried.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;

use crate::sched::park::{self, Unparker};

pub(crate) struct WaitQueue {
    q: Mutex<VecDeque<Unparker>>,
    len: AtomicUsize,
}

impl WaitQueue {
    pub(crate) fn new() -> WaitQueue {
        WaitQueue {
            q: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    pub(crate) fn register(&self, me: &Unparker) {
        let mut q = self.q.lock();
        q.push_back(me.clone());
        self.len.store(q.len(), SeqCst);
    }

    pub(crate) fn unregister(&self, me: &Unparker) {
        if self.len.load(SeqCst) == 0 {
            return;
        }
        let mut q = self.q.lock();
        if let Some(i) = q.iter().position(|u| u.same(me)) {
            q.remove(i);
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
            self.register(&me);
            if let Some(r) = f() {
                self.unregister(&me);
                return r;
            }
            park::park();
            self.unregister(&me);
            if let Some(r) = f() {
                return r;
            }
        }
    }

    /// Wake the longest waiter.
    pub(crate) fn notify_one(&self) {
        if self.len.load(SeqCst) == 0 {
            return;
        }
        let u = {
            let mut q = self.q.lock();
            let u = q.pop_front();
            self.len.store(q.len(), SeqCst);
            u
        };
        if let Some(u) = u {
            u.unpark();
        }
    }

    /// Wake every waiter.
    pub(crate) fn notify_all(&self) {
        if self.len.load(SeqCst) == 0 {
            return;
        }
        let all: Vec<Unparker> = {
            let mut q = self.q.lock();
            self.len.store(0, SeqCst);
            q.drain(..).collect()
        };
        for u in all {
            u.unpark();
        }
    }
}
