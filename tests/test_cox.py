"""The vectorised Breslow Cox fit against statsmodels' PHReg, and its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.duration.hazard_regression import PHReg

from milestone_discovery.cox import CoxFit, fit_cox
from milestone_discovery.survival import proportional_hazards_test


def simulate(
    seed: int,
    n: int,
    beta,
    *,
    binary: int = 1,
    continuous: int = 2,
    day_resolution: float | None = 1.0,
    censor_max: float | None = 150.0,
    loc: float = 0.0,
    scale: float = 1.0,
):
    """Exponential event times with ``binary`` 0/1 then ``continuous`` normal covariates.

    Times are rounded down to multiples of ``day_resolution`` (ties; None keeps
    them continuous) and censored at a uniform time up to ``censor_max`` (None:
    no censoring). Continuous covariates are ``loc + scale * N(0, 1)``.
    """
    rng = np.random.default_rng(seed)
    cols = [(rng.random(n) < 0.35).astype(float) for _ in range(binary)]
    cols += [loc + scale * rng.normal(size=n) for _ in range(continuous)]
    X = np.column_stack(cols)
    eta = (X - X.mean(axis=0)) @ np.asarray(beta, dtype=float)
    t = rng.exponential(40.0 * np.exp(-eta))
    if censor_max is None:
        c = np.full(n, np.inf)
    else:
        c = rng.uniform(0, censor_max, n)
    time = np.minimum(t, c)
    event = t <= c
    if day_resolution is not None:
        time = np.floor(time / day_resolution) * day_resolution
    return time, event, X


def near_separation(seed: int = 0, n: int = 1500):
    """A binary covariate whose group has 2 events in ~500 rows: large but finite |beta|."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.35).astype(float)
    z = rng.normal(size=n)
    t = np.floor(rng.exponential(30.0 * np.exp(-0.4 * z) * np.where(x == 1, 800.0, 1.0)))
    c = np.floor(rng.uniform(0, 120, n))
    event = t <= c
    return np.minimum(t, c), event, np.column_stack([x, z])


DATASETS = {
    "daily_ties_censored": lambda: simulate(0, 2500, [-0.7, 0.4, -0.2]),
    "continuous_times": lambda: simulate(
        1, 800, [0.5, 0.3, 0.0], day_resolution=None, censor_max=300.0
    ),
    "heavy_ties_heavy_censoring": lambda: simulate(
        2, 1500, [-1.0, 0.6, 0.25], day_resolution=25.0, censor_max=60.0
    ),
    "no_censoring": lambda: simulate(3, 600, [0.8, -0.5], continuous=1, censor_max=None),
    "single_binary": lambda: simulate(4, 1000, [-0.9], continuous=0),
    "continuous_only_uncentred": lambda: simulate(
        5, 1200, [0.3, -0.02, 0.01], binary=0, continuous=3, loc=500.0, scale=20.0
    ),
    "two_binaries": lambda: simulate(6, 2000, [-0.5, 0.7, 0.1], binary=2, continuous=1),
    "near_separation": near_separation,
}


def statsmodels_fit(time, event, X):
    return PHReg(time, X, status=event.astype(float), ties="breslow").fit()


@pytest.mark.parametrize("name", list(DATASETS))
def test_matches_statsmodels_breslow(name):
    time, event, X = DATASETS[name]()
    ref = statsmodels_fit(time, event, X)
    fit = fit_cox(time, event, X)
    assert isinstance(fit, CoxFit)
    assert fit.converged
    assert fit.n_events == int(event.sum())
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.bse, ref.bse, rtol=1e-6)
    np.testing.assert_allclose(fit.cov_params(), ref.cov_params(), rtol=1e-6, atol=1e-12)
    assert fit.loglike == pytest.approx(ref.llf, rel=1e-10)
    ours, theirs = fit.schoenfeld_residuals, np.asarray(ref.schoenfeld_residuals)
    assert ours.shape == X.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isnan(ours).all(axis=1), ~event)  # NaN exactly when censored
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)


def test_near_separation_is_a_large_finite_coefficient():
    time, event, X = near_separation()
    assert int(event[X[:, 0] == 1].sum()) <= 3
    fit = fit_cox(time, event, X)
    assert fit.converged and fit.params[0] < -3
    assert np.isfinite(fit.bse).all()


@pytest.mark.parametrize("name", ["daily_ties_censored", "heavy_ties_heavy_censoring"])
def test_proportional_hazards_test_agrees_with_statsmodels_results(name):
    time, event, X = DATASETS[name]()
    ref = statsmodels_fit(time, event, X)
    fit = fit_cox(time, event, X)
    for column in range(X.shape[1]):
        ours = proportional_hazards_test(fit, time, column)
        theirs = proportional_hazards_test(ref, time, column)
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_schoenfeld_residuals_sum_to_the_score_zero_at_the_estimate():
    time, event, X = DATASETS["daily_ties_censored"]()
    fit = fit_cox(time, event, X)
    total = np.nansum(fit.schoenfeld_residuals, axis=0)
    np.testing.assert_allclose(total, 0, atol=1e-6)


def test_row_order_does_not_matter():
    time, event, X = DATASETS["heavy_ties_heavy_censoring"]()
    perm = np.random.default_rng(9).permutation(len(time))
    a = fit_cox(time, event, X)
    b = fit_cox(time[perm], event[perm], X[perm])
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10)
    np.testing.assert_allclose(b.cov, a.cov, rtol=1e-8)
    np.testing.assert_allclose(b.schoenfeld_residuals, a.schoenfeld_residuals[perm], atol=1e-10)


def test_monotone_likelihood_is_reported_as_not_converged():
    # no event among x = 1: the MLE of its coefficient is minus infinity
    rng = np.random.default_rng(11)
    n = 400
    x = (rng.random(n) < 0.4).astype(float)
    z = rng.normal(size=n)
    time = np.floor(rng.exponential(50, n))
    event = (x == 0) & (rng.random(n) < 0.7)
    fit = fit_cox(time, event, np.column_stack([x, z]))
    assert not fit.converged
    assert fit.params[0] < -10  # heading to -inf
    assert np.isfinite(fit.loglike)
    # stopped once the information about it was lost to rounding, not at max_iter
    assert fit.n_iter < 50


def test_too_few_iterations_is_reported_as_not_converged():
    time, event, X = DATASETS["daily_ties_censored"]()
    assert not fit_cox(time, event, X, max_iter=1).converged
    full = fit_cox(time, event, X)
    assert full.converged and 1 < full.n_iter < 15


def test_one_dimensional_covariate_and_boolean_or_integer_events():
    time, event, X = DATASETS["single_binary"]()
    a = fit_cox(time, event, X[:, 0])
    b = fit_cox(time, event.astype(int), X)
    np.testing.assert_allclose(a.params, b.params)
    assert a.schoenfeld_residuals.shape == (len(time), 1)


def test_invalid_input():
    time, event, X = DATASETS["no_censoring"]()
    with pytest.raises(ValueError, match="one row per case"):
        fit_cox(time[:-1], event, X)
    with pytest.raises(ValueError, match="finite"):
        fit_cox(np.where(np.arange(len(time)) == 3, np.nan, time), event, X)
    with pytest.raises(ValueError, match="0/1"):
        fit_cox(time, event * 2, X)
    with pytest.raises(ValueError, match="at least one event"):
        fit_cox(time, np.zeros_like(event), X)
    with pytest.raises(ValueError, match="no column"):
        fit_cox(time, event, X[:, :0])
    with pytest.raises(np.linalg.LinAlgError, match="collinear"):
        fit_cox(time, event, np.column_stack([X, 2 * X[:, 0] - 1]))
    with pytest.raises(np.linalg.LinAlgError, match="collinear"):
        fit_cox(time, event, np.column_stack([X, X[:, 0] + X[:, 1]]))
    with pytest.raises(np.linalg.LinAlgError, match="constant"):
        fit_cox(time, event, np.column_stack([X, np.full(len(time), 3.0)]))
