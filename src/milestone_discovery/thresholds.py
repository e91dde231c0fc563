"""One honest threshold finder for every milestone.

:func:`scan_thresholds` splits the accounts into a *selection* half and a
*held-out* half (stratified by outcome, seeded), and:

1. on the selection half, scans candidate thresholds ``t`` of a metric (the
   milestone is "metric >= t") and keeps the one with the best phi among
   those leaving at least ``min_share`` of accounts on each side; a
   percentile bootstrap of that whole choice gives the threshold's CI;
2. on the held-out half, which played no part in the choice, reports the
   outcome rate above and below ``t``, their ratio (``lift``) and its Katz
   CI: this is the headline number, unbiased by the search;
3. on all accounts, asks whether there *is* a threshold
   (:func:`threshold_shape`): the outcome is modelled as a smooth trend in
   the metric (a cubic B-spline of ``log1p(metric)``, or a linear trend
   for a count with few levels), and a step at ``t`` is added. Because
   ``t`` was searched for, the likelihood-ratio statistic of the step is
   calibrated by a parametric bootstrap that redraws outcomes from the
   trend and replays the whole choice of ``t`` on each replicate. The
   shape is ``step`` (a real threshold), ``gradual`` (more is better but
   no level stands out: the cut-off is a business choice) or ``none`` (no
   association). A threshold is only published as ``step`` or ``gradual``
   when its headline agrees: the held-out lift's CI must lie above 1. The
   test on all accounts is more powerful, but for maturity the features
   themselves were selected on these accounts for their association, so it
   alone could call a falsely selected feature a threshold.

CI levels follow ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .errors import InsufficientDataError
from .threshold_shape import threshold_shape

__all__ = [
    "ThresholdScan",
    "scan_thresholds",
    "candidate_thresholds",
    "threshold_shape",
    "outcome_curve",
    "split_halves",
    "choose_threshold",
    "phi_rule",
]


@dataclass
class ThresholdScan:
    """Result of :func:`scan_thresholds`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per candidate, on the selection half: ``threshold``,
        ``share_above``, ``phi``, ``outcome_rate_above``, ``outcome_rate_below``
        (as :meth:`to_dict` names the held-out ones), ``lift``, ``sensitivity``
        (share of the positive outcomes at or above), ``eligible`` (enough
        accounts on each side).
    threshold : float
        The chosen threshold (milestone reached when metric >= threshold).
    ci : tuple of float
        Percentile bootstrap interval of the chosen threshold.
    n : int
        Accounts in the analysis (both halves).
    n_holdout : int
        Accounts in the held-out half, on which every rate and ``lift`` is
        measured (``share_above`` and ``shape`` are on all accounts).
    shape : str
        ``"step"``, ``"gradual"`` or ``"none"`` (see :func:`threshold_shape`;
        ``"none"`` too when the held-out lift's CI does not lie above 1).
    curve : pandas.DataFrame
        Outcome rate by metric bin on all accounts (what "gradual" looks like).
    """

    metric: str
    outcome: str
    table: pd.DataFrame
    threshold: float
    ci: tuple[float, float]
    n: int
    n_holdout: int
    share_above: float
    rate_above: float
    rate_above_ci: tuple[float, float]
    rate_below: float
    rate_below_ci: tuple[float, float]
    lift: float
    lift_ci: tuple[float, float]
    phi: float
    bootstrap_agreement: float  # share of resamples choosing exactly the same threshold
    shape: str = "none"
    step_p_value: float = float("nan")
    association_p_value: float = float("nan")
    step_log_odds: float = float("nan")
    alpha: float = 0.05
    curve: pd.DataFrame | None = None

    @property
    def level(self) -> str:
        """The CI level as text, e.g. ``"95%"``."""
        return f"{100 * (1 - self.alpha):g}%"

    def to_dict(self) -> dict:
        """The chosen threshold and its held-out statistics as plain numbers (for JSON).

        Intervals are ``<key>_ci`` pairs, as in ``framework.json``.
        """
        return {
            "threshold": _num(self.threshold),
            "threshold_ci": [_num(self.ci[0]), _num(self.ci[1])],
            "n_accounts": int(self.n),
            "n_holdout": int(self.n_holdout),
            "share_above": _num(self.share_above),
            "outcome_rate_above": _num(self.rate_above),
            "outcome_rate_above_ci": [_num(v) for v in self.rate_above_ci],
            "outcome_rate_below": _num(self.rate_below),
            "outcome_rate_below_ci": [_num(v) for v in self.rate_below_ci],
            "lift": _num(self.lift),
            "lift_ci": [_num(v) for v in self.lift_ci],
            "phi": _num(self.phi),
            "bootstrap_agreement": _num(self.bootstrap_agreement),
            "shape": self.shape,
            "step_p_value": _num(self.step_p_value),
            "association_p_value": _num(self.association_p_value),
            "ci_level": 1 - self.alpha,
        }

    def summary(self) -> pd.DataFrame:
        """The chosen threshold and its held-out statistics as one row.

        Returns
        -------
        pandas.DataFrame
            ``metric``, ``outcome`` and the fields of :meth:`to_dict`, each
            interval as ``<key>_low``/``<key>_high`` columns.
        """
        row: dict = {"metric": self.metric, "outcome": self.outcome}
        for key, value in self.to_dict().items():
            if key.endswith("_ci"):
                row[f"{key[:-3]}_low"], row[f"{key[:-3]}_high"] = value
            else:
                row[key] = value
        return pd.DataFrame([row])

    def to_frame(self) -> pd.DataFrame:
        """The candidate scan (selection half)."""
        return self.table.copy()

    def _repr_html_(self) -> str:
        from .html_repr import render_result, table_data

        lead = (
            f"at least {self.threshold:.4g} ({self.level} CI {self.ci[0]:.4g}-{self.ci[1]:.4g}) "
            f"against {self.outcome}, shape {self.shape}"
        )
        facts = self.summary().T.reset_index()
        return render_result(
            f"Threshold for {self.metric}",
            lead=lead,
            facts=facts,
            charts=[self.plot_phi],
            tables=[table_data(self.table, "Candidates (selection half)", max_rows=30)],
        )

    def plot_phi(self, ax=None):
        """Phi by candidate threshold (selection half), the chosen one and its CI.

        Drawn by :func:`milestone_discovery.plotting.plot_threshold_scan`, as in the report.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_threshold_scan  # charts load only when drawn

        return plot_threshold_scan(
            self.table,
            self.threshold,
            self.ci,
            xlabel=self.metric,
            outcome=self.outcome,
            ax=ax,
        )

    def plot_curve(self, ax=None):
        """Outcome rate by metric bin with CIs, and the chosen threshold.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        from .plotting import plot_outcome_curve

        return plot_outcome_curve(
            self.curve,
            self.threshold,
            self.shape,
            xlabel=self.metric,
            ylabel=f"{self.outcome} rate ({self.level} CI)",
            ax=ax,
        )


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


def split_halves(outcome, random_state: int = 0, share: float = 0.5) -> np.ndarray:
    """A seeded split stratified by outcome: True marks the selection part."""
    y = np.asarray(outcome, dtype=bool)
    rng = np.random.default_rng(random_state)
    selection = np.zeros(len(y), dtype=bool)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        selection[idx[: int(round(share * len(idx)))]] = True
    return selection


def phi_rule(candidates, min_share: float):
    """The scan's choice as a ``rule`` for :func:`threshold_shape`: best phi on grouped accounts.

    Parameters
    ----------
    candidates : array-like
        Thresholds to try.
    min_share : float
        Minimum share of accounts on each side.

    Returns
    -------
    callable
        ``rule(levels, accounts, positives) -> threshold or None``.
    """
    cands = np.unique(np.asarray(candidates, dtype=float))

    def rule(levels, accounts, positives):
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(accounts > 0, positives / np.maximum(accounts, 1), 0.0)
        bins = np.searchsorted(cands, levels, side="right")
        best = _choose(bins, rate, accounts, cands, min_share)[0]
        return None if best is None else float(cands[best])

    return rule


def outcome_curve(metric, outcome, bins: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Outcome rate by quantile bin of the metric (each distinct value its own bin when few)."""
    x = np.asarray(metric, dtype=float)
    y = np.asarray(outcome, dtype=bool)
    levels = np.unique(x)
    if len(levels) <= bins:
        codes = np.searchsorted(levels, x)
        edges = np.append(levels, levels[-1])
    else:
        edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for k in range(int(codes.max()) + 1 if len(codes) else 0):
        member = codes == k
        n = int(member.sum())
        if not n:
            continue
        hits = int(y[member].sum())
        lo, hi = stats.wilson_interval(hits, n, alpha)
        rows.append(
            {
                "metric_low": float(x[member].min()),
                "metric_high": float(x[member].max()),
                "metric_mid": float(np.median(x[member])),
                "accounts": n,
                "rate": hits / n,
                "rate_low": float(lo),
                "rate_high": float(hi),
            }
        )
    return pd.DataFrame(rows)


def _choose(bins, y, weights, cands, min_share):
    above, above_pos, n, n_pos = _counts_above(bins, y, weights, len(cands))
    phi = _phi_from_counts(above, above_pos, n, n_pos)
    share = above / n
    ok = (share >= min_share) & (1 - share >= min_share) & np.isfinite(phi)
    best = int(np.argmax(np.where(ok, phi, -np.inf))) if ok.any() else None
    return best, above, above_pos, n, n_pos, phi, share, ok


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
    selection=None,
    step_rule=None,
    n_null: int = 199,
) -> ThresholdScan:
    """Choose the threshold of ``metric`` on one half of the accounts and judge it on the other.

    Parameters
    ----------
    metric : array-like of float
        One value per account (NaN not allowed).
    outcome : array-like of bool
        The outcome the milestone should predict (True = good, e.g. retained).
    candidates : array-like, optional
        Thresholds to try; default :func:`candidate_thresholds`.
    min_share : float
        Minimum share of accounts required on each side of a threshold (selection half).
    n_bootstrap : int
        Bootstrap resamples of the selection half for the threshold's CI (0 to skip).
    random_state : int
        Seed of the split and the bootstrap.
    alpha : float
        1 - CI level, and the level of the shape tests.
    selection : array-like of bool, optional
        True for the accounts used to choose the threshold (e.g. earlier
        cohorts); default: a stratified random half.
    step_rule : callable, optional
        How the threshold was chosen, replayed on null data to calibrate the
        step test (see :func:`threshold_shape`); default the best-phi choice
        over ``candidates`` (:func:`phi_rule`). Give it when the caller chose
        the threshold another way (e.g. a single candidate it picked itself).
    n_null : int
        Null replicates of the calibrated step test.

    Returns
    -------
    ThresholdScan

    Raises
    ------
    InsufficientDataError
        When no candidate leaves ``min_share`` of the accounts on each side, or
        either half has a single outcome class.
    """
    x = np.asarray(metric, dtype=float)
    y = np.asarray(outcome, dtype=bool)
    if x.shape != y.shape:
        raise ValueError("metric and outcome must have the same length")
    if not np.isfinite(x).all():
        raise ValueError(f"{metric_name}: metric has missing or infinite values")
    sel = split_halves(y, random_state) if selection is None else np.asarray(selection, dtype=bool)
    for part, name in ((sel, "selection"), (~sel, "held-out")):
        if y[part].all() or not y[part].any():
            raise InsufficientDataError(
                f"{outcome_name}: a single outcome class among the {int(part.sum())} accounts "
                f"of the {name} "
                f"half ({len(y)} in all); no threshold can be chosen and checked"
            )
    cands = (
        candidate_thresholds(x)
        if candidates is None
        else np.unique(np.asarray(candidates, dtype=float))
    )
    xs, ys = x[sel], y[sel].astype(float)
    bins = np.searchsorted(cands, xs, side="right")
    best, above, above_pos, n_s, n_pos, phi, share, eligible = _choose(
        bins, ys, np.ones(len(xs)), cands, min_share
    )
    if best is None:
        raise InsufficientDataError(
            f"{metric_name}: no threshold leaves at least {min_share:.0%} "
            f"of the {len(xs)} accounts "
            "(selection half) on each side"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_above = above_pos / above
        rate_below = (n_pos - above_pos) / (n_s - above)
        table = pd.DataFrame(
            {
                "threshold": cands,
                "share_above": share,
                "phi": phi,
                "outcome_rate_above": rate_above,
                "outcome_rate_below": rate_below,
                "lift": rate_above / rate_below,
                "sensitivity": above_pos / n_pos,
                "eligible": eligible,
            }
        )
    threshold = float(cands[best])

    chosen = np.full(n_bootstrap, np.nan)
    rng = np.random.default_rng(random_state)
    for b in range(n_bootstrap):
        w = np.bincount(rng.integers(0, len(xs), len(xs)), minlength=len(xs)).astype(float)
        pick = _choose(bins, ys, w, cands, min_share)[0]
        if pick is not None:
            chosen[b] = cands[pick]
    chosen = chosen[np.isfinite(chosen)]
    if len(chosen):
        ci = (
            float(np.quantile(chosen, alpha / 2, method="lower")),
            float(np.quantile(chosen, 1 - alpha / 2, method="higher")),
        )
        agreement = float(np.mean(chosen == threshold))
    else:
        ci, agreement = (threshold, threshold), float("nan")

    xh, yh = x[~sel], y[~sel]
    reached = xh >= threshold
    rr, rr_low, rr_high = stats.risk_ratio(reached, yh, alpha)
    a, b_, c, d = (float(v[0]) for v in stats.cell_counts(reached, yh))
    lo_above, hi_above = stats.wilson_interval(a, a + b_, alpha)
    lo_below, hi_below = stats.wilson_interval(c, c + d, alpha)
    shape = threshold_shape(
        x,
        y,
        threshold,
        alpha=alpha,
        selection=sel,
        rule=step_rule or phi_rule(cands, min_share),
        n_null=n_null,
        random_state=random_state,
    )
    if not rr_low[0] > 1:  # the headline does not support a threshold
        shape = {**shape, "shape": "none"}
    with np.errstate(invalid="ignore", divide="ignore"):
        return ThresholdScan(
            metric=metric_name,
            outcome=outcome_name,
            table=table,
            threshold=threshold,
            ci=ci,
            n=len(x),
            n_holdout=int(len(xh)),
            share_above=float((x >= threshold).mean()),
            rate_above=a / (a + b_) if a + b_ else float("nan"),
            rate_above_ci=(float(lo_above), float(hi_above)),
            rate_below=c / (c + d) if c + d else float("nan"),
            rate_below_ci=(float(lo_below), float(hi_below)),
            lift=float(rr[0]),
            lift_ci=(float(rr_low[0]), float(rr_high[0])),
            phi=float(phi[best]),
            bootstrap_agreement=agreement,
            alpha=alpha,
            curve=outcome_curve(x, y, alpha=alpha),
            **shape,
        )


def choose_threshold(
    metric, outcome, candidates, *, min_share: float = 0.05, weights=None
) -> float | None:
    """The best-phi candidate leaving ``min_share`` on each side, or None
    (no bootstrap, no split).
    """
    x = np.asarray(metric, dtype=float)
    cands = np.unique(np.asarray(candidates, dtype=float))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    best = _choose(
        np.searchsorted(cands, x, side="right"),
        np.asarray(outcome, dtype=float),
        w,
        cands,
        min_share,
    )[0]
    return None if best is None else float(cands[best])
