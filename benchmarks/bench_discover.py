"""Wall time of the whole `discover` run against one 300-tree forest fit.

Writes a synthetic dataset of the given size to a temporary folder, times
ONE fit of a 300-tree forest of the study's kind on the eligible accounts'
matrix (flags + covariates), then times `discover` on the folder (loading,
every stage, the run folder and the report, as `milestones discover` does)
and prints both, the ratio and where the time went.

    python benchmarks/bench_discover.py --accounts 20000

Targets: discover on 20k accounts <= 10x one 300-tree fit (issue 9); on 1M
accounts <= 10 min and <= 8 GB peak memory (issue 11; the peak printed is
the whole process's, data generation included).

For the memory of ``discover`` alone, give a dataset folder written before
(``milestones synth --accounts 1000000 --format parquet --out /tmp/syn1m``) and
skip the reference fit; the peak is then that of loading and every stage:

    python benchmarks/bench_discover.py --dataset /tmp/syn1m --no-fit
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from milestone_discovery import Config, build_population, load_dataset
from milestone_discovery.importance import importance_forest
from milestone_discovery.study import discover
from milestone_discovery.synth import make_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="default")
    parser.add_argument(
        "--dataset",
        type=Path,
        help="an existing dataset folder to run on (no synthetic data generated; "
        "--accounts, --scenario ignored)",
    )
    parser.add_argument(
        "--no-fit",
        action="store_true",
        help="skip the reference 300-tree fit: the peak memory is then discover's own",
    )
    args = parser.parse_args()

    config = Config()
    config.study.seed = args.seed
    with tempfile.TemporaryDirectory() as tmp:
        syn = None
        if args.dataset is not None:
            folder = args.dataset
        else:
            syn = make_synthetic(args.accounts, seed=args.seed, scenario=args.scenario)
            folder = syn.write(Path(tmp) / "data")
        one_fit = X = n_eligible = None
        if not args.no_fit:
            dataset = syn.to_dataset() if syn is not None else load_dataset(folder, config)
            population = build_population(dataset, config)
            X = np.hstack(
                [population.flags.to_numpy(np.float32), population.covariates.to_numpy(np.float32)]
            )
            y = population.retained.to_numpy(int)
            n_eligible = population.n_eligible
            del dataset, population
            t0 = time.perf_counter()
            importance_forest(config.features, args.seed, n_estimators=300).fit(X, y)
            one_fit = time.perf_counter() - t0

        t0 = time.perf_counter()
        study = discover(folder, Path(tmp) / "run", config, progress=False)
        total = time.perf_counter() - t0

    accounts = args.accounts if args.dataset is None else len(study.dataset.accounts)
    n_eligible = study.population.n_eligible if n_eligible is None else n_eligible
    print(f"accounts                  {accounts:>10,}")
    print(f"eligible accounts         {n_eligible:>10,}")
    if one_fit is not None:
        print(f"matrix                    {X.shape[0]:>6,} x {X.shape[1]}")
        print(f"one 300-tree fit (s)      {one_fit:>10.1f}")
    print(f"discover (s)              {total:>10.1f}")
    if one_fit is not None:
        print(f"discover / one fit        {total / one_fit:>10.1f}x")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(f"peak memory (GiB)         {peak:>10.2f}")
    print("where the time went (s):")
    for step, seconds in study.timings.items():
        print(f"  {step:<24}{seconds:>8.1f}")


if __name__ == "__main__":
    main()
