//! bamboo: Go-style green threads for Rust.
//!
//! Stackful coroutines ([`spawn`], [`Runtime`]) run on an M:N scheduler
//! (`sched/`); their stacks are chains of guard-protected segments (`stack/`)
//! that grow at explicit check points ([`grow`]); runtime internals and metric
//! reads run on a per-worker system stack ([`system_stack`]) that never grows.
//! See `docs/architecture.md` for the map of the crate.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod config;
mod coro;
mod error;
pub mod net;
mod sched;
mod signal;
pub mod stack;
pub mod sync;

pub use config::{parse_size, Builder, DebugFlags};
pub use coro::{grow, remaining_stack, system_stack};
pub use error::{Error, JoinError};
pub use sched::blocking::blocking;
pub use sched::counters::{CounterSnapshot, LATENCY_BUCKETS, LATENCY_COUNTS};
pub use sched::{sleep, spawn, yield_now, Handle, JoinHandle, MetricsGuard, Runtime, StopTheWorld};
