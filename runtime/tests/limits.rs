//! Edge values: `sleep(Duration::MAX)`, a `WaitGroup` counter at
//! `usize::MAX`, a `max_stack` too small for one grow.

use std::sync::Arc;
use std::time::Duration;

use bamboo::{Error, Runtime};

/// Held by every test here that builds a runtime: one of them sets
/// `BAMBOO_MAX_STACK` for a moment, which any `build()` running meanwhile on
/// another test thread would read (it failed a CI-like run once).
static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn sleep_duration_max_sleeps_until_shutdown() {
    let _env = env_lock();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = rt.spawn(|| bamboo::sleep(Duration::MAX));
    std::thread::sleep(Duration::from_millis(50));
    assert!(!h.is_finished(), "sleep(Duration::MAX) returned");
    drop(rt);
    let e = h.join().unwrap_err();
    assert!(e.is_cancelled(), "{e:?}");
}

#[test]
fn wait_group_add_past_usize_max_panics_and_keeps_the_count() {
    let wg = Arc::new(bamboo::sync::WaitGroup::new());
    wg.add(usize::MAX - 1);
    wg.add(1);
    let w = wg.clone();
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || w.add(1))).unwrap_err();
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("WaitGroup") && msg.contains("overflow"),
        "{msg}"
    );
    assert_eq!(wg.count(), usize::MAX, "the failed add changed the counter");
}

#[test]
fn max_stack_below_one_grow_is_rejected_with_the_minimum() {
    let _env = env_lock();
    const K: usize = 1 << 10;
    // 16 KiB first segment: (16 + 32) KiB, grown to (32 + 32) KiB.
    let min = (16 + 32 + 32 + 32) * K;
    let err = Runtime::builder()
        .segment_size(16 * K)
        .max_stack(min - 1)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { setting, .. } if *setting == "Builder::max_stack"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&min.to_string()) && text.contains(&(min - 1).to_string()),
        "{text}"
    );
    let rt = Runtime::builder()
        .workers(1)
        .segment_size(16 * K)
        .max_stack(min)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(|| 3), 3);
    // The environment variable is checked the same way.
    std::env::set_var("BAMBOO_MAX_STACK", (min - 1).to_string());
    let err = Runtime::builder().segment_size(16 * K).build().unwrap_err();
    std::env::remove_var("BAMBOO_MAX_STACK");
    assert!(
        matches!(&err, Error::InvalidEnv { var, .. } if *var == "BAMBOO_MAX_STACK"),
        "{err:?}"
    );
    assert!(err.to_string().contains(&min.to_string()), "{err}");
}
