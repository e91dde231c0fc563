"""Tests of the generator's scenario presets and what each plants."""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from milestone_discovery.cli import main
from milestone_discovery.errors import MilestoneError
from milestone_discovery.synth import (
    EXPECTED_STATUS,
    SCENARIOS,
    SyntheticDataset,
    UnknownScenarioError,
    make_synthetic,
    planted_maturity,
    scenario_names,
)

DAY = pd.Timedelta(days=1)
NAMES = (
    "default",
    "imbalanced",
    "dominant",
    "many_weak",
    "gradual",
    "rare_drivers",
    "first_renewal",
    "small",
    "null",
    "engagement_null",
    "expansion",
)
SHAPES = {"step", "gradual", "none"}

# Pins the `default` scenario: sha256 of accounts, feature_usage, activity, setup_steps and
# feature_catalog CSVs (concatenated in that order) written for make_synthetic(3000, seed=7),
# computed with the generator BEFORE scenarios were added. A change here means the default
# data changed; every planted-truth test and benchmark result would move with it.
DEFAULT_SEED7_N3000_SHA256 = "1237c4e9787b3ebfb40d4ae6c3b5e363e7af4aa3b42c994b2616316a79e3dbc9"


@functools.cache
def synth(name: str, n: int = 3000, seed: int = 0) -> SyntheticDataset:
    return make_synthetic(n, seed=seed, scenario=name)


# ----------------------------------------------------------------------------- helpers
def windowed_flags(d: SyntheticDataset) -> pd.DataFrame:
    """Bool account x feature adoption inside the window (first use <= signup + 180 days)."""
    u = d.feature_usage.merge(d.accounts[["account_id", "signup_date"]], on="account_id")
    u = u[u["first_used_at"] <= u["signup_date"] + 180 * DAY]
    flags = pd.crosstab(u["account_id"], u["feature"]).astype(bool)
    return flags.reindex(
        index=d.accounts["account_id"], columns=d.feature_catalog["feature"], fill_value=False
    )


def retention_population(d: SyntheticDataset) -> tuple[np.ndarray, np.ndarray]:
    """(eligible, retained) per account, in accounts order."""
    a = d.accounts
    as_of = pd.Timestamp(d.truth["as_of"])
    churn = a["churn_date"]
    pop = (a["signup_date"] <= as_of - 365 * DAY) & (
        churn.isna() | (churn > a["signup_date"] + 180 * DAY)
    )
    retained = churn.isna() | (churn > a["signup_date"] + 365 * DAY)
    return pop.to_numpy(), retained.to_numpy()


def role_of(d: SyntheticDataset, role: str) -> list[str]:
    return [f for f, s in d.truth["features"].items() if s["role"] == role]


def activation_metric(d: SyntheticDataset) -> np.ndarray:
    """Conversations in account-age months 0-2, in accounts order."""
    act = d.activity.merge(d.accounts[["account_id", "signup_date"]], on="account_id")
    s, m = act["signup_date"], act["month"]
    age = (m.dt.year - s.dt.year) * 12 + m.dt.month - s.dt.month
    conv = act[age <= 2].groupby("account_id")["conversations"].sum()
    return conv.reindex(d.accounts["account_id"], fill_value=0).to_numpy()


# ----------------------------------------------------------------------------- every preset
def test_names():
    assert tuple(scenario_names()) == NAMES
    assert tuple(SCENARIOS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_truth_scenario_shape_and_rate(name):
    d = synth(name)
    t = d.truth
    assert t["scenario"] == name
    assert set(t["shape"]) == {"activation", "utilization", "maturity"}
    assert set(t["shape"].values()) <= SHAPES
    pop, ret = retention_population(d)
    assert t["retention_rate"] == pytest.approx(ret[pop].mean(), abs=1e-6)
    assert all(s["role"] in EXPECTED_STATUS for s in t["features"].values())
    assert all(s["expected_status"] == EXPECTED_STATUS[s["role"]] for s in t["features"].values())
    if t["shape"]["maturity"] == "step":
        assert t["min_categories"] >= 1
        assert all(c["k"] >= 1 for c in t["categories"])
    else:
        assert t["min_categories"] is None
    if t["shape"]["activation"] != "step":
        assert t["activation"]["threshold"] is None
    json.loads(json.dumps(t))


@pytest.mark.parametrize("name", NAMES)
def test_planted_maturity_copes(name):
    d = synth(name)
    res = planted_maturity(windowed_flags(d), d.truth)
    assert len(res) == len(d.accounts)
    if d.truth["min_categories"] is None:
        assert not res["mature"].any()
    else:
        assert 0.02 <= res["mature"].mean() <= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_scenarios_deterministic(name):
    a, b = make_synthetic(200, seed=3, scenario=name), make_synthetic(200, seed=3, scenario=name)
    for table, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, b.tables()[table])
    assert a.truth == b.truth


def test_unknown_scenario():
    with pytest.raises(UnknownScenarioError, match="engagement_null") as info:
        make_synthetic(100, scenario="nope")
    assert isinstance(info.value, MilestoneError) and isinstance(info.value, ValueError)
    assert "'nope'" in str(info.value)


# ----------------------------------------------------------------------------- default
def test_default_pinned(tmp_path):
    out = make_synthetic(3000, seed=7).write(tmp_path / "d", fmt="csv")
    h = hashlib.sha256()
    for name in ("accounts", "feature_usage", "activity", "setup_steps", "feature_catalog"):
        h.update((out / f"{name}.csv").read_bytes())
    assert h.hexdigest() == DEFAULT_SEED7_N3000_SHA256


def test_default_is_the_default():
    a, b = make_synthetic(300, seed=5), make_synthetic(300, seed=5, scenario="default")
    for table, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, b.tables()[table])
    assert a.truth == b.truth
    t = a.truth
    assert t["shape"] == {"activation": "step", "utilization": "step", "maturity": "step"}
    assert (t["min_categories"], t["activation"]["threshold"]) == (3, 60)


def test_small_default_n():
    assert len(make_synthetic(scenario="small").accounts) == 2000
    assert len(make_synthetic(500, scenario="small").accounts) == 500
    assert len(make_synthetic(seed=1).accounts) == 3000


# ----------------------------------------------------------------------------- presets
def test_imbalanced_retention():
    d = synth("imbalanced")
    pop, ret = retention_population(d)
    assert 0.93 <= ret[pop].mean() <= 0.97
    assert len(role_of(d, "driver")) == 16
    assert d.truth["shape"]["maturity"] == "step"


def test_dominant_one_strong_driver():
    d = synth("dominant")
    feats = d.truth["features"]
    drivers = role_of(d, "driver")
    direct = {f: feats[f].get("direct_effect", 0.0) for f in drivers}
    strong = [f for f, e in direct.items() if e >= 1.5]
    assert len(strong) == 1 and direct[strong[0]] == pytest.approx(2.0)
    assert all(0 < e <= 0.5 for f, e in direct.items() if f not in strong)
    assert all(s["role"] != "driver" for f, s in feats.items() if f not in direct)


def test_many_weak_drivers():
    d = synth("many_weak")
    drivers = role_of(d, "driver")
    assert len(drivers) >= 20
    effects = [d.truth["features"][f]["direct_effect"] for f in drivers]
    assert min(effects) >= 0.2 and max(effects) <= 0.35
    assert d.truth["min_categories"] is None


def test_rare_drivers_prevalence():
    d = synth("rare_drivers")
    prev = windowed_flags(d)[role_of(d, "driver")].mean()
    assert len(prev) == 16
    assert prev.between(0.04, 0.16).all(), prev.to_dict()


def test_first_renewal():
    d = synth("first_renewal")
    a = d.accounts
    days = (a["churn_date"] - a["signup_date"]).dt.days.dropna()
    assert days.between(28, 40).mean() >= 0.15
    drivers = role_of(d, "driver")
    assert len(drivers) == 16
    assert len(role_of(d, "leaky")) == 2
    u = d.feature_usage.merge(a[["account_id", "signup_date"]], on="account_id")
    u = u[u["feature"].isin(drivers)]
    first = (u["first_used_at"] - u["signup_date"]).dt.days
    assert first[first <= 180].median() <= 35


def test_gradual_monotone_in_activation():
    d = synth("gradual")
    assert set(d.truth["shape"].values()) == {"gradual"}
    pop, ret = retention_population(d)
    act = activation_metric(d)[pop]
    quart = pd.qcut(pd.Series(act).rank(method="first"), 4, labels=False).to_numpy()
    rates = np.array([ret[pop][quart == q].mean() for q in range(4)])
    assert (np.diff(rates) > 0).all(), rates


def test_null_no_association():
    d = synth("null", 6000, 1)
    t = d.truth
    assert not role_of(d, "driver") and not role_of(d, "negative")
    former = [f for f, s in t["features"].items() if s.get("planted_as") in ("driver", "proxy")]
    assert len(former) == 26
    assert all(t["features"][f]["role"] == "neutral" for f in former)
    pop, ret = retention_population(d)
    flags = windowed_flags(d).to_numpy()[pop]
    cols = list(d.feature_catalog["feature"])
    r = ret[pop]
    for f in former:
        x = flags[:, cols.index(f)]
        table = [[np.sum(x & r), np.sum(x & ~r)], [np.sum(~x & r), np.sum(~x & ~r)]]
        p = stats.chi2_contingency(table)[1]
        assert p * len(former) > 0.001, (f, p)


def test_engagement_null_roles():
    d = synth("engagement_null")
    t = d.truth
    eng = role_of(d, "engagement")
    assert not role_of(d, "driver") and len(eng) >= 26
    assert {t["features"][f]["expected_status"] for f in eng} == {"dropped_unimportant"}
    assert "confounded" in t["scenario_note"].lower()
    # confounding is real: adopters retain better although no feature is causal
    pop, ret = retention_population(d)
    flags = windowed_flags(d)
    higher = [
        ret[pop & flags[f].to_numpy()].mean() > ret[pop & ~flags[f].to_numpy()].mean() for f in eng
    ]
    assert np.mean(higher) > 0.9


# ----------------------------------------------------------------------------- CLI
def test_cli_scenario(tmp_path, capsys):
    assert (
        main(
            ["synth", "--scenario", "imbalanced", "--accounts", "500", "--out", str(tmp_path / "d")]
        )
        == 0
    )
    truth = json.loads((tmp_path / "d" / "truth.json").read_text())
    assert truth["scenario"] == "imbalanced" and truth["n_accounts"] == 500
    assert (tmp_path / "d" / "accounts.csv").exists()
    assert "imbalanced" in capsys.readouterr().out


def test_cli_unknown_scenario(tmp_path, capsys):
    assert main(["synth", "--scenario", "nope", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and all(n in err for n in NAMES)
    assert not (tmp_path / "d").exists()


def test_cli_list_scenarios(capsys):
    assert main(["synth", "--list-scenarios"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in NAMES)


def test_cli_small_default_accounts(tmp_path):
    assert main(["synth", "--scenario", "small", "--out", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "truth.json").read_text())["n_accounts"] == 2000


# ----------------------------------------------------------------------------- slow
def _adjusted_or(d: SyntheticDataset, features: list[str]) -> pd.Series:
    import statsmodels.api as sm

    pop, ret = retention_population(d)
    a = d.accounts
    x = windowed_flags(d).loc[pop, features].astype(float).reset_index(drop=True)
    x["log_size"] = np.log(a["company_size"].to_numpy()[pop])
    for p in ("pro", "premium"):
        x[p] = (a["plan"].to_numpy()[pop] == p).astype(float)
    fit = sm.Logit(ret[pop].astype(float), sm.add_constant(x)).fit(disp=0)
    return np.exp(fit.params[features])


@pytest.mark.slow
def test_dominant_adjusted_odds_ratios():
    d = make_synthetic(60_000, seed=4, scenario="dominant")
    drivers = role_of(d, "driver")
    odds = _adjusted_or(d, drivers)
    strong = [f for f in drivers if d.truth["features"][f].get("direct_effect", 0) >= 1.5]
    assert odds[strong].min() > 4
    assert odds.drop(strong).between(1.2, 2.0).all(), odds.round(2).to_dict()


@pytest.mark.slow
def test_many_weak_adjusted_odds_ratios():
    d = make_synthetic(60_000, seed=4, scenario="many_weak")
    odds = _adjusted_or(d, role_of(d, "driver"))
    assert odds.between(1.05, 1.7).all(), odds.round(2).to_dict()
    assert odds.max() < 1.7
