//! Free task structs (Go's `gfree`): where a finished task's struct waits
//! for the next spawn, and the paced trim that frees what stays unused.
//!
//! Contract:
//! - Each worker keeps a list of its own (`Local::free_tasks`, only its
//!   thread touches it) of at most [`FREE_TASKS`]. A full one moves half
//!   to the runtime's shared list ([`FreeTasks`]), an empty one takes up
//!   to half a list back (Go's `gfput`/`gfget` with `sched.gFree`): a
//!   worker whose coroutines finish coroutines another worker spawned
//!   feeds that worker's spawns. Either move is one lock section for
//!   `FREE_TASKS / 2` structs.
//! - The shared list has no bound, as Go's has none: it holds at most the
//!   structs of the runtime's peak of live coroutines, so the release of
//!   a million finished coroutines pushes a million structs here instead
//!   of freeing them (each free also unlists the struct from the
//!   registry: a shard lock), and the next storm pops them instead of
//!   allocating.
//! - Unlike Go, which keeps its `g`s for ever, what the shared list held
//!   unused for a whole [`TRIM_AGE`] is freed, beyond [`KEEP`] structs
//!   ([`FreeTasks::trim`]): the list is LIFO, so the `low` structs at its
//!   bottom (its least length since the last trim) were untouched all
//!   that time. An idle worker trims before it sleeps (at most
//!   [`TRIM_BATCH`] per pass, off every coroutine's path), and its sleep
//!   ends when the next trim is due; a runtime whose workers never go
//!   idle keeps its list, bounded by its peak.
//! - The length is kept in an atomic (written under the lock, read
//!   without) so that a spawn storm that finds both lists empty, and an
//!   idle worker with nothing to trim, stay off the lock.
//! - The last worker to exit empties the shared list ([`FreeTasks::clear`]):
//!   the structs hold the runtime's `Shared`, which would otherwise never
//!   be freed.
//!
//! ```text
//!   shared list, bottom (oldest) ............................ top (newest)
//!   [ t t t t t t t t t t t t t t t t t t t t t t | t t t t t ]
//!   |<-- low: untouched since the last trim ---->|<- taken/put ->|
//!   |<- KEEP ->|<-- freed by the next trim ---->|   (once TRIM_AGE passed)
//! ```

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::task::TaskShared;
use super::worker::Local;

/// Drop the last strong reference to a finished task, keeping its struct
/// for this worker's next spawn when nothing else refers to it (see
/// `task.rs`'s module docs). Any reference is fine to pass: a shared one
/// is just dropped.
pub(crate) fn recycle(t: Arc<TaskShared>) {
    // The last strong reference (the registry's weak one aside: a dump
    // that upgrades it right now only reads, see task.rs).
    if Arc::strong_count(&t) != 1 || !t.is_reusable() {
        return;
    }
    // What `Arc::get_mut` would give: the last other holder's accesses
    // happen before the reset of the next spawn (its drop released them;
    // free on x86).
    fence(Acquire);
    super::worker::with_local(|l| {
        if !Arc::ptr_eq(&l.shared, &t.shared) {
            return Some(t);
        }
        let Ok(mut free) = l.free_tasks.try_borrow_mut() else {
            return Some(t);
        };
        if free.len() >= FREE_TASKS {
            // Full: half to the shared list, so the next FREE_TASKS / 2
            // recycles here take no lock.
            l.shared.free_tasks.put(&mut free, FREE_TASKS / 2);
        }
        free.push(t);
        None
    });
}

/// A task struct for a spawn on worker `l`: its free list's newest, the
/// list refilled from the runtime's shared list when empty.
pub(crate) fn reuse(l: &Local) -> Option<Arc<TaskShared>> {
    let mut free = l.free_tasks.try_borrow_mut().ok()?;
    // (The length hint keeps a spawn storm that finds both lists empty
    // off the lock.)
    if free.is_empty() && l.shared.free_tasks.len() > 0 {
        l.shared.free_tasks.take(&mut free, FREE_TASKS / 2);
    }
    free.pop()
}

/// Free task structs a worker keeps for its next spawns (~128 bytes each;
/// Go keeps 64 per P).
pub(crate) const FREE_TASKS: usize = 256;
/// Structs the shared list keeps however long they stay unused.
pub(crate) const KEEP: usize = 4096;
/// What stayed unused on the shared list this long is freed (the stack
/// pool's `SCAVENGE_AGE`).
pub(crate) const TRIM_AGE: Duration = Duration::from_secs(1);
/// Structs one trim frees at most (~10 ms of an idle worker here); the
/// next pass follows after [`TRIM_STEP`].
pub(crate) const TRIM_BATCH: usize = 1 << 16;
/// The pause between two passes of one long trim.
pub(crate) const TRIM_STEP: Duration = Duration::from_millis(10);

/// The runtime's shared list of free task structs (generic for its unit
/// tests only).
pub(crate) struct FreeTasks<T = Arc<TaskShared>> {
    inner: Mutex<Inner<T>>,
    /// What a trim leaves however long it stayed unused ([`KEEP`] for
    /// task structs; `free_bodies.rs` keeps fewer bodies per spawn site).
    keep: usize,
    /// `inner.list.len()`, written under the lock, read without (a hint).
    len: AtomicUsize,
    /// When the next trim is due, in ns since `epoch`: written under the
    /// lock, read without, so that a worker that goes idle often (a
    /// ping-pong across workers) takes no lock to find nothing due.
    due: AtomicU64,
    epoch: Instant,
}

struct Inner<T> {
    /// LIFO: pushes and takes at the end.
    list: Vec<T>,
    /// The list's least length since the current trim period began (the
    /// last trim that freed all it could): its bottom `low` structs were
    /// on it, untouched, all that time.
    low: usize,
}

impl<T> FreeTasks<T> {
    pub(crate) fn new() -> FreeTasks<T> {
        FreeTasks::with_keep(KEEP)
    }

    /// A list whose trims leave `keep` entries.
    pub(crate) fn with_keep(keep: usize) -> FreeTasks<T> {
        let epoch = Instant::now();
        FreeTasks {
            keep,
            inner: Mutex::new(Inner {
                list: Vec::new(),
                low: 0,
            }),
            len: AtomicUsize::new(0),
            due: AtomicU64::new(TRIM_AGE.as_nanos() as u64),
            epoch,
        }
    }

    /// Structs on the list (a hint: read without the lock).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Move `from[at..]` onto the list (a worker's full list).
    pub(crate) fn put(&self, from: &mut Vec<T>, at: usize) {
        let mut g = self.inner.lock();
        g.list.extend(from.drain(at..));
        self.len.store(g.list.len(), Relaxed);
    }

    /// Move up to `n` of the newest structs to `into` (a worker's empty
    /// list).
    pub(crate) fn take(&self, into: &mut Vec<T>, n: usize) {
        let mut g = self.inner.lock();
        let at = g.list.len().saturating_sub(n);
        into.extend(g.list.drain(at..));
        g.low = g.low.min(at);
        self.len.store(at, Relaxed);
    }

    /// Free what stayed unused for [`TRIM_AGE`] beyond `keep` ([`KEEP`]
    /// for task structs), at most [`TRIM_BATCH`] entries (see the module
    /// docs); say when the next
    /// trim is due (`None`: not until the list holds more than `keep`).
    /// The structs are freed after the lock is released (a free unlists
    /// the struct: its registry shard's lock). `now` is read only when the
    /// list is long enough to trim (a clock read is ~25-65 ns here, and a
    /// worker goes idle often).
    pub(crate) fn trim(&self, now: impl FnOnce() -> Instant) -> Option<Duration> {
        if self.len() <= self.keep {
            return None;
        }
        let now_ns = now().saturating_duration_since(self.epoch).as_nanos() as u64;
        let due = self.due.load(Relaxed);
        if now_ns < due {
            return Some(Duration::from_nanos(due - now_ns));
        }
        let (freed, next) = {
            let mut g = self.inner.lock();
            // Another idle worker may have trimmed since the load.
            let due = self.due.load(Relaxed);
            if now_ns < due {
                return Some(Duration::from_nanos(due - now_ns));
            }
            let keep = self.keep;
            let n = g.low.saturating_sub(keep).min(TRIM_BATCH);
            let freed: Vec<_> = g.list.drain(keep..keep + n).collect();
            g.low -= n;
            self.len.store(g.list.len(), Relaxed);
            let next = if g.low > keep {
                // More of the same aged bottom: go on after a pause.
                Some(TRIM_STEP)
            } else {
                // A new period: what is there now must stay unused for a
                // whole `TRIM_AGE` to go.
                g.low = g.list.len();
                (g.list.len() > keep).then_some(TRIM_AGE)
            };
            let step = next.unwrap_or(TRIM_AGE).as_nanos() as u64;
            self.due.store(now_ns + step, Relaxed);
            (freed, next)
        };
        drop(freed);
        next
    }

    /// Empty the list (the last worker's exit); the caller drops what it
    /// returns.
    pub(crate) fn clear(&self) -> Vec<T> {
        let mut g = self.inner.lock();
        self.len.store(0, Relaxed);
        g.low = 0;
        std::mem::take(&mut g.list)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    use super::*;

    /// A list entry that logs its drop (a free).
    struct Item {
        id: u64,
        freed: Rc<RefCell<Vec<u64>>>,
    }

    impl Drop for Item {
        fn drop(&mut self) {
            self.freed.borrow_mut().push(self.id);
        }
    }

    struct Harness {
        list: FreeTasks<Item>,
        freed: Rc<RefCell<Vec<u64>>>,
        /// When each item was last put on the list (ms after `t0`).
        put_at: HashMap<u64, u64>,
        next: u64,
        t0: Instant,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                list: FreeTasks::new(),
                freed: Rc::default(),
                put_at: HashMap::new(),
                next: 0,
                t0: Instant::now(),
            }
        }
        fn at(&self, ms: u64) -> Instant {
            self.t0 + Duration::from_millis(ms)
        }
        fn put(&mut self, n: usize, ms: u64) {
            let mut v: Vec<Item> = (0..n)
                .map(|_| {
                    self.next += 1;
                    self.put_at.insert(self.next, ms);
                    Item {
                        id: self.next,
                        freed: self.freed.clone(),
                    }
                })
                .collect();
            self.list.put(&mut v, 0);
        }
        /// Take `n` and put them back at `ms` (a worker's spawns and ends).
        fn churn(&mut self, n: usize, ms: u64) {
            let mut v = Vec::new();
            self.list.take(&mut v, n);
            for i in &v {
                self.put_at.insert(i.id, ms);
            }
            self.list.put(&mut v, 0);
        }
        /// Trim at `ms`; check that nothing freed was put on the list less
        /// than `TRIM_AGE` ago; the number freed.
        fn trim(&mut self, ms: u64) -> (usize, Option<Duration>) {
            let at = self.at(ms);
            let next = self.list.trim(|| at);
            let freed = std::mem::take(&mut *self.freed.borrow_mut());
            for id in &freed {
                let put = self.put_at.remove(id).unwrap();
                assert!(
                    ms - put >= TRIM_AGE.as_millis() as u64,
                    "item {id} put at {put} ms freed at {ms} ms"
                );
            }
            (freed.len(), next)
        }
    }

    #[test]
    fn a_burst_is_freed_only_after_it_stayed_unused_for_trim_age() {
        let mut h = Harness::new();
        let burst = KEEP + 3 * TRIM_BATCH / 2;
        h.put(burst, 0);
        // Within the first period nothing goes (it began before the burst).
        assert_eq!(h.trim(500).0, 0);
        // The first period ends: the burst begins to age.
        let (n, next) = h.trim(1000);
        assert_eq!((n, next), (0, Some(TRIM_AGE)));
        assert_eq!(h.trim(1500).0, 0);
        // A whole period unused: freed in batches, down to KEEP.
        let (n, next) = h.trim(2000);
        assert_eq!((n, next), (TRIM_BATCH, Some(TRIM_STEP)));
        let (n, next) = h.trim(2010);
        assert_eq!((n, next), (burst - KEEP - TRIM_BATCH, None));
        assert_eq!(h.list.len(), KEEP);
        assert_eq!(h.trim(5000).0, 0);
    }

    #[test]
    fn structs_in_use_are_kept() {
        let mut h = Harness::new();
        h.put(KEEP + 1000, 0);
        assert_eq!(h.trim(1000).0, 0);
        // Every 100 ms a worker takes and returns 600 of them: the list's
        // low mark stays 600 under its length, so only the 400 at the
        // bottom beyond KEEP go.
        for ms in (1100..2000).step_by(100) {
            h.churn(600, ms);
        }
        assert_eq!(h.trim(2000).0, 400);
        // A new period: the 600 churned last at 1900 ms stay until they
        // too were unused for a whole one.
        for ms in (2100..3000).step_by(100) {
            h.churn(300, ms);
        }
        assert_eq!(h.trim(3000).0, 300);
        assert_eq!(h.list.len(), KEEP + 300);
    }

    #[test]
    fn trim_never_frees_what_came_in_the_last_trim_age() {
        // Puts, churns and trims at pseudo-random times: the harness
        // checks every freed item's age.
        let mut h = Harness::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut ms = 0;
        let mut freed = 0;
        for _ in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ms += x % 300;
            match x % 3 {
                0 => h.put((x % 3000) as usize, ms),
                1 => h.churn((x % 2000) as usize, ms),
                _ => freed += h.trim(ms).0,
            }
        }
        assert!(freed > 0, "the sequence never trimmed anything");
    }

    #[test]
    fn clear_empties_the_list() {
        let mut h = Harness::new();
        h.put(10, 0);
        assert_eq!(h.list.clear().len(), 10);
        assert_eq!(h.freed.borrow_mut().drain(..).count(), 10);
        assert_eq!(h.list.len(), 0);
        assert_eq!(h.trim(10_000).0, 0);
    }
}
