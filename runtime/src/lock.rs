//! [`SpinLock`]: the lock of the runtime's shortest critical sections (a
//! join slot, a coroutine's closure, a channel's state), where what costs
//! is the locked instructions, not waiting.
//!
//! On the benchmark machine (docs/benchmarks.md, "Locked instructions") a
//! locked read-modify-write costs ~11 ns, a dozen plain ones. An
//! uncontended `parking_lot::Mutex` takes two per critical section (a
//! compare-exchange to lock, one to unlock: its unlock must see parked
//! waiters), ~25 ns; this lock takes one (test-and-test-and-set to lock, a
//! release store to unlock: a plain `mov` on x86), ~14.5 ns.
//!
//! Contract (what a holder may do):
//! - no park, sleep, blocking call or wait for another thread while
//!   holding it (a waiter does not sleep: it spins);
//! - the section is short: a few loads and stores, a queue push or pop, a
//!   value moved in or out (dropping a user value under it is allowed, as
//!   with any lock, but keeps the waiters spinning meanwhile).
//!
//! A waiter spins on a plain load ([`SpinThenYield`]) and, every
//! [`YIELD_EVERY`] tries, gives its thread's CPU to the OS: a holder that
//! the OS preempted (a plain thread joining, a worker descheduled on a
//! loaded host) gets to run and release it.
//!
//! ```text
//!   lock:    load == free? --no--> relax (spin; every 128th: yield) --+
//!              | yes                                                  |
//!              v                                                      |
//!            compare-exchange free -> held --fail---------------------+
//!              | ok
//!   unlock:  store free (release)
//! ```

use std::cell::Cell;

/// A lock for short critical sections that never block (module docs).
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, SpinThenYield>;

/// Relaxes a waiter between tries: a spin-loop hint, and every
/// [`YIELD_EVERY`]th time a `sched_yield`.
pub(crate) struct SpinThenYield;

/// Tries between two yields of a waiter's thread.
pub(crate) const YIELD_EVERY: u32 = 128;

thread_local! {
    /// This thread's relaxes so far (wrapping): only its low bits matter.
    static RELAXES: Cell<u32> = const { Cell::new(0) };
}

impl spin::relax::RelaxStrategy for SpinThenYield {
    #[cold]
    fn relax() {
        let n = RELAXES
            .try_with(|c| {
                let n = c.get().wrapping_add(1);
                c.set(n);
                n
            })
            .unwrap_or(0);
        if n.is_multiple_of(YIELD_EVERY) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SpinLock;

    /// Mutual exclusion: two threads' increments of a non-atomic pair
    /// never interleave (each section writes both halves; a torn one
    /// would leave them unequal).
    #[test]
    fn sections_exclude_each_other() {
        let l = Arc::new(SpinLock::new((0u64, 0u64)));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..200_000 {
                        let mut g = l.lock();
                        let a = g.0;
                        g.0 = a + 1;
                        std::hint::black_box(&mut *g);
                        assert_eq!(g.1, a, "a section saw another's half-done write");
                        g.1 = a + 1;
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*l.lock(), (400_000, 400_000));
    }

    /// A waiter gets the lock once a holder that kept it for a long while
    /// (20 ms, thousands of yields) lets go.
    #[test]
    fn a_waiter_lets_a_descheduled_holder_finish() {
        let l = Arc::new(SpinLock::new(0u32));
        let g = l.lock();
        let l2 = l.clone();
        let t = std::thread::spawn(move || *l2.lock() + 1);
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(g);
        assert_eq!(t.join().unwrap(), 1);
    }
}
