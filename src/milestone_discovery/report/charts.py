"""The report's charts, as PNG ``data:`` URIs.

Every chart but the overview is drawn by the same function of
:mod:`milestone_discovery.plotting` that the result objects' ``plot_*``
methods use; this module only gives each chart its size in the page, shows
names readably and renders it in the report's style. Charts are drawn
without pyplot (no global figure state), in a fixed style whatever the
user's matplotlib settings, and saved without PNG metadata, so that two
builds of a report are byte-identical.

Each function returns None when its table is missing or has nothing to draw.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .. import plotting
from ..plotting import BLUE, GREEN, GREY, INK, MUTED, NothingToPlot, interval_errors, percent_axis
from .format import fmt_pct, label, num

__all__ = [
    "by_count_chart",
    "by_size_chart",
    "categories_chart",
    "forest_chart",
    "hazard_chart",
    "importance_chart",
    "overview_chart",
    "prevalence_chart",
    "scan_chart",
    "selection_chart",
    "setup_chart",
    "survival_chart",
    "temporal_chart",
]

_DPI = 120
_FULL = 10.0  # width (inches) of a full-width chart; half-width charts are _FULL / 2
_HALF = _FULL / 2
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 9,
    "axes.labelcolor": INK,
    "axes.edgecolor": GREY,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "text.color": INK,
    "text.parse_math": False,  # names with "$" are plain text, not mathtext
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def _render(draw: Callable[..., Any], width: float, height: float, ncols: int = 1, **kwargs):
    """``draw(*axes)`` on a new figure in the report's style, as a PNG ``data:`` URI (None: nothing to draw)."""
    import matplotlib.style
    from matplotlib.figure import Figure

    with matplotlib.style.context(["default", _RC]):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False, **kwargs)[0]
        try:
            draw(*axes)
        except NothingToPlot:
            return None
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _readable(frame: pd.DataFrame | None, *columns: str) -> pd.DataFrame | None:
    """``frame`` with names in ``columns`` shown readably (``a_b -> "a b"``)."""
    if frame is None:
        return None
    return frame.assign(**{c: frame[c].map(label) for c in columns if c in frame})


def _rows(frame: pd.DataFrame | None, column: str) -> int:
    """Rows with a value in ``column`` (0 when there is no such column)."""
    if frame is None or column not in frame:
        return 0
    return int(pd.to_numeric(frame[column], errors="coerce").notna().sum())


# ----------------------------------------------------------------------------- overview
def _draw_overview(left, right, rows: list[dict], overall: float | None) -> None:
    if not rows:
        raise NothingToPlot("overview: no milestone")
    y = np.arange(len(rows))[::-1]
    shares = [num(r["share"]) or 0.0 for r in rows]
    left.barh(y, shares, color=BLUE, height=0.5)
    for yi, s in zip(y, shares, strict=True):
        left.text(s + 0.015, yi, fmt_pct(s), va="center", fontsize=8.5)
    left.set_yticks(y, [r["name"] for r in rows], fontsize=9)
    left.set_ylim(-0.6, len(rows) - 0.4)
    left.set_xlim(0, 1.12)
    percent_axis(left.xaxis)
    left.set_title("Share of accounts reaching each milestone")
    outcomes = {r["outcome"] for r in rows}
    for offset, key, color, text in (
        (0.12, "rate_reached", GREEN, "reached the milestone"),
        (-0.12, "rate_not_reached", GREY, "did not reach it"),
    ):
        vals, err = interval_errors(pd.DataFrame(rows), key)
        right.errorbar(
            vals, y + offset, xerr=err, fmt="o", color=color, ms=6, capsize=3, label=text
        )
    if overall is not None and outcomes == {rows[0]["outcome"]} and "retain" in rows[0]["outcome"]:
        right.axvline(
            overall, color=INK, lw=0.8, ls=":", label=f"all accounts ({fmt_pct(overall)})"
        )
    lows = [
        v
        for r in rows
        for v in (
            r["rate_reached_low"],
            r["rate_not_reached_low"],
            r["rate_reached"],
            r["rate_not_reached"],
        )
        if v is not None
    ]
    right.set_xlim(max(0.0, math.floor(min(lows) * 10) / 10 - 0.1) if lows else 0.0, 1.0)
    percent_axis(right.xaxis)
    title = rows[0]["outcome"] if len(outcomes) == 1 else "outcome"
    right.set_title(f"{title[0].upper() + title[1:]}: reached vs not (95% CI)")
    if len(outcomes) > 1:
        for yi, r in zip(y, rows, strict=True):
            right.text(0.01, yi + 0.3, r["outcome"], fontsize=7, color=MUTED, va="center")
    right.tick_params(axis="y", length=0)
    right.figure.legend(loc="outside lower center", ncols=3)


def overview_chart(milestones: list[dict], overall: float | None) -> str | None:
    """Share of accounts reaching each milestone, and the outcome of those who did vs not.

    ``milestones``: the rows of the overview table (``name``, ``share``,
    ``outcome``, ``rate_reached`` and ``rate_not_reached`` with ``_low``/``_high``).
    """
    return _render(
        lambda left, right: _draw_overview(left, right, milestones, overall),
        _FULL,
        0.48 * len(milestones) + 1.5,
        ncols=2,
        sharey=True,
        gridspec_kw={"width_ratios": [1, 1.35]},
    )


# ----------------------------------------------------------------------------- stages
def importance_chart(features: pd.DataFrame | None, top: int = 25) -> str | None:
    data = _readable(features, "feature")
    n = min(top, _rows(data, "importance"))
    return _render(lambda ax: plotting.plot_importance(data, top=top, ax=ax), _FULL, 0.23 * n + 1.4)


def prevalence_chart(features: pd.DataFrame | None, low: float, high: float) -> str | None:
    data = _readable(features, "feature")
    return _render(
        lambda ax: plotting.plot_prevalence_importance(data, low, high, ax=ax), _FULL, 4.3
    )


def by_count_chart(by_count: pd.DataFrame | None, min_categories: Any) -> str | None:
    return _render(
        lambda ax: plotting.plot_retention_by_count(by_count, num(min_categories), ax=ax),
        _HALF,
        3.5,
    )


def categories_chart(categories: pd.DataFrame | None) -> str | None:
    """``categories``: ``category`` (already readable), ``share_basic``, ``share_mature``."""
    data = None if categories is None else categories.dropna(subset=["share_mature"])
    n = 0 if data is None else len(data)
    return _render(
        lambda ax: plotting.plot_categories(data, ax=ax, legend_below=True), _HALF, 0.4 * n + 1.6
    )


def scan_chart(
    scan: pd.DataFrame | None, threshold: Any, ci: tuple, xlabel: str, outcome: str
) -> str | None:
    return _render(
        lambda ax: plotting.plot_threshold_scan(
            scan, num(threshold), ci, xlabel, outcome, ax=ax, legend_below=True
        ),
        _HALF,
        3.6,
    )


def curve_chart(
    curve: pd.DataFrame | None, threshold: Any, shape: str | None, xlabel: str, outcome: str
) -> str | None:
    return _render(
        lambda ax: plotting.plot_outcome_curve(
            curve,
            num(threshold),
            shape,
            xlabel=xlabel,
            ylabel=f"{outcome} rate",
            ax=ax,
            legend_below=True,
        ),
        _HALF,
        3.6,
    )


def by_size_chart(by_size: pd.DataFrame | None) -> str | None:
    return _render(
        lambda ax: plotting.plot_utilization_by_size(by_size, ax=ax, legend_below=True), _HALF, 3.6
    )


def setup_chart(steps: pd.DataFrame | None) -> str | None:
    data = _readable(steps, "step")
    n = _rows(data, "risk_ratio")
    return _render(
        lambda ax: plotting.plot_setup_steps(data, ax=ax, legend_below=True),
        _HALF,
        0.3 * n + 1.6,
    )


def temporal_chart(rows: list[dict]) -> str | None:
    """``rows``: ``name`` (readable), ``fit_lift`` and ``test_lift`` with ``_low``/``_high``."""
    data = pd.DataFrame(rows).rename(columns={"name": "milestone"}) if rows else None
    n = sum(r["fit_lift"] is not None or r["test_lift"] is not None for r in rows)
    return _render(
        lambda ax: plotting.plot_temporal(data, ax=ax, legend_below=True), _FULL, 0.36 * n + 1.5
    )


# ----------------------------------------------------------------------------- time to churn, segments
def hazard_chart(table: pd.DataFrame | None, level: str = "95%") -> str | None:
    """Hazard ratio of churn per milestone (``tables/survival.csv``, names already readable)."""
    from ..plotting_effects import plot_hazard_ratios

    n = _rows(table, "hazard_ratio")
    return _render(
        lambda ax: plot_hazard_ratios(table, level=level, ax=ax), _FULL * 0.8, 0.32 * n + 1.5
    )


def survival_chart(
    curves: pd.DataFrame | None, milestone: str, table: pd.DataFrame | None, level: str = "95%"
) -> str | None:
    """Kaplan-Meier curves, reached vs not, of one milestone (``tables/survival_curves.csv``)."""
    from ..plotting_effects import plot_survival_curves

    def draw(ax):
        plot_survival_curves(curves, milestone, table, level=level, ax=ax, legend_below=True)
        # the hazard ratio on a second line: a half-width chart is too narrow for one
        for loc in ("left", "center", "right"):
            title = ax.get_title(loc=loc)
            if title:
                ax.set_title(title.replace(": hazard ratio", "\nhazard ratio", 1), loc=loc)

    return _render(draw, _HALF, 3.8)


def forest_chart(
    levels: pd.DataFrame | None,
    table: pd.DataFrame | None,
    overall: pd.DataFrame | None,
    feature: str,
    level: str = "95%",
) -> str | None:
    """One feature's odds ratio overall and per plan and size band (``tables/heterogeneity*.csv``)."""
    from ..plotting_effects import plot_effect_forest

    rows = 0
    if levels is not None and {"feature", "segment"} <= set(levels.columns):
        part = levels[levels["feature"].astype(str) == str(feature)]
        rows = len(part) + part["segment"].nunique() + 1
    return _render(
        lambda ax: plot_effect_forest(levels, table, overall, feature, level=level, ax=ax),
        _FULL * 0.8,
        0.24 * rows + 1.3,
    )


# ----------------------------------------------------------------------------- time windows
def selection_chart(selection: pd.DataFrame | None, features: pd.DataFrame | None) -> str | None:
    """Features x window settings, dark where selected (names already readable).

    Drawn by :meth:`milestone_discovery.sensitivity.SensitivityResult.plot_selection`
    from ``selection`` (features x settings run, True where selected) and
    ``features`` (``feature``, ``share``, ``selected_in``), as stored in the run folder.
    """
    from ..sensitivity import SensitivityResult

    if selection is None or features is None or not len(features) or not selection.shape[1]:
        return None
    result = SensitivityResult(
        settings=pd.DataFrame(),
        selection=selection,
        features=features,
        main="",
        n_repeats=0,
        stable_share=0.5,
    )
    n = int((pd.to_numeric(features["selected_in"], errors="coerce") > 0).sum())
    if not n:
        return None
    return _render(
        lambda ax: result.plot_selection(ax=ax),
        min(_FULL, 0.9 * selection.shape[1] + 4.0),
        0.25 * n + 1.6,
    )
