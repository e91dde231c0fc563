"""What every chart of :mod:`milestone_discovery.plotting` shares: colours, the error, Axes helpers.

Kept apart so that the chart modules (:mod:`~milestone_discovery.plotting`,
:mod:`~milestone_discovery.plotting_journey`) import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "NothingToPlot",
    "add_legend",
    "finish_axes",
    "interval_errors",
    "new_axes",
    "numeric_columns",
    "percent_axis",
    "require_columns",
]

GREEN = "#1b7837"
BLUE = "#2166ac"
BLUE_LIGHT = "#92c5de"
GREY = "#9aa5b1"
GREY_LIGHT = "#d9dee4"
ORANGE_LIGHT = "#fdb863"
RED = "#b2182b"
INK = "#323f4b"
MUTED = "#52606d"


class NothingToPlot(ValueError):
    """The table lacks the columns or rows a chart needs."""


def percent_axis(axis) -> None:
    """Tick labels as whole percentages (for values in 0..1)."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def interval_errors(frame: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``key`` and error bars from ``key_low``/``key_high`` (0 where missing)."""

    def column(name: str) -> np.ndarray:
        if name not in frame:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)

    vals, lo, hi = column(key), column(f"{key}_low"), column(f"{key}_high")
    err = np.vstack([np.nan_to_num(vals - lo), np.nan_to_num(hi - vals)]).clip(min=0)
    return vals, err


def require_columns(frame: pd.DataFrame | None, columns: Iterable[str], chart: str) -> pd.DataFrame:
    """``frame`` itself, or :class:`NothingToPlot` if it is None or lacks one of ``columns``."""
    if frame is None:
        raise NothingToPlot(f"{chart}: no table")
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise NothingToPlot(f"{chart}: the table has no column {', '.join(missing)}")
    return frame


def numeric_columns(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` (those present) converted to numbers, bad values as NaN."""
    return frame.assign(
        **{c: pd.to_numeric(frame[c], errors="coerce") for c in columns if c in frame}
    )


def new_axes(ax, figsize: tuple[float, float]):
    """``(ax, created)``: the given Axes, or those of a new pyplot figure."""
    if ax is not None:
        return ax, False
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax, True


def finish_axes(ax, created: bool):
    """Tighten the layout of a figure the chart created itself; return ``ax``."""
    if created:
        ax.figure.tight_layout()
    return ax


def add_legend(ax, below: bool, handles=None, labels=None, ncols: int = 2, **kwargs) -> None:
    """The legend on ``ax``, or under the figure when ``below`` (constrained layout)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    elif labels is None:
        labels = [h.get_label() for h in handles]
    if below:
        ax.figure.legend(handles, labels, loc="outside lower center", ncols=ncols, **kwargs)
    else:
        ax.legend(handles, labels, **kwargs)
