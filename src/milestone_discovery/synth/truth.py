"""The planted truth: what a scenario planted, and the planted maturity rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .catalog import (
    ACTIVATION_THRESHOLD,
    ACTIVATION_WINDOW_DAYS,
    CATEGORIES,
    EXPECTED_STATUS,
    HORIZON_DAYS,
    OBSERVATION_DAYS,
    SETUP_STEPS,
    SETUP_WINDOW_DAYS,
    UTILIZATION_THRESHOLD,
)

__all__ = ["build_truth", "planted_maturity", "retention_rate"]


def retention_rate(churn_day: np.ndarray, age: np.ndarray) -> float | None:
    """Realised retention rate of the eligible population.

    Eligible: signed up at least ``HORIZON_DAYS`` before ``as_of`` and still a
    customer at day ``OBSERVATION_DAYS``; retained: still a customer at day
    ``HORIZON_DAYS``.

    Parameters
    ----------
    churn_day : numpy.ndarray
        Days after signup of the churn (customer on days ``< churn_day``),
        including churn after ``as_of``.
    age : numpy.ndarray
        Days from signup to ``as_of``.

    Returns
    -------
    float or None
        Rounded to 6 decimals; ``None`` when nobody is eligible.
    """
    eligible = (age >= HORIZON_DAYS) & (churn_day > OBSERVATION_DAYS)
    if not eligible.any():
        return None
    return round(float(np.mean(churn_day[eligible] > HORIZON_DAYS)), 6)


def build_truth(seed, n, as_of_d, fp, scenario, fx, features, rate) -> dict:
    """JSON-serialisable description of everything that was planted.

    Parameters
    ----------
    seed, n : int
        Seed and number of accounts.
    as_of_d : numpy.datetime64
        Snapshot date.
    fp : dict
        Per-feature adoption parameters of the generator.
    scenario : Scenario
        The preset.
    fx : dict
        Merged effects of the scenario.
    features : sequence of (name, category, generating role, hypothesis, prevalence)
        Feature table of the scenario.
    rate : float or None
        Realised retention rate of the eligible population.

    Returns
    -------
    dict
    """
    names = fp["names"]
    gen_role = fp["role"]
    direct = fx["retention_logit"]["direct_feature"]
    # present only in the scenarios that plant them (``expansion``)
    by_plan = fx["retention_logit"].get("plan_feature") or {}
    expansion = fx["expansion_logit"].get("direct_feature") or {}
    feats = {}
    for f in features:
        label = scenario.label(f[2])
        spec = {"category": f[1], "role": label, "expected_status": EXPECTED_STATUS[label]}
        if label != f[2]:
            spec["planted_as"] = f[2]
        if direct.get(f[0]):
            spec["direct_effect"] = direct[f[0]]
        if f[0] in by_plan:  # works in some plans only: a driver outside the maturity rule
            spec.update(role="driver", expected_status=EXPECTED_STATUS["driver"])
            spec["planted_as"] = f[2]
            spec["segment_specific"] = {"segment": "plan", "effects": dict(by_plan[f[0]])}
        if expansion:
            spec["expansion_role"] = "driver" if expansion.get(f[0]) else "none"
            if expansion.get(f[0]):
                spec["expansion_effect"] = expansion[f[0]]
        feats[f[0]] = spec
    k = scenario.category_k
    categories = []
    for c in CATEGORIES:
        in_cat = [f[0] for f in features if f[1] == c]
        categories.append(
            {
                "name": c,
                # drivers of the category-maturity rule (not the plan-specific ones)
                "drivers": [
                    f
                    for f in in_cat
                    if feats[f]["role"] == "driver" and "segment_specific" not in feats[f]
                ],
                "k": None if k is None else k[c],
                "proxies": [f for f in in_cat if feats[f]["role"] == "proxy"],
                "features": in_cat,
            }
        )
    effects = json.loads(json.dumps(fx))
    effects["adoption"]["intercepts"] = {
        name: round(float(a), 6)
        for name, a, r in zip(names, fp["intercept"], gen_role, strict=True)
        if r not in ("niche", "segment", "leaky")
    }
    effects["adoption"]["target_window_prevalence"] = {
        f[0]: f[4] for f in features if f[2] not in ("niche", "segment", "leaky")
    }
    effects["setup"]["steps"] = {
        s[0]: {"kind": s[1], "completion_prob": s[2], "share_within_window": s[3]}
        for s in SETUP_STEPS
    }
    kinds = {
        kind: [s[0] for s in SETUP_STEPS if s[1] == kind]
        for kind in ("driver", "routine", "niche", "neutral")
    }
    shape = dict(scenario.shape)
    truth = {
        "scenario": scenario.name,
        "scenario_summary": scenario.summary,
        "scenario_note": scenario.note,
        "shape": shape,
        "retention_rate": rate,
        "seed": int(seed),
        "n_accounts": int(n),
        "as_of": str(as_of_d),
        "observation_days": OBSERVATION_DAYS,
        "horizon_days": HORIZON_DAYS,
        "categories": categories,
        "min_categories": scenario.min_categories,
        "features": feats,
        "activation": {
            "metric": "conversations",
            "window_days": ACTIVATION_WINDOW_DAYS,
            "threshold": ACTIVATION_THRESHOLD if shape["activation"] == "step" else None,
        },
        "utilization": {
            "metric": "resolved_conversations",
            "per_seat_threshold": UTILIZATION_THRESHOLD if shape["utilization"] == "step" else None,
        },
        "setup": {
            "drivers": kinds["driver"],
            "routine": kinds["routine"],
            "niche": kinds["niche"],
            "neutral": kinds["neutral"],
            "window_days": SETUP_WINDOW_DAYS,
        },
        "effects": effects,
    }
    if expansion:
        truth["expansion"] = _expansion_truth(feats, expansion)
    if by_plan:
        truth["segment_specific"] = [
            {
                "feature": f,
                "segment": "plan",
                "levels": sorted(p for p, e in effects_by_plan.items() if e),
                "effects": dict(effects_by_plan),
            }
            for f, effects_by_plan in by_plan.items()
        ]
    return truth


def _expansion_truth(feats: dict, expansion: dict) -> dict:
    """Planted expansion drivers, and which features go with staying, growing or both.

    ``grow``: raise expansion only; ``both``: retention drivers that also raise
    expansion; ``stay``: retention drivers that do not.
    """
    retention = {f for f, spec in feats.items() if spec["role"] == "driver"}
    drivers = sorted(f for f, e in expansion.items() if e)
    return {
        "outcome": "expansion (0/1) of accounts still customers at day 365",
        "drivers": drivers,
        "grow": sorted(set(drivers) - retention),
        "both": sorted(set(drivers) & retention),
        "stay": sorted(retention - set(drivers)),
        "effects": {f: expansion[f] for f in drivers},
    }


def planted_maturity(flags: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Apply the planted category-maturity rule to adoption flags.

    Parameters
    ----------
    flags : pandas.DataFrame
        Index ``account_id``; one boolean column per feature (adoption inside
        the observation window).  Missing driver columns count as not adopted;
        missing values count as ``False``.
    truth : dict
        ``SyntheticDataset.truth``.

    Returns
    -------
    pandas.DataFrame
        Same index; one boolean column per category (at least ``k`` of its
        drivers adopted), ``n_mature`` (int) and ``mature``
        (``n_mature >= truth["min_categories"]``).  Where the scenario plants
        no maturity step (``k`` or ``truth["min_categories"]`` is ``None``)
        the corresponding flags are all ``False``.
    """
    out = {}
    for cat in truth["categories"]:
        if cat["k"] is None:
            out[cat["name"]] = np.zeros(len(flags), dtype=bool)
            continue
        cols = flags.reindex(columns=cat["drivers"]).astype("boolean").fillna(False)
        out[cat["name"]] = cols.to_numpy(dtype=bool).sum(axis=1) >= int(cat["k"])
    res = pd.DataFrame(out, index=flags.index)
    res["n_mature"] = res[[c["name"] for c in truth["categories"]]].sum(axis=1).astype(np.int64)
    if truth["min_categories"] is None:
        res["mature"] = np.zeros(len(flags), dtype=bool)
    else:
        res["mature"] = res["n_mature"] >= int(truth["min_categories"])
    return res
