"""Instructions per unit of work by owner, from two callgrind outputs of the same program run
for N1 and N2 units: (B - A) / (N2 - N1) per bucket.

    python3 tools/latency/cgbucket.py callgrind.out.A callgrind.out.B DIV

A line of callgrind's output belongs to simd-json when its source file is simd-json's (or
simdutf8's), or when it is std code inlined into a simd-json function; to us when its file is
in this repository's `src/`, or it is std code inlined into one of our functions.
"""
import collections
import os
import re
import subprocess
import sys

REPO_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def load(path):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    buckets = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        n = int(m.group(1).replace(",", ""))
        file, _, func = m.group(2).partition(":")
        if "simd-json" in file or "simdutf8" in file:
            owner = "simd-json"
        elif file.startswith(REPO_SRC):
            owner = "ours"
        elif func.startswith("simd_json"):
            owner = "simd-json"
        elif func.startswith("kraken_exec"):
            owner = "ours"
        elif re.search(r"mem(cpy|set|move|cmp)", func):
            owner = "libc mem*"
        else:
            owner = "other"
        buckets[owner] += n
    return buckets


a, b, div = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
for k in sorted(set(a) | set(b)):
    print(f"{k:10} {(b[k] - a[k]) / div:9.0f}")
