//! `ping-pong`: pairs of coroutines bouncing a counter over
//! `bamboo::sync::channel`.
//!
//! Each round starts 4..16 pairs. In a pair, the pinger sends `2k` and
//! expects `2k + 1` back, for 200..1,000 exchanges; the ponger answers every
//! value plus one (through a `grow` check point). Channels have capacity 0
//! (rendezvous), 1 or 4 depending on the pair. When the pinger is done (or
//! the run is stopped: it then ends early, after at least one exchange, so
//! a stop does not wait for slow stress-mode rounds) it drops its sender;
//! the ponger's `recv` must then return `Err` (a closed, empty channel never
//! hangs), and the ponger must have answered exactly as many values as the
//! pinger sent.
//!
//! What it proves: park/unpark across workers loses no wake-up and no
//! message, delivers in order, and a closed channel ends the receiver.

use std::sync::Arc;

use bamboo::sync::channel;

use super::{mix, Single};
use crate::stats::Shared;

/// Channel capacities, picked per pair.
const CAPS: [usize; 3] = [0, 1, 4];

/// One set of pairs.
pub fn round(shared: &Arc<Shared>, round: u64) {
    let pairs = 4 + mix(round) % 13;
    let exchanges = 200 + mix(round ^ 0xfeed) % 801;
    let mut handles = Vec::new();
    for p in 0..pairs {
        let cap = CAPS[((round + p) % CAPS.len() as u64) as usize];
        let (to_pong, from_ping) = channel::<u64>(cap);
        let (to_ping, from_pong) = channel::<u64>(cap);
        let ponger = bamboo::spawn(move || {
            let mut answered = 0u64;
            while let Ok(v) = from_ping.recv() {
                let reply = bamboo::grow(|| v + 1);
                if to_ping.send(reply).is_err() {
                    break;
                }
                answered += 1;
            }
            answered
        });
        let stop = shared.clone();
        let pinger = bamboo::spawn(move || -> Result<u64, String> {
            for k in 0..exchanges {
                if k > 0 && stop.stopped() {
                    return Ok(k);
                }
                to_pong
                    .send(2 * k)
                    .map_err(|_| format!("send {k}: ponger gone"))?;
                match from_pong.recv() {
                    Ok(v) if v == 2 * k + 1 => {}
                    Ok(v) => return Err(format!("exchange {k}: got {v}, expected {}", 2 * k + 1)),
                    Err(_) => return Err(format!("exchange {k}: channel closed early")),
                }
            }
            Ok(exchanges)
        });
        handles.push((p, cap, pinger, ponger));
    }
    for (p, cap, pinger, ponger) in handles {
        let name = Single::PingPong.name();
        let sent = shared.join(pinger, name);
        if let Some(r) = &sent {
            let full = *r == Ok(exchanges) || (shared.stopped() && matches!(r, Ok(1..)));
            shared.check(full, || {
                format!("ping-pong round {round} pair {p} (cap {cap}): pinger {r:?} of {exchanges}")
            });
        }
        if let Some(answered) = shared.join(ponger, name) {
            let sent = match sent {
                Some(Ok(n)) => n,
                _ => exchanges,
            };
            shared.check(answered == sent, || {
                format!(
                    "ping-pong round {round} pair {p} (cap {cap}): ponger answered {answered}, pinger sent {sent}"
                )
            });
        }
    }
}
