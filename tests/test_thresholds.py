"""Tests of the threshold scan every milestone uses: planted steps, guards and determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from milestone_discovery import stats
from milestone_discovery.errors import InsufficientDataError
from milestone_discovery.thresholds import candidate_thresholds, scan_thresholds

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
@pytest.mark.parametrize(("seed", "n", "kind"), [
    (0, 600, "integer"),
    (1, 1500, "integer"),
    (2, 4000, "integer"),
    (3, 1500, "integer"),
    (0, 1500, "continuous"),
    (1, 4000, "continuous"),
    (2, 4000, "continuous"),
    (4, 1500, "continuous"),
])
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
    assert scan.n == n
    assert scan.rate_above == pytest.approx(0.8, abs=0.06)
    assert scan.rate_below == pytest.approx(0.35, abs=0.06)
    assert scan.lift_ci[0] > 1.5
    assert 0 < scan.bootstrap_agreement <= 1


def test_chosen_statistics_agree_with_direct_computation():
    metric, outcome = planted_step(5, 1200, "integer")
    scan = scan_thresholds(metric, outcome, n_bootstrap=20)
    reached = metric >= scan.threshold
    assert scan.share_above == pytest.approx(reached.mean())
    assert scan.rate_above == pytest.approx(outcome[reached].mean())
    assert scan.rate_below == pytest.approx(outcome[~reached].mean())
    assert scan.lift == pytest.approx(outcome[reached].mean() / outcome[~reached].mean())
    assert scan.phi == pytest.approx(stats.phi_coefficient(reached, outcome)[0])
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
    assert scan.share_above == pytest.approx(0.05, abs=0.01)  # pushed to the edge of the eligible range


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
    np.testing.assert_array_equal(t["eligible"], (t["share_above"] >= 0.05) & (1 - t["share_above"] >= 0.05))
    assert not t.loc[t["threshold"] == 500.0, "eligible"].any()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("value", [True, False])
def test_single_outcome_class_is_an_error(value):
    metric = np.arange(50, dtype=float)
    with pytest.raises(InsufficientDataError, match="retained: a single outcome class among 50 accounts"):
        scan_thresholds(metric, np.full(50, value), outcome_name="retained")


@pytest.mark.parametrize(("metric", "kwargs"), [
    (np.r_[np.zeros(99), 1.0], {}),  # only 1% above the only candidate
    (np.r_[np.zeros(80), np.ones(20)], {"min_share": 0.3}),
    (np.arange(100, dtype=float), {"candidates": [99.0, 200.0]}),
])
def test_no_eligible_candidate_is_an_error(metric, kwargs):
    outcome = np.arange(len(metric)) % 2 == 0
    with pytest.raises(InsufficientDataError, match=r"logins: no threshold leaves at least \d+% of the 100 accounts on each side"):
        scan_thresholds(metric, outcome, metric_name="logins", **kwargs)


@pytest.mark.parametrize(("metric", "outcome", "match"), [
    ([1.0, np.nan, 3.0], [True, False, True], "logins: metric has missing or infinite values"),
    ([1.0, np.inf, 3.0], [True, False, True], "logins: metric has missing or infinite values"),
    ([1.0, 2.0, 3.0], [True, False], "same length"),
])
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
    others = {(s.ci, s.bootstrap_agreement) for s in
              (scan_thresholds(metric, outcome, n_bootstrap=100, random_state=r) for r in range(5))}
    assert len(others) > 1  # the seed does reach the bootstrap
    assert {scan_thresholds(metric, outcome, n_bootstrap=0, random_state=r).threshold for r in range(3)} == {a.threshold}


def test_no_bootstrap_gives_a_point_interval():
    metric, outcome = noisy()
    scan = scan_thresholds(metric, outcome, n_bootstrap=0)
    assert scan.ci == (scan.threshold, scan.threshold)
    assert np.isnan(scan.bootstrap_agreement)
    assert scan.summary()["bootstrap_agreement"] is None


# ----------------------------------------------------------------------------- table and summary
def test_table_columns_and_monotone_share():
    metric, outcome = planted_step(0, 800, "continuous")
    scan = scan_thresholds(metric, outcome, n_bootstrap=10)
    t = scan.table
    assert list(t.columns) == ["threshold", "share_above", "phi", "rate_above", "rate_below", "lift",
                               "ppv", "sensitivity", "eligible"]
    assert t["threshold"].is_monotonic_increasing and t["threshold"].is_unique
    assert (np.diff(t["share_above"]) <= 0).all()
    assert (t["sensitivity"].diff().dropna() <= 0).all()
    for row in t.sample(10, random_state=0).itertuples():
        above = metric >= row.threshold
        assert row.share_above == pytest.approx(above.mean())
        assert row.rate_above == pytest.approx(outcome[above].mean())
        assert row.lift == pytest.approx(outcome[above].mean() / outcome[~above].mean())
    np.testing.assert_allclose(t["ppv"], t["rate_above"])


def test_explicit_candidates_are_used_sorted_and_deduplicated():
    metric, outcome = planted_step(1, 1000, "integer")
    scan = scan_thresholds(metric, outcome, candidates=[70, 30, 60, 60, 45], n_bootstrap=20)
    assert scan.table["threshold"].tolist() == [30, 45, 60, 70]
    assert scan.threshold == 60


def test_summary_is_json_ready():
    metric, outcome = planted_step(2, 700, "continuous")
    s = scan_thresholds(metric, outcome, n_bootstrap=20, metric_name="a<b>", outcome_name="kept").summary()
    json.dumps(s, allow_nan=False)
    assert s["n_accounts"] == 700
    assert s["threshold_ci"][0] <= s["threshold"] <= s["threshold_ci"][1]
    assert all(v == round(v, 6) for v in (s["threshold"], s["lift"], s["phi"]))


def test_repr_html_escapes_names():
    metric, outcome = planted_step(2, 300, "integer")
    html = scan_thresholds(metric, outcome, n_bootstrap=0, metric_name="<b>x</b>")._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


# ----------------------------------------------------------------------------- candidates
@pytest.mark.parametrize(("values", "expected"), [
    ([3, 1, 2, 2, 1], [2, 3]),  # every distinct value but the smallest (">= min" puts everyone above)
    ([5, 5, 5], [5]),
    ([0, 1, np.nan, np.inf, 1], [1]),  # non-finite values ignored
    ([], []),
])
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
