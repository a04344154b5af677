//! The module layers of docs/architecture.md, checked on the source tree:
//! a module may name (`crate::x`) only modules of its own layer or below.
//!
//! ```text
//!   sync, net, time      coroutine-aware primitives, sockets, time channels
//!   sched                runtime, workers, tasks, parking
//!   signal               guard-hit reports
//!   coro                 switching, check points, system stack
//!   stack                segments, pool, caches
//!   fatal config error counters loom lock   (bottom)
//! ```

use std::path::{Path, PathBuf};

/// Layer of each top-level module, bottom = 0.
const LAYERS: &[(&str, u8)] = &[
    ("fatal", 0),
    ("config", 0),
    ("error", 0),
    ("counters", 0),
    ("loom", 0),
    ("lock", 0),
    ("stack", 1),
    ("coro", 2),
    ("signal", 3),
    ("sched", 4),
    ("sync", 5),
    ("net", 5),
    ("time", 5),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// The top-level module names a line of code refers to with `crate::`,
/// including grouped imports (`use crate::{a::b, c}`).
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `$crate::` inside a macro refers to the root as well.
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Every `module (layer) names higher (layer)` in one file's text.
fn violations(module: &str, file: &str, text: &str) -> Vec<String> {
    let Some(own) = layer(module) else {
        return vec![format!(
            "{file}: module `{module}` has no layer in tests/layers.rs"
        )];
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue; // comments and doc links may point anywhere
        }
        for name in named_modules(code) {
            if let Some(l) = layer(&name) {
                if l > own {
                    out.push(format!(
                        "{file}:{}: `{module}` (layer {own}) names `crate::{name}` (layer {l})",
                        n + 1
                    ));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_names_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 10,
        "found only {} files in {src:?}",
        files.len()
    );
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" {
            continue; // the root re-exports from every layer
        }
        let text = std::fs::read_to_string(f).unwrap();
        bad.extend(violations(module, &rel.display().to_string(), &text));
    }
    assert!(bad.is_empty(), "layer violations:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_catches_upward_names() {
    assert!(!violations("stack", "x.rs", "use crate::sched::park;").is_empty());
    assert!(!violations("coro", "x.rs", "use crate::{stack::Segment, sched};").is_empty());
    assert!(!violations("sched", "x.rs", "    crate::sync::channel::<u8>(0);").is_empty());
    assert!(violations("stack", "x.rs", "// see crate::sched").is_empty());
    assert!(violations("sched", "x.rs", "use crate::{coro, stack::os};").is_empty());
    assert!(
        !violations("nope", "x.rs", "").is_empty(),
        "unknown modules"
    );
}
