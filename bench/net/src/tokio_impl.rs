use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{httploop, rss, MSG};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn serve_http(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8 << 10];
    let mut len = 0;
    let mut out = Vec::with_capacity(4 << 10);
    loop {
        let n = s.read(&mut buf[len..]).await?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let Some(used) = httploop::answer(&buf[..len], &mut out) else {
            return Ok(());
        };
        if !out.is_empty() {
            s.write_all(&out).await?;
            out.clear();
        }
        buf.copy_within(used..len, 0);
        len -= used;
    }
}

pub fn http(addr: &str) {
    rt().block_on(async {
        let l = TcpListener::bind(addr).await.unwrap();
        loop {
            let (s, _) = l.accept().await.unwrap();
            let _ = s.set_nodelay(true);
            tokio::spawn(serve_http(s));
        }
    })
}

async fn echo_server(l: TcpListener) {
    loop {
        let (mut s, _) = l.accept().await.unwrap();
        let _ = s.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

pub fn echo(conns: usize, secs: Duration) -> u64 {
    let rt = rt();
    rt.block_on(async move {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(echo_server(l));
        let stop = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..conns)
            .map(|_| {
                let (stop, total) = (stop.clone(), total.clone());
                tokio::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let msg = [7u8; MSG];
                    let mut back = [0u8; MSG];
                    let mut n = 0;
                    while !stop.load(Relaxed) {
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut back).await.unwrap();
                        n += 1;
                    }
                    total.fetch_add(n, Relaxed);
                })
            })
            .collect();
        tokio::time::sleep(secs).await;
        stop.store(true, Relaxed);
        for h in hs {
            h.await.unwrap();
        }
        total.load(Relaxed)
    })
}

pub fn idle(conns: usize) -> u64 {
    let rt = rt();
    rt.block_on(async move {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(echo_server(l));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = rss();
        let opened = Arc::new(AtomicU64::new(0));
        for _ in 0..conns {
            let opened = opened.clone();
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                opened.fetch_add(1, Relaxed);
                let _ = s.read(&mut [0u8; 1]).await;
            });
        }
        while opened.load(Relaxed) < conns as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss();
        eprintln!("tokio idle: rss {before} -> {after}");
        after - before
    })
}
