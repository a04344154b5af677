#!/usr/bin/env bash
# docs/api.md lists every public item of bamboo and bamboo_metrics, and
# nothing else: its item column (rows "| `crate::path` |") must equal
# rustdoc's list of all items (target/doc/<crate>/all.html, from
# `cargo doc --workspace --no-deps`, which scripts/test.sh runs first).
# Test hooks must not be in a default build's docs at all.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
status=0
for crate in bamboo bamboo_metrics; do
    all="$target/doc/$crate/all.html"
    [ -f "$all" ] || { echo "check-api: $all missing (run cargo doc first)" >&2; exit 1; }
    documented=$(sed 's/<li>/\n<li>/g' "$all" |
        sed -n 's|^<li><a href="[^"#]*">\([^<]*\)</a></li>.*|\1|p' |
        sed "s|^|$crate::|" | sort -u)
    listed=$(sed -n "s/^| \`\($crate::[A-Za-z0-9_:]*\)\` |.*/\1/p" docs/api.md | sort -u)
    missing=$(comm -23 <(printf '%s\n' "$documented") <(printf '%s\n' "$listed"))
    extra=$(comm -13 <(printf '%s\n' "$documented") <(printf '%s\n' "$listed"))
    if [ -n "$missing" ]; then
        echo "check-api: public in $crate but not in docs/api.md:" $missing >&2
        status=1
    fi
    if [ -n "$extra" ]; then
        echo "check-api: in docs/api.md but not public in $crate:" $extra >&2
        status=1
    fi
    if grep -q "test_hooks" "$all"; then
        echo "check-api: $crate's default docs show test_hooks (the test-hooks feature leaked)" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "check-api: docs/api.md lists exactly the public items"
exit "$status"
