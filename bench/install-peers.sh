#!/usr/bin/env bash
# Install the non-Rust peer of the benchmark harness (bench/run.sh): Go 1.23,
# Debian's golang-1.23-go from the <codename>-backports suite (the binary is
# /usr/lib/go-1.23/bin/go; run.sh looks for it there first).
#
#   bench/install-peers.sh
#
# - The backports suite is added by copying this machine's own Debian source
#   entry (the deb822 stanza in /etc/apt/sources.list.d/*.sources, or the
#   `deb` line in /etc/apt/sources.list, whose suite is the release codename)
#   with the suite replaced by <codename>-backports, into
#   /etc/apt/sources.list.d/bamboo-bench-backports.sources. No mirror is
#   named here: the entry keeps whatever URI and keyring the machine uses.
# - If golang-1.23-go cannot be installed, it falls back to Debian's
#   golang-go (Go 1.19 on bookworm) and says so: compare ratios from one run
#   only, and note the Go version (run.sh prints it).
# - Idempotent and non-interactive: a second run changes nothing. Needs root
#   (or sudo) for apt-get.
set -euo pipefail

GO123=/usr/lib/go-1.23/bin/go
if [ -x "$GO123" ]; then
    echo "go 1.23 already installed: $("$GO123" version) ($GO123)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-peers.sh: need root or sudo for apt-get" >&2
        exit 1
    fi
fi

CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if [ -z "$CODENAME" ]; then
    echo "install-peers.sh: /etc/os-release has no VERSION_CODENAME (not Debian?)" >&2
    exit 1
fi
BACKPORTS="$CODENAME-backports"
LIST=/etc/apt/sources.list.d/bamboo-bench-backports.sources

# Prints a deb822 stanza for $BACKPORTS derived from the machine's first
# Debian source entry whose suites include $CODENAME itself (not -security,
# -updates, ...). Prints nothing when there is none.
derive_backports_entry() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && [ "$f" != "$LIST" ] || continue
        # Stanzas are separated by blank lines; comments are dropped.
        if awk -v suite="$CODENAME" -v bp="$BACKPORTS" '
            BEGIN { RS = ""; FS = "\n"; found = 0 }
            found == 0 {
                keep = ""; match_suite = 0
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^Suites:/) {
                        n = split(substr(line, 8), s, /[ \t]+/)
                        for (j = 1; j <= n; j++) if (s[j] == suite) match_suite = 1
                        line = "Suites: " bp
                    }
                    keep = keep line "\n"
                }
                if (match_suite && keep ~ /(^|\n)Types:[^\n]*deb/) {
                    printf "%s", keep; found = 1
                }
            }
            END { exit found ? 0 : 1 }' "$f"; then
            return 0
        fi
    done
    # One-line format: `deb [options] URI SUITE COMPONENTS...`.
    if [ -f /etc/apt/sources.list ]; then
        awk -v suite="$CODENAME" -v bp="$BACKPORTS" '
            $1 == "deb" {
                i = 2
                opts = ""
                if ($2 ~ /^\[/) {            # [ options ], possibly several words
                    while (i <= NF && $i !~ /\]$/) { opts = opts " " $i; i++ }
                    opts = opts " " $i; i++
                }
                if ($(i + 1) != suite) next
                printf "Types: deb\nURIs: %s\nSuites: %s\nComponents:", $i, bp
                for (k = i + 2; k <= NF; k++) printf " %s", $k
                printf "\n"
                if (match(opts, /signed-by=[^] ]+/))
                    printf "Signed-By: %s\n", substr(opts, RSTART + 10, RLENGTH - 10)
                exit
            }' /etc/apt/sources.list
    fi
}

suite_configured() { # is $BACKPORTS in any source entry already?
    grep -rqsE "(^Suites:.*[[:space:]]|^deb[[:space:]].*[[:space:]])$BACKPORTS([[:space:]]|$)" \
        /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

export DEBIAN_FRONTEND=noninteractive
if suite_configured; then
    echo "$BACKPORTS: already in the apt sources"
else
    entry="$(derive_backports_entry)"
    if [ -z "$entry" ]; then
        echo "WARNING: found no Debian source entry for suite $CODENAME to copy;" \
            "cannot add $BACKPORTS" >&2
    else
        echo "adding $BACKPORTS to $LIST (copied from this machine's $CODENAME entry)"
        printf '# Added by bamboo bench/install-peers.sh: golang-1.23-go\n%s\n' "$entry" \
            | $SUDO tee "$LIST" >/dev/null
    fi
fi

$SUDO apt-get update -qq
if $SUDO apt-get install -y -qq -t "$BACKPORTS" golang-1.23-go >/dev/null; then
    echo "installed: $("$GO123" version) ($GO123)"
    exit 0
fi

echo "WARNING: golang-1.23-go from $BACKPORTS could not be installed;" \
    "falling back to Debian's golang-go (an older Go: the Go column is then" \
    "not Go 1.23; run.sh prints the version it used)" >&2
if command -v go >/dev/null 2>&1; then
    echo "go already installed: $(go version)"
    exit 0
fi
$SUDO apt-get install -y -qq golang-go >/dev/null
echo "installed: $(go version)"
