//! bamboo: Go-style green threads for Rust.
//!
//! Stackful coroutines ([`spawn`], [`Runtime`]) run on an M:N scheduler
//! (`sched/`); their stacks are chains of guard-protected segments (`stack/`)
//! that grow at explicit check points ([`grow`]); runtime internals and metric
//! reads run on a per-worker system stack ([`system_stack`]) that never grows.
//! See `docs/architecture.md` for the map of the crate.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// Layers, bottom first (docs/architecture.md; `tests/layers.rs` checks
// that no module names one above its own): fatal, config, error, counters
// <- stack <- coro <- signal <- sched <- sync, net.
#[macro_use]
mod fatal;
mod config;
mod coro;
pub mod counters;
mod error;
mod lock;
mod loom;
pub mod net;
mod sched;
mod signal;
mod stack;
pub mod sync;
pub mod time;

pub use config::{parse_duration, parse_size, Builder, DebugFlags};
pub use coro::{grow, grow_with, remaining_stack, system_stack};
pub use error::{Error, JoinError};
pub use sched::blocking::blocking;
pub use sched::coroutine;
pub use sched::{
    sleep, spawn, yield_now, CoroutineInfo, CoroutineState, Handle, JoinHandle, Runtime,
    StopTheWorld,
};

/// Bytes of stack every check point leaves free in the current segment.
///
/// [`grow`] switches to another segment when fewer than `RED_ZONE` bytes
/// are left below the stack pointer, so code between two check points may
/// use up to this much stack. Part of the stable API: it only grows.
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// rt.block_on(|| {
///     bamboo::grow(|| assert!(bamboo::remaining_stack().unwrap() >= bamboo::RED_ZONE));
/// });
/// # Ok::<(), bamboo::Error>(())
/// ```
pub const RED_ZONE: usize = stack::RED_ZONE;

/// Internals that bamboo's own tests reach into (cargo feature
/// `test-hooks`, the way Go keeps `export_test.go`). Not part of the API:
/// anything here may change in any release.
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    pub use crate::config::ResolvedConfig;
    pub use crate::sched::shrink::set_stack_shrink_enabled;
    pub use crate::sched::{bodies, body_reuses, monitor_ticks, task_reuses, task_structs};
    pub use crate::stack::os::{force_mprotect_guards, guard_mode, GuardMode, POISON_BYTE};
    pub use crate::stack::registry::{lookup_guard, GuardHit, GuardKind};
    pub use crate::stack::{class_of, stack_bytes, GUARD};
}
