//! bamboo-stress: stress workloads for the bamboo runtime, with a monitor
//! that checks the metrics' consistency guarantees while they run.
//!
//! The library is what both the `bamboo-stress` CLI (`src/main.rs`) and the
//! longtests (`tests/longtest.rs`) drive:
//! - [`workloads`]: spawn-storm, deep-recursion, ping-pong, tree, net-echo and mixed;
//!   each verifies its own results ([`stats::Shared`] counts them);
//! - [`monitor`]: a coroutine calling `bamboo_metrics::read_consistent`
//!   continuously and checking every equality it guarantees
//!   (`docs/metrics.md`) after each call;
//! - [`runner`]: builds the runtime, runs workloads and monitor for a given
//!   time, stops them in order, detects hangs, returns a [`RunResult`];
//! - [`report`]: the end-of-run table, figures and JSON summary;
//! - [`chaos`]: the `--chaos` driver: seeded cancels, panics and dropped
//!   channel ends and handles, every outcome and destructor accounted for;
//! - [`soak`]: the `--soak` sampler (RSS and stack bytes every 10 ms,
//!   descriptors and mappings every second) and its verdict that none of
//!   them grew after the warm-up the way a leak grows them;
//! - [`plot`]: the SVG of stack bytes in use and live coroutines over time;
//! - [`parse`]: the command line's duration and size syntax.
//!
//! See `docs/stress.md` for how to run it and what each check proves.
#![warn(missing_docs)]

pub mod chaos;
pub mod monitor;
pub mod parse;
pub mod plot;
pub mod report;
pub mod runner;
pub mod soak;
pub mod stats;
pub mod workloads;

pub use runner::{build_runtime, run, run_on, Progress, RunConfig, RunResult};
pub use workloads::Workload;
