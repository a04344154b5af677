//! Go's `select`: [`select!`](crate::select!) for case lists written in the
//! source, [`Select`] for case lists built at run time.
//!
//! Semantics (both forms): the cases that can go now are found in a
//! uniformly random order and the first one takes effect; if none can, the
//! caller (coroutine or plain thread) waits in every case's queue at once
//! until exactly one of them takes effect, or until the default's deadline.
//! A `recv` on a closed channel is ready with `Err(RecvError)`, a `send` on
//! a channel without receivers with `Err(SendError(v))`. Rendezvous and
//! buffered channels behave alike. See `engine.rs` and docs/sync.md for the
//! protocol.

pub(crate) mod engine;
mod macros;

use std::any::Any;
use std::time::Duration;

use crate::sync::channel::state::{RecvCase, SendCase};
use crate::sync::channel::{Receiver, RecvError, SendError, Sender};
use engine::{run, CaseList, CaseOp, Mode};

/// A case of a [`Select`]: the engine's view plus typed access to its
/// outcome.
trait DynCase: CaseOp {
    fn pending(&self) -> bool;
    /// `&mut Option<Result<..>>` of its outcome.
    fn outcome(&mut self) -> &mut dyn Any;
    /// The value of a send case not sent (`None` for recv cases).
    fn unsent(&mut self) -> Option<Box<dyn Any>>;
}

impl<T: 'static> DynCase for RecvCase<'_, T> {
    fn pending(&self) -> bool {
        self.has_out()
    }
    fn outcome(&mut self) -> &mut dyn Any {
        self.out_mut()
    }
    fn unsent(&mut self) -> Option<Box<dyn Any>> {
        None
    }
}

impl<T: 'static> DynCase for SendCase<'_, T> {
    fn pending(&self) -> bool {
        self.has_out()
    }
    fn outcome(&mut self) -> &mut dyn Any {
        self.out_mut()
    }
    fn unsent(&mut self) -> Option<Box<dyn Any>> {
        self.unsent().map(|v| Box::new(v) as Box<dyn Any>)
    }
}

/// A select over a case list built at run time (Go's `reflect.Select`).
///
/// Add cases with [`recv`](Select::recv) and [`send`](Select::send) (each
/// returns the case's index), run it with [`select`](Select::select),
/// [`try_select`](Select::try_select) or
/// [`select_timeout`](Select::select_timeout), then collect the chosen
/// case's outcome with [`recv_result`](Select::recv_result) or
/// [`send_result`](Select::send_result). A send case holds its value until
/// it is sent; [`take_unsent`](Select::take_unsent) gives back the value of
/// one that was not chosen. A `Select` can run again: a send case that has
/// sent (or whose value was taken back) is never ready again, like a `nil`
/// channel in Go.
///
/// ```
/// use bamboo::sync::{channel, Select};
/// let (tx1, rx1) = channel::<u32>(1);
/// let (tx2, rx2) = channel::<u32>(1);
/// tx2.send(7).unwrap();
/// let mut sel = Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let i = sel.select();
/// assert_eq!(i, b);
/// assert_eq!(sel.recv_result::<u32>(i), Ok(7));
/// # let _ = (a, tx1);
/// ```
pub struct Select<'a> {
    cases: Vec<Box<dyn DynCase + 'a>>,
    order: Vec<usize>,
}

impl CaseList for Vec<Box<dyn DynCase + '_>> {
    fn count(&self) -> usize {
        self.len()
    }
    fn op(&mut self, i: usize) -> &mut dyn CaseOp {
        &mut *self[i]
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("cases", &self.cases.len())
            .finish()
    }
}

impl<'a> Select<'a> {
    /// An empty case list (selecting on it blocks for ever, as in Go).
    pub fn new() -> Select<'a> {
        Select {
            cases: Vec::new(),
            order: Vec::new(),
        }
    }

    fn push(&mut self, c: Box<dyn DynCase + 'a>) -> usize {
        self.cases.push(c);
        self.order.push(0);
        self.cases.len() - 1
    }

    /// Add a receive case; returns its index.
    pub fn recv<T: 'static>(&mut self, r: &'a Receiver<T>) -> usize {
        self.push(Box::new(RecvCase::on(&r.chan)))
    }

    /// Add a send case holding `v`; returns its index.
    pub fn send<T: 'static>(&mut self, s: &'a Sender<T>, v: T) -> usize {
        self.push(Box::new(SendCase::on(&s.chan, v)))
    }

    fn run(&mut self, mode: Mode) -> Option<usize> {
        if let Some(i) = self.cases.iter().position(|c| c.pending()) {
            panic!("Select: the outcome of case {i} was not collected before selecting again");
        }
        crate::coro::checkpoint(|| run(&mut self.cases, &mut self.order, mode))
    }

    /// Wait until one case takes effect; its index.
    pub fn select(&mut self) -> usize {
        match self.run(Mode::Block) {
            Some(i) => i,
            None => fatal!("a blocking select returned nothing"),
        }
    }

    /// The case that can take effect now, if any.
    pub fn try_select(&mut self) -> Option<usize> {
        self.run(Mode::Now)
    }

    /// Wait at most `d` for a case to take effect.
    pub fn select_timeout(&mut self, d: Duration) -> Option<usize> {
        self.run(Mode::Timeout(d))
    }

    /// The outcome of recv case `i`, which took effect.
    ///
    /// # Panics
    /// If case `i` is not a recv case of a `Receiver<T>`, or did not take
    /// effect.
    pub fn recv_result<T: 'static>(&mut self, i: usize) -> Result<T, RecvError> {
        let c = &mut **self
            .cases
            .get_mut(i)
            .unwrap_or_else(|| panic!("Select: no case {i}"));
        c.outcome()
            .downcast_mut::<Option<Result<T, RecvError>>>()
            .unwrap_or_else(|| panic!("Select: case {i} is not a recv of this type"))
            .take()
            .unwrap_or_else(|| panic!("Select: case {i} did not take effect"))
    }

    /// The outcome of send case `i`, which took effect.
    ///
    /// # Panics
    /// If case `i` is not a send case of a `Sender<T>`, or did not take
    /// effect.
    pub fn send_result<T: 'static>(&mut self, i: usize) -> Result<(), SendError<T>> {
        let c = &mut **self
            .cases
            .get_mut(i)
            .unwrap_or_else(|| panic!("Select: no case {i}"));
        c.outcome()
            .downcast_mut::<Option<Result<(), SendError<T>>>>()
            .unwrap_or_else(|| panic!("Select: case {i} is not a send of this type"))
            .take()
            .unwrap_or_else(|| panic!("Select: case {i} did not take effect"))
    }

    /// Take back the value of send case `i` if it was not sent (the case is
    /// then never ready again).
    ///
    /// # Panics
    /// If case `i` is not a send case of a `Sender<T>`.
    pub fn take_unsent<T: 'static>(&mut self, i: usize) -> Option<T> {
        let c = &mut **self
            .cases
            .get_mut(i)
            .unwrap_or_else(|| panic!("Select: no case {i}"));
        let v = c.unsent()?;
        match v.downcast::<T>() {
            Ok(v) => Some(*v),
            Err(_) => panic!("Select: case {i} is not a send of this type"),
        }
    }
}

/// What `select!` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::engine::Mode;
    pub use crate::sync::channel::state::{RecvCase, SendCase};
    use crate::sync::channel::{Receiver, Sender};

    use super::engine::{CaseList, CaseOp};

    /// One case, type-erased.
    pub struct Case<'a>(pub(crate) &'a mut dyn CaseOp);

    impl CaseList for [Case<'_>] {
        fn count(&self) -> usize {
            self.len()
        }
        fn op(&mut self, i: usize) -> &mut dyn CaseOp {
            &mut *self[i].0
        }
    }

    pub fn recv<T>(r: &Receiver<T>) -> RecvCase<'_, T> {
        RecvCase::on(&r.chan)
    }

    pub fn send<T>(s: &Sender<T>, v: T) -> SendCase<'_, T> {
        SendCase::on(&s.chan, v)
    }

    impl<T> RecvCase<'_, T> {
        pub fn case(&mut self) -> Case<'_> {
            Case(self)
        }
    }

    impl<T> SendCase<'_, T> {
        pub fn case(&mut self) -> Case<'_> {
            Case(self)
        }
    }

    pub fn timeout(d: std::time::Duration) -> Mode {
        Mode::Timeout(d)
    }

    /// Run the cases; the index of the one that took effect.
    pub fn select(cases: &mut [Case<'_>], mode: Mode) -> Option<usize> {
        crate::coro::checkpoint(|| {
            let n = cases.len();
            let mut small = [0usize; 16];
            if n <= small.len() {
                super::engine::run(cases, &mut small[..n], mode)
            } else {
                let mut order = vec![0; n];
                super::engine::run(cases, &mut order, mode)
            }
        })
    }
}
