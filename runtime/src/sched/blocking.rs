//! The blocking pool: plain threads that run calls which would freeze a
//! worker (file I/O, name resolution, libraries that block), so that the
//! calling coroutine parks instead.
//!
//! Contract:
//! - One pool per runtime. Threads start on demand: a call that finds no
//!   idle thread starts one, up to the cap (`Builder::blocking_threads`,
//!   `BAMBOO_BLOCKING_THREADS`, default 512); past the cap, calls queue.
//! - An idle thread waits for [`IDLE_EXIT`] and then exits; at runtime
//!   shutdown idle threads exit at once (a running call finishes first:
//!   threads are not joined, a call may block for ever).
//! - The caller parks until its job has run; the result (or the panic) is
//!   handed back through a one-shot slot and the panic is resumed in the
//!   caller. If the caller is unwound meanwhile (runtime shutdown), the job
//!   still runs and its result is dropped with the slot.
//! - `state` is the only lock (a leaf); the job runs outside it.
//!
//! ```text
//!   coroutine            pool state (Mutex)               pool thread
//!   push job  ---------> queue, idle, threads  <--------- pop job / wait 10 s
//!   park      <-- unpark (slot filled) ------------------ run f, fill slot
//! ```

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::park::{self, Unparker};
use super::wait::Wait;

/// How long an idle pool thread waits for work before it exits.
pub const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    shutdown: bool,
}

/// One runtime's blocking pool.
pub(crate) struct BlockingPool {
    cap: usize,
    state: Mutex<State>,
    cv: Condvar,
    /// Pool threads alive (`/sched/blocking/threads:threads`).
    pub(crate) threads: AtomicU64,
}

impl BlockingPool {
    pub(crate) fn new(cap: usize) -> Arc<BlockingPool> {
        Arc::new(BlockingPool {
            cap,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
            threads: AtomicU64::new(0),
        })
    }

    /// Queue `job`; start a thread if the idle ones cannot take it and the
    /// cap allows. If no pool thread exists and none can be started, the
    /// queued calls run here rather than being lost.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut st = self.state.lock();
        st.queue.push_back(job);
        if st.idle >= st.queue.len() {
            drop(st);
            self.cv.notify_one();
            return;
        }
        if st.threads >= self.cap {
            drop(st);
            self.cv.notify_one();
            return;
        }
        st.threads += 1;
        self.threads.fetch_add(1, Relaxed);
        drop(st);
        let pool = self.clone();
        let spawned = thread::Builder::new()
            .name("bamboo-blocking".into())
            .spawn(move || pool.run());
        if spawned.is_err() {
            let mut st = self.state.lock();
            st.threads -= 1;
            self.threads.fetch_sub(1, Relaxed);
            if st.threads == 0 {
                let jobs: Vec<Job> = st.queue.drain(..).collect();
                drop(st);
                jobs.into_iter().for_each(|j| j());
            }
        }
    }

    /// Body of a pool thread: run queued calls; exit after [`IDLE_EXIT`]
    /// without one, or at shutdown once the queue is empty.
    fn run(self: Arc<Self>) {
        let mut st = self.state.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                job();
                st = self.state.lock();
                continue;
            }
            if st.shutdown {
                return self.exit(st);
            }
            st.idle += 1;
            let timed_out = self.cv.wait_for(&mut st, IDLE_EXIT).timed_out();
            st.idle -= 1;
            if timed_out && st.queue.is_empty() {
                return self.exit(st);
            }
        }
    }

    fn exit(&self, mut st: parking_lot::MutexGuard<'_, State>) {
        st.threads -= 1;
        self.threads.fetch_sub(1, Relaxed);
    }

    /// Runtime shutdown: idle threads exit now, busy ones after their call.
    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cv.notify_all();
    }
}

/// The one-shot slot a job fills for its caller.
struct Slot<T> {
    result: Option<thread::Result<T>>,
    waiter: Option<Unparker>,
}

/// Run `f` on the runtime's blocking pool and park the calling coroutine
/// until it returns; a panic in `f` is resumed here. Outside a coroutine
/// (a plain thread, or a worker outside any coroutine) `f` runs right here.
///
/// Use it for everything that blocks its thread: `std::fs`,
/// `std::thread::sleep`, name resolution, libraries with blocking calls.
/// Sockets of [`crate::net`] do not need it.
///
/// ```
/// let rt = bamboo::Runtime::new().unwrap();
/// let len = rt.block_on(|| bamboo::blocking(|| std::fs::read("Cargo.toml").map(|b| b.len())));
/// assert!(len.unwrap() > 0);
/// ```
pub fn blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let Some(task) = super::task::current() else {
        return f();
    };
    let pool = task.shared.blocking.clone();
    if let Some(ctx) = crate::coro::ctx() {
        ctx.wc().blocking_calls.add(1);
    }
    let slot = Arc::new(Mutex::new(Slot {
        result: None,
        waiter: Some(Unparker::Coroutine(task)),
    }));
    let s2 = slot.clone();
    pool.submit(Box::new(move || {
        let r = panic::catch_unwind(AssertUnwindSafe(f));
        let w = {
            let mut s = s2.lock();
            s.result = Some(r);
            s.waiter.take()
        };
        if let Some(w) = w {
            w.unpark();
        }
    }));
    loop {
        if let Some(r) = slot.lock().result.take() {
            match r {
                Ok(v) => return v,
                Err(p) => panic::resume_unwind(p),
            }
        }
        park::park(Wait::Blocking);
    }
}
