"""Oracle power of the driver test: what a test that knew the planted structure could find.

The study selects drivers by a conditional importance test with Benjamini-Hochberg
(BH) control. When it misses drivers (the ``imbalanced`` preset), is the data too
thin, or is the method weak? This script answers with an upper bound: for every
planted driver, a logistic regression of retention whose design IS the generating
model of the preset, with the driver's effect isolated in one term.

The retention log-odds of a preset with a category-maturity rule are

    intercept + sum_c w_c 1[n_c >= k_c] + b 1[#mature categories >= m]
    + size and plan terms + activated + utilized
    + each ubiquitous feature skipped + each negative feature adopted
    (+ direct effects of some drivers in ``dominant``),

where ``n_c`` counts the drivers of category ``c`` adopted in the window. So a
driver ``j`` of category ``c`` matters only where it is pivotal: where the other
drivers of ``c`` number exactly ``k_c - 1`` (``P``), and through the bonus where
``c`` becoming mature reaches ``m`` (``BP = P * 1[other mature categories = m-1]``).
Per driver the design holds: log company size, plan dummies, activated and
utilized (recomputed from the activity table with the planted thresholds), the
ubiquitous features skipped and the negative features adopted (one column each),
the other categories' maturity indicators, for ``c`` the nuisance terms
``A = 1[n_{c,-j} >= k]`` and ``P``, the bonus without ``j``
(``1[other mature + A >= m]``) and ``BP``, and the tested term:

* ``combined`` (default oracle): ``x_j * (w_c P + b BP + d_j)``, the driver's
  whole planted effect in one column (its true coefficient is 1); the test
  knows the direction of the effect, the locally most powerful one-sided test;
* ``pivot``: ``x_j * P``, with ``x_j * BP`` (and ``x_j`` when the driver has a
  direct effect ``d_j``) as free nuisance terms: knows which accounts are
  pivotal but not the effect sizes.

Every other flag in the study's prevalence screen is tested as ``x_f`` added to
the true model (all categories' maturity, the bonus), so BH has the study's family
size and a realistic false-positive side. One-sided Wald tests (coefficient > 0),
BH at the study's ``alpha`` (0.05) over every tested flag. Flags are the
population's (``build_population``: in-window adoption of eligible accounts),
never the generator's internals; the outcome is ``population.retained``.

Printed per scenario, seed and tested term: BH recall and F1 of the oracle vs the
planted drivers, false selections, the drivers' z (min / median / max), the
marginal power (share of drivers with a one-sided p < alpha without BH), and
from the drivers' noncentrality (true coefficient / standard error) the expected
marginal power, the expected BH recall and F1 (z drawn around the noncentrality,
nulls N(0, 1)), and how many accounts would give an expected F1 >= 0.9 (the
noncentrality grows as the square root of the accounts). A second table counts,
per driver, the pivotal accounts, their churners and their adopters of the driver
(medians over the drivers).

Leaves out: nothing of the retention model of the supported presets; the
activation and utilization metrics are recomputed from the observed activity
(identical for eligible accounts except the few churning in the first days after
the window, whose sixth month is cut), and a first use on day 180 exactly counts
in the generator's window but not in the study's (a handful of adoptions).
Presets without a category-maturity rule (``gradual``, ``many_weak``, the nulls)
and plan-specific effects (``expansion``) are not supported.

    python benchmarks/oracle_power.py --scenario imbalanced --accounts 20000 --seeds 0 1 2
    python benchmarks/oracle_power.py --scenario default imbalanced dominant rare_drivers
    python benchmarks/oracle_power.py --scenario imbalanced --seeds 0 --per-driver

About 5 s of CPU per data set of 20k accounts (generation and population dominate).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats as st

from milestone_discovery import Config, build_population, stats
from milestone_discovery.synth import make_synthetic

TERMS = ("combined", "pivot")
SUPPORTED = ("default", "imbalanced", "dominant", "rare_drivers", "first_renewal", "small")
TARGET_F1 = 0.9


def _journey(dataset, index: pd.Index, truth: dict) -> dict[str, np.ndarray]:
    """``activated`` and ``utilized`` of the eligible accounts, as the generator plants them.

    Activated: conversations in calendar months 0-2 from the signup month at least
    the threshold; utilized: mean resolved conversations per seat over months 3-5
    at least the per-seat threshold. Only the steps a preset plants are returned.
    """
    out = {}
    act_t = truth["activation"]["threshold"]
    util_t = truth["utilization"]["per_seat_threshold"]
    if act_t is None and util_t is None:
        return out
    acc = dataset.accounts.set_index("account_id").reindex(index)
    activity = dataset.activity
    row = index.get_indexer(activity["account_id"])
    keep = row >= 0
    row = row[keep]
    signup_m = acc["signup_date"].to_numpy().astype("datetime64[M]").astype(np.int64)
    month = activity["month"].to_numpy()[keep].astype("datetime64[M]").astype(np.int64)
    rel = month - signup_m[row]
    inside = (rel >= 0) & (rel < 6)
    conv = np.zeros((len(index), 6))
    res = np.zeros((len(index), 6))
    np.add.at(conv, (row[inside], rel[inside]), activity["conversations"].to_numpy()[keep][inside])
    np.add.at(
        res, (row[inside], rel[inside]), activity["resolved_conversations"].to_numpy()[keep][inside]
    )
    if act_t is not None:
        out["activated"] = (conv[:, :3].sum(1) >= act_t).astype(float)
    if util_t is not None:
        seats = acc["seats"].to_numpy(dtype=float)
        out["utilized"] = ((res[:, 3:6] / seats[:, None]).mean(1) >= util_t).astype(float)
    return out


def _fit(columns: dict[str, np.ndarray], y: np.ndarray, tested: str) -> tuple[float, float]:
    """Coefficient and Wald standard error of column ``tested`` in a logistic regression.

    Constant columns (a term no account has in this data set) are dropped.
    """
    names = [c for c, v in columns.items() if c == tested or np.ptp(v) > 0]
    X = np.column_stack([columns[c] for c in names])
    _, beta, cov = stats.logistic_fit(X, y, return_cov=True)
    i = 1 + names.index(tested)
    return float(beta[i]), float(np.sqrt(cov[i, i]))


def _bh_select(z: np.ndarray, alpha: float) -> np.ndarray:
    """BH selections of one-sided z tests; ``z`` of shape (reps, tests)."""
    p = st.norm.sf(z)
    m = p.shape[1]
    ps = np.sort(p, axis=1)
    below = ps <= alpha * np.arange(1, m + 1) / m
    # the largest rank whose sorted p-value is under its BH line; every p up to it is rejected
    last = np.where(below.any(axis=1), m - 1 - np.argmax(below[:, ::-1], axis=1), -1)
    cut = np.where(last >= 0, ps[np.arange(len(ps)), np.maximum(last, 0)], -1.0)
    return p <= cut[:, None]


def _expected(ncp, n_null, n_untested, alpha, scale=1.0, reps=4000, seed=0):
    """Expected BH recall and F1 when driver z ~ N(ncp * sqrt(scale), 1), null z ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    ncp = np.asarray(ncp) * np.sqrt(scale)
    z = np.concatenate(
        [ncp + rng.standard_normal((reps, len(ncp))), rng.standard_normal((reps, n_null))], axis=1
    )
    sel = _bh_select(z, alpha)
    tp = sel[:, : len(ncp)].sum(1)
    n_sel = sel.sum(1)
    n_drivers = len(ncp) + n_untested
    recall = tp / n_drivers
    precision = np.where(n_sel > 0, tp / np.maximum(n_sel, 1), 0.0)
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return float(recall.mean()), float(f1.mean())


def _accounts_for_f1(ncp, n_null, n_untested, alpha, accounts) -> str:
    """Accounts at which the expected BH F1 first reaches TARGET_F1 (same design shares)."""
    if n_untested and (len(ncp) / (len(ncp) + n_untested)) < TARGET_F1:
        return "never"
    for i, scale in enumerate(np.exp(np.linspace(0.0, np.log(100.0), 60))):
        if _expected(ncp, n_null, n_untested, alpha, scale, reps=1000)[1] >= TARGET_F1:
            return f"{'<=' if i == 0 else ''}{accounts * scale / 1000:.0f}k"
    return f">{accounts * 100 / 1000:.0f}k"


def oracle_seed(scenario: str, accounts: int, seed: int) -> dict:
    """Oracle tests on one generated data set; per tested term a row of results."""
    config = Config()
    config.study.seed = seed
    cfg = config.features
    syn = make_synthetic(accounts, seed=seed, scenario=scenario)
    truth = syn.truth
    if any(c["k"] is None for c in truth["categories"]) or truth.get("segment_specific"):
        raise SystemExit(f"{scenario}: no category-maturity rule or plan-specific effects")
    dataset = syn.to_dataset()
    pop = build_population(dataset, config)
    index = pop.flags.index
    flags = pop.flags.astype(float)
    y = pop.retained.to_numpy(dtype=float)
    roles = {f: v["role"] for f, v in truth["features"].items()}
    rl = truth["effects"]["retention_logit"]
    direct = {f: float(e) for f, e in (rl.get("direct_feature") or {}).items() if e}
    bonus = float(rl["min_categories_bonus"])
    m = truth["min_categories"]

    acc = dataset.accounts.set_index("account_id").reindex(index)
    plan = acc["plan"].astype(str).to_numpy()
    # The planted size term is linear in log(company_size) (the study's covariate is log1p).
    base = {"log_size": np.log(acc["company_size"].to_numpy(dtype=float))}
    base |= {f"plan={p}": (plan == p).astype(float) for p in ("pro", "premium")}
    base |= _journey(dataset, index, truth)
    # Each ubiquitous feature skipped and each negative feature adopted: one column each (a
    # flag rather than "skipped" is the same model, and reads as the flag's own test if screened).
    base |= {f: flags[f].to_numpy() for f, r in roles.items() if r in ("ubiquitous", "negative")}

    cats = truth["categories"]
    n_c = {c["name"]: flags[c["drivers"]].to_numpy().sum(1) for c in cats}
    mature = {c["name"]: (n_c[c["name"]] >= c["k"]).astype(float) for c in cats}
    n_mature = sum(mature.values())

    prevalence = flags.mean()
    tested = [f for f in flags.columns if cfg.min_prevalence <= prevalence[f] <= cfg.max_prevalence]
    drivers = [f for f, r in roles.items() if r == "driver"]
    untested = [f for f in drivers if f not in tested]
    nulls = [f for f in tested if f not in drivers]

    # True model for the non-driver flags: everything planted, each flag added in turn.
    true_model = dict(base)
    true_model |= {f"mature:{c}": v for c, v in mature.items()}
    if m is not None:
        true_model["bonus"] = (n_mature >= m).astype(float)
    true_model |= {f"direct:{f}": flags[f].to_numpy() for f in direct}
    z_null = {}
    for f in nulls:
        cols = dict(true_model)
        if f not in cols:
            cols[f] = flags[f].to_numpy()
        coef, se = _fit(cols, y, f)
        z_null[f] = coef / se

    rows = {t: {"z": {}, "ncp": {}} for t in TERMS}
    pivots = []
    for cat in cats:
        name, k = cat["name"], cat["k"]
        w = float(rl["mature_category"][name])
        for j in cat["drivers"]:
            if j not in tested:
                continue
            x = flags[j].to_numpy()
            n_other = n_c[name] - x
            a = (n_other >= k).astype(float)
            piv = (n_other == k - 1).astype(float)
            o = n_mature - mature[name]
            cols = dict(base)
            cols |= {f"mature:{c}": v for c, v in mature.items() if c != name}
            cols |= {f"direct:{f}": flags[f].to_numpy() for f in direct if f != j}
            cols |= {"A": a, "P": piv}
            bp = np.zeros_like(piv)
            if m is not None:
                bp = piv * (o == m - 1)
                cols |= {"bonus0": (o + a >= m).astype(float), "BP": bp}
            d = direct.get(j, 0.0)
            # combined: the whole planted effect of j in one column, true coefficient 1
            comb = dict(cols, tested=x * (w * piv + bonus * bp + d))
            coef, se = _fit(comb, y, "tested")
            rows["combined"]["z"][j] = coef / se
            rows["combined"]["ncp"][j] = 1.0 / se
            pv = dict(cols, xBP=x * bp)
            if d:
                pv["x"] = x
            pv["tested"] = x * piv
            coef, se = _fit(pv, y, "tested")
            rows["pivot"]["z"][j] = coef / se
            rows["pivot"]["ncp"][j] = w / se
            on = piv == 1
            pivots.append(
                {
                    "driver": j,
                    "pivotal": int(on.sum()),
                    "churners": int((on & (y == 0)).sum()),
                    "adopters": int((on & (x == 1)).sum()),
                    "adopter_churners": int((on & (x == 1) & (y == 0)).sum()),
                    "bonus_pivotal": int(bp.sum()),
                }
            )

    out = []
    for term in TERMS:
        zd = rows[term]["z"]
        names = list(zd) + nulls
        z = np.array([list(zd.values()) + [z_null[f] for f in nulls]])
        sel = _bh_select(z, cfg.alpha)[0]
        chosen = {f for f, s in zip(names, sel, strict=True) if s}
        tp = len(chosen & set(drivers))
        recall = tp / len(drivers)
        precision = tp / len(chosen) if chosen else 0.0
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        zs = np.array(list(zd.values()))
        ncp = np.array(list(rows[term]["ncp"].values()))
        e_recall, e_f1 = _expected(ncp, len(nulls), len(untested), cfg.alpha)
        z_a = st.norm.isf(cfg.alpha)
        out.append(
            {
                "scenario": scenario,
                "seed": seed,
                "term": term,
                "eligible": len(y),
                "churners": int((y == 0).sum()),
                "retained": float(y.mean()),
                "tested": len(names),
                "recall": recall,
                "f1": f1,
                "false": len(chosen) - tp,
                "z_min": zs.min(),
                "z_med": float(np.median(zs)),
                "z_max": zs.max(),
                "marginal": float((zs > z_a).sum() / len(drivers)),
                "e_marginal": float(st.norm.sf(z_a - ncp).sum() / len(drivers)),
                "e_recall": e_recall,
                "e_f1": e_f1,
                "n_for_f1": _accounts_for_f1(ncp, len(nulls), len(untested), cfg.alpha, accounts),
                "untested": ", ".join(untested) or "-",
                "per_driver": pd.DataFrame(
                    {"z": zs, "ncp": ncp}, index=pd.Index(list(zd), name="driver")
                ),
            }
        )
    return {"rows": out, "pivots": pd.DataFrame(pivots).set_index("driver")}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", nargs="+", default=["imbalanced"], choices=SUPPORTED)
    parser.add_argument("--accounts", type=int, default=20000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-driver", action="store_true", help="print z and counts per driver")
    args = parser.parse_args(argv)

    results, pivot_rows = [], []
    t0 = time.process_time()
    for scenario in args.scenario:
        for seed in args.seeds:
            res = oracle_seed(scenario, args.accounts, seed)
            results += res["rows"]
            piv = res["pivots"]
            pivot_rows.append(
                {
                    "scenario": scenario,
                    "seed": seed,
                    **{f"{c}_med": float(piv[c].median()) for c in piv.columns},
                    "pivotal_min": int(piv["pivotal"].min()),
                    "adopter_churners_min": int(piv["adopter_churners"].min()),
                }
            )
            if args.per_driver:
                for row in res["rows"]:
                    print(f"\n{scenario} seed {seed}, term {row['term']}:")
                    print(row["per_driver"].join(piv).round(2).to_string())

    table = pd.DataFrame(results).drop(columns="per_driver")
    untested = table.loc[table["untested"] != "-", ["scenario", "seed", "untested"]]
    table = table.drop(columns="untested")
    pd.set_option("display.width", 200)
    print(f"\nOracle tests, {args.accounts} accounts (BH q = 0.05 over the screened flags)")
    print(table.round(3).to_string(index=False))
    print("\nPivotal accounts per driver (median over drivers; min for two columns)")
    print(pd.DataFrame(pivot_rows).round(1).to_string(index=False))
    if len(untested):
        print("\nPlanted drivers outside the prevalence screen (never tested, counted as missed):")
        print(untested.drop_duplicates().to_string(index=False))
    print(f"\nCPU {time.process_time() - t0:.0f} s")


if __name__ == "__main__":
    main()
