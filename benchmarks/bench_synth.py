"""Benchmark: generate 100k synthetic accounts and write them as CSV.

Target: generation + write < 30 s on 2 cores.

Usage::

    python benchmarks/bench_synth.py [--accounts 100000] [--seed 1] [--fmt csv]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from milestone_discovery.synth import make_synthetic

TARGET_SECONDS = 30.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fmt", choices=["csv", "parquet"], default="csv")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    ds = make_synthetic(args.accounts, seed=args.seed)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = ds.write(tmp, fmt=args.fmt)
        t2 = time.perf_counter()
        size_mb = sum(p.stat().st_size for p in out.iterdir()) / 1e6

    print(f"accounts: {args.accounts:,}  seed: {args.seed}  format: {args.fmt}")
    for name, frame in ds.tables().items():
        print(f"  {name:<16} {len(frame):>12,} rows")
    print(f"generation  {t1 - t0:7.2f} s")
    print(f"write       {t2 - t1:7.2f} s  ({size_mb:.1f} MB)")
    total = t2 - t0
    print(f"total       {total:7.2f} s  (target < {TARGET_SECONDS:.0f} s)")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
