//! `bamboo::coroutine`: spawning with options ([`Builder`], the shape of
//! `std::thread::Builder`) and the running coroutine's [`name`].
//!
//! A builder's settings travel with the task (`TaskShared::name`,
//! `TaskShared::min_first_segment`); the worker that starts the coroutine
//! sizes its first segment from them. The name is also what the stack
//! overflow report prints.

use super::{spawn_sized, Handle, JoinHandle};
use crate::config::{MAX_SEGMENT, MIN_SEGMENT};

/// Options for one coroutine: its name and the size of its first stack
/// segment. Like `std::thread::Builder`, but `spawn` returns the
/// [`JoinHandle`] itself (spawning a coroutine cannot fail).
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let h = rt.handle();
/// let j = bamboo::coroutine::Builder::new()
///     .name("parser")
///     .stack_size(1 << 20) // 1 MiB before the first check point
///     .spawn_on(&h, || bamboo::coroutine::name());
/// assert_eq!(j.join().unwrap().as_deref(), Some("parser"));
/// # Ok::<(), bamboo::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a Builder does nothing until it spawns"]
pub struct Builder {
    name: Option<String>,
    stack_size: usize,
}

impl Builder {
    /// A builder with the runtime's defaults: no name, the runtime's
    /// first-segment size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Name the coroutine: [`name`] returns it inside, and a stack overflow
    /// report prints it.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable bytes of this coroutine's first segment: the stack it has
    /// before its first check point (rounded up to a power of two). Smaller
    /// than the runtime's `segment_size` saves address space for many small
    /// coroutines; larger gives deep code room without check points
    /// (untouched pages cost no memory). The runtime's `max_stack` still
    /// limits what grows from it.
    ///
    /// # Panics
    /// When `bytes` is not in 4096..=67108864 (4 KiB to 64 MiB), with the
    /// value, here rather than later at `spawn`.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&bytes) {
            panic!(
                "coroutine::Builder::stack_size({bytes}): must be in \
                 {MIN_SEGMENT}..={MAX_SEGMENT} bytes (4 KiB to 64 MiB)"
            );
        }
        self.stack_size = bytes.next_power_of_two();
        self
    }

    /// Spawn on the current runtime, like [`crate::spawn`].
    ///
    /// # Panics
    /// When called outside a bamboo coroutine or worker thread (use
    /// [`Builder::spawn_on`]).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let h = Handle::current().expect(
            "coroutine::Builder::spawn called outside a bamboo runtime (use spawn_on with a Handle)",
        );
        self.spawn_on(&h, f)
    }

    /// Spawn on the runtime of `h` (from anywhere).
    #[track_caller]
    pub fn spawn_on<F, T>(self, h: &Handle, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let name = self.name.map(String::into_boxed_str);
        spawn_sized(&h.shared, name, self.stack_size, f)
    }
}

/// The running coroutine's name (set by [`Builder::name`]); `None` when it
/// has none or the caller is not a coroutine.
///
/// ```
/// assert_eq!(bamboo::coroutine::name(), None); // a plain thread
/// ```
pub fn name() -> Option<String> {
    super::task::current().and_then(|t| t.name().map(str::to_owned))
}
