"""How result objects show themselves in Jupyter: small jinja fragments of one environment.

Every result's ``_repr_html_`` renders ``templates/result.html`` (a title, a
lead sentence, key figures, charts, tables and notes) with :func:`render_result`,
through :func:`environment`: the same jinja2 environment the HTML report
(:mod:`milestone_discovery.report`) renders with. Autoescaping is on, so every
name and value from the data is escaped; tables are passed as plain text
cells, never as HTML. The only markup passed through is what this module
rendered itself (a nested result, as a :class:`Study
<milestone_discovery.study.Study>` shows its stages).

Every result's ``summary()`` is a short pandas DataFrame; the results that sum
themselves up in headline figures use :func:`key_figures` (columns
``quantity`` and ``value``), which the display shows as its key figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["environment", "format_cell", "key_figures", "render_result", "table_data"]


@lru_cache(maxsize=1)
def environment():
    """The package's jinja2 environment (templates in ``milestone_discovery/templates``).

    Autoescaping on, undefined names an error; shared by the report and every
    ``_repr_html_``.

    Returns
    -------
    jinja2.Environment
    """
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(
        loader=PackageLoader("milestone_discovery", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def format_cell(value: Any) -> str:
    """One value as the displays show it: missing as empty, floats in 4 significant digits.

    Parameters
    ----------
    value : object
        A cell of a table or a key figure.

    Returns
    -------
    str
        Plain text (escaped later, by the template).

    Examples
    --------
    >>> format_cell(0.123456), format_cell(3.0), format_cell(float("nan")), format_cell([1, 2.5])
    ('0.1235', '3', '', '1, 2.5')
    """
    if value is None or value is pd.NaT:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return "" if math.isnan(number) else str(number)
        if number == round(number) and abs(number) < 1e15:
            return f"{number:.0f}"
        return f"{number:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(format_cell(v) for v in value)
    return str(value)


def key_figures(rows: Iterable[tuple[str, Any]]) -> pd.DataFrame:
    """A headline ``summary()``: one row per quantity, columns ``quantity`` and ``value``.

    Parameters
    ----------
    rows : iterable of (str, object)
        Quantity in words and its value (numbers stay numbers).

    Returns
    -------
    pandas.DataFrame
    """
    return pd.DataFrame(list(rows), columns=["quantity", "value"], dtype=object)


def table_data(
    frame: pd.DataFrame | None,
    caption: str = "",
    *,
    columns: Sequence[str] | None = None,
    max_rows: int = 40,
) -> dict | None:
    """A DataFrame as plain text cells for the fragment (None when there is nothing to show).

    Parameters
    ----------
    frame : pandas.DataFrame or None
    caption : str
        Shown above the table.
    columns : sequence of str, optional
        The columns to show, those present, in this order (default all).
    max_rows : int
        Rows shown: a longer table shows its first and last ``max_rows // 2``
        rows around a row of ellipses, as pandas does.

    Returns
    -------
    dict or None
        ``caption``, ``columns``, ``rows`` (lists of str) and ``hidden`` (rows not shown).
    """
    if frame is None or frame.empty:
        return None
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]

    def cells(part: pd.DataFrame) -> list[list[str]]:
        return [[format_cell(v) for v in row] for row in part.itertuples(index=False)]

    hidden = max(len(frame) - max_rows, 0)
    if hidden:
        half = max_rows // 2
        hidden = len(frame) - 2 * half
        rows = cells(frame.head(half)) + [["…"] * frame.shape[1]] + cells(frame.tail(half))
    else:
        rows = cells(frame)
    return {
        "caption": caption,
        "columns": [str(c) for c in frame.columns],
        "rows": rows,
        "hidden": hidden,
    }


def _facts(facts: pd.DataFrame | Iterable[tuple[str, Any]] | None) -> list[tuple[str, str]]:
    if facts is None:
        return []
    if isinstance(facts, pd.DataFrame):
        facts = facts.iloc[:, :2].itertuples(index=False)
    return [(str(name), format_cell(value)) for name, value in facts]


def render_result(
    title: str,
    *,
    lead: str = "",
    facts: pd.DataFrame | Iterable[tuple[str, Any]] | None = None,
    charts: Iterable[Callable[[], Any]] = (),
    tables: Iterable[dict | None] = (),
    notes: Iterable[str] = (),
    parts: Iterable[str] = (),
) -> str:
    """Render one result's display with ``templates/result.html``.

    Parameters
    ----------
    title : str
        E.g. ``"Feature discovery"``.
    lead : str
        One sentence after the title.
    facts : pandas.DataFrame or iterable of (str, object), optional
        Key figures: a :func:`key_figures` frame (first two columns) or pairs.
    charts : iterable of callables
        Each returns a matplotlib Axes or Figure; drawn best effort (a chart
        that cannot be drawn is left out) as inline PNGs.
    tables : iterable of dict or None
        :func:`table_data` results (None entries are skipped).
    notes : iterable of str
        Sentences shown after the tables.
    parts : iterable of str
        Displays of nested results, as returned by this function (kept as HTML).

    Returns
    -------
    str
        The HTML fragment (a :class:`markupsafe.Markup`); everything from the
        arguments but ``parts`` is escaped.
    """
    from markupsafe import Markup

    from .plotting import safe_figure_uri  # charts load only when displayed

    html = (
        environment()
        .get_template("result.html")
        .render(
            title=title,
            lead=lead,
            facts=_facts(facts),
            figures=[uri for uri in (safe_figure_uri(chart) for chart in charts) if uri],
            tables=[t for t in tables if t is not None],
            notes=[str(n) for n in notes if n],
            parts=[p if isinstance(p, Markup) else Markup.escape(p) for p in parts],
        )
    )
    return Markup(html)
