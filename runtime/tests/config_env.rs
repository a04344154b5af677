//! `BAMBOO_*` variables read from the real process environment by
//! `Runtime::new()` and `Builder::build()`. The environment is process-global,
//! so everything runs sequentially in the one test of this binary, and the
//! variables found at start (e.g. `BAMBOO_DEBUG=stackmove=1` in the stress
//! run) are restored at the end.

use std::ffi::OsString;

use bamboo::Runtime;

const VARS: [&str; 5] = [
    "BAMBOO_WORKERS",
    "BAMBOO_SEGMENT",
    "BAMBOO_MAX_STACK",
    "BAMBOO_DEBUG",
    "BAMBOO_TIME_SLICE",
];

fn clear_all() {
    for var in VARS {
        std::env::remove_var(var);
    }
}

/// Clears the variables on creation and restores them on drop.
struct SavedEnv(Vec<(&'static str, Option<OsString>)>);

impl SavedEnv {
    fn clear() -> SavedEnv {
        let saved = VARS.iter().map(|v| (*v, std::env::var_os(v))).collect();
        clear_all();
        SavedEnv(saved)
    }
}

impl Drop for SavedEnv {
    fn drop(&mut self) {
        for (var, value) in &self.0 {
            match value {
                Some(v) => std::env::set_var(var, v),
                None => std::env::remove_var(var),
            }
        }
    }
}

fn expect_err(what: &str, r: Result<Runtime, bamboo::Error>, var: &str, value: &str) {
    let shown = match r {
        Ok(_) => panic!("{what}: {var}={value:?} was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(shown.contains(var), "{what}: {shown:?} does not name {var}");
    assert!(
        shown.contains(value),
        "{what}: {shown:?} does not show {value:?}"
    );
}

#[test]
fn bad_env_values_are_reported_by_name_and_value() {
    let _restore = SavedEnv::clear();
    let bad = [
        ("BAMBOO_WORKERS", "abc"),
        ("BAMBOO_WORKERS", "0"),
        ("BAMBOO_WORKERS", "1025"),
        ("BAMBOO_SEGMENT", "12q"),
        ("BAMBOO_SEGMENT", "1k"),
        ("BAMBOO_SEGMENT", "1g"),
        ("BAMBOO_MAX_STACK", "lots"),
        ("BAMBOO_MAX_STACK", "0"),
        ("BAMBOO_MAX_STACK", "-64m"),
        ("BAMBOO_MAX_STACK", "99999999999999999999999g"),
        ("BAMBOO_DEBUG", "stackmove=2"),
        ("BAMBOO_DEBUG", "nosuchknob=1"),
        ("BAMBOO_DEBUG", "stackpoison"),
        ("BAMBOO_TIME_SLICE", "10"),
        ("BAMBOO_TIME_SLICE", "0ms"),
        ("BAMBOO_TIME_SLICE", "1.5 s"),
        ("BAMBOO_TIME_SLICE", "-1ms"),
        ("BAMBOO_TIME_SLICE", "2h"),
    ];
    for (var, value) in bad {
        std::env::set_var(var, value);
        expect_err("Runtime::new", Runtime::new(), var, value);
        expect_err("Builder::build", Runtime::builder().build(), var, value);
        std::env::remove_var(var);
    }

    // A stack limit below the first segment, both taken from the environment.
    std::env::set_var("BAMBOO_SEGMENT", "1m");
    std::env::set_var("BAMBOO_MAX_STACK", "512k");
    expect_err("Runtime::new", Runtime::new(), "BAMBOO_MAX_STACK", "512k");
    clear_all();

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        std::env::set_var("BAMBOO_WORKERS", OsString::from_vec(vec![b'4', 0xff]));
        expect_err("Runtime::new", Runtime::new(), "BAMBOO_WORKERS", "4");
        std::env::remove_var("BAMBOO_WORKERS");
    }

    // Explicit builder settings win: the variables they cover are not read.
    std::env::set_var("BAMBOO_WORKERS", "abc");
    std::env::set_var("BAMBOO_DEBUG", "bogus");
    std::env::set_var("BAMBOO_TIME_SLICE", "soon");
    let rt = Runtime::builder()
        .workers(2)
        .time_slice(std::time::Duration::from_millis(3))
        .force_stack_move(false)
        .stack_poison(false)
        .build();
    assert!(rt.is_ok(), "builder settings must override the environment");
    drop(rt);
    // ... but only those: an unset one still reads its variable.
    std::env::set_var("BAMBOO_SEGMENT", "tiny");
    let r = Runtime::builder()
        .workers(2)
        .stack_poison(false)
        .time_slice(std::time::Duration::from_millis(3))
        .build();
    expect_err("Builder::build", r, "BAMBOO_SEGMENT", "tiny");
    std::env::remove_var("BAMBOO_SEGMENT");
    let r = Runtime::builder()
        .workers(2)
        .force_stack_move(false)
        .stack_poison(false)
        .build();
    expect_err("Builder::build", r, "BAMBOO_TIME_SLICE", "soon");
}
