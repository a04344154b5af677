//! Network benchmarks, one process per run:
//!
//! ```text
//! netbench http <bamboo|may_minihttp|tokio> ADDR    # keep-alive hello server until killed
//! netbench echo <bamboo|may|tokio> [CONNS] [SECS]   # echo round trips, server + clients in-process
//! netbench idle <bamboo|may|tokio> [CONNS]          # RSS per idle connection
//! ```
//!
//! Every runtime gets 2 worker threads. Results are printed as
//! `runtime workload value unit` lines; diagnostics go to stderr.

mod bamboo_impl;
mod httploop;
mod may_impl;
mod tokio_impl;

use std::time::Duration;

/// Resident set size of this process in bytes (/proc/self/statm).
pub fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Bytes of one echo message.
pub const MSG: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let num = |i: usize, d: u64| arg(i).map_or(d, |s| s.parse().expect("a number"));
    match (arg(1), arg(2)) {
        (Some("http"), Some(rt)) => {
            let addr = arg(3).unwrap_or("127.0.0.1:8080").to_string();
            match rt {
                "bamboo" => bamboo_impl::http(&addr),
                "may_minihttp" => may_impl::http(&addr),
                "tokio" => tokio_impl::http(&addr),
                _ => usage(),
            }
        }
        (Some("echo"), Some(rt)) => {
            let (conns, secs) = (num(3, 64) as usize, Duration::from_secs(num(4, 5)));
            let rts = match rt {
                "bamboo" => bamboo_impl::echo(conns, secs),
                "may" => may_impl::echo(conns, secs),
                "tokio" => tokio_impl::echo(conns, secs),
                _ => usage(),
            };
            let per_s = rts as f64 / secs.as_secs_f64();
            println!("{rt} echo_rtt_{conns}conns {per_s:.0} round-trips/s");
        }
        (Some("idle"), Some(rt)) => {
            let conns = num(3, 4000) as usize;
            let bytes = match rt {
                "bamboo" => bamboo_impl::idle(conns),
                "may" => may_impl::idle(conns),
                "tokio" => tokio_impl::idle(conns),
                _ => usage(),
            };
            println!(
                "{rt} idle_rss_per_conn_{conns} {} bytes/conn",
                bytes / conns as u64
            );
            // Skip tearing down thousands of connections.
            std::process::exit(0);
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: netbench http <bamboo|may_minihttp|tokio> ADDR | echo <bamboo|may|tokio> [CONNS] [SECS] | idle <bamboo|may|tokio> [CONNS]");
    std::process::exit(2)
}
