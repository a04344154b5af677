//! The per-worker system stack: [`system_stack`] and the panic hook that
//! runs there.

use super::*;

/// Run `f` on this worker's system stack: one fixed stack that never grows,
/// where `grow` runs in place and yielding or parking is fatal. Runs `f`
/// directly when already there or when the caller is not a worker thread
/// (a plain thread's stack does not move either).
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let n = rt.block_on(|| bamboo::system_stack(|| (1..=10u32).sum::<u32>()));
/// assert_eq!(n, 55);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn system_stack<R>(f: impl FnOnce() -> R) -> R {
    if CUR.with(|c| c.on_system.get()) {
        return f();
    }
    let Some(ctx) = ctx() else {
        return f();
    };
    ctx.wc().system_stack_calls.add(1);
    let stack = ctx.sys_stack();
    struct Back(Option<NonZeroUsize>);
    impl Drop for Back {
        fn drop(&mut self) {
            let bottom = self.0;
            update_seg(|s| s.seg_bottom = bottom);
            CUR.with(|c| c.on_system.set(false));
        }
    }
    let mut bottom = None;
    update_seg(|s| bottom = s.seg_bottom.take());
    CUR.with(|c| c.on_system.set(true));
    let _back = Back(bottom);
    drop(ctx);
    stack.entering();
    corosensei::on_stack(stack, f)
}

/// [`system_stack`] behind a plain function pointer, for the layers below
/// that must run something on a stack that does not move (the stack pool
/// maps chunks there) without naming this module.
pub(crate) fn system_stack_dyn(f: &mut dyn FnMut()) {
    system_stack(f)
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
