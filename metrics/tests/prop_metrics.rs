//! Property tests: random workloads (spawns of coroutines that grow to
//! random depths, channel ping-pong, yields, joins) interleaved with
//! `read`, `read_consistent` and `read_mem_stats`, on a normal and a
//! stress-mode runtime. After every `read_consistent` the required
//! equalities (docs/metrics.md, "What `read_consistent` guarantees") hold; cumulative metrics never decrease from one read to the
//! next; histograms are well formed.
//!
//! Cases: 16 by default, `PROPTEST_CASES` overrides. The two runtimes are
//! created once and shared by every case.

mod common;

use std::sync::OnceLock;

use bamboo::{Handle, JoinHandle, Runtime};
use bamboo_metrics::{
    all_samples, check, describe, read, read_consistent, read_mem_stats, MemStats, Sample, Value,
};
use common::{oracle_mismatches, recurse, u64_of};
use proptest::prelude::*;

fn runtime(stress: bool) -> &'static Runtime {
    static NORMAL: OnceLock<Runtime> = OnceLock::new();
    static STRESS: OnceLock<Runtime> = OnceLock::new();
    let cell = if stress { &STRESS } else { &NORMAL };
    cell.get_or_init(|| {
        let mut b = Runtime::builder();
        b.workers(2);
        if stress {
            // Otherwise BAMBOO_DEBUG decides.
            b.force_stack_move(true);
        }
        b.build().expect("runtime")
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Spawn `n` coroutines recursing `depth` levels through `grow`,
    /// optionally yielding at the bottom (segments held across slices).
    Spawn {
        n: u8,
        depth: u16,
        yield_at_bottom: bool,
    },
    /// `rounds` round trips with a new coroutine over channels of `cap`.
    PingPong {
        rounds: u16,
        cap: u8,
    },
    /// Yield this many times.
    Yield(u8),
    /// Recurse on the driver's own stack, reading at the bottom.
    DeepRead(u16),
    /// Join every outstanding spawned coroutine.
    Join,
    Read,
    ReadConsistent,
    ReadMemStats,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..8, 0u16..200, any::<bool>())
            .prop_map(|(n, depth, yield_at_bottom)| Op::Spawn { n, depth, yield_at_bottom }),
        2 => (1u16..64, 0u8..3).prop_map(|(rounds, cap)| Op::PingPong { rounds, cap }),
        1 => (1u8..8).prop_map(Op::Yield),
        1 => (0u16..300).prop_map(Op::DeepRead),
        1 => Just(Op::Join),
        2 => Just(Op::Read),
        3 => Just(Op::ReadConsistent),
        1 => Just(Op::ReadMemStats),
    ]
}

fn well_formed(s: &[Sample]) {
    for x in s {
        let d = describe(&x.name).expect("known");
        assert_eq!(x.value.kind(), d.kind, "{}", x.name);
        if let Value::Float64Histogram(h) = &x.value {
            assert_eq!(h.buckets.len(), h.counts.len() + 1, "{}", x.name);
            assert!(h.buckets.windows(2).all(|w| w[0] < w[1]), "{}", x.name);
        }
    }
    let classes: u64 = s
        .iter()
        .filter(|x| x.name.starts_with("/memory/classes/") && !x.name.contains("total"))
        .map(|x| x.value.as_u64().unwrap())
        .sum();
    assert_eq!(u64_of(s, "/memory/classes/total:bytes"), classes);
}

fn monotone(prev: &[Sample], cur: &[Sample]) {
    for (p, c) in prev.iter().zip(cur) {
        if !describe(&c.name).unwrap().cumulative || p.value == Value::Bad {
            continue;
        }
        match (&p.value, &c.value) {
            (Value::Uint64(a), Value::Uint64(b)) => assert!(b >= a, "{}: {a} -> {b}", c.name),
            (Value::Float64(a), Value::Float64(b)) => assert!(b >= a, "{}: {a} -> {b}", c.name),
            (Value::Float64Histogram(a), Value::Float64Histogram(b)) => {
                assert!(
                    a.counts.iter().zip(&b.counts).all(|(x, y)| y >= x),
                    "{}",
                    c.name
                )
            }
            (a, b) => panic!("{}: {a:?} -> {b:?}", c.name),
        }
    }
}

/// Cumulative MemStats fields never decrease either.
fn mem_monotone(prev: &MemStats, cur: &MemStats) {
    let pairs = [
        ("grows", prev.grows, cur.grows),
        ("forced_grows", prev.forced_grows, cur.forced_grows),
        (
            "coroutines_created",
            prev.coroutines_created,
            cur.coroutines_created,
        ),
        ("switches", prev.switches, cur.switches),
        ("stop_the_world", prev.stop_the_world, cur.stop_the_world),
        ("scavenged", prev.scavenged, cur.scavenged),
        ("segment_allocs", prev.segment_allocs, cur.segment_allocs),
    ];
    for (name, a, b) in pairs {
        assert!(b >= a, "MemStats.{name}: {a} -> {b}");
    }
}

struct Driver {
    h: Handle,
    prev: Vec<Sample>,
    cur: Vec<Sample>,
    prev_mem: MemStats,
    mem: MemStats,
    kids: Vec<JoinHandle<u64>>,
    consistent_reads: usize,
}

impl Driver {
    fn after_read(&mut self) {
        well_formed(&self.cur);
        monotone(&self.prev, &self.cur);
        std::mem::swap(&mut self.prev, &mut self.cur);
    }

    fn consistent(&mut self) {
        read_consistent(&self.h, &mut self.mem, &mut self.cur);
        let mut bad = oracle_mismatches(&self.mem, &self.cur);
        bad.extend(check(&self.mem, &self.cur).iter().map(|m| m.to_string()));
        assert!(bad.is_empty(), "read_consistent broke equalities: {bad:#?}");
        mem_monotone(&self.prev_mem, &self.mem);
        self.prev_mem = self.mem.clone();
        self.consistent_reads += 1;
        self.after_read();
    }

    fn run(&mut self, op: &Op) {
        match *op {
            Op::Spawn {
                n,
                depth,
                yield_at_bottom,
            } => {
                for _ in 0..n {
                    self.kids.push(bamboo::spawn(move || {
                        recurse(u32::from(depth), &|| {
                            if yield_at_bottom {
                                bamboo::yield_now()
                            }
                        })
                    }));
                }
            }
            Op::PingPong { rounds, cap } => {
                let (tx, rx) = bamboo::sync::channel::<u64>(cap.into());
                let (back_tx, back_rx) = bamboo::sync::channel::<u64>(cap.into());
                let pong = bamboo::spawn(move || {
                    let mut n = 0;
                    while let Ok(v) = rx.recv() {
                        back_tx.send(bamboo::grow(|| v + 1)).unwrap();
                        n += 1;
                    }
                    n
                });
                for i in 0..u64::from(rounds) {
                    tx.send(i).unwrap();
                    assert_eq!(back_rx.recv().unwrap(), i + 1);
                }
                drop(tx);
                assert_eq!(pong.join().unwrap(), u64::from(rounds));
            }
            Op::Yield(k) => (0..k).for_each(|_| bamboo::yield_now()),
            Op::DeepRead(d) => {
                let h = self.h.clone();
                let mut s = std::mem::take(&mut self.cur);
                recurse(u32::from(d), &|| {});
                // Read from deep inside a chain of grown segments.
                fn deep(n: u32, h: &Handle, s: &mut [Sample]) {
                    if n == 0 {
                        read(h, s);
                    } else {
                        let pad = std::hint::black_box([0u8; 128]);
                        bamboo::grow(|| deep(n - 1, h, s));
                        std::hint::black_box(pad);
                    }
                }
                deep(u32::from(d), &h, &mut s);
                self.cur = s;
                self.after_read();
            }
            Op::Join => {
                for k in self.kids.drain(..) {
                    k.join().unwrap();
                }
            }
            Op::Read => {
                read(&self.h, &mut self.cur);
                self.after_read();
            }
            Op::ReadConsistent => self.consistent(),
            Op::ReadMemStats => {
                let m = read_mem_stats(&self.h);
                assert_eq!(
                    m.sys,
                    m.stack_inuse + m.stack_cached + m.stack_released + m.os_stacks
                );
                assert_eq!(
                    m.stack_mapped,
                    m.stack_inuse + m.stack_cached + m.stack_released
                );
                mem_monotone(&self.prev_mem, &m);
                self.prev_mem = m;
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_keep_metrics_consistent(
        stress in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = runtime(stress);
        let h = rt.handle();
        let reads = rt.block_on(move || {
            let mut d = Driver {
                h,
                prev: all_samples(),
                cur: all_samples(),
                prev_mem: MemStats::default(),
                mem: MemStats::default(),
                kids: Vec::new(),
                consistent_reads: 0,
            };
            for op in &ops {
                d.run(op);
            }
            d.run(&Op::Join);
            d.consistent();
            // Every coroutine of this case is done: none of ours is live
            // but the driver (other cases' runtimes are separate or idle).
            assert!(d.mem.coroutines >= 1);
            d.consistent_reads
        });
        prop_assert!(reads >= 1);
    }
}
