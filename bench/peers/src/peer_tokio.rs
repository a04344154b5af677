//! The tokio side of the original workloads, and `tokio_timed`, the
//! batch timer every module uses for tokio.

use super::*;

pub(crate) fn tokio_main(workload: &str, n_parked: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers_for(workload))
        .enable_time()
        .build()
        .expect("tokio runtime");
    let w = workload.to_string();
    // Run the workload in a spawned task (on a worker), not in block_on's
    // future (which runs on this thread).
    let run = |fut: std::pin::Pin<Box<dyn std::future::Future<Output = f64> + Send>>| {
        rt.block_on(async { tokio::spawn(fut).await.unwrap() })
    };
    match workload {
        "skynet" => skynet::tokio(&rt),
        "sieve" | "sieve_w1" => sieve::tokio(&rt, workload),
        "spawn_batch" => batch::tokio(&rt),
        "deep_1m_100b" => skip("tokio", &w, "fixed thread stacks"),
        "cpu2" | "cpu2_w1" | "cpu64" => cpu::tokio(&rt, workload, workers_for(workload)),
        "spawn_join" | "spawn_join_w1" => {
            let v = run(Box::pin(async {
                let _ = spawn_join_tokio().await;
                let mut v = Vec::new();
                for _ in 0..BATCHES {
                    v.push(spawn_join_tokio().await.as_nanos() as f64 / SPAWN_N as f64);
                }
                mean(v)
            }));
            emit("tokio", &w, v, "ns/op");
        }
        "yield_w1" | "yield_w2" => {
            let v = run(Box::pin(async {
                let _ = yield_tokio().await;
                let mut v = Vec::new();
                for _ in 0..BATCHES {
                    v.push(yield_tokio().await.as_nanos() as f64 / (2 * YIELD_N) as f64);
                }
                mean(v)
            }));
            emit("tokio", &w, v, "ns/op");
        }
        "pingpong" | "pingpong_w1" => {
            let v = run(Box::pin(async {
                let _ = pingpong_tokio().await;
                let mut v = Vec::new();
                for _ in 0..BATCHES {
                    v.push(pingpong_tokio().await.as_nanos() as f64 / PINGPONG_N as f64);
                }
                mean(v)
            }));
            emit("tokio", &w, v, "ns/op");
        }
        "deep_100k" | "deep_1m" => skip("tokio", &w, "fixed thread stacks"),
        "hot_split" => skip("tokio", &w, "no stack split"),
        "metrics" => skip("tokio", "metrics_read", "no comparable metrics read"),
        "parked" => {
            let r = rt.block_on(async move {
                tokio::spawn(async move {
                    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
                    let parked = Arc::new(AtomicUsize::new(0));
                    let done = Arc::new(AtomicUsize::new(0));
                    let base = rss();
                    for _ in 0..n_parked {
                        let mut rx = tx.subscribe();
                        let (parked, done) = (parked.clone(), done.clone());
                        drop(tokio::spawn(async move {
                            parked.fetch_add(1, SeqCst);
                            let _ = rx.recv().await;
                            done.fetch_add(1, SeqCst);
                        }));
                    }
                    while parked.load(SeqCst) < n_parked {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let full = rss();
                    let t = Instant::now();
                    drop(tx);
                    while done.load(SeqCst) < n_parked {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    (base, full, t.elapsed())
                })
                .await
                .unwrap()
            });
            report_parked("tokio", r, n_parked);
        }
        _ => skip("tokio", &w, "unknown workload"),
    }
}

/// Like `timed` for tokio: one warm-up batch and `BATCHES` timed batches of
/// `batch()`, run in a task spawned on a worker; ns per op, the mean.
pub(crate) fn tokio_timed<F, Fut>(rt: &tokio::runtime::Runtime, ops: u64, batch: F) -> f64
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Duration> + Send + 'static,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let _ = batch().await;
            let mut v = Vec::new();
            for _ in 0..BATCHES {
                v.push(batch().await.as_nanos() as f64 / ops as f64);
            }
            eprintln!("batches (ns/op): {v:.1?}");
            mean(v)
        })
        .await
        .expect("tokio workload panicked")
    })
}

pub(crate) async fn spawn_join_tokio() -> Duration {
    let t = Instant::now();
    for i in 0..SPAWN_N {
        black_box(tokio::spawn(async move { black_box(i) }).await.unwrap());
    }
    t.elapsed()
}

pub(crate) async fn yield_tokio() -> Duration {
    let t = Instant::now();
    let a = tokio::spawn(async {
        for _ in 0..YIELD_N {
            tokio::task::yield_now().await;
        }
    });
    let b = tokio::spawn(async {
        for _ in 0..YIELD_N {
            tokio::task::yield_now().await;
        }
    });
    a.await.unwrap();
    b.await.unwrap();
    t.elapsed()
}

pub(crate) async fn pingpong_tokio() -> Duration {
    let (tx1, mut rx1) = tokio::sync::mpsc::channel::<u64>(1);
    let (tx2, mut rx2) = tokio::sync::mpsc::channel::<u64>(1);
    let t = Instant::now();
    let echo = tokio::spawn(async move {
        while let Some(v) = rx1.recv().await {
            if tx2.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    for i in 0..PINGPONG_N {
        tx1.send(i).await.unwrap();
        black_box(rx2.recv().await.unwrap());
    }
    drop(tx1);
    echo.await.unwrap();
    t.elapsed()
}
