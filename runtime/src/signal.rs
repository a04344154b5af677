//! SIGSEGV/SIGBUS handling for guard-region hits (stub: being written).

/// Install the process-wide handler (idempotent).
pub(crate) fn install() {}

/// A per-thread alternate signal stack.
pub(crate) struct AltStack;

impl AltStack {
    pub(crate) fn install() -> Option<AltStack> {
        None
    }
}
