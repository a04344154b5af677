//! Error types: [`Error`] for configuration and OS failures, [`JoinError`]
//! for a coroutine that did not return a value.
//!
//! Every configuration error names the offending setting (environment
//! variable or builder method) and the value that was rejected, so a user can
//! fix it without reading the source.

use std::any::Any;
use std::fmt;

/// Error returned by [`crate::Runtime::new`] and [`crate::Builder::build`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A `BAMBOO_*` environment variable has a value that cannot be used.
    InvalidEnv {
        /// The variable, e.g. `BAMBOO_WORKERS`.
        var: &'static str,
        /// The rejected value, exactly as found in the environment.
        value: String,
        /// What was expected instead.
        reason: String,
    },
    /// A builder setting is out of range.
    InvalidConfig {
        /// The builder method, e.g. `Builder::segment_size`.
        setting: &'static str,
        /// The rejected value.
        value: String,
        /// What was expected instead.
        reason: String,
    },
    /// The operating system refused a resource (thread, mapping, signal stack).
    Os {
        /// What the runtime was doing.
        op: &'static str,
        /// The OS error text.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidEnv { var, value, reason } => {
                write!(f, "invalid {var}={value:?}: {reason}")
            }
            Error::InvalidConfig {
                setting,
                value,
                reason,
            } => write!(f, "invalid {setting}({value}): {reason}"),
            Error::Os { op, message } => write!(f, "{op} failed: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why [`crate::JoinHandle::join`] returned no value.
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let e = rt.spawn(|| -> u8 { panic!("boom") }).join().unwrap_err();
/// assert!(e.is_panic() && !e.is_cancelled());
/// assert_eq!(e.panic_message(), Some("boom"));
/// # Ok::<(), bamboo::Error>(())
/// ```
pub struct JoinError {
    pub(crate) repr: JoinErrorRepr,
}

pub(crate) enum JoinErrorRepr {
    /// The coroutine panicked; the payload is kept for `into_panic`.
    Panic(Box<dyn Any + Send + 'static>),
    /// The runtime shut down before the coroutine finished; it was unwound
    /// (or, if it never started, dropped).
    Cancelled,
}

impl JoinError {
    /// True when the coroutine panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Panic(_))
    }

    /// True when the runtime shut down before the coroutine finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, JoinErrorRepr::Cancelled)
    }

    /// The panic payload.
    ///
    /// # Panics
    /// Panics if the coroutine was cancelled rather than panicking (check
    /// [`JoinError::is_panic`] first), like tokio's `JoinError::into_panic`.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.repr {
            JoinErrorRepr::Panic(p) => p,
            JoinErrorRepr::Cancelled => panic!("JoinError::into_panic on a cancelled coroutine"),
        }
    }

    /// The panic message when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            JoinErrorRepr::Panic(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            JoinErrorRepr::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "JoinError::Panic({m:?})"),
                None => write!(f, "JoinError::Panic(..)"),
            },
            JoinErrorRepr::Cancelled => write!(f, "JoinError::Cancelled"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            JoinErrorRepr::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "coroutine panicked: {m}"),
                None => write!(f, "coroutine panicked"),
            },
            JoinErrorRepr::Cancelled => write!(f, "coroutine cancelled: its runtime shut down"),
        }
    }
}

impl std::error::Error for JoinError {}
