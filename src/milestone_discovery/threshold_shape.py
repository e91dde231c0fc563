"""Is there a threshold? The step test of :func:`threshold_shape`.

The outcome is modelled as a smooth trend in the metric (a cubic B-spline of
``log1p(metric)``, or a linear trend for a count with few levels), and a step
at the threshold is added; when the threshold was searched for, the
likelihood-ratio statistic of the step is calibrated by a parametric
bootstrap that replays the whole choice. Re-exported by
:mod:`milestone_discovery.thresholds`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st

from . import stats

__all__ = ["threshold_shape", "trend_basis", "step_statistic", "calibrated_step_p"]


def trend_basis(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Smooth trend columns: linear for a count with few levels, else a cubic B-spline of log1p."""
    levels = np.unique(reference)
    if len(levels) <= 8:
        return x[:, None].astype(float)
    from sklearn.preprocessing import SplineTransformer

    shift = min(float(levels[0]), 0.0)
    u, ref = np.log1p(x - shift), np.log1p(levels - shift)
    knots = np.unique(np.quantile(ref, np.linspace(0, 1, 5)))
    if len(knots) < 3:
        return u[:, None]
    spline = SplineTransformer(
        knots=knots[:, None], degree=3, include_bias=False, extrapolation="constant"
    )
    return spline.fit(ref[:, None]).transform(u[:, None])


def threshold_shape(
    metric,
    outcome,
    threshold: float,
    *,
    alpha: float = 0.05,
    selection=None,
    rule=None,
    n_null: int = 199,
    random_state: int = 0,
) -> dict:
    """Is there a step at ``threshold``, beyond a smooth trend?

    Three logistic models of the outcome: intercept only, a smooth trend in
    the metric, and trend + step ``[metric >= threshold]``. The association
    test compares the trend with the intercept (a basis fixed in advance:
    chi-square). The step test compares trend + step with the trend:

    * ``rule=None``: ``threshold`` was fixed without these data, so
      ``2 * (ll_step - ll_trend)`` is chi-square(1) under "no step";
    * ``rule`` given: the threshold was chosen by ``rule`` on the
      ``selection`` accounts, so the statistic (on all accounts) is
      calibrated by a parametric bootstrap of the whole choice: outcomes
      are redrawn from the fitted trend (no step), the threshold is
      re-chosen by ``rule`` on the redrawn selection accounts, and the
      statistic recomputed (``n_null`` times; Davies' problem of a
      change-point whose location is searched for).

    Parameters
    ----------
    metric, outcome : array-like
        One value per account; ``outcome`` 0/1.
    threshold : float
        The threshold under test.
    alpha : float
        Level of both tests.
    selection : array-like of bool, optional
        Accounts on which ``rule`` chose the threshold (with ``rule``).
    rule : callable, optional
        ``rule(levels, accounts, positives) -> threshold or None``: the
        choice replayed on grouped selection accounts (distinct metric
        values, accounts and positive outcomes per value).
    n_null : int
        Bootstrap replicates under "no step" (with ``rule``).
    random_state : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``shape`` (``none`` unless the trend is significant at ``alpha``
        and the outcome is better above the threshold; then ``step`` when
        the step up is significant at ``alpha`` too, else ``gradual``),
        ``step_p_value``, ``association_p_value``, ``step_log_odds``.

    Notes
    -----
    A metric with two levels is a yes/no milestone: its step is its trend.
    With as many levels as the step model has parameters (three levels of
    a count: intercept, line and step) the step model fits every level
    exactly, so its "step" is any curvature of the trend, up or down: no
    step is claimed (``step_p_value`` NaN, shape at most ``gradual``).
    """
    x = np.asarray(metric, dtype=float)
    y = np.asarray(outcome, dtype=float)
    step = (x >= threshold).astype(float)
    nan = float("nan")
    if y.min() == y.max() or step.min() == step.max():
        return {
            "shape": "none",
            "step_p_value": nan,
            "association_p_value": nan,
            "step_log_odds": nan,
        }
    # group identical rows: exact and much faster for counts
    key, inverse = np.unique(x, return_inverse=True)
    tot = np.bincount(inverse).astype(float)
    pos = np.bincount(inverse, weights=y)
    trend = trend_basis(key, key)
    ll0, _ = stats.logistic_fit(np.empty((len(key), 0)), pos, tot)
    ll1, beta1 = stats.logistic_fit(trend, pos, tot)
    lr, beta_step = step_statistic(key, trend, pos, tot, threshold)
    better_above = y[step == 1].mean() > y[step == 0].mean()
    if len(key) <= 2:  # a yes/no milestone: trend and step are the same thing
        p_step = p_assoc = float(_st.chi2.sf(max(2 * (ll1 - ll0), 0.0), 1))
        beta_step = float(beta1[-1])
    elif len(key) <= trend.shape[1] + 2:
        # intercept + trend + step fit every level exactly: the "step" would only measure
        # the trend's curvature (three levels, a line and a step), so no step can be claimed
        p_assoc = float(_st.chi2.sf(max(2 * (ll1 - ll0), 0.0), trend.shape[1]))
        p_step = nan
    else:
        p_assoc = float(_st.chi2.sf(max(2 * (ll1 - ll0), 0.0), trend.shape[1]))
        if rule is None:
            p_step = float(_st.chi2.sf(lr, 1))
        else:
            p_step = calibrated_step_p(
                key, inverse, trend, beta1, tot, lr, selection, rule, n_null, random_state
            )
    # Gatekeeping keeps the error rate at alpha: first any association (trend vs none), then,
    # only if there is one, a step beyond the trend.
    if not (better_above and p_assoc < alpha):
        shape = "none"
    elif beta_step > 0 and p_step < alpha:  # False for a NaN p-value
        shape = "step"
    else:
        shape = "gradual"
    return {
        "shape": shape,
        "step_p_value": p_step,
        "association_p_value": p_assoc,
        "step_log_odds": float(beta_step),
    }


def step_statistic(key, trend, pos, tot, threshold) -> tuple[float, float]:
    """One-sided LR statistic of a step up at ``threshold`` beyond ``trend`` (0 for a step down)."""
    step_k = (key >= threshold).astype(float)
    if step_k.min() == step_k.max():
        return 0.0, 0.0
    ll1, _ = stats.logistic_fit(trend, pos, tot)
    ll2, beta = stats.logistic_fit(np.column_stack([trend, step_k]), pos, tot)
    return (max(2 * (ll2 - ll1), 0.0) if beta[-1] > 0 else 0.0), float(beta[-1])


def calibrated_step_p(key, inverse, trend, beta, tot, observed, selection, rule, n_null, seed):
    """Bootstrap p-value of the step statistic, the threshold re-chosen on each null replicate."""
    sel = np.asarray(selection, dtype=bool)
    tot_sel = np.bincount(inverse[sel], minlength=len(key)).astype(float)
    tot_out = tot - tot_sel
    eta = np.clip(beta[0] + trend @ beta[1:], -30, 30)
    p_null = 1 / (1 + np.exp(-eta))
    rng = np.random.default_rng(seed)
    pos_sel = np.empty((n_null, len(key)))
    pos_all = np.empty((n_null, len(key)))
    for b in range(n_null):  # the same draws, in the same order, as one replicate at a time
        pos_sel[b] = rng.binomial(tot_sel.astype(np.int64), p_null)
        pos_all[b] = pos_sel[b] + rng.binomial(tot_out.astype(np.int64), p_null)
    chosen = [rule(key, tot_sel, pos_sel[b]) for b in range(n_null)]
    steps = np.array(
        [(key >= t).astype(float) if t is not None else np.zeros(len(key)) for t in chosen]
    )
    # Replicates without a threshold, or whose threshold leaves one side empty, have no step:
    # their statistic is 0.
    varies = steps.min(axis=1) != steps.max(axis=1)
    lr = np.zeros(n_null)
    if varies.any():
        ll1, _ = stats.logistic_fit_batch(trend, pos_all[varies], tot)
        ll2, beta2 = stats.logistic_fit_batch(trend, pos_all[varies], tot, varying=steps[varies])
        lr[varies] = np.where(beta2[:, -1] > 0, np.maximum(2 * (ll2 - ll1), 0.0), 0.0)
    # a replicate as extreme as the data counts (ties included, up to rounding of the fits)
    exceed = int(np.sum(lr >= observed - 1e-7 * max(1.0, abs(observed))))
    return float((1 + exceed) / (1 + n_null))
