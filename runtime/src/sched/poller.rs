//! The poller: one epoll instance (through `mio`) per worker. It is the
//! worker's idle wait *and* the source of socket readiness.
//!
//! Contract:
//! - Each worker owns a [`LocalPoll`] (the `mio::Poll` and its event
//!   buffer; only the worker thread polls it) and shares a [`PollerShared`]
//!   (registry, waker, token table) with every thread.
//! - An idle worker blocks in [`LocalPoll::poll`] with the timeout of its
//!   next timer. Other threads wake it with [`PollerShared::wake`] (mio's
//!   eventfd waker): this replaces a bare thread park/unpark, so one call
//!   waits for I/O, the next timer and cross-thread wake-ups.
//! - A socket ([`Registration`]) is registered once, edge-triggered, for
//!   reading and writing, on the poller of the worker whose coroutine first
//!   has to wait on it; it stays there until the socket is dropped (one
//!   `epoll_ctl(ADD)`, one `DEL`, never one per read).
//! - Readiness is a pair of generation counters per socket (read, write).
//!   The poller bumps a counter, then takes the socket's waiter list and
//!   unparks every waiter of that direction: the unpark puts the coroutine
//!   back on *its own* worker (through that worker's remote queue and waker
//!   when it lives elsewhere), so started coroutines still never migrate.
//!
//! Wait protocol (no lost wake-up, no readiness bit to clear):
//! ```text
//!   waiter                                  poller (any worker)
//!   g = gen[dir]                            event for the socket
//!   op() -> WouldBlock                      gen[dir] += 1
//!   lock waiters                            lock waiters
//!     gen[dir] != g ? retry op                take waiters of dir
//!     push (key, unparker)                  unlock
//!   unlock                                  unpark each
//!   park (until deadline)
//!   lock waiters; remove key; unlock; retry op
//! ```
//! The waiter's check and the poller's take are both under the socket's
//! waiter lock, and the poller bumps the counter before it locks: either
//! the waiter sees the new counter (and retries) or the poller sees the
//! waiter (and unparks it).
//!
//! From a plain thread (no coroutine), a wait is one `poll(2)` on the
//! socket's descriptor with the remaining timeout: the calls block like
//! std's.

use std::io;
use std::os::fd::{AsFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use parking_lot::Mutex;

use super::park::{self, Unparker};
use super::wait::Wait;
use crate::loom::{planted, Bug};

/// The waker's token; sockets get slab indices below it.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// No generation recorded in `Registration::drained`.
const NONE: u64 = u64::MAX;

/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;

/// Which readiness a waiter needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Readable (or peer closed, or error).
    Read = 0,
    /// Writable (or error).
    Write = 1,
}

/// The part of a worker's poller other threads use.
pub(crate) struct PollerShared {
    registry: Registry,
    waker: Waker,
    /// Token -> socket state. Locked to register, deregister and dispatch.
    ios: Mutex<TokenTable>,
    /// Sockets registered now: a worker with none skips its non-blocking
    /// polls (no `epoll_wait` on the paths of runtimes without sockets).
    registered: AtomicUsize,
}

#[derive(Default)]
struct TokenTable {
    entries: Vec<Option<Arc<IoState>>>,
    free: Vec<usize>,
}

/// The worker-thread-only part: the `mio::Poll` and its event buffer.
pub(crate) struct LocalPoll {
    poll: Poll,
    events: Events,
    ready: Vec<(Arc<IoState>, bool, bool)>,
    /// Waiters being woken (reused: no allocation per event).
    woken: Vec<Unparker>,
}

/// Create one worker's poller.
pub(crate) fn new_poller() -> io::Result<(LocalPoll, Arc<PollerShared>)> {
    let poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
    Ok((
        LocalPoll {
            poll,
            events: Events::with_capacity(EVENTS),
            ready: Vec::with_capacity(EVENTS),
            woken: Vec::with_capacity(EVENTS),
        },
        Arc::new(PollerShared {
            registry,
            waker,
            ios: Mutex::new(TokenTable::default()),
            registered: AtomicUsize::new(0),
        }),
    ))
}

impl PollerShared {
    /// True when some socket is registered here.
    pub(crate) fn has_sockets(&self) -> bool {
        self.registered.load(Relaxed) != 0
    }

    /// Make the owner's current or next [`LocalPoll::poll`] return.
    pub(crate) fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            fatal!("poller wake-up failed: {e}");
        }
    }
}

impl LocalPoll {
    /// Wait up to `timeout` (`None`: until woken) for events, then wake the
    /// waiters of every socket that became ready. Returns the number of
    /// socket events (wake-ups from the waker are not counted).
    pub(crate) fn poll(&mut self, shared: &PollerShared, timeout: Option<Duration>) -> usize {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return 0,
            Err(e) => fatal!("epoll_wait failed: {e}"),
        }
        if self.events.is_empty() {
            return 0;
        }
        {
            let t = shared.ios.lock();
            for ev in self.events.iter() {
                let tok = ev.token();
                if tok == WAKE_TOKEN {
                    continue;
                }
                let Some(Some(io)) = t.entries.get(tok.0) else {
                    continue; // deregistered since: a stale event
                };
                let err = ev.is_error();
                let r = ev.is_readable() || ev.is_read_closed() || ev.is_priority() || err;
                let w = ev.is_writable() || ev.is_write_closed() || err;
                self.ready.push((io.clone(), r, w));
            }
        }
        let n = self.ready.len();
        for (io, r, w) in self.ready.drain(..) {
            io.ready(r, w, &mut self.woken);
        }
        n
    }
}

/// Readiness state and waiters of one socket.
pub(crate) struct IoState {
    gen: [crate::loom::sync::atomic::AtomicU64; 2],
    waiters: crate::loom::sync::Mutex<Waiters>,
}

#[derive(Default)]
struct Waiters {
    next_key: u64,
    list: Vec<(u64, Dir, Unparker)>,
}

impl IoState {
    pub(crate) fn new() -> IoState {
        use crate::loom::sync::atomic::AtomicU64;
        IoState {
            gen: [AtomicU64::new(0), AtomicU64::new(0)],
            waiters: crate::loom::sync::Mutex::new(Waiters::default()),
        }
    }

    /// Add a waiter for `dir`, unless readiness arrived since the caller
    /// read generation `g` (then `None`: retry the operation).
    pub(crate) fn enqueue(&self, dir: Dir, g: u64, u: Unparker) -> Option<u64> {
        let mut w = self.waiters.lock();
        if self.gen[dir as usize].load(SeqCst) != g && !planted(Bug::PollerNoGenCheck) {
            return None;
        }
        w.next_key += 1;
        let key = w.next_key;
        w.list.push((key, dir, u));
        Some(key)
    }

    /// The readiness generation of `dir` (read before each attempt).
    pub(crate) fn generation(&self, dir: Dir) -> u64 {
        self.gen[dir as usize].load(SeqCst)
    }

    /// Take waiter `key` out (its wait ended: woken, timed out, unwound).
    pub(crate) fn remove(&self, key: u64) {
        self.waiters.lock().list.retain(|(k, _, _)| *k != key);
    }

    /// Called by the poller: bump the counters, wake the waiters (`woken`
    /// is scratch space, left empty).
    pub(crate) fn ready(&self, read: bool, write: bool, woken: &mut Vec<Unparker>) {
        if read {
            self.gen[Dir::Read as usize].fetch_add(1, SeqCst);
        }
        if write {
            self.gen[Dir::Write as usize].fetch_add(1, SeqCst);
        }
        {
            let mut w = self.waiters.lock();
            if w.list.is_empty() {
                return;
            }
            w.list.retain(|(_, d, u)| {
                let hit = (*d == Dir::Read && read) || (*d == Dir::Write && write);
                if hit {
                    woken.push(u.clone());
                }
                !hit
            });
        }
        for u in woken.drain(..) {
            u.unpark();
        }
    }
}

/// Where a socket is registered (set once).
struct Registered {
    poller: Arc<PollerShared>,
    token: usize,
}

/// A socket's readiness source: lazily registered with the poller of the
/// worker that first waits on it, deregistered on drop.
///
/// The owner must keep the descriptor `fd` open for as long as the
/// `Registration` lives (declare the `Registration` field before the socket
/// field, so it is dropped first).
pub(crate) struct Registration {
    fd: RawFd,
    io: Arc<IoState>,
    /// Per direction: the generation at which a stream operation came back
    /// short (the kernel buffer was drained / filled), `NONE` otherwise.
    /// While the generation has not moved since, a coroutine waits without
    /// trying the call (it would be `WouldBlock`).
    drained: [AtomicU64; 2],
    reg: OnceLock<Registered>,
    init: Mutex<()>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("registered", &self.reg.get().is_some())
            .finish()
    }
}

impl Registration {
    /// A registration for the (non-blocking) descriptor `fd`.
    pub(crate) fn new(fd: &impl AsFd) -> Registration {
        use std::os::fd::AsRawFd;
        Registration {
            fd: fd.as_fd().as_raw_fd(),
            io: Arc::new(IoState::new()),
            drained: [AtomicU64::new(NONE), AtomicU64::new(NONE)],
            reg: OnceLock::new(),
            init: Mutex::new(()),
        }
    }

    /// Register with the current worker's poller, once.
    fn ensure_registered(&self) -> io::Result<()> {
        if self.reg.get().is_some() {
            return Ok(());
        }
        let _g = self.init.lock();
        if self.reg.get().is_some() {
            return Ok(());
        }
        let poller = super::worker::with_local(|l| l.shared.workers[l.idx].poller.clone())
            .ok_or_else(|| io::Error::other("socket wait on a coroutine off its worker"))?;
        let token = {
            let mut t = poller.ios.lock();
            match t.free.pop() {
                Some(i) => {
                    t.entries[i] = Some(self.io.clone());
                    i
                }
                None => {
                    t.entries.push(Some(self.io.clone()));
                    t.entries.len() - 1
                }
            }
        };
        let r = poller.registry.register(
            &mut SourceFd(&self.fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = r {
            let mut t = poller.ios.lock();
            t.entries[token] = None;
            t.free.push(token);
            return Err(e);
        }
        poller.registered.fetch_add(1, Relaxed);
        let _ = self.reg.set(Registered { poller, token });
        Ok(())
    }

    /// Run `op` until it does something other than `WouldBlock`, waiting
    /// for `dir` readiness in between: parks a coroutine, blocks a plain
    /// thread. Past `deadline`, gives `TimedOut`.
    pub(crate) fn io<R>(
        &self,
        src: &impl AsFd,
        dir: Dir,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let coroutine = crate::coro::coroutine_running();
        loop {
            let g = self.io.generation(dir);
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out());
            }
            if coroutine {
                self.ensure_registered()?;
                self.park(dir, g, deadline);
            } else {
                wait_thread(src, dir, deadline)?;
            }
        }
    }

    /// [`Registration::io`] for a byte-stream read or write of `want`
    /// bytes: a short transfer (`0 < n < want`) means the kernel buffer was
    /// drained (read) or filled (write), so until the socket reports
    /// readiness again a coroutine waits without trying the call — one
    /// `WouldBlock` system call saved per round trip (tokio does the same).
    /// Edge-triggered readiness makes this exact: bytes (or room) that
    /// arrive after the short call raise an event, which moves the
    /// generation. Plain threads always try the call.
    pub(crate) fn io_stream(
        &self,
        src: &impl AsFd,
        dir: Dir,
        deadline: Option<Instant>,
        want: usize,
        mut op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let coroutine = crate::coro::coroutine_running();
        let drained = &self.drained[dir as usize];
        loop {
            let g = self.io.generation(dir);
            if !(coroutine && drained.load(Relaxed) == g) {
                match op() {
                    Ok(n) => {
                        if coroutine && n > 0 && n < want {
                            drained.store(g, Relaxed);
                        }
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timed_out());
            }
            if coroutine {
                self.ensure_registered()?;
                self.park(dir, g, deadline);
            } else {
                wait_thread(src, dir, deadline)?;
            }
        }
    }

    /// Park the calling coroutine until `gen[dir]` moves past `g`, the
    /// deadline passes, or a spurious wake-up.
    fn park(&self, dir: Dir, g: u64, deadline: Option<Instant>) {
        let Some(key) = self.io.enqueue(dir, g, park::current_unparker()) else {
            return; // readiness arrived since the attempt: retry
        };
        let _waiting = IoWaitGuard::new(&self.io, key);
        match deadline {
            Some(d) => park::park_until(d, Wait::Io),
            None => park::park(Wait::Io),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(r) = self.reg.get() {
            // The descriptor is still open (the owner drops it after us).
            let _ = r.poller.registry.deregister(&mut SourceFd(&self.fd));
            let mut t = r.poller.ios.lock();
            t.entries[r.token] = None;
            t.free.push(r.token);
            r.poller.registered.fetch_sub(1, Relaxed);
        }
    }
}

/// Counts the coroutine in `/sched/coroutines/io-wait` and takes its
/// waiter entry out when the wait ends (woken, timed out, or unwound).
struct IoWaitGuard<'a> {
    io: &'a IoState,
    key: u64,
}

impl<'a> IoWaitGuard<'a> {
    fn new(io: &'a IoState, key: u64) -> Self {
        if let Some(ctx) = crate::coro::ctx() {
            ctx.wc().io_wait.add(1);
        }
        IoWaitGuard { io, key }
    }
}

impl Drop for IoWaitGuard<'_> {
    fn drop(&mut self) {
        if let Some(ctx) = crate::coro::ctx() {
            ctx.wc().io_wait.sub(1);
        }
        self.io.remove(self.key);
    }
}

/// A plain thread's wait: `poll(2)` on the descriptor until it is ready
/// for `dir` or the deadline passes (the caller retries its operation).
fn wait_thread(src: &impl AsFd, dir: Dir, deadline: Option<Instant>) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let flags = match dir {
        Dir::Read => PollFlags::IN | PollFlags::RDHUP,
        Dir::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(src, flags)];
    let ts = deadline.map(|d| {
        let left = d.saturating_duration_since(Instant::now());
        Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        }
    });
    match poll(&mut fds, ts.as_ref()) {
        Ok(_) => Ok(()),
        Err(e) if e == rustix::io::Errno::INTR => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `TimedOut`, as std's sockets report an expired timeout.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "operation timed out")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Unparker {
        park::current_unparker()
    }

    /// The interleaving a naive "check, then wait" loses: readiness lands
    /// between the failed attempt and the enqueue. The waiter must see it
    /// and retry instead of waiting for an edge that already passed.
    #[test]
    fn readiness_between_attempt_and_enqueue_is_not_lost() {
        let io = IoState::new();
        let g = io.gen[Dir::Read as usize].load(SeqCst);
        // op() -> WouldBlock here; then the poller reports the socket ready.
        io.ready(true, false, &mut Vec::new());
        assert_eq!(
            io.enqueue(Dir::Read, g, me()),
            None,
            "stale generation enqueued"
        );
        assert!(io.waiters.lock().list.is_empty());
    }

    /// A waiter enqueued before the event is woken by it (and only by its
    /// direction).
    #[test]
    fn enqueued_waiters_are_woken_by_their_direction() {
        let io = IoState::new();
        let g = io.gen[Dir::Write as usize].load(SeqCst);
        let key = io.enqueue(Dir::Write, g, me()).expect("current generation");
        io.ready(true, false, &mut Vec::new());
        assert_eq!(
            io.waiters.lock().list.len(),
            1,
            "a read event woke a writer"
        );
        io.ready(false, true, &mut Vec::new());
        assert!(io.waiters.lock().list.is_empty());
        // The unpark left a token: this park returns at once.
        let t = Instant::now();
        std::thread::park_timeout(Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(key > 0);
    }
}
