//! `tree`: recursive fork/join.
//!
//! Each round builds one tree of fanout `f` and depth `d` (about 1,000
//! nodes; shapes 2^9, 3^6, 4^5, 5^4, 8^3). Every node is a coroutine: it
//! spawns its `f` children with `bamboo::spawn`, meanwhile computes its own
//! value `T(50 + 25·level)` (a triangle number) by recursing through `grow`
//! ([`grow_sum`]), joins the children and returns `(nodes, value)` of its
//! subtree. The root's result is compared with the closed forms
//! `nodes = (f^(d+1) − 1)/(f − 1)` and
//! `value = Σ_{l=0..d} f^(d−l) · T(50 + 25l)`.
//!
//! What it proves: spawn from inside coroutines (nested, many levels),
//! join of children that may run on other workers, and stack growth inside
//! many concurrently live coroutines, all without losing or duplicating a
//! node.

use std::sync::Arc;

use super::{grow_sum, mix, triangle, Single};
use crate::stats::Shared;

/// `(fanout, depth)` shapes, picked per round.
const SHAPES: [(u64, u32); 5] = [(2, 9), (3, 6), (4, 5), (5, 4), (8, 3)];

/// Own value of a node at `level` (leaves are level 0).
fn own_frames(level: u32) -> u64 {
    50 + 25 * u64::from(level)
}

/// `(nodes, value)` of the subtree under a node at `level`, or `None` when
/// a descendant panicked or a canary changed (already recorded).
fn node(shared: Arc<Shared>, fanout: u64, level: u32, salt: u64) -> Option<(u64, u64)> {
    let children: Vec<_> = if level == 0 {
        Vec::new()
    } else {
        (0..fanout)
            .map(|c| {
                let s = shared.clone();
                let salt = mix(salt ^ c);
                bamboo::spawn(move || node(s, fanout, level - 1, salt))
            })
            .collect()
    };
    let own = bamboo::grow(|| grow_sum(own_frames(level), salt, 0));
    if own.is_none() {
        shared.note(format!(
            "tree node at level {level}: a frame's canary changed"
        ));
    }
    let mut complete = own.is_some();
    let mut nodes = 1;
    let mut value = own.unwrap_or(0);
    for h in children {
        match shared.join(h, Single::Tree.name()).flatten() {
            Some((n, v)) => {
                nodes += n;
                value += v;
            }
            None => complete = false,
        }
    }
    complete.then_some((nodes, value))
}

/// The closed forms of `(nodes, value)` for a tree of `fanout` and `depth`.
pub fn expected(fanout: u64, depth: u32) -> (u64, u64) {
    let nodes = (fanout.pow(depth + 1) - 1) / (fanout - 1);
    let value = (0..=depth)
        .map(|l| fanout.pow(depth - l) * triangle(own_frames(l)))
        .sum();
    (nodes, value)
}

/// One tree.
pub fn round(shared: &Arc<Shared>, round: u64) {
    let (fanout, depth) = SHAPES[(mix(round) % SHAPES.len() as u64) as usize];
    let s = shared.clone();
    let root = bamboo::spawn(move || node(s, fanout, depth, mix(round)));
    let want = expected(fanout, depth);
    match shared.join(root, Single::Tree.name()) {
        Some(Some(got)) => {
            shared.check(got == want, || {
                format!("tree {fanout}^{depth}: (nodes, value) = {got:?}, expected {want:?}")
            });
        }
        Some(None) => {
            shared.check(false, || {
                format!("tree {fanout}^{depth}: a node failed (see the messages above)")
            });
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_matches_a_sequential_count() {
        fn seq(f: u64, level: u32) -> (u64, u64) {
            let mut r = (1, triangle(own_frames(level)));
            if level > 0 {
                for _ in 0..f {
                    let (n, v) = seq(f, level - 1);
                    r.0 += n;
                    r.1 += v;
                }
            }
            r
        }
        for (f, d) in SHAPES {
            assert_eq!(expected(f, d), seq(f, d), "{f}^{d}");
        }
    }
}
