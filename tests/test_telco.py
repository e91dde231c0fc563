"""The real IBM Telco churn table, read through the wide-table path: stable facts of that data."""

from __future__ import annotations

from pathlib import Path

import pytest

from milestone_discovery import Config
from milestone_discovery.study import discover

ROOT = Path(__file__).resolve().parents[1]
TELCO = ROOT.parent / "shared" / "data" / "telco" / "telco_customer_churn.csv"


@pytest.fixture(scope="module")
def telco(tmp_path_factory):
    if not TELCO.is_file():
        pytest.skip(f"Telco data not found at {TELCO}")
    config = Config.from_toml(ROOT / "examples" / "telco.toml")
    out = tmp_path_factory.mktemp("telco_run")
    study = discover(TELCO, out, config, progress=False, report=False)
    return study, out


def test_services_that_go_with_staying_are_selected(telco):
    study, _ = telco
    status = study.features.features.set_index("feature")["status"]
    assert status["OnlineSecurity"] == "selected"
    assert status["TechSupport"] == "selected"


@pytest.mark.parametrize(
    ("column", "worst"),
    [("InternetService", "Fiber optic"), ("PaymentMethod", "Electronic check")],
)
def test_choices_that_go_with_leaving_are_reported_not_features(telco, column, worst):
    # levels of an expanded column are alternatives: analysed as choices, never features
    study, _ = telco
    assert not study.features.features["feature"].str.startswith(f"{column}=").any()
    choice = {c["name"]: c for c in study.framework.choices}[column]
    assert choice["worst_level"] == worst and choice["reference"] == worst
    others = [lv for lv in choice["levels"] if lv["level"] != worst]
    assert others and all(lv["adj_or_low"] > 1 for lv in others)


def test_contract_type_speaks_with_its_own_effect(telco):
    study, _ = telco
    plan = {c["name"]: c for c in study.framework.covariates["factors"]}["plan"]
    assert plan["label"] == "plan (Contract)" and plan["present"]
    levels = {lv["level"]: lv for lv in plan["levels"]}
    assert levels["Month-to-month"]["retention"] == pytest.approx(0.573, abs=0.001)
    assert levels["Two year"]["adj_or_low"] > 5  # adjusted for internet type and payment
    assert plan["adjusted_for"] == "InternetService and PaymentMethod"
    size = {c["name"]: c for c in study.framework.covariates["factors"]}["size"]
    assert not size["present"] and "no company size" in size["absent"]


def test_no_account_is_told_to_adopt_a_choice(telco):
    study, _ = telco
    proposed = study.accounts["next_feature"].dropna()
    assert len(proposed) and not proposed.str.contains("=").any()
    done = study.accounts["next_step"] == "all milestones reached"
    assert study.accounts.loc[done, "next_feature"].isna().all()


def test_phone_service_is_ubiquitous(telco):
    study, _ = telco
    assert (
        study.features.features.set_index("feature").loc["PhoneService", "status"]
        == "dropped_ubiquitous"
    )


def test_protection_category_is_a_maturity_category_that_lifts_retention(telco):
    study, _ = telco
    cats = study.maturity.categories.set_index("category")
    assert "protection" in cats.index
    assert cats.loc["protection", "lift_low"] > 1


def test_wide_run_skips_dated_stages_and_says_why(telco):
    study, out = telco
    assert set(study.journey.skipped) == {"setup", "activation", "utilization"}
    assert (out / "framework.json").is_file()
    assert study.framework.validation["temporal"]["skipped"].startswith(
        "temporal validation needs signup dates"
    )
    # features add to the baseline of contract, internet type and payment method (the
    # choices are covariates) on held-out data
    assert study.framework.model["baseline"] == (
        "plan (Contract), InternetService and PaymentMethod only"
    )
    assert study.framework.model["roc_auc_gain_vs_covariates"] > 0.005
