//! `bamboo-stress`: the command line of the stress runner.
//!
//! Parses the options (clap), shows a progress bar (indicatif, on stderr,
//! only when stderr is a terminal and `--json` is off), runs
//! [`bamboo_stress::run`], then prints the report (or the JSON summary),
//! writes the plot, and exits 0 only when every check held. The work itself
//! is in the library (`src/lib.rs`), shared with the longtests.
#![warn(missing_docs)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bamboo::Handle;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bamboo_stress::chaos::ChaosConfig;
use bamboo_stress::parse::{parse_duration, parse_size};
use bamboo_stress::report::{self, group};
use bamboo_stress::soak::SoakConfig;
use bamboo_stress::{Progress, RunConfig, Workload};

/// Duration of a run with a workload but no `--duration`.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Duration of the demo run (no workload given).
const DEMO_DURATION: Duration = Duration::from_secs(5);

/// Stress the bamboo runtime with a coroutine workload while a monitor
/// checks, continuously, that the metrics agree exactly with MemStats
/// (bamboo_metrics::read_consistent). Exits 0 only when every check held.
///
/// Without a workload it runs a short (5 s) `mixed` demo.
#[derive(Debug, Parser)]
#[command(name = "bamboo-stress", version)]
struct Cli {
    /// What to run (default: a 5 s `mixed` demo).
    #[arg(value_enum)]
    workload: Option<Workload>,

    /// Worker threads (default: BAMBOO_WORKERS, else the available parallelism).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,

    /// How long to run: 500ms, 10s, 2m, 1m30s (default 10s; 5s for the demo).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Stress mode: every stack check point moves to another segment
    /// (docs/stress.md; without the flag, BAMBOO_DEBUG=stackmove=1 decides).
    #[arg(long)]
    stack_move: bool,

    /// Fill freed segments with a pattern and make them fault while free
    /// (without the flag, BAMBOO_DEBUG=stackpoison=1 decides).
    #[arg(long)]
    stack_poison: bool,

    /// Usable bytes of a coroutine's first stack segment: 16384, 16k, 1m.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    segment_size: Option<usize>,

    /// Write an SVG plot of stack bytes in use and coroutines live over time.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,

    /// Print a machine-readable JSON summary on stdout instead of the table.
    #[arg(long)]
    json: bool,

    /// Soak: sample RSS and stack bytes every 10 ms, open fds and mappings
    /// every second, and fail if any grew after the warm-up the way a leak
    /// grows them (docs/stress.md, "The soak").
    #[arg(long)]
    soak: bool,

    /// Chaos: next to the workloads, cancel, panic and drop channel ends and
    /// join handles at random points, checking every outcome and that every
    /// destructor ran (docs/stress.md, "Chaos").
    #[arg(long)]
    chaos: bool,

    /// With --chaos: the seed of every random draw (default: from the clock;
    /// printed at the start either way).
    #[arg(long, value_name = "N", requires = "chaos")]
    seed: Option<u64>,

    /// With --soak: write every sample as CSV (t,rss,rss_min,stack_mapped,stack_inuse,stack_inuse_min,fds,maps).
    #[arg(long, value_name = "FILE.csv", requires = "soak")]
    soak_csv: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let demo = cli.workload.is_none();
    let workload = cli.workload.unwrap_or(Workload::Mixed);
    let duration = cli.duration.unwrap_or(if demo {
        DEMO_DURATION
    } else {
        DEFAULT_DURATION
    });
    let mut cfg = RunConfig::new(workload, duration);
    cfg.workers = cli.workers.map(|n| n as usize);
    cfg.stack_move = cli.stack_move;
    cfg.stack_poison = cli.stack_poison;
    cfg.segment_size = cli.segment_size;
    if cli.chaos {
        cfg.chaos = Some(ChaosConfig::new(
            cli.seed.unwrap_or_else(bamboo_stress::chaos::random_seed),
        ));
    }
    if cli.soak {
        match SoakConfig::for_duration(duration) {
            Ok(c) => cfg.soak = Some(c),
            Err(e) => {
                eprintln!("bamboo-stress: {e}");
                return ExitCode::from(2);
            }
        }
    }

    let rt = match bamboo_stress::build_runtime(&cfg) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bamboo-stress: cannot start the runtime with these options: {e}");
            return ExitCode::from(2);
        }
    };
    if !cli.json {
        if demo {
            println!(
                "bamboo-stress demo: {:.0} s of `mixed` (spawn-storm, deep-recursion, ping-pong, tree and net-echo at once) \
                 while a monitor checks every metric against MemStats with read_consistent.\n\
                 Run more with `bamboo-stress <WORKLOAD> --duration 30s [--stack-move --stack-poison] [--plot run.svg]`; \
                 `bamboo-stress --help` lists the workloads and options.\n",
                duration.as_secs_f64()
            );
        }
        println!("{}", header(&cfg, &rt.handle()));
    }
    if let Some(c) = &cfg.chaos {
        let line = format!(
            "chaos: seed {} (replay the same schedule with --chaos --seed {})",
            c.seed, c.seed
        );
        // On stdout with the header; on stderr with --json, whose stdout
        // is one JSON document (which has the seed too).
        if cli.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    let bar = progress_bar(&cfg, cli.json);
    let mut tick = |p: &Progress| update(&bar, p);
    let result = bamboo_stress::run_on(rt, &cfg, &mut tick);
    bar.finish_and_clear();

    let mut ok = result.ok();
    if cli.json {
        let summary = report::summary(&result);
        match serde_json::to_string_pretty(&summary) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("bamboo-stress: cannot encode the summary: {e}");
                ok = false;
            }
        }
    } else {
        print!("{}", report::text(&result));
    }
    if let (Some(path), Some(soak)) = (&cli.soak_csv, &result.soak) {
        match std::fs::write(path, soak_csv(soak)) {
            Ok(()) if !cli.json => println!("soak samples written to {}", path.display()),
            Ok(()) => {}
            Err(e) => {
                eprintln!("bamboo-stress: cannot write {}: {e}", path.display());
                ok = false;
            }
        }
    }
    if let Some(path) = &cli.plot {
        let series = result
            .monitor
            .as_ref()
            .map(|m| m.series.as_slice())
            .unwrap_or(&[]);
        let title = format!(
            "bamboo-stress {}: stack in use and live coroutines",
            header_mode(cfg.workload, result.stack_move, result.stack_poison)
        );
        match bamboo_stress::plot::write_svg(path, &title, series) {
            Ok(()) if !cli.json => println!("plot written to {}", path.display()),
            Ok(()) => {}
            Err(e) => {
                eprintln!("bamboo-stress: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        if cli.json {
            for why in result.failures() {
                eprintln!("bamboo-stress: FAIL: {why}");
            }
        }
        ExitCode::FAILURE
    }
}

/// The soak's samples as CSV, one line per second.
fn soak_csv(r: &bamboo_stress::soak::SoakReport) -> String {
    let mut o = String::from("t,rss,rss_min,stack_mapped,stack_inuse,stack_inuse_min,fds,maps\n");
    for s in &r.samples_taken {
        o.push_str(&format!(
            "{:.1},{},{},{},{},{},{},{}\n",
            s.t, s.rss, s.rss_min, s.stack_mapped, s.stack_inuse, s.stack_inuse_min, s.fds, s.maps
        ));
    }
    o
}

/// `mixed, forced stack moves, stack poison` and the like.
fn header_mode(workload: Workload, stack_move: bool, stack_poison: bool) -> String {
    let mut s = workload.name().to_string();
    if stack_move {
        s.push_str(", forced stack moves");
    }
    if stack_poison {
        s.push_str(", stack poison");
    }
    s
}

/// The line printed before the run starts, with the settings the runtime
/// took (from the options, the `BAMBOO_*` variables or the defaults).
fn header(cfg: &RunConfig, h: &Handle) -> String {
    format!(
        "running {} for {:.1} s (workers: {}, first segment: {})...",
        header_mode(cfg.workload, h.stack_move_forced(), h.stack_poison()),
        cfg.duration.as_secs_f64(),
        h.workers(),
        report::bytes(h.segment_size() as u64)
    )
}

/// A bar over the run's duration on stderr; hidden with `--json` or when
/// stderr is not a terminal.
fn progress_bar(cfg: &RunConfig, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len = cfg.duration.as_millis().max(1) as u64;
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn update(bar: &ProgressBar, p: &Progress) {
    bar.set_position((p.elapsed.as_millis() as u64).min(bar.length().unwrap_or(0)));
    let phase = if p.stopping {
        "finishing rounds · "
    } else {
        ""
    };
    bar.set_message(format!(
        "{phase}coroutines done {} · grows {} · read_consistent {} · mismatches {} · failed {}",
        group(p.coroutines_done),
        group(p.grows),
        group(p.calls),
        group(p.mismatches),
        group(p.failed_checks)
    ));
    bar.tick();
}
