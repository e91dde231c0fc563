"""Cost of the survival and heterogeneity analyses next to the feature stage.

Runs the study (no temporal validation) on synthetic data, then
:func:`~milestone_discovery.survival.survival_analysis` on every milestone of
the scored accounts and
:func:`~milestone_discovery.heterogeneity.effect_heterogeneity` on the
selected features, and prints their time against the feature stage's
(``study.timings["features"]``), and how many accounts the survival view uses
against the fixed-horizon retention population.

    python benchmarks/bench_survival.py --accounts 20000

Target (issue 14): both analyses together <= 50% of the feature stage at 20k
accounts; the survival analysis uses more accounts than the fixed-horizon study.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from milestone_discovery import Config, run_study
from milestone_discovery.heterogeneity import effect_heterogeneity
from milestone_discovery.survival import milestone_columns, survival_analysis
from milestone_discovery.synth import make_synthetic


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    config = Config()
    config.study.seed = args.seed
    syn = make_synthetic(args.accounts, seed=args.seed)
    dataset = syn.to_dataset()
    study = run_study(dataset, config, progress=False, temporal=False)
    feature_stage = study.timings["features"]

    t0 = time.perf_counter()
    survival = survival_analysis(
        dataset.accounts,
        milestone_columns(study.accounts),
        as_of=dataset.as_of,
        observation_days=config.study.observation_days,
        horizon_days=config.study.horizon_days,
        alpha=config.features.alpha,
    )
    t_survival = time.perf_counter() - t0

    pop = study.population
    selected = list(study.features.selected)
    t0 = time.perf_counter()
    hetero = effect_heterogeneity(
        pop.flags[selected], pop.retained, pop.segments, alpha=config.features.alpha
    )
    t_hetero = time.perf_counter() - t0
    added = t_survival + t_hetero

    print(f"accounts generated               {args.accounts:>10,}")
    print(f"feature stage (s)                {feature_stage:>10.2f}")
    n_milestones = len(survival.milestones)
    print(f"survival analysis (s)            {t_survival:>10.2f}   ({n_milestones} milestones)")
    print(f"heterogeneity analysis (s)       {t_hetero:>10.2f}   ({len(selected)} features)")
    print(f"added / feature stage            {added / feature_stage:>10.1%}   (target <= 50%)")
    print(
        f"survival accounts (landmark)     {survival.accounts:>10,}   ({survival.events:,} churned)"
    )
    print(f"fixed-horizon population         {pop.n_eligible:>10,}")
    print(f"survival / fixed-horizon         {survival.accounts / pop.n_eligible:>10.2f}x")
    t = survival.to_frame().set_index("milestone")
    print("hazard ratios (reached vs not, adjusted):")
    for name, r in t.iterrows():
        if pd.isna(r["reason"]):
            ci = f"({r['hazard_ratio_low']:.2f}-{r['hazard_ratio_high']:.2f})"
            print(f"  {name:<34}{r['hazard_ratio']:>6.2f}  {ci}  PH p={r['ph_p_value']:.2g}")
        else:
            print(f"  {name:<34}{r['reason']}")
    flagged = hetero.segment_specific
    print(f"segment-specific features: {flagged or 'none'}")


if __name__ == "__main__":
    main()
