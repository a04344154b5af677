//! `net-echo`: an echo server and its clients inside the runtime, over
//! loopback TCP (`bamboo::net`), every byte checked.
//!
//! Each round binds a fresh listener and starts an accept loop (one echo
//! coroutine per connection), then 4..16 clients; each sends 10..50
//! messages of 1 B ..= 16 KiB (contents and sizes derived from the round,
//! client and message numbers) and reads each one back in full. A client
//! also splits some messages into two writes with a yield between them, so
//! the server sees partial reads. When the clients are done, the round
//! sets the acceptor's stop flag and wakes it with one last connection.
//!
//! What it proves: readiness from the poller loses no wake-up, bytes are
//! neither lost, duplicated nor reordered, and sockets work across workers
//! and (with `--stack-move`) across segment switches at every check point.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use bamboo::net::{TcpListener, TcpStream};

use super::{mix, Single};
use crate::stats::Shared;

/// Largest message.
const MAX_MSG: u64 = 16 << 10;

/// The bytes of message `i` of client `c` in round `round`.
fn message(round: u64, c: u64, i: u64) -> Vec<u8> {
    let seed = mix(round ^ (c << 20) ^ (i << 40));
    let len = 1 + (seed % MAX_MSG) as usize;
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn echo(mut s: TcpStream) {
    let mut buf = vec![0u8; 8 << 10];
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

/// One client: `msgs` messages, each echoed and compared.
fn client(addr: std::net::SocketAddr, round: u64, c: u64, msgs: u64) -> Result<u64, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut back = Vec::new();
    for i in 0..msgs {
        let m = message(round, c, i);
        let split = if i % 3 == 1 { m.len() / 2 } else { m.len() };
        s.write_all(&m[..split])
            .map_err(|e| format!("write {i}: {e}"))?;
        if split < m.len() {
            bamboo::yield_now();
            s.write_all(&m[split..])
                .map_err(|e| format!("write {i}: {e}"))?;
        }
        back.resize(m.len(), 0);
        s.read_exact(&mut back)
            .map_err(|e| format!("read {i}: {e}"))?;
        if back != m {
            let at = back.iter().zip(&m).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "message {i} ({} B): first difference at byte {at}",
                m.len()
            ));
        }
    }
    Ok(msgs)
}

/// One server and its clients.
pub fn round(shared: &Arc<Shared>, round: u64) {
    let name = Single::NetEcho.name();
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            shared.check(false, || format!("net-echo round {round}: bind: {e}"));
            return;
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let acceptor = bamboo::spawn(move || -> Result<u64, String> {
        let mut conns = 0;
        loop {
            let (s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
            if st.load(SeqCst) {
                return Ok(conns);
            }
            conns += 1;
            bamboo::spawn(move || echo(s));
        }
    });
    let clients = 4 + mix(round ^ 0xec40) % 13;
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let msgs = 10 + mix(round ^ c ^ 0x5eed) % 41;
            (c, msgs, bamboo::spawn(move || client(addr, round, c, msgs)))
        })
        .collect();
    for (c, msgs, h) in handles {
        if let Some(r) = shared.join(h, name) {
            shared.check(r == Ok(msgs), || {
                format!("net-echo round {round} client {c}: {r:?} of {msgs} messages")
            });
        }
    }
    stop.store(true, SeqCst);
    let waker = TcpStream::connect(addr);
    shared.check(waker.is_ok(), || {
        format!(
            "net-echo round {round}: last connect: {:?}",
            waker.as_ref().err()
        )
    });
    if let Some(r) = shared.join(acceptor, name) {
        shared.check(r == Ok(clients), || {
            format!("net-echo round {round}: acceptor {r:?}, expected {clients} connections")
        });
    }
}
