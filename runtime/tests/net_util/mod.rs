//! Helpers the socket tests share (`net.rs`, `net_limits.rs`): a watchdog
//! that aborts a hung test, runtimes, deterministic messages, an echo
//! server.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::net::{TcpListener, TcpStream};
use bamboo::Runtime;

/// Abort the test process if the guard is still alive after `secs`.
pub struct Deadline(Arc<AtomicBool>);

pub fn deadline(name: &'static str, secs: u64) -> Deadline {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(SeqCst) {
            if start.elapsed() > Duration::from_secs(secs) {
                eprintln!("test {name} still running after {secs} s: aborting");
                std::process::abort();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Deadline(done)
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

pub fn rt(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().unwrap()
}

/// Deterministic bytes of message `i` of connection `c` (xorshift).
pub fn message(c: u64, i: u64, max: usize) -> Vec<u8> {
    let mut x = (c << 32 | i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = 1 + (next() % max as u64) as usize;
    (0..len).map(|_| next() as u8).collect()
}

/// Echo every byte back until EOF.
pub fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 16 << 10];
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
}

pub fn serve_echo(l: TcpListener) {
    for s in l.incoming() {
        match s {
            Ok(s) => {
                bamboo::spawn(move || echo(s));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
