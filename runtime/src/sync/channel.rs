//! Multi-producer, multi-consumer channels (Go's `chan`).
//!
//! `channel(cap)` with `cap > 0` buffers up to `cap` values; `cap == 0` is a
//! rendezvous: `send` returns only once a receiver has taken the value
//! (pending values wait in the buffer, in order, each with its sender's
//! unparker, like Go's `sendq` of sudogs: the receiver wakes exactly that
//! sender, with no queue walk and no allocation).
//! `send` fails once every receiver is gone (giving the value back);
//! `recv` fails once every sender is gone and the buffer is empty. Nothing
//! waits forever on a closed channel.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::waitq::WaitQueue;
use crate::sched::park::{self, Unparker};

/// A value in the buffer.
struct Slot<T> {
    seq: u64,
    value: T,
    /// Rendezvous only: the sender waiting for this value to be taken.
    sender: Option<Unparker>,
}

struct State<T> {
    /// Values in send order.
    buf: VecDeque<Slot<T>>,
    senders: usize,
    receivers: usize,
    /// Values pushed / taken so far (taken values left in push order).
    pushed: u64,
    taken: u64,
}

struct Chan<T> {
    /// Capacity (0 = rendezvous); fixed at creation.
    cap: usize,
    st: Mutex<State<T>>,
    /// Senders waiting for room (cap > 0).
    send_q: WaitQueue,
    recv_q: WaitQueue,
}

/// The sending half; `Clone` for more producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half; `Clone` for more consumers.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// `send` on a channel with no receivers left; holds the value.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// `recv` on a channel with no senders left and nothing buffered.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why `try_recv` returned nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing buffered right now.
    Empty,
    /// Nothing buffered and every sender is gone.
    Disconnected,
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}
impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel with no receivers")
    }
}
impl<T> std::error::Error for SendError<T> {}
impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on an empty channel with no senders")
    }
}
impl std::error::Error for RecvError {}

/// A channel buffering `cap` values (`0` = rendezvous).
///
/// ```
/// let rt = bamboo::Runtime::new()?;
/// let total = rt.block_on(|| {
///     let (tx, rx) = bamboo::sync::channel::<u32>(0);
///     let producer = bamboo::spawn(move || (1..=4).for_each(|i| tx.send(i).unwrap()));
///     let total: u32 = rx.into_iter().sum(); // ends when the sender is gone
///     producer.join().unwrap();
///     total
/// });
/// assert_eq!(total, 10);
/// # Ok::<(), bamboo::Error>(())
/// ```
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        cap,
        st: Mutex::new(State {
            buf: VecDeque::with_capacity(cap.min(1024)),
            senders: 1,
            receivers: 1,
            pushed: 0,
            taken: 0,
        }),
        send_q: WaitQueue::new(),
        recv_q: WaitQueue::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

impl<T> Sender<T> {
    /// Send `v`, parking while the buffer is full (or, for a rendezvous
    /// channel, until a receiver takes it).
    pub fn send(&self, v: T) -> Result<(), SendError<T>> {
        crate::coro::checkpoint(|| {
            let c = &*self.chan;
            if c.cap == 0 {
                return self.send_rendezvous(v);
            }
            let mut v = Some(v);
            let pushed = c.send_q.wait_until(|| {
                let mut s = c.st.lock();
                if s.receivers == 0 {
                    return Some(false);
                }
                if s.buf.len() < c.cap {
                    let seq = s.pushed;
                    s.pushed += 1;
                    let value = v.take().expect("value sent once");
                    s.buf.push_back(Slot {
                        seq,
                        value,
                        sender: None,
                    });
                    Some(true)
                } else {
                    None
                }
            });
            if !pushed {
                return Err(SendError(v.take().expect("value kept on error")));
            }
            c.recv_q.notify_one();
            Ok(())
        })
    }

    fn send_rendezvous(&self, value: T) -> Result<(), SendError<T>> {
        let c = &*self.chan;
        let seq = {
            let mut s = c.st.lock();
            if s.receivers == 0 {
                return Err(SendError(value));
            }
            let seq = s.pushed;
            s.pushed += 1;
            s.buf.push_back(Slot {
                seq,
                value,
                sender: Some(park::current_unparker()),
            });
            seq
        };
        c.recv_q.notify_one();
        loop {
            {
                let mut s = c.st.lock();
                if s.taken > seq {
                    return Ok(());
                }
                if s.receivers == 0 {
                    let i = s
                        .buf
                        .iter()
                        .position(|slot| slot.seq == seq)
                        .expect("an untaken value is still buffered");
                    let slot = s.buf.remove(i).expect("position is in range");
                    return Err(SendError(slot.value));
                }
            }
            // The receiver that takes our value unparks us (a token, so an
            // unpark before this park is not lost).
            park::park();
        }
    }

    /// True when every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.st.lock().receivers == 0
    }
}

impl<T> Receiver<T> {
    /// Receive a value, parking while there is none.
    pub fn recv(&self) -> Result<T, RecvError> {
        crate::coro::checkpoint(|| {
            let c = &*self.chan;
            c.recv_q.wait_until(|| match self.take() {
                Ok(v) => Some(Ok(v)),
                Err(TryRecvError::Disconnected) => Some(Err(RecvError)),
                Err(TryRecvError::Empty) => None,
            })
        })
    }

    /// Receive a value if one is buffered.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.take()
    }

    fn take(&self) -> Result<T, TryRecvError> {
        let mut s = self.chan.st.lock();
        if let Some(slot) = s.buf.pop_front() {
            s.taken += 1;
            drop(s);
            match slot.sender {
                Some(w) => w.unpark(),
                None => self.chan.send_q.notify_one(),
            }
            Ok(slot.value)
        } else if s.senders == 0 {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Values buffered right now.
    pub fn len(&self) -> usize {
        self.chan.st.lock().buf.len()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Iterator for Receiver<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.st.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.st.lock().receivers += 1;
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut s = self.chan.st.lock();
            s.senders -= 1;
            s.senders == 0
        };
        if last {
            self.chan.recv_q.notify_all();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let parked: Vec<Unparker> = {
            let mut s = self.chan.st.lock();
            s.receivers -= 1;
            if s.receivers > 0 {
                return;
            }
            s.buf
                .iter()
                .filter_map(|slot| slot.sender.clone())
                .collect()
        };
        // Rendezvous senders take their values back; buffered senders see
        // the channel closed.
        for w in parked {
            w.unpark();
        }
        self.chan.send_q.notify_all();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}
