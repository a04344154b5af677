#!/usr/bin/env bash
# Optional tools some checks use when present (they skip, and say so, without):
#   promtool  - the Prometheus output test (metrics/tests/prometheus.rs)
#   valgrind  - scripts/sanitize.sh (and its short pass in scripts/test.sh)
set -euo pipefail
missing=()
command -v promtool > /dev/null 2>&1 || missing+=(prometheus)
command -v valgrind > /dev/null 2>&1 || missing+=(valgrind)
if [ "${#missing[@]}" != 0 ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
promtool --version | head -1
valgrind --version
