//! `--chaos`: a driver that, next to the workloads, cancels, panics and
//! drops at random points, and accounts for every outcome and every
//! destructor.
//!
//! Each round draws, from the run's seed and the round number (fastrand),
//! 20..60 coroutines, each with a list of steps (yield, a recursion through
//! `grow` holding a guard in every frame, a `sync::Mutex` critical section
//! with a yield inside, a sleep) and a **fate**:
//!
//! | fate | what happens | the only accepted outcomes |
//! |---|---|---|
//! | `complete` | runs its steps | `Ok(sum of the steps)` |
//! | `panic` | panics at a drawn step (at the bottom of a recursion when that step is one) | a panic whose message is the planned one |
//! | `cancel-race` | runs its steps; the driver cancels it at a random point | `Ok(sum)` (finished first) or cancelled |
//! | `cancel-parked` | parks in `recv` on a channel nobody sends on | cancelled |
//! | `cancel-sleeping` | sleeps 60 s | cancelled (long before the 60 s) |
//! | `cancel-running` | loops through check points without end | cancelled |
//! | `cancel-joining` | spawns a child running steps and joins it | `Ok(child's sum)` or cancelled; the child, detached by the unwind, still finishes |
//! | `detach` | runs its steps; the driver drops its `JoinHandle` | (nothing to join; its guards must still drop) |
//! | `drop-receiver` | sends numbered messages into a channel of capacity 0, 1 or 4; the driver receives k of them and drops the receiver | `send` returns the very message it was given; sent count in k..=k+capacity |
//! | `drop-sender` | receives until the channel closes; the driver sends k and drops the sender | exactly k messages, in order |
//!
//! The driver spawns them all, then visits them in a drawn order, yielding
//! a drawn number of times before each visit (so cancels and drops land on
//! coroutines not yet started, running, parked or sleeping), performs the
//! fate's action, and finally joins every handle it still has and checks
//! the outcome against the table ([`Shared::check`]: a wrong one fails the
//! run with the round, coroutine and fate).
//!
//! **Destructors**: every coroutine holds a `Guard` on its stack, every
//! recursion frame holds one, and every message carries one (so a message
//! dropped with a closed channel's buffer, or with a coroutine cancelled
//! while it was handed over, is counted too). A guard counts itself created
//! and dropped. After each round the driver waits (up to 10 s) until the
//! round's counts are equal, and fails the round with both numbers if they
//! never are; at the end of the run the totals must be equal too
//! ([`ChaosSnapshot::leaked`]). The mutex sum must equal the sum of the
//! contributions counted inside the critical section (a cancel or panic at
//! the yield inside it adds nothing and must not leave it locked).
//!
//! **Reproducible**: the seed fixes every draw: fates, steps, the visiting
//! order, the yields before each visit, k and the capacities (`--seed N`
//! replays the same schedule). Where in a coroutine a cancel lands also
//! depends on the workers' interleaving, which no seed fixes; the outcome
//! table above is what must hold for every interleaving.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use bamboo::sync::{channel, Mutex, SendError};
use bamboo::{JoinError, JoinHandle};

use crate::stats::Shared;

/// Every planned panic's message starts with this (the panic hook keeps
/// quiet about them; any other panic is printed as usual).
pub const PANIC_PREFIX: &str = "chaos: planned panic";

/// How long a round waits for its guards to be dropped.
const SETTLE: Duration = Duration::from_secs(10);

/// Iterations after which a `cancel-running` coroutine gives up (and its
/// outcome is wrong): far more than any cancel needs.
const SPIN_LIMIT: u64 = 20_000_000;

/// The chaos a run adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ChaosConfig {
    /// Seeds every draw (printed at the start; `--seed`).
    pub seed: u64,
    /// Forget one guard (`mem::forget`) in round 0, so the destructor count
    /// must fail: the check that shows the count is not vacuous
    /// (`tests/chaos.rs`). Not on the command line.
    pub plant_leak: bool,
}

impl ChaosConfig {
    /// Chaos with `seed` and no planted leak.
    pub fn new(seed: u64) -> ChaosConfig {
        ChaosConfig {
            seed,
            plant_leak: false,
        }
    }
}

/// A seed from the clock and the process id, for a run without `--seed`.
pub fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    crate::workloads::mix(t ^ (u64::from(std::process::id()) << 40))
}

/// The chaos driver's counters (part of [`Shared`]).
#[derive(Debug, Default)]
pub struct ChaosCounters {
    /// Rounds completed.
    pub rounds: AtomicU64,
    /// Coroutines spawned by the chaos driver (children included).
    pub spawned: AtomicU64,
    /// Joined with their value.
    pub completed: AtomicU64,
    /// Joined with their planned panic.
    pub panicked: AtomicU64,
    /// Joined as cancelled.
    pub cancelled: AtomicU64,
    /// Cancelled but finished first (joined with their value).
    pub cancel_lost_race: AtomicU64,
    /// Channels whose other end the driver dropped mid-operation.
    pub peers_dropped: AtomicU64,
    /// Join handles dropped while their coroutine ran.
    pub detached: AtomicU64,
    /// Guards created (rounds that settled, plus the last one).
    pub guards_created: AtomicU64,
    /// Guards dropped.
    pub guards_dropped: AtomicU64,
}

/// A copy of [`ChaosCounters`] plus the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChaosSnapshot {
    /// The seed.
    pub seed: u64,
    /// Rounds completed.
    pub rounds: u64,
    /// Coroutines spawned.
    pub spawned: u64,
    /// Joined with their value.
    pub completed: u64,
    /// Joined with their planned panic.
    pub panicked: u64,
    /// Joined as cancelled.
    pub cancelled: u64,
    /// Cancelled but finished first.
    pub cancel_lost_race: u64,
    /// Channel ends dropped mid-operation.
    pub peers_dropped: u64,
    /// Join handles dropped while running.
    pub detached: u64,
    /// Guards created.
    pub guards_created: u64,
    /// Guards dropped.
    pub guards_dropped: u64,
}

impl ChaosCounters {
    /// The counters now, with `seed`.
    pub fn snapshot(&self, seed: u64) -> ChaosSnapshot {
        ChaosSnapshot {
            seed,
            rounds: self.rounds.load(Relaxed),
            spawned: self.spawned.load(Relaxed),
            completed: self.completed.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            cancel_lost_race: self.cancel_lost_race.load(Relaxed),
            peers_dropped: self.peers_dropped.load(Relaxed),
            detached: self.detached.load(Relaxed),
            guards_created: self.guards_created.load(Relaxed),
            guards_dropped: self.guards_dropped.load(Relaxed),
        }
    }
}

impl ChaosSnapshot {
    /// Guards created but never dropped (0 when every destructor ran).
    pub fn leaked(&self) -> u64 {
        self.guards_created.saturating_sub(self.guards_dropped)
    }
}

/// One round's guard counts.
#[derive(Debug, Default)]
struct GuardCounts {
    created: AtomicU64,
    dropped: AtomicU64,
}

/// An object whose destructor is counted.
struct Guard(Arc<GuardCounts>);

impl Guard {
    fn new(c: &Arc<GuardCounts>) -> Guard {
        c.created.fetch_add(1, Relaxed);
        Guard(c.clone())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, Relaxed);
    }
}

/// A message: a number and a guard.
struct Msg {
    n: u64,
    _guard: Guard,
}

/// One step of a coroutine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Yield,
    /// Recurse this deep through `grow`, a guard in every frame.
    Grow(u64),
    /// Add this to the round's mutex, yielding inside the critical section.
    Lock(u64),
    /// Sleep this many microseconds.
    Sleep(u64),
}

impl Step {
    /// What the step adds to a coroutine's sum.
    fn value(self) -> u64 {
        match self {
            Step::Yield => 1,
            Step::Grow(d) => d + 1,
            Step::Lock(v) => v,
            Step::Sleep(_) => 2,
        }
    }
}

/// What happens to a coroutine (the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Complete,
    Panic,
    CancelRace,
    CancelParked,
    CancelSleeping,
    CancelRunning,
    CancelJoining,
    Detach,
    DropReceiver,
    DropSender,
}

const FATES: [Fate; 10] = [
    Fate::Complete,
    Fate::Panic,
    Fate::CancelRace,
    Fate::CancelParked,
    Fate::CancelSleeping,
    Fate::CancelRunning,
    Fate::CancelJoining,
    Fate::Detach,
    Fate::DropReceiver,
    Fate::DropSender,
];

/// What a round shares with its coroutines.
struct Ctx {
    guards: Arc<GuardCounts>,
    sum: Mutex<u64>,
    /// Sum of the contributions counted inside the critical section.
    added: AtomicU64,
}

/// What a coroutine returns.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    /// The sum of its steps (or messages received, for drop-sender).
    Sum(u64),
    /// drop-receiver: messages sent, and whether `send` gave the unsent
    /// message back intact.
    Sent(u64, bool),
    /// cancel-running reached [`SPIN_LIMIT`]; cancel-parked got a message
    /// or a closed channel: never right.
    Wrong(&'static str),
}

/// Recurse `d` frames through `grow`, a guard and a pad in each; panic at
/// the bottom when `boom`. Returns `d + 1`.
fn deep(c: &Ctx, d: u64, boom: Option<&str>) -> u64 {
    let _frame = Guard::new(&c.guards);
    let mut pad = [d; 8];
    std::hint::black_box(&mut pad);
    if d == 0 {
        if let Some(msg) = boom {
            panic!("{msg}");
        }
        bamboo::yield_now();
        return 1;
    }
    let below = bamboo::grow(|| deep(c, d - 1, boom));
    std::hint::black_box(&mut pad);
    below + 1
}

/// Run `steps`, panicking at step `panic_at`; returns the sum of the steps.
fn work(c: &Ctx, steps: &[Step], panic_at: Option<usize>, leak: bool) -> u64 {
    let _g = Guard::new(&c.guards);
    if leak {
        // The planted leak: a guard whose destructor never runs.
        std::mem::forget(Guard::new(&c.guards));
    }
    let mut sum = 0;
    for (i, &s) in steps.iter().enumerate() {
        let msg = (panic_at == Some(i)).then(|| format!("{PANIC_PREFIX} at step {i}"));
        sum += match s {
            Step::Yield => {
                bamboo::yield_now();
                1
            }
            Step::Grow(d) => deep(c, d, msg.as_deref()),
            Step::Lock(v) => {
                let mut g = c.sum.lock();
                bamboo::yield_now();
                *g += v;
                // No check point between the two: both or neither.
                c.added.fetch_add(v, Relaxed);
                v
            }
            Step::Sleep(us) => {
                bamboo::sleep(Duration::from_micros(us));
                2
            }
        };
        if let Some(m) = msg {
            panic!("{m}");
        }
    }
    sum
}

/// Install (once) a panic hook that keeps quiet about planned panics.
fn quiet_planned_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let p = info.payload();
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied());
            if !msg.is_some_and(|m| m.starts_with(PANIC_PREFIX)) {
                prev(info);
            }
        }));
    });
}

/// The chaos driver's body: rounds until the run is stopped (at least one).
/// Returns the number of rounds.
pub fn drive(cfg: ChaosConfig, shared: Arc<Shared>) -> u64 {
    quiet_planned_panics();
    let mut round = 0;
    loop {
        chaos_round(&cfg, &shared, round);
        shared.chaos.rounds.fetch_add(1, Relaxed);
        round += 1;
        if shared.stopped() {
            return round;
        }
    }
}

/// One coroutine's draw.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    fate: Fate,
    steps: Vec<Step>,
    panic_at: Option<usize>,
    /// drop-receiver / drop-sender: messages the driver takes or gives.
    k: u64,
    cap: usize,
}

/// Everything a round draws from the seed: the coroutines, the order the
/// driver visits them in and the yields before each visit.
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    plans: Vec<Plan>,
    order: Vec<usize>,
    yields: Vec<u32>,
}

/// What the driver keeps per coroutine while the round runs.
struct Planned {
    plan: Plan,
    handle: Option<JoinHandle<Out>>,
    /// The driver's end of the coroutine's channel, if any.
    rx: Option<bamboo::sync::Receiver<Msg>>,
    tx: Option<bamboo::sync::Sender<Msg>>,
    /// Set when the driver cancelled it.
    cancelled: bool,
}

fn draw_steps(rng: &mut fastrand::Rng) -> Vec<Step> {
    (0..rng.usize(3..12))
        .map(|_| match rng.u8(0..4) {
            0 => Step::Yield,
            1 => Step::Grow(rng.u64(1..40)),
            2 => Step::Lock(rng.u64(1..1000)),
            _ => Step::Sleep(rng.u64(0..300)),
        })
        .collect()
}

/// Round `round`'s schedule: a function of the seed and the round only.
fn draw(cfg: &ChaosConfig, round: u64) -> Schedule {
    let mut rng = fastrand::Rng::with_seed(crate::workloads::mix(cfg.seed ^ round.rotate_left(32)));
    let n = rng.usize(20..60);
    let plans = (0..n)
        .map(|i| {
            let mut fate = FATES[rng.usize(0..FATES.len())];
            if cfg.plant_leak && round == 0 && i == 0 {
                fate = Fate::Complete;
            }
            let steps = draw_steps(&mut rng);
            let panic_at = (fate == Fate::Panic).then(|| rng.usize(0..steps.len()));
            Plan {
                fate,
                steps,
                panic_at,
                k: rng.u64(0..12),
                cap: [0, 1, 4][rng.usize(0..3)],
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    let yields = (0..n).map(|_| rng.u32(0..4)).collect();
    Schedule {
        plans,
        order,
        yields,
    }
}

fn chaos_round(cfg: &ChaosConfig, shared: &Arc<Shared>, round: u64) {
    let ctx = Arc::new(Ctx {
        guards: Arc::new(GuardCounts::default()),
        sum: Mutex::new(0),
        added: AtomicU64::new(0),
    });
    let Schedule {
        plans,
        order,
        yields,
    } = draw(cfg, round);
    let mut plan: Vec<Planned> = plans
        .into_iter()
        .map(|plan| Planned {
            plan,
            handle: None,
            rx: None,
            tx: None,
            cancelled: false,
        })
        .collect();

    for (i, p) in plan.iter_mut().enumerate() {
        let c = ctx.clone();
        let steps = p.plan.steps.clone();
        let panic_at = p.plan.panic_at;
        let leak = cfg.plant_leak && round == 0 && i == 0;
        shared.chaos.spawned.fetch_add(1, Relaxed);
        let h = match p.plan.fate {
            Fate::Complete | Fate::Panic | Fate::CancelRace | Fate::Detach => {
                bamboo::spawn(move || Out::Sum(work(&c, &steps, panic_at, leak)))
            }
            Fate::CancelParked => {
                let (tx, rx) = channel::<Msg>(0);
                p.tx = Some(tx);
                bamboo::spawn(move || {
                    let _g = Guard::new(&c.guards);
                    match rx.recv() {
                        Ok(_) => Out::Wrong("cancel-parked received a message"),
                        Err(_) => Out::Wrong("cancel-parked saw its channel closed"),
                    }
                })
            }
            Fate::CancelSleeping => bamboo::spawn(move || {
                let _g = Guard::new(&c.guards);
                bamboo::sleep(Duration::from_secs(60));
                Out::Wrong("cancel-sleeping slept its 60 s")
            }),
            Fate::CancelRunning => bamboo::spawn(move || {
                let _g = Guard::new(&c.guards);
                for _ in 0..SPIN_LIMIT {
                    std::hint::black_box(deep(&c, 2, None));
                }
                Out::Wrong("cancel-running was never cancelled")
            }),
            Fate::CancelJoining => {
                shared.chaos.spawned.fetch_add(1, Relaxed);
                bamboo::spawn(move || {
                    let _g = Guard::new(&c.guards);
                    let c2 = c.clone();
                    let child = bamboo::spawn(move || work(&c2, &steps, None, false));
                    match child.join() {
                        Ok(v) => Out::Sum(v),
                        Err(_) => Out::Wrong("cancel-joining's child failed"),
                    }
                })
            }
            Fate::DropReceiver => {
                let (tx, rx) = channel::<Msg>(p.plan.cap);
                p.rx = Some(rx);
                bamboo::spawn(move || {
                    let _g = Guard::new(&c.guards);
                    let mut sent = 0;
                    loop {
                        let m = Msg {
                            n: sent,
                            _guard: Guard::new(&c.guards),
                        };
                        match tx.send(m) {
                            Ok(()) => sent += 1,
                            Err(SendError(back)) => return Out::Sent(sent, back.n == sent),
                        }
                    }
                })
            }
            Fate::DropSender => {
                let (tx, rx) = channel::<Msg>(p.plan.cap);
                p.tx = Some(tx);
                bamboo::spawn(move || {
                    let _g = Guard::new(&c.guards);
                    let mut got = 0;
                    while let Ok(m) = rx.recv() {
                        if m.n != got {
                            return Out::Wrong("drop-sender received out of order");
                        }
                        got += 1;
                    }
                    Out::Sum(got)
                })
            }
        };
        p.handle = Some(h);
    }

    // Visit in the drawn order, the drawn number of yields before each visit.
    for (&i, &y) in order.iter().zip(&yields) {
        for _ in 0..y {
            bamboo::yield_now();
        }
        let p = &mut plan[i];
        match p.plan.fate {
            Fate::Complete | Fate::Panic => {}
            Fate::CancelRace
            | Fate::CancelParked
            | Fate::CancelSleeping
            | Fate::CancelRunning
            | Fate::CancelJoining => {
                if let Some(h) = &p.handle {
                    h.cancel();
                    p.cancelled = true;
                }
            }
            Fate::Detach => {
                p.handle = None;
                shared.chaos.detached.fetch_add(1, Relaxed);
            }
            Fate::DropReceiver => {
                if let Some(rx) = p.rx.take() {
                    for want in 0..p.plan.k {
                        let ok = rx.recv().is_ok_and(|m| m.n == want);
                        shared.check(ok, || {
                            format!("chaos round {round} coroutine {i} (drop-receiver): message {want} missing or out of order")
                        });
                    }
                    drop(rx);
                    shared.chaos.peers_dropped.fetch_add(1, Relaxed);
                }
            }
            Fate::DropSender => {
                if let Some(tx) = p.tx.take() {
                    for n in 0..p.plan.k {
                        let m = Msg {
                            n,
                            _guard: Guard::new(&ctx.guards),
                        };
                        shared.check(tx.send(m).is_ok(), || {
                            format!(
                                "chaos round {round} coroutine {i} (drop-sender): send {n} failed"
                            )
                        });
                    }
                    drop(tx);
                    shared.chaos.peers_dropped.fetch_add(1, Relaxed);
                }
            }
        }
    }

    for (i, p) in plan.iter_mut().enumerate() {
        let Some(h) = p.handle.take() else { continue };
        let r = h.join();
        shared.coroutines_done.fetch_add(1, Relaxed);
        judge(shared, round, i, p, r);
        // cancel-parked's channel closes only after the cancel was judged.
        p.tx = None;
    }

    // Every destructor of the round, including detached coroutines' and
    // cancel-joining's children, must run.
    let g = &ctx.guards;
    let deadline = Instant::now() + SETTLE;
    while g.created.load(Relaxed) != g.dropped.load(Relaxed) && Instant::now() < deadline {
        bamboo::sleep(Duration::from_millis(1));
    }
    let (created, dropped) = (g.created.load(Relaxed), g.dropped.load(Relaxed));
    shared.check(created == dropped, || {
        format!(
            "chaos round {round} (seed {}): {created} guards created, {dropped} dropped ({} destructors never ran)",
            cfg.seed,
            created.saturating_sub(dropped)
        )
    });
    shared.chaos.guards_created.fetch_add(created, Relaxed);
    shared.chaos.guards_dropped.fetch_add(dropped, Relaxed);

    // The mutex is unlocked and holds exactly the contributions counted.
    let deadline = Instant::now() + SETTLE;
    let sum = loop {
        if let Some(s) = ctx.sum.try_lock() {
            break Some(*s);
        }
        if Instant::now() >= deadline {
            break None;
        }
        bamboo::sleep(Duration::from_millis(1));
    };
    let added = ctx.added.load(Relaxed);
    shared.check(sum == Some(added), || {
        format!("chaos round {round}: mutex holds {sum:?} (None: still locked), the contributions add up to {added}")
    });
}

/// Check one joined outcome against the module's table.
fn judge(shared: &Shared, round: u64, i: usize, planned: &Planned, r: Result<Out, JoinError>) {
    let p = &planned.plan;
    let expected: u64 = p.steps.iter().map(|s| s.value()).sum();
    let counters = &shared.chaos;
    let cancelled = matches!(&r, Err(e) if e.is_cancelled());
    let ok = match (p.fate, &r) {
        (Fate::Complete, Ok(Out::Sum(v))) => *v == expected,
        (Fate::Panic, Err(e)) => e
            .panic_message()
            .is_some_and(|m| m == format!("{PANIC_PREFIX} at step {}", p.panic_at.unwrap_or(0))),
        (Fate::CancelRace | Fate::CancelJoining, Ok(Out::Sum(v))) => {
            counters.cancel_lost_race.fetch_add(1, Relaxed);
            *v == expected
        }
        (
            Fate::CancelRace
            | Fate::CancelParked
            | Fate::CancelSleeping
            | Fate::CancelRunning
            | Fate::CancelJoining,
            Err(_),
        ) => cancelled,
        (Fate::DropReceiver, Ok(Out::Sent(sent, back))) => {
            *back && *sent >= p.k && *sent <= p.k + p.cap as u64
        }
        (Fate::DropSender, Ok(Out::Sum(got))) => *got == p.k,
        _ => false,
    };
    match &r {
        Ok(_) if ok => {
            counters.completed.fetch_add(1, Relaxed);
        }
        Err(e) if ok && e.is_panic() => {
            counters.panicked.fetch_add(1, Relaxed);
        }
        Err(_) if ok => {
            counters.cancelled.fetch_add(1, Relaxed);
        }
        _ => {}
    }
    shared.check(ok, || {
        let got = match &r {
            Ok(o) => format!("{o:?}"),
            Err(e) => format!("Err({e})"),
        };
        format!(
            "chaos round {round} coroutine {i} ({:?}, cancelled by the driver: {}, k {}, capacity {}): got {got}, expected sum {expected}",
            p.fate, planned.cancelled, p.k, p.cap
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_fixes_the_schedule() {
        let a = ChaosConfig::new(42);
        for round in 0..5 {
            assert_eq!(draw(&a, round), draw(&a, round), "round {round}");
        }
        assert_ne!(draw(&a, 0), draw(&a, 1));
        assert_ne!(draw(&a, 0), draw(&ChaosConfig::new(43), 0));
    }

    #[test]
    fn every_fate_is_drawn_and_panics_land_on_a_step() {
        let cfg = ChaosConfig::new(7);
        let plans: Vec<Plan> = (0..10).flat_map(|r| draw(&cfg, r).plans).collect();
        for f in FATES {
            assert!(plans.iter().any(|p| p.fate == f), "{f:?} never drawn");
        }
        for p in &plans {
            assert_eq!(p.panic_at.is_some(), p.fate == Fate::Panic);
            assert!(p.panic_at.is_none_or(|i| i < p.steps.len()));
        }
        let s = draw(&cfg, 3);
        let mut order = s.order.clone();
        order.sort_unstable();
        assert_eq!(order, (0..s.plans.len()).collect::<Vec<_>>());
    }

    #[test]
    fn the_planted_leak_lands_on_a_coroutine_that_runs_to_the_end() {
        let cfg = ChaosConfig {
            seed: 1,
            plant_leak: true,
        };
        assert_eq!(draw(&cfg, 0).plans[0].fate, Fate::Complete);
    }
}
