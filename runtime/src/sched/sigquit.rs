//! `BAMBOO_DEBUG=sigquitdump=1`: print every such runtime's coroutine dump
//! to stderr on `SIGQUIT` (Ctrl-\), and keep running (as the JVM does; Go
//! dumps and exits).
//!
//! Printing from a signal handler is not async-signal-safe (it allocates
//! and locks), so the handler does not print: signal-hook's handler only
//! writes a byte to a pipe, and one watcher thread (`bamboo-sigquit`,
//! started by the first runtime that asks) reads it and makes the dumps.
//!
//! ```text
//!   SIGQUIT -> signal-hook handler -> pipe -> bamboo-sigquit thread
//!                                               for each live runtime: dump -> stderr
//! ```
//!
//! The runtimes are held weakly: a dropped runtime is skipped and
//! forgotten.

use std::sync::{Arc, Mutex, Weak};

use signal_hook::consts::SIGQUIT;
use signal_hook::iterator::Signals;

use super::dump;
use super::worker::Shared;
use crate::error::Error;

/// Runtimes that asked for the dump; `None` until the watcher runs.
static WATCHED: Mutex<Option<Vec<Weak<Shared>>>> = Mutex::new(None);

/// Dump `shared` on every `SIGQUIT` from now on (starting the watcher
/// thread on first use).
pub(crate) fn watch(shared: &Arc<Shared>) -> Result<(), Error> {
    let mut w = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
    if w.is_none() {
        let os = |op: &'static str| {
            move |e: std::io::Error| Error::Os {
                op,
                message: e.to_string(),
            }
        };
        let mut signals = Signals::new([SIGQUIT])
            .map_err(os("installing the SIGQUIT handler (sigquitdump=1)"))?;
        std::thread::Builder::new()
            .name("bamboo-sigquit".into())
            .spawn(move || {
                for _ in signals.forever() {
                    dump_all();
                }
            })
            .map_err(os("spawning the SIGQUIT watcher thread (sigquitdump=1)"))?;
        *w = Some(Vec::new());
    }
    if let Some(list) = w.as_mut() {
        list.retain(|r| r.strong_count() > 0);
        list.push(Arc::downgrade(shared));
    }
    Ok(())
}

fn dump_all() {
    let live: Vec<Arc<Shared>> = {
        let w = WATCHED.lock().unwrap_or_else(|e| e.into_inner());
        w.iter().flatten().filter_map(Weak::upgrade).collect()
    };
    for (i, s) in live.iter().enumerate() {
        let coroutines = dump::collect(s);
        let header = format!(
            "bamboo: SIGQUIT: coroutine dump of runtime {} of {} ({} workers)",
            i + 1,
            live.len(),
            s.cfg.workers
        );
        let text = dump::Text {
            header: &header,
            coroutines: &coroutines,
        };
        dump::to_stderr(&format!("{text}\n"));
    }
}
