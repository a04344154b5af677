//! The timer thread for time channels made off a worker (plain threads):
//! one per process, started on first use, with the same heap type as the
//! workers'.

use std::sync::{Once, OnceLock};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use std::sync::atomic::Ordering::Relaxed;

use crate::sched::timer::{Fire, Timers, FALLBACK_PENDING};

struct Fallback {
    timers: Mutex<Timers>,
    cv: Condvar,
}

static FALLBACK: OnceLock<Fallback> = OnceLock::new();

fn run(fb: &'static Fallback) {
    let mut due = Vec::new();
    let mut g = fb.timers.lock();
    loop {
        g.pop_due(Instant::now(), &mut due);
        FALLBACK_PENDING.store(g.len(), Relaxed);
        debug_assert!(due.is_empty(), "no coroutine wake-ups on the fallback heap");
        match g.next_deadline() {
            Some(d) => {
                fb.cv.wait_until(&mut g, d);
            }
            None => fb.cv.wait(&mut g),
        }
    }
}

pub(super) fn register(deadline: Instant, f: Box<dyn Fire>) {
    static STARTED: Once = Once::new();
    let fb = FALLBACK.get_or_init(|| Fallback {
        timers: Mutex::new(Timers::default()),
        cv: Condvar::new(),
    });
    STARTED.call_once(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("bamboo-timers".into())
            .spawn(move || run(fb))
        {
            fatal!("spawning the timer thread: {e}");
        }
    });
    let mut g = fb.timers.lock();
    let earlier = g.next_deadline().is_none_or(|d| deadline < d);
    g.push_fire(deadline, f);
    FALLBACK_PENDING.store(g.len(), Relaxed);
    drop(g);
    if earlier {
        fb.cv.notify_one();
    }
}
