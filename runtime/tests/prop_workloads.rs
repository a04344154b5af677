//! Property test: random trees of spawn / yield / grow-to-depth / channel
//! fan-in / panic, run on the runtime (normal and stress mode), must equal a
//! sequential evaluation; coroutine and segment counts return to zero.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bamboo::{grow, Handle, Runtime};
use proptest::prelude::*;

/// Value of a subtree that panicked, as seen by the spawn that joined it.
const PANICKED: u64 = 0xdead;

#[derive(Debug, Clone)]
enum Node {
    Leaf(u64),
    /// Spawn each child, join in order, fold.
    Spawn(Vec<Node>),
    /// Recurse `depth` frames through `grow`, then evaluate the child.
    Grow(u32, Box<Node>),
    /// `yield_now` (and a 0..2 ms sleep when the flag is set), then the child.
    Yield(bool, Box<Node>),
    /// Spawn each child to send its value on a channel of this capacity;
    /// receive until every sender is gone; sum and count.
    Chan(usize, Vec<Node>),
    Panic,
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![8 => (0u64..1000).prop_map(Node::Leaf), 1 => Just(Node::Panic)];
    leaf.prop_recursive(6, 160, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Node::Spawn),
            (0u32..3000, inner.clone()).prop_map(|(d, n)| Node::Grow(d, Box::new(n))),
            (any::<bool>(), inner.clone()).prop_map(|(s, n)| Node::Yield(s, Box::new(n))),
            (0usize..3, prop::collection::vec(inner, 1..4)).prop_map(|(c, v)| Node::Chan(c, v)),
        ]
    })
}

/// A root that always fans out, so cases are not dominated by tiny trees.
fn tree() -> impl Strategy<Value = Node> {
    prop_oneof![
        prop::collection::vec(node(), 3..7).prop_map(Node::Spawn),
        (0usize..3, prop::collection::vec(node(), 3..7)).prop_map(|(c, v)| Node::Chan(c, v)),
    ]
}

fn fold(acc: u64, v: u64) -> u64 {
    acc.wrapping_mul(31).wrapping_add(v)
}

/// The reference: sequential evaluation. `None` = this subtree panics.
fn model(n: &Node) -> Option<u64> {
    match n {
        Node::Leaf(v) => Some(*v),
        Node::Panic => None,
        Node::Spawn(cs) => Some(
            cs.iter()
                .fold(1, |a, c| fold(a, model(c).unwrap_or(PANICKED))),
        ),
        Node::Grow(d, c) => model(c).map(|v| v + u64::from(*d)),
        Node::Yield(_, c) => model(c),
        Node::Chan(_, cs) => {
            let (sum, cnt) = cs
                .iter()
                .filter_map(model)
                .fold((0u64, 0u64), |(s, k), v| (s.wrapping_add(v), k + 1));
            Some(fold(sum, cnt))
        }
    }
}

/// The same tree on the runtime. Panics propagate like the model's `None`.
fn run(n: &Node) -> u64 {
    match n {
        Node::Leaf(v) => *v,
        Node::Panic => panic!("planned panic"),
        Node::Spawn(cs) => {
            let hs: Vec<_> = cs
                .iter()
                .map(|c| {
                    let c = c.clone();
                    bamboo::spawn(move || run(&c))
                })
                .collect();
            hs.into_iter()
                .fold(1, |a, h| fold(a, h.join().unwrap_or(PANICKED)))
        }
        Node::Grow(d, c) => {
            fn down(d: u32, c: &Node) -> u64 {
                if d == 0 {
                    run(c)
                } else {
                    grow(|| down(d - 1, c)) + 1
                }
            }
            down(*d, c)
        }
        Node::Yield(sleep, c) => {
            bamboo::yield_now();
            if *sleep {
                bamboo::sleep(Duration::from_micros(500));
            }
            run(c)
        }
        Node::Chan(cap, cs) => {
            let (tx, rx) = bamboo::sync::channel::<u64>(*cap);
            for c in cs {
                let (c, tx) = (c.clone(), tx.clone());
                // Detached: a panicking child just drops its sender.
                drop(bamboo::spawn(move || tx.send(run(&c)).unwrap()));
            }
            drop(tx);
            let (mut sum, mut cnt) = (0u64, 0u64);
            while let Ok(v) = rx.recv() {
                sum = sum.wrapping_add(v);
                cnt += 1;
            }
            fold(sum, cnt)
        }
    }
}

fn runtime(stress: bool) -> &'static Runtime {
    static NORMAL: OnceLock<Runtime> = OnceLock::new();
    static STRESS: OnceLock<Runtime> = OnceLock::new();
    let cell = if stress { &STRESS } else { &NORMAL };
    cell.get_or_init(|| {
        // Planned panics would flood stderr; the runtime wraps this hook.
        std::panic::set_hook(Box::new(|_| {}));
        Runtime::builder()
            .workers(2)
            .segment_size(16 << 10)
            .force_stack_move(stress)
            .build()
            .unwrap()
    })
}

fn quiesce(h: &Handle) -> bamboo::counters::CounterSnapshot {
    let t = Instant::now();
    loop {
        let c = h.counters();
        if (c.coroutines == 0 && c.segments_inuse == 0) || t.elapsed() > Duration::from_secs(20) {
            return c;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128)
}

fn size(n: &Node) -> usize {
    match n {
        Node::Leaf(_) | Node::Panic => 1,
        Node::Spawn(cs) | Node::Chan(_, cs) => 1 + cs.iter().map(size).sum::<usize>(),
        Node::Grow(_, c) | Node::Yield(_, c) => 1 + size(c),
    }
}

fn check(tree: &Node, stress: bool) -> Result<(), TestCaseError> {
    if std::env::var_os("PROP_SIZES").is_some() {
        eprintln!("tree size {}", size(tree));
    }
    let rt = runtime(stress);
    let expected = model(tree).unwrap_or(PANICKED);
    let t = tree.clone();
    let got = rt.spawn(move || run(&t)).join().unwrap_or(PANICKED);
    prop_assert_eq!(got, expected, "stress={}", stress);
    let c = quiesce(&rt.handle());
    prop_assert_eq!(c.coroutines, 0, "coroutines left: {:?}", c);
    prop_assert_eq!(c.segments_inuse, 0, "segments left: {:?}", c);
    prop_assert_eq!(c.stack_inuse, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn workloads_equal_sequential_evaluation(tree in tree()) {
        check(&tree, false)?;
    }

    #[test]
    fn workloads_equal_sequential_evaluation_in_stress_mode(tree in tree()) {
        check(&tree, true)?;
    }
}
