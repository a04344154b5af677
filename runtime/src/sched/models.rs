//! loom models of the scheduler's lock-free protocols, run on the real code
//! through the `crate::loom` shim (`scripts/loom.sh`; a `--cfg loom`
//! build).
//!
//! Each model has a twin that plants one known bug (`crate::loom::Bug`)
//! in the real code and asserts that loom finds it (a deadlock or a failed
//! assertion in some interleaving), so a model that cannot fail is itself
//! caught. loom prints the failing interleaving of a twin on stderr: that
//! output is expected.
//!
//! | model                 | protocol (file)                       | planted bug          |
//! |-----------------------|---------------------------------------|----------------------|
//! | `waitq_semaphore`     | register/notify (`waitq.rs`)          | `WaitqNoRecheck`, `WaitqNoFence` |
//! | `park_vs_unpark`      | park state machine (`state.rs`)       | `ParkStoreNotCas`, `ParkNotifyAlwaysEnqueues` |
//! | `park_across_preempt` | a token kept across a preemption (`state.rs`) | `ResumeDropsToken` |
//! | `stw_exit_during_stop`| stop-the-world rendezvous (`stw.rs`)  | `StwExitNotCounted`  |
//! | `stw_spinning_coroutine` | the stop's ask to yield (`stw.rs`) | `StwNoAsk`, `StwAskBeforeFlag` |
//! | `remote_wake`         | remote wake-up handshake (`remote.rs`)| `RemoteNoFence`      |
//! | `handoff_wake`        | a spawn handed to an idle worker (`placement.rs`) | `HandoffNoFence` |
//! | `spawn_batch_wake`    | a batch of spawns in the spawner's deque vs a sleeper (`placement.rs`, `worker.rs`) | `QueuedNoFence`, `QueuedBehindNoFence` |
//! | `poller_readiness`    | lost-readiness protocol (`poller.rs`) | `PollerNoGenCheck`   |

use std::sync::atomic::Ordering::*;
use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize};
use loom::thread;

use super::park;
use super::placement::{self, Offer};
use super::poller::{Dir, IoState};
use super::remote::{self, RemoteQueue};
use super::state::ParkState;
use super::stw::Stw;
use super::waitq::Semaphore;
use super::worker;
use crate::loom::{plant, Bug};

/// Run `model` with `bug` planted; loom must find it.
fn finds(bug: Bug, model: fn()) {
    finds_with(loom::model::Builder::new(), bug, model);
}

/// [`finds`] with the settings of `b` (a preemption bound).
fn finds_with(b: loom::model::Builder, bug: Bug, model: fn()) {
    plant(Some(bug));
    let r = std::panic::catch_unwind(|| b.check(model));
    plant(None);
    assert!(r.is_err(), "loom did not find the planted bug {bug:?}");
}

/// A builder that bounds the preemptions at `n` unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise (models whose threads spin in
/// loops).
fn bounded(n: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(n);
    }
    b
}

/// Two threads take the runtime's semaphore (a `WaitQueue` underneath):
/// mutual exclusion, and the one that waits is always woken (a lost
/// wake-up is a deadlock, which loom reports).
fn waitq_semaphore() {
    let sem = Arc::new(Semaphore::new());
    let inside = Arc::new(AtomicUsize::new(0));
    let critical = |sem: &Semaphore, inside: &AtomicUsize| {
        sem.acquire();
        assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders");
        inside.fetch_sub(1, SeqCst);
        sem.release();
    };
    let t = {
        let (sem, inside) = (sem.clone(), inside.clone());
        thread::spawn(move || critical(&sem, &inside))
    };
    critical(&sem, &inside);
    t.join().unwrap();
}

#[test]
fn waitq_semaphore_model() {
    loom::model(waitq_semaphore);
}

#[test]
fn waitq_semaphore_finds_no_recheck() {
    finds(Bug::WaitqNoRecheck, waitq_semaphore);
}

/// The bug this model found in the first version of `WaitQueue` (whose
/// notify read `len` right after the caller's state change, without a
/// fence): restored, loom still finds it.
#[test]
fn waitq_semaphore_finds_no_fence() {
    finds(Bug::WaitqNoFence, waitq_semaphore);
}

/// A coroutine parks (its worker runs the suspend half) while two other
/// threads unpark it. Exactly one of three things wakes it: it takes a
/// token before suspending, the worker sees a token arrived during the
/// suspend and runs it again, or a notifier moves it PARKED -> NOTIFIED
/// and enqueues it — never none (a lost wake-up), never two (a task in
/// two run queues).
fn park_vs_unpark() {
    let s = Arc::new(ParkState::new());
    let enqueued = Arc::new(AtomicUsize::new(0));
    // The worker starts a slice (a token left before it is used up by
    // running); the coroutine registers somewhere, then the notifiers see
    // it.
    s.transition_to_running();
    let notifiers: Vec<_> = (0..2)
        .map(|_| {
            let (s, enqueued) = (s.clone(), enqueued.clone());
            thread::spawn(move || {
                if s.notify() {
                    enqueued.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    // The coroutine finds its condition false and parks.
    let mut resumed = 0;
    if s.take_token() {
        resumed += 1; // park returned at once
    } else if !s.transition_to_parked() {
        resumed += 1; // the worker runs it again
    }
    for n in notifiers {
        n.join().unwrap();
    }
    let enqueued = enqueued.load(SeqCst);
    assert_eq!(
        resumed + enqueued,
        1,
        "woken {resumed} time(s) in place, enqueued {enqueued} time(s)"
    );
}

/// A waiter finds no token and is preempted at the check point before it
/// suspends to park (`park::park_task`); its worker puts it back in the
/// ready queue, a notifier wakes it meanwhile, the worker resumes it
/// (`transition_to_resumed`) and it parks. Exactly one wake, as above:
/// the token kept across the preemption, or the enqueue.
fn park_across_preempt() {
    let s = Arc::new(ParkState::new());
    let enqueued = Arc::new(AtomicUsize::new(0));
    s.transition_to_running();
    let notifier = {
        let (s, enqueued) = (s.clone(), enqueued.clone());
        thread::spawn(move || {
            if s.notify() {
                enqueued.fetch_add(1, SeqCst);
            }
        })
    };
    let mut resumed = 0;
    if s.take_token() {
        resumed += 1;
    } else {
        // Preempted here; the next slice resumes it.
        s.transition_to_resumed();
        if !s.transition_to_parked() {
            resumed += 1;
        }
    }
    notifier.join().unwrap();
    let enqueued = enqueued.load(SeqCst);
    assert_eq!(
        resumed + enqueued,
        1,
        "woken {resumed} time(s) in place, enqueued {enqueued} time(s)"
    );
}

#[test]
fn park_across_preempt_model() {
    loom::model(park_across_preempt);
}

#[test]
fn park_across_preempt_finds_resume_drops_token() {
    finds(Bug::ResumeDropsToken, park_across_preempt);
}

#[test]
fn park_vs_unpark_model() {
    loom::model(park_vs_unpark);
}

#[test]
fn park_vs_unpark_finds_store_not_cas() {
    finds(Bug::ParkStoreNotCas, park_vs_unpark);
}

#[test]
fn park_vs_unpark_finds_notify_always_enqueues() {
    finds(Bug::ParkNotifyAlwaysEnqueues, park_vs_unpark);
}

/// One worker runs slices and exits when the runtime shuts down, while
/// another thread stops the world and the runtime is dropped. The stop
/// returns (the exited worker counts as stopped), and no slice runs
/// between the stop returning and the restart.
fn stw_exit_during_stop() {
    let stw = Arc::new(Stw::new());
    let shutdown = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
    let in_slice = Arc::new(AtomicBool::new(false));
    let worker = {
        let (stw, shutdown, in_slice) = (stw.clone(), shutdown.clone(), in_slice.clone());
        thread::spawn(move || {
            loop {
                if stw.requested.load(Acquire) {
                    stw.park_here(&shutdown, 0);
                }
                if shutdown.load(Acquire) {
                    break;
                }
                in_slice.store(true, SeqCst);
                thread::yield_now();
                in_slice.store(false, SeqCst);
            }
            stw.exited();
        })
    };
    let stopper = {
        let (stw, in_slice) = (stw.clone(), in_slice.clone());
        thread::spawn(move || {
            stw.stop(1, usize::MAX, || {}, || {});
            assert!(!in_slice.load(SeqCst), "a slice runs in a stopped world");
            stw.start();
        })
    };
    // The runtime is dropped meanwhile.
    shutdown.store(true, SeqCst);
    stw.release_for_shutdown();
    stopper.join().unwrap();
    worker.join().unwrap();
}

#[test]
fn stw_exit_during_stop_model() {
    stw_builder().check(stw_exit_during_stop);
}

/// The worker's loop spins until it sees the flags, so the model bounds
/// the preemptions: 3 by default (about a second, for CI);
/// `LOOM_MAX_PREEMPTIONS` overrides it (`scripts/loom.sh --full` runs 6).
/// The other models are explored without a bound.
fn stw_builder() -> loom::model::Builder {
    bounded(3)
}

#[test]
fn stw_exit_during_stop_finds_exit_not_counted() {
    finds_with(stw_builder(), Bug::StwExitNotCounted, stw_exit_during_stop);
}

/// One worker runs a coroutine that spins through check points and never
/// parks (each slice ends only when the coroutine is asked to yield),
/// while another thread stops the world, then the runtime shuts down. The
/// stop returns, no slice runs in the stopped world, and the worker exits.
///
/// The preempt bit is `coro::Preempter::request` (a Release `fetch_or`)
/// and the check point's take in `coro::grow`'s `preempt_yield` (an
/// Acquire `fetch_and`), with the same orderings; the stop's order (flag,
/// then ask) is the real `Stw::stop`'s.
fn stw_spinning_coroutine() {
    let stw = Arc::new(Stw::new());
    let shutdown = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
    let preempt = Arc::new(AtomicU8::new(0));
    let in_slice = Arc::new(AtomicBool::new(false));
    let ask = |p: &AtomicU8| {
        p.fetch_or(1, Release);
    };
    let worker = {
        let (stw, shutdown, preempt, in_slice) = (
            stw.clone(),
            shutdown.clone(),
            preempt.clone(),
            in_slice.clone(),
        );
        thread::spawn(move || {
            loop {
                if stw.stops(0) {
                    stw.park_here(&shutdown, 0);
                }
                if shutdown.load(Acquire) {
                    break;
                }
                // One slice: check points until one sees the bit.
                in_slice.store(true, SeqCst);
                while !(preempt.load(Relaxed) != 0 && preempt.fetch_and(0, Acquire) != 0) {
                    thread::yield_now();
                }
                in_slice.store(false, SeqCst);
            }
            stw.exited();
        })
    };
    let stopper = {
        let (stw, preempt, in_slice) = (stw.clone(), preempt.clone(), in_slice.clone());
        thread::spawn(move || {
            stw.stop(1, usize::MAX, || {}, || ask(&preempt));
            assert!(!in_slice.load(SeqCst), "a slice runs in a stopped world");
            stw.start();
        })
    };
    stopper.join().unwrap();
    // The runtime is dropped; the monitor ends the slice running then.
    shutdown.store(true, SeqCst);
    stw.release_for_shutdown();
    ask(&preempt);
    worker.join().unwrap();
}

#[test]
fn stw_spinning_coroutine_model() {
    stw_builder().check(stw_spinning_coroutine);
}

#[test]
fn stw_spinning_coroutine_finds_no_ask() {
    finds_with(stw_builder(), Bug::StwNoAsk, stw_spinning_coroutine);
}

#[test]
fn stw_spinning_coroutine_finds_ask_before_flag() {
    finds_with(stw_builder(), Bug::StwAskBeforeFlag, stw_spinning_coroutine);
}

/// The poller's waker as the model sees it: an eventfd is a counter, so a
/// wake before the wait makes the wait return.
struct Waker {
    woken: crate::loom::sync::Mutex<bool>,
    cv: crate::loom::sync::Condvar,
}

impl Waker {
    fn wake(&self) {
        *self.woken.lock() = true;
        self.cv.notify_all();
    }
    fn wait(&self) {
        let mut w = self.woken.lock();
        while !*w {
            self.cv.wait(&mut w);
        }
        *w = false;
    }
}

/// Another thread wakes a task of a worker that is going to sleep: the
/// worker gets the task (it sees it before sleeping, or is woken).
fn remote_wake() {
    let q = Arc::new(RemoteQueue::new());
    let sleeping = Arc::new(crate::loom::sync::atomic::AtomicBool::new(false));
    let waker = Arc::new(Waker {
        woken: crate::loom::sync::Mutex::new(false),
        cv: crate::loom::sync::Condvar::new(),
    });
    let t = {
        let (q, sleeping, waker) = (q.clone(), sleeping.clone(), waker.clone());
        thread::spawn(move || {
            if remote::push(&q, &sleeping, 7u32) {
                waker.wake();
            }
        })
    };
    loop {
        if let Some(v) = q.pop() {
            assert_eq!(v, 7);
            break;
        }
        remote::announce_sleep(&sleeping);
        if q.is_empty() {
            waker.wait(); // the poller's wait
        }
        sleeping.store(false, SeqCst);
    }
    t.join().unwrap();
}

#[test]
fn remote_wake_model() {
    loom::model(remote_wake);
}

#[test]
fn remote_wake_finds_no_fence() {
    finds(Bug::RemoteNoFence, remote_wake);
}

/// A spawner hands a coroutine to an idle worker (`placement::place`:
/// claim its `looking` flag, push onto its `handoff`, wake it if it
/// sleeps) while that worker goes to sleep (`idle::idle`: raise
/// `looking`, announce the sleep, look at its queues once more, wait). The
/// worker always gets the coroutine: it sees the handoff before it waits,
/// or the spawner sees it asleep and wakes it (a lost wake-up is a
/// deadlock, which loom reports). A `RemoteQueue` stands in for the
/// crossbeam `Injector` of the real handoff (both publish the push before
/// `is_empty` can see it; loom cannot see inside crossbeam).
fn handoff_wake() {
    let looking = Arc::new(AtomicBool::new(false));
    let sleeping = Arc::new(AtomicBool::new(false));
    let handoff = Arc::new(RemoteQueue::new());
    let waker = Arc::new(Waker {
        woken: crate::loom::sync::Mutex::new(false),
        cv: crate::loom::sync::Condvar::new(),
    });
    let t = {
        let (looking, sleeping) = (looking.clone(), sleeping.clone());
        let (handoff, waker) = (handoff.clone(), waker.clone());
        thread::spawn(move || {
            // A spawner that finds no idle worker queues at home (not
            // modelled): this one waits until the worker is idle.
            while !placement::claim(&looking) {
                thread::yield_now();
            }
            handoff.push(7u32);
            if placement::must_wake_after_handoff(&sleeping) {
                waker.wake();
            }
        })
    };
    loop {
        looking.store(true, SeqCst);
        remote::announce_sleep(&sleeping);
        if handoff.is_empty() {
            waker.wait(); // the poller's wait
        }
        sleeping.store(false, SeqCst);
        looking.store(false, Relaxed);
        if let Some(v) = handoff.pop() {
            assert_eq!(v, 7);
            break;
        }
    }
    t.join().unwrap();
}

#[test]
fn handoff_wake_model() {
    loom::model(handoff_wake);
}

#[test]
fn handoff_wake_finds_no_fence() {
    finds(Bug::HandoffNoFence, handoff_wake);
}

/// A coroutine waits for a socket to become readable while the poller
/// reports it: the waiter's steps of `Registration::io` (read the
/// generation, try, enqueue unless the generation moved, park) against
/// `IoState::ready`. The waiter always gets the data.
fn poller_readiness() {
    let io = Arc::new(IoState::new());
    let readable = Arc::new(AtomicBool::new(false));
    let poller = {
        let (io, readable) = (io.clone(), readable.clone());
        thread::spawn(move || {
            readable.store(true, SeqCst); // data arrives
            io.ready(true, false, &mut Vec::new()); // the edge-triggered event
        })
    };
    loop {
        let g = io.generation(Dir::Read);
        if readable.load(SeqCst) {
            break; // op() succeeded
        }
        let Some(key) = io.enqueue(Dir::Read, g, park::current_unparker()) else {
            continue; // readiness arrived since the attempt: retry
        };
        park::park(super::wait::Wait::Io);
        io.remove(key);
    }
    poller.join().unwrap();
}

#[test]
fn poller_readiness_model() {
    loom::model(poller_readiness);
}

#[test]
fn poller_readiness_finds_no_gen_check() {
    finds(Bug::PollerNoGenCheck, poller_readiness);
}

/// Stands in for a worker's crossbeam deque of unstarted coroutines
/// (`crossbeam_deque::Worker`, LIFO for its owner since f39534c: loom
/// cannot see inside crossbeam; the spawner here never pops, and a push,
/// `len` and a steal are the same code in both flavours):
/// its `front` (thieves advance it) and `back` (the owner's) indices, read
/// and written with crossbeam-deque 0.8.8's orderings. So the length the
/// spawner reads right after its push is the real code's kind
/// (`Worker::len`: its own `back`, `front` `SeqCst`), and so is a thief's
/// (`Stealer::len`: `front`, a `SeqCst` fence, `back`). A steal takes the
/// older half as `steal_batch_and_pop` does (`(len - 1) / 2` plus the one
/// it returns; its fence is `epoch::pin`'s) by a compare-and-swap of
/// `front`. To keep loom's search small: the coroutines are numbered by
/// their place (the n-th pushed is `n`; the indices say which were taken,
/// so there is no buffer), `push` publishes `back` with one `Release` store
/// (crossbeam: a `Release` fence, then a relaxed store) and skips the
/// `front` load that only decides a resize (no resize here), and the owner
/// keeps its own `back` in `mine` (its relaxed load of it reads its last
/// store).
struct Deque {
    front: AtomicUsize,
    back: AtomicUsize,
    mine: std::sync::atomic::AtomicUsize,
}

impl Deque {
    fn new() -> Deque {
        Deque {
            front: AtomicUsize::new(0),
            back: AtomicUsize::new(0),
            mine: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `Worker::push` (owner only) of the next coroutine.
    fn push(&self) {
        let b = self.mine.load(Relaxed) + 1;
        self.mine.store(b, Relaxed);
        self.back.store(b, Release);
    }

    /// `Worker::len` (owner only).
    fn len(&self) -> usize {
        let b = self.mine.load(Relaxed);
        let f = self.front.load(SeqCst);
        (b.wrapping_sub(f) as isize).max(0) as usize
    }

    /// `Stealer::len`.
    fn stealer_len(&self) -> usize {
        let f = self.front.load(Acquire);
        loom::sync::atomic::fence(SeqCst);
        let b = self.back.load(Acquire);
        (b.wrapping_sub(f) as isize).max(0) as usize
    }

    /// `Stealer::steal_batch_and_pop`: the coroutines taken, oldest first.
    fn steal_batch_and_pop(&self) -> crossbeam_deque::Steal<std::ops::Range<usize>> {
        let f = self.front.load(Acquire);
        loom::sync::atomic::fence(SeqCst);
        let b = self.back.load(Acquire);
        let len = b.wrapping_sub(f) as isize;
        if len <= 0 {
            return crossbeam_deque::Steal::Empty;
        }
        let n = (len as usize - 1) / 2 + 1;
        match self.front.compare_exchange(f, f + n, SeqCst, Relaxed) {
            Ok(_) => crossbeam_deque::Steal::Success(f + 1..f + n + 1),
            Err(_) => crossbeam_deque::Steal::Retry,
        }
    }

    /// What is left (once every other thread is done).
    fn rest(&self) -> std::ops::Range<usize> {
        self.front.load(SeqCst) + 1..self.mine.load(Relaxed) + 1
    }
}

/// A sleeper of `spawn_batch_wake`: its `sleeping` flag and its poller
/// ([`Waker`], with a stop for the model's end).
struct Sleeper {
    sleeping: crate::loom::sync::atomic::AtomicBool,
    /// (woken, stopped)
    state: crate::loom::sync::Mutex<(bool, bool)>,
    cv: crate::loom::sync::Condvar,
}

impl Sleeper {
    fn wake(&self) {
        self.state.lock().0 = true;
        self.cv.notify_all();
    }

    /// The poller's wait: true when woken, false when stopped and not
    /// woken.
    fn wait(&self) -> bool {
        let mut s = self.state.lock();
        while !s.0 && !s.1 {
            self.cv.wait(&mut s);
        }
        std::mem::take(&mut s.0)
    }

    fn stop(&self) {
        self.state.lock().1 = true;
        self.cv.notify_all();
    }
}

/// Coroutines the spawner of `spawn_batch_wake` pushes.
const BATCH: usize = 3;

/// A busy coroutine spawns [`BATCH`] coroutines in a row onto its worker's
/// deque and never gives the worker back (no pop: its slice never ends),
/// while an idle worker goes to sleep and a thief (a worker awake) looks
/// once. Each push is `placement::place`'s tail: the length the deque
/// reports after it (`placement::queued`) decides how to wake a sleeper
/// (`Placed::wake`: the 2nd and the 3rd push the full handshake), and
/// `worker::take_sleeper` takes the one to wake. The
/// idle worker starts where `idle::idle` goes to sleep (its pick found
/// nothing: nothing is pushed yet): `worker::sleep_unless` announces the
/// sleep, counts it, re-checks (`placement::offer`: two or more is work;
/// a lone coroutine first seen there is not, as in `idle::has_work`) and waits
/// in its poller; woken, or with work found, it steals until it finds
/// nothing (`steal_batch_and_pop`; a lone coroutine at once, as
/// `placement::stealable` lets it go after `LONE_STEAL_DELAY` of its owner
/// in one slice, for ever here) and goes to sleep again. The thief steals
/// once if `offer` shows a batch, then runs what it took for the rest of
/// the model: a steal between two pushes (the next is the second again)
/// or racing one.
///
/// After its pushes the spawner stops the sleeper (from then on only the
/// monitor would wake it, not modelled: it wakes a sleeper for a deque
/// whose owner stays in one slice). A sleeper stopped, not woken, exits
/// without another look, so at most one coroutine may be left (the
/// spawner's run-next, which a sleeper may leave to the monitor); two or
/// more mean a lost wake-up. Every coroutine is taken once. [`Deque`]
/// stands in for the crossbeam deque (see there).
fn spawn_batch_wake() {
    struct Model {
        q: Deque,
        sleepers: crate::loom::sync::atomic::AtomicUsize,
        workers: [Sleeper; 1],
    }
    let m = Arc::new(Model {
        q: Deque::new(),
        sleepers: crate::loom::sync::atomic::AtomicUsize::new(0),
        workers: [Sleeper {
            sleeping: crate::loom::sync::atomic::AtomicBool::new(false),
            state: crate::loom::sync::Mutex::new((false, false)),
            cv: crate::loom::sync::Condvar::new(),
        }],
    });
    let idle = {
        let m = m.clone();
        thread::spawn(move || {
            let me = &m.workers[0];
            let mut took = Vec::new();
            loop {
                let woken = worker::sleep_unless(
                    &me.sleeping,
                    &m.sleepers,
                    || placement::offer(m.q.stealer_len()) == Offer::Batch,
                    || me.wait(),
                );
                if woken == Some(false) {
                    return took;
                }
                while let Some(r) = placement::drain_steal(&mut || m.q.steal_batch_and_pop()) {
                    took.extend(r);
                }
            }
        })
    };
    let thief = {
        let m = m.clone();
        thread::spawn(move || {
            if placement::offer(m.q.stealer_len()) != Offer::Batch {
                return 0..0;
            }
            placement::drain_steal(&mut || m.q.steal_batch_and_pop()).unwrap_or(0..0)
        })
    };
    for _ in 0..BATCH {
        m.q.push();
        if let Some(how) = placement::queued(m.q.len()).wake() {
            if let Some(w) = worker::take_sleeper(how, &m.sleepers, &m.workers, |w| &w.sleeping) {
                w.wake();
            }
        }
    }
    m.workers[0].stop();
    let took = idle.join().unwrap();
    let stolen = thief.join().unwrap();
    let left = m.q.rest();
    assert!(
        left.len() <= 1,
        "a worker slept, never woken, with {left:?} queued (it took {took:?}, the thief {stolen:?})"
    );
    let mut all: Vec<usize> = took.into_iter().chain(stolen).chain(left).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=BATCH).collect::<Vec<_>>(),
        "each coroutine taken once"
    );
}

/// Three threads in loops: 2 preemptions by default (under a second with
/// its twin); `LOOM_MAX_PREEMPTIONS` overrides it (`scripts/loom.sh
/// --full` runs 3, ~6 s).
fn spawn_batch_builder() -> loom::model::Builder {
    bounded(2)
}

#[test]
fn spawn_batch_wake_model() {
    spawn_batch_builder().check(spawn_batch_wake);
}

/// `spawn_batch_wake` with `bug` planted; loom must find it.
fn spawn_batch_finds(bug: Bug) {
    finds_with(spawn_batch_builder(), bug, spawn_batch_wake);
}

#[test]
fn spawn_batch_wake_finds_queued_no_fence() {
    spawn_batch_finds(Bug::QueuedNoFence);
}

/// The lost wake-up this model found in f4e24b0 (the third push read the
/// sleepers' count without the fence; a thief's steal right after it):
/// restored, loom still finds it.
#[test]
fn spawn_batch_wake_finds_queued_behind_no_fence() {
    spawn_batch_finds(Bug::QueuedBehindNoFence);
}
