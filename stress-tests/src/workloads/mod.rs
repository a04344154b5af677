//! The workloads: what the stress run makes the runtime do, and how each
//! one checks its own results.
//!
//! Each single workload is a module with a `round` function that does one
//! bounded unit of work (a wave, a batch of deep recursions, a set of
//! ping-pong pairs, one fork/join tree), verifies every result through
//! [`Shared::check`] / [`Shared::join`], and returns. A *driver* coroutine
//! ([`drive`]) runs rounds until the run is stopped (always at least one),
//! so a stop never cuts a round short and every started round is checked.
//! `mixed` runs one driver per single workload at the same time.

pub mod deep_recursion;
pub mod net_echo;
pub mod ping_pong;
pub mod spawn_storm;
pub mod tree;

use std::sync::Arc;

use crate::stats::Shared;

/// A workload selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Waves of short coroutines, spawned and joined (JoinHandle and WaitGroup).
    SpawnStorm,
    /// Coroutines recursing thousands of frames through `bamboo::grow`.
    DeepRecursion,
    /// Pairs of coroutines bouncing a counter over channels.
    PingPong,
    /// Recursive fork/join trees: spawn children, recurse through `grow`, sum.
    Tree,
    /// An echo server and its clients over loopback TCP, every byte checked.
    NetEcho,
    /// All of the above at once.
    Mixed,
}

impl Workload {
    /// Every workload, in command-line order.
    pub const ALL: [Workload; 6] = [
        Workload::SpawnStorm,
        Workload::DeepRecursion,
        Workload::PingPong,
        Workload::Tree,
        Workload::NetEcho,
        Workload::Mixed,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::SpawnStorm => "spawn-storm",
            Workload::DeepRecursion => "deep-recursion",
            Workload::PingPong => "ping-pong",
            Workload::Tree => "tree",
            Workload::NetEcho => "net-echo",
            Workload::Mixed => "mixed",
        }
    }

    /// The single workloads this one runs (one driver each).
    pub fn parts(self) -> &'static [Single] {
        match self {
            Workload::SpawnStorm => &[Single::SpawnStorm],
            Workload::DeepRecursion => &[Single::DeepRecursion],
            Workload::PingPong => &[Single::PingPong],
            Workload::Tree => &[Single::Tree],
            Workload::NetEcho => &[Single::NetEcho],
            Workload::Mixed => &Single::ALL,
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One workload that a driver runs (every [`Workload`] but `mixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Single {
    /// See [`spawn_storm`].
    SpawnStorm,
    /// See [`deep_recursion`].
    DeepRecursion,
    /// See [`ping_pong`].
    PingPong,
    /// See [`tree`].
    Tree,
    /// See [`net_echo`].
    NetEcho,
}

impl Single {
    /// Every single workload.
    pub const ALL: [Single; 5] = [
        Single::SpawnStorm,
        Single::DeepRecursion,
        Single::PingPong,
        Single::Tree,
        Single::NetEcho,
    ];

    /// Position in [`Single::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Single::SpawnStorm => "spawn-storm",
            Single::DeepRecursion => "deep-recursion",
            Single::PingPong => "ping-pong",
            Single::Tree => "tree",
            Single::NetEcho => "net-echo",
        }
    }

    /// Run one round (`round` seeds its shape).
    pub fn round(self, shared: &Arc<Shared>, round: u64) {
        match self {
            Single::SpawnStorm => spawn_storm::round(shared, round),
            Single::DeepRecursion => deep_recursion::round(shared, round),
            Single::PingPong => ping_pong::round(shared, round),
            Single::Tree => tree::round(shared, round),
            Single::NetEcho => net_echo::round(shared, round),
        }
    }
}

/// A driver coroutine's body: rounds of `w` until the run is stopped (at
/// least one). Returns the number of rounds.
pub fn drive(w: Single, shared: Arc<Shared>) -> u64 {
    let mut round = 0;
    loop {
        w.round(&shared, round);
        shared.round_done(w);
        round += 1;
        if shared.stopped() {
            return round;
        }
    }
}

/// A deterministic pseudo-random number from `seed` (splitmix64), so a
/// round's shape depends only on its number.
pub fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `1 + 2 + ... + n`.
pub fn triangle(n: u64) -> u64 {
    n * (n + 1) / 2
}

/// Sum `1..=n` by recursing `n` frames, each through a `bamboo::grow`
/// check point; every frame keeps a canary array on its stack and checks it
/// after the call below it returns (a frame corrupted by a segment switch,
/// or left in a freed segment, changes it). Returns `None` when a canary
/// changed. With `yield_every > 0` it also yields at every depth that is a
/// multiple of it, so the coroutine parks with a deep stack.
pub fn grow_sum(n: u64, salt: u64, yield_every: u64) -> Option<u64> {
    let mut canary = [0u64; 8];
    for (i, c) in canary.iter_mut().enumerate() {
        *c = mix(salt ^ (n << 8) ^ i as u64);
    }
    std::hint::black_box(&mut canary);
    if n == 0 {
        return Some(0);
    }
    if yield_every != 0 && n % yield_every == 0 {
        bamboo::yield_now();
    }
    let below = bamboo::grow(|| grow_sum(n - 1, salt, yield_every));
    std::hint::black_box(&mut canary);
    let intact = canary
        .iter()
        .enumerate()
        .all(|(i, c)| *c == mix(salt ^ (n << 8) ^ i as u64));
    if intact {
        below.map(|b| b + n)
    } else {
        None
    }
}
