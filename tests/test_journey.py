"""Tests of the setup, activation and utilization milestones and of account scoring.

Hand-built datasets (``valid_tables`` and a planted generator) check the
windows exactly; the session's synthetic ``discover`` run checks the scored
accounts end to end.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import valid_tables
from result_protocol import check_escaped, check_protocol

from milestone_discovery.cli import main
from milestone_discovery.config import Config
from milestone_discovery.data import load_dataset
from milestone_discovery.framework import Framework
from milestone_discovery.journey import (
    STAGES,
    discover_journey,
    journey_metrics,
    setup_flags,
)
from milestone_discovery.population import build_population, window_flags
from milestone_discovery.scoring import score_accounts

N_WINDOW_CHURN = 12  # planted accounts of journey_tables() that churn in months 0-2


def journey_tables(n: int = 300, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Accounts with planted activation and utilization effects.

    * activated accounts have 15-29 conversations in each of months 0-2 (45+
      in total), the others 0-8 (24 at most); activated accounts rarely churn
      early (5% vs 60%), early churn happening in month 3 (day < 180);
    * utilized accounts resolve 3 per seat in month 3 and 4-5 in months 4-5,
      the others 0-2: the per-seat mean is 11/3 at least vs 2 at most, and
      utilized accounts churn less between day 200 and 360;
    * the first ``N_WINDOW_CHURN`` accounts churn in calendar month 2 of their life;
    * ``zz_new`` signs up on 2024-06-30, the ``as_of`` its tests set.
    """
    rng = np.random.default_rng(seed)
    ids = [f"j{i:03d}" for i in range(n)]
    signup = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    month0 = signup.to_period("M").to_timestamp()
    seats = rng.integers(1, 4, n)
    activated = rng.random(n) < 0.5
    utilized = rng.random(n) < 0.5
    window_churn = np.arange(n) < N_WINDOW_CHURN
    early = ~window_churn & (rng.random(n) < np.where(activated, 0.05, 0.6))
    late = ~window_churn & ~early & (rng.random(n) < np.where(utilized, 0.15, 0.6))
    churn: list[pd.Timestamp | None] = [None] * n
    for i in np.flatnonzero(window_churn):
        churn[i] = max(
            month0[i] + pd.DateOffset(months=2, days=5), signup[i] + pd.Timedelta(days=1)
        )
    for i in np.flatnonzero(early):
        churn[i] = month0[i] + pd.DateOffset(months=3, days=int(rng.integers(0, 20)))
    for i in np.flatnonzero(late):
        churn[i] = signup[i] + pd.Timedelta(days=int(rng.integers(200, 360)))
    rows = []
    for i in range(n):
        last = 2 if window_churn[i] else (3 if early[i] else 5)
        for k in range(last + 1):
            if k < 3:
                conv, per_seat = (rng.integers(15, 30) if activated[i] else rng.integers(0, 9)), 1
            else:
                conv = rng.integers(0, 40)
                per_seat = (
                    (3 if k == 3 else rng.integers(4, 6)) if utilized[i] else rng.integers(0, 3)
                )
            month = (month0[i] + pd.DateOffset(months=k)).date().isoformat()
            rows.append((ids[i], month, int(conv), int(per_seat * seats[i])))
    accounts = pd.DataFrame(
        {
            "account_id": ids + ["zz_new"],
            "signup_date": [d.date().isoformat() for d in signup] + ["2024-06-30"],
            "seats": [*seats, 1],
            "company_size": [*(seats * 7), 5],
            "plan": ["pro" if s > 1 else "basic" for s in seats] + ["basic"],
            "churn_date": [None if c is None else c.date().isoformat() for c in churn] + [None],
        }
    )
    return {
        "accounts": accounts,
        "feature_usage": pd.DataFrame(
            {
                "account_id": accounts["account_id"],
                "feature": "inbox",
                "first_used_at": accounts["signup_date"],
            }
        ),
        "activity": pd.DataFrame(
            rows, columns=["account_id", "month", "conversations", "resolved_conversations"]
        ),
    }


def quick_config() -> Config:
    config = Config()
    config.journey.n_bootstrap = 50
    return config


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """(dataset, population, journey result, config) of journey_tables()."""
    from conftest import write_tables

    config = quick_config()
    # one lone account may not set as_of by default (a likely typo): the study says when
    config.study.as_of = dt.date(2024, 6, 30)
    dataset = load_dataset(
        write_tables(tmp_path_factory.mktemp("journey"), **journey_tables(800)), config
    )
    population = build_population(dataset, config)
    return dataset, population, discover_journey(dataset, population, config), config


# ----------------------------------------------------------------------------- windows
def test_journey_metrics_windows(make_dataset):
    tables = valid_tables()
    # account 007: signup 2023-01-15, 5 seats; month 4 of its life (2023-05) has no row
    tables["activity"] = pd.DataFrame(
        [
            ("007", "2023-01-01", 10, 5),  # age 0
            ("007", "2023-02-01", 20, 10),  # age 1
            ("007", "2023-03-01", 30, 15),  # age 2
            ("007", "2023-04-01", 1000, 30),  # age 3: utilization, not activation
            ("007", "2023-06-01", 50, 45),  # age 5
            ("007", "2023-07-01", 999, 999),  # age 6: neither
            ("a06", "2023-07-01", 100, 75),  # a06 signed up 2023-06-15: age 1
            ("a03", "2023-03-01", 7, 1),  # a03 churned 2023-05-01, in month 2 of its life
        ],
        columns=["account_id", "month", "conversations", "resolved_conversations"],
    )
    dataset = load_dataset(make_dataset(**tables))
    m = journey_metrics(dataset, Config())
    assert m.loc["007", "activation_value"] == 60  # months 0-2 only
    assert m.loc["007", "utilization_value"] == pytest.approx(
        (30 + 0 + 45) / 3 / 5
    )  # missing month = 0, per seat
    assert m.loc["007", "utilization_raw"] == pytest.approx((30 + 0 + 45) / 3)
    assert m.loc["a06", "activation_value"] == 100
    assert m.loc["a06", "utilization_value"] == 0
    assert m.loc["a04", "activation_value"] == 0  # no activity at all: zero, not missing
    assert m.loc["a03", "activation_value"] == 7
    # churned in calendar month 2 of its life: activation window not survived
    assert m["alive_after_activation"].to_dict() == {
        "007": True,
        "a02": True,
        "a03": False,
        "a04": True,
        "a05": True,
        "a06": True,
        "a07": True,
        "a08": True,
    }
    # as_of 2025-06-30: a08 (2025-03-01) has seen months 0-2 but not months 3-5
    assert m.loc["a08", "activation_observed"] and not m.loc["a08", "utilization_observed"]
    assert m.loc[["007", "a07"], "utilization_observed"].all()


def test_journey_metrics_follow_the_configured_windows(make_dataset):
    tables = valid_tables()
    tables["activity"] = pd.DataFrame(
        [("007", f"2023-{k:02d}-01", k, 10 * k) for k in range(1, 8)],  # age k-1
        columns=["account_id", "month", "conversations", "resolved_conversations"],
    )
    dataset = load_dataset(make_dataset(**tables))
    config = Config()
    config.journey.activation_months = 2
    config.journey.utilization_months = [4, 4]
    config.journey.activation_metric = "resolved_conversations"
    m = journey_metrics(dataset, config)
    assert m.loc["007", "activation_value"] == 10 + 20
    assert m.loc["007", "utilization_value"] == pytest.approx(50 / 5)


def test_journey_metrics_without_activity_are_missing(make_dataset):
    dataset = load_dataset(make_dataset(**valid_tables("accounts", "feature_usage")))
    m = journey_metrics(dataset, Config())
    assert m[["activation_value", "utilization_value", "utilization_raw"]].isna().all().all()


def test_unknown_activity_metric_is_a_clear_error(make_dataset):
    from milestone_discovery.errors import InsufficientDataError

    dataset = load_dataset(make_dataset(**valid_tables()))
    config = Config()
    config.journey.activation_metric = "messages"
    with pytest.raises(
        InsufficientDataError,
        match=r"activity table has no column 'messages' \(journey.activation_metric\)",
    ):
        journey_metrics(dataset, config)


@pytest.mark.parametrize(
    ("completed", "counts"),
    [
        ("2023-01-15", True),  # day 0: signup day
        ("2023-02-13", True),  # day 29
        ("2023-02-14", False),  # day 30: outside the first 30 days
        ("2023-06-01", False),
    ],
)
def test_setup_step_counts_only_in_the_first_30_days(make_dataset, completed, counts):
    tables = valid_tables()
    tables["setup_steps"] = pd.DataFrame(
        {
            "account_id": ["007", "a02"],
            "step": ["invite_team", "invite_team"],
            "completed_at": [completed, "2023-02-03"],
        }
    )
    dataset = load_dataset(make_dataset(**tables))
    flags = setup_flags(dataset, 30)
    assert flags.loc["007", "invite_team"] == counts
    assert flags.loc["a02", "invite_team"]
    assert not flags.loc["a04", "invite_team"]
    # scoring with a saved framework applies the same window
    fw = Framework(
        as_of=None,
        observation_days=180,
        horizon_days=365,
        seed=0,
        features=[],
        maturity={"categories": [], "min_categories": None},
        setup={"window_days": 30, "steps": ["invite_team"], "min_steps": 1},
    )
    scored = score_accounts(fw, dataset).set_index("account_id")
    assert scored.loc["007", "setup_steps_done"] == int(counts)
    assert scored.loc["007", "setup"] == counts
    assert scored.loc["007", "stage"] == ("setup" if counts else "none")


# ----------------------------------------------------------------------------- discover_journey
def test_planted_activation_and_exclusions(planted):
    dataset, population, result, config = planted
    ex = result.exclusions.set_index("reason")["accounts"].to_dict()
    assert ex == {"activation_window_not_over": 1, "churned_in_activation_window": N_WINDOW_CHURN}
    assert result.activation.n == len(dataset.accounts) - 1 - N_WINDOW_CHURN
    # planted: activated accounts have >= 45 conversations in months 0-2, the others <= 24
    values = journey_metrics(dataset, config)["activation_value"]
    activation_pop = values.drop(["zz_new"] + [f"j{i:03d}" for i in range(N_WINDOW_CHURN)])
    assert 24 < result.activation.threshold <= 60
    assert result.activation.share_above >= 0.95 * (activation_pop >= 45).mean()
    assert result.activation.lift > 1.5
    v = result.activation_validation.set_index("outcome")
    assert v.loc["churned by day 180", "relative_risk_high"] < 0.5
    assert result.skipped == {"setup": "no setup_steps table"}


def test_planted_utilization_is_per_seat(planted):
    _, population, result, _ = planted
    # chosen on half the accounts: any threshold separating the planted groups (<= 2 vs >= 11/3)
    assert 2 < result.utilization.threshold <= 11 / 3
    assert result.utilization.n == population.n_eligible
    assert result.utilization.lift_ci[0] > 1
    by_size = result.utilization_by_size
    assert set(by_size.columns) == {"size_band", "accounts", "attained_raw", "attained_per_seat"}
    assert by_size["accounts"].sum() == population.n_eligible


def test_saved_framework_reaches_the_same_accounts_as_the_scan(planted):
    dataset, population, result, config = planted
    fw = Framework(
        as_of=str(dataset.as_of),
        observation_days=180,
        horizon_days=365,
        seed=0,
        features=[],
        maturity={"categories": [], "min_categories": None},
        activation={"metric": "conversations", "months": [0, 2], **result.activation.to_dict()},
        utilization={
            "metric": "resolved_conversations",
            "months": [3, 5],
            "per_seat_threshold": result.utilization.to_dict()["threshold"],
        },
    )
    fw = Framework.from_text(fw.to_json())
    scored = (
        score_accounts(fw, dataset, quick_config())
        .set_index("account_id")
        .loc[population.flags.index]
    )
    m = journey_metrics(dataset, config).loc[population.flags.index]
    assert (scored["activation"] == (m["activation_value"] >= result.activation.threshold)).all()
    expected = m["utilization_value"] >= result.utilization.threshold
    assert scored["utilization"].mean() == pytest.approx(result.utilization.share_above)
    assert (scored["utilization"] == expected).all()


@pytest.mark.parametrize(
    "get_result, name",
    [
        (lambda journey: journey, lambda journey: journey.config.activation_metric),
        (lambda journey: journey.activation, lambda scan: scan.metric),
        (lambda journey: journey.utilization, lambda scan: scan.outcome),
    ],
    ids=["journey", "activation scan", "utilization scan"],
)
def test_result_protocol(planted, get_result, name):
    result = get_result(planted[2])
    check_protocol(result)
    check_escaped(result, name(result))


def test_journey_summary_has_one_row_per_milestone_with_low_high(planted):
    summary = planted[2].summary().set_index("milestone")
    assert list(summary.index) == ["setup", "activation", "utilization"]
    act = summary.loc["activation"]
    assert act["threshold_low"] <= act["threshold"] <= act["threshold_high"]
    assert act["lift_low"] <= act["lift"] <= act["lift_high"]
    assert planted[2].plot_activation().get_xlabel().startswith("conversations")


def test_without_activity_and_setup_steps_both_stages_are_skipped(make_dataset):
    dataset = load_dataset(
        make_dataset(**valid_tables("accounts", "feature_usage", "feature_catalog"))
    )
    result = discover_journey(dataset, build_population(dataset))
    assert result.skipped == {
        "activation": "no activity table",
        "utilization": "no activity table",
        "setup": "no setup_steps table",
    }
    assert result.activation is None and result.utilization is None and result.setup is None
    frame = result.to_frame().set_index("milestone")
    assert frame.loc["activation", "skipped"] == "no activity table"
    assert frame.loc["setup", "skipped"] == "no setup_steps table"
    assert "setup skipped: no setup_steps table" in result._repr_html_()


def test_setup_steps_without_activity_are_skipped_with_the_reason(make_dataset):
    dataset = load_dataset(make_dataset(**valid_tables("accounts", "feature_usage", "setup_steps")))
    result = discover_journey(dataset, build_population(dataset))
    assert result.skipped["setup"] == (
        "setup steps are judged against activation, which needs the activity table "
        "and an activation threshold"
    )


def test_wide_dataset_skips_every_journey_stage(tmp_path):
    from milestone_discovery.config import WideConfig

    pd.DataFrame(
        {"id": ["a", "b", "c"], "chat": ["Yes", "No", "Yes"], "churned": ["yes", "no", "no"]}
    ).to_csv(tmp_path / "wide.csv", index=False)
    config = Config(wide=WideConfig(id="id", flags=["chat"]))
    dataset = load_dataset(tmp_path / "wide.csv", config)
    result = discover_journey(dataset, build_population(dataset, config), config)
    assert set(result.skipped) == {"setup", "activation", "utilization"}
    assert all("wide table" in why for why in result.skipped.values())


# ----------------------------------------------------------------------------- synthetic run
def test_synthetic_activation_population_excludes_window_churn(synthetic_run):
    study = synthetic_run.study
    acc = study.dataset.accounts
    signup_m = acc["signup_date"].dt.to_period("M")
    churn_m = acc["churn_date"].dt.to_period("M")
    age = (churn_m.dt.year - signup_m.dt.year) * 12 + (churn_m.dt.month - signup_m.dt.month)
    in_window = int((acc["churn_date"].notna() & (age < 3)).sum())
    assert in_window > 0
    ex = study.journey.exclusions.set_index("reason")["accounts"]
    assert ex["churned_in_activation_window"] == in_window
    assert study.journey.activation.n == len(acc) - ex.sum()


@pytest.fixture(scope="module")
def scored(synthetic_run):
    study = synthetic_run.study
    flags = window_flags(study.dataset, study.framework.observation_days)
    return study.accounts.set_index("account_id"), flags, study.framework


def test_stage_is_the_furthest_milestone_and_next_step_the_first_unmet(scored):
    accounts, _, fw = scored
    order = [s for s in STAGES if (s if s != "maturity" else "mature") in accounts.columns]
    assert order == STAGES  # the synthetic data have every stage
    reached = accounts[["setup", "activation", "utilization", "mature"]].astype(bool).to_numpy()
    furthest = [STAGES[np.flatnonzero(r)[-1]] if r.any() else "none" for r in reached]
    first_unmet = [
        STAGES[np.flatnonzero(~r)[0]] if (~r).any() else "all milestones reached" for r in reached
    ]
    assert accounts["stage"].tolist() == furthest
    assert accounts["next_step"].tolist() == first_unmet
    assert set(accounts["stage"]) == {"none", *STAGES}


def test_milestones_apply_the_framework_thresholds(scored):
    accounts, _, fw = scored
    np.testing.assert_array_equal(
        accounts["activation"], accounts["activation_value"] >= fw.activation["threshold"]
    )
    np.testing.assert_array_equal(
        accounts["utilization"],
        accounts["utilization_value"] >= fw.utilization["per_seat_threshold"],
    )
    np.testing.assert_array_equal(
        accounts["setup"], accounts["setup_steps_done"] >= fw.setup["min_steps"]
    )
    for name, cat in fw.categories.items():
        np.testing.assert_array_equal(
            accounts[f"{name}:mature"], accounts[f"{name}:features_used"] >= cat["min_features"]
        )
    np.testing.assert_array_equal(
        accounts["mature"], accounts["mature_categories"] >= fw.min_categories
    )


def test_scored_shares_match_the_framework(synthetic_run, scored):
    accounts, _, fw = scored
    elig = accounts[accounts["eligible"]]
    mv = fw.maturity["mature_vs_not"]
    assert int(elig["mature"].sum()) == mv["accounts_reached"]
    assert elig["utilization"].mean() == pytest.approx(fw.utilization["share_above"], abs=1e-6)


def test_next_category_is_not_mature_and_next_feature_is_new_and_in_it(scored):
    accounts, flags, fw = scored
    cats = fw.categories
    with_next = accounts[accounts["next_category"].notna()]
    assert len(with_next) > 100
    for account, row in with_next.iterrows():
        assert row["next_category"] in cats
        assert not row[f"{row['next_category']}:mature"]
        if isinstance(row["next_feature"], str):
            assert row["next_feature"] in cats[row["next_category"]]["features"]
            assert not flags.loc[account, row["next_feature"]]
    # accounts mature in every category have no next category
    all_mature = accounts[[f"{c}:mature" for c in cats]].all(axis=1)
    assert accounts.loc[all_mature, "next_category"].isna().all()
    # accounts that reached every milestone have no next step either (issue 12)
    done = accounts["next_step"] == "all milestones reached"
    assert accounts.loc[done, ["next_category", "next_feature"]].isna().all().all()
    assert accounts.loc[~all_mature & ~done, "next_category"].notna().all()


def test_next_category_is_the_one_closest_to_mature(scored):
    accounts, _, fw = scored
    cats = fw.categories
    rows = accounts[accounts["next_category"].notna()]
    gap = pd.DataFrame(
        {
            c: np.where(rows[f"{c}:mature"], np.inf, v["min_features"] - rows[f"{c}:features_used"])
            for c, v in cats.items()
        },
        index=rows.index,
    )
    chosen = gap.to_numpy()[
        np.arange(len(rows)), [list(cats).index(c) for c in rows["next_category"]]
    ]
    np.testing.assert_array_equal(chosen, gap.min(axis=1).to_numpy())


def test_single_feature_category_recommends_its_feature(scored):
    accounts, _, fw = scored
    single = [c for c, v in fw.categories.items() if len(v["features"]) == 1]
    assert single
    for c in single:
        rows = accounts[accounts["next_category"] == c]
        assert (rows["next_feature"] == fw.categories[c]["features"][0]).all()


def test_every_scored_account_has_its_size_band(scored):
    accounts, _, _ = scored
    assert accounts.loc[accounts["company_size"].notna(), "size_band"].notna().all()


def test_accounts_csv_equals_the_score_command(synthetic_run, tmp_path, capsys):
    out = tmp_path / "scored.csv"
    code = main(
        [
            "score",
            str(synthetic_run.run / "framework.json"),
            str(synthetic_run.dataset),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.read_bytes() == (synthetic_run.run / "accounts.csv").read_bytes()
    printed = capsys.readouterr().out
    assert f"scored {len(synthetic_run.study.accounts):,} accounts" in printed
    assert "maturity" in printed


def test_scoring_does_not_change_the_callers_config(make_dataset):
    fw = Framework(
        as_of=None,
        observation_days=180,
        horizon_days=365,
        seed=0,
        features=[],
        maturity={"categories": [], "min_categories": None},
        activation={"metric": "conversations", "months": [0, 2], "threshold": 10},
        utilization={
            "metric": "resolved_conversations",
            "months": [3, 5],
            "per_seat_threshold": 1.0,
        },
    )
    config = Config()
    config.study.observation_days = 90
    config.study.horizon_days = 200
    config.journey.activation_months = 2
    config.journey.utilization_months = [2, 4]
    before = config.to_dict()
    scored = fw.score(load_dataset(make_dataset(**valid_tables()), config), config)
    assert scored["activation"].any()
    assert config.to_dict() == before
