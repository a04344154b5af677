//! `read` allocates only the first time it is given a sample slice
//! (histogram buffers are reused): a second `read` of the same slice makes
//! zero heap allocations, from a plain thread and from inside a coroutine.
//!
//! A counting global allocator counts, per thread, the allocations made
//! while a thread-local flag is set, so the runtime's other workers and the
//! other tests of this binary (running in parallel) do not disturb the count.
//! A coroutine never leaves its worker thread, so its count is exact too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bamboo::Runtime;
use bamboo_metrics::{all_samples, read, Sample, Value};

struct Counting;

thread_local! {
    /// Count allocations on this thread while set.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations counted on this thread (per thread, so tests running in
    /// parallel do not see each other's allocations).
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // try_with: the thread-locals may be gone while a thread is torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every method forwards to `System` unchanged; counting has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get) - before
}

fn samples_with_unknown() -> Vec<Sample> {
    let mut s = all_samples();
    s.push(Sample::new("/no/such:metric"));
    s
}

fn assert_read(s: &[Sample]) {
    assert!(s
        .iter()
        .filter(|s| s.name != "/no/such:metric")
        .all(|s| s.value != Value::Bad));
    assert_eq!(s.last().unwrap().value, Value::Bad);
}

fn runtime() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn counting_allocator_counts() {
    let n = allocations(|| {
        std::hint::black_box(vec![1u8; 10]);
    });
    assert_eq!(n, 1);
}

#[test]
fn second_read_from_a_plain_thread_allocates_nothing() {
    let rt = runtime();
    let h = rt.handle();
    let mut s = samples_with_unknown();
    let first = allocations(|| read(&h, &mut s));
    assert!(
        first >= 2,
        "the first read creates the histogram buffers ({first})"
    );
    assert_read(&s);
    for _ in 0..3 {
        let n = allocations(|| read(&h, &mut s));
        assert_eq!(n, 0, "a second read of the same slice allocated {n} times");
    }
    assert_read(&s);
}

/// Exactly `all_samples()` (the in-order pass of `read`), from a coroutine:
/// the second read allocates nothing either.
#[test]
fn second_read_of_all_samples_allocates_nothing() {
    let rt = runtime();
    let h = rt.handle();
    let counts = rt.block_on(move || {
        let mut s = bamboo_metrics::all_samples();
        read(&h, &mut s);
        let n: Vec<usize> = (0..3).map(|_| allocations(|| read(&h, &mut s))).collect();
        assert!(s.iter().all(|x| x.value != Value::Bad));
        n
    });
    assert_eq!(counts, [0, 0, 0], "allocations per read of all_samples()");
}

#[test]
fn second_read_from_a_coroutine_allocates_nothing() {
    for stress in [false, true] {
        let rt = Runtime::builder()
            .workers(2)
            .force_stack_move(stress)
            .build()
            .unwrap();
        let h = rt.handle();
        // Background churn so the counters move between reads.
        let busy = rt.spawn(|| {
            for i in 0..2_000u64 {
                bamboo::grow(|| std::hint::black_box(i));
                bamboo::yield_now();
            }
        });
        let (first, second) = rt.block_on(move || {
            let mut s = samples_with_unknown();
            let first = allocations(|| read(&h, &mut s));
            assert_read(&s);
            let mut second = 0;
            for _ in 0..100 {
                bamboo::yield_now();
                second += allocations(|| read(&h, &mut s));
            }
            assert_read(&s);
            (first, second)
        });
        busy.join().unwrap();
        println!("stress={stress}: first read {first} allocations, next 100 reads {second}");
        assert!(first >= 2);
        assert_eq!(
            second, 0,
            "reads after the first allocated (stress={stress})"
        );
    }
}
