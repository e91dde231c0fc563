"""Feature discovery: recovery of planted drivers, traps with the right reason, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted import N_ACCOUNTS, SEEDS, planted_study, roles
from result_protocol import check_escaped, check_protocol

from milestone_discovery import Config, InsufficientDataError, discover_features
from milestone_discovery.features import DROP_REASONS, STATUSES

TRAP_ROLES = ("ubiquitous", "niche", "segment", "confounded", "leaky", "negative", "survivor")


def _f1(selected: set[str], drivers: set[str]) -> float:
    if not selected:
        return 0.0
    return 2 * len(selected & drivers) / (len(selected) + len(drivers))


@pytest.fixture(scope="module")
def small():
    """A 4,000-account study: fast, enough to check the mechanics."""
    return planted_study(4000, 7)


# ----------------------------------------------------------------------------- acceptance (slow)
@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_selected_features_recover_planted_drivers(seed):
    study = planted_study(N_ACCOUNTS, seed)
    role = roles(study.truth)
    drivers = {f for f, r in role.items() if r == "driver"}
    assert _f1(set(study.features.selected), drivers) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_no_trap_is_selected_and_each_has_its_reason(seed):
    study = planted_study(N_ACCOUNTS, seed)
    table = study.features.features.set_index("feature")
    for name, spec in study.truth["features"].items():
        if spec["role"] in TRAP_ROLES:
            assert table.loc[name, "status"] == spec["expected_status"], (
                name,
                spec["role"],
                table.loc[name, "reason"],
            )


# ----------------------------------------------------------------------------- mechanics (fast)
def test_every_feature_has_a_status_and_a_reason(small):
    table = small.features.features
    assert set(table["status"]) <= set(STATUSES)
    assert table["reason"].str.len().gt(0).all()
    assert len(table) == small.population.flags.shape[1]
    assert table["feature"].is_unique


def test_no_trap_selected_on_a_small_dataset(small):
    role = roles(small.truth)
    table = small.features.features
    picked = table.loc[table["status"] == "selected", "feature"].map(role)
    assert not picked.isin(TRAP_ROLES).any(), table.loc[table["status"] == "selected", ["feature"]]
    # at ~2,200 eligible accounts the per-feature tests have little power: what is selected
    # must be right (a planted driver), even if few are
    drivers = {f for f, r in role.items() if r == "driver"}
    assert set(small.features.selected) <= drivers
    assert small.features.selected


@pytest.mark.parametrize(
    "role, status",
    [
        ("leaky", "dropped_leaky"),
        ("ubiquitous", "dropped_ubiquitous"),
        ("niche", "dropped_segment"),  # premium-only, above the 1% floor
        ("segment", "dropped_segment"),
        ("confounded", "dropped_confounded"),
    ],
)
def test_screening_traps_carry_their_reason_on_a_small_dataset(small, role, status):
    table = small.features.features.set_index("feature")
    names = [f for f, r in roles(small.truth).items() if r == role]
    assert (table.loc[names, "status"] == status).all(), table.loc[names, ["status", "reason"]]


def test_leaky_features_are_kept_out_of_the_model(small):
    table = small.features.features.set_index("feature")
    leaky = [f for f, r in roles(small.truth).items() if r == "leaky"]
    assert table.loc[leaky, "importance"].isna().all()
    assert (table.loc[leaky, "near_churn_share"] > 0.5).all()


def test_features_add_held_out_discrimination_beyond_covariates(small):
    m = small.features.metrics.set_index("model")
    assert m.loc["covariates+features", "roc_auc_mean"] > m.loc["covariates", "roc_auc_mean"] + 0.03
    assert m.loc["covariates+features", "roc_auc_gain_vs_covariates"] > 0.03


def test_selected_features_have_positive_adjusted_effect_with_ci(small):
    sel = small.features.features.query("status == 'selected'")
    assert (sel["adj_or_low"] > 1).all()
    assert (sel["adj_or_low"] <= sel["adj_or"]).all() and (
        sel["adj_or"] <= sel["adj_or_high"]
    ).all()


def test_every_status_a_run_gives_is_documented(small):
    """The statuses of a real run and of the planted truth are in STATUSES, each drop explained."""
    produced = set(small.features.features["status"])
    planted = {spec["expected_status"] for spec in small.truth["features"].values()}
    assert {"selected", "dropped_leaky", "dropped_segment"} <= produced  # the run exercises them
    for status in sorted(produced | planted):
        assert status in STATUSES, f"{status!r} is not in features.STATUSES"
        if status != "selected":
            reason = status.removeprefix("dropped_")
            assert DROP_REASONS.get(reason), f"{status!r} has no text in features.DROP_REASONS"


def test_same_seed_gives_identical_table(small):
    again = discover_features(small.population, small.config, progress=False)
    pd.testing.assert_frame_equal(again.features, small.features.features)


def test_result_displays_and_plots(small):
    html = small.features._repr_html_()
    assert "Feature discovery" in html and "selected" in html
    assert html.count("data:image/png;base64,") == 1  # the importance plot, inline
    ax = small.features.plot_importance(top=10)
    assert len(ax.patches) == 10
    ax2 = small.features.plot_prevalence_importance()
    assert ax2.get_xlabel().startswith("prevalence")


@pytest.mark.parametrize(
    "get_result, name",
    [
        (lambda s: s.features, lambda r: r.features["feature"].iloc[0]),
        (lambda s: s.features, lambda r: r.selected[0]),
    ],
    ids=["first feature", "most important selected feature"],
)
def test_result_protocol(small, get_result, name):
    result = get_result(small)
    check_protocol(result)
    summary = result.summary().set_index("quantity")["value"]
    assert summary["features selected"] == len(result.selected)
    assert "importance" in result.to_frame() and "perm_importance" not in result.to_frame()
    check_escaped(result, name(result))


def test_html_escapes_feature_names(small):
    pop = small.population
    renamed = pop.flags.rename(columns={pop.flags.columns[0]: "<script>alert(1)</script>"})
    pop2 = type(pop)(**{**pop.__dict__, "flags": renamed})
    config = Config()
    config.features.n_repeats = 1
    config.features.shap_sample = 0
    html = discover_features(pop2, config, progress=False)._repr_html_()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


# ----------------------------------------------------------------------------- bad input
def _with(pop, **changes):
    return type(pop)(**{**pop.__dict__, **changes})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: {"retained": pd.Series(True, index=p.retained.index)}, "single class"),
        (
            lambda p: {"flags": p.flags.iloc[:150], "retained": p.retained.iloc[:150]},
            "at least 200",
        ),
        (
            lambda p: {"flags": pd.DataFrame(False, index=p.flags.index, columns=p.flags.columns)},
            "no usable feature",
        ),
    ],
)
def test_insufficient_data_gives_a_clear_error(small, change, message):
    with pytest.raises(InsufficientDataError, match=message):
        discover_features(
            _with(small.population, **change(small.population)), small.config, progress=False
        )


def test_impurity_importance_is_labelled_biased(small):
    assert "impurity_importance_biased" in small.features.features.columns
    assert "impurity_importance" not in small.features.features.columns
    assert (small.features.features["importance_se"].dropna() > 0).all()


def test_error_rate_is_controlled_over_the_candidates_only(small):
    """Screens that never look at retention take features out of the multiplicity family."""
    from statsmodels.stats.multitest import multipletests

    t = small.features.features
    screened = t["status"].isin(["dropped_ubiquitous", "dropped_niche", "dropped_segment"])
    assert t.loc[screened, "importance_q"].isna().all()
    family = t["importance_q"].notna()
    assert (
        family.sum()
        == (t["importance_p"].notna() & ~screened & (t["status"] != "dropped_leaky")).sum()
    )
    expected = multipletests(t.loc[family, "importance_p"], method="fdr_bh")[1]
    assert np.allclose(t.loc[family, "importance_q"], expected)


def test_without_covariates_the_odds_ratio_is_not_called_adjusted(small):
    pop = small.population
    flat = pop.segments.assign(size_stratum=0, plan="all")
    config = Config()
    config.features.n_repeats = 1
    result = discover_features(
        _with(pop, segments=flat, covariates=pop.covariates.iloc[:, :0]), config, progress=False
    )
    assert result.adjusted_for.startswith("nothing")
    reasons = result.features["reason"]
    assert not reasons.str.contains("adjusted odds ratio").any()
    assert reasons.str.contains("odds ratio").any()


def test_a_significant_but_negligible_importance_is_not_selected(small):
    """Practical relevance: with a minimum relevant odds ratio above every feature's
    equivalent odds ratio, nothing is selected, and the significant ones say why."""
    config = Config()
    config.study.seed = 7
    config.features.min_relevant_or = 50.0
    result = discover_features(small.population, config, progress=False)
    assert result.selected == [] and len(small.features.selected) > 0
    t = result.features
    significant = t[(t["importance_q"] < config.features.alpha) & (t["adj_or"] > 1)]
    assert set(significant["feature"]) >= set(small.features.selected)
    assert significant["reason"].str.contains("real but negligible", regex=False).all()


@pytest.mark.parametrize("floor, status", [(0.01, "dropped_segment"), (0.05, "dropped_niche")])
def test_the_niche_floor_is_a_product_rule_set_low(small, floor, status):
    """The planted niche features (premium-only, ~3% of accounts) pass the default 1% floor
    and are dropped by the segment screen; a 5% floor drops them as niche, with the floor
    in the reason. Either way they are never tested or selected."""
    config = Config()
    config.study.seed = 7
    config.features.min_prevalence = floor
    t = discover_features(small.population, config, progress=False).features.set_index("feature")
    niche = [f for f, r in roles(small.truth).items() if r == "niche"]
    assert (t.loc[niche, "prevalence"].between(0.01, 0.05)).all()
    assert (t.loc[niche, "status"] == status).all(), t.loc[niche, ["status", "reason"]]
    if status == "dropped_niche":
        assert t.loc[niche, "reason"].str.contains("< 5%", regex=False).all()
