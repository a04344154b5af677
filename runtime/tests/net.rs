//! `bamboo::net`: behaviour of the sockets inside coroutines and on plain
//! threads, errors as `io::Error`, timeouts, EOF, and that a coroutine
//! waiting on a socket never freezes its worker.
//!
//! Every test runs under a watchdog (`deadline`) that aborts the process
//! with a message instead of letting CI hang.

//!
//! The descriptor-limit, runtime-drop and io-wait tests are in
//! `net_limits.rs`; the helpers both share in `net_util/`.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bamboo::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use bamboo::Runtime;

mod net_util;
use net_util::{deadline, message, rt, serve_echo};

/// `conns` clients x `msgs` messages of 1 B ..= `max` B each, every byte checked.
fn echo_run(rt: &Runtime, conns: u64, msgs: u64, max: usize) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(move || serve_echo(l));
    let clients: Vec<_> = (0..conns)
        .map(|c| {
            rt.spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let mut back = Vec::new();
                for i in 0..msgs {
                    let m = message(c, i, max);
                    s.write_all(&m).unwrap();
                    back.resize(m.len(), 0);
                    s.read_exact(&mut back).unwrap();
                    assert!(back == m, "connection {c} message {i}: bytes differ");
                }
                msgs
            })
        })
        .collect();
    let total: u64 = clients.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, conns * msgs);
}

#[test]
fn echo_200_connections_100_messages() {
    let _d = deadline("echo_200_connections_100_messages", 240);
    let rt = Runtime::new().unwrap();
    echo_run(&rt, 200, 100, 20 << 10);
}

#[test]
fn echo_in_stress_mode() {
    let _d = deadline("echo_in_stress_mode", 240);
    let rt = Runtime::builder()
        .force_stack_move(true)
        .stack_poison(true)
        .build()
        .unwrap();
    echo_run(&rt, 50, 40, 20 << 10);
}

#[test]
fn std_client_bamboo_server() {
    let _d = deadline("std_client_bamboo_server", 60);
    let rt = rt(2);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(move || serve_echo(l));
    let ts: Vec<_> = (0..8)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                for i in 0..50 {
                    let m = message(c, i, 20 << 10);
                    s.write_all(&m).unwrap();
                    let mut back = vec![0; m.len()];
                    s.read_exact(&mut back).unwrap();
                    assert!(back == m);
                }
            })
        })
        .collect();
    ts.into_iter().for_each(|t| t.join().unwrap());
}

#[test]
fn bamboo_client_on_plain_thread_std_server() {
    let _d = deadline("bamboo_client_on_plain_thread_std_server", 60);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    s.write_all(&buf[..n]).unwrap();
                }
            });
        }
    });
    // No runtime at all on this thread: the calls block like std's.
    let mut s = TcpStream::connect(addr).unwrap();
    for i in 0..50 {
        let m = message(7, i, 20 << 10);
        s.write_all(&m).unwrap();
        let mut back = vec![0; m.len()];
        s.read_exact(&mut back).unwrap();
        assert!(back == m);
    }
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let e = s.read(&mut [0u8; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(
        t.elapsed() >= Duration::from_millis(95),
        "{:?}",
        t.elapsed()
    );
}

/// A coroutine that counts while others wait: proof the worker runs.
fn ticker(stop: Arc<AtomicBool>, ticks: Arc<AtomicU64>) -> impl FnOnce() + Send {
    move || {
        while !stop.load(SeqCst) {
            ticks.fetch_add(1, SeqCst);
            bamboo::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn one_worker_keeps_running_while_coroutines_wait_on_sockets() {
    let _d = deadline(
        "one_worker_keeps_running_while_coroutines_wait_on_sockets",
        60,
    );
    let rt = rt(1);
    let l = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = l.local_addr().unwrap();
    let (stop, ticks) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    // Waits in accept (no timeout).
    let l2 = l.clone();
    let acceptor = rt.spawn(move || l2.accept().map(|(s, _)| s));
    // Waits in read without a timeout, and in read with one.
    let (a, b) = {
        let c = rt.block_on(move || TcpStream::connect(addr).unwrap());
        let s = acceptor.join().unwrap().unwrap();
        (Arc::new(c), Arc::new(s))
    };
    let a2 = a.clone();
    let reader = rt.spawn(move || {
        let mut buf = [0u8; 4];
        (&*a2).read_exact(&mut buf).map(|_| buf)
    });
    let b2 = b.clone();
    let timed = rt.spawn(move || {
        b2.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let t = Instant::now();
        let e = (&*b2).read(&mut [0u8; 4]).unwrap_err();
        (e.kind(), t.elapsed())
    });
    let tk = rt.spawn(ticker(stop.clone(), ticks.clone()));
    std::thread::sleep(Duration::from_millis(200));
    let seen = ticks.load(SeqCst);
    assert!(
        seen >= 20,
        "the ticker ran only {seen} times while others waited"
    );
    let (kind, took) = timed.join().unwrap();
    assert_eq!(kind, ErrorKind::TimedOut);
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(!reader.is_finished());
    (&*b).write_all(b"ping").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"ping");
    stop.store(true, SeqCst);
    tk.join().unwrap();
}

#[test]
fn read_timeout_is_timed_out_after_about_the_timeout() {
    let _d = deadline("read_timeout_is_timed_out_after_about_the_timeout", 60);
    let rt = rt(2);
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err());
        c.set_read_timeout(Some(Duration::from_millis(250)))
            .unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(250)));
        for _ in 0..2 {
            let t = Instant::now();
            let e = (&c).read(&mut [0u8; 1]).unwrap_err();
            let took = t.elapsed();
            assert_eq!(e.kind(), ErrorKind::TimedOut);
            assert!(took >= Duration::from_millis(245), "early: {took:?}");
            assert!(took < Duration::from_millis(1000), "late: {took:?}");
        }
    });
}

#[test]
fn write_timeout_is_timed_out_when_the_peer_does_not_read() {
    let _d = deadline("write_timeout_is_timed_out_when_the_peer_does_not_read", 60);
    let rt = rt(1);
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap(); // never reads
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let chunk = vec![1u8; 256 << 10];
        let t = Instant::now();
        let e = loop {
            if let Err(e) = (&c).write(&chunk) {
                break e;
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the buffers never filled"
            );
        };
        assert_eq!(e.kind(), ErrorKind::TimedOut, "{e:?}");
    });
}

#[test]
fn eof_broken_pipe_and_reset() {
    let _d = deadline("eof_broken_pipe_and_reset", 60);
    let rt = rt(2);
    rt.block_on(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        drop(s);
        assert_eq!(c.read(&mut [0u8; 16]).unwrap(), 0, "peer closed: EOF");
        // Writing to a closed peer: the first write may be accepted, then
        // the peer's RST makes writes fail.
        let chunk = vec![7u8; 64 << 10];
        let err = loop {
            match c.write_all(&chunk) {
                Ok(_) => bamboo::sleep(Duration::from_millis(1)),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err:?}"
        );
        // Shutdown of our write half: the peer reads EOF.
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        c.write_all(b"last").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last");
        drop(s);
        assert_eq!(c.read(&mut [0u8; 4]).unwrap(), 0);
    });
}

#[test]
fn os_errors_are_io_errors() {
    let _d = deadline("os_errors_are_io_errors", 60);
    let rt = rt(2);
    rt.block_on(|| {
        // Refused: bind a port, close it, connect.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e:?}");
        // Address in use.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = TcpListener::bind(l.local_addr().unwrap()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e:?}");
        // Unresolvable and malformed names.
        assert!(TcpStream::connect("no-such-host.invalid:80").is_err());
        assert!(TcpStream::connect("127.0.0.1").is_err());
        // Names resolve (through the blocking pool).
        let c = TcpStream::connect(("localhost", l.local_addr().unwrap().port()));
        if let Ok(c) = c {
            assert_eq!(
                c.peer_addr().unwrap().port(),
                l.local_addr().unwrap().port()
            );
        }
        let e = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
    assert!(rt.handle().counters().blocking_calls >= 2);
}

#[test]
fn connect_timeout_times_out_on_a_full_backlog() {
    let _d = deadline("connect_timeout_times_out_on_a_full_backlog", 60);
    use socket2::{Domain, Socket, Type};
    let rt = rt(2);
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    rt.block_on(move || {
        // Fill the backlog (never accepted), then one more must time out.
        let mut held = Vec::new();
        let mut timed_out = false;
        for _ in 0..16 {
            let t = Instant::now();
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => held.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e:?}");
                    let took = t.elapsed();
                    assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(3));
                    timed_out = true;
                    break;
                }
            }
        }
        assert!(timed_out, "16 connects to a backlog of 0 all succeeded");
        drop(l);
    });
}

#[test]
fn sockets_move_between_coroutines_workers_and_threads() {
    let _d = deadline("sockets_move_between_coroutines_workers_and_threads", 60);
    let rt = rt(2);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(move || serve_echo(l));
    // Made in one coroutine...
    let s = rt.block_on(move || TcpStream::connect(addr).unwrap());
    // ...used in many others (spread over the workers)...
    let s = Arc::new(s);
    for i in 0..20u8 {
        let s2 = s.clone();
        rt.spawn(move || {
            (&*s2).write_all(&[i; 100]).unwrap();
            let mut b = [0u8; 100];
            (&*s2).read_exact(&mut b).unwrap();
            assert_eq!(b, [i; 100]);
        })
        .join()
        .unwrap();
    }
    // ...and on a plain thread.
    let s3 = s.clone();
    std::thread::spawn(move || {
        (&*s3).write_all(b"thread").unwrap();
        let mut b = [0u8; 6];
        (&*s3).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"thread");
    })
    .join()
    .unwrap();
    // One coroutine reads while another writes the same stream.
    let n = 2000u32;
    let (r, w) = (s.clone(), s.clone());
    let reader = rt.spawn(move || {
        let mut b = [0u8; 4];
        for i in 0..n {
            (&*r).read_exact(&mut b).unwrap();
            assert_eq!(u32::from_le_bytes(b), i);
        }
    });
    let writer = rt.spawn(move || {
        for i in 0..n {
            (&*w).write_all(&i.to_le_bytes()).unwrap();
        }
    });
    writer.join().unwrap();
    reader.join().unwrap();
    // try_clone: a second handle to the same connection.
    let c = s.try_clone().unwrap();
    rt.block_on(move || {
        (&c).write_all(b"clone").unwrap();
        let mut b = [0u8; 5];
        (&c).read_exact(&mut b).unwrap();
        assert_eq!(&b, b"clone");
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
    });
}

#[test]
fn udp_round_trip() {
    let _d = deadline("udp_round_trip", 60);
    let rt = rt(2);
    rt.block_on(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let b2 = b.clone();
        let echo = bamboo::spawn(move || {
            let mut buf = [0u8; 2048];
            for _ in 0..100 {
                let (n, from) = b2.recv_from(&mut buf).unwrap();
                b2.send_to(&buf[..n], from).unwrap();
            }
        });
        a.connect(ba).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for i in 0..100u64 {
            let m = message(9, i, 1400);
            assert_eq!(a.send(&m).unwrap(), m.len());
            let mut buf = [0u8; 2048];
            let n = a.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &m[..]);
        }
        echo.join().unwrap();
        assert_eq!(a.peer_addr().unwrap(), ba);
        assert_ne!(aa, ba);
        a.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let e = a.recv(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
    });
}

#[test]
fn unix_round_trip() {
    let _d = deadline("unix_round_trip", 60);
    let dir = std::env::temp_dir().join(format!("bamboo-unix-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let rt = rt(2);
    let l = UnixListener::bind(&path).unwrap();
    rt.spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            bamboo::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    s.write_all(&buf[..n]).unwrap();
                }
            });
        }
    });
    let p = path.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..20u64)
            .map(|c| {
                let p = p.clone();
                bamboo::spawn(move || {
                    let mut s = UnixStream::connect(&p).unwrap();
                    for i in 0..20 {
                        let m = message(c, i, 20 << 10);
                        s.write_all(&m).unwrap();
                        let mut back = vec![0; m.len()];
                        s.read_exact(&mut back).unwrap();
                        assert!(back == m);
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
        let (a, mut b) = UnixStream::pair().unwrap();
        (&a).write_all(b"pair").unwrap();
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"pair");
        b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}
