use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bamboo::net::{TcpListener, TcpStream};
use bamboo::Runtime;

use crate::{httploop, rss, MSG};

fn rt() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

fn serve_http(mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8 << 10];
    let mut len = 0;
    let mut out = Vec::with_capacity(4 << 10);
    loop {
        let n = s.read(&mut buf[len..])?;
        if n == 0 {
            return Ok(());
        }
        len += n;
        let Some(used) = httploop::answer(&buf[..len], &mut out) else {
            return Ok(());
        };
        if !out.is_empty() {
            s.write_all(&out)?;
            out.clear();
        }
        buf.copy_within(used..len, 0);
        len -= used;
    }
}

pub fn http(addr: &str) {
    let rt = rt();
    let addr = addr.to_string();
    rt.block_on(move || {
        let l = TcpListener::bind(addr.as_str()).unwrap();
        loop {
            let (s, _) = l.accept().unwrap();
            let _ = s.set_nodelay(true);
            bamboo::spawn(move || serve_http(s));
        }
    })
}

fn echo_server(l: TcpListener) {
    loop {
        let (mut s, _) = l.accept().unwrap();
        let _ = s.set_nodelay(true);
        bamboo::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).is_err() {
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
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(move || echo_server(l));
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let msg = [7u8; MSG];
                let mut back = [0u8; MSG];
                let mut n = 0;
                while !stop.load(Relaxed) {
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    n += 1;
                }
                total.fetch_add(n, Relaxed);
            })
        })
        .collect();
    std::thread::sleep(secs);
    stop.store(true, Relaxed);
    hs.into_iter().for_each(|h| h.join().unwrap());
    total.load(Relaxed)
}

pub fn idle(conns: usize) -> u64 {
    let rt = rt();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(move || echo_server(l));
    std::thread::sleep(Duration::from_millis(200));
    let before = rss();
    let opened = Arc::new(AtomicU64::new(0));
    let _hs: Vec<_> = (0..conns)
        .map(|_| {
            let opened = opened.clone();
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                opened.fetch_add(1, Relaxed);
                let _ = s.read(&mut [0u8; 1]);
            })
        })
        .collect();
    while opened.load(Relaxed) < conns as u64 || rt.handle().counters().io_wait < 2 * conns as u64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss();
    eprintln!("bamboo idle: rss {before} -> {after}");
    after - before
}
