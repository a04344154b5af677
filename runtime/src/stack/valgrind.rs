//! What valgrind memcheck must be told about stack memory, and the client
//! request that tells it.
//!
//! Memcheck follows the stack pointer: a move of under 2 MB within one
//! stack is a push (the bytes become addressable) or a pop (they become
//! inaccessible); a move into another *registered* stack is a switch and
//! changes nothing. So:
//!
//! - every stack bamboo switches between is registered (`corosensei`'s
//!   `ValgrindStackRegistration`): each segment slot when its chunk is
//!   mapped (`pool.rs`), each worker's system stack and the worker thread's
//!   own stack (`coro::StackCtx::new`);
//! - a switch *into* memory that an earlier pop left inaccessible must mark
//!   the entry window addressable first ([`entering`]): valgrind's optimiser
//!   fuses the switch (`mov rsp, new`) and the first push of the trampoline
//!   (`call`) into one stack-pointer change, which it takes as the switch,
//!   so the pushed word would land on bytes still marked inaccessible. That
//!   happens when the stress mode continues a segment below the point where
//!   it was left (`coro/grow.rs`, the alternate), and on the system stack.
//!
//! ```text
//!   segment A (alternate)          entering(limit, base) marks
//!   +----------------+ top         [base - ENTRY_WINDOW, base) undefined:
//!   | live frames    |             addressable, not initialised
//!   |- - - - - - - - | base  <- on_stack continues here
//!   | ENTRY_WINDOW   |  popped earlier: inaccessible to memcheck
//!   |- - - - - - - - |
//!   | (deeper pushes are tracked one by one)
//!   +----------------+ limit
//! ```
//!
//! Outside valgrind a client request is a few instructions that change no
//! register but one (the result, which is its default); no system call, no
//! memory access beyond the request block on the caller's stack.

/// Bytes below a switch's entry point marked addressable by [`entering`]:
/// the trampoline's first pushes and the called function's prologue.
const ENTRY_WINDOW: usize = 4096;

/// `VALGRIND_MAKE_MEM_UNDEFINED` (memcheck's `VG_USERREQ__MAKE_MEM_UNDEFINED`).
const MAKE_MEM_UNDEFINED: u64 = ((b'M' as u64) << 24 | (b'C' as u64) << 16) + 1;

#[cfg(target_arch = "x86_64")]
fn client_request(args: &[u64; 6]) -> u64 {
    let result;
    // SAFETY: the special instruction sequence valgrind recognises; on
    // hardware the four rotations of rdi by a total of 128 bits and
    // `xchg rbx, rbx` leave every register as it was (the rotations do
    // change flags), so the result is the default (0) placed in rdx.
    // `args` is only read (by valgrind).
    unsafe {
        std::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0u64 => result,
            in("rax") args.as_ptr(),
            options(nostack, readonly),
        );
    }
    result
}

#[cfg(target_arch = "aarch64")]
fn client_request(args: &[u64; 6]) -> u64 {
    let result;
    // SAFETY: as on x86_64: rotations of x12 by a total of 128 bits and
    // `orr x10, x10, x10` are no-ops on hardware; valgrind reads `args`.
    unsafe {
        std::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #61",
            "ror x12, x12, #51",
            "orr x10, x10, x10",
            inout("x3") 0u64 => result,
            in("x4") args.as_ptr(),
            options(nostack, readonly, preserves_flags),
        );
    }
    result
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn client_request(_args: &[u64; 6]) -> u64 {
    0
}

/// About to switch onto the stack `limit..base` at `base`: tell memcheck
/// the window below `base` is addressable (nothing lives there: a switch
/// target is always below every live frame of its stack).
#[inline]
pub(crate) fn entering(limit: usize, base: usize) {
    let len = (base - limit).min(ENTRY_WINDOW);
    client_request(&[MAKE_MEM_UNDEFINED, (base - len) as u64, len as u64, 0, 0, 0]);
}

/// Tell memcheck that `lo..lo + len` of a segment is addressable (not
/// initialised): bytes an earlier pop on that segment left inaccessible,
/// which the runtime itself is about to write (a coroutine's state at the
/// top of its first segment, `coro/home.rs`).
#[inline]
pub(crate) fn addressable(lo: usize, len: usize) {
    client_request(&[MAKE_MEM_UNDEFINED, lo as u64, len as u64, 0, 0, 0]);
}
