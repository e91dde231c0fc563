"""Journey milestones recover the planted activation, utilization and setup truth."""

from __future__ import annotations

import pytest
from planted import N_ACCOUNTS, SEEDS, planted_study


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_activation_and_utilization_thresholds_within_10_percent(seed):
    study = planted_study(N_ACCOUNTS, seed)
    planted_act = study.truth["activation"]["threshold"]
    planted_util = study.truth["utilization"]["per_seat_threshold"]
    assert abs(study.journey.activation.threshold - planted_act) <= 0.1 * planted_act
    assert abs(study.journey.utilization.threshold - planted_util) <= 0.1 * planted_util


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_setup_checklist_equals_planted_drivers(seed):
    study = planted_study(N_ACCOUNTS, seed)
    setup = study.truth["setup"]
    assert set(study.journey.checklist) == set(setup["drivers"])
    steps = study.journey.setup_steps.set_index("step")
    assert (steps.loc[setup["routine"], "status"] == "dropped_routine").all()
    assert (steps.loc[setup["niche"], "status"] == "dropped_niche").all()
    assert steps.loc[setup["routine"], "reason"].str.contains("too common").all()


@pytest.fixture(scope="module")
def small():
    return planted_study(4000, 7)


def test_activation_threshold_is_close_on_a_small_dataset(small):
    planted = small.truth["activation"]["threshold"]
    scan = small.journey.activation
    assert scan.ci[0] - 0.15 * planted <= planted <= scan.ci[1] + 0.15 * planted
    validation = small.journey.activation_validation.set_index("outcome")
    early = validation.loc[validation.index.str.startswith("churned by day")].iloc[0]
    assert early["relative_risk_high"] < 1  # activated accounts go dormant/churn less


def test_per_seat_utilization_removes_the_size_dependence(small):
    t = small.journey.utilization_by_size
    t = t[t["accounts"] >= 50]
    raw_spread = t["attained_raw"].max() - t["attained_raw"].min()
    seat_spread = t["attained_per_seat"].max() - t["attained_per_seat"].min()
    assert raw_spread > 0.5
    assert seat_spread < 0.2


def test_checklist_steps_have_clear_positive_effects(small):
    steps = small.journey.setup_steps
    chk = steps[steps["status"] == "checklist"]
    assert (chk["risk_ratio_low_bonferroni"] > 1).all()
    assert chk["risk_ratio"].is_monotonic_decreasing
    assert small.journey.checklist == chk["step"].tolist()
