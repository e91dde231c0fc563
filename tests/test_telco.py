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
    "feature", ["InternetService=Fiber optic", "PaymentMethod=Electronic check"]
)
def test_services_that_go_with_leaving_are_negative(telco, feature):
    study, _ = telco
    row = study.features.features.set_index("feature").loc[feature]
    assert row["status"] == "dropped_negative"
    assert row["adj_or_high"] < 1


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
    assert cats.loc["protection", "lift_ci_low"] > 1


def test_wide_run_skips_dated_stages_and_says_why(telco):
    study, out = telco
    assert set(study.journey.skipped) == {"setup", "activation", "utilization"}
    assert (out / "framework.json").is_file()
    assert study.framework.validation["temporal"]["skipped"].startswith(
        "temporal validation needs signup dates"
    )
    # features add to the contract-only baseline on held-out data
    assert study.framework.model["roc_auc_gain_vs_covariates"] > 0.03
