//! The per-worker system stack: [`system_stack`] and the panic hook that
//! runs there.

use super::*;

/// Run `f` on this worker's system stack: one fixed stack that never grows,
/// where `grow` runs in place and yielding or parking is fatal. Runs `f`
/// directly when already there or when the caller is not a worker thread
/// (a plain thread's stack does not move either).
pub fn system_stack<R>(f: impl FnOnce() -> R) -> R {
    if CUR.with(|c| c.on_system.get()) {
        return f();
    }
    let Some(ctx) = ctx() else {
        return f();
    };
    ctx.wc().system_stack_calls.add(1);
    let stack = ctx.sys_stack();
    struct Back(usize);
    impl Drop for Back {
        fn drop(&mut self) {
            CUR.with(|c| {
                c.limit.set(self.0);
                c.on_system.set(false);
            });
        }
    }
    let _back = Back(CUR.with(|c| {
        c.on_system.set(true);
        c.limit.replace(0)
    }));
    drop(ctx);
    corosensei::on_stack(stack, f)
}

/// Route panic hooks that fire on a coroutine segment to the system stack:
/// the default hook with `RUST_BACKTRACE=1` needs more than a segment's red
/// zone.
pub(crate) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if in_coroutine() {
                system_stack(|| prev(info));
            } else {
                prev(info);
            }
        }));
    });
}
