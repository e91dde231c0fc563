"""Our feature discovery vs naive top-k baselines, judged against the planted truth.

On the same synthetic data (one data set per seed) this compares

* ours      ``discover_features(population, config).selected`` (with its
            leaky / ubiquitous / niche / segment / negative / confounded
            filters and stability selection);
* phi       top-k features by |phi| between flag and retention;
* impurity  top-k by the impurity importance of the study's forest
            (``importance.importance_forest``) fitted on flags + covariates;
* perm      top-k by ``sklearn.inspection.permutation_importance`` of the
            same forest (fitted on a stratified 50% split, scored on the other
            half, ``n_repeats=5``, ``scoring="roc_auc"``);
* logit     a parametric conditional test (no k): one logistic regression of
            retention on every flag within the prevalence screen plus the
            covariates, one-sided Wald test of each flag's coefficient > 0,
            Benjamini-Hochberg at ``alpha`` -- the most powerful conditional
            test when effects are additive on the log-odds scale, so it shows
            how much a scenario allows a conditional test to find;
* boruta    BorutaPy's confirmed features (no k), with the study's forest
            and ``n_estimators="auto"`` (optional: ``pip install Boruta``, the
            ``bench`` extra).

k is the number of planted drivers: the top-k baselines are given this
ORACLE k, which real analysts do not have. Baselines see ALL features
(leaky, ubiquitous, niche... included), as a naive analyst would; the
covariates (size, seats, plan) are in the forests' inputs but never
selectable. For every method and seed the script prints the selected count,
precision / recall / F1 vs the planted drivers, the trap features selected
(roles ubiquitous, niche, segment, confounded, leaky, negative, survivor),
the proxies (and neutrals) selected, the wall time and the process CPU time,
then a summary averaged over seeds.

    python benchmarks/bench_feature_methods.py
    python benchmarks/bench_feature_methods.py --accounts 20000 --seeds 0 1 2 --boruta-max-iter 50
    python benchmarks/bench_feature_methods.py --scenario imbalanced --no-boruta

The default run needs about 4.5 minutes of CPU; on 2 cores it took 3.8 minutes
wall clock when the cores were not shared with other work (longer under load).
``--no-boruta`` saves about a third.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

# BorutaPy releases before 0.4 use aliases removed in numpy 2 (np.int, np.float,
# np.bool); restore them before boruta is imported so that old releases still run.
for _alias, _type in (("int", int), ("float", float), ("bool", bool)):
    if _alias not in vars(np):
        setattr(np, _alias, _type)

from sklearn.inspection import permutation_importance  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from milestone_discovery import Config, build_population, stats  # noqa: E402
from milestone_discovery.features import discover_features  # noqa: E402
from milestone_discovery.importance import importance_forest  # noqa: E402
from milestone_discovery.synth import make_synthetic  # noqa: E402

TRAP_ROLES = ("ubiquitous", "niche", "segment", "confounded", "leaky", "negative", "survivor")
METHODS = ("ours", "logit (BH)", "phi top-k", "impurity top-k", "permutation top-k", "boruta")


def _load_boruta():
    """BorutaPy class, or the reason it cannot be used."""
    try:
        from boruta import BorutaPy
    except Exception as exc:  # ImportError, or numpy-2 incompatibilities at import time
        return None, f"{type(exc).__name__}: {exc}"
    return BorutaPy, None


def _top_k(names: list[str], scores: np.ndarray, k: int) -> list[str]:
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [names[i] for i in order]


def _score(selected: list[str], roles: dict[str, str]) -> dict:
    chosen = set(selected)
    drivers = {f for f, r in roles.items() if r == "driver"}
    tp = len(chosen & drivers)
    precision = tp / len(chosen) if chosen else 0.0
    recall = tp / len(drivers)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    traps = sorted(f for f in chosen if roles[f] in TRAP_ROLES)
    proxies = sorted(f for f in chosen if roles[f] == "proxy")
    return {
        "selected": len(chosen),
        "drivers_found": tp,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "traps": len(traps),
        "proxies": len(proxies),
        "neutrals": sum(roles[f] == "neutral" for f in chosen),
        "trap_list": ", ".join(f"{f}({roles[f]})" for f in traps) or "-",
        "proxy_list": ", ".join(proxies) or "-",
    }


def _conditional_logit(population, cfg) -> list[str]:
    """Flags whose coefficient in one logistic regression on all of them (and the
    covariates) is significantly positive, Benjamini-Hochberg across the flags."""
    from scipy import stats as st

    prevalence = population.flags.mean()
    names = [
        str(c)
        for c in population.flags.columns
        if cfg.min_prevalence <= prevalence[c] <= cfg.max_prevalence
    ]
    covariates = population.covariates.to_numpy(float)
    design = np.hstack([population.flags[names].to_numpy(float), covariates])
    design = design[:, design.std(axis=0) > 0]
    _, beta, cov = stats.logistic_fit(design, population.retained.to_numpy(float), return_cov=True)
    z = beta[1 : len(names) + 1] / np.sqrt(np.diag(cov)[1 : len(names) + 1])
    q = stats.adjust_p_values(st.norm.sf(z), "fdr_bh")
    return [n for n, qv in zip(names, q, strict=True) if qv < cfg.alpha]


def _population(accounts: int, seed: int, config: Config, scenario: str = "default"):
    syn = make_synthetic(accounts, seed=seed, scenario=scenario)
    dataset = syn.to_dataset()
    roles = {f: v["role"] for f, v in syn.truth["features"].items()}
    return build_population(dataset, config), roles


def run_seed(args, seed: int, boruta_cls) -> tuple[list[dict], str | None, int]:
    config = Config()
    config.study.seed = seed
    cfg = config.features
    population, roles = _population(args.accounts, seed, config, args.scenario)
    names = [str(c) for c in population.flags.columns]
    p = len(names)
    k = sum(r == "driver" for r in roles.values())
    X = np.hstack(
        [population.flags.to_numpy(np.float32), population.covariates.to_numpy(np.float32)]
    )
    y = population.retained.to_numpy(int)
    rows: list[dict] = []

    clock: dict[str, float] = {}

    def start() -> None:
        clock["wall"], clock["cpu"] = time.perf_counter(), time.process_time()

    def record(method: str, selected: list[str]) -> None:
        rows.append(
            {
                "seed": seed,
                "method": method,
                **_score(selected, roles),
                "time_s": time.perf_counter() - clock["wall"],
                "cpu_s": time.process_time() - clock["cpu"],
            }
        )

    start()
    record("ours", discover_features(population, config, progress=False).selected)

    start()
    record("logit (BH)", _conditional_logit(population, cfg))

    start()
    phi = stats.phi_coefficient(population.flags.to_numpy(bool), population.retained.to_numpy(bool))
    record("phi top-k", _top_k(names, np.abs(phi), k))

    start()
    forest = importance_forest(cfg, seed).fit(X, y)
    record("impurity top-k", _top_k(names, forest.feature_importances_[:p], k))

    start()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=seed
    )
    model = importance_forest(cfg, seed).fit(X_train, y_train)
    covariates_test = X_test[:, p:]

    def roc_auc(_estimator, flags, target):
        # scoring="roc_auc" with the (never selectable) covariates left unpermuted:
        # the flags' importances are identical, and 5 columns fewer are shuffled.
        full = np.hstack([flags, covariates_test])
        return roc_auc_score(target, model.predict_proba(full)[:, 1])

    perm = permutation_importance(
        model, X_test[:, :p], y_test, n_repeats=5, scoring=roc_auc, random_state=seed
    )
    record("permutation top-k", _top_k(names, perm.importances_mean, k))

    boruta_error = None
    if boruta_cls is not None:
        start()
        try:
            selector = boruta_cls(
                importance_forest(cfg, seed),
                n_estimators="auto",
                max_iter=args.boruta_max_iter,
                random_state=seed,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                selector.fit(X, y)
            chosen = [names[j] for j in np.flatnonzero(selector.support_[:p])]
        except Exception as exc:
            boruta_error = f"{type(exc).__name__}: {exc}"
        else:
            record("boruta", chosen)
    return rows, boruta_error, k


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenario", default="default", help="a `milestones synth` preset")
    parser.add_argument("--boruta-max-iter", type=int, default=50)
    parser.add_argument("--no-boruta", action="store_true", help="skip BorutaPy")
    args = parser.parse_args()

    cfg = Config().features
    boruta_cls, boruta_error = (None, "skipped (--no-boruta)") if args.no_boruta else _load_boruta()
    print("Feature-selection methods vs planted drivers")
    print(f"  synthetic accounts {args.accounts:,}; seeds {args.seeds}; scenario {args.scenario}")
    print("  top-k baselines get the ORACLE k = number of planted drivers (shown per seed);")
    print(
        "  baselines see ALL features (leaky, ubiquitous, niche, ... included), ours filters them;"
    )
    print("  covariates (size, seats, plan) are forest inputs, never selectable.")
    print(
        f"  forest (importance.importance_forest): n_estimators={cfg.n_estimators}, "
        f"max_depth={cfg.max_depth}, "
        f"min_samples_leaf={cfg.min_samples_leaf}, max_features='sqrt', no class weights"
    )
    print(
        "  permutation: forest fitted on a stratified 50% split, sklearn permutation_importance "
        "on the other half, n_repeats=5, ROC-AUC (flags permuted, covariates kept)"
    )
    print(
        f"  boruta: same forest, n_estimators='auto', max_iter={args.boruta_max_iter}, perc=100, "
        "alpha=0.05; confirmed features only (tentative not selected)"
    )
    print(f"  trap roles: {', '.join(TRAP_ROLES)}")
    if boruta_cls is None:
        print(f"BorutaPy unavailable: {boruta_error}")

    wall0, cpu0 = time.perf_counter(), time.process_time()
    all_rows = []
    for seed in args.seeds:
        rows, seed_error, k = run_seed(args, seed, boruta_cls)
        all_rows.extend(rows)
        frame = pd.DataFrame(rows).set_index("method")
        print(f"\n=== seed {seed} (planted drivers, oracle k = {k}) ===")
        if seed_error:
            print(f"BorutaPy unavailable: {seed_error}")
        cols = [
            "selected",
            "drivers_found",
            "precision",
            "recall",
            "f1",
            "traps",
            "proxies",
            "neutrals",
            "time_s",
            "cpu_s",
        ]
        print(frame[cols].to_string(float_format=lambda v: f"{v:.3f}"))
        print("traps selected:")
        for method, row in frame.iterrows():
            print(f"  {method:<18} {row['trap_list']}")
        print("proxies selected:")
        for method, row in frame.iterrows():
            print(f"  {method:<18} {row['proxy_list']}")

    results = pd.DataFrame(all_rows)
    order = [m for m in METHODS if m in set(results["method"])]
    numeric = [
        "selected",
        "precision",
        "recall",
        "f1",
        "traps",
        "proxies",
        "neutrals",
        "time_s",
        "cpu_s",
    ]
    summary = results.groupby("method")[numeric].mean().reindex(order)
    summary.insert(0, "seeds", results.groupby("method").size().reindex(order))
    summary["f1_sd"] = results.groupby("method")["f1"].std(ddof=1).reindex(order)
    print(
        f"\n=== summary: mean over seeds {args.seeds} ({args.accounts:,} accounts; "
        "top-k baselines use oracle k) ==="
    )
    print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
    print("\ntrap features selected (in how many seeds):")
    for method in order:
        traps = results.loc[results["method"] == method, "trap_list"]
        counts = pd.Series([t for s in traps if s != "-" for t in s.split(", ")]).value_counts()
        listed = ", ".join(f"{t} x{n}" for t, n in counts.items()) or "-"
        print(f"  {method:<18} {listed}")
    print(
        f"\ntotal: wall {time.perf_counter() - wall0:.0f} s, process CPU "
        f"{time.process_time() - cpu0:.0f} s (time_s is wall clock, cpu_s the process CPU time "
        "summed over threads; wall time grows if other processes compete for the cores)"
    )


if __name__ == "__main__":
    main()
