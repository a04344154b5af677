#!/usr/bin/env bash
# Tools of bench/net/run.sh: wrk (Debian's package) and Go (bench/install-peers.sh).
# Idempotent and non-interactive; needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v wrk >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
echo "wrk: $(command -v wrk)"
bash ../install-peers.sh
