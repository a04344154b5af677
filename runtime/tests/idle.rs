//! An idle runtime parks its workers: measured as process CPU time, so this
//! test lives alone in its own test binary (other tests would add theirs).

use std::time::{Duration, Instant};

use bamboo::Runtime;

/// CPU time (user + system) of this process, from /proc/self/stat.
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY-free: sysconf is a plain libc query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

#[test]
fn idle_workers_park_instead_of_spinning() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    // Some work first, so the workers have been awake.
    rt.block_on(|| {
        (0..1000)
            .map(|i| bamboo::spawn(move || i))
            .map(|h| h.join().unwrap())
            .sum::<u64>()
    });
    std::thread::sleep(Duration::from_millis(50));
    let c0 = cpu_time();
    let parks0 = rt.handle().counters().idle_parks;
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_time() - c0;
    // Two spinning workers would burn ~1 s of CPU in 0.5 s.
    assert!(
        used < Duration::from_millis(100),
        "idle runtime used {used:?} of CPU in 500 ms"
    );
    // And a sleeping coroutine wakes its parked worker on time.
    let t0 = Instant::now();
    rt.block_on(|| bamboo::sleep(Duration::from_millis(20)));
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert!(rt.handle().counters().idle_parks >= parks0);
}
