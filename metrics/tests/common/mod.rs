//! Shared workloads and checks for the metrics tests.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bamboo::{grow, Handle, JoinHandle};
use bamboo_metrics::{MemStats, Sample, Value};

/// Metric name, MemStats field name, field getter.
pub type Equality = (&'static str, &'static str, fn(&MemStats) -> u64);

/// The required equalities of docs/metrics.md ("What `read_consistent`
/// guarantees"), written out here from the doc rather than taken from the
/// metrics crate's table, so the crate cannot pass by agreeing with itself.
pub const REQUIRED_EQUALITIES: &[Equality] = &[
    ("/memory/classes/stacks/inuse:bytes", "stack_inuse", |m| {
        m.stack_inuse
    }),
    ("/memory/classes/stacks/cached:bytes", "stack_cached", |m| {
        m.stack_cached
    }),
    (
        "/memory/classes/stacks/released:bytes",
        "stack_released",
        |m| m.stack_released,
    ),
    ("/memory/classes/os-stacks:bytes", "os_stacks", |m| {
        m.os_stacks
    }),
    ("/memory/classes/total:bytes", "sys", |m| m.sys),
    ("/stack/segments/inuse:segments", "segments_inuse", |m| {
        m.segments_inuse
    }),
    ("/stack/grows:events", "grows", |m| m.grows),
    ("/stack/grows/forced:events", "forced_grows", |m| {
        m.forced_grows
    }),
    ("/sched/coroutines:coroutines", "coroutines", |m| {
        m.coroutines
    }),
    (
        "/sched/coroutines/created:coroutines",
        "coroutines_created",
        |m| m.coroutines_created,
    ),
    ("/sched/switches:switches", "switches", |m| m.switches),
];

/// The value of `name` in `samples` as an integer.
pub fn u64_of(samples: &[Sample], name: &str) -> u64 {
    let s = samples
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sample {name}"));
    match s.value {
        Value::Uint64(v) => v,
        ref v => panic!("{name} is not a Uint64: {v:?}"),
    }
}

/// Every broken equality of [`REQUIRED_EQUALITIES`] (the independent oracle
/// beside `bamboo_metrics::check`), plus total == sum of classes and
/// mapped == inuse + cached + released.
pub fn oracle_mismatches(mem: &MemStats, samples: &[Sample]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, field, get) in REQUIRED_EQUALITIES {
        let (a, b) = (u64_of(samples, name), get(mem));
        if a != b {
            out.push(format!(
                "{name} = {a} but MemStats.{field} = {b} (diff {:+})",
                a as i128 - b as i128
            ));
        }
    }
    let classes: u64 = [
        "/memory/classes/stacks/inuse:bytes",
        "/memory/classes/stacks/cached:bytes",
        "/memory/classes/stacks/released:bytes",
        "/memory/classes/os-stacks:bytes",
    ]
    .iter()
    .map(|n| u64_of(samples, n))
    .sum();
    let total = u64_of(samples, "/memory/classes/total:bytes");
    if classes != total {
        out.push(format!("total {total} != sum of classes {classes}"));
    }
    let stacks = mem.stack_inuse + mem.stack_cached + mem.stack_released;
    if stacks != mem.stack_mapped {
        out.push(format!(
            "inuse+cached+released {stacks} != mapped {}",
            mem.stack_mapped
        ));
    }
    if mem.sys != stacks + mem.os_stacks {
        out.push(format!(
            "sys {} != classes {}",
            mem.sys,
            stacks + mem.os_stacks
        ));
    }
    let mapped = u64_of(samples, "/stack/mapped:bytes");
    if mapped != mem.stack_mapped {
        out.push(format!(
            "/stack/mapped:bytes {mapped} != {}",
            mem.stack_mapped
        ));
    }
    out
}

/// A small xorshift generator (no dependency needed).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Recurse `n` levels, each through a check point, with a frame of padding.
/// At the bottom, `at_bottom` runs (e.g. a yield, so the whole chain of
/// segments stays in use while other coroutines run).
pub fn recurse(n: u32, at_bottom: &dyn Fn()) -> u64 {
    recurse_yielding(n, 0, at_bottom)
}

/// [`recurse`], also yielding every `every` levels on the way down (0:
/// never), so a deep recursion does not hold its worker for one long
/// slice (a stop-the-world waits for the slice to end).
pub fn recurse_yielding(n: u32, every: u32, at_bottom: &dyn Fn()) -> u64 {
    if n == 0 {
        at_bottom();
        return 0;
    }
    if every != 0 && n % every == 0 {
        bamboo::yield_now();
    }
    let pad = black_box([n as u8; 256]);
    let below = grow(|| recurse_yielding(n - 1, every, at_bottom));
    black_box(pad);
    below + 1
}

/// Recurse `n` levels through check points (with padding), then run `f`
/// at the bottom: `f` runs deep inside a chain of grown segments.
pub fn at_depth<R>(n: u32, f: &mut dyn FnMut() -> R) -> R {
    if n == 0 {
        return f();
    }
    let pad = black_box([n as u8; 256]);
    let r = grow(|| at_depth(n - 1, f));
    black_box(pad);
    r
}

/// First-segment size for runtimes that run [`Churn`]: its recursions
/// (up to 300 frames of ~300 bytes) cross segment boundaries, and so move
/// stack bytes between the classes, only when the first segment is small;
/// the 2 MiB default would hold them whole.
pub const CHURN_SEGMENT: usize = 16 << 10;

/// Background load on every worker: deep recursion holding segments across
/// yields, spawn/exit storms, and channel ping-pong. Stop it with
/// [`Churn::stop`].
pub struct Churn {
    stop: Arc<AtomicBool>,
    pub ops: Arc<AtomicU64>,
    handles: Vec<JoinHandle<()>>,
}

impl Churn {
    pub fn start(h: &Handle) -> Churn {
        // One copy of each kind per worker; one in all with stackpoison=1.
        let copies = if h.stack_poison() { 1 } else { h.workers() };
        Self::start_copies(h, copies)
    }

    /// `copies` copies of each kind of load.
    pub fn start_copies(h: &Handle, copies: usize) -> Churn {
        // With stackpoison=1 every segment given back is filled whole (up to
        // 1 MiB, page-faulting it in) and protected: lighter load keeps a
        // round of the run queue, and so a stop-the-world, short.
        let (deep_max, kid_max, storm) = if h.stack_poison() {
            (40, 16, 4)
        } else {
            (300, 64, 16)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for k in 0..copies as u64 {
            // Deep recursion that yields at the bottom and halfway.
            let (st, o) = (stop.clone(), ops.clone());
            handles.push(h.spawn(move || {
                let mut rng = Rng::new(k + 1);
                while !st.load(Relaxed) {
                    let depth = 1 + rng.below(deep_max) as u32;
                    recurse_yielding(depth, 4, &|| bamboo::yield_now());
                    o.fetch_add(1, Relaxed);
                    bamboo::yield_now();
                }
            }));
            // Spawn/exit storms.
            let (st, o) = (stop.clone(), ops.clone());
            handles.push(h.spawn(move || {
                let mut rng = Rng::new(k + 100);
                while !st.load(Relaxed) {
                    let n = 1 + rng.below(storm);
                    let kids: Vec<_> = (0..n)
                        .map(|_| {
                            let d = rng.below(kid_max) as u32;
                            let y = rng.below(2) == 0;
                            bamboo::spawn(move || {
                                recurse_yielding(d, 4, &|| {
                                    if y {
                                        bamboo::yield_now()
                                    }
                                })
                            })
                        })
                        .collect();
                    for kid in kids {
                        kid.join().expect("storm child");
                    }
                    o.fetch_add(1, Relaxed);
                }
            }));
            // Channel ping-pong over rendezvous channels.
            let (st, o) = (stop.clone(), ops.clone());
            let (to_pong, pong_rx) = bamboo::sync::channel::<u64>(0);
            let (to_ping, ping_rx) = bamboo::sync::channel::<u64>(0);
            handles.push(h.spawn(move || {
                while let Ok(v) = pong_rx.recv() {
                    let v = grow(|| v + 1);
                    if to_ping.send(v).is_err() {
                        break;
                    }
                }
            }));
            handles.push(h.spawn(move || {
                let mut v = 0;
                while !st.load(Relaxed) {
                    to_pong.send(v).expect("pong alive");
                    v = ping_rx.recv().expect("pong replies");
                    o.fetch_add(1, Relaxed);
                }
                drop(to_pong);
            }));
            // Socket ping-pong (io-wait moves) and blocking calls.
            let (st, o) = (stop.clone(), ops.clone());
            let l = bamboo::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = l.local_addr().expect("local_addr");
            handles.push(h.spawn(move || {
                use std::io::{Read, Write};
                let (mut s, _) = l.accept().expect("accept");
                let mut b = [0u8; 8];
                while s.read_exact(&mut b).is_ok() {
                    let v = grow(|| u64::from_le_bytes(b) + 1);
                    if s.write_all(&v.to_le_bytes()).is_err() {
                        break;
                    }
                }
            }));
            handles.push(h.spawn(move || {
                use std::io::{Read, Write};
                let mut c = bamboo::net::TcpStream::connect(addr).expect("connect");
                let mut v = 0u64;
                while !st.load(Relaxed) {
                    c.write_all(&v.to_le_bytes()).expect("echo alive");
                    let mut b = [0u8; 8];
                    c.read_exact(&mut b).expect("echo replies");
                    v = u64::from_le_bytes(b);
                    if v % 64 == 0 {
                        v = bamboo::blocking(move || v + 1);
                    }
                    o.fetch_add(1, Relaxed);
                }
            }));
        }
        Churn { stop, ops, handles }
    }

    /// Stop the load and wait for it; returns the operations done.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Relaxed);
        for h in self.handles {
            h.join().expect("churn coroutine");
        }
        self.ops.load(Relaxed)
    }
}

/// Number of iterations: `var` from the environment, else `default`.
/// Two workers in the stress mode (every check point moves the stack), with
/// the churn of [`Churn`] running on them.
pub fn stress_runtime_with_churn() -> (bamboo::Runtime, Handle, Churn) {
    let rt = bamboo::Runtime::builder()
        .workers(2)
        .segment_size(CHURN_SEGMENT)
        .force_stack_move(true)
        .build()
        .unwrap();
    let h = rt.handle();
    let churn = Churn::start(&h);
    (rt, h, churn)
}

pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
