//! SIGSEGV/SIGBUS handling: telling a coroutine stack overflow (a touch of a
//! segment's guard region) from every other fault.
//!
//! Contract (the guard-hit report of docs/stacks.md):
//! - [`install`] puts one process-wide handler on SIGSEGV and SIGBUS, once,
//!   with `SA_SIGINFO | SA_ONSTACK` (no `SA_NODEFER`), and remembers the
//!   actions it replaced. It is called by `Runtime::start`.
//! - [`AltStack::install`] gives the calling thread an alternate signal stack
//!   (64 KiB above a guard page) unless it already has one of at least
//!   [`MIN_ALT_STACK`] bytes. A fault in a guard region happens with the
//!   stack pointer at the very bottom of a segment, so the handler can only
//!   run on an alternate stack: every worker thread installs one before it
//!   runs a coroutine and keeps it until the thread ends. Dropping the value
//!   puts back the alternate stack the thread had before (std's small one on
//!   threads spawned by `std::thread`, or none) and unmaps ours, but only if
//!   ours is still the thread's alternate stack; otherwise the mapping is
//!   leaked rather than risk freeing a stack someone may still switch to.
//! - The handler reads `si_addr` and asks [`lookup_guard`] whether it lies in
//!   the guard region of a registered segment. If so, it writes the line
//!   `bamboo: coroutine <id> overflowed its stack: fault at 0x<addr> in the
//!   guard below segment 0x<lo>..0x<hi>`, then (for a segment) a line with
//!   the coroutine's name, its stack bytes and the fixes, then, when
//!   `RUST_BACKTRACE` was set at [`install`], the backtrace, and aborts
//!   (SIGABRT). docs/stacks.md, "Overflow reports", shows the report.
//!   Signals sent by a process (`si_code <= 0`: `kill`, `tgkill`,
//!   `sigqueue`) carry no fault address and are never taken for a guard hit.
//! - Any other fault is chained to the previous action: an `SA_SIGINFO`
//!   handler gets `(sig, info, ctx)`, a plain handler gets `sig`; for
//!   `SIG_DFL` and `SIG_IGN` the default action is restored and the handler
//!   returns, so the faulting instruction runs again and the process dies of
//!   the original signal (a process-sent signal is raised again instead, as
//!   nothing would re-execute). Rust's std installs its own SIGSEGV/SIGBUS
//!   handler (main-thread and `std::thread` guard pages) before `main`; it is
//!   the usual previous handler, and chaining to it keeps std's
//!   "has overflowed its stack" report for plain threads.
//! - Async-signal safety: up to the backtrace, the handler does atomic
//!   loads (the registry, the saved previous actions), thread-local `Cell`
//!   reads ([`crate::coro::current_id`], `coro::report_info`), arithmetic
//!   on a stack buffer, and the async-signal-safe calls `write`,
//!   `sigaction`, `alarm`, `raise` and `abort`; it never allocates, locks
//!   or panics. The backtrace (opt-in through `RUST_BACKTRACE`) is not
//!   async-signal-safe: it runs on the worker's system stack with a
//!   `SIGALRM` armed so a deadlock in it still ends the process.
//!
//! [`lookup_guard`]: crate::stack::registry::lookup_guard

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicUsize,
    Ordering::{Acquire, Release},
};
use std::sync::Once;

use libc::{c_int, c_void, siginfo_t};

use crate::stack::registry::{lookup_guard, GuardHit, GuardKind};

/// The signals the handler is installed for.
const SIGNALS: [c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Bytes of the alternate signal stack [`AltStack::install`] maps (plus one
/// guard page below it).
pub(crate) const ALT_STACK: usize = 64 << 10;

/// An existing alternate stack at least this large is kept as is. std's
/// (`SIGSTKSZ`, 8 KiB on x86-64) is smaller, so worker threads get ours.
pub(crate) const MIN_ALT_STACK: usize = 32 << 10;

/// Previous `sa_sigaction` per entry of [`SIGNALS`] (valid once `PREV_SET`).
static PREV_HANDLER: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
/// Previous `sa_flags` per entry of [`SIGNALS`] (valid once `PREV_SET`).
static PREV_FLAGS: [AtomicI32; 2] = [AtomicI32::new(0), AtomicI32::new(0)];
/// Set (Release) per entry once its previous action is stored.
static PREV_SET: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

/// Install the process-wide SIGSEGV/SIGBUS handler (idempotent).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bt = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        BACKTRACE.store(bt, Release);
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty
            // mask, no flags); it is only used as an out-parameter here.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: querying (act = null) only writes `old`, a valid local.
            if unsafe { libc::sigaction(sig, ptr::null(), &mut old) } != 0 {
                continue;
            }
            // Publish the previous action before ours can run: the handler
            // reads it only after an Acquire load of PREV_SET.
            PREV_HANDLER[i].store(old.sa_sigaction, Release);
            PREV_FLAGS[i].store(old.sa_flags, Release);
            PREV_SET[i].store(true, Release);

            // SAFETY: as above, all-zero is a valid `sigaction`.
            let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
            act.sa_sigaction = handler as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `act.sa_mask` is a valid, writable sigset_t.
            unsafe { libc::sigemptyset(&mut act.sa_mask) };
            // SAFETY: `act` is fully initialised; `handler` has the
            // SA_SIGINFO signature and is async-signal-safe (module docs).
            if unsafe { libc::sigaction(sig, &act, ptr::null_mut()) } != 0 {
                let e = std::io::Error::last_os_error();
                eprintln!(
                    "bamboo: warning: cannot install the signal {sig} handler ({e}); \
                     coroutine stack overflows will not be reported"
                );
            }
        }
    });
}

/// The SIGSEGV/SIGBUS handler (see the module docs).
extern "C" fn handler(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    if let Some((addr, hit)) = guard_hit(info) {
        report_and_abort(addr, hit);
    }
    chain(sig, info, ctx);
}

/// The fault address and guard region, when `info` describes a
/// kernel-generated fault inside a registered guard region.
fn guard_hit(info: *const siginfo_t) -> Option<(usize, GuardHit)> {
    if info.is_null() {
        return None;
    }
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler
    // for the duration of the call; `info` is non-null.
    let code = unsafe { (*info).si_code };
    if code <= 0 {
        // SI_USER, SI_QUEUE, SI_TKILL...: sent by a process, no fault address.
        return None;
    }
    // SAFETY: as above; for SIGSEGV/SIGBUS with si_code > 0 the kernel fills
    // the `_sigfault` member, so reading si_addr reads initialised memory.
    let addr = unsafe { (*info).si_addr() } as usize;
    lookup_guard(addr).map(|hit| (addr, hit))
}

/// Write the overflow report to stderr, then (with `RUST_BACKTRACE` set)
/// the overflowing coroutine's backtrace, and abort. Async-signal-safe up
/// to the backtrace (see the module docs for what the backtrace is not).
fn report_and_abort(addr: usize, hit: GuardHit) -> ! {
    let id = crate::coro::current_id();
    let mut line = Line::new();
    format_report(&mut line, id, addr, hit);
    write_stderr(line.as_bytes());
    if hit.kind == GuardKind::Segment {
        let mut line = Line::new();
        let (name, chain, max_stack) = crate::coro::report_info();
        format_advice(&mut line, id, name, chain, max_stack);
        write_stderr(line.as_bytes());
    }
    if BACKTRACE.load(Acquire) {
        backtrace(id);
    }
    // SAFETY: abort(3) is async-signal-safe and takes no arguments.
    unsafe { libc::abort() }
}

/// `RUST_BACKTRACE` was set (and not `0`) when the handler was installed.
static BACKTRACE: AtomicBool = AtomicBool::new(false);

/// Print the backtrace of the faulting thread (the overflowing coroutine's
/// frames, through the kernel's signal frame) on this worker's system
/// stack, which is free while a coroutine segment overflows and has room
/// for the symboliser. At most [`BACKTRACE_FRAMES`] frames, innermost
/// first, and only those are symbolised: an overflow of a 2 MiB segment is
/// thousands of frames deep, and resolving all of them takes longer than
/// the alarm allows. Not async-signal-safe: it allocates, reads debug info
/// and takes std's stderr lock. Two defences against the hang that could
/// cause (the fault interrupted malloc or a stderr write on this thread):
/// `SIGALRM` is reset to its default action and armed for a few seconds,
/// so the process dies anyway; the abort follows either way.
fn backtrace(id: u64) {
    reset_default(libc::SIGALRM);
    // SAFETY: alarm(2) is async-signal-safe.
    unsafe { libc::alarm(BACKTRACE_SECONDS) };
    crate::coro::on_report_stack(&mut || {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "bamboo: backtrace of coroutine {id} (innermost first, at most {BACKTRACE_FRAMES} \
             frames; the coroutine's frames follow the handler's and the signal frame):"
        );
        let mut shown = 0;
        let mut cut = false;
        backtrace::trace(|frame| {
            if shown == BACKTRACE_FRAMES {
                cut = true;
                return false;
            }
            let mut named = false;
            backtrace::resolve_frame(frame, |sym| {
                named = true;
                let _ = match sym.name() {
                    Some(n) => writeln!(err, "{shown:4}: {n:#}"),
                    None => writeln!(err, "{shown:4}: <unknown> at {:?}", frame.ip()),
                };
                if let (Some(file), Some(line)) = (sym.filename(), sym.lineno()) {
                    let _ = writeln!(err, "             at {}:{line}", file.display());
                }
            });
            if !named {
                let _ = writeln!(err, "{shown:4}: <unknown> at {:?}", frame.ip());
            }
            shown += 1;
            true
        });
        if cut {
            let _ = writeln!(err, "      ... (outer frames not shown)");
        }
        let _ = err.flush();
    });
}

/// Frames of an overflow's backtrace that are printed (the innermost: the
/// handler's, the signal frame, then the deep calls that overflowed).
const BACKTRACE_FRAMES: usize = 64;

/// How long the backtrace of an overflow may take before `SIGALRM` ends
/// the process.
const BACKTRACE_SECONDS: libc::c_uint = 10;

fn write_stderr(bytes: &[u8]) {
    let mut off = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        // SAFETY: `rest` is a live buffer of `rest.len()` bytes; write(2) is
        // async-signal-safe and only reads it.
        let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            off += n as usize;
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else {
            break;
        }
    }
}

/// Hand a fault that is not a guard hit to the action we replaced.
fn chain(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    let (prev, flags) = if PREV_SET[i].load(Acquire) {
        (PREV_HANDLER[i].load(Acquire), PREV_FLAGS[i].load(Acquire))
    } else {
        (libc::SIG_DFL, 0)
    };
    if prev == libc::SIG_DFL || prev == libc::SIG_IGN {
        reset_default(sig);
        // SAFETY: `info` is null or the kernel's valid siginfo_t (see guard_hit).
        let sent = info.is_null() || unsafe { (*info).si_code } <= 0;
        if sent {
            // Nothing will re-execute: deliver it again, now to SIG_DFL; it
            // stays pending (blocked in this handler) until we return.
            // SAFETY: raise(3) is async-signal-safe.
            unsafe { libc::raise(sig) };
        }
        return;
    }
    if flags & libc::SA_RESETHAND != 0 {
        // What the kernel would have done before calling it.
        reset_default(sig);
    }
    let saved = errno();
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: `prev` was installed with SA_SIGINFO, so it is a non-null
        // `extern "C" fn(c_int, *mut siginfo_t, *mut c_void)`; we pass on the
        // kernel's own arguments, as the kernel would have.
        let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute::<usize, _>(prev) };
        f(sig, info, ctx);
    } else {
        // SAFETY: `prev` is neither SIG_DFL nor SIG_IGN and was installed
        // without SA_SIGINFO, so it is a non-null `extern "C" fn(c_int)`.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute::<usize, _>(prev) };
        f(sig);
    }
    set_errno(saved);
}

/// Make `sig` take its default action again. Async-signal-safe.
fn reset_default(sig: c_int) {
    // SAFETY: all-zero is a valid `sigaction`: SIG_DFL, empty mask, no flags.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `dfl` is a valid action; sigaction(2) is async-signal-safe.
    unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the life of the thread.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = v };
}

/// Format the overflow report into `line`.
fn format_report(line: &mut Line, id: u64, addr: usize, hit: GuardHit) {
    if hit.kind == GuardKind::SystemStack {
        line.push_str("bamboo: the system stack overflowed");
        if id != 0 {
            line.push_str(" (entered from coroutine ");
            line.push_dec(id);
            line.push_str(")");
        }
        line.push_str(": fault at 0x");
        line.push_hex(addr as u64);
        line.push_str(" in the guard below system stack 0x");
        line.push_hex(hit.seg_lo as u64);
        line.push_str("..0x");
        line.push_hex(hit.seg_hi as u64);
        line.push_str("\n");
        return;
    }
    line.push_str("bamboo: coroutine ");
    line.push_dec(id);
    line.push_str(" overflowed its stack: fault at 0x");
    line.push_hex(addr as u64);
    line.push_str(" in the guard below segment 0x");
    line.push_hex(hit.seg_lo as u64);
    line.push_str("..0x");
    line.push_hex(hit.seg_hi as u64);
    line.push_str("\n");
}

/// The second line of a segment overflow report: the coroutine's name, the
/// stack it had, and what to do about it.
fn format_advice(line: &mut Line, id: u64, name: &[u8], chain: usize, max_stack: usize) {
    line.push_str("bamboo: coroutine ");
    line.push_dec(id);
    if !name.is_empty() {
        line.push_str(" \"");
        for &b in name.iter().take(64) {
            line.push(b);
        }
        line.push_str("\"");
    }
    line.push_str(" had ");
    line.push_dec(chain as u64);
    line.push_str(" bytes of stack (its segments; max_stack ");
    line.push_dec(max_stack as u64);
    line.push_str(
        ") and ran past it between check points. Fix: wrap the deep call in \
         bamboo::grow_with(bytes, || ...), spawn it with \
         bamboo::coroutine::Builder::new().stack_size(bytes), or give every coroutine \
         a larger first segment with BAMBOO_SEGMENT (e.g. BAMBOO_SEGMENT=8m)\n",
    );
}

/// A fixed stack buffer formatted by hand: no allocation, no `fmt`, no
/// panics (bytes past the end are dropped).
struct Line {
    buf: [u8; LINE],
    len: usize,
}

/// Bytes of a report line (longer lines are cut).
const LINE: usize = 512;

impl Line {
    const fn new() -> Line {
        Line {
            buf: [0; LINE],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.push(b);
        }
    }

    fn push_dec(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 || n == digits.len() {
                break;
            }
        }
        for &d in digits[..n].iter().rev() {
            self.push(d);
        }
    }

    fn push_hex(&mut self, v: u64) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in (0..16).rev() {
            let d = ((v >> (shift * 4)) & 0xf) as usize;
            if d != 0 || started || shift == 0 {
                started = true;
                self.push(HEX[d]);
            }
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }
}

/// This thread's alternate signal stack, mapped by [`AltStack::install`].
///
/// Not `Send`: the alternate stack is a per-thread setting, so the value must
/// be dropped on the thread that installed it.
pub(crate) struct AltStack {
    /// Start of the mapping (the guard page).
    map: *mut c_void,
    /// Bytes of the mapping (guard page + `ALT_STACK`).
    len: usize,
    /// The `ss_sp` we installed (just above the guard page).
    sp: *mut c_void,
    /// The thread's alternate stack before ours, put back on drop.
    prev: libc::stack_t,
    _not_send: PhantomData<*mut ()>,
}

impl AltStack {
    /// Give the calling thread an alternate signal stack of [`ALT_STACK`]
    /// bytes. `None` when it already has one of at least [`MIN_ALT_STACK`]
    /// bytes (kept), or when mapping one failed (a warning is printed:
    /// overflows on this thread would then die of a plain SIGSEGV).
    pub(crate) fn install() -> Option<AltStack> {
        // SAFETY: all-zero is a valid stack_t; used as an out-parameter.
        let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: querying (ss = null) only writes `cur`, a valid local.
        if unsafe { libc::sigaltstack(ptr::null(), &mut cur) } != 0 {
            warn_no_alt("sigaltstack query");
            return None;
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 && cur.ss_size >= MIN_ALT_STACK {
            return None;
        }
        let page = page_size();
        let len = ALT_STACK + page;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // affected.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            warn_no_alt("mmap");
            return None;
        }
        // SAFETY: the lowest page of the mapping we just made and own.
        if unsafe { libc::mprotect(map, page, libc::PROT_NONE) } != 0 {
            warn_no_alt("mprotect");
            // SAFETY: our own fresh mapping, unused.
            unsafe { libc::munmap(map, len) };
            return None;
        }
        // SAFETY: `page < len`, so the result is inside the mapping.
        let sp = unsafe { map.cast::<u8>().add(page) }.cast::<c_void>();
        let ss = libc::stack_t {
            ss_sp: sp,
            ss_flags: 0,
            ss_size: ALT_STACK,
        };
        // SAFETY: `sp..sp+ALT_STACK` is mapped read-write and stays mapped
        // until Drop takes it out of use again.
        if unsafe { libc::sigaltstack(&ss, ptr::null_mut()) } != 0 {
            warn_no_alt("sigaltstack");
            // SAFETY: our own mapping; it was not installed.
            unsafe { libc::munmap(map, len) };
            return None;
        }
        Some(AltStack {
            map,
            len,
            sp,
            prev: cur,
            _not_send: PhantomData,
        })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: all-zero is a valid stack_t; used as an out-parameter.
        let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: querying only writes `cur`, a valid local.
        if unsafe { libc::sigaltstack(ptr::null(), &mut cur) } != 0 {
            return; // cannot tell whether it is in use: leak it
        }
        let ours = cur.ss_sp == self.sp && cur.ss_flags & libc::SS_DISABLE == 0;
        if !ours || cur.ss_flags & libc::SS_ONSTACK != 0 {
            // Replaced by someone who may switch back to it later, or we are
            // running on it: leaking 68 KiB is the safe choice.
            return;
        }
        let restore = if self.prev.ss_flags & libc::SS_DISABLE == 0 {
            self.prev
        } else {
            libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            }
        };
        // SAFETY: `restore` is either SS_DISABLE or the alternate stack this
        // thread had before ours; its owner (std's thread start, which runs
        // before and is torn down after the thread body) keeps it mapped
        // until after this value, held by the thread body, is dropped.
        if unsafe { libc::sigaltstack(&restore, ptr::null_mut()) } != 0 {
            return;
        }
        // SAFETY: our own mapping, no longer the thread's alternate stack and
        // not in use (we are not on it).
        unsafe { libc::munmap(self.map, self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

fn warn_no_alt(op: &str) {
    let e = std::io::Error::last_os_error();
    eprintln!(
        "bamboo: warning: no alternate signal stack for this thread ({op}: {e}); \
         a coroutine stack overflow here will not be reported"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alt_now() -> libc::stack_t {
        // SAFETY: all-zero is a valid stack_t.
        let mut cur: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: querying only writes `cur`.
        assert_eq!(unsafe { libc::sigaltstack(ptr::null(), &mut cur) }, 0);
        cur
    }

    #[test]
    fn report_line_format() {
        let mut l = Line::new();
        let hit = GuardHit {
            kind: GuardKind::Segment,
            guard_lo: 0x7f00_0000_0000,
            seg_lo: 0x7f00_0000_4000,
            seg_hi: 0x7f00_0001_0000,
        };
        format_report(&mut l, 42, 0x7f00_0000_3ff8, hit);
        assert_eq!(
            std::str::from_utf8(l.as_bytes()).unwrap(),
            "bamboo: coroutine 42 overflowed its stack: fault at 0x7f0000003ff8 \
             in the guard below segment 0x7f0000004000..0x7f0000010000\n"
        );
        let mut l = Line::new();
        l.push_dec(0);
        l.push_str(" ");
        l.push_dec(u64::MAX);
        l.push_str(" ");
        l.push_hex(0);
        l.push_str(" ");
        l.push_hex(u64::MAX);
        assert_eq!(
            std::str::from_utf8(l.as_bytes()).unwrap(),
            "0 18446744073709551615 0 ffffffffffffffff"
        );
    }

    #[test]
    fn line_truncates_instead_of_panicking() {
        let mut l = Line::new();
        for _ in 0..LINE {
            l.push_str("0123456789");
        }
        assert_eq!(l.as_bytes().len(), LINE);
    }

    #[test]
    fn install_is_idempotent_and_chains() {
        install();
        install();
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: all-zero is a valid sigaction.
            let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: querying only writes `cur`.
            assert_eq!(unsafe { libc::sigaction(sig, ptr::null(), &mut cur) }, 0);
            assert_eq!(cur.sa_sigaction, handler as *const () as usize);
            assert_eq!(
                cur.sa_flags & (libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER),
                libc::SA_SIGINFO | libc::SA_ONSTACK
            );
            assert!(PREV_SET[i].load(Acquire));
            assert_ne!(
                PREV_HANDLER[i].load(Acquire),
                handler as *const () as usize,
                "the saved previous action must not be our own handler"
            );
        }
    }

    #[test]
    fn alt_stack_installs_and_restores() {
        std::thread::spawn(|| {
            let before = alt_now();
            let alt = AltStack::install();
            let keep = before.ss_flags & libc::SS_DISABLE == 0 && before.ss_size >= MIN_ALT_STACK;
            if keep {
                assert!(alt.is_none());
                return;
            }
            let a = alt.expect("a thread without a large alternate stack gets ours");
            let now = alt_now();
            assert_eq!(now.ss_sp, a.sp);
            assert_eq!(now.ss_size, ALT_STACK);
            assert_eq!(now.ss_flags & libc::SS_DISABLE, 0);
            // A second install on the same thread keeps ours.
            assert!(AltStack::install().is_none());
            drop(a);
            let after = alt_now();
            assert_eq!(
                after.ss_flags & libc::SS_DISABLE,
                before.ss_flags & libc::SS_DISABLE
            );
            if before.ss_flags & libc::SS_DISABLE == 0 {
                assert_eq!(after.ss_sp, before.ss_sp);
                assert_eq!(after.ss_size, before.ss_size);
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn alt_stack_replaced_by_someone_else_is_left_alone() {
        std::thread::spawn(|| {
            let Some(a) = AltStack::install() else {
                return;
            };
            let mut other = vec![0u8; ALT_STACK];
            let ss = libc::stack_t {
                ss_sp: other.as_mut_ptr().cast(),
                ss_flags: 0,
                ss_size: other.len(),
            };
            // SAFETY: `other` outlives its use: it is disabled below before
            // being freed.
            assert_eq!(unsafe { libc::sigaltstack(&ss, ptr::null_mut()) }, 0);
            drop(a); // must not touch the current (foreign) alternate stack
            assert_eq!(alt_now().ss_sp, ss.ss_sp);
            let off = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: disabling the alternate stack has no preconditions.
            assert_eq!(unsafe { libc::sigaltstack(&off, ptr::null_mut()) }, 0);
            drop(other);
        })
        .join()
        .unwrap();
    }
}
