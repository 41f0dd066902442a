"""Peak memory and wall time of ``mmd2`` on large samples, on the CPU.

Each configuration runs in a fresh child process, so that its peak resident set size (the
kernel's ``ru_maxrss`` / ``VmHWM`` of that process) measures that configuration alone. A child
imports domadapt, draws two float32 samples (``n x d`` each, the second shifted by 0.05 in every
coordinate), records its peak RSS so far (interpreter, torch and data), calls the unbiased
Gaussian ``mmd2`` with the median-heuristic bandwidth, and reports the new peak, the wall time
and the CPU time (which, unlike the wall time, hardly depends on other load on a shared machine).

The dense computation would hold the kernel matrices ``K_XX``, ``K_YY`` and ``K_XY``:
``3 n^2`` float32 values (27.9 GiB at n = 50,000); ``mmd2`` holds a few
``chunk_size x chunk_size`` blocks instead.

Usage::

    python benchmarks/mmd_memory.py                       # 50,000 x 256, chunk 1024/2048/4096
    python benchmarks/mmd_memory.py --n 5000 --chunk-sizes 512 2048     # a quick check
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

GIB = 1024**3
MIB = 1024**2


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def run_child(n: int, d: int, chunk_size: int) -> None:
    """Measure one configuration in this (child) process and print one JSON line."""
    import numpy as np
    import torch

    from domadapt.discrepancy import mmd2

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    Y = rng.standard_normal((n, d), dtype=np.float32) + np.float32(0.05)
    before = _peak_rss_bytes()
    start, cpu_start = time.perf_counter(), time.process_time()
    value = mmd2(X, Y, estimator="unbiased", bandwidth="median", chunk_size=chunk_size)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        json.dumps(
            {
                "n": n,
                "d": d,
                "chunk_size": chunk_size,
                "mmd2": value,
                "wall_s": wall,
                "cpu_s": cpu,
                "load_avg_1min_after": os.getloadavg()[0],
                "rss_before_bytes": before,
                "peak_rss_bytes": _peak_rss_bytes(),
                "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="rows per domain")
    parser.add_argument("--d", type=int, default=256, help="features")
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.n, args.d, args.chunk_sizes[0])
        return

    rows = []
    for cs in args.chunk_sizes:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--n", str(args.n)]
        cmd += ["--d", str(args.d), "--chunk-sizes", str(cs)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(f"chunk_size={cs}: done in {rows[-1]['wall_s']:.0f} s", file=sys.stderr)

    n, d = args.n, args.d
    dense = 3 * n * n * 4
    print(f"`mmd2` (unbiased, Gaussian, median bandwidth), {n:,} x {d} float32 per domain, CPU")
    print()
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {rows[0]['torch']} "
        f"({rows[0]['threads']} threads), Python {platform.python_version()}; "
        f"date {datetime.date.today().isoformat()}."
    )
    print(f"Dense kernel matrices avoided (K_XX, K_YY, K_XY in float32): {dense / GIB:.1f} GiB.")
    print()
    print(
        "| chunk_size | MMD² | wall time (s) | CPU time (s) | load avg after | RSS before call "
        "(MiB) | peak RSS (MiB) | added by mmd2 (MiB) | one block (MiB) |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        added = r["peak_rss_bytes"] - r["rss_before_bytes"]
        block = r["chunk_size"] ** 2 * 4
        print(
            f"| {r['chunk_size']} | {r['mmd2']:.6f} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} "
            f"| {r['load_avg_1min_after']:.1f} | {r['rss_before_bytes'] / MIB:.0f} "
            f"| {r['peak_rss_bytes'] / MIB:.0f} | {added / MIB:.0f} | {block / MIB:.0f} |"
        )


if __name__ == "__main__":
    main()
