//! The hazard `read_consistent` exists for is real (golang/go#60607): with
//! the naive order — `read`, then `grow(|| read_mem_stats(h))` from a
//! coroutine in the stress mode — the grow itself and the other worker's
//! churn land between the two reads, and the metrics disagree with the
//! MemStats. This keeps the consistency test honest: its check can fail.
//!
//! Two variants, both with both workers churning:
//! - from a long-lived monitor coroutine: its forced grow is served by a
//!   segment it already has (the stress mode ping-pongs between two), so the
//!   grow counters always disagree, and the byte classes disagree when the
//!   other worker moved segments inside the window;
//! - from a fresh coroutine per pair: its first grow takes a new segment
//!   from the allocator, exactly like Go's stack move, so the byte classes
//!   disagree too (`/memory/classes/stacks/inuse:bytes` is one segment
//!   short, the analogue of Go's 32768 bytes).
//!
//! `METRICS_HAZARD_READS` overrides the number of read pairs per variant.

mod common;

use bamboo::Handle;
use bamboo_metrics::{all_samples, read, read_mem_stats, MemStats, Sample};
use common::u64_of;

#[derive(Default, Debug)]
struct Skew {
    pairs: usize,
    grows: usize,
    forced: usize,
    bytes: usize,
    inuse_short: usize,
    total: usize,
    example: Option<String>,
}

impl Skew {
    fn add(&mut self, s: &[Sample], mem: &MemStats) {
        let g = u64_of(s, "/stack/grows:events");
        let f = u64_of(s, "/stack/grows/forced:events");
        let inuse = u64_of(s, "/memory/classes/stacks/inuse:bytes");
        let cached = u64_of(s, "/memory/classes/stacks/cached:bytes");
        let released = u64_of(s, "/memory/classes/stacks/released:bytes");
        let t = u64_of(s, "/memory/classes/total:bytes");
        self.pairs += 1;
        self.grows += usize::from(g != mem.grows);
        self.forced += usize::from(f != mem.forced_grows);
        let b = inuse != mem.stack_inuse
            || cached != mem.stack_cached
            || released != mem.stack_released;
        self.bytes += usize::from(b);
        self.inuse_short += usize::from(inuse < mem.stack_inuse);
        self.total += usize::from(t != mem.sys);
        if b && self.example.is_none() {
            self.example = Some(format!(
                "inuse {inuse} vs MemStats {} ({:+}), cached {cached} vs {}, released {released} vs {}",
                mem.stack_inuse,
                inuse as i128 - mem.stack_inuse as i128,
                mem.stack_cached,
                mem.stack_released
            ));
        }
    }

    fn print(&self, what: &str) {
        println!(
            "naive order, {what}: {} read pairs; /stack/grows:events != grows in {}, forced in {}, \
             stack byte classes in {} (metric in use below MemStats in {}), total != sys in {}; e.g. {}",
            self.pairs,
            self.grows,
            self.forced,
            self.bytes,
            self.inuse_short,
            self.total,
            self.example.as_deref().unwrap_or("-")
        );
    }
}

/// The naive order: metrics first, MemStats later, behind a check point
/// that moves this coroutine's stack (forced in stress mode).
fn naive_pair(h: &Handle, samples: &mut [Sample]) -> MemStats {
    read(h, samples);
    bamboo::grow(|| read_mem_stats(h))
}

fn pause() {
    bamboo::sleep(std::time::Duration::from_micros(50));
}

#[test]
fn naive_read_order_shows_the_skew() {
    let pairs = common::env_count("METRICS_HAZARD_READS", 2_000);
    let (rt, h, churn) = common::stress_runtime_with_churn();
    let hm = h.clone();
    let (monitor, fresh) = rt.block_on(move || {
        let mut monitor = Skew::default();
        let mut samples = all_samples();
        // At least `pairs`; more (up to 10x) until the byte classes have
        // disagreed once, which needs the other worker inside the window.
        while monitor.pairs < pairs || (monitor.bytes == 0 && monitor.pairs < 10 * pairs) {
            let mem = naive_pair(&hm, &mut samples);
            monitor.add(&samples, &mem);
            pause();
        }
        let mut fresh = Skew::default();
        for _ in 0..pairs {
            let h2 = hm.clone();
            let s = std::mem::take(&mut samples);
            let (s, mem) = bamboo::spawn(move || {
                let mut s = s;
                let mem = naive_pair(&h2, &mut s);
                (s, mem)
            })
            .join()
            .unwrap();
            fresh.add(&s, &mem);
            samples = s;
            pause();
        }
        (monitor, fresh)
    });
    churn.stop();
    monitor.print("long-lived monitor coroutine");
    fresh.print("fresh coroutine per pair");
    for s in [&monitor, &fresh] {
        // The grow between the two reads is counted by the second only.
        assert_eq!(s.grows, s.pairs, "every naive pair must see its own grow");
        assert_eq!(s.forced, s.pairs);
    }
    assert!(
        monitor.bytes > 0,
        "the stack byte classes never disagreed in {} naive pairs",
        monitor.pairs
    );
    // A fresh coroutine has no spare and no alternate: its grow takes a
    // segment from the cache between the two reads, so the byte classes
    // disagree in most pairs, the metric's `inuse` short of MemStats in
    // many. Not in most: since stop-the-world asks the other worker's
    // running coroutine to yield, the window also sees the churn there
    // finish coroutines and free segments (the metric then reads above),
    // in 570-770 of 2,000 pairs (measured: short in 726-928).
    //
    // With freed segments poisoned (`BAMBOO_DEBUG=stackpoison=1`, the
    // second pass of `scripts/test.sh`) a segment a grow frame leaves is
    // freed at once instead of kept as the spare, so the churn's grows
    // move segments between the classes both ways inside the window, and
    // often cancel the fresh coroutine's one: measured on the 2026-12-03
    // host, byte classes apart in 684-1418 of 2,000 pairs, the metric
    // short in 217-445 (2,000 and 1,338-1,950 without poison). There a
    // fifth and a twentieth are asked for: the skew is still there in
    // hundreds of pairs, which is what this test shows.
    let (bytes_in, short_in) = if h.stack_poison() { (5, 20) } else { (2, 4) };
    assert!(
        fresh.bytes * bytes_in > fresh.pairs && fresh.inuse_short * short_in > fresh.pairs,
        "a fresh coroutine's grow takes a segment, so the byte classes should \
         disagree in more than 1/{bytes_in} of the pairs and the metric be short of \
         MemStats.stack_inuse in more than 1/{short_in}: {fresh:?}"
    );
}
