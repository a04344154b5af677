//! `read_mem_stats` and `read_consistent` called while the caller holds a
//! `StopTheWorld` guard of the same runtime: the caller's stops nest, so
//! neither waits for itself. Guarded by a watchdog: a deadlock fails the
//! test instead of hanging it.

use std::sync::mpsc;
use std::time::Duration;

use bamboo::Runtime;
use bamboo_metrics::{all_samples, check, read_consistent, read_mem_stats, MemStats};

/// Run `f` on a thread; fail if it has not finished within 60 s.
fn with_watchdog(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(t.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: deadlocked (still running after 60 s)")
        }
    }
}

#[test]
fn metric_reads_while_holding_a_stop_from_a_coroutine() {
    with_watchdog("reads under a coroutine's stop", || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let h = rt.handle();
        rt.block_on(move || {
            let _stw = h.stop_the_world();
            let mem = read_mem_stats(&h);
            assert_eq!(mem.workers, 2);
            let mut mem = MemStats::default();
            let mut samples = all_samples();
            read_consistent(&h, &mut mem, &mut samples);
            assert!(check(&mem, &samples).is_empty());
        });
    });
}

#[test]
fn metric_reads_while_holding_a_stop_from_a_plain_thread() {
    with_watchdog("reads under a thread's stop", || {
        let rt = Runtime::builder().workers(2).build().unwrap();
        let h = rt.handle();
        let _stw = h.stop_the_world();
        let mem = read_mem_stats(&h);
        assert_eq!(mem.workers, 2);
        let mut mem = MemStats::default();
        let mut samples = all_samples();
        read_consistent(&h, &mut mem, &mut samples);
        assert!(check(&mem, &samples).is_empty());
    });
}
