"""Charts of the effect analyses: time to churn and effect by segment.

Like the charts of :mod:`milestone_discovery.plotting`, each ``plot_*``
function takes tidy tables (a result's own, or the same tables read back from
a run folder's CSV files) and draws them on ``ax`` (a new pyplot figure when
``ax`` is None), returning the Axes; a table without what a chart needs raises
:class:`~milestone_discovery.plotting.NothingToPlot`.

* :func:`plot_survival_curves` and :func:`plot_hazard_ratios`: the
  Kaplan-Meier curves and hazard ratios of
  :class:`~milestone_discovery.survival.SurvivalResult`;
* :func:`plot_effect_forest`: the odds ratios per segment level of
  :class:`~milestone_discovery.heterogeneity.HeterogeneityResult`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .plotting import NothingToPlot

__all__ = ["plot_effect_forest", "plot_hazard_ratios", "plot_survival_curves", "ratio_text"]

_MONTH_DAYS = 365.25 / 12
_GROUP_WORDS = {"reached": "reached", "not_reached": "not reached"}


def ratio_text(value: float, low: float, high: float) -> str:
    """A ratio with its confidence interval in two decimals, as the summaries and titles show it.

    Parameters
    ----------
    value, low, high : float
        The estimate and its interval.

    Returns
    -------
    str
        ``"0.85 (0.70-1.02)"``, or ``"not estimable"`` when ``value`` is missing.

    Examples
    --------
    >>> ratio_text(0.8512, 0.7049, 1.0213)
    '0.85 (0.70-1.02)'
    """
    if pd.isna(value):
        return "not estimable"
    return f"{value:.2f} ({low:.2f}-{high:.2f})"


# ----------------------------------------------------------------------------- time to churn
def plot_survival_curves(
    curves: pd.DataFrame,
    milestone: str,
    table: pd.DataFrame | None = None,
    *,
    level: str = "95%",
    ax=None,
    legend_below: bool = False,
    follow_up_days: Iterable[float] = (365, 730),
):
    """Kaplan-Meier curves of accounts that reached a milestone vs not, with pointwise CIs.

    Parameters
    ----------
    curves : pandas.DataFrame
        :meth:`SurvivalResult.curves_frame` (or its CSV): ``milestone``,
        ``group``, ``time`` (days after the landmark), ``survival``, ``low``,
        ``high``, ``at_risk``.
    milestone : str
        Which milestone to draw.
    table : pandas.DataFrame, optional
        :meth:`~milestone_discovery.survival.SurvivalResult.to_frame`; its hazard
        ratio goes into the title.
    level : str
        Confidence level shown in the labels.
    ax : matplotlib Axes, optional
    legend_below : bool
        Put the legend under the figure (needs a constrained-layout figure).
    follow_up_days : iterable of float, default (365, 730)
        Days after the landmark marked by dotted lines: the follow-up times of
        :data:`~milestone_discovery.survival_result.FOLLOW_UP_DAYS`.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    milestone_discovery.plotting.NothingToPlot
        If the table has no curve for ``milestone``.
    """
    needed = {"milestone", "group", "time", "survival", "low", "high", "at_risk"}
    if curves is None or not needed <= set(curves.columns):
        raise NothingToPlot("survival curves: no table with the curves")
    steps = curves[curves["milestone"].astype(str) == str(milestone)]
    if steps.empty:
        raise NothingToPlot(f"survival curves: none for {milestone!r}")
    ax, created = _new_axes(ax, (6, 3.5))
    colors = {"reached": "#1b7837", "not_reached": "#b2182b"}
    for g in _GROUP_WORDS:
        c = steps[steps["group"] == g]
        if c.empty:
            continue
        months = pd.to_numeric(c["time"]).to_numpy(dtype=float) / _MONTH_DAYS
        values = {k: pd.to_numeric(c[k]).to_numpy(dtype=float) for k in ("survival", "low", "high")}
        n = int(pd.to_numeric(c["at_risk"]).iloc[0])
        label = f"{_GROUP_WORDS[g]} (n={n:,})"
        ax.step(months, values["survival"], where="post", color=colors[g], lw=1.5, label=label)
        ax.fill_between(
            months, values["low"], values["high"], step="post", color=colors[g], alpha=0.15, lw=0
        )
    for days in follow_up_days:
        ax.axvline(days / _MONTH_DAYS, color="0.7", lw=0.8, ls=":")
    title = str(milestone)
    if table is not None and "milestone" in table.columns:
        match = table[table["milestone"].astype(str) == str(milestone)]
        cols = ["hazard_ratio", "hazard_ratio_low", "hazard_ratio_high"]
        if len(match) and set(cols) <= set(match.columns):
            hr, lo, hi = (float(pd.to_numeric(match[c], errors="coerce").iloc[0]) for c in cols)
            if pd.notna(hr):
                title += f": hazard ratio {ratio_text(hr, lo, hi)} ({level} CI)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("months after the end of the observation window")
    ax.set_ylabel(f"share still customers ({level} CI)")
    ax.set_ylim(0, 1.02)
    if legend_below:
        handles, labels = ax.get_legend_handles_labels()
        ax.figure.legend(handles, labels, loc="outside lower center", ncols=2)
    else:
        ax.legend(fontsize=7, loc="lower left")
    if created:
        ax.figure.tight_layout()
    return ax


def plot_hazard_ratios(table: pd.DataFrame, *, level: str = "95%", ax=None):
    """Forest plot: adjusted hazard ratio of churn per milestone with its CI (log scale).

    Parameters
    ----------
    table : pandas.DataFrame
        :meth:`~milestone_discovery.survival.SurvivalResult.to_frame` (or its
        CSV); rows without a hazard ratio are left out.
    level : str
        Confidence level shown in the label.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    milestone_discovery.plotting.NothingToPlot
        If no milestone has a hazard ratio.
    """
    cols = ["hazard_ratio", "hazard_ratio_low", "hazard_ratio_high"]
    if table is None or not {"milestone", *cols} <= set(table.columns):
        raise NothingToPlot("hazard ratios: no table")
    t = table.assign(**{c: pd.to_numeric(table[c], errors="coerce") for c in cols})
    t = t[t["hazard_ratio"].notna()].iloc[::-1]
    if t.empty:
        raise NothingToPlot("hazard ratios: no milestone has one")
    ax, created = _new_axes(ax, (6, 0.4 * max(len(t), 2) + 1))
    y = np.arange(len(t))
    err = np.vstack(
        [t["hazard_ratio"] - t["hazard_ratio_low"], t["hazard_ratio_high"] - t["hazard_ratio"]]
    )
    ax.errorbar(t["hazard_ratio"], y, xerr=err, fmt="o", color="#2166ac", capsize=2, ms=4)
    ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    _ratio_axis(ax, t["hazard_ratio_low"].min(), t["hazard_ratio_high"].max())
    ax.set_yticks(y)
    ax.set_yticklabels(t["milestone"].astype(str), fontsize=8)
    ax.set_xlabel(f"hazard ratio of churn, reached vs not ({level} CI)\n< 1: stay longer")
    if created:
        ax.figure.tight_layout()
    return ax


# ----------------------------------------------------------------------------- effect by segment
def plot_effect_forest(
    levels: pd.DataFrame,
    table: pd.DataFrame,
    overall: pd.DataFrame,
    feature: str,
    *,
    level: str = "95%",
    ax=None,
):
    """Forest plot of one feature: odds ratio of retention overall and per segment level.

    Parameters
    ----------
    levels, table : pandas.DataFrame
        :attr:`~milestone_discovery.heterogeneity.HeterogeneityResult.levels` and
        :meth:`~milestone_discovery.heterogeneity.HeterogeneityResult.to_frame`
        (or their CSVs).
    overall : pandas.DataFrame
        :attr:`~milestone_discovery.heterogeneity.HeterogeneityResult.overall`,
        indexed by feature or with a ``feature`` column.
    feature : str
        Which feature to draw.
    level : str
        Confidence level shown in the label.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    milestone_discovery.plotting.NothingToPlot
        If there is no estimate for ``feature``.
    """
    if levels is None or table is None or overall is None:
        raise NothingToPlot("effect by segment: no table")
    if "feature" in overall.columns:
        overall = overall.set_index("feature")
    overall = overall.rename(index=str)
    ratio = ["odds_ratio", "odds_ratio_low", "odds_ratio_high"]
    lv = levels[levels["feature"].astype(str) == str(feature)]
    lv = lv.assign(**{c: pd.to_numeric(lv[c], errors="coerce") for c in ratio})
    lv = lv[lv["odds_ratio"].notna()]
    t = table[table["feature"].astype(str) == str(feature)].set_index("segment")
    labels, est, lo, hi, colors = [], [], [], [], []
    if str(feature) in overall.index:
        o = pd.to_numeric(overall.loc[str(feature), ratio], errors="coerce")
        labels.append("all accounts (adjusted)")
        est.append(o["odds_ratio"])
        lo.append(o["odds_ratio_low"])
        hi.append(o["odds_ratio_high"])
        colors.append("black")
    significant = (
        _is_true(lv["significant"]) if "significant" in lv else pd.Series(False, index=lv.index)
    )
    for seg in dict.fromkeys(lv["segment"]):
        part = lv[lv["segment"] == seg]
        p = pd.to_numeric(t.loc[seg, "p_adjusted"]) if seg in t.index else float("nan")
        flag = seg in t.index and bool(
            _is_true(pd.Series([t.loc[seg, "segment_specific"]])).iloc[0]
        )
        head = f"{seg}: homogeneity p={p:.2g}" if pd.notna(p) else str(seg)
        labels.append(head + (" (segment-specific)" if flag else ""))
        est.append(np.nan)
        lo.append(np.nan)
        hi.append(np.nan)
        colors.append("none")
        for r, sig in zip(part.itertuples(), significant[part.index], strict=True):
            labels.append(f"   {r.level} (n={int(r.accounts):,})")
            est.append(r.odds_ratio)
            lo.append(r.odds_ratio_low)
            hi.append(r.odds_ratio_high)
            colors.append("#1b7837" if sig else "#4d4d4d")
    est, lo, hi = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    if not np.isfinite(est).any():
        raise NothingToPlot(f"effect by segment: no estimate for {feature!r}")
    ax, created = _new_axes(ax, (8, 0.3 * len(labels) + 1.2))
    y = np.arange(len(labels))[::-1]
    for i in range(len(labels)):
        if not np.isfinite(est[i]):
            continue
        ax.plot([lo[i], hi[i]], [y[i], y[i]], color=colors[i], lw=1.2)
        ax.plot(est[i], y[i], "D" if colors[i] == "black" else "o", color=colors[i], ms=5)
    ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
    finite = np.isfinite(lo) & np.isfinite(hi)
    _ratio_axis(
        ax, lo[finite].min() if finite.any() else 1, hi[finite].max() if finite.any() else 1
    )
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    for tick, color in zip(ax.get_yticklabels(), colors, strict=True):
        if color == "none":  # a dimension's header line
            tick.set_fontweight("bold")
    ax.set_title(str(feature), fontsize=9)
    ax.set_xlabel(f"odds ratio of retention, adopters vs not ({level} CI)")
    if created:
        ax.figure.tight_layout()
    return ax


# ----------------------------------------------------------------------------- helpers
def _new_axes(ax, figsize: tuple[float, float]):
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1], True


def _ratio_axis(ax, low: float, high: float) -> None:
    """Log-scaled ratio axis with plain tick labels (0.5, 1, 2) spanning ``[low, high]`` and 1."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    low, high = min(float(low), 1.0) / 1.15, max(float(high), 1.0) * 1.15
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ticks = [v for v in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20, 50) if low <= v <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _is_true(values: pd.Series) -> pd.Series:
    """Booleans, also when read back from a CSV as text."""
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])
