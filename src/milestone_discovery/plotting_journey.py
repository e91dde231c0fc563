"""The charts of the user journey: outcome curve, utilization by size, setup steps, temporal check.

Drawn by :class:`~milestone_discovery.journey.JourneyResult`,
:class:`~milestone_discovery.thresholds.ThresholdScan`, the temporal validation
and the HTML report; they follow the rules of :mod:`milestone_discovery.plotting`,
which re-exports them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plotting_base import (
    BLUE,
    BLUE_LIGHT,
    GREEN,
    GREY,
    GREY_LIGHT,
    INK,
    NothingToPlot,
    add_legend,
    finish_axes,
    interval_errors,
    new_axes,
    numeric_columns,
    percent_axis,
    require_columns,
)

__all__ = [
    "SETUP_STATUS_COLORS",
    "SETUP_STATUS_WORDS",
    "plot_outcome_curve",
    "plot_setup_steps",
    "plot_temporal",
    "plot_utilization_by_size",
]

#: Setup step statuses (``JourneyResult.setup_steps["status"]``) in words, in legend order.
SETUP_STATUS_WORDS = {
    "checklist": "on the checklist",
    "dropped_routine": "left out: routine",
    "dropped_niche": "left out: niche",
    "dropped_no_effect": "left out: no clear effect",
}
SETUP_STATUS_COLORS = {
    "checklist": GREEN,
    "dropped_routine": GREY,
    "dropped_niche": GREY_LIGHT,
    "dropped_no_effect": BLUE_LIGHT,
}


# ----------------------------------------------------------------------------- journey
def plot_outcome_curve(
    curve: pd.DataFrame,
    threshold: float | None = None,
    shape: str | None = None,
    xlabel: str = "metric",
    ylabel: str = "outcome rate",
    ax=None,
    legend_below: bool = False,
):
    """Outcome rate by metric bin with its CIs, and the chosen threshold.

    What a ``gradual`` milestone looks like: ``curve`` has ``metric_mid``,
    ``rate``, ``rate_low`` and ``rate_high`` (``ThresholdScan.curve`` or a
    ``*_curve.csv`` table); ``threshold`` is drawn as a red line labelled
    with ``shape``.
    """
    require_columns(curve, ["metric_mid", "rate", "rate_low", "rate_high"], "outcome curve")
    c = numeric_columns(curve, ["metric_mid", "rate", "rate_low", "rate_high"]).dropna(
        subset=["metric_mid", "rate"]
    )
    if c.empty:
        raise NothingToPlot("outcome curve: no bin")
    ax, created = new_axes(ax, (6.0, 3.5))
    err = np.vstack([c["rate"] - c["rate_low"], c["rate_high"] - c["rate"]])
    ax.errorbar(c["metric_mid"], c["rate"], yerr=err, fmt="o-", ms=3, color="#2166ac", capsize=2)
    if threshold is not None and np.isfinite(threshold):
        text = f"threshold {threshold:.4g}" + (f" ({shape})" if shape else "")
        ax.axvline(threshold, color="#b2182b", lw=1.2, label=text)
        add_legend(ax, legend_below, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    percent_axis(ax.yaxis)
    return finish_axes(ax, created)


def plot_utilization_by_size(by_size: pd.DataFrame, ax=None, legend_below: bool = False):
    """Share of accounts reaching a raw-volume threshold vs the per-seat milestone, by size.

    ``by_size``: ``size_band``, ``attained_raw``, ``attained_per_seat``
    (``JourneyResult.utilization_by_size`` or ``utilization_by_size.csv``).
    """
    needed = ["size_band", "attained_raw", "attained_per_seat"]
    t = numeric_columns(require_columns(by_size, needed, "utilization by size"), needed[1:])
    if t.empty:
        raise NothingToPlot("utilization by size: no size band")
    ax, created = new_axes(ax, (6.0, 3.6))
    x = np.arange(len(t))
    ax.bar(x - 0.2, t["attained_raw"], 0.4, color=GREY_LIGHT, label="a raw-volume threshold")
    ax.bar(x + 0.2, t["attained_per_seat"], 0.4, color=BLUE, label="the per-seat milestone")
    ax.set_xticks(x, [str(s) for s in t["size_band"]])
    ax.set_ylim(0, 1.05)
    percent_axis(ax.yaxis)
    ax.set_xlabel("company size (employees)")
    ax.set_ylabel("share of accounts reaching it")
    ax.set_title("Utilization by company size")
    add_legend(ax, legend_below, ncols=2, **({} if legend_below else {"fontsize": 7}))
    return finish_axes(ax, created)


def plot_setup_steps(steps: pd.DataFrame, ax=None, legend_below: bool = False):
    """Activation risk ratio (95% CI) of each setup step, coloured by status; strongest on top.

    ``steps``: ``step``, ``risk_ratio``, ``risk_ratio_low``, ``risk_ratio_high``,
    ``status`` (``JourneyResult.setup_steps`` or ``setup_steps.csv``).
    """
    from matplotlib.patches import Patch

    needed = ["step", "risk_ratio", "risk_ratio_low", "risk_ratio_high", "status"]
    t = numeric_columns(require_columns(steps, needed, "setup steps"), needed[1:4])
    t = t.dropna(subset=["risk_ratio"]).sort_values(["risk_ratio", "step"], kind="stable")
    if t.empty:
        raise NothingToPlot("setup steps: no risk ratio")
    ax, created = new_axes(ax, (8.0, 0.3 * len(t) + 1.6))
    y = np.arange(len(t))
    err = np.vstack(
        [
            (t["risk_ratio"] - t["risk_ratio_low"]).fillna(0),
            (t["risk_ratio_high"] - t["risk_ratio"]).fillna(0),
        ]
    ).clip(min=0)
    ax.barh(
        y,
        t["risk_ratio"] - 1,
        left=1,
        xerr=err,
        color=[SETUP_STATUS_COLORS.get(s, GREY) for s in t["status"]],
        height=0.6,
        error_kw={"elinewidth": 0.8, "ecolor": INK, "capsize": 2},
    )
    ax.axvline(1, color=INK, lw=0.8)
    ax.set_yticks(y, [str(s) for s in t["step"]])
    ax.set_xlabel("activation of accounts that did the step ÷ of those that did not (95% CI)")
    ax.set_title("Which setup steps go with activation")
    present = [s for s in SETUP_STATUS_WORDS if s in set(t["status"])]
    handles = [Patch(color=SETUP_STATUS_COLORS[s], label=SETUP_STATUS_WORDS[s]) for s in present]
    add_legend(ax, legend_below, handles, ncols=2, fontsize=7)
    return finish_axes(ax, created)


def plot_temporal(table: pd.DataFrame, ax=None, legend_below: bool = False):
    """Retention lift (95% CI) of each milestone on the earlier (fit) vs later (test) cohorts.

    ``table``: ``milestone``, ``fit_lift`` and ``test_lift`` with their
    ``_low``/``_high`` (``TemporalValidation.table``); rows with neither lift
    are left out.
    """
    require_columns(table, ["milestone", "fit_lift", "test_lift"], "temporal check")
    t = numeric_columns(table, ["fit_lift", "test_lift"])
    t = t[t["fit_lift"].notna() | t["test_lift"].notna()]
    if t.empty:
        raise NothingToPlot("temporal check: no lift")
    ax, created = new_axes(ax, (10.0, 0.36 * len(t) + 1.5))
    y = np.arange(len(t))[::-1]
    for offset, prefix, color, text in (
        (0.14, "fit", BLUE_LIGHT, "earlier cohorts (used to fit)"),
        (-0.14, "test", BLUE, "later cohorts (never seen by the fit)"),
    ):
        vals, err = interval_errors(t, f"{prefix}_lift")
        ax.errorbar(vals, y + offset, xerr=err, fmt="o", color=color, ms=5, capsize=2.5, label=text)
    ax.axvline(1, color=INK, lw=0.8, ls=":")
    ax.set_yticks(y, [str(m) for m in t["milestone"]])
    ax.set_xlabel(
        "retention of accounts reaching the milestone ÷ retention of the others (95% CI); "
        "1 = no difference"
    )
    ax.set_title("Milestone retention lift: earlier vs later signup cohorts")
    add_legend(ax, legend_below, ncols=2, **({} if legend_below else {"fontsize": 7}))
    return finish_axes(ax, created)
