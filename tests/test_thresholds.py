"""Tests of the threshold scan every milestone uses: planted steps, guards and determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from result_protocol import check_escaped, check_protocol

from milestone_discovery import stats
from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.thresholds import (
    candidate_thresholds,
    outcome_curve,
    scan_thresholds,
    split_halves,
    threshold_shape,
)

STEP = 60.0


def planted_step(seed: int, n: int, kind: str, low: float = 0.35, high: float = 0.8):
    """Outcome rate jumps from ``low`` to ``high`` at metric >= 60."""
    rng = np.random.default_rng(seed)
    if kind == "integer":  # 0..119: 60 itself is a candidate
        metric = rng.integers(0, 120, n).astype(float)
    else:  # continuous and skewed: more than 200 distinct values, quantile candidates
        metric = rng.gamma(2.0, 30.0, n)
    outcome = rng.random(n) < np.where(metric >= STEP, high, low)
    return metric, outcome


# ----------------------------------------------------------------------------- planted truth
@pytest.mark.parametrize(
    ("seed", "n", "kind"),
    [
        (0, 600, "integer"),
        (1, 1500, "integer"),
        (2, 4000, "integer"),
        (3, 1500, "integer"),
        (0, 1500, "continuous"),
        (1, 4000, "continuous"),
        (2, 4000, "continuous"),
        (4, 1500, "continuous"),
    ],
)
def test_recovers_planted_step(seed, n, kind):
    metric, outcome = planted_step(seed, n, kind)
    scan = scan_thresholds(metric, outcome, random_state=seed)
    assert abs(scan.threshold - STEP) <= 0.03 * STEP
    low, high = scan.ci
    assert low <= scan.threshold <= high
    if kind == "integer":
        assert low <= STEP <= high
    else:  # candidates are a quantile grid: the CI reaches the step within the grid's resolution
        assert low <= STEP * 1.03 and high >= STEP * 0.97
    assert scan.n == n and scan.n_holdout == pytest.approx(n / 2, abs=1)
    # held-out rates: the planted ones lie inside their intervals (widened a little for the
    # threshold's own error)
    assert scan.rate_above_ci[0] - 0.03 <= 0.8 <= scan.rate_above_ci[1] + 0.03
    assert scan.rate_below_ci[0] - 0.03 <= 0.35 <= scan.rate_below_ci[1] + 0.03
    assert scan.lift_ci[0] > 1.4
    assert scan.shape == "step"
    assert 0 < scan.bootstrap_agreement <= 1


def test_chosen_statistics_agree_with_direct_computation():
    metric, outcome = planted_step(5, 1200, "integer")
    scan = scan_thresholds(metric, outcome, n_bootstrap=20)
    sel = split_halves(outcome, 0)
    # the threshold is chosen on the selection half ...
    assert scan.phi == pytest.approx(
        stats.phi_coefficient(metric[sel] >= scan.threshold, outcome[sel])[0]
    )
    # ... and every rate and the lift are measured on the other half
    metric_sel = metric[sel]
    metric, outcome = metric[~sel], outcome[~sel]
    reached = metric >= scan.threshold
    assert scan.n_holdout == len(metric)
    assert scan.share_above == pytest.approx((np.r_[metric, metric_sel] >= scan.threshold).mean())
    assert scan.rate_above == pytest.approx(outcome[reached].mean())
    assert scan.rate_below == pytest.approx(outcome[~reached].mean())
    assert scan.lift == pytest.approx(outcome[reached].mean() / outcome[~reached].mean())
    rr, lo, hi = stats.risk_ratio(reached, outcome)
    assert scan.lift_ci == pytest.approx((lo[0], hi[0]))
    wl, wh = stats.wilson_interval(outcome[reached].sum(), reached.sum())
    assert scan.rate_above_ci == pytest.approx((float(wl), float(wh)))
    # the chosen threshold is the eligible candidate with the highest phi
    t = scan.table
    assert scan.phi == pytest.approx(t.loc[t["eligible"], "phi"].max())


def test_a_metric_that_lowers_the_outcome_gives_no_positive_milestone():
    """Milestones are "metric >= t" for a good outcome; the direction is never flipped."""
    rng = np.random.default_rng(0)
    metric = rng.integers(0, 100, 2000).astype(float)
    outcome = rng.random(2000) < np.where(metric >= 50, 0.3, 0.7)
    scan = scan_thresholds(metric, outcome, n_bootstrap=0)
    assert scan.phi < 0 and scan.lift < 1
    assert scan.shape == "none"


# ----------------------------------------------------------------------------- min_share
def tiny_group_data(seed: int):
    """3% of accounts have a huge metric and are all retained; elsewhere a weak step at 50."""
    rng = np.random.default_rng(seed)
    n = 2000
    metric = rng.integers(0, 100, n).astype(float)
    outcome = rng.random(n) < np.where(metric >= 50, 0.35, 0.25)
    tiny = rng.choice(n, 60, replace=False)
    metric[tiny] = 500.0
    outcome[tiny] = True
    return metric, outcome


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_share_keeps_a_tiny_group_from_being_chosen(seed):
    metric, outcome = tiny_group_data(seed)
    # without the guard the tiny group wins: the test can fail
    loose = scan_thresholds(metric, outcome, min_share=0.01, n_bootstrap=0)
    assert loose.threshold == 500.0
    scan = scan_thresholds(metric, outcome, min_share=0.05, n_bootstrap=50, random_state=seed)
    assert scan.threshold < 500.0
    assert 0.05 <= scan.share_above <= 0.95
    assert scan.ci[1] < 500.0  # no bootstrap resample chose it either
    t = scan.table
    np.testing.assert_array_equal(
        t["eligible"], (t["share_above"] >= 0.05) & (1 - t["share_above"] >= 0.05)
    )
    assert not t.loc[t["threshold"] == 500.0, "eligible"].any()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("value", [True, False])
def test_single_outcome_class_is_an_error(value):
    metric = np.arange(50, dtype=float)
    with pytest.raises(
        InsufficientDataError,
        match=(
            r"retained: a single outcome class among the 25 accounts "
            r"of the selection half \(50 in all\)"
        ),
    ):
        scan_thresholds(metric, np.full(50, value), outcome_name="retained")


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (np.r_[np.zeros(99), 1.0], {}),  # only 1% above the only candidate
        (np.r_[np.zeros(80), np.ones(20)], {"min_share": 0.3}),
        (np.arange(100, dtype=float), {"candidates": [99.0, 200.0]}),
    ],
)
def test_no_eligible_candidate_is_an_error(metric, kwargs):
    outcome = np.arange(len(metric)) % 2 == 0
    with pytest.raises(
        InsufficientDataError,
        match=(
            r"logins: no threshold leaves at least \d+% of the 50 accounts "
            r"\(selection half\) on each side"
        ),
    ):
        scan_thresholds(metric, outcome, metric_name="logins", **kwargs)


@pytest.mark.parametrize(
    ("metric", "outcome", "match"),
    [
        ([1.0, np.nan, 3.0], [True, False, True], "logins: metric has missing or infinite values"),
        ([1.0, np.inf, 3.0], [True, False, True], "logins: metric has missing or infinite values"),
        ([1.0, 2.0, 3.0], [True, False], "same length"),
    ],
)
def test_bad_metric_is_a_value_error(metric, outcome, match):
    with pytest.raises(ValueError, match=match):
        scan_thresholds(metric, outcome, metric_name="logins")


# ----------------------------------------------------------------------------- bootstrap
def noisy():
    rng = np.random.default_rng(9)
    metric = rng.integers(0, 40, 500).astype(float)
    return metric, rng.random(500) < 0.4 + 0.004 * metric


def test_bootstrap_is_determined_by_random_state():
    metric, outcome = noisy()
    a = scan_thresholds(metric, outcome, n_bootstrap=100, random_state=4)
    b = scan_thresholds(metric, outcome, n_bootstrap=100, random_state=4)
    assert (a.ci, a.bootstrap_agreement) == (b.ci, b.bootstrap_agreement)
    others = {
        (s.ci, s.bootstrap_agreement)
        for s in (
            scan_thresholds(metric, outcome, n_bootstrap=100, random_state=r) for r in range(5)
        )
    }
    assert len(others) > 1  # the seed does reach the bootstrap
    # the same seed gives the same split, hence the same threshold, with or without bootstrap
    assert scan_thresholds(metric, outcome, n_bootstrap=0, random_state=4).threshold == a.threshold


def test_no_bootstrap_gives_a_point_interval():
    metric, outcome = noisy()
    scan = scan_thresholds(metric, outcome, n_bootstrap=0)
    assert scan.ci == (scan.threshold, scan.threshold)
    assert np.isnan(scan.bootstrap_agreement)
    assert scan.to_dict()["bootstrap_agreement"] is None


# ----------------------------------------------------------------------------- table and summary
def test_table_columns_and_monotone_share():
    metric, outcome = planted_step(0, 800, "continuous")
    scan = scan_thresholds(metric, outcome, n_bootstrap=10)
    sel = split_halves(outcome, 0)
    metric, outcome = metric[sel], outcome[sel]  # the scan is on the selection half
    t = scan.table
    assert list(t.columns) == [
        "threshold",
        "share_above",
        "phi",
        "outcome_rate_above",
        "outcome_rate_below",
        "lift",
        "sensitivity",
        "eligible",
    ]
    assert t["threshold"].is_monotonic_increasing and t["threshold"].is_unique
    assert (np.diff(t["share_above"]) <= 0).all()
    assert (t["sensitivity"].diff().dropna() <= 0).all()
    for row in t.sample(10, random_state=0).itertuples():
        above = metric >= row.threshold
        assert row.share_above == pytest.approx(above.mean())
        assert row.outcome_rate_above == pytest.approx(outcome[above].mean())
        assert row.lift == pytest.approx(outcome[above].mean() / outcome[~above].mean())


def test_explicit_candidates_are_used_sorted_and_deduplicated():
    metric, outcome = planted_step(1, 1000, "integer")
    scan = scan_thresholds(metric, outcome, candidates=[70, 30, 60, 60, 45], n_bootstrap=20)
    assert scan.table["threshold"].tolist() == [30, 45, 60, 70]
    assert scan.threshold == 60


def test_to_dict_is_json_ready_and_summary_is_one_row_with_low_high():
    metric, outcome = planted_step(2, 700, "continuous")
    scan = scan_thresholds(metric, outcome, n_bootstrap=20, metric_name="a<b>", outcome_name="kept")
    s = scan.to_dict()
    json.dumps(s, allow_nan=False)
    assert s["n_accounts"] == 700
    assert s["threshold_ci"][0] <= s["threshold"] <= s["threshold_ci"][1]
    assert all(v == round(v, 6) for v in (s["threshold"], s["lift"], s["phi"]))
    row = scan.summary()
    assert isinstance(row, pd.DataFrame) and len(row) == 1
    assert not [c for c in row.columns if c.endswith("_ci")]
    r = row.iloc[0]
    assert r["threshold_low"] <= r["threshold"] <= r["threshold_high"]
    assert r["lift_low"] == s["lift_ci"][0] and r["metric"] == "a<b>"


def test_repr_html_escapes_names():
    metric, outcome = planted_step(2, 300, "integer")
    html = scan_thresholds(metric, outcome, n_bootstrap=0, metric_name="<b>x</b>")._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize("name", ["seats", "kept"])
def test_result_protocol(name):
    metric, outcome = planted_step(2, 300, "integer")
    scan = scan_thresholds(metric, outcome, n_bootstrap=0, metric_name="seats", outcome_name="kept")
    check_protocol(scan)
    assert scan.plot_phi().get_xlabel() == "seats"
    check_escaped(scan, name)


# ----------------------------------------------------------------------------- candidates
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            [3, 1, 2, 2, 1],
            [2, 3],
        ),  # every distinct value but the smallest (">= min" puts everyone above)
        ([5, 5, 5], [5]),
        ([0, 1, np.nan, np.inf, 1], [1]),  # non-finite values ignored
        ([], []),
    ],
)
def test_candidate_thresholds_small(values, expected):
    assert candidate_thresholds(np.asarray(values, dtype=float)).tolist() == expected


@pytest.mark.parametrize("max_candidates", [10, 50, 200])
def test_candidate_thresholds_many_values_are_observed_quantiles(max_candidates):
    values = np.random.default_rng(0).gamma(2.0, 10.0, 5000)
    cands = candidate_thresholds(values, max_candidates=max_candidates)
    assert 0.8 * (max_candidates - 1) <= len(cands) <= max_candidates - 1
    assert np.isin(cands, values).all()  # thresholds are values somebody actually has
    assert (np.diff(cands) > 0).all()
    assert cands[0] > values.min() and cands[-1] < values.max()
    shares = [(values >= c).mean() for c in cands]  # spread evenly over the accounts
    assert np.diff(shares) == pytest.approx(np.full(len(cands) - 1, -1 / max_candidates), abs=0.01)


# ----------------------------------------------------------------------------- shape and honesty
def gradual(seed: int, n: int):
    """Outcome log-odds rise linearly in log1p(metric): more is better, no threshold."""
    rng = np.random.default_rng(seed)
    metric = rng.gamma(2.0, 30.0, n)
    logit = -2.0 + 0.7 * np.log1p(metric)
    return metric, rng.random(n) < 1 / (1 + np.exp(-logit))


@pytest.mark.parametrize("seed", range(4))
def test_shape_tells_step_gradual_and_none_apart(seed):
    n = 6000
    assert (
        scan_thresholds(
            *planted_step(seed, n, "continuous"), n_bootstrap=0, random_state=seed
        ).shape
        == "step"
    )
    assert scan_thresholds(*gradual(seed, n), n_bootstrap=0, random_state=seed).shape == "gradual"


def test_shape_of_noise_is_none_at_the_nominal_rate():
    """Pure noise: "step" or "gradual" is a false finding, which the gatekeeping
    keeps near alpha.
    """
    runs, n = 60, 1500
    found = []
    for seed in range(runs):
        rng = np.random.default_rng(100 + seed)
        noise = rng.gamma(2.0, 30.0, n).round(), rng.random(n) < 0.6
        found.append(scan_thresholds(*noise, n_bootstrap=0, random_state=seed).shape != "none")
    # alpha = 0.05: P(more than 9 false findings in 60) < 0.5% for an exact test
    assert sum(found) <= 9


@pytest.mark.parametrize(
    ("levels", "steps", "expected"),
    [
        ([0.3, 0.4, 0.5, 0.6, 0.7, 0.8], None, "gradual"),  # linear trend in a count: no step
        ([0.3, 0.35, 0.4, 0.7, 0.75, 0.8], 3, "step"),
        ([0.5] * 6, None, "none"),
    ],
)
def test_shape_on_a_count_with_few_levels(levels, steps, expected):
    rng = np.random.default_rng(1)
    count = rng.integers(0, 6, 8000)
    outcome = rng.random(8000) < np.asarray(levels)[count]
    threshold = steps if steps is not None else 3
    assert threshold_shape(count, outcome, threshold)["shape"] == expected


@pytest.mark.parametrize(
    ("levels", "threshold"),
    [
        ([0.43, 0.77, 0.88], 1),  # concave, as additive effects summarised in two categories give
        ([0.62, 0.76, 0.89], 2),  # convex
        ([0.30, 0.31, 0.80], 2),  # even a jump: three levels cannot tell it from a curve
    ],
)
def test_three_levels_never_claim_a_step(levels, threshold):
    """With three levels, intercept + line + step fit every level: the 'step' would be any
    curvature. The association stands (gradual), the step test is not made (NaN)."""
    rng = np.random.default_rng(5)
    count = rng.integers(0, 3, 9000)
    outcome = rng.random(9000) < np.asarray(levels)[count]
    result = threshold_shape(count, outcome, threshold)
    assert result["shape"] == "gradual" and np.isnan(result["step_p_value"])
    assert result["association_p_value"] < 1e-6


def test_a_yes_no_milestone_is_a_step_when_associated():
    rng = np.random.default_rng(6)
    reached = rng.random(4000) < 0.4
    outcome = rng.random(4000) < np.where(reached, 0.8, 0.6)
    assert threshold_shape(reached.astype(int), outcome, 1)["shape"] == "step"


def test_a_step_down_is_never_a_step():
    rng = np.random.default_rng(2)
    count = rng.integers(0, 6, 8000)
    outcome = rng.random(8000) < np.asarray([0.3, 0.4, 0.5, 0.45, 0.55, 0.65])[count]
    result = threshold_shape(count, outcome, 3)
    assert result["step_log_odds"] < 0 and result["shape"] != "step"


def test_held_out_lift_is_honest_under_the_null():
    """Pure noise: the held-out lift's CI excludes 1 about alpha of the time
    (in-sample it would not).
    """
    excluded = 0
    runs = 200
    for r in range(runs):
        rng = np.random.default_rng(r)
        metric, outcome = rng.gamma(2.0, 30.0, 1000), rng.random(1000) < 0.7
        scan = scan_thresholds(metric, outcome, n_bootstrap=0, random_state=r)
        excluded += not (scan.lift_ci[0] <= 1 <= scan.lift_ci[1])
    assert excluded / runs <= 0.08  # nominal 0.05; binomial sd over 200 runs is 0.015


def test_ci_level_follows_alpha():
    metric, outcome = planted_step(0, 2000, "integer")
    wide = scan_thresholds(metric, outcome, n_bootstrap=0, alpha=0.01)
    narrow = scan_thresholds(metric, outcome, n_bootstrap=0, alpha=0.2)
    assert wide.lift_ci[0] < narrow.lift_ci[0] and wide.lift_ci[1] > narrow.lift_ci[1]
    assert "99% CI" in wide._repr_html_() and wide.to_dict()["ci_level"] == 0.99


def test_outcome_curve_bins_cover_every_account():
    metric, outcome = gradual(0, 3000)
    curve = outcome_curve(metric, outcome)
    assert curve["accounts"].sum() == 3000 and len(curve) == 10
    assert curve["rate"].iloc[-1] > curve["rate"].iloc[0]


def test_a_shape_needs_the_held_out_half_to_confirm_it():
    """Association on all accounts alone (here made by the selection half only) does not
    publish a threshold: the held-out lift's CI reaches 1, so the shape is 'none'."""
    rng = np.random.default_rng(0)
    n = 4000
    outcome = rng.random(n) < 0.6
    selection = split_halves(outcome, 0)
    metric = rng.integers(0, 10, n).astype(float)
    metric[selection] += 8 * outcome[selection]  # an effect only where the threshold is chosen
    scan = scan_thresholds(metric, outcome, n_bootstrap=0, random_state=0)
    assert scan.association_p_value < 0.05
    assert scan.lift_ci[0] <= 1 <= scan.lift_ci[1]
    assert scan.shape == "none"
