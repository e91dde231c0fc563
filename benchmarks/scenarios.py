"""The scenario suite: the whole study on every `milestones synth` preset, against its planted truth.

For each preset and seed it prints: eligible accounts and retention, the
number of selected features, F1 against the planted drivers, any trap
selected, the ``shape`` found for activation, utilization and maturity next
to the planted one, ``m`` and kappa of "mature overall" against the planted
rule (where a step is planted), and the seconds the study took.

    python benchmarks/scenarios.py --accounts 20000 --seeds 0 1 2
    python benchmarks/scenarios.py --scenarios null engagement_null --seeds 0

Targets (issue 9): F1 >= 0.9 (null: at most one feature selected), no trap
selected, shapes right, kappa >= 0.8 wherever a step is planted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import cohen_kappa_score

from milestone_discovery import Config, run_study
from milestone_discovery.synth import SCENARIOS, make_synthetic, planted_maturity

TRAPS = {"ubiquitous", "niche", "segment", "confounded", "leaky", "negative", "survivor"}


def run_one(scenario: str, n: int | None, seed: int) -> dict:
    syn = (
        make_synthetic(n, seed=seed, scenario=scenario)
        if n
        else make_synthetic(seed=seed, scenario=scenario)
    )
    config = Config()
    config.study.seed = seed
    t0 = time.perf_counter()
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False)
    seconds = time.perf_counter() - t0
    role = {f: spec["role"] for f, spec in syn.truth["features"].items()}
    drivers = {f for f, r in role.items() if r == "driver"}
    chosen = set(study.features.selected)
    f1 = (
        2 * len(chosen & drivers) / (len(chosen) + len(drivers))
        if drivers and chosen
        else float("nan")
    )
    fw = study.framework
    found = {
        "activation": fw.activation["shape"] if fw.activation else "-",
        "utilization": fw.utilization["shape"] if fw.utilization else "-",
        "maturity": fw.maturity.get("shape", "-"),
    }
    kappa = float("nan")
    if syn.truth.get("min_categories"):
        planted = planted_maturity(study.population.flags, syn.truth)["mature"]
        kappa = cohen_kappa_score(planted, study.maturity.levels["mature"].reindex(planted.index))
    return {
        "scenario": scenario,
        "seed": seed,
        "eligible": study.population.n_eligible,
        "retention": study.population.retention_rate,
        "selected": len(chosen),
        "drivers": len(drivers),
        "f1": f1,
        "traps": sorted(f for f in chosen if role.get(f) in TRAPS),
        "others": sorted(
            f"{f}({role.get(f)})" for f in chosen - drivers if role.get(f) not in TRAPS
        ),
        "shape": found,
        "planted_shape": syn.truth.get("shape", {}),
        "m": fw.min_categories,
        "planted_m": syn.truth.get("min_categories"),
        "kappa": kappa,
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
    args = parser.parse_args()
    for scenario in args.scenarios:
        for seed in args.seeds:
            n = None if scenario == "small" or not args.accounts else args.accounts
            r = run_one(scenario, n, seed)
            shapes = " ".join(
                f"{k[:4]}={r['shape'][k]}/{r['planted_shape'].get(k, '?')}" for k in r["shape"]
            )
            print(
                f"{r['scenario']:<16} seed={r['seed']} eligible={r['eligible']:>6} ret={r['retention']:.3f} "
                f"selected={r['selected']:>2}/{r['drivers']:<2} F1={r['f1']:.3f} traps={r['traps'] or '-'} "
                f"{shapes} m={r['m']}/{r['planted_m']} kappa={r['kappa']:.3f} {r['seconds']:.0f}s"
                + (f"\n{'':<18}other selected: {', '.join(r['others'])}" if r["others"] else ""),
                flush=True,
            )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
