"""Small, vectorised statistics shared by every stage.

All functions take 0/1 (bool) arrays and return numpy arrays, one value per
column, so that 60+ features are handled in one pass. The formulas are the
textbook ones (Wilson interval, Katz log interval for a risk ratio, Woolf
interval for an odds ratio, Mantel-Haenszel odds ratio with the
Robins-Breslow-Greenland variance); the tests check them against
statsmodels. Two tests work on summaries instead: :func:`adjust_p_values`
(Holm or Benjamini-Hochberg across a family of p-values) and
:func:`breslow_day` (are the odds ratios of several 2x2 tables equal?).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = [
    "z_value",
    "wilson_interval",
    "phi_coefficient",
    "odds_ratio",
    "risk_ratio",
    "mantel_haenszel",
    "bootstrap_indices",
    "logistic_fit",
    "logistic_fit_batch",
    "adjust_p_values",
    "breslow_day",
]


def z_value(alpha: float = 0.05) -> float:
    """Two-sided normal quantile, 1.96 for ``alpha=0.05``."""
    return float(_st.norm.ppf(1 - alpha / 2))


def wilson_interval(successes, n, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where ``n == 0``)."""
    successes = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def _as_2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=bool)
    return x[:, None] if x.ndim == 1 else x


def cell_counts(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2x2 counts per column of ``x`` against outcome ``y``.

    Returns ``a`` (x & y), ``b`` (x & ~y), ``c`` (~x & y), ``d`` (~x & ~y).
    """
    x = _as_2d(x).astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    a = y @ x
    n1 = x.sum(axis=0)
    b = n1 - a
    c = y.sum() - a
    d = len(y) - n1 - c
    return a, b, c, d


def phi_coefficient(x, y) -> np.ndarray:
    """Phi (Matthews) correlation of each 0/1 column of ``x`` with ``y``."""
    a, b, c, d = cell_counts(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * d - b * c) / np.sqrt((a + b) * (c + d) * (a + c) * (b + d))


def odds_ratio(x, y, alpha: float = 0.05):
    """Odds ratio of ``y`` for x=1 vs x=0 with Woolf interval.

    A 0.5 continuity correction is added to every cell of tables with a zero cell.
    """
    a, b, c, d = cell_counts(x, y)
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    a, b, c, d = (v + 0.5 * zero for v in (a, b, c, d))
    log_or = np.log(a * d / (b * c))
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = z_value(alpha)
    return np.exp(log_or), np.exp(log_or - z * se), np.exp(log_or + z * se)


def risk_ratio(x, y, alpha: float = 0.05):
    """Ratio of P(y | x=1) to P(y | x=0) with the Katz log interval."""
    a, b, c, d = cell_counts(x, y)
    n1, n0 = a + b, c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = (a / n1) / (c / n0)
        se = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
        z = z_value(alpha)
        return rr, rr * np.exp(-z * se), rr * np.exp(z * se)


def mantel_haenszel(x, y, strata, alpha: float = 0.05) -> pd.DataFrame:
    """Mantel-Haenszel odds ratio across strata, per column of ``x``.

    Parameters
    ----------
    x : array (n, p) of bool
        Exposures (feature flags).
    y : array (n,) of bool
        Outcome.
    strata : array (n,)
        Stratum label of each row (e.g. size band x plan).

    Returns
    -------
    pandas.DataFrame
        ``or_mh``, ``or_low``, ``or_high`` (Robins-Breslow-Greenland interval;
        a column with no discordant pair in any stratum gets a 0.5 correction
        in its informative strata with a zero cell, so it is never 0 or inf),
        ``p_value`` (Mantel-Haenszel chi-square test without continuity
        correction) and ``informative_strata`` (strata where the column varies
        and the outcome varies).
    """
    x = _as_2d(x).astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    codes, _ = pd.factorize(pd.Series(np.asarray(strata)), sort=True)
    k = codes.max() + 1
    onehot = np.zeros((len(codes), k))
    onehot[np.arange(len(codes)), codes] = 1.0
    nk = onehot.sum(axis=0)[:, None]  # (k, 1)
    a = onehot.T @ (x * y[:, None])  # (k, p)
    n1 = onehot.T @ x
    m1 = (onehot.T @ y)[:, None]
    b = n1 - a
    c = m1 - a
    d = nk - n1 - c
    expected = n1 * m1 / nk
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(nk > 1, n1 * (nk - n1) * m1 * (nk - m1) / (nk**2 * (nk - 1)), 0.0)
        chi2 = (a - expected).sum(axis=0) ** 2 / variance.sum(axis=0)
    informative_k = (n1 > 0) & (n1 < nk) & (m1 > 0) & (m1 < nk)
    # Sparse data (no churner, or no stayer, among adopters in any stratum) would give
    # OR = 0 or inf: add 0.5 to each cell of the informative strata with a zero cell
    # (Haldane-Anscombe), for those columns only.
    with np.errstate(invalid="ignore", divide="ignore"):
        degenerate = ((a * d / nk).sum(axis=0) == 0) | ((b * c / nk).sum(axis=0) == 0)
    fix = informative_k & ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & degenerate[None, :]
    a, b, c, d = (v + 0.5 * fix for v in (a, b, c, d))
    nk = nk + 2.0 * fix
    with np.errstate(invalid="ignore", divide="ignore"):
        r = a * d / nk
        s = b * c / nk
        R, S = r.sum(axis=0), s.sum(axis=0)
        or_mh = R / S
        p_ = (a + d) / nk
        q_ = (b + c) / nk
        var = (
            (p_ * r).sum(axis=0) / (2 * R**2)
            + (p_ * s + q_ * r).sum(axis=0) / (2 * R * S)
            + (q_ * s).sum(axis=0) / (2 * S**2)
        )
        se = np.sqrt(var)
        z = z_value(alpha)
        low, high = or_mh * np.exp(-z * se), or_mh * np.exp(z * se)
    informative = informative_k.sum(axis=0)
    return pd.DataFrame(
        {
            "or_mh": or_mh,
            "or_low": low,
            "or_high": high,
            "p_value": _st.chi2.sf(chi2, 1),
            "informative_strata": informative,
        }
    )


def bootstrap_indices(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_boot, n)`` row indices of ordinary bootstrap resamples."""
    return rng.integers(0, n, size=(n_boot, n))


def logistic_fit(X, successes, trials=None, iters: int = 50, return_cov: bool = False):
    """Maximum-likelihood binomial logistic regression (IRLS with a tiny ridge).

    Parameters
    ----------
    X : array (n, k)
        Design matrix; an intercept column is added.
    successes : array (n,)
        Successes per row (0/1 for individual rows).
    trials : array (n,), optional
        Trials per row (1 by default); grouped rows make small designs fast.

    Returns
    -------
    log_likelihood : float
    beta : ndarray (k + 1,), intercept first
    cov : ndarray (k + 1, k + 1)
        Only with ``return_cov``: the inverse observed information (Wald covariance).
    """
    X = np.column_stack(
        [np.ones(len(successes)), np.asarray(X, dtype=float).reshape(len(successes), -1)]
    )
    pos = np.asarray(successes, dtype=float)
    tot = np.ones_like(pos) if trials is None else np.asarray(trials, dtype=float)
    beta = np.zeros(X.shape[1])
    ridge = 1e-8 * max(tot.sum(), 1.0) * np.eye(X.shape[1])
    for _ in range(iters):
        eta = np.clip(X @ beta, -30, 30)
        p = 1 / (1 + np.exp(-eta))
        w = tot * p * (1 - p)
        grad = X.T @ (pos - tot * p) - ridge @ beta
        hess = X.T @ (X * w[:, None]) + ridge
        delta = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta += delta
        if np.abs(delta).max() < 1e-9:
            break
    p = np.clip(1 / (1 + np.exp(-np.clip(X @ beta, -30, 30))), 1e-12, 1 - 1e-12)
    ll = float(np.sum(pos * np.log(p) + (tot - pos) * np.log(1 - p)))
    if not return_cov:
        return ll, beta
    info = X.T @ (X * (tot * p * (1 - p))[:, None]) + ridge
    return ll, beta, np.linalg.pinv(info)


def logistic_fit_batch(X, successes, trials, varying=None, iters: int = 50):
    """Many binomial logistic regressions at once, as :func:`logistic_fit` (IRLS, tiny ridge).

    The fits share the design ``X``; each may add its own columns (``varying``),
    e.g. a step at a different threshold. Sums over rows are taken as matrix
    products, so thousands of rows and hundreds of fits take milliseconds.

    Parameters
    ----------
    X : array (n, k)
        Design shared by every fit; an intercept column is added.
    successes : array (b, n)
        Successes per row, one line per fit.
    trials : array (n,)
        Trials per row, shared by every fit.
    varying : array (b, n) or (b, n, v), optional
        Columns of each fit's own, after the shared ones.

    Returns
    -------
    log_likelihood : ndarray (b,)
    beta : ndarray (b, k + v + 1), intercept first, then the shared and the varying columns
    """
    pos = np.asarray(successes, dtype=float)
    b, n = pos.shape
    tot = np.asarray(trials, dtype=float)
    A = np.column_stack([np.ones(n), np.asarray(X, dtype=float).reshape(n, -1)])
    V = np.zeros((b, n, 0)) if varying is None else np.asarray(varying, dtype=float)
    V = V.reshape(b, n, -1)
    ka, kv = A.shape[1], V.shape[2]
    k = ka + kv
    AA = (A[:, :, None] * A[:, None, :]).reshape(n, ka * ka)
    beta = np.zeros((b, k))
    ridge = 1e-8 * max(tot.sum(), 1.0) * np.eye(k)

    def probabilities(beta):
        eta = beta[:, :ka] @ A.T + (V @ beta[:, ka:, None])[:, :, 0]
        return 1 / (1 + np.exp(-np.clip(eta, -30, 30)))

    active = np.ones(b, dtype=bool)
    for _ in range(iters):
        p = probabilities(beta)
        w = tot * p * (1 - p)
        r = pos - tot * p
        grad = np.concatenate([r @ A, (r[:, None, :] @ V)[:, 0, :]], axis=1) - beta @ ridge
        wVt = (w[:, :, None] * V).transpose(0, 2, 1)  # (b, v, n)
        hess = np.empty((b, k, k))
        hess[:, :ka, :ka] = (w @ AA).reshape(b, ka, ka)
        hess[:, ka:, :ka] = wVt @ A
        hess[:, :ka, ka:] = hess[:, ka:, :ka].transpose(0, 2, 1)
        hess[:, ka:, ka:] = wVt @ V
        hess += ridge
        delta = (np.linalg.pinv(hess[active]) @ grad[active][:, :, None])[:, :, 0]
        beta[active] += delta
        done = np.abs(delta).max(axis=1) < 1e-9
        active[np.flatnonzero(active)[done]] = False
        if not active.any():
            break
    p = np.clip(probabilities(beta), 1e-12, 1 - 1e-12)
    ll = np.sum(pos * np.log(p) + (tot - pos) * np.log(1 - p), axis=1)
    return ll, beta


# ----------------------------------------------------------------------------- tests on summaries
#: Multiplicity adjustments of :func:`adjust_p_values`.
_MULTIPLICITY_METHODS = ("holm", "fdr_bh")


def adjust_p_values(p_values: np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm or Benjamini-Hochberg adjusted p-values (as statsmodels' ``multipletests``).

    Parameters
    ----------
    p_values : array of float
        Finite p-values of one family of tests.
    method : {"holm", "fdr_bh"}
        Holm's step-down (family-wise error rate) or Benjamini-Hochberg's
        step-up (false discovery rate).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1, in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if method not in _MULTIPLICITY_METHODS:
        raise ValueError(
            f"multiplicity must be one of {sorted(_MULTIPLICITY_METHODS)}, got {method!r}"
        )
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def breslow_day(tables: np.ndarray, tarone: bool = True) -> tuple[float, float]:
    """Breslow-Day test that the odds ratios of several 2x2 tables are equal.

    Parameters
    ----------
    tables : numpy.ndarray, shape (2, 2, K)
        One 2x2 table per level; tables with an empty cell get 0.5 added to
        every cell.
    tarone : bool
        Apply Tarone's correction (the statistic is then chi-square with
        ``K - 1`` degrees of freedom also when the pooled estimate is the
        Mantel-Haenszel one).

    Returns
    -------
    statistic, p_value : float
        NaN for fewer than two tables.
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    tables = np.asarray(tables, dtype=float)
    k = tables.shape[2]
    if k < 2:
        return float("nan"), float("nan")
    table = StratifiedTable(tables, shift_zeros=True)
    pooled = float(table.oddsratio_pooled)
    if np.isfinite(pooled) and abs(pooled - 1.0) > 1e-10:
        res = table.test_equal_odds(adjust=tarone)
        return float(res.statistic), float(res.pvalue)
    # pooled odds ratio of exactly 1: the quadratic for the expected cell degenerates
    # into a linear one (statsmodels divides by 1 - OR); use its root directly
    t = table.table
    apb, apc, n = t[0, 0] + t[0, 1], t[0, 0] + t[1, 0], t.sum(axis=(0, 1))
    e11 = apb * apc / n
    v11 = 1 / (1 / e11 + 1 / (apc - e11) + 1 / (apb - e11) + 1 / (t[1, 1] - t[0, 0] + e11))
    statistic = float(np.sum((t[0, 0] - e11) ** 2 / v11))
    if tarone:
        statistic -= float((t[0, 0].sum() - e11.sum()) ** 2 / v11.sum())
    return statistic, float(_st.chi2.sf(statistic, k - 1))
