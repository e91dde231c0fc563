"""One threshold finder for every milestone.

:func:`scan_thresholds` scans candidate thresholds ``t`` of a metric (the
milestone is "metric >= t") against a 0/1 outcome and reports, for each:
the share of accounts above, phi, the outcome rate above and below, lift
(their ratio), PPV and sensitivity. The chosen threshold maximises phi among
candidates that leave at least ``min_share`` of the accounts on each side;
its uncertainty is a percentile bootstrap of that choice (the whole choice
is redone on every resample), and the lift at the chosen threshold has a
Katz 95% CI.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .errors import InsufficientDataError

__all__ = ["ThresholdScan", "scan_thresholds", "candidate_thresholds"]


@dataclass
class ThresholdScan:
    """Result of :func:`scan_thresholds`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate: ``threshold``, ``share_above``, ``phi``,
        ``rate_above``, ``rate_below``, ``lift``, ``ppv``, ``sensitivity``,
        ``eligible`` (enough accounts on each side).
    threshold : float
        The chosen threshold (milestone reached when metric >= threshold).
    ci : tuple of float
        Percentile bootstrap interval of the chosen threshold.
    """

    metric: str
    outcome: str
    table: pd.DataFrame
    threshold: float
    ci: tuple[float, float]
    n: int
    share_above: float
    rate_above: float
    rate_above_ci: tuple[float, float]
    rate_below: float
    rate_below_ci: tuple[float, float]
    lift: float
    lift_ci: tuple[float, float]
    phi: float
    bootstrap_agreement: float  # share of resamples choosing exactly the same threshold

    def summary(self) -> dict:
        """The chosen threshold and its statistics as plain numbers (for JSON)."""
        return {
            "threshold": _num(self.threshold),
            "threshold_ci": [_num(self.ci[0]), _num(self.ci[1])],
            "n_accounts": int(self.n),
            "share_above": _num(self.share_above),
            "outcome_rate_above": _num(self.rate_above),
            "outcome_rate_above_ci": [_num(v) for v in self.rate_above_ci],
            "outcome_rate_below": _num(self.rate_below),
            "outcome_rate_below_ci": [_num(v) for v in self.rate_below_ci],
            "lift": _num(self.lift),
            "lift_ci": [_num(v) for v in self.lift_ci],
            "phi": _num(self.phi),
            "bootstrap_agreement": _num(self.bootstrap_agreement),
        }

    def _repr_html_(self) -> str:
        return (
            f"<div><strong>Threshold for {html.escape(self.metric)}</strong> against "
            f"{html.escape(self.outcome)}: &ge; {self.threshold:.4g} (95% CI {self.ci[0]:.4g}-{self.ci[1]:.4g}); "
            f"{self.share_above:.0%} of {self.n:,} accounts above; {html.escape(self.outcome)} "
            f"{self.rate_above:.1%} above vs {self.rate_below:.1%} below (lift {self.lift:.2f}, "
            f"95% CI {self.lift_ci[0]:.2f}-{self.lift_ci[1]:.2f}); phi {self.phi:.3f}</div>"
            + _plot_html(self) + self.table.round(4).to_html(index=False, escape=True, max_rows=30)
        )

    def plot_phi(self, ax=None):
        """Phi by candidate threshold, with the chosen one and its CI marked."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        t = self.table
        ax.plot(t["threshold"], t["phi"], color="0.6", lw=1, label="all candidates")
        ok = t[t["eligible"]]
        ax.plot(ok["threshold"], ok["phi"], "o-", ms=3, color="#2166ac", label="enough accounts each side")
        ax.axvspan(self.ci[0], self.ci[1], color="#fdb863", alpha=0.35, label="95% bootstrap CI")
        ax.axvline(self.threshold, color="#b2182b", lw=1.5, label=f"chosen: {self.threshold:.4g}")
        ax.set_xlabel(f"{self.metric} threshold (milestone: value >= threshold)")
        ax.set_ylabel(f"phi with {self.outcome}")
        ax.legend(fontsize=7)
        ax.figure.tight_layout()
        return ax.figure


def _plot_html(scan: ThresholdScan) -> str:
    from .plotting import safe_figure_html

    return safe_figure_html(scan.plot_phi)


def _num(value) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else round(value, 6)


def candidate_thresholds(values: np.ndarray, max_candidates: int = 200) -> np.ndarray:
    """Candidate thresholds: every distinct value, or quantiles when there are too many."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    unique = np.unique(values)
    if len(unique) <= max_candidates:
        return unique[1:] if len(unique) > 1 else unique  # ">= min" would put everyone above
    qs = np.linspace(0, 1, max_candidates + 1)[1:-1]
    return np.unique(np.quantile(values, qs, method="lower"))


def _counts_above(bins: np.ndarray, y: np.ndarray, weights: np.ndarray, n_candidates: int):
    """Weighted counts (accounts, positives) at or above each candidate."""
    total = np.bincount(bins, weights=weights, minlength=n_candidates + 1)
    pos = np.bincount(bins, weights=weights * y, minlength=n_candidates + 1)
    # bins[i] = number of candidates <= value, so value >= candidate k  <=>  bins > k
    above = np.cumsum(total[::-1])[::-1][1:]
    above_pos = np.cumsum(pos[::-1])[::-1][1:]
    return above, above_pos, total.sum(), pos.sum()


def _phi_from_counts(above, above_pos, n, n_pos):
    below, below_pos = n - above, n_pos - above_pos
    a, b = above_pos, above - above_pos
    c, d = below_pos, below - below_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * d - b * c) / np.sqrt(above * below * n_pos * (n - n_pos))


def scan_thresholds(
    metric,
    outcome,
    *,
    candidates=None,
    min_share: float = 0.05,
    n_bootstrap: int = 200,
    random_state: int = 0,
    alpha: float = 0.05,
    metric_name: str = "metric",
    outcome_name: str = "outcome",
) -> ThresholdScan:
    """Choose the threshold of ``metric`` that best separates ``outcome``.

    Parameters
    ----------
    metric : array-like of float
        One value per account (NaN not allowed).
    outcome : array-like of bool
        The outcome the milestone should predict (True = good, e.g. retained).
    candidates : array-like, optional
        Thresholds to try; default :func:`candidate_thresholds`.
    min_share : float
        Minimum share of accounts required on each side of a threshold.
    n_bootstrap : int
        Bootstrap resamples for the threshold's CI (0 to skip).
    random_state : int
        Seed of the bootstrap.

    Returns
    -------
    ThresholdScan

    Raises
    ------
    InsufficientDataError
        When no candidate leaves ``min_share`` of the accounts on each side, or
        the outcome has a single class.
    """
    x = np.asarray(metric, dtype=float)
    y = np.asarray(outcome, dtype=bool)
    if x.shape != y.shape:
        raise ValueError("metric and outcome must have the same length")
    if not np.isfinite(x).all():
        raise ValueError(f"{metric_name}: metric has missing or infinite values")
    if y.all() or not y.any():
        raise InsufficientDataError(f"{outcome_name}: a single outcome class among {len(y)} accounts; no threshold can be chosen")
    cands = candidate_thresholds(x) if candidates is None else np.unique(np.asarray(candidates, dtype=float))
    n = len(y)
    bins = np.searchsorted(cands, x, side="right")
    ones = np.ones(n)
    above, above_pos, _, n_pos = _counts_above(bins, y.astype(float), ones, len(cands))
    phi = _phi_from_counts(above, above_pos, n, n_pos)
    share = above / n
    eligible = (share >= min_share) & (1 - share >= min_share)
    if not eligible.any():
        raise InsufficientDataError(
            f"{metric_name}: no threshold leaves at least {min_share:.0%} of the {n} accounts on each side"
        )
    below = n - above
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_above = above_pos / above
        rate_below = (n_pos - above_pos) / below
        table = pd.DataFrame({
            "threshold": cands, "share_above": share, "phi": phi, "rate_above": rate_above,
            "rate_below": rate_below, "lift": rate_above / rate_below, "ppv": rate_above,
            "sensitivity": above_pos / n_pos, "eligible": eligible,
        })
    best = int(np.nanargmax(np.where(eligible, phi, -np.inf)))

    chosen = np.full(n_bootstrap, np.nan)
    rng = np.random.default_rng(random_state)
    yf = y.astype(float)
    for b in range(n_bootstrap):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        ab, abp, nb, npb = _counts_above(bins, yf, w, len(cands))
        ph = _phi_from_counts(ab, abp, nb, npb)
        sh = ab / nb
        ok = (sh >= min_share) & (1 - sh >= min_share) & np.isfinite(ph)
        if ok.any():
            chosen[b] = cands[int(np.argmax(np.where(ok, ph, -np.inf)))]
    chosen = chosen[np.isfinite(chosen)]
    threshold = float(cands[best])
    if len(chosen):
        ci = (float(np.quantile(chosen, alpha / 2, method="lower")), float(np.quantile(chosen, 1 - alpha / 2, method="higher")))
        agreement = float(np.mean(chosen == threshold))
    else:
        ci, agreement = (threshold, threshold), float("nan")

    reached = x >= threshold
    rr, rr_low, rr_high = stats.risk_ratio(reached, y, alpha)
    a, b_, c, d = (float(v[0]) for v in stats.cell_counts(reached, y))
    lo_above, hi_above = stats.wilson_interval(a, a + b_, alpha)
    lo_below, hi_below = stats.wilson_interval(c, c + d, alpha)
    return ThresholdScan(
        metric=metric_name, outcome=outcome_name, table=table, threshold=threshold, ci=ci, n=n,
        share_above=float(reached.mean()), rate_above=a / (a + b_), rate_above_ci=(float(lo_above), float(hi_above)),
        rate_below=c / (c + d), rate_below_ci=(float(lo_below), float(hi_below)),
        lift=float(rr[0]), lift_ci=(float(rr_low[0]), float(rr_high[0])), phi=float(phi[best]),
        bootstrap_agreement=agreement,
    )
