//! One way to fail on a broken runtime invariant (Go's `throw`).
//!
//! [`fatal!`](crate::fatal) prints one line, `bamboo: fatal: <what broke>
//! <the numbers>`, to stderr and aborts the process. It is for states that
//! mean the runtime's own bookkeeping is wrong (a queue naming an empty
//! slot, a segment freed off its worker, the OS refusing stack memory),
//! never for user errors: those are `Err` or a panic in the coroutine.
//!
//! Why abort and not panic: a panic inside the scheduler unwinds a worker
//! that then never counts as stopped, so the next stop-the-world would hang,
//! and an unwind across a segment switch in the middle of a half-updated
//! segment state would run destructors on inconsistent stacks. An abort
//! leaves a core dump with the state intact.
//!
//! The message must carry the numbers (addresses, counts, indices) needed
//! to tell what happened; it must not start with `bamboo:` itself (the
//! prefix is added here once). The macro does not allocate: the arguments
//! are formatted straight into stderr.

/// Print `bamboo: fatal: <message>` and abort. Takes `format!` arguments.
///
/// ```ignore
/// fatal!("worker {idx}: run queue names empty slot {slot}");
/// ```
macro_rules! fatal {
    ($($arg:tt)+) => {
        $crate::fatal::abort_with(format_args!($($arg)+))
    };
}

/// The body of [`fatal!`]: one line to stderr, then `abort`.
#[cold]
#[inline(never)]
pub(crate) fn abort_with(msg: std::fmt::Arguments<'_>) -> ! {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "bamboo: fatal: {msg}");
    let _ = err.flush();
    std::process::abort()
}
