"""Tests of milestone_discovery.population: time windows, labels and exclusions.

A hand-built dataset with ``as_of`` fixed at 2025-01-01 and the default
180-day observation window and 365-day horizon. Every account plants one truth.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from conftest import write_tables
from result_protocol import check_escaped, check_protocol

from milestone_discovery import Config, build_population, load_dataset, monthly_activity
from milestone_discovery.config import FeatureConfig, StudyConfig
from milestone_discovery.population import size_band_labels, summarize_population

AS_OF = dt.date(2025, 1, 1)

ACCOUNTS = pd.DataFrame(
    [
        # id, signup, churn, seats, company_size, plan
        ("inside", "2023-01-01", None, 2, 10, "basic"),
        ("late", "2023-01-01", None, 4, 11, "basic"),
        ("win_churn", "2023-01-01", "2023-03-01", 1, 5, "basic"),  # day 59: inside the window
        (
            "horizon_churn",
            "2023-01-01",
            "2023-10-01",
            3,
            50,
            "pro",
        ),  # day 273: window < churn < horizon
        (
            "window_end_churn",
            "2023-01-01",
            "2023-06-30",
            2,
            200,
            "pro",
        ),  # day 180: just after the window
        ("after_horizon", "2023-01-01", "2024-03-01", 5, 1000, "pro"),  # day 425: after the horizon
        ("young", "2024-06-01", None, 1, 30, "pro"),  # horizon ends 2025-06-01 > as_of
        ("young_churn", "2024-07-01", "2024-08-01", 1, 30, "basic"),  # young AND churned in window
        ("edge_age", "2024-01-02", None, 2, 1001, "pro"),  # horizon ends exactly on as_of
        ("m31", "2023-01-31", None, 4, 201, "enterprise"),  # signed up on the 31st
        ("dec", "2022-12-15", None, 10, 51, "pro"),
    ],
    columns=["account_id", "signup_date", "churn_date", "seats", "company_size", "plan"],
)

USAGE = pd.DataFrame(
    [
        ("inside", "gamma", "2023-01-01"),  # day 0: adopted
        ("inside", "alpha", "2023-06-29"),  # day 179: last day of the window, adopted
        ("inside", "beta", "2023-06-30"),  # day 180: after the window, NOT adopted
        ("late", "alpha", "2023-07-20"),  # day 200: after the window
        ("win_churn", "alpha", "2023-01-10"),  # 50 days before churn
        ("horizon_churn", "gamma", "2023-09-10"),  # 21 days before churn: near churn
        ("horizon_churn", "epsilon", "2023-09-01"),  # 30 days before churn: near churn
        ("horizon_churn", "delta", "2023-08-31"),  # 31 days before churn: not near
        ("after_horizon", "gamma", "2023-06-01"),  # day 151, long before churn
        (
            "window_end_churn",
            "epsilon",
            "2023-06-10",
        ),  # day 160, 20 days before churning on day 180
        ("window_end_churn", "delta", "2023-05-01"),  # day 120, 60 days before churning
        ("young", "alpha", "2024-06-02"),
        ("edge_age", "alpha", "2024-01-05"),
    ],
    columns=["account_id", "feature", "first_used_at"],
)

ACTIVITY = pd.DataFrame(
    [
        ("m31", "2023-01-01", 40, 20),
        ("m31", "2023-02-01", 80, 60),
        ("m31", "2023-04-01", 8, 4),
        ("dec", "2022-12-01", 10, 5),
        ("dec", "2023-01-01", 20, 10),
    ],
    columns=["account_id", "month", "conversations", "resolved_conversations"],
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = write_tables(
        tmp_path_factory.mktemp("population"),
        accounts=ACCOUNTS,
        feature_usage=USAGE,
        activity=ACTIVITY,
    )
    return load_dataset(folder, Config(study=StudyConfig(as_of=AS_OF)))


@pytest.fixture(scope="module")
def population(dataset):
    return build_population(dataset, Config(study=StudyConfig(as_of=AS_OF)))


# ----------------------------------------------------------------------------- adoption window
@pytest.mark.parametrize(
    ("account", "feature", "adopted"),
    [
        ("inside", "gamma", True),  # day 0
        ("inside", "alpha", True),  # day 179
        ("inside", "beta", False),  # day 180
        ("late", "alpha", False),  # day 200
        ("horizon_churn", "gamma", False),  # day 252
        ("after_horizon", "gamma", True),  # day 151
        ("edge_age", "alpha", True),
        ("dec", "alpha", False),  # never used
    ],
)
def test_adoption_counts_only_inside_the_observation_window(population, account, feature, adopted):
    assert population.flags.loc[account, feature] == adopted


def test_features_nobody_adopted_in_the_window_are_still_columns(population):
    assert list(population.flags.columns) == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert not population.flags["beta"].any()
    assert population.flags.dtypes.eq(bool).all()


@pytest.mark.parametrize(("days", "adopted"), [(90, False), (179, False), (180, True), (365, True)])
def test_a_shorter_window_counts_less(dataset, days, adopted):
    population = build_population(dataset, Config(study=StudyConfig(observation_days=days)))
    assert population.flags.loc["inside", "alpha"] == adopted  # first used on day 179


# ---------------------------------------------------------------------------- eligibility and label
@pytest.mark.parametrize(
    ("account", "reason", "retained"),
    [
        ("inside", None, True),
        ("late", None, True),
        ("win_churn", "churned_in_window", None),
        ("young_churn", "churned_in_window", None),  # churn in the window is known whatever the age
        ("young", "too_young", None),
        ("horizon_churn", None, False),
        ("window_end_churn", None, False),
        ("after_horizon", None, True),
        ("edge_age", None, True),
        ("m31", None, True),
    ],
)
def test_eligibility_and_retention_label(population, account, reason, retained):
    row = population.accounts.set_index("account_id").loc[account]
    assert row["exclusion_reason"] == reason if reason else pd.isna(row["exclusion_reason"])
    assert bool(row["eligible"]) == (reason is None)
    assert (account in population.flags.index) == (reason is None)
    if retained is None:
        assert account not in population.retained.index
    else:
        assert population.retained[account] == retained


def test_a_longer_horizon_changes_the_label(dataset):
    population = build_population(dataset, Config(study=StudyConfig(horizon_days=450)))
    assert not population.retained["after_horizon"]  # churned on day 425
    assert "edge_age" not in population.retained.index  # now too young


def test_exclusions_are_counted_by_reason(population):
    counts = population.exclusions.set_index("reason")["accounts"].to_dict()
    assert counts == {"churned_in_window": 2, "too_young": 1}
    assert population.n_eligible == len(ACCOUNTS) - 3
    summary = population.summary().set_index("group")["accounts"]
    assert summary["all accounts"] == 11
    assert summary["eligible (retention population)"] == 8
    assert summary["retained at 365 days"] == 6
    assert population.retention_rate == pytest.approx(6 / 8)


@pytest.mark.parametrize("reason", ["churned_in_window", "too_young"])
def test_result_protocol(population, reason):
    check_protocol(population)
    assert population.to_frame()["exclusion_reason"].eq(reason).any()
    check_escaped(population, reason)


def test_summary_text_names_every_exclusion_reason(population):
    text = summarize_population(population)
    assert "window 180 d, horizon 365 d" in text
    assert "excluded: churned_in_window" in text and "excluded: too_young" in text
    assert "retention rate among eligible: 75.0%" in text


# ----------------------------------------------------------------------------- near churn
@pytest.mark.parametrize(
    ("feature", "churned_adopters", "near", "others", "late"),
    [
        # only eligible accounts and in-window first use count; "churned" = churned within 30 days
        # after the window (window_end_churn, day 180); win_churn and horizon_churn's uses do not
        # count
        ("epsilon", 1, 1, 0, 0),  # 20 days before churning
        ("delta", 1, 0, 0, 0),  # 60 days before churning
        ("alpha", 0, 0, 2, 1),  # inside (day 179: the window's last 30 days) and edge_age (earlier)
        ("gamma", 0, 0, 2, 1),  # inside day 0; after_horizon day 151
        ("beta", 0, 0, 0, 0),  # only used after the window
    ],
)
def test_near_churn_counts_in_window_first_use_of_the_population(
    population, feature, churned_adopters, near, others, late
):
    row = population.near_churn.loc[feature]
    assert (row["churned_adopters"], row["first_use_near_churn"]) == (churned_adopters, near)
    assert (row["other_adopters"], row["other_first_use_late"]) == (others, late)


def test_near_churn_days_follow_the_config(dataset):
    config = Config(study=StudyConfig(), features=FeatureConfig(leaky_days=61))
    assert build_population(dataset, config).near_churn.loc["delta", "first_use_near_churn"] == 1


# ----------------------------------------------------------------------------- monthly activity
def test_monthly_activity_age_month_and_per_seat(dataset):
    act = monthly_activity(dataset).set_index(["account_id", "month"])
    m31 = act.loc["m31"]
    assert m31["age_month"].tolist() == [0, 1, 3]  # signup 2023-01-31: January is month 0
    assert m31["conversations_per_seat"].tolist() == [10.0, 20.0, 2.0]  # 4 seats
    assert m31["resolved_conversations_per_seat"].tolist() == [5.0, 15.0, 1.0]
    assert act.loc["dec"]["age_month"].tolist() == [0, 1]  # across the new year
    assert act.loc[("dec", pd.Timestamp("2023-01-01")), "conversations_per_seat"] == 2.0


def test_monthly_activity_needs_an_activity_table(dataset):
    from dataclasses import replace

    with pytest.raises(ValueError, match="no activity table"):
        monthly_activity(replace(dataset, activity=None))


# ----------------------------------------------------------------------------- segments
def test_size_band_labels():
    assert size_band_labels([10, 50]) == ["1-10", "11-50", "51+"]
    assert size_band_labels([10, 50, 200, 1000])[-1] == "1001+"


@pytest.mark.parametrize(
    ("account", "band"),
    [
        ("inside", "1-10"),
        ("late", "11-50"),
        ("horizon_churn", "11-50"),
        ("dec", "51-200"),
        ("window_end_churn", "51-200"),
        ("m31", "201-1000"),
        ("after_horizon", "201-1000"),
        ("edge_age", "1001+"),
    ],
)
def test_size_bands_include_their_upper_edge(population, account, band):
    assert population.segments.loc[account, "size_band"] == band


def test_size_strata_follow_company_size(dataset):
    population = build_population(dataset, Config(study=StudyConfig(n_size_strata=2)))
    strata = population.segments["size_stratum"]
    assert strata[["inside", "late", "horizon_churn"]].tolist() == [0, 0, 0]
    assert (
        strata[["dec", "window_end_churn", "m31", "after_horizon", "edge_age"]].tolist() == [1] * 5
    )


def test_strata_never_decrease_with_size(population):
    size = ACCOUNTS.set_index("account_id")["company_size"].reindex(population.segments.index)
    strata = population.segments["size_stratum"].to_numpy()[
        np.argsort(size.to_numpy(), kind="stable")
    ]
    assert (np.diff(strata) >= 0).all()
    assert population.segments["plan"].to_dict()["m31"] == "enterprise"


def test_covariates_hold_log_size_and_plans(population):
    cov = population.covariates
    assert cov.index.equals(population.flags.index)
    assert cov.loc["m31", "log_company_size"] == pytest.approx(np.log1p(201))
    assert cov.loc["m31", "log_seats"] == pytest.approx(np.log1p(4))
    assert cov.loc["m31", ["plan=basic", "plan=enterprise", "plan=pro"]].tolist() == [0.0, 1.0, 0.0]


# ----------------------------------------------------------------------------- wide tables
def test_wide_dataset_has_no_exclusions(tmp_path):
    pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "chat": ["yes", "no", "yes", "no"],
            "churned": ["1", "0", "0", "1"],
        }
    ).to_csv(tmp_path / "wide.csv", index=False)
    config = Config.from_dict({"wide": {"id": "id", "flags": ["chat"]}})
    population = build_population(load_dataset(tmp_path / "wide.csv", config), config)
    assert population.kind == "wide"
    assert population.exclusions.empty
    assert population.accounts["eligible"].all()
    assert population.retained.tolist() == [False, True, True, False]
    assert population.flags["chat"].tolist() == [True, False, True, False]
    assert (population.segments["size_band"] == "unknown").all()
    assert "no time windows" in summarize_population(population)


def test_with_covariate_adds_a_model_column_and_adjustment_strata(population):
    values = pd.Series(np.arange(population.n_eligible, dtype=float), index=population.flags.index)
    adjusted = population.with_covariate("early_activity", values, "early activity", n_strata=2)
    assert adjusted.covariates["early_activity"].tolist() == values.tolist()
    assert adjusted.segments["early_activity_stratum"].nunique() == 2
    # the strata of the adjusted odds ratios now split each size x plan cell by activity
    expected = (
        population.adjustment_strata + "|" + adjusted.segments["early_activity_stratum"].astype(str)
    )
    assert adjusted.adjustment_strata.equals(expected)
    assert adjusted.extra_adjustments == ("early activity",)
    assert "early_activity" not in population.covariates  # the original is unchanged


def test_with_covariate_refuses_missing_values(population):
    values = pd.Series(np.nan, index=population.flags.index)
    with pytest.raises(ValueError, match="early_activity: missing for"):
        population.with_covariate("early_activity", values, "early activity")
