"""Landmark survival: planted hazard ratios, censoring, PH check, not-enough-data paths."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from planted import N_ACCOUNTS, SEEDS, planted_study
from result_protocol import check_escaped, check_protocol

from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.survival import (
    SurvivalResult,
    landmark_times,
    milestone_columns,
    plot_hazard_ratios,
    plot_survival_curves,
    survival_analysis,
)

AS_OF = pd.Timestamp("2025-06-30")
WINDOW = 180


def _expit(x):
    return 1 / (1 + np.exp(-x))


def planted(
    n: int,
    seed: int,
    log_hr: float = np.log(0.5),
    *,
    early_only_days: float | None = None,
    window_churn: float = 0.1,
    base_daily: float = 1 / 600,
):
    """Accounts with a planted milestone ``m`` (hazard x exp(log_hr)), and nulls.

    Larger accounts reach ``m`` more often and churn less (size confounds the
    raw comparison); ``null`` is independent of everything; ``null_confounded``
    follows size like ``m`` but has no effect. With ``early_only_days`` the
    effect of ``m`` lasts only that long after the landmark (hazards not
    proportional).
    """
    rng = np.random.default_rng(seed)
    signup = AS_OF - pd.to_timedelta(rng.integers(0, 1100, n), unit="D")
    plan = rng.choice(np.array(["starter", "pro", "premium"]), n, p=[0.5, 0.35, 0.15])
    log_size = rng.normal(3.5, 1.0, n)
    size = np.round(np.exp(log_size)).astype(int) + 1
    seats = np.maximum(1, np.round(size * rng.uniform(0.05, 0.25, n))).astype(int)
    z = log_size - 3.5
    x = rng.random(n) < _expit(-0.5 + 0.8 * z + 0.5 * (plan == "premium"))
    null_conf = rng.random(n) < _expit(-0.5 + 0.8 * z)
    rate = base_daily * np.exp(-0.4 * z + 0.3 * (plan == "starter"))
    if early_only_days is None:
        t = rng.exponential(1 / (rate * np.exp(log_hr * x)))
    else:
        first = rng.exponential(1 / (rate * np.exp(log_hr * x)))
        later = early_only_days + rng.exponential(1 / rate)
        t = np.where(first < early_only_days, first, later)
    in_window = rng.random(n) < window_churn
    churn_day = np.where(in_window, rng.integers(0, WINDOW, n), WINDOW + np.floor(t))
    churn = signup + pd.to_timedelta(churn_day, unit="D")
    churn = churn.where(churn <= AS_OF)
    ids = [f"A{i:05d}" for i in range(n)]
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "signup_date": signup,
            "churn_date": churn,
            "plan": plan,
            "company_size": size,
            "seats": seats,
        }
    )
    milestones = pd.DataFrame(
        {"m": x, "null": rng.random(n) < 0.4, "null_confounded": null_conf},
        index=pd.Index(ids, name="account_id"),
    )
    return accounts, milestones


def run(accounts, milestones, **kw) -> SurvivalResult:
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("observation_days", WINDOW)
    return survival_analysis(accounts, milestones, **kw)


def row(result: SurvivalResult, name: str) -> pd.Series:
    return result.to_frame().set_index("milestone").loc[name]


# --- the landmark population -------------------------------------------------


def literal_accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["old", "win", "young", "new", "churn", "zero", "late"],
            "signup_date": pd.to_datetime(
                [
                    "2023-01-01",
                    "2023-01-01",
                    "2024-12-01",
                    "2025-03-01",
                    "2023-01-01",
                    "2024-06-01",
                    "2023-01-01",
                ]
            ),
            "churn_date": pd.to_datetime(
                [None, "2023-03-01", None, None, "2024-01-01", "2024-11-28", "2026-01-01"]
            ),
        }
    )


def test_landmark_times_literal():
    lt = landmark_times(literal_accounts(), as_of=AS_OF, observation_days=WINDOW, horizon_days=365)
    assert lt.loc["old", "landmark"] == pd.Timestamp("2023-06-30")
    assert lt["exclusion_reason"].to_dict() == {
        "old": None,
        "win": "churned_in_window",
        "young": None,
        "new": "window_not_complete",
        "churn": None,
        "zero": None,
        "late": None,
    }
    entered = lt[lt["entered"]]
    assert entered["time"].to_dict() == {
        "old": 731.0,  # censored at as_of
        "young": 31.0,  # young: counted up to its age
        "churn": 185.0,
        "zero": 0.0,  # churned on the landmark day: still a customer at the landmark
        "late": 731.0,  # churn after as_of is not observed: censored
    }
    assert entered["event"].to_dict() == {
        "old": False,
        "young": False,
        "churn": True,
        "zero": True,
        "late": False,
    }
    # the fixed-horizon population needs 365 days since signup: "young" is not in it
    assert entered["fixed_horizon"].to_dict() == {
        "old": True,
        "young": False,
        "churn": True,
        "zero": True,
        "late": True,
    }
    assert lt.loc[~lt["entered"], "time"].isna().all()


def test_young_accounts_enter_censored():
    accounts, milestones = planted(3000, seed=1)
    result = run(accounts, milestones, horizon_days=365)
    lt = landmark_times(accounts, as_of=AS_OF, observation_days=WINDOW, horizon_days=365)
    assert result.accounts == int(lt["entered"].sum())
    assert result.fixed_horizon_accounts == int(lt["fixed_horizon"].sum())
    # accounts between 180 and 365 days old are in the survival view only
    assert result.accounts > result.fixed_horizon_accounts + 300
    excluded = result.exclusions.set_index("reason")["accounts"]
    young = accounts["signup_date"] >= AS_OF - pd.Timedelta(days=WINDOW)  # landmark >= as_of
    churned_early = accounts["churn_date"] < accounts["signup_date"] + pd.Timedelta(days=WINDOW)
    assert excluded["window_not_complete"] == int((young & ~churned_early).sum())
    assert excluded["churned_in_window"] == int(churned_early.sum())
    assert excluded.sum() + result.accounts == len(accounts)
    assert result.to_dict()["excluded"] == excluded.to_dict()
    assert result.events == int(lt.loc[lt["entered"], "event"].sum())


# --- planted effects ---------------------------------------------------------


def test_planted_milestone_halves_the_hazard():
    accounts, milestones = planted(4000, seed=0)
    result = run(accounts, milestones)
    m = row(result, "m")
    assert pd.isna(m["reason"])
    assert m["hazard_ratio_high"] < 1
    assert m["hazard_ratio_low"] < 0.5 < m["hazard_ratio_high"]  # adjusted for size: recovers 0.5
    assert m["p_value"] < 1e-6
    assert m["alive_12m_reached"] > m["alive_12m_not_reached"]
    assert m["ph_p_value"] > 0.01  # proportional by construction
    assert set(result.adjusted_for) == {
        "log_company_size",
        "log_seats",
        "plan=premium",
        "plan=pro",
    }  # starter, the most common plan, is the reference


def _null_coverage(seeds, n_accounts: int = 500) -> dict[str, int]:
    covered = {"null": 0, "null_confounded": 0}
    for seed in seeds:
        accounts, milestones = planted(n_accounts, seed=seed)
        result = run(accounts, milestones[["null", "null_confounded"]])
        for name in covered:
            r = row(result, name)
            covered[name] += bool(r["hazard_ratio_low"] <= 1 <= r["hazard_ratio_high"])
    return covered


def test_null_milestones_cover_one_in_most_seeds():
    covered = _null_coverage(range(1000, 1012))
    # 95% CIs: expect ~11.4 of 12 (P(<= 9) ~ 2%); size adjustment removes the confounded one's bias
    assert covered["null"] >= 10
    assert covered["null_confounded"] >= 10


@pytest.mark.slow
def test_null_coverage_is_calibrated():
    seeds = range(2000, 2200)
    covered = _null_coverage(seeds)
    for name, hits in covered.items():
        assert 0.91 <= hits / len(seeds) <= 0.99, name


def test_alpha_widens_the_interval():
    accounts, milestones = planted(1500, seed=3)
    narrow = row(run(accounts, milestones[["m"]], alpha=0.2), "m")
    wide = row(run(accounts, milestones[["m"]], alpha=0.01), "m")
    assert narrow["hazard_ratio"] == pytest.approx(wide["hazard_ratio"])
    assert wide["hazard_ratio_low"] < narrow["hazard_ratio_low"]
    assert wide["hazard_ratio_high"] > narrow["hazard_ratio_high"]


def test_proportional_hazards_check_detects_an_early_only_effect():
    accounts, milestones = planted(4000, seed=5, log_hr=np.log(0.2), early_only_days=120)
    result = run(accounts, milestones[["m"]])
    assert row(result, "m")["ph_p_value"] < 0.001
    assert "violated" in result.summary().set_index("milestone").loc["m", "proportional hazards"]


def test_proportional_hazards_check_is_quiet_under_proportional_hazards():
    p_values = []
    for seed in range(10):
        accounts, milestones = planted(800, seed=200 + seed)
        p_values.append(row(run(accounts, milestones[["m"]]), "m")["ph_p_value"])
    assert sum(p < 0.05 for p in p_values) <= 2


# --- Kaplan-Meier figures -------------------------------------------------------


def _exact(times_reached, times_not, censored_not=()):
    """Accounts whose time after the landmark is given exactly (all observed as of AS_OF)."""
    signup = AS_OF - pd.Timedelta(days=3000)
    landmark = signup + pd.Timedelta(days=WINDOW)
    rows, flags = [], {}
    for i, t in enumerate(times_reached):
        rows.append((f"r{i}", signup, landmark + pd.Timedelta(days=t)))
        flags[f"r{i}"] = True
    for i, t in enumerate(times_not):
        rows.append((f"n{i}", signup, landmark + pd.Timedelta(days=t)))
        flags[f"n{i}"] = False
    for i, t in enumerate(censored_not):  # censored: signed up t days before the window ended
        s = AS_OF - pd.Timedelta(days=WINDOW + t)
        rows.append((f"c{i}", s, pd.NaT))
        flags[f"c{i}"] = False
    accounts = pd.DataFrame(rows, columns=["account_id", "signup_date", "churn_date"])
    milestones = pd.DataFrame({"m": pd.Series(flags)}).rename_axis("account_id")
    return accounts, milestones


def test_share_alive_and_median_without_censoring():
    accounts, milestones = _exact(
        times_reached=[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
        times_not=[50, 100, 150, 200, 250, 300, 350, 400, 450, 500],
    )
    result = run(accounts, milestones, min_group_events=1)
    m = row(result, "m")
    assert m["alive_12m_reached"] == pytest.approx(0.7)
    assert m["alive_12m_reached_low"] < 0.7 < m["alive_12m_reached_high"]
    assert m["alive_12m_not_reached"] == pytest.approx(0.3)
    assert m["alive_24m_reached"] == pytest.approx(0.3)
    assert m["alive_24m_not_reached"] == pytest.approx(0.0)
    # statsmodels' (SAS) convention: the first time with S(t) < 0.5; S(500) = 0.5, S(600) = 0.4
    assert m["median_days_reached"] == 600
    assert m["hazard_ratio"] < 1
    curve = result.curves["m"]
    assert set(curve["group"]) == {"reached", "not_reached"}
    assert curve.groupby("group")["time"].min().eq(0).all()


def test_median_not_reached_and_follow_up_limit():
    # not reached: 2 of 10 churn early, the others censored at 400 days of follow-up
    accounts, milestones = _exact(
        times_reached=[10, 20, 30, 40, 50],
        times_not=[30, 60],
        censored_not=[400] * 8,
    )
    result = run(accounts, milestones, min_group_events=1)
    m = row(result, "m")
    assert np.isnan(m["median_days_not_reached"])
    assert (
        result.summary().set_index("milestone").loc["m", "median months to churn, not reached"]
        == "not reached"
    )
    assert m["alive_12m_not_reached"] == pytest.approx(0.8)
    assert np.isnan(m["alive_24m_not_reached"])  # nobody followed for 24 months in that group


# --- not enough data -------------------------------------------------------------


def test_not_enough_data_is_a_row_not_a_crash():
    accounts, milestones = planted(600, seed=2)
    ids = milestones.index
    milestones = milestones.assign(
        nobody=False,
        everybody=True,
        rare=pd.Series(ids.isin(ids[:3]), index=ids),
        partly_unknown=pd.Series(
            np.where(np.arange(len(ids)) % 2 == 0, True, None), index=ids, dtype="boolean"
        ).where(np.arange(len(ids)) % 3 != 0, False),
    )
    result = run(accounts, milestones)
    t = result.to_frame().set_index("milestone")
    assert "no account reached" in t.loc["nobody", "reason"]
    assert "every account reached" in t.loc["everybody", "reason"]
    assert "churn event(s) among accounts that reached it" in t.loc["rare", "reason"]
    for name in ("nobody", "everybody", "rare"):
        assert np.isnan(t.loc[name, "hazard_ratio"])
    assert t.loc["nobody", "accounts"] == result.accounts
    assert not np.isnan(t.loc["nobody", "alive_12m_not_reached"])  # the curve is still there
    assert t.loc["partly_unknown", "accounts"] < result.accounts  # unknown values left out
    assert pd.isna(t.loc["m", "reason"])
    assert json.dumps(result.to_dict(), allow_nan=False)
    assert "not enough data" in result.summary().set_index("milestone").loc["nobody", "note"]


def test_no_event_or_no_entrant_raises():
    accounts, milestones = planted(200, seed=4)
    with pytest.raises(InsufficientDataError, match="none of the"):
        run(accounts.assign(churn_date=pd.NaT), milestones)
    with pytest.raises(InsufficientDataError, match="no account"):
        run(accounts, milestones, as_of=AS_OF - pd.Timedelta(days=1200))
    with pytest.raises(InsufficientDataError, match="signup_date"):
        run(accounts.drop(columns="signup_date"), milestones)
    with pytest.raises(InsufficientDataError, match="duplicate"):
        run(pd.concat([accounts, accounts.head(2)]), milestones)


def test_without_covariates_and_with_text_size_bands():
    accounts, milestones = planted(1500, seed=6)
    bare = run(accounts[["account_id", "signup_date", "churn_date"]], milestones[["m"]])
    assert bare.adjusted_for == []
    assert row(bare, "m")["hazard_ratio_high"] < 1
    bands = pd.cut(
        accounts["company_size"],
        [0, 10, 50, 200, np.inf],
        labels=["1-10", "11-50", "51-200", "201+"],
    )
    text = run(accounts.assign(company_size=bands.astype(str)), milestones[["m"]])
    assert any(c.startswith("company_size=") for c in text.adjusted_for)
    assert "log_company_size" not in text.adjusted_for


# --- result protocol ---------------------------------------------------------------


def test_result_protocol():
    import matplotlib

    matplotlib.use("Agg")
    accounts, milestones = planted(1200, seed=7)
    milestones = milestones.rename(columns={"null": "<b>x</b>"})
    result = run(accounts, milestones, horizon_days=365)
    frame = result.to_frame()
    for col in (
        "accounts",
        "events",
        "reached_share",
        "hazard_ratio",
        "hazard_ratio_low",
        "hazard_ratio_high",
        "p_value",
        "ph_p_value",
        "median_days_reached",
        "median_days_not_reached",
        "alive_12m_reached",
        "alive_12m_not_reached",
        "alive_24m_reached",
        "alive_24m_not_reached",
    ):
        assert col in frame.columns
    assert len(result.summary()) == len(frame) == 3
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["landmark_days"] == WINDOW and d["accounts"] == result.accounts
    assert {m["milestone"] for m in d["milestones"]} == {"m", "<b>x</b>", "null_confounded"}
    first = d["milestones"][0]
    assert first["hazard_ratio"] is not None and len(first["ci"]) == 2
    assert json.loads(text) == d
    ax = result.plot_curves("m")
    assert ax.get_lines()
    ax = result.plot_hazard_ratios()
    assert len(ax.get_yticklabels()) == 3
    html_text = result._repr_html_()
    assert "<b>x</b>" not in html_text and "&lt;b&gt;x&lt;/b&gt;" in html_text
    check_protocol(result)
    check_escaped(result, "m")
    with pytest.raises(KeyError):
        result.plot_curves("nope")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_charts_redraw_from_the_run_folder_tables(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from milestone_discovery.plotting import NothingToPlot

    accounts, milestones = planted(800, seed=8)
    result = run(accounts, milestones)
    tables = result.tables()
    assert set(tables) == {
        "survival",
        "survival_curves",
        "survival_overall",
        "survival_exclusions",
    }
    back = {}
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        back[name] = pd.read_csv(tmp_path / f"{name}.csv")
    ax = plot_survival_curves(back["survival_curves"], "m", back["survival"], legend_below=False)
    assert "hazard ratio" in ax.get_title() and len(ax.get_lines()) >= 2
    ax = plot_hazard_ratios(back["survival"])
    assert len(ax.get_yticklabels()) == 3
    with pytest.raises(NothingToPlot):
        plot_survival_curves(back["survival_curves"], "nope")
    with pytest.raises(NothingToPlot):
        plot_hazard_ratios(back["survival"].assign(hazard_ratio=np.nan))
    plt.close("all")


def test_milestone_columns_from_scored_accounts_csv(tmp_path):
    scored = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "eligible": [True, False, True],
            "setup": [True, False, True],
            "activation": [False, True, True],
            "mature": [False, False, True],
            "automation:mature": [True, False, False],
            "automation:features_used": [3, 0, 1],
            "stage": ["setup", "activation", "maturity"],
        }
    )
    path = tmp_path / "accounts.csv"
    scored.to_csv(path, index=False)
    for frame in (scored, pd.read_csv(path, dtype={"account_id": str})):
        flags = milestone_columns(frame)
        assert list(flags.columns) == ["setup", "activation", "mature", "automation:mature"]
        assert flags.index.name == "account_id"
        assert flags.loc["c"].tolist() == [True, True, True, False]


# --- the project's generator ----------------------------------------------------------


def _study_survival(study):
    return survival_analysis(
        study.dataset.accounts,
        milestone_columns(study.accounts),
        as_of=study.dataset.as_of,
        observation_days=study.config.study.observation_days,
        horizon_days=study.config.study.horizon_days,
        alpha=study.config.features.alpha,
    )


def test_generator_planted_milestones_lower_the_hazard():
    study = planted_study(4000, 7)  # shared with test_features / test_maturity
    result = _study_survival(study)
    t = result.to_frame().set_index("milestone")
    for name in ("mature", "activation"):
        assert t.loc[name, "hazard_ratio"] < 1
        assert t.loc[name, "hazard_ratio_high"] < 1
    assert result.fixed_horizon_accounts == study.population.n_eligible
    assert result.accounts > result.fixed_horizon_accounts


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_generator_acceptance_20k(seed):
    study = planted_study(N_ACCOUNTS, seed)
    result = _study_survival(study)
    t = result.to_frame().set_index("milestone")
    for name in ("mature", "activation", "utilization"):
        assert t.loc[name, "hazard_ratio_high"] < 1, name
    assert result.accounts > result.fixed_horizon_accounts
