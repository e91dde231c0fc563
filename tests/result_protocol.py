"""The one result protocol, checked the same way for every result class.

Every result has ``to_frame()`` (its main table) and ``summary()`` (a short
DataFrame), shows itself in Jupyter with ``_repr_html_`` (escaping every name
from the data) and names intervals ``<quantity>_low``/``<quantity>_high``.
The mirrored test files call :func:`check_protocol` and :func:`check_escaped`
on their own results.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

MALICIOUS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _ci_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if str(c).endswith("_ci") or "_ci_" in str(c)]


def check_protocol(result) -> None:
    """``to_frame()`` and ``summary()``: DataFrames without ``_ci`` columns; the display is text."""
    frame = result.to_frame()
    summary = result.summary()
    assert isinstance(frame, pd.DataFrame), type(frame)
    assert isinstance(summary, pd.DataFrame), type(summary)
    assert len(summary.columns) >= 2
    assert not _ci_columns(frame) and not _ci_columns(summary)
    html = result._repr_html_()
    assert isinstance(html, str) and html.lstrip().startswith("<div")
    assert "<script" not in html


def poisoned(obj, name: str, bad: str = MALICIOUS):
    """A copy of ``obj`` with the text ``name`` replaced by ``bad`` everywhere.

    Cells, column names, index labels, dict keys and values, list items and
    the fields of nested dataclasses (exact matches only).
    """
    if isinstance(obj, str):
        return bad if obj == name else obj
    if isinstance(obj, pd.DataFrame):
        out = obj.rename(columns={name: bad}, index={name: bad})
        return out.apply(lambda col: col.map(lambda v: poisoned(v, name, bad)))
    if isinstance(obj, pd.Series):
        return obj.rename(index={name: bad}).map(lambda v: poisoned(v, name, bad))
    if isinstance(obj, dict):
        return {poisoned(k, name, bad): poisoned(v, name, bad) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(poisoned(v, name, bad) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: poisoned(getattr(obj, f.name), name, bad)
            for f in dataclasses.fields(obj)
            if f.init
        }
        return dataclasses.replace(obj, **changes)
    return obj


def check_escaped(result, name: str) -> None:
    """With ``name`` renamed to a script tag, the display shows it escaped and runs nothing."""
    html = poisoned(result, name)._repr_html_()
    assert MALICIOUS not in html
    assert ESCAPED in html, f"{name!r} is not shown by {type(result).__name__}._repr_html_"
