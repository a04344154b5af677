//! Property tests of configuration resolution (`BAMBOO_*` variables and
//! builder values) through the test hook `Builder::resolve_with_env` (feature `test-hooks`), with a
//! fake environment: no input string may panic, and valid values round-trip.
//!
//! Cases: `PROPTEST_CASES` if set, else 256.

use bamboo::{Builder, DebugFlags, Error};
use proptest::prelude::*;

// Mirrors of the bounds in runtime/src/config/mod.rs (the module is private).
const MIN_SEGMENT: usize = 4096;
const MAX_SEGMENT: usize = 64 << 20;
const MAX_STACK_LIMIT: u64 = 1 << 40;
const VARS: [&str; 4] = [
    "BAMBOO_WORKERS",
    "BAMBOO_SEGMENT",
    "BAMBOO_MAX_STACK",
    "BAMBOO_DEBUG",
];

type Resolved = (usize, usize, usize, DebugFlags);

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(256)
}

fn resolve(b: &Builder, env: &[(&str, String)]) -> Result<Resolved, Error> {
    let lookup = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    let r = b.resolve_with_env(&lookup)?;
    Ok((r.workers, r.segment_size, r.max_stack, r.debug))
}

fn resolve_var(var: &'static str, value: &str) -> Result<Resolved, Error> {
    resolve(&Builder::default(), &[(var, value.to_string())])
}

/// Whatever came back is either a configuration that satisfies every
/// invariant, or an error naming one of the variables that were set, with
/// its value.
fn check_outcome(out: &Result<Resolved, Error>, env: &[(&str, String)]) {
    match out {
        Ok((workers, segment, max_stack, _)) => {
            assert!((1..=1024).contains(workers));
            assert!(segment.is_power_of_two());
            assert!((MIN_SEGMENT..=MAX_SEGMENT).contains(segment));
            assert!(*max_stack >= *segment && *max_stack as u64 <= MAX_STACK_LIMIT);
        }
        Err(err) => {
            let Error::InvalidEnv { var, value, .. } = err else {
                panic!("unexpected error kind {err:?}");
            };
            assert!(env.iter().any(|(n, v)| n == var && v == value), "{err}");
            let shown = err.to_string();
            assert!(shown.contains(var) && shown.contains(&format!("{value:?}")));
        }
    }
}

/// Arbitrary text, plus text close to the grammar so the interesting
/// branches are actually reached.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[ \t]{0,2}[-+]?[0-9]{0,25}[ ]?[kKmMgGtTbBiI]{0,3}[ \t]{0,2}",
        "[a-z=,01 ]{0,40}",
        "((stackmove|stackpoison|stack|x|)(=[01x]?)?,?){0,4}",
    ]
}

fn suffix() -> impl Strategy<Value = (&'static str, u32)> {
    prop::sample::select(vec![
        ("", 0),
        ("b", 0),
        ("B", 0),
        ("k", 10),
        ("K", 10),
        ("kb", 10),
        ("KiB", 10),
        ("m", 20),
        ("M", 20),
        ("mb", 20),
        ("MiB", 20),
        ("g", 30),
        ("G", 30),
        ("gB", 30),
        ("GiB", 30),
    ])
}

fn debug_item() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "stackmove",
        "stackpoison",
        "sigquitdump",
        "bogus",
        "",
        "StackMove",
    ]);
    let value = prop::sample::select(vec!["0", "1", "2", "", "true"]);
    let ws = prop::sample::select(vec!["", " "]);
    (key, any::<bool>(), value, ws).prop_map(|(k, eq, v, ws)| {
        if eq {
            format!("{ws}{k}={v}{ws}")
        } else {
            format!("{ws}{k}{ws}")
        }
    })
}

/// Reference model of `BAMBOO_DEBUG`: `None` when the value must be rejected.
fn model_debug(s: &str) -> Option<DebugFlags> {
    let mut f = DebugFlags::default();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (k, v) = item.split_once('=')?;
        let on = match v.trim() {
            "0" => false,
            "1" => true,
            _ => None?,
        };
        match k.trim() {
            "stackmove" => f.stackmove = on,
            "stackpoison" => f.stackpoison = on,
            "sigquitdump" => f.sigquitdump = on,
            _ => None?,
        }
    }
    Some(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_single_variable_never_panics(var in prop::sample::select(VARS.to_vec()), v in any_value()) {
        let env = [(var, v.clone())];
        check_outcome(&resolve(&Builder::default(), &env), &env);
    }

    #[test]
    fn any_environment_never_panics(values in prop::collection::vec(prop::option::of(any_value()), 4)) {
        let env: Vec<(&str, String)> = VARS
            .iter()
            .zip(values)
            .filter_map(|(n, v)| v.map(|v| (*n, v)))
            .collect();
        check_outcome(&resolve(&Builder::default(), &env), &env);
    }

    #[test]
    fn any_builder_values_never_panic(
        w in prop::option::of(any::<usize>()),
        s in prop::option::of(prop_oneof![any::<usize>(), 0..=2 * MAX_SEGMENT]),
        m in prop::option::of(prop_oneof![any::<usize>(), 0..=4 * MAX_SEGMENT]),
        flags in (prop::option::of(any::<bool>()), prop::option::of(any::<bool>())),
        env_value in any_value(),
    ) {
        let mut b = Builder::default();
        if let Some(w) = w { b.workers(w); }
        if let Some(s) = s { b.segment_size(s); }
        if let Some(m) = m { b.max_stack(m); }
        if let Some(f) = flags.0 { b.force_stack_move(f); }
        if let Some(f) = flags.1 { b.stack_poison(f); }
        let env: Vec<(&str, String)> = VARS.iter().map(|n| (*n, env_value.clone())).collect();
        match resolve(&b, &env) {
            Ok((workers, segment, max_stack, debug)) => {
                prop_assert!(w.is_none_or(|w| w == workers));
                prop_assert!(s.is_none_or(|s| s.next_power_of_two() == segment));
                prop_assert!(m.is_none_or(|m| m == max_stack));
                prop_assert!(flags.0.is_none_or(|f| f == debug.stackmove));
                prop_assert!(flags.1.is_none_or(|f| f == debug.stackpoison));
            }
            Err(Error::InvalidConfig { setting, value, .. }) => {
                prop_assert!(setting.starts_with("Builder::"));
                prop_assert!(value.parse::<usize>().is_ok());
            }
            Err(e @ Error::InvalidEnv { .. }) => check_outcome(&Err(e), &env),
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }

    #[test]
    fn workers_round_trip(n in 1usize..=1024, pad in "[ \t]{0,2}", pad2 in "[ \t\n]{0,2}") {
        let got = resolve_var("BAMBOO_WORKERS", &format!("{pad}{n}{pad2}")).unwrap();
        prop_assert_eq!(got.0, n);
    }

    #[test]
    fn workers_out_of_range_rejected(n in prop_oneof![Just(0u128), 1025u128..=u128::MAX]) {
        let err = resolve_var("BAMBOO_WORKERS", &n.to_string()).unwrap_err();
        let want = format!("BAMBOO_WORKERS=\"{n}\"");
        prop_assert!(err.to_string().contains(&want));
    }

    #[test]
    fn max_stack_round_trips(n in 0u64..=(1 << 41), (sfx, shift) in suffix()) {
        let value = format!("{n}{sfx}");
        let bytes = n.checked_mul(1 << shift);
        let out = resolve_var("BAMBOO_MAX_STACK", &value);
        let default_segment = resolve(&Builder::default(), &[]).unwrap().1 as u64;
        match bytes {
            Some(b) if (default_segment..=MAX_STACK_LIMIT).contains(&b) => {
                prop_assert_eq!(out.unwrap().2 as u64, b);
            }
            _ => prop_assert!(out.unwrap_err().to_string().contains(&value)),
        }
    }

    #[test]
    fn segment_round_trips_rounded_up(n in 0usize..=(1 << 27), (sfx, shift) in suffix()) {
        let n = if shift == 0 { n } else { n >> shift };
        let value = format!("{n}{sfx}");
        let bytes = n << shift; // n was shifted down, so this cannot overflow
        let out = resolve_var("BAMBOO_SEGMENT", &value);
        if (MIN_SEGMENT..=MAX_SEGMENT).contains(&bytes) {
            prop_assert_eq!(out.unwrap().1, bytes.next_power_of_two());
        } else {
            prop_assert!(out.unwrap_err().to_string().contains(&value));
        }
    }

    #[test]
    fn debug_matches_model(items in prop::collection::vec(debug_item(), 0..6), trailing in any::<bool>()) {
        let mut s = items.join(",");
        if trailing { s.push(','); }
        let parsed = DebugFlags::parse(&s);
        match model_debug(&s) {
            Some(want) => {
                prop_assert_eq!(parsed.unwrap(), want);
                prop_assert_eq!(resolve_var("BAMBOO_DEBUG", &s).unwrap().3, want);
                prop_assert_eq!(DebugFlags::parse(&want.to_string()).unwrap(), want);
            }
            None => {
                let err = parsed.unwrap_err();
                prop_assert!(err.to_string().contains("BAMBOO_DEBUG"));
                let err = resolve_var("BAMBOO_DEBUG", &s).unwrap_err();
                let want = format!("{s:?}");
                prop_assert!(err.to_string().contains(&want));
            }
        }
    }
}
