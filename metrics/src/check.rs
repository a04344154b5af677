//! [`check`]: the equalities `read_consistent` guarantees, as a list of
//! broken ones (empty when all hold).

use super::*;

/// One broken equality found by [`check`]; its `Display` is one line such
/// as `/stack/grows:events == MemStats.grows: 8 != 9 (diff -1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What was compared, e.g. `/stack/grows:events == MemStats.grows`.
    pub what: String,
    /// The left side (the metric, or the computed sum).
    pub left: u64,
    /// The right side (the MemStats field).
    pub right: u64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.left as i128 - self.right as i128;
        write!(
            f,
            "{}: {} != {} (diff {d:+})",
            self.what, self.left, self.right
        )
    }
}

/// Check the equalities that [`read_consistent`] guarantees between `mem`
/// and `samples` (docs/metrics.md, "What `read_consistent` guarantees": the
/// required table and every other metric with a MemStats field), plus the
/// sums within each side:
/// - every `Uint64` sample whose metric names a MemStats field equals it
///   (except the spawn counts, which plain threads may bump at any time);
/// - `/memory/classes/total:bytes` == the sum of the other classes in the
///   samples, and `mem.sys` == the sum of its class fields;
/// - `mem.stack_mapped == stack_inuse + stack_cached + stack_released`, and
///   the same for the samples.
///
/// Samples that are missing, unknown or of another kind are not checked.
/// Returns every broken equality (empty when all hold).
///
/// ```
/// use bamboo_metrics::{all_samples, check, read_consistent, MemStats};
/// let rt = bamboo::Runtime::builder().workers(1).build().unwrap();
/// let (mut mem, mut samples) = (MemStats::default(), all_samples());
/// read_consistent(&rt.handle(), &mut mem, &mut samples);
/// assert!(check(&mem, &samples).is_empty());
///
/// mem.grows += 1; // what a read racing with a stack switch would see
/// let broken = check(&mem, &samples);
/// assert_eq!(broken.len(), 1);
/// assert!(broken[0].to_string().starts_with("/stack/grows:events == MemStats.grows"));
/// ```
pub fn check(mem: &MemStats, samples: &[Sample]) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut classes_sum: u64 = 0;
    let mut classes_seen = 0;
    let mut total = None;
    let mut mapped = None;
    let mut stack_sum: u64 = 0;
    let mut stack_seen = 0;
    for s in samples {
        let (Some(i), Some(v)) = (index_of(&s.name), s.value.as_u64()) else {
            continue;
        };
        let name = METRICS[i].desc.name;
        if let Source::U {
            get, field, exact, ..
        } = METRICS[i].src
        {
            let want = get(mem);
            if exact && v != want {
                out.push(Mismatch {
                    what: format!("{name} == MemStats.{field}"),
                    left: v,
                    right: want,
                });
            }
        }
        match name {
            "/memory/classes/total:bytes" => total = Some(v),
            "/stack/mapped:bytes" => mapped = Some(v),
            _ => {}
        }
        if let Some(class) = name.strip_prefix("/memory/classes/") {
            if !class.starts_with("total:") {
                classes_sum = classes_sum.wrapping_add(v);
                classes_seen += 1;
            }
        }
        if matches!(
            name,
            "/memory/classes/stacks/inuse:bytes"
                | "/memory/classes/stacks/cached:bytes"
                | "/memory/classes/stacks/released:bytes"
        ) {
            stack_sum = stack_sum.wrapping_add(v);
            stack_seen += 1;
        }
    }
    if let (Some(t), 4) = (total, classes_seen) {
        if t != classes_sum {
            out.push(Mismatch {
                what: "/memory/classes/total:bytes == sum of the other /memory/classes/".into(),
                left: classes_sum,
                right: t,
            });
        }
    }
    if let (Some(m), 3) = (mapped, stack_seen) {
        if m != stack_sum {
            out.push(Mismatch {
                what: "/stack/mapped:bytes == inuse + cached + released".into(),
                left: stack_sum,
                right: m,
            });
        }
    }
    let sys = mem
        .stack_inuse
        .wrapping_add(mem.stack_cached)
        .wrapping_add(mem.stack_released)
        .wrapping_add(mem.os_stacks);
    if sys != mem.sys {
        out.push(Mismatch {
            what: "MemStats.sys == stack_inuse + stack_cached + stack_released + os_stacks".into(),
            left: sys,
            right: mem.sys,
        });
    }
    let mapped = mem
        .stack_inuse
        .wrapping_add(mem.stack_cached)
        .wrapping_add(mem.stack_released);
    if mapped != mem.stack_mapped {
        out.push(Mismatch {
            what: "MemStats.stack_mapped == stack_inuse + stack_cached + stack_released".into(),
            left: mapped,
            right: mem.stack_mapped,
        });
    }
    out
}
