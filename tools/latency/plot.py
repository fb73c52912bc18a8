"""Plots HdrHistogram percentile files (.hgrm) from the latency harness as latency by percentile.

Usage: plot.py DIR OUT.png [NAME ...]
NAME is a .hgrm file name without its extension (default: the round trips of the floors, the
engine and the peers). Runs in the peers' venv (tools/latency/peers/setup.sh installs matplotlib).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter  # noqa: E402

DEFAULT = [
    "floor_tcp",
    "floor_tls_ws",
    "kraken_exec_add_to_ack",
    "kraken_exec_sim_add_to_ack",
    "peer_kraken_async_rs_add_to_ack",
    "peer_python_kraken_sdk_add_to_ack",
]

LABELS = {
    "floor_tcp": "floor: raw TCP ping-pong",
    "floor_tls_ws": "floor: TLS + WebSocket ping-pong",
    "kraken_exec_add_to_ack": "kraken-exec add_order -> ack (reflector)",
    "kraken_exec_sim_add_to_ack": "kraken-exec add_order -> ack (kraken-sim)",
    "peer_kraken_async_rs_add_to_ack": "kraken-async-rs add_order -> ack (reflector)",
    "peer_python_kraken_sdk_add_to_ack": "python-kraken-sdk add_order -> ack (reflector)",
}


def read(path: Path):
    """(x = 1/(1-percentile), latency in µs) points of a .hgrm file."""
    xs, ys = [], []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 4 or line.startswith("#"):
            continue
        try:
            value, pct, inv = float(parts[0]), float(parts[1]), float(parts[3])
        except ValueError:
            continue
        if pct >= 1.0 or inv == float("inf"):
            continue
        xs.append(inv)
        ys.append(value)
    return xs, ys


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    names = sys.argv[3:] or DEFAULT
    fig, ax = plt.subplots(figsize=(10, 6))
    for name in names:
        f = src / f"{name}.hgrm"
        if not f.exists():
            continue
        xs, ys = read(f)
        ax.plot(xs, ys, label=LABELS.get(name, name), linewidth=1.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _: f"p{100 * (1 - 1 / x):g}" if x > 1 else "p0")
    )
    ax.set_xlim(1, 20000)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (µs, log)")
    ax.set_title("add_order round trip on loopback, one run (2-vCPU VM)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
