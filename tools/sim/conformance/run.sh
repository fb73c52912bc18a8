#!/usr/bin/env bash
# Conformance with a third-party client: python-kraken-sdk==3.5.1 (from PyPI) against kraken-sim,
# unmodified but for its URLs. Creates (and caches) a venv under target/, builds and starts the
# simulator binary, runs the checks, stops the simulator.
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=target/pks-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import kraken" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-kraken-sdk==3.5.1
fi
cargo build --quiet -p kraken-sim
out=$(mktemp)
target/debug/kraken-sim --quiet-market --tier pro >"$out" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^api-secret:' "$out" && break; sleep 0.05; done
field() { sed -n "s/^$1: //p" "$out"; }
# The SDK appends /v2 to its base URL itself.
SIM_WS=$(field ws | sed "s|/v2$||") SIM_REST=$(field rest) SIM_KEY=$(field api-key) SIM_SECRET=$(field api-secret) \
  "$venv/bin/python" tools/sim/conformance/conformance.py
