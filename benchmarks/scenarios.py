"""The scenario suite: the whole study on every `milestones synth` preset,
against its planted truth.

For each preset and seed it prints: eligible accounts and retention, the
number of selected features, F1 against the planted drivers, any trap
selected, the ``shape`` found for activation, utilization and maturity next
to the planted one, ``m`` and kappa of "mature overall" against the planted
rule (where a step is planted), and the seconds the study took.

    python benchmarks/scenarios.py --accounts 20000 --seeds 0 1 2
    python benchmarks/scenarios.py --scenarios null engagement_null --seeds 0
    python benchmarks/scenarios.py --scenarios engagement_null default --early-activity

Targets (issue 9): F1 >= 0.9 (null: at most one feature selected), no trap
selected, shapes right, kappa >= 0.8 wherever a step is planted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from milestone_discovery import Config, run_study
from milestone_discovery.synth import SCENARIOS, make_synthetic, recovery


def run_one(scenario: str, n: int | None, seed: int, early_activity: bool = False) -> dict:
    syn = (
        make_synthetic(n, seed=seed, scenario=scenario)
        if n
        else make_synthetic(seed=seed, scenario=scenario)
    )
    config = Config()
    config.study.seed = seed
    config.features.adjust_for_early_activity = early_activity
    t0 = time.perf_counter()
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False, secondary=False)
    seconds = time.perf_counter() - t0
    return {
        "scenario": scenario,
        "seed": seed,
        "eligible": study.population.n_eligible,
        "retention": study.population.retention_rate,
        **recovery(study, syn.truth),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--accounts", type=int, default=20000, help="0: each preset's own default size"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument(
        "--early-activity", action="store_true", help="features.adjust_for_early_activity = true"
    )
    args = parser.parse_args()
    for scenario in args.scenarios:
        for seed in args.seeds:
            n = None if scenario == "small" or not args.accounts else args.accounts
            r = run_one(scenario, n, seed, args.early_activity)
            shapes = " ".join(
                f"{k[:4]}={r['shape'][k]}/{r['planted_shape'].get(k, '?')}" for k in r["shape"]
            )
            print(
                f"{r['scenario']:<16} seed={r['seed']} eligible={r['eligible']:>6} "
                f"ret={r['retention']:.3f} "
                f"selected={r['selected']:>2}/{r['drivers']:<2} F1={r['f1']:.3f} "
                f"traps={r['traps'] or '-'} "
                f"{shapes} m={r['m']}/{r['planted_m']} kappa={r['kappa']:.3f} {r['seconds']:.0f}s"
                + (f"\n{'':<18}other selected: {', '.join(r['others'])}" if r["others"] else ""),
                flush=True,
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
