"""Speed and memory of the feature-discovery stage.

Prints, for synthetic data of the given size: the time of ONE fit of a
300-tree forest of the study's kind on the full eligible matrix, the time of the whole stage
(`discover_features`) and the ratio, where the time goes, and the peak
resident memory of the process.

    python benchmarks/bench_features.py --accounts 20000
    python benchmarks/bench_features.py --accounts 200000

Targets (issue 3): 20k accounts <= 60 s and <= 10x one fit; 200k accounts
<= 10 min with peak memory <= 4 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from milestone_discovery import Config, build_population
from milestone_discovery.features import discover_features
from milestone_discovery.importance import importance_forest
from milestone_discovery.synth import make_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-depth", type=int, default=None, help="override features.max_depth")
    parser.add_argument("--repeats", type=int, default=None, help="override features.n_repeats")
    args = parser.parse_args()

    config = Config()
    config.study.seed = args.seed
    if args.max_depth is not None:
        config.features.max_depth = args.max_depth
    if args.repeats is not None:
        config.features.n_repeats = args.repeats
    t0 = time.perf_counter()
    syn = make_synthetic(args.accounts, seed=args.seed)
    population = build_population(syn.to_dataset(), config)
    t_data = time.perf_counter() - t0
    X = np.hstack(
        [population.flags.to_numpy(np.float32), population.covariates.to_numpy(np.float32)]
    )
    y = population.retained.to_numpy(int)

    t0 = time.perf_counter()
    importance_forest(config.features, args.seed, n_estimators=300).fit(X, y)
    one_fit = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = discover_features(population, config, progress=False)
    stage = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"accounts generated        {args.accounts:>10,}")
    print(f"eligible accounts         {population.n_eligible:>10,}")
    print(f"features                  {population.flags.shape[1]:>10}")
    print(f"data + population (s)     {t_data:>10.1f}")
    print(f"one 300-tree fit (s)       {one_fit:>10.1f}")
    print(f"feature stage (s)         {stage:>10.1f}")
    print(f"stage / one fit           {stage / one_fit:>10.1f}x")
    print(f"peak memory (GB)          {peak_gb:>10.2f}")
    print("where the time goes (s):")
    for step, seconds in result.timings.items():
        print(f"  {step:<24}{seconds:>8.1f}")
    drivers = {f for f, v in syn.truth["features"].items() if v["role"] == "driver"}
    chosen = set(result.selected)
    f1 = 2 * len(drivers & chosen) / (len(drivers) + len(chosen)) if chosen else 0.0
    print(f"selected {len(chosen)} features; F1 vs planted drivers {f1:.3f}")


if __name__ == "__main__":
    main()
