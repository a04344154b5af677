//! Property test of channels and select against a reference model.
//!
//! Random programs of producers (blocking, `try_send`, `send_timeout`),
//! consumers (blocking, `recv_timeout`, `try_recv`; some quit early) and
//! selecting actors (`Select` over random recv and send cases, with a
//! timeout or none) over rendezvous and buffered channels, each actor a
//! coroutine or a plain thread; channels close when their last sender or
//! receiver goes. The model is the conservation law of a channel: every
//! value made is, exactly once, either received or given back to its
//! sender (error, timeout, or a select case not chosen); only a channel
//! whose receivers all left may drop values still buffered, at most its
//! capacity. Receivers see each sender's values in send order (FIFO). Every
//! case finishes under a deadline, and the runtime's coroutine and segment
//! counts return to 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bamboo::sync::{channel, Receiver, RecvTimeoutError, Select, Sender, TryRecvError};
use bamboo::Runtime;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum SendMode {
    Block,
    Try,
    Timeout(u8),
}

#[derive(Debug, Clone, Copy)]
enum RecvMode {
    Block,
    Try,
    Timeout(u8),
}

#[derive(Debug, Clone)]
enum Actor {
    Producer {
        chan: usize,
        n: u16,
        mode: SendMode,
    },
    Consumer {
        chan: usize,
        mode: RecvMode,
        quit_after: Option<u16>,
    },
    /// Each round: a `Select` over the cases (channel, is_send); `None` =
    /// `try_select`, `Some(ms)` = `select_timeout`.
    Selector {
        rounds: u16,
        cases: Vec<(usize, bool)>,
        wait: Option<u8>,
    },
}

#[derive(Debug, Clone)]
struct Prog {
    caps: Vec<usize>,
    /// (actor, runs on a plain thread)
    actors: Vec<(Actor, bool)>,
}

fn prog() -> impl Strategy<Value = Prog> {
    (1usize..=3)
        .prop_flat_map(|k| {
            let caps = prop::collection::vec(prop_oneof![Just(0usize), Just(1), Just(3)], k);
            let send_mode = prop_oneof![
                3 => Just(SendMode::Block),
                1 => Just(SendMode::Try),
                1 => (1u8..4).prop_map(SendMode::Timeout),
            ];
            let recv_mode = prop_oneof![
                3 => Just(RecvMode::Block),
                1 => Just(RecvMode::Try),
                1 => (1u8..4).prop_map(RecvMode::Timeout),
            ];
            let actor = prop_oneof![
                (0..k, 1u16..60, send_mode).prop_map(|(chan, n, mode)| Actor::Producer {
                    chan,
                    n,
                    mode
                }),
                (0..k, recv_mode, prop::option::weighted(0.25, 0u16..20)).prop_map(
                    |(chan, mode, quit_after)| Actor::Consumer {
                        chan,
                        mode,
                        quit_after
                    }
                ),
                (
                    1u16..30,
                    prop::collection::vec((0..k, any::<bool>()), 1..5),
                    prop::option::weighted(0.7, 1u8..4)
                )
                    .prop_map(|(rounds, cases, wait)| Actor::Selector {
                        rounds,
                        cases,
                        wait
                    }),
            ];
            (
                caps,
                prop::collection::vec((actor, prop::bool::weighted(0.2)), 2..9),
            )
        })
        .prop_map(|(caps, actors)| Prog { caps, actors })
}

const MADE: u8 = 0;
const RECEIVED: u8 = 1;
const RETURNED: u8 = 2;

/// The ledger every value reports to.
struct Book {
    state: Vec<AtomicU8>,
    chan_of: Vec<AtomicUsize>,
    made: AtomicUsize,
    /// Values dropped without being received or given back, per channel.
    lost: Vec<AtomicUsize>,
    errors: Mutex<Vec<String>>,
}

impl Book {
    fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }
}

/// A value: (sender, seq) for the FIFO check; reports its fate.
struct Tok {
    id: usize,
    sender: usize,
    seq: u32,
    book: Arc<Book>,
}

impl Tok {
    fn new(book: &Arc<Book>, chan: usize, sender: usize, seq: u32) -> Tok {
        let id = book.made.fetch_add(1, Relaxed);
        book.chan_of[id].store(chan, Relaxed);
        Tok {
            id,
            sender,
            seq,
            book: book.clone(),
        }
    }

    fn mark(&self, to: u8) {
        if let Err(s) = self.book.state[self.id].compare_exchange(MADE, to, AcqRel, Acquire) {
            self.book.error(format!(
                "value {} (sender {}, seq {}) marked {to} after {s}",
                self.id, self.sender, self.seq
            ));
        }
    }
}

impl Drop for Tok {
    fn drop(&mut self) {
        if self.book.state[self.id].load(Acquire) == MADE {
            let c = self.book.chan_of[self.id].load(Relaxed);
            self.book.lost[c].fetch_add(1, Relaxed);
        }
    }
}

/// What a receiving actor has seen, for the FIFO check.
#[derive(Default)]
struct Seen {
    last: HashMap<(usize, usize), u32>,
}

impl Seen {
    fn got(&mut self, chan: usize, t: Tok) {
        t.mark(RECEIVED);
        if let Some(&prev) = self.last.get(&(chan, t.sender)) {
            if t.seq <= prev {
                t.book.error(format!(
                    "channel {chan}: sender {} seq {} after {prev}",
                    t.sender, t.seq
                ));
            }
        }
        self.last.insert((chan, t.sender), t.seq);
    }
}

fn ms(m: u8) -> Duration {
    Duration::from_millis(u64::from(m))
}

fn run_actor(
    me: usize,
    a: Actor,
    txs: Vec<Option<Sender<Tok>>>,
    rxs: Vec<Option<Receiver<Tok>>>,
    book: Arc<Book>,
) {
    let mut seen = Seen::default();
    match a {
        Actor::Producer { chan, n, mode } => {
            let tx = txs[chan].as_ref().expect("a producer's sender");
            for seq in 0..u32::from(n) {
                let t = Tok::new(&book, chan, me, seq);
                let back = match mode {
                    SendMode::Block => tx.send(t).err().map(|e| e.0),
                    SendMode::Try => tx.try_send(t).err().map(|e| e.into_inner()),
                    SendMode::Timeout(m) => tx.send_timeout(t, ms(m)).err().map(|e| e.into_inner()),
                };
                if let Some(t) = back {
                    t.mark(RETURNED);
                }
                if matches!(mode, SendMode::Try) {
                    bamboo::yield_now();
                }
            }
        }
        Actor::Consumer {
            chan,
            mode,
            quit_after,
        } => {
            let rx = rxs[chan].as_ref().expect("a consumer's receiver");
            let mut got = 0u16;
            while quit_after.is_none_or(|q| got < q) {
                let r = match mode {
                    RecvMode::Block => rx.recv().map_err(|_| true),
                    RecvMode::Try => rx.try_recv().map_err(|e| {
                        bamboo::yield_now();
                        e == TryRecvError::Disconnected
                    }),
                    RecvMode::Timeout(m) => rx
                        .recv_timeout(ms(m))
                        .map_err(|e| e == RecvTimeoutError::Disconnected),
                };
                match r {
                    Ok(t) => {
                        seen.got(chan, t);
                        got += 1;
                    }
                    Err(true) => break,
                    Err(false) => {}
                }
            }
        }
        Actor::Selector {
            rounds,
            cases,
            wait,
        } => {
            let mut seq = 0u32;
            for _ in 0..rounds {
                let mut sel = Select::new();
                let idx: Vec<(usize, bool, usize)> = cases
                    .iter()
                    .map(|&(c, send)| {
                        let i = if send {
                            seq += 1;
                            sel.send(
                                txs[c].as_ref().expect("a send case's sender"),
                                Tok::new(&book, c, me, seq),
                            )
                        } else {
                            sel.recv(rxs[c].as_ref().expect("a recv case's receiver"))
                        };
                        (c, send, i)
                    })
                    .collect();
                let chosen = match wait {
                    None => sel.try_select(),
                    Some(m) => sel.select_timeout(ms(m)),
                };
                for &(c, send, i) in &idx {
                    if Some(i) == chosen {
                        if send {
                            if let Err(e) = sel.send_result::<Tok>(i) {
                                e.0.mark(RETURNED);
                            }
                        } else if let Ok(t) = sel.recv_result::<Tok>(i) {
                            seen.got(c, t);
                        }
                    } else if send {
                        match sel.take_unsent::<Tok>(i) {
                            Some(t) => t.mark(RETURNED),
                            None => {
                                book.error(format!("case {i} not chosen but its value is gone"))
                            }
                        }
                    }
                }
                bamboo::yield_now();
            }
        }
    }
}

fn runtime(stress: bool) -> &'static Runtime {
    static NORMAL: OnceLock<Runtime> = OnceLock::new();
    static STRESS: OnceLock<Runtime> = OnceLock::new();
    let cell = if stress { &STRESS } else { &NORMAL };
    cell.get_or_init(|| {
        // The normal runtime takes BAMBOO_DEBUG as it comes (the stress run
        // of the suite sets it); the stress one forces stack moves.
        let mut b = Runtime::builder();
        b.workers(2).segment_size(16 << 10);
        if stress {
            b.force_stack_move(true);
        }
        b.build().unwrap()
    })
}

fn check(p: &Prog, stress: bool) -> Result<(), TestCaseError> {
    let rt = runtime(stress);
    let cap_vals = 60 * p.actors.len() + 30 * 5 * p.actors.len();
    let book = Arc::new(Book {
        state: (0..cap_vals).map(|_| AtomicU8::new(MADE)).collect(),
        chan_of: (0..cap_vals).map(|_| AtomicUsize::new(0)).collect(),
        made: AtomicUsize::new(0),
        lost: p.caps.iter().map(|_| AtomicUsize::new(0)).collect(),
        errors: Mutex::new(vec![]),
    });
    let chans: Vec<_> = p.caps.iter().map(|&c| channel::<Tok>(c)).collect();
    // Watchdog: a hang is a failure, not a stuck CI job.
    let done = Arc::new(AtomicBool::new(false));
    {
        let (done, p) = (done.clone(), p.clone());
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while !done.load(Relaxed) {
                if t0.elapsed() > Duration::from_secs(60) {
                    // Straight to fd 2: the harness' capture dies with us.
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "prop_select: program hangs: {p:?}");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    }
    let mut coros = vec![];
    let mut threads = vec![];
    for (me, (a, on_thread)) in p.actors.iter().cloned().enumerate() {
        // Only the handles the actor uses: a channel closes when the
        // actors that send (receive) on it are done.
        let (sends, recvs): (Vec<bool>, Vec<bool>) = (0..chans.len())
            .map(|c| match &a {
                Actor::Producer { chan, .. } => (*chan == c, false),
                Actor::Consumer { chan, .. } => (false, *chan == c),
                Actor::Selector { cases, .. } => (
                    cases.iter().any(|&(k, s)| k == c && s),
                    cases.iter().any(|&(k, s)| k == c && !s),
                ),
            })
            .unzip();
        let txs: Vec<_> = chans
            .iter()
            .zip(&sends)
            .map(|((t, _), &u)| u.then(|| t.clone()))
            .collect();
        let rxs: Vec<_> = chans
            .iter()
            .zip(&recvs)
            .map(|((_, r), &u)| u.then(|| r.clone()))
            .collect();
        let book = book.clone();
        if on_thread {
            threads.push(std::thread::spawn(move || run_actor(me, a, txs, rxs, book)));
        } else {
            coros.push(rt.spawn(move || run_actor(me, a, txs, rxs, book)));
        }
    }
    drop(chans);
    for h in coros {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    done.store(true, Relaxed);
    let errors = book.errors.lock().unwrap().clone();
    prop_assert!(errors.is_empty(), "{:?}", errors);
    let made = book.made.load(Relaxed);
    let mut fate = [0usize; 3];
    for s in &book.state[..made] {
        fate[s.load(Relaxed) as usize] += 1;
    }
    let lost: Vec<usize> = book.lost.iter().map(|l| l.load(Relaxed)).collect();
    if std::env::var_os("PROP_SIZES").is_some() {
        eprintln!(
            "made {made}: received {}, returned {}, dropped {lost:?}",
            fate[1], fate[2]
        );
    }
    prop_assert_eq!(
        fate[MADE as usize],
        lost.iter().sum::<usize>(),
        "unaccounted values are the dropped ones"
    );
    for (c, &l) in lost.iter().enumerate() {
        let drained = p.actors.iter().any(
            |(a, _)| matches!(a, Actor::Consumer { chan, quit_after: None, .. } if *chan == c),
        );
        if drained {
            prop_assert_eq!(
                l,
                0,
                "channel {} had a consumer until closed but lost values",
                c
            );
        } else {
            prop_assert!(
                l <= p.caps[c],
                "channel {} dropped {} values, more than its capacity",
                c,
                l
            );
        }
    }
    let h = rt.handle();
    let t = Instant::now();
    let c = loop {
        let c = h.counters();
        if (c.coroutines == 0 && c.segments_inuse == 0) || t.elapsed() > Duration::from_secs(20) {
            break c;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    prop_assert_eq!(c.coroutines, 0, "coroutines left: {:?}", c);
    prop_assert_eq!(c.segments_inuse, 0, "segments left: {:?}", c);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn channels_and_select_conserve_every_value(p in prog()) {
        check(&p, false)?;
    }

    #[test]
    fn channels_and_select_conserve_every_value_in_stress_mode(p in prog()) {
        check(&p, true)?;
    }
}
