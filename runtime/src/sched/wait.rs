//! What a coroutine is doing, for the dump (`dump.rs`) and the deadlock
//! watchdog (`watchdog.rs`): one byte per task, written by the coroutine
//! itself with a plain (relaxed) store on its way to suspend and on its way
//! back, read racily by anyone.
//!
//! ```text
//!   NEW --body starts--> RUNNING --park (reason [+TIMED])--> reason --resumed--> RUNNING
//!                           |  ^
//!                   yield   v  | resumed
//!                         YIELDED
//! ```
//!
//! The byte says why the coroutine last suspended; whether it is still
//! suspended is the park state's business (`state.rs`): a reader combines
//! the two (`PARKED` + reason = waiting on that reason; `NOTIFIED` =
//! runnable). No allocation, no lock and no read-modify-write on the park
//! path: the reason is a constant each call site passes down.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// What a parked coroutine waits for (the call site's primitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Wait {
    ChanSend = 3,
    ChanRecv,
    Select,
    Mutex,
    RwLockRead,
    RwLockWrite,
    Condvar,
    Semaphore,
    /// `WaitGroup::wait`.
    Group,
    Sleep,
    Io,
    Join,
    Blocking,
    StopTheWorld,
}

const RUNNING: u8 = 0;
const YIELDED: u8 = 1;
const NEW: u8 = 2;
/// Or-ed into a reason when the park has a deadline (a timer will end it).
const TIMED: u8 = 0x80;

const ALL: [Wait; 14] = [
    Wait::ChanSend,
    Wait::ChanRecv,
    Wait::Select,
    Wait::Mutex,
    Wait::RwLockRead,
    Wait::RwLockWrite,
    Wait::Condvar,
    Wait::Semaphore,
    Wait::Group,
    Wait::Sleep,
    Wait::Io,
    Wait::Join,
    Wait::Blocking,
    Wait::StopTheWorld,
];

impl Wait {
    /// How the dump names it (Go's wait reasons, in bamboo's words).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Wait::ChanSend => "channel send",
            Wait::ChanRecv => "channel receive",
            Wait::Select => "select",
            Wait::Mutex => "mutex lock",
            Wait::RwLockRead => "rwlock read",
            Wait::RwLockWrite => "rwlock write",
            Wait::Condvar => "condvar wait",
            Wait::Semaphore => "semaphore acquire",
            Wait::Group => "waitgroup wait",
            Wait::Sleep => "sleep",
            Wait::Io => "I/O wait",
            Wait::Join => "join",
            Wait::Blocking => "blocking call",
            Wait::StopTheWorld => "stop-the-world lock",
        }
    }

    /// Only another coroutine (or a plain thread) can end this wait: no
    /// timer, poller or blocking-pool thread will.
    pub(crate) fn needs_a_peer(self) -> bool {
        !matches!(self, Wait::Sleep | Wait::Io | Wait::Blocking)
    }

    fn from_u8(b: u8) -> Option<Wait> {
        ALL.iter().copied().find(|w| *w as u8 == b)
    }
}

/// What the byte says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doing {
    /// Spawned, its body has not started.
    New,
    /// Running, or resumed from its last suspension.
    Running,
    /// Its last suspension was a yield.
    Yielded,
    /// Its last suspension was a park for this reason; `timed`: with a
    /// deadline.
    Parked { why: Wait, timed: bool },
}

/// The byte of one task (see the module docs).
pub(crate) struct WaitWord(AtomicU8);

impl WaitWord {
    pub(crate) fn new() -> WaitWord {
        WaitWord(AtomicU8::new(NEW))
    }

    /// As [`WaitWord::new`], for a reused task struct.
    pub(crate) fn reset(&self) {
        self.0.store(NEW, Relaxed);
    }

    /// The coroutine is about to park for `why`.
    #[inline(always)]
    pub(crate) fn parking(&self, why: Wait, timed: bool) {
        self.0
            .store(why as u8 | if timed { TIMED } else { 0 }, Relaxed);
    }

    /// The coroutine is about to yield.
    #[inline(always)]
    pub(crate) fn yielding(&self) {
        self.0.store(YIELDED, Relaxed);
    }

    /// The coroutine runs (its body started, or it came back).
    #[inline(always)]
    pub(crate) fn running(&self) {
        self.0.store(RUNNING, Relaxed);
    }

    pub(crate) fn get(&self) -> Doing {
        let b = self.0.load(Relaxed);
        match b {
            RUNNING => Doing::Running,
            YIELDED => Doing::Yielded,
            NEW => Doing::New,
            _ => match Wait::from_u8(b & !TIMED) {
                Some(why) => Doing::Parked {
                    why,
                    timed: b & TIMED != 0,
                },
                None => fatal!("wait byte {b:#x} names no wait reason"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back() {
        let w = WaitWord::new();
        assert_eq!(w.get(), Doing::New);
        for why in ALL {
            for timed in [false, true] {
                w.parking(why, timed);
                assert_eq!(w.get(), Doing::Parked { why, timed });
            }
        }
        w.yielding();
        assert_eq!(w.get(), Doing::Yielded);
        w.running();
        assert_eq!(w.get(), Doing::Running);
        assert!(!Wait::Sleep.needs_a_peer() && Wait::ChanRecv.needs_a_peer());
    }
}
