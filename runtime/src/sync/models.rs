//! loom model of the select claim word (`waiter.rs`), on the real code
//! through the `crate::loom` shim (`scripts/loom.sh`; the scheduler's
//! models and their conventions are in `sched/models.rs`).
//!
//! | model          | protocol (file)                 | planted bug      |
//! |----------------|---------------------------------|------------------|
//! | `select_claim` | claim word (`waiter.rs`)        | `ClaimLoadStore` |
//! | `single_claim` | single operation's claim and timeout (`waiter.rs`) | `SingleSettleBeforeLock` |
//!
//! ```text
//!   owner:      arm ── record case 0 in queue A ── record case 1 in queue B ── wait
//!   notifier A: lock A, take the record, claim(0)? ── won: unlock, wake ── lost: skip
//!   notifier B: lock B, take the record, claim(1)? ── won: unlock, wake ── lost: skip
//! ```
//!
//! Each queue is a loom mutex around the record (the channel's lock around
//! its wait list): claimers CAS the word while holding the queue's lock and
//! wake after unlocking, as `channel/state.rs` does.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::waiter::{Owner, ThreadWaiter, Waiter};
use crate::loom::sync::Mutex;
use crate::loom::{plant, Bug};
use crate::sched::wait::Wait;

/// One wait record: the waiter it names and the case it stands for.
type Queue = Mutex<Option<(Waiter, usize)>>;

/// Two notifiers race for one waiter registered in two queues: exactly
/// one claim succeeds, the owner wakes with that notifier's case (it
/// parks until then: a lost wake-up is a deadlock loom reports), the
/// winner wakes it once and the loser skips the record.
fn select_claim() {
    let me = Waiter::Thread(Arc::new(ThreadWaiter::new()));
    me.arm();
    let queues: Vec<Arc<Queue>> = (0..2)
        .map(|case| Arc::new(Mutex::new(Some((me.clone(), case)))))
        .collect();
    let won = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let skipped = Arc::new(AtomicUsize::new(0));
    let notifiers: Vec<_> = (0..2)
        .map(|i| {
            let (q, won, skipped) = (queues[i].clone(), won.clone(), skipped.clone());
            thread::spawn(move || {
                let mut g = q.lock();
                let Some((w, case)) = g.take() else {
                    return; // the owner removed it already
                };
                if w.claim(case) {
                    drop(g);
                    won[i].fetch_add(1, SeqCst);
                    w.wake();
                } else {
                    skipped.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    let case = me
        .wait(None, crate::sched::wait::Wait::Select)
        .expect("no deadline: a claim ends the wait");
    // The owner removes what is left of its records, then disarms.
    for q in &queues {
        q.lock().take();
    }
    for n in notifiers {
        n.join().unwrap();
    }
    me.disarm();
    let (w0, w1) = (won[0].load(SeqCst), won[1].load(SeqCst));
    assert_eq!(w0 + w1, 1, "claims won: case 0 {w0}, case 1 {w1}");
    assert_eq!(
        won[case].load(SeqCst),
        1,
        "woken for case {case}, won by the other"
    );
    assert!(
        skipped.load(SeqCst) <= 1,
        "skipped {} records",
        skipped.load(SeqCst)
    );
}

#[test]
fn select_claim_model() {
    loom::model(select_claim);
}

/// Claim as a load and a store: both notifiers see `WAITING`, both
/// "win", the owner is woken twice for one wait; loom finds it.
#[test]
fn select_claim_finds_load_store() {
    plant(Some(Bug::ClaimLoadStore));
    let r = std::panic::catch_unwind(|| loom::model(select_claim));
    plant(None);
    assert!(
        r.is_err(),
        "loom did not find the planted bug ClaimLoadStore"
    );
}

/// A single operation's record (it sits in one queue) against its owner
/// giving up: the claimer takes the record under the queue's lock, stores
/// its claim (no CAS) and hands the value in; the owner's deadline has
/// passed and it settles under the same lock. Exactly one side has the
/// record: the claimer delivered and the owner sees the claim, or the
/// owner took the record out and the claimer found none (nothing lost).
fn single_claim() {
    let tw = Arc::new(ThreadWaiter::new());
    let me = Owner::thread(&tw);
    let q: Arc<Mutex<Option<Waiter>>> = Arc::new(Mutex::new(Some(me.waiter())));
    let delivered = Arc::new(AtomicUsize::new(0));
    let claimer = {
        let (q, delivered) = (q.clone(), delivered.clone());
        thread::spawn(move || {
            let mut g = q.lock();
            if let Some(w) = g.take() {
                w.claim_single(false);
                delivered.store(1, SeqCst);
                drop(g);
                w.wake();
            }
        })
    };
    // The deadline is now: the wait ends at once unless already claimed.
    let claimed_first = me.wait_single(Some(std::time::Instant::now()), Wait::ChanRecv);
    let (mut g, claimed) = me.single_word().settle(|| q.lock());
    if claimed.is_none() {
        assert!(!claimed_first, "a claim seen, then lost");
        assert!(
            g.take().is_some(),
            "settled as timed out, but a claimer has taken the record"
        );
    }
    drop(g);
    claimer.join().unwrap();
    me.single_word().disarm();
    assert_eq!(
        delivered.load(SeqCst) == 1,
        claimed.is_some(),
        "delivered {}, owner saw {claimed:?}",
        delivered.load(SeqCst)
    );
}

#[test]
fn single_claim_model() {
    loom::model(single_claim);
}

/// Settling before the lock: the claimer's claim lands between the
/// owner's read and its lock, the owner takes it for a timeout.
#[test]
fn single_claim_finds_settle_before_lock() {
    plant(Some(Bug::SingleSettleBeforeLock));
    let r = std::panic::catch_unwind(|| loom::model(single_claim));
    plant(None);
    assert!(
        r.is_err(),
        "loom did not find the planted bug SingleSettleBeforeLock"
    );
}
