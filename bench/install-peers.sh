#!/usr/bin/env bash
# Install the non-Rust peers of the benchmark harness (bench/run.sh).
# Today that is only Go (Debian's golang-go: Go 1.19 on bookworm).
# Idempotent and non-interactive; needs root (or sudo) for apt-get.
set -euo pipefail

if command -v go >/dev/null 2>&1; then
    echo "go already installed: $(go version)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-peers.sh: need root or sudo to apt-get install golang-go" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq golang-go >/dev/null
echo "installed: $(go version)"
