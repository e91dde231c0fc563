"""Safe file contents and names: CSV outputs neutralised against formula injection, slugged names.

:func:`write_csv` writes every CSV output with formula-like text cells
neutralised (OWASP CSV injection), atomically; file names derived from data go
through :func:`unique_slugs`. Re-exported by :mod:`milestone_discovery.runfolder`.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "neutralize_cell",
    "neutralize_formulas",
    "restore_cell",
    "restore_formulas",
    "slugify",
    "unique_slugs",
    "write_csv",
]

#: File names Windows refuses whatever the extension.
_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"]
    + [f"com{i}" for i in range(1, 10)]
    + [f"lpt{i}" for i in range(1, 10)]
)

# Text a spreadsheet would run as a formula: starts with = + - @ tab or CR, after
# any quotes already added (so that neutralising can be undone unambiguously).
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALIZED = re.compile(r"'+[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


# ----------------------------------------------------------------------------- names
def slugify(name: Any, max_length: int = 60) -> str:
    """A safe file-name stem for a name taken from the data.

    Parameters
    ----------
    name : object
        Any name (a category, a table key); converted with ``str``.
    max_length : int, default 60
        Longest stem returned.

    Returns
    -------
    str
        Lowercase ASCII letters, digits, ``_`` and ``-`` only (accents are
        dropped, every other run of characters becomes ``_``), no leading or
        trailing ``_``/``-``, at most ``max_length`` characters, never empty
        (``"table"``) and never a name Windows reserves (``con``, ``nul``, ...).

    Examples
    --------
    >>> slugify("Support/Ops ü")
    'support_ops_u'
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9_-]+", "_", text.lower()).strip("_-")
    text = text[:max_length].rstrip("_-") or "table"
    if text in _RESERVED_NAMES:
        text = f"{text}_"
    return text


def unique_slugs(names: Iterable[Any], max_length: int = 60) -> list[str]:
    """Slug every name and make the slugs unique, in order.

    Parameters
    ----------
    names : iterable
        Names taken from the data, in the order their files are written.
    max_length : int, default 60
        Longest slug, suffix included.

    Returns
    -------
    list of str
        One slug per name (see :func:`slugify`); a slug already given to an
        earlier name gets the suffix ``-2``, ``-3``, ... (e.g. ``support/ops``
        and ``support_ops`` become ``support_ops`` and ``support_ops-2``).

    Examples
    --------
    >>> unique_slugs(["support/ops", "support_ops", "Support Ops"])
    ['support_ops', 'support_ops-2', 'support_ops-3']
    """
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        base = slugify(name, max_length)
        slug, n = base, 1
        while slug in seen:
            n += 1
            suffix = f"-{n}"
            slug = base[: max_length - len(suffix)].rstrip("_-") + suffix
        seen.add(slug)
        out.append(slug)
    return out


# ----------------------------------------------------------------------------- CSV injection
def neutralize_cell(value: Any) -> Any:
    """Make one text cell inert in a spreadsheet (OWASP CSV injection).

    Parameters
    ----------
    value : object
        A cell value.

    Returns
    -------
    object
        A string that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
        carriage return (after any leading quotes) gets a leading ``'``;
        plain numbers written as text (``"-5"``, ``"+1.5e3"``) and every
        non-string value are returned unchanged. :func:`restore_cell` undoes it.

    Examples
    --------
    >>> neutralize_cell("=HYPERLINK(1)"), neutralize_cell("-3"), neutralize_cell(-3)
    ("'=HYPERLINK(1)", '-3', -3)
    """
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def restore_cell(value: Any) -> Any:
    """Undo :func:`neutralize_cell` (for code reading the CSV outputs back).

    Parameters
    ----------
    value : object
        A cell read from a CSV output.

    Returns
    -------
    object
        The original value: one leading ``'`` removed from strings that
        :func:`neutralize_cell` would have quoted.
    """
    if isinstance(value, str) and _NEUTRALIZED.match(value) and not _NUMBER.fullmatch(value[1:]):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, cell, pattern: re.Pattern) -> pd.DataFrame:
    """Apply ``cell`` to every text cell and text column label; copy only if something changes.

    ``pattern`` matches the start of every string ``cell`` may change (a fast first pass).
    """
    out = frame
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = list(dtype.categories)
            new = [cell(c) for c in categories]
            if any(a is not b for a, b in zip(new, categories, strict=True)):
                out = out.copy() if out is frame else out
                out.isetitem(i, column.cat.rename_categories(new))
            continue
        if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue
        try:
            candidates = column.str.match(pattern.pattern, na=False).to_numpy(dtype=bool)
        except (AttributeError, TypeError):  # no strings at all in an object column
            continue
        if not candidates.any():
            continue
        values = column[candidates]
        changed = values.map(lambda v: cell(v) is not v, na_action="ignore").eq(True)
        if changed.any():
            out = out.copy() if out is frame else out
            fixed = column.copy()
            where = np.flatnonzero(candidates)[changed.to_numpy()]
            fixed.iloc[where] = [cell(v) for v in values[changed]]
            out.isetitem(i, fixed)
    labels = [cell(c) for c in frame.columns]
    if any(a is not b for a, b in zip(labels, frame.columns, strict=True)):
        out = out.copy() if out is frame else out
        out.columns = labels
    return out


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise formula-like text in a table before writing it as CSV.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when nothing needed a change, else a copy in which
        every text cell and column label went through :func:`neutralize_cell`.
        Numeric, boolean and date columns are never touched, so negative
        numbers stay numbers.
    """
    return _map_text(frame, neutralize_cell, _FORMULA)


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralize_formulas` on a table read back from a CSV output.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        Text cells and column labels passed through :func:`restore_cell`.
    """
    return _map_text(frame, restore_cell, _NEUTRALIZED)


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """Write a table as CSV, formula-like text neutralised, atomically.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; text cells and column labels go through
        :func:`neutralize_formulas` (the index too when written).
    path : str or Path
        The file to write. The text goes to a temporary file beside it first,
        which then replaces ``path``: an interrupted write leaves no partial file.
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``index`` defaults to False).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        If the file cannot be written (the temporary file is removed).
    """
    path = Path(path)
    kwargs.setdefault("index", False)
    safe = neutralize_formulas(frame)
    if kwargs["index"] and not isinstance(safe.index, pd.MultiIndex):
        safe = safe.set_axis(safe.index.map(neutralize_cell), axis=0)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        safe.to_csv(tmp, **kwargs)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
