//! The M:N scheduler: [`Runtime`], [`Handle`], spawning, joining, yielding,
//! sleeping, and stopping the world.
//!
//! - `worker.rs`: the worker loop, run queues, idling; `slice.rs`: one
//!   slice of a coroutine and the slab of started ones; `placement.rs`:
//!   what runs next and where a spawn starts; `shutdown.rs`: unwinding
//!   at shutdown.
//! - `monitor.rs`: the monitor thread that preempts long slices.
//! - `spawn.rs`: [`spawn`] and [`JoinHandle`]; `task.rs`: the `Send` half
//!   of a coroutine and its join slot; `free_tasks.rs`: task structs kept
//!   for the next spawns.
//! - `park.rs`: park/unpark for coroutines and plain threads.
//! - `timer.rs`: per-worker timer heaps.
//! - `state.rs`: a task's park state machine.
//! - `waitq.rs`: wait queues and the runtime's own coroutine-aware lock.
//! - `wait.rs`, `registry.rs`, `dump.rs`: what each coroutine waits for,
//!   the live tasks, and [`Handle::dump`]; `watchdog.rs`: the deadlock
//!   report; `sigquit.rs`: the dump on `SIGQUIT`.
//!
//! Why started coroutines never migrate: a coroutine's stack holds
//! references to thread-locals of the thread it runs on (`std`'s, the
//! user's, and ours: the segment cache). Moving it would leave those dangling,
//! so stealing is limited to coroutines that have not started.

pub(crate) mod blocking;
pub(crate) mod body;
pub mod coroutine;
pub(crate) mod dump;
mod free_bodies;
mod free_tasks;
mod idle;
pub(crate) mod monitor;
pub(crate) mod park;
mod placement;
pub(crate) mod poller;
pub(crate) mod registry;
pub(crate) mod remote;
pub(crate) mod shrink;
mod shutdown;
mod sigquit;
mod slice;
mod spawn;
pub(crate) mod state;
pub(crate) mod stw;
pub(crate) mod task;
pub(crate) mod timer;
pub(crate) mod wait;
pub(crate) mod waitq;
pub(crate) mod wake_batch;
mod watchdog;
pub(crate) mod worker;

#[cfg(all(test, loom))]
mod models;

use std::marker::PhantomData;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::Worker as LocalDeque;

use crate::config::{Builder, Config};
use crate::counters::CounterSnapshot;
use crate::error::Error;
pub use dump::{CoroutineInfo, CoroutineState};
pub(crate) use spawn::spawn_sized;
pub use spawn::{spawn, JoinHandle};
use task::Unstarted;
use worker::Shared;

impl Builder {
    /// Start the runtime: resolve the settings (explicit ones, then
    /// `BAMBOO_*` variables, then defaults; see [`Builder`]), then start
    /// the workers.
    ///
    /// ```
    /// let rt = bamboo::Runtime::builder().workers(2).build()?;
    /// assert_eq!(rt.handle().workers(), 2);
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] or [`Error::InvalidEnv`] naming the bad
    /// setting and its value; [`Error::Os`] when a worker thread or its
    /// stack cannot be created.
    pub fn build(&mut self) -> Result<Runtime, Error> {
        let cfg = self.resolve_process_env()?;
        check_max_stack_covers_a_grow(&cfg)?;
        Runtime::start(cfg)
    }
}

/// `max_stack` must allow at least one grow: the first segment plus the
/// segment its first check point switches to (both with their red zones).
/// Below that, every grow would panic.
fn check_max_stack_covers_a_grow(cfg: &Config) -> Result<(), Error> {
    let Some(min) = crate::stack::class_of(cfg.segment_size).map(crate::stack::min_chain_to_grow)
    else {
        return Ok(()); // an unusable segment size is reported by the worker's stack setup
    };
    if cfg.max_stack >= min {
        return Ok(());
    }
    let reason = format!(
        "stack limit must be at least {min} bytes with a first segment of {} bytes: \
         the first segment plus one grown segment, red zones included",
        cfg.segment_size
    );
    let value = cfg.max_stack.to_string();
    Err(match cfg.max_stack_from {
        "Builder::max_stack" => Error::InvalidConfig {
            setting: "Builder::max_stack",
            value,
            reason,
        },
        _ => Error::InvalidEnv {
            var: crate::config::ENV_MAX_STACK,
            value: std::env::var(crate::config::ENV_MAX_STACK).unwrap_or(value),
            reason,
        },
    })
}

/// A bamboo runtime: worker threads running coroutines.
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let h = rt.spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// assert_eq!(rt.block_on(|| bamboo::spawn(|| "hi").join().unwrap()), "hi");
/// # Ok::<(), bamboo::Error>(())
/// ```
///
/// Dropping it unwinds every suspended coroutine on its worker (their
/// destructors run), drops every coroutine that never started, and returns
/// every segment to the pool. `JoinHandle`s of those coroutines report
/// [`JoinError::is_cancelled`](crate::JoinError::is_cancelled).
pub struct Runtime {
    handle: Handle,
    threads: Vec<ThreadHandle<()>>,
    monitor: Option<ThreadHandle<()>>,
}

impl Runtime {
    /// A runtime with default settings, overridden by `BAMBOO_*` variables.
    pub fn new() -> Result<Runtime, Error> {
        Builder::default().build()
    }

    /// A builder for custom settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    pub(crate) fn start(cfg: Config) -> Result<Runtime, Error> {
        crate::coro::install_panic_hook();
        crate::signal::install();
        let n = cfg.workers;
        // LIFO at home, FIFO for thieves (`placement.rs`).
        let deques: Vec<LocalDeque<Unstarted>> = (0..n).map(|_| LocalDeque::new_lifo()).collect();
        let stealers = deques.iter().map(LocalDeque::stealer).collect();
        let mut polls = Vec::with_capacity(n);
        let mut pollers = Vec::with_capacity(n);
        for _ in 0..n {
            let (p, s) = poller::new_poller().map_err(|e| Error::Os {
                op: "creating a worker's poller (epoll)",
                message: e.to_string(),
            })?;
            polls.push(p);
            pollers.push(s);
        }
        let first_class = crate::stack::class_of(cfg.segment_size);
        let shared = Arc::new(Shared::new(cfg, stealers, pollers));
        // The first workers' first segments: when even the smallest chunk
        // cannot be mapped (address space, RLIMIT_AS), say so here rather
        // than abort in the first spawn.
        if let Some(class) = first_class {
            shared.pool.prime(class)?;
        }
        let mut threads = Vec::with_capacity(n);
        for ((idx, deque), poll) in deques.into_iter().enumerate().zip(polls) {
            let s = shared.clone();
            let t = match std::thread::Builder::new()
                .name(format!("bamboo-worker-{idx}"))
                .spawn(move || worker::run(s, idx, deque, poll))
            {
                Ok(t) => t,
                Err(e) => {
                    // Stop the workers already started: dropping the
                    // partial runtime shuts them down and joins them.
                    drop(Runtime {
                        handle: Handle { shared },
                        threads,
                        monitor: None,
                    });
                    return Err(Error::Os {
                        op: "spawning a worker thread",
                        message: e.to_string(),
                    });
                }
            };
            let _ = shared.workers[idx].thread.set(t.thread().clone());
            threads.push(t);
        }
        let s = shared.clone();
        let monitor = std::thread::Builder::new()
            .name("bamboo-monitor".into())
            .spawn(move || monitor::run(s));
        let mut rt = Runtime {
            handle: Handle { shared },
            threads,
            monitor: None,
        };
        match monitor {
            Ok(t) => rt.monitor = Some(t),
            Err(e) => {
                drop(rt);
                return Err(Error::Os {
                    op: "spawning the monitor thread",
                    message: e.to_string(),
                });
            }
        }
        if rt.handle.shared.cfg.debug.sigquitdump {
            sigquit::watch(&rt.handle.shared)?;
        }
        Ok(rt)
    }

    /// A handle to this runtime (`Clone + Send + Sync`).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Spawn a coroutine.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(f)
    }

    /// Run `f` as a coroutine and block this thread (or park this coroutine)
    /// until it returns. A panic in `f` is resumed here.
    ///
    /// While a plain thread waits here (or in [`JoinHandle::join`]) it
    /// watches for a deadlock: see [`Handle::dump`].
    #[track_caller]
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.spawn(f).join() {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("block_on: {e}"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let s = &self.handle.shared;
        s.begin_shutdown();
        if s.current_worker().is_some() {
            // Dropped from one of its own coroutines: the workers shut down
            // on their own; joining them here would wait for ourselves.
            return;
        }
        for t in self.threads.drain(..).chain(self.monitor.take()) {
            let _ = t.join();
        }
        let queues = std::iter::once(&s.injector).chain(s.workers.iter().map(|w| &w.handoff));
        for q in queues {
            while let Some(u) = placement::drain_steal(&mut || q.steal()) {
                drop(u);
            }
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.shared.cfg.workers)
            .finish()
    }
}

/// A cheap, shareable reference to a runtime.
///
/// ```
/// let rt = bamboo::Runtime::builder().workers(2).build()?;
/// let h = rt.handle();
/// std::thread::spawn(move || h.spawn(|| 1).join().unwrap()).join().unwrap();
/// # Ok::<(), bamboo::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// The runtime of the calling coroutine or worker thread.
    ///
    /// ```
    /// assert!(bamboo::Handle::current().is_none()); // a plain thread
    /// let rt = bamboo::Runtime::new()?;
    /// assert!(rt.block_on(|| bamboo::Handle::current().is_some()));
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    pub fn current() -> Option<Handle> {
        worker::current_shared().map(|shared| Handle { shared })
    }

    /// Spawn a coroutine on this runtime.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_sized(&self.shared, None, 0, f)
    }

    /// Every live coroutine of this runtime, by id: its state, what it
    /// waits for, where it was spawned, its stack bytes and age (Go's
    /// goroutine dump, without the stack traces). A racy snapshot: it does
    /// not stop the world, and a coroutine that changes state meanwhile is
    /// shown in one of the two. Each [`CoroutineInfo`] displays as one
    /// line.
    ///
    /// The same dump is printed to stderr on `SIGQUIT` when
    /// `BAMBOO_DEBUG=sigquitdump=1`, served at `/debug/coroutines` by
    /// `bamboo_metrics::prometheus::serve`, and printed once, after
    /// `all coroutines are asleep - possible deadlock`, when a plain thread
    /// waits in [`Runtime::block_on`] or [`JoinHandle::join`] while every
    /// coroutine has been parked on a bamboo primitive, with no timer, I/O
    /// or blocking call pending, for the grace period
    /// (`BAMBOO_DEBUG=deadlockgrace=<ms>`, default 1000, 0 = off). That
    /// report only warns: a thread outside the runtime may still end the
    /// wait.
    ///
    /// ```
    /// use bamboo::CoroutineState;
    /// let rt = bamboo::Runtime::new()?;
    /// let (tx, rx) = bamboo::sync::channel::<u32>(0);
    /// let h = rt.spawn(move || rx.recv());
    /// # while rt.handle().dump().iter().all(|c| c.state != CoroutineState::Waiting) {
    /// #     std::thread::sleep(std::time::Duration::from_millis(1));
    /// # }
    /// let dump = rt.handle().dump();
    /// let c = dump.iter().find(|c| c.id == h.id()).unwrap();
    /// assert_eq!(c.waiting_on.as_deref(), Some("channel receive"));
    /// println!("{c}"); // coroutine 2 [channel receive]: spawned at src/main.rs:5:13, ...
    /// tx.send(1).unwrap();
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    pub fn dump(&self) -> Vec<CoroutineInfo> {
        dump::collect(&self.shared)
    }

    /// Stop every other worker at a safe point (between coroutine slices)
    /// until the guard is dropped.
    ///
    /// Called from a coroutine, that coroutine's own worker does not stop:
    /// it keeps running its coroutines, so the holder may yield, sleep,
    /// spawn and join what it spawned while holding the guard. The holder
    /// may stop the world again (a metrics read does): the guards nest, and
    /// the world restarts when the outermost one is dropped.
    ///
    /// A coroutine running on another worker is asked to yield at once: the
    /// stop waits until its next check point (`grow` or any runtime call).
    /// A loop without a check point delays the stop until it yields, parks
    /// or finishes. While holding the
    /// guard, do not wait for work that only another worker can do (joining
    /// a coroutine that started there, or any coroutine from a plain
    /// thread: that `join` panics rather than wait for ever). Dropping the
    /// runtime ends the stop for its workers.
    ///
    /// ```
    /// let rt = bamboo::Runtime::builder().workers(2).build()?;
    /// let h = rt.handle();
    /// rt.block_on(move || {
    ///     let _stw = h.stop_the_world();
    ///     let child = bamboo::spawn(|| 1); // runs on this worker
    ///     bamboo::sleep(std::time::Duration::from_millis(1));
    ///     assert_eq!(child.join().unwrap(), 1);
    /// });
    /// # Ok::<(), bamboo::Error>(())
    /// ```
    pub fn stop_the_world(&self) -> StopTheWorld {
        let me = holder_key();
        let stw = &self.shared.stw;
        if stw.holder.load(Relaxed) == me {
            stw.depth.fetch_add(1, Relaxed);
        } else {
            self.shared.stw_lock.acquire();
            stw.holder.store(me, Relaxed);
            task::note_thread_stop(1);
            stw.depth.store(1, Relaxed);
            self.shared.stop_world();
        }
        StopTheWorld {
            shared: self.shared.clone(),
            _not_send: PhantomData,
        }
    }

    /// A racy snapshot of every counter (exact while the world is stopped
    /// and read from the system stack). The raw feed of `bamboo_metrics`,
    /// which is the way to read named metrics; see [`crate::counters`].
    pub fn counters(&self) -> CounterSnapshot {
        let mut c = self
            .shared
            .counters
            .snapshot(self.shared.cfg.segment_size as u64);
        c.blocking_threads = self.shared.blocking.threads.load(Relaxed);
        c.stack_resident = self.shared.pool.resident();
        c
    }

    /// Move every worker's cached segments to the pool (Go's
    /// `flushallmcaches` for stacks). Gives no page back: only the paced
    /// scavenger does, for segments that stayed free a while. Requires a
    /// stopped world.
    pub fn flush_stack_caches(&self, stw: &StopTheWorld) {
        assert!(
            Arc::ptr_eq(&stw.shared, &self.shared),
            "flush_stack_caches: StopTheWorld of another runtime"
        );
        self.shared.flush_caches();
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.cfg.workers
    }

    /// Usable bytes of a coroutine's first segment.
    pub fn segment_size(&self) -> usize {
        self.shared.cfg.segment_size
    }

    /// The per-coroutine stack limit in bytes.
    pub fn max_stack(&self) -> usize {
        self.shared.cfg.max_stack
    }

    /// True when the stress mode (forced stack moves) is on.
    pub fn stack_move_forced(&self) -> bool {
        self.shared.cfg.debug.stackmove
    }

    /// True when freed segments are poisoned.
    pub fn stack_poison(&self) -> bool {
        self.shared.cfg.debug.stackpoison
    }
}

/// Guard of [`Handle::stop_the_world`]: the world restarts when dropped.
///
/// ```
/// let rt = bamboo::Runtime::builder().workers(2).build()?;
/// let h = rt.handle();
/// let stw = h.stop_the_world(); // every worker parked at a safe point
/// h.flush_stack_caches(&stw);
/// drop(stw); // they run again
/// # Ok::<(), bamboo::Error>(())
/// ```
pub struct StopTheWorld {
    shared: Arc<Shared>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for StopTheWorld {
    fn drop(&mut self) {
        let stw = &self.shared.stw;
        if stw.depth.fetch_sub(1, Relaxed) == 1 {
            stw.holder.store(0, Relaxed);
            task::note_thread_stop(-1);
            self.shared.start_world();
            self.shared.stw_lock.release();
        }
    }
}

/// Ticks the runtime's monitor thread has made (`monitor.rs`): tests
/// check that an idle runtime's monitor sleeps.
#[cfg(feature = "test-hooks")]
pub fn monitor_ticks(h: &Handle) -> u64 {
    h.shared.monitor.ticks()
}

/// Task structs allocated and not yet freed in this process, free lists
/// included (`task.rs`): the free-list test checks that a shutdown frees
/// them all.
#[cfg(feature = "test-hooks")]
pub fn task_structs() -> usize {
    task::TASK_STRUCTS.load(Relaxed)
}

/// Spawns in this process that reused a task struct from a worker's free
/// list.
#[cfg(feature = "test-hooks")]
pub fn task_reuses() -> usize {
    task::TASK_REUSES.load(Relaxed)
}

/// Coroutine bodies (closure and join slot) allocated and not yet freed
/// in this process, free lists included (`free_bodies.rs`).
#[cfg(feature = "test-hooks")]
pub fn bodies() -> usize {
    body::BODIES.load(Relaxed)
}

/// Spawns in this process that reused a body from a free list.
#[cfg(feature = "test-hooks")]
pub fn body_reuses() -> usize {
    body::BODY_REUSES.load(Relaxed)
}

/// Who is asking for a stop: the running coroutine's id, or (on a plain
/// thread or a worker's own stack) a per-thread number with the top bit
/// set. Never 0. A guard is `!Send`, so its holder drops it as the same
/// key.
pub(crate) fn holder_key() -> u64 {
    use std::sync::atomic::AtomicU64;
    static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static THREAD_KEY: u64 = (1 << 63) | NEXT_THREAD.fetch_add(1, Relaxed);
    }
    match task::current() {
        Some(t) => t.id(),
        None => THREAD_KEY.with(|k| *k),
    }
}

impl std::fmt::Debug for StopTheWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopTheWorld")
    }
}

/// Let the other coroutines of this worker run. On a plain thread:
/// `std::thread::yield_now`.
///
/// Like `sched_yield`, a yield with nothing else to run returns at once:
/// when this worker has no other ready or unstarted coroutine, no wake-up,
/// timer or socket to see to and no stop pending, and no other worker has
/// an unstarted coroutine this one could take, it does not go through the
/// worker loop (every 61st such yield still does).
///
/// ```
/// let rt = bamboo::Runtime::builder().workers(1).build()?;
/// rt.block_on(|| {
///     let other = bamboo::spawn(|| 2);
///     bamboo::yield_now(); // `other` runs here, on this worker
///     assert!(other.is_finished());
/// });
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn yield_now() {
    crate::coro::checkpoint(|| {
        if crate::coro::coroutine_running() {
            if !yield_at_once() {
                crate::coro::suspend_yield();
            }
        } else {
            std::thread::yield_now();
        }
    })
}

/// Whether this `yield_now` returns without suspending (see there). The
/// usual answer, "no: others are ready", costs one thread-local load.
#[inline(always)]
fn yield_at_once() -> bool {
    !placement::others_were_ready()
        // A yield on the system stack or in a forced unwind must reach
        // `suspend`, which reports it.
        && crate::coro::in_coroutine()
        && !crate::coro::is_force_unwinding()
        && yield_at_once_slow()
}

/// Out of line, so `grow` stays inlined into `yield_now`.
#[inline(never)]
fn yield_at_once_slow() -> bool {
    worker::with_local(placement::yield_at_once) == Some(true)
}

/// Sleep for `d`: parks the coroutine (its worker runs others) or, on a
/// plain thread, `std::thread::sleep`. `sleep(Duration::ZERO)` returns at
/// once; a `d` too large for an `Instant` (`Duration::MAX`) sleeps for ever,
/// that is until the runtime shuts down, as `std::thread::sleep` does. A
/// sleep in a coroutine returns early when its runtime shuts down (a
/// destructor that sleeps while the runtime is dropped returns at once).
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = bamboo::Runtime::new()?;
/// let t0 = Instant::now();
/// rt.block_on(|| bamboo::sleep(Duration::from_millis(5)));
/// assert!(t0.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn sleep(d: Duration) {
    crate::coro::checkpoint(|| {
        if !crate::coro::coroutine_running() {
            std::thread::sleep(d);
            return;
        }
        let shutting_down = || task::current().is_some_and(|t| t.shared.shutdown.load(Relaxed));
        // A runtime that shuts down ends every sleep, through one yield: a
        // suspend point, where the shutdown's unwind reaches a coroutine
        // that has not had it (one sleeping in a loop would otherwise spin
        // for ever), and which a destructor sleeping during the drain
        // passes at once.
        let cut_short = || {
            crate::coro::suspend_yield();
        };
        let Some(deadline) = Instant::now().checked_add(d) else {
            // No deadline: only the runtime's shutdown ends it.
            while !shutting_down() {
                park::park(wait::Wait::Sleep);
            }
            return cut_short();
        };
        while Instant::now() < deadline {
            if shutting_down() {
                return cut_short();
            }
            park::park_until(deadline, wait::Wait::Sleep);
        }
    })
}
