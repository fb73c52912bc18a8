#!/usr/bin/env bash
# Sets up the latency harness's peer clients (idempotent):
#   - a venv at target/peers/venv with python-kraken-sdk==3.5.1, for python_peer.py;
#   - tools/latency/peers/kraken-async-rs-peer, built into target/peers/cargo (its own
#     workspace and Cargo.lock, outside the main workspace).
# Prints the two commands at the end. Extra cargo flags (e.g. -j 1) may be passed via CARGO_FLAGS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
venv=target/peers/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c \
    'import importlib.metadata as m, sys; sys.exit(m.version("python-kraken-sdk") != "3.5.1")' 2>/dev/null; then
  mkdir -p target/peers
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check python-kraken-sdk==3.5.1
fi
# The harness plots its histograms with matplotlib (tools/latency/plot.py).
if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check matplotlib
fi
# shellcheck disable=SC2086
cargo build --release ${CARGO_FLAGS:-} \
  --manifest-path tools/latency/peers/kraken-async-rs-peer/Cargo.toml \
  --target-dir target/peers/cargo
echo "python: $root/$venv/bin/python $root/tools/latency/peers/python_peer.py"
echo "kraken-async-rs: $root/target/peers/cargo/release/kraken-async-rs-peer"
