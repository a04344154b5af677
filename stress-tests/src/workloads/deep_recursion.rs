//! `deep-recursion`: coroutines recursing thousands of frames through
//! `bamboo::grow`.
//!
//! Each round runs 4 coroutines side by side; each recurses 1,000..4,000
//! frames deep with [`grow_sum`] (every frame a `grow`
//! check point with a canary array on its stack) and yields at a few depths
//! on the way down, so its deep stack is parked while the monitor stops the
//! world. The sum must equal `n(n+1)/2` and every canary must be intact.
//!
//! What it proves: segment switching at check points preserves every frame
//! (canaries), unwinds back through every segment in order (the sum), keeps
//! the stack limit per coroutine, and leaves no segment behind (the
//! monitor's in-use bytes fall back when the coroutines end).

use std::sync::Arc;

use super::{grow_sum, mix, triangle, Single};
use crate::stats::Shared;

/// Coroutines per round.
const PARALLEL: u64 = 4;
/// Frames: `MIN_DEPTH..MIN_DEPTH + DEPTH_SPAN`.
const MIN_DEPTH: u64 = 1_000;
const DEPTH_SPAN: u64 = 3_000;
/// Yield every this many frames on the way down.
const YIELD_EVERY: u64 = 500;

/// One batch of deep recursions.
pub fn round(shared: &Arc<Shared>, round: u64) {
    let handles: Vec<_> = (0..PARALLEL)
        .map(|j| {
            let depth = MIN_DEPTH + mix(round * PARALLEL + j) % DEPTH_SPAN;
            let salt = mix(round ^ (j << 32));
            (
                depth,
                bamboo::spawn(move || grow_sum(depth, salt, YIELD_EVERY)),
            )
        })
        .collect();
    for (depth, h) in handles {
        if let Some(got) = shared.join(h, Single::DeepRecursion.name()) {
            let want = triangle(depth);
            shared.check(got == Some(want), || match got {
                Some(g) => format!("deep-recursion depth {depth}: sum {g}, expected {want}"),
                None => format!("deep-recursion depth {depth}: a frame's canary changed"),
            });
        }
    }
}
