//! The `bamboo-stress` command line, run as a user would: option errors
//! name the option and the value, `--json` prints a parseable summary,
//! `--plot` writes an SVG, the demo explains itself, and the exit code is 0
//! exactly when every check held.

use std::process::{Command, Output};

fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bamboo-stress"))
        .args(args)
        .env_remove("BAMBOO_DEBUG")
        .output()
        .expect("bamboo-stress runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn bad_option_values_are_named() {
    for (args, option, value) in [
        (&["--duration", "10x"][..], "--duration", "10x"),
        (&["--duration", "10"][..], "--duration", "10"),
        (&["--segment-size", "12q"][..], "--segment-size", "12q"),
        (&["--workers", "0"][..], "--workers", "0"),
        (&["sideways"][..], "WORKLOAD", "sideways"),
    ] {
        let out = stress(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(option) && err.contains(value),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn runtime_rejections_exit_2_with_the_reason() {
    let out = stress(&["spawn-storm", "--segment-size", "1k", "--duration", "100ms"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("segment_size") && err.contains("1024"),
        "{err}"
    );
}

#[test]
fn json_summary_and_plot() {
    let svg = std::env::temp_dir().join(format!("bamboo-stress-cli-{}.svg", std::process::id()));
    let svg_arg = svg.to_str().expect("utf-8 temp path");
    let out = stress(&[
        "spawn-storm",
        "--duration",
        "300ms",
        "--workers",
        "2",
        "--stack-move",
        "--json",
        "--plot",
        svg_arg,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    assert_eq!(v["ok"], true);
    assert_eq!(v["workload"], "spawn-storm");
    assert_eq!(v["workers"], 2);
    assert_eq!(v["stack_move"], true);
    assert_eq!(v["figures"]["mismatches"], 0);
    assert!(v["figures"]["read_consistent_calls"].as_u64() > Some(0));
    assert!(v["figures"]["forced_grows"].as_u64() > Some(0));
    let names: Vec<&str> = v["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(names.contains(&"/stack/grows:events"), "{names:?}");
    assert!(names.contains(&"/memory/classes/total:bytes"), "{names:?}");
    let plot = std::fs::read_to_string(&svg).expect("plot written");
    let _ = std::fs::remove_file(&svg);
    assert!(plot.starts_with("<svg") && plot.contains("stack bytes in use"));
}

#[test]
fn demo_explains_itself_and_passes() {
    let out = stress(&["--duration", "500ms"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.contains("demo") && first.contains("mixed"), "{first}");
    assert!(stdout.contains("--help"), "{stdout}");
    assert!(stdout.contains("/memory/classes/total:bytes"), "{stdout}");
    assert!(stdout.contains("read_consistent calls"), "{stdout}");
    assert!(stdout.contains("PASS"), "{stdout}");
}

#[test]
fn header_prints_the_settings_the_runtime_took() {
    let out = Command::new(env!("CARGO_BIN_EXE_bamboo-stress"))
        .args(["spawn-storm", "--duration", "100ms"])
        .env("BAMBOO_DEBUG", "stackmove=1")
        .env("BAMBOO_WORKERS", "1")
        .env("BAMBOO_SEGMENT", "32k")
        .output()
        .expect("bamboo-stress runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains("forced stack moves")
            && first.contains("workers: 1, first segment: 32.0 KiB"),
        "{first}"
    );
}

#[test]
fn header_prints_the_default_settings_as_numbers() {
    let out = Command::new(env!("CARGO_BIN_EXE_bamboo-stress"))
        .args(["spawn-storm", "--duration", "100ms"])
        .env_remove("BAMBOO_DEBUG")
        .env_remove("BAMBOO_WORKERS")
        .env_remove("BAMBOO_SEGMENT")
        .output()
        .expect("bamboo-stress runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let first = stdout.lines().next().unwrap_or_default();
    // The runtime's defaults: one worker per core, a 2 MiB first segment.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(1024));
    assert!(
        first.contains(&format!("workers: {workers}, first segment: 2.0 MiB")),
        "{first}"
    );
    assert!(!first.contains("default"), "{first}");
}

#[test]
fn soak_judges_every_series_and_writes_its_samples() {
    let out = stress(&["spawn-storm", "--soak", "--duration", "5s"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--soak") && err.contains("--duration"),
        "{err}"
    );
    let out = stress(&["spawn-storm", "--soak-csv", "x.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let csv = std::env::temp_dir().join(format!("bamboo-stress-soak-{}.csv", std::process::id()));
    let csv_arg = csv.to_str().expect("utf-8 temp path");
    // The defaults (2 MiB first segments), as in the CI soak. A 10 s
    // spawn-storm's pool may still map chunks in its last window (16 MiB
    // -> 1 GiB mapped here; with 16 KiB first segments 3 -> 12-48 MiB on a
    // loaded machine, where the spawner runs further ahead of its joins,
    // which failed this test when the mapped bytes were bounded): they
    // are recorded, not judged; stack bytes in use are judged by their
    // floor (docs/stress.md, "The soak").
    let out = Command::new(env!("CARGO_BIN_EXE_bamboo-stress"))
        .args([
            "spawn-storm",
            "--soak",
            "--duration",
            "10s",
            "--workers",
            "2",
            "--json",
            "--soak-csv",
            csv_arg,
        ])
        .env_remove("BAMBOO_DEBUG")
        .env_remove("BAMBOO_SEGMENT")
        .output()
        .expect("bamboo-stress runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let soak = &v["soak"];
    assert!(soak["samples"].as_u64() >= Some(10), "{soak}");
    assert!(
        soak["failures"].as_array().is_some_and(|f| f.is_empty()),
        "{soak}"
    );
    let series: Vec<&str> = soak["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["bound"]["series"].as_str())
        .collect();
    assert_eq!(series, ["rss", "stack_inuse", "fds", "maps"]);
    for s in soak["series"].as_array().expect("series") {
        assert!(s["baseline"].as_u64() > Some(0), "{s}");
    }
    assert_eq!(soak["fds_before"], soak["fds_after"]);
    let samples = std::fs::read_to_string(&csv).expect("samples written");
    let _ = std::fs::remove_file(&csv);
    let mut lines = samples.lines();
    assert_eq!(
        lines.next(),
        Some("t,rss,rss_min,stack_mapped,stack_inuse,stack_inuse_min,fds,maps")
    );
    assert!(lines.count() >= 10, "{samples}");
}

#[test]
fn chaos_prints_its_seed_and_accounts_for_every_destructor() {
    let out = stress(&["spawn-storm", "--seed", "5"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--seed") && err.contains("--chaos"), "{err}");

    let out = stress(&[
        "ping-pong",
        "--chaos",
        "--seed",
        "12345",
        "--duration",
        "1s",
        "--workers",
        "2",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("chaos: seed 12345 (replay the same schedule with --chaos --seed 12345)"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("chaos destructors"))
        .unwrap_or_default();
    let counts: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(counts.len(), 2, "{line}");
    assert_eq!(counts[0], counts[1], "{line}");

    let out = stress(&["spawn-storm", "--chaos", "--duration", "300ms", "--json"]);
    let stdout = text(&out.stdout);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let seed = v["chaos"]["seed"]
        .as_u64()
        .expect("the seed is in the summary");
    assert!(err.contains(&format!("chaos: seed {seed} ")), "{err}");
    assert_eq!(v["chaos"]["guards_created"], v["chaos"]["guards_dropped"]);
    assert!(v["chaos"]["spawned"].as_u64() > Some(0));
}
