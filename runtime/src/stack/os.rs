//! The OS side of stack memory: mapping chunks, installing guard regions,
//! giving pages back, poisoning free segments; and the runtime's one
//! coarse clock read ([`monotonic_coarse_ns`], its resolution), so that
//! the `libc` calls stay in this module.
//!
//! Guard regions use `madvise(MADV_GUARD_INSTALL)` (Linux 6.13+), which
//! installs page-table markers without splitting the mapping, so a million
//! guarded segments fit in one VMA. On older kernels (`EINVAL`) the first
//! failure switches the whole process to `mprotect(PROT_NONE)`, which splits
//! the mapping (one VMA per guard); `guard_mode` (a test hook) tells which
//! is in use.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use memmap2::{MmapMut, MmapOptions};

use crate::error::Error;

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: the time of the kernel's last
/// clock tick (1-10 ms resolution), read from the vDSO without touching
/// the clock source, so it costs a few ns where `Instant::now` costs tens
/// in a VM. Through glibc, not rustix's own vDSO parser (which faults
/// under valgrind's synthetic auxiliary vector).
pub(crate) fn monotonic_coarse_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a
    // constant the kernel knows (Linux 2.6.32+), so the call only writes
    // `t` or returns an error, which leaves it zero.
    let _ = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The resolution of [`monotonic_coarse_ns`] (`clock_getres`): how far
/// behind the exact monotonic clock it may be. 10 ms if the kernel does
/// not say.
pub(crate) fn monotonic_coarse_res_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec and the clock id a constant
    // the kernel knows; the call only writes `t` or returns an error.
    let r = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut t) };
    let ns = t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
    if r != 0 || ns == 0 {
        10_000_000
    } else {
        ns
    }
}

/// `MADV_GUARD_INSTALL` (Linux 6.13); the libc crate has no constant yet.
const MADV_GUARD_INSTALL: libc::c_int = 102;
/// `MADV_GUARD_REMOVE` (Linux 6.13).
const MADV_GUARD_REMOVE: libc::c_int = 103;

const MODE_UNKNOWN: u8 = 0;
const MODE_MADVISE: u8 = 1;
const MODE_MPROTECT: u8 = 2;
static GUARD_MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// How guard regions are installed in this process.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardMode {
    /// Not decided yet (no chunk mapped).
    Unknown,
    /// `madvise(MADV_GUARD_INSTALL)`: no VMA split.
    Madvise,
    /// `mprotect(PROT_NONE)` fallback: one VMA per guard.
    Mprotect,
}

/// The guard mechanism in use.
#[cfg(feature = "test-hooks")]
pub fn guard_mode() -> GuardMode {
    match GUARD_MODE.load(Relaxed) {
        MODE_MADVISE => GuardMode::Madvise,
        MODE_MPROTECT => GuardMode::Mprotect,
        _ => GuardMode::Unknown,
    }
}

/// Force the `mprotect` fallback, the path of kernels before 6.13 (tests of
/// that path). Call it before the first runtime of the process is built:
/// guards already installed with `madvise` would be removed the wrong way.
#[cfg(feature = "test-hooks")]
pub fn force_mprotect_guards() {
    GUARD_MODE.store(MODE_MPROTECT, Relaxed);
}

/// Map `len` bytes of anonymous read-write memory for stacks.
///
/// `MAP_NORESERVE` (memmap2's `no_reserve_swap`): stacks are address space
/// first, and only the pages a coroutine touches cost memory, so the
/// kernel's overcommit accounting must not charge (and refuse) the whole
/// mapping up front. A page that cannot be backed when first touched is
/// the same out-of-memory condition as for any other page of the process.
pub(crate) fn map_chunk(len: usize) -> Result<MmapMut, Error> {
    MmapOptions::new()
        .len(len)
        .stack()
        .no_reserve_swap()
        .map_anon()
        .map_err(|e| Error::Os {
            op: "mapping a stack chunk",
            message: format!("{len} bytes: {e}"),
        })
}

fn os_err(op: &'static str, addr: usize, len: usize) -> Error {
    Error::Os {
        op,
        message: format!("{:#x}+{len}: {}", addr, std::io::Error::last_os_error()),
    }
}

/// Make `addr..addr+len` fault on any access.
///
/// # Safety
/// The range must lie inside a live mapping owned by the caller and hold no
/// live data.
pub(crate) unsafe fn protect(addr: usize, len: usize) -> Result<(), Error> {
    if GUARD_MODE.load(Relaxed) != MODE_MPROTECT {
        // SAFETY: the caller owns the range and nothing lives in it.
        let r = unsafe { libc::madvise(addr as *mut _, len, MADV_GUARD_INSTALL) };
        if r == 0 {
            GUARD_MODE.store(MODE_MADVISE, Relaxed);
            return Ok(());
        }
        let errno = std::io::Error::last_os_error().raw_os_error();
        if errno != Some(libc::EINVAL) || GUARD_MODE.load(Relaxed) == MODE_MADVISE {
            return Err(os_err("madvise(MADV_GUARD_INSTALL)", addr, len));
        }
        GUARD_MODE.store(MODE_MPROTECT, Relaxed);
    }
    // SAFETY: as above.
    let r = unsafe { libc::mprotect(addr as *mut _, len, libc::PROT_NONE) };
    if r != 0 {
        return Err(os_err("mprotect(PROT_NONE)", addr, len));
    }
    Ok(())
}

/// Undo [`protect`] on a range that is not a permanent guard.
///
/// # Safety
/// The range must lie inside a live mapping owned by the caller.
pub(crate) unsafe fn unprotect(addr: usize, len: usize) -> Result<(), Error> {
    let r = if GUARD_MODE.load(Relaxed) == MODE_MPROTECT {
        // SAFETY: the caller owns the range.
        unsafe { libc::mprotect(addr as *mut _, len, libc::PROT_READ | libc::PROT_WRITE) }
    } else {
        // SAFETY: the caller owns the range.
        unsafe { libc::madvise(addr as *mut _, len, MADV_GUARD_REMOVE) }
    };
    if r != 0 {
        return Err(os_err("unprotecting a poisoned segment", addr, len));
    }
    Ok(())
}

/// Give the pages of `addr..addr+len` back to the OS; they read back as zero.
///
/// # Safety
/// The range must lie inside a live mapping owned by the caller and hold no
/// live data.
pub(crate) unsafe fn release(addr: usize, len: usize) -> Result<(), Error> {
    // SAFETY: the caller owns the range and nothing lives in it.
    let r = unsafe { libc::madvise(addr as *mut _, len, libc::MADV_DONTNEED) };
    if r != 0 {
        return Err(os_err("madvise(MADV_DONTNEED)", addr, len));
    }
    Ok(())
}

/// Bounds `(low, high)` of the calling thread's own stack (the one the OS
/// or pthread gave it), or `None` when pthread cannot tell. Used to
/// register worker threads' stacks with valgrind (see `stack::valgrind`).
pub(crate) fn thread_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before any other
    // use and destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (r == 0 && !addr.is_null()).then(|| (addr as usize, addr as usize + size))
    }
}

/// The byte written over freed segments in `stackpoison` mode.
pub const POISON_BYTE: u8 = 0xdb;

/// Make a free segment fault while free; under the `mprotect` fallback also
/// fill it with [`POISON_BYTE`] first (the pages stay, so a core dump shows
/// the pattern). With `MADV_GUARD_INSTALL` the kernel discards the pages, so
/// a fill could never be read back: the fault is what catches a stale
/// reference, and the fill is skipped (it would fault in every page for
/// nothing).
///
/// # Safety
/// The range must be the stack bytes of a free segment owned by the caller.
pub(crate) unsafe fn poison(addr: usize, len: usize) -> Result<(), Error> {
    if GUARD_MODE.load(Relaxed) == MODE_MPROTECT {
        // SAFETY: the caller owns the free range; writing it cannot alias live data.
        unsafe { std::ptr::write_bytes(addr as *mut u8, POISON_BYTE, len) };
    }
    // SAFETY: as above.
    unsafe { protect(addr, len) }
}

/// Bytes of a page (the unit of [`release`] and [`resident`]).
pub const PAGE: usize = 4096;

/// Pages of `addr..addr+len` (page-aligned) resident in memory, by
/// `mincore` in windows of 16 MiB (a 4 KiB vector on the caller's stack:
/// no allocation). Returns the resident bytes and the lowest resident
/// address. Costs one byte of kernel output per page of the range, resident
/// or not: about 1.3 ms per GiB of address space on the development VM.
pub(crate) fn resident(addr: usize, len: usize) -> Result<(usize, Option<usize>), Error> {
    const WINDOW_PAGES: usize = 4096;
    debug_assert!(addr.is_multiple_of(PAGE) && len.is_multiple_of(PAGE));
    let mut vec = [0u8; WINDOW_PAGES];
    let mut bytes = 0;
    let mut lowest = None;
    let mut a = addr;
    let end = addr + len;
    while a < end {
        let pages = ((end - a) / PAGE).min(WINDOW_PAGES);
        // SAFETY: mincore only reads the page tables of a..a+pages*PAGE
        // (which the caller maps) and writes `pages` bytes into `vec`,
        // which has room for WINDOW_PAGES.
        let r = unsafe { libc::mincore(a as *mut _, pages * PAGE, vec.as_mut_ptr()) };
        if r != 0 {
            return Err(os_err("mincore", a, pages * PAGE));
        }
        for (i, v) in vec[..pages].iter().enumerate() {
            if v & 1 != 0 {
                bytes += PAGE;
                lowest.get_or_insert(a + i * PAGE);
            }
        }
        a += pages * PAGE;
    }
    Ok((bytes, lowest))
}
