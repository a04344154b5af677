//! The coroutine dump ([`crate::Handle::dump`]): every live coroutine of a
//! runtime with what it is doing, Go's goroutine dump without the stacks.
//!
//! It is a racy snapshot, taken without stopping the world: each task's
//! park state (`state.rs`) and wait byte (`wait.rs`) are read once, from the
//! registry of live tasks (`registry.rs`). A coroutine that changes state
//! while the dump runs is shown in one of its two states.
//!
//! ```text
//!   park state   wait byte            ->  state      waiting_on
//!   (unstarted)  NEW                      Runnable   -
//!   NOTIFIED     any                      Runnable   -
//!   IDLE         RUNNING                  Running    -
//!   IDLE         YIELDED / NEW            Runnable   -
//!   IDLE/PARKED  parked for a reason      Waiting    the reason ("channel receive", ...)
//!   DONE         any                      (not listed)
//! ```

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Duration;

use super::state::Phase;
use super::task::TaskShared;
use super::wait::Doing;
use super::worker::Shared;

/// What a coroutine is doing (see [`CoroutineInfo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoroutineState {
    /// Ready to run: spawned and not started yet, woken, or yielded.
    Runnable,
    /// Running on its worker now.
    Running,
    /// Parked until something wakes it ([`CoroutineInfo::waiting_on`] says
    /// what).
    Waiting,
}

impl CoroutineState {
    fn label(self) -> &'static str {
        match self {
            CoroutineState::Runnable => "runnable",
            CoroutineState::Running => "running",
            CoroutineState::Waiting => "waiting",
        }
    }
}

/// One coroutine in a [`crate::Handle::dump`].
///
/// Its `Display` is one line in the shape of Go's goroutine header:
///
/// ```text
/// coroutine 7 [channel receive]: "parser", spawned at src/main.rs:10:5, age 1.204s, stack 16384 bytes
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CoroutineInfo {
    /// Its id (as [`crate::JoinHandle::id`]).
    pub id: u64,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// Runnable, running or waiting.
    pub state: CoroutineState,
    /// What a waiting coroutine waits for: `"channel receive"`,
    /// `"channel send"`, `"select"`, `"mutex lock"`, `"rwlock read"`,
    /// `"rwlock write"`, `"condvar wait"`, `"semaphore acquire"`,
    /// `"waitgroup wait"`, `"sleep"`, `"I/O wait"`, `"join"`,
    /// `"blocking call"` or `"stop-the-world lock"`, followed by
    /// `" (with timeout)"` when a deadline will end the wait. `None` unless
    /// the state is [`CoroutineState::Waiting`].
    pub waiting_on: Option<String>,
    /// Where it was spawned (the caller of `spawn`, `block_on`...).
    pub spawned_at: &'static Location<'static>,
    /// Bytes of the stack segments it held when it last suspended (its
    /// first segment if it never did; 0 before it started).
    pub stack_bytes: usize,
    /// Time since it was spawned, to the kernel's clock tick (1-10 ms:
    /// a spawn reads the coarse monotonic clock, which costs a few ns).
    pub age: Duration,
}

impl fmt::Display for CoroutineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "coroutine {} [", self.id)?;
        match &self.waiting_on {
            Some(w) => f.write_str(w)?,
            None => f.write_str(self.state.label())?,
        }
        f.write_str("]: ")?;
        if let Some(n) = &self.name {
            write!(f, "{n:?}, ")?;
        }
        write!(
            f,
            "spawned at {}, age {:.3}s, stack {} bytes",
            self.spawned_at,
            self.age.as_secs_f64(),
            self.stack_bytes
        )
    }
}

/// The name `coroutine::Builder::name` gave the task, if any.
fn name_of(t: &TaskShared) -> Option<String> {
    t.name().map(str::to_owned)
}

/// What `t` is doing now; `None` once it is done.
pub(crate) fn info(t: &TaskShared, now_coarse_ns: u64) -> Option<CoroutineInfo> {
    let phase = t.park_state.phase();
    let doing = t.wait.get();
    let started = t.owner.load(Acquire) != super::task::NO_OWNER;
    let (state, waiting_on) = match (phase, doing) {
        (Phase::Done, _) => return None,
        (_, _) if !started => (CoroutineState::Runnable, None),
        (Phase::Notified, _) => (CoroutineState::Runnable, None),
        (Phase::Idle | Phase::Parked, Doing::Parked { why, timed }) => {
            let mut s = why.label().to_string();
            if timed {
                s.push_str(" (with timeout)");
            }
            (CoroutineState::Waiting, Some(s))
        }
        (Phase::Parked, _) => (CoroutineState::Waiting, None),
        (Phase::Idle, Doing::Running) => (CoroutineState::Running, None),
        (Phase::Idle, Doing::Yielded | Doing::New) => (CoroutineState::Runnable, None),
    };
    Some(CoroutineInfo {
        id: t.id(),
        name: name_of(t),
        state,
        waiting_on,
        spawned_at: t.spawned_at(),
        stack_bytes: t.stack_bytes.load(Relaxed),
        age: Duration::from_nanos(now_coarse_ns.saturating_sub(t.born_ns())),
    })
}

/// Every live coroutine of the runtime, by id.
pub(crate) fn collect(shared: &Shared) -> Vec<CoroutineInfo> {
    let live: Vec<Arc<TaskShared>> = shared.registry.live();
    let now = super::worker::coarse_ns();
    live.iter().filter_map(|t| info(t, now)).collect()
}

/// A dump as text: a header line, then one line per coroutine.
pub(crate) struct Text<'a> {
    pub header: &'a str,
    pub coroutines: &'a [CoroutineInfo],
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({} coroutine{})",
            self.header,
            self.coroutines.len(),
            if self.coroutines.len() == 1 { "" } else { "s" }
        )?;
        for c in self.coroutines {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

/// Write `text` to stderr in one call (lines of two reports do not mix).
pub(crate) fn to_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
