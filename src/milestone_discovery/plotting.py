"""Every chart of the package, drawn once.

Each ``plot_*`` function takes a tidy table and draws it on ``ax`` (a new
pyplot figure when ``ax`` is None), returning the Axes. The result objects'
``plot_*`` methods call them with their own tables (``to_frame()`` and the
like) and the HTML report (:mod:`milestone_discovery.report`) calls them with
the same tables read back from a run folder's CSV files, so a chart looks the
same in a notebook and in the report; the report only chooses the figure size
and style.

Names (features, categories, steps, milestones) are drawn as given: the caller
chooses how to show them (the report turns ``support_channels`` into
"support channels"). A table without the columns or rows a chart needs raises
:class:`NothingToPlot`.

Functions called with ``legend_below=True`` put their legend under the figure
(``fig.legend(loc="outside lower center")``); that needs a figure with
constrained layout, as the report draws.

The charts of the time-to-churn and effect-by-segment analyses (Kaplan-Meier
curves, hazard ratios, odds ratios per segment) follow the same rules in
:mod:`milestone_discovery.plotting_effects`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .plotting_base import (
    BLUE,
    BLUE_LIGHT,
    GREEN,
    GREY,
    GREY_LIGHT,
    INK,
    MUTED,
    ORANGE_LIGHT,
    RED,
    NothingToPlot,
    add_legend,
    finish_axes,
    interval_errors,
    new_axes,
    numeric_columns,
    percent_axis,
    require_columns,
)
from .plotting_journey import (
    SETUP_STATUS_COLORS,
    SETUP_STATUS_WORDS,
    plot_outcome_curve,
    plot_setup_steps,
    plot_temporal,
    plot_utilization_by_size,
)
from .report.format import fmt_int, fmt_value

__all__ = [
    "NothingToPlot",
    "STATUS_COLORS",
    "SETUP_STATUS_COLORS",
    "SETUP_STATUS_WORDS",
    "figure_html",
    "figure_uri",
    "interval_errors",
    "percent_axis",
    "plot_categories",
    "plot_importance",
    "plot_outcome_curve",
    "plot_prevalence_importance",
    "plot_retention_by_count",
    "plot_setup_steps",
    "plot_temporal",
    "plot_threshold_scan",
    "plot_utilization_by_size",
    "safe_figure_html",
    "safe_figure_uri",
    "status_rank",
    "status_word",
]


#: Feature statuses in the order of :data:`milestone_discovery.features.STATUSES`.
STATUS_COLORS = {
    "selected": "#1b7837",
    "dropped_leaky": "#762a83",
    "dropped_ubiquitous": "#9e9e9e",
    "dropped_niche": "#bdbdbd",
    "dropped_segment": "#e08214",
    "dropped_negative": "#b2182b",
    "dropped_confounded": "#fdb863",
    "dropped_underpowered": "#d1e5f0",
    "dropped_unimportant": "#92c5de",
}


# ----------------------------------------------------------------------------- helpers
def status_rank(status: str) -> int:
    """Position of a feature status in the canonical order (unknown ones last)."""
    order = list(STATUS_COLORS)
    return order.index(status) if status in order else len(order)


def status_word(status: str) -> str:
    """``"selected"`` or ``"dropped: <reason>"``."""
    if status == "selected":
        return "selected"
    return "dropped: " + status.replace("dropped_", "").replace("_", " ")


def _is_true(values: pd.Series) -> pd.Series:
    """Booleans, also when read back from a CSV as text."""
    return values.astype(str).str.lower().isin(["true", "1", "1.0"])


# ----------------------------------------------------------------------------- features
def plot_importance(features: pd.DataFrame, top: int = 30, ax=None):
    """The ``top`` most important features: held-out importance with its 95% interval.

    ``features``: ``feature``, ``status``, ``importance`` and optionally
    ``importance_se`` (``FeatureResult.to_frame()`` or ``features.csv``).
    """
    from matplotlib.patches import Patch

    require_columns(features, ["feature", "status", "importance"], "importance")
    data = numeric_columns(features, ["importance", "importance_se"]).dropna(subset=["importance"])
    if data.empty:
        raise NothingToPlot("importance: no feature has an importance")
    data = data.sort_values(["importance", "feature"], ascending=[False, True], kind="stable").head(
        top
    )[::-1]
    sd = (
        1.96 * data["importance_se"].fillna(0.0) if "importance_se" in data else np.zeros(len(data))
    )
    ax, created = new_axes(ax, (10.0, 0.23 * len(data) + 1.4))
    y = np.arange(len(data))
    ax.barh(
        y,
        data["importance"],
        xerr=sd,
        color=[STATUS_COLORS.get(s, GREY) for s in data["status"]],
        height=0.7,
        error_kw={"elinewidth": 0.8, "ecolor": MUTED, "capsize": 2},
    )
    ax.set_yticks(y, [str(f) for f in data["feature"]])
    ax.set_xlabel(
        "importance for retention (how much worse held-out predictions get without the feature; "
        "line: 95% interval)"
    )
    ax.set_title(f"The {len(data)} most important of {len(features)} features")
    present = sorted(set(data["status"]), key=lambda s: (status_rank(s), s))
    ax.legend(
        handles=[Patch(color=STATUS_COLORS.get(s, GREY), label=status_word(s)) for s in present],
        loc="lower right",
    )
    return finish_axes(ax, created)


def _spread(xs: np.ndarray, ys: np.ndarray, widths: np.ndarray, gap: float) -> np.ndarray:
    """Label heights (axes fraction), moved up so that labels ``[x, x + width]`` do not overlap."""
    out = ys.astype(float).copy()
    placed: list[tuple[float, float, float]] = []
    for i in np.lexsort((xs, ys)):
        y, x0, x1 = out[i], xs[i], xs[i] + widths[i]
        for _ in range(len(placed) + 1):  # each pass moves the label above one more neighbour
            clash = [
                py for px0, px1, py in placed if x0 < px1 and px0 < x1 and abs(y - py) < gap * 0.999
            ]
            if not clash:
                break
            y = max(clash) + gap
        placed.append((x0, x1, y))
        out[i] = y
    return out


def plot_prevalence_importance(features: pd.DataFrame, low: float, high: float, ax=None):
    """How common each feature is vs how much it matters; niche and ubiquitous zones shaded.

    ``features``: ``feature``, ``status``, ``prevalence``, ``importance``;
    ``low``, ``high``: the prevalence screens (``FeatureConfig.min_prevalence``,
    ``max_prevalence``).
    """
    require_columns(features, ["feature", "status", "prevalence", "importance"], "prevalence")
    data = numeric_columns(features, ["prevalence", "importance"])
    data = data.assign(importance=data["importance"].fillna(0.0)).dropna(subset=["prevalence"])
    if data.empty:
        raise NothingToPlot("prevalence: no feature has a prevalence")
    ax, created = new_axes(ax, (10.0, 4.5))
    ax.axvspan(0, low, color=GREY_LIGHT, alpha=0.6, lw=0, zorder=0)
    ax.axvspan(high, 1, color=GREY_LIGHT, alpha=0.6, lw=0, zorder=0)
    top = float(data["importance"].max()) or 1.0
    bottom = min(0.0, float(data["importance"].min()))
    ymax = top + 0.2 * (top - bottom)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom - 0.03 * (top - bottom), ymax)
    for x, word in ((low / 2, "niche"), ((1 + high) / 2, "ubiquitous")):
        ax.text(x, ymax, word, ha="center", va="top", fontsize=8, color=MUTED, rotation=90)
    for status in sorted(set(data["status"]), key=lambda s: (status_rank(s), s)):
        group = data[data["status"] == status]
        ax.scatter(
            group["prevalence"],
            group["importance"],
            s=30 if status == "selected" else 18,
            color=STATUS_COLORS.get(status, GREY),
            label=status_word(status),
            zorder=3,
            edgecolor="white",
            linewidth=0.5,
        )
    sel = data[data["status"] == "selected"]
    if len(sel):
        lo_y, hi_y = ax.get_ylim()
        fx = sel["prevalence"].to_numpy(dtype=float)
        fy = (sel["importance"].to_numpy(dtype=float) - lo_y) / (hi_y - lo_y)
        names = [str(f) for f in sel["feature"]]
        ly = _spread(fx, fy, np.array([0.012 + 0.0075 * len(n) for n in names]), gap=0.055)
        for name, x, y0, y1 in zip(names, fx, fy, ly, strict=True):
            ax.annotate(
                name,
                xy=(x, y0),
                xycoords=("data", "axes fraction"),
                xytext=(x + 0.012, y1),
                textcoords=("data", "axes fraction"),
                fontsize=7,
                color=GREEN,
                va="center",
                arrowprops={"arrowstyle": "-", "color": GREEN, "lw": 0.5}
                if y1 - y0 > 0.02
                else None,
            )
    percent_axis(ax.xaxis)
    ax.set_xlabel("prevalence: share of accounts using the feature in the observation window")
    ax.set_ylabel("importance for retention")
    ax.set_title("How common each feature is vs how much it matters")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return finish_axes(ax, created)


# ----------------------------------------------------------------------------- maturity
def plot_retention_by_count(by_count: pd.DataFrame, min_categories: Any = None, ax=None):
    """Retention (95% CI) by number of mature categories; ``>= min_categories`` in green.

    ``by_count``: ``mature_categories``, ``accounts``, ``retention``,
    ``retention_low``, ``retention_high`` (``MaturityResult.by_count`` or
    ``maturity_by_count.csv``).
    """
    needed = ["mature_categories", "accounts", "retention", "retention_low", "retention_high"]
    t = numeric_columns(require_columns(by_count, needed, "retention by count"), needed)
    t = t.dropna(subset=["retention"])
    if t.empty:
        raise NothingToPlot("retention by count: no retention")
    m = None if min_categories is None or pd.isna(min_categories) else float(min_categories)
    ax, created = new_axes(ax, (6.0, 3.5))
    k = t["mature_categories"].astype(int).to_numpy()
    colors = [GREEN if m is not None and v >= m else BLUE_LIGHT for v in k]
    err = np.vstack(
        [t["retention"] - t["retention_low"], t["retention_high"] - t["retention"]]
    ).clip(min=0)
    ax.bar(
        k.astype(str),
        t["retention"],
        yerr=err,
        color=colors,
        capsize=3,
        width=0.65,
        error_kw={"elinewidth": 0.9, "ecolor": INK},
    )
    for x, n in enumerate(t["accounts"]):
        ax.text(
            x, 0.03, f"{fmt_int(n)}\naccts", ha="center", va="bottom", fontsize=7, color="white"
        )
    ax.set_ylim(0, 1)
    percent_axis(ax.yaxis)
    ax.set_xlabel("number of categories the account is mature in")
    ax.set_ylabel("retention (95% CI)")
    ax.set_title("Retention by number of mature categories")
    return finish_axes(ax, created)


def plot_categories(categories: pd.DataFrame, ax=None, legend_below: bool = False):
    """Share of accounts using each category at all, and mature in it; first row on top.

    ``categories``: ``category``, ``share_basic``, ``share_mature``
    (``MaturityResult.to_frame()`` or ``maturity_categories.csv``).
    """
    t = numeric_columns(
        require_columns(categories, ["category", "share_basic", "share_mature"], "categories"),
        ["share_basic", "share_mature"],
    )
    if t.empty:
        raise NothingToPlot("categories: no category")
    ax, created = new_axes(ax, (6.0, 0.4 * len(t) + 1.6))
    y = np.arange(len(t))[::-1]
    ax.barh(
        y,
        t["share_basic"].fillna(0.0),
        color=BLUE_LIGHT,
        height=0.6,
        label="uses at least one of its features",
    )
    ax.barh(y, t["share_mature"], color=BLUE, height=0.6, label="mature")
    ax.set_yticks(y, [str(c) for c in t["category"]])
    ax.set_xlim(0, 1)
    percent_axis(ax.xaxis)
    ax.set_xlabel("share of accounts")
    ax.set_title("Adoption of each category")
    add_legend(ax, legend_below, ncols=2, **({} if legend_below else {"fontsize": 7}))
    return finish_axes(ax, created)


# ----------------------------------------------------------------------------- thresholds
def plot_threshold_scan(
    scan: pd.DataFrame,
    threshold: float | None = None,
    ci: tuple[Any, Any] | None = None,
    xlabel: str = "threshold",
    outcome: str = "the outcome",
    ax=None,
    legend_below: bool = False,
):
    """Where a threshold comes from: phi by candidate, the chosen one and the range the data support.

    ``scan``: ``threshold``, ``phi`` and optionally ``eligible`` (enough
    accounts each side) and ``share_above`` (dashed, on a second axis):
    ``ThresholdScan.to_frame()`` or a ``*_scan.csv`` table. ``threshold`` is
    the chosen one (a red line), ``ci`` its bootstrap interval (shaded).
    """
    require_columns(scan, ["threshold", "phi"], "threshold scan")
    t = numeric_columns(scan, ["threshold", "phi"]).dropna(subset=["threshold", "phi"])
    t = t.sort_values("threshold")
    if t.empty:
        raise NothingToPlot("threshold scan: no candidate")
    ok = t[_is_true(t["eligible"])] if "eligible" in t else t
    ax, created = new_axes(ax, (7.0, 3.6))
    span = ok if len(ok) > 1 else t
    lo_x, hi_x = float(span["threshold"].min()), float(span["threshold"].max())
    if lo_x > 0 and hi_x / lo_x > 20:  # heavy-tailed counts: a log axis keeps them readable
        from matplotlib.ticker import FuncFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(v)))
    lo, hi = (None, None) if ci is None else ci
    lo = None if lo is None or not math.isfinite(float(lo)) else float(lo)
    hi = None if hi is None or not math.isfinite(float(hi)) else float(hi)
    if lo is not None and hi is not None:
        ax.axvspan(
            lo,
            hi if hi > lo else lo * 1.001 + 1e-9,
            color=ORANGE_LIGHT,
            alpha=0.45,
            lw=0,
            label="range the data support",
        )
    ax.plot(t["threshold"], t["phi"], color=GREY, lw=1)
    ax.plot(
        ok["threshold"],
        ok["phi"],
        "o-",
        ms=2.5,
        lw=1.2,
        color=BLUE,
        label=f"link with {outcome} (phi)",
    )
    if threshold is not None and math.isfinite(float(threshold)):
        ax.axvline(threshold, color=RED, lw=1.5, label=f"chosen: {fmt_value(threshold)}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("link with the outcome (phi)")
    handles, labels = ax.get_legend_handles_labels()
    top_ax = ax
    if "share_above" in t:
        twin = top_ax = ax.twinx()
        twin.plot(
            t["threshold"],
            pd.to_numeric(t["share_above"], errors="coerce"),
            color=GREEN,
            lw=1,
            ls="--",
            label="accounts at or above",
        )
        twin.set_ylim(0, 1.02)
        percent_axis(twin.yaxis)
        twin.set_ylabel("share of accounts at or above (dashed)", color=GREEN)
        twin.spines["right"].set_visible(True)
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    pad = 0.08 * (math.log10(hi_x / lo_x) if ax.get_xscale() == "log" else hi_x - lo_x)
    if ax.get_xscale() == "log":
        ax.set_xlim(lo_x / 10**pad, hi_x * 10**pad)
    elif hi_x > lo_x:
        ax.set_xlim(lo_x - pad, hi_x + pad)
    else:  # a single candidate
        ax.set_xlim(lo_x - max(abs(lo_x) * 0.1, 0.5), hi_x + max(abs(hi_x) * 0.1, 0.5))
    ax.set_title("Where the threshold comes from")
    # on the top Axes (the twin when there is one), so that no line crosses it
    add_legend(top_ax, legend_below, handles, labels, fontsize=7)
    return finish_axes(ax, created)


# ----------------------------------------------------------------------------- HTML
def figure_uri(chart, dpi: int = 90) -> str:
    """A chart as a PNG ``data:`` URI, for ``_repr_html_``; closes its figure.

    Parameters
    ----------
    chart : matplotlib Axes or Figure
        What a ``plot_*`` function or method returned.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    str
        ``"data:image/png;base64,..."``.

    Notes
    -----
    Closing matters in Jupyter: a figure left open would be drawn a second time
    below the result.
    """
    import base64
    import io

    import matplotlib.pyplot as plt

    fig = getattr(chart, "figure", None) or chart
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def safe_figure_uri(plot) -> str:
    """``figure_uri(plot())``, or ``""`` when the chart cannot be drawn (a display must not fail)."""
    try:
        return figure_uri(plot())
    except Exception:  # noqa: BLE001 - display is best effort; the tables are still shown
        return ""


def figure_html(chart, dpi: int = 90) -> str:
    """An ``<img>`` tag holding a chart (Axes or Figure) as an inline PNG; closes the figure."""
    return f'<img style="max-width:100%" src="{figure_uri(chart, dpi)}"/>'


def safe_figure_html(plot) -> str:
    """``figure_html(plot())``, or ``""`` when the chart cannot be drawn (a display must not fail)."""
    uri = safe_figure_uri(plot)
    return f'<img style="max-width:100%" src="{uri}"/>' if uri else ""
