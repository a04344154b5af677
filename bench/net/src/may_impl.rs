use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use may::net::{TcpListener, TcpStream};
use may_minihttp::{HttpServer, HttpService, Request, Response};

use crate::{rss, MSG};

fn config() {
    may::config().set_workers(2);
}

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> std::io::Result<()> {
        res.header("Content-Type: text/plain").body("Hello, World!");
        Ok(())
    }
}

pub fn http(addr: &str) {
    config();
    let server = HttpServer(Hello).start(addr).unwrap();
    let _ = server.join();
}

fn echo_server(l: TcpListener) {
    for s in l.incoming() {
        let mut s = s.unwrap();
        let _ = s.set_nodelay(true);
        may::go!(move || {
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
    config();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    may::go!(move || echo_server(l));
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let hs: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, total) = (stop.clone(), total.clone());
            may::go!(move || {
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
    config();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    may::go!(move || echo_server(l));
    std::thread::sleep(Duration::from_millis(200));
    let before = rss();
    let opened = Arc::new(AtomicU64::new(0));
    for _ in 0..conns {
        let opened = opened.clone();
        may::go!(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            opened.fetch_add(1, Relaxed);
            let _ = s.read(&mut [0u8; 1]);
        });
    }
    while opened.load(Relaxed) < conns as u64 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss();
    eprintln!("may idle: rss {before} -> {after}");
    after - before
}
