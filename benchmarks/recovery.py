"""Recovery of planted truth on the project's generator, over several seeds.

For each seed: feature selection vs planted drivers (F1, traps selected,
traps with the wrong reason), maturity (Cohen's kappa of "mature overall"
vs planted, ARI of the co-adoption clusters vs planted categories, k per
category and m equal to planted), and journey thresholds (activation,
utilization: relative error; setup checklist equal to planted drivers).

    python benchmarks/recovery.py --accounts 20000 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from sklearn.metrics import adjusted_rand_score, cohen_kappa_score

from milestone_discovery import Config, run_study
from milestone_discovery.synth import make_synthetic, planted_maturity

TRAPS = ("ubiquitous", "niche", "segment", "confounded", "leaky", "negative", "survivor")


def recover(n_accounts: int, seed: int) -> dict:
    t0 = time.perf_counter()
    syn = make_synthetic(n_accounts, seed=seed)
    truth = syn.truth
    config = Config()
    config.study.seed = seed
    study = run_study(syn.to_dataset(), config, progress=False, temporal=False)
    pop, feats, mat, jour = study.population, study.features, study.maturity, study.journey

    table = feats.features.set_index("feature")
    role = {f: s["role"] for f, s in truth["features"].items()}
    drivers = {f for f, r in role.items() if r == "driver"}
    selected = set(feats.selected)
    f1 = 2 * len(drivers & selected) / (len(drivers) + len(selected)) if selected else 0.0
    traps = [f for f, r in role.items() if r in TRAPS]
    wrong = [f for f in traps if table.loc[f, "status"] != truth["features"][f]["expected_status"]]
    planted = planted_maturity(pop.flags, truth)
    kappa = cohen_kappa_score(planted["mature"], mat.levels["mature"].reindex(planted.index))
    a = mat.assignments
    ari = adjusted_rand_score(
        a["feature"].map(lambda f: truth["features"][f]["category"]), a["data_cluster"]
    )
    found_k = mat.categories.set_index("category")["min_features"]
    k_ok = all(found_k.get(c["name"]) == c["k"] for c in truth["categories"])
    act, util = truth["activation"]["threshold"], truth["utilization"]["per_seat_threshold"]
    return {
        "seed": seed,
        "eligible": pop.n_eligible,
        "selected": len(selected),
        "F1": f1,
        "traps_selected": sum(table.loc[f, "status"] == "selected" for f in traps),
        "traps_wrong_reason": ", ".join(wrong) or "-",
        "kappa_mature": kappa,
        "ARI_clusters": ari,
        "k_all_planted": k_ok,
        "m": mat.min_categories,
        "m_planted": truth["min_categories"],
        "activation": jour.activation.threshold,
        "activation_err": abs(jour.activation.threshold - act) / act,
        "utilization": jour.utilization.threshold,
        "utilization_err": abs(jour.utilization.threshold - util) / util,
        "checklist_planted": set(jour.checklist) == set(truth["setup"]["drivers"]),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        rows.append(recover(args.accounts, seed))
        print(f"seed {seed} done in {rows[-1]['seconds']:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.precision", 3):
        print(table.to_string(index=False))
    print(
        f"\nmean F1 {table['F1'].mean():.3f} (min {table['F1'].min():.3f}); "
        f"traps selected {table['traps_selected'].sum()}; "
        f"kappa min {table['kappa_mature'].min():.3f}; ARI min {table['ARI_clusters'].min():.3f}; "
        f"k = planted on {int(table['k_all_planted'].sum())}/{len(table)} seeds; "
        f"m = planted on {int((table['m'] == table['m_planted']).sum())}/{len(table)}; "
        f"activation error max {table['activation_err'].max():.1%}; "
        f"utilization error max {table['utilization_err'].max():.1%}; "
        f"checklist = planted on {int(table['checklist_planted'].sum())}/{len(table)}"
    )


if __name__ == "__main__":
    main()
