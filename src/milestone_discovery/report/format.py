"""Numbers and names as the report shows them.

One convention throughout: a missing value is an en dash; an interval is
``low–high`` with the unit written once at the end (``84–89%``), empty when
either end is missing, and shown after its estimate in parentheses
(``87% (84–89%)``). Intervals are read from a run folder in either of its
two spellings (``key_low``/``key_high`` columns, or a ``key_ci`` pair) by
:func:`interval`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MISSING",
    "fmt_ci",
    "fmt_int",
    "fmt_pct",
    "fmt_pct_ci",
    "fmt_ratio",
    "fmt_ratio_ci",
    "fmt_value",
    "fmt_value_ci",
    "interval",
    "label",
    "num",
    "rate_phrase",
]

MISSING = "–"


def num(x: Any) -> float | None:
    """A finite float, or None for missing values (None, NaN, empty strings)."""
    if x is None:
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def fmt_pct(x: Any, digits: int | None = None) -> str:
    """``0.4512 -> "45%"``; one decimal below 10% (``"2.6%"``); missing -> an en dash."""
    value = num(x)
    if value is None:
        return MISSING
    value *= 100
    if digits is None:
        digits = 1 if 0 < abs(value) < 10 and round(value, 1) != round(value) else 0
    return f"{value:.{digits}f}%"


def fmt_int(x: Any) -> str:
    """Thousands separators: ``1683 -> "1,683"``."""
    value = num(x)
    return MISSING if value is None else f"{value:,.0f}"


def fmt_value(x: Any) -> str:
    """A threshold in few digits: ``60.0 -> "60"``, ``6.807 -> "6.81"``, ``1234.5 -> "1,234"``."""
    value = num(x)
    if value is None:
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if value == round(value):
        return f"{value:.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.2g}"


def fmt_ratio(x: Any) -> str:
    """A risk or odds ratio with two decimals: ``1.4337 -> "1.43"``."""
    value = num(x)
    return MISSING if value is None else f"{value:.2f}"


_FORMATS = {"pct": fmt_pct, "ratio": fmt_ratio, "value": fmt_value}


def fmt_ci(lo: Any, hi: Any, kind: str = "ratio") -> str:
    """An interval ``low–high`` in the format of ``kind`` (``"pct"``, ``"ratio"`` or ``"value"``).

    ``(0.84, 0.89, "pct") -> "84–89%"``; ``(1.21, 1.36) -> "1.21–1.36"``;
    empty when either end is missing.
    """
    if num(lo) is None or num(hi) is None:
        return ""
    fmt = _FORMATS[kind]
    low = fmt(lo)
    return f"{low[:-1] if kind == 'pct' else low}–{fmt(hi)}"


def fmt_pct_ci(lo: Any, hi: Any) -> str:
    """``fmt_ci(lo, hi, "pct")``: ``"84–89%"``."""
    return fmt_ci(lo, hi, "pct")


def fmt_ratio_ci(lo: Any, hi: Any) -> str:
    """``fmt_ci(lo, hi, "ratio")``: ``"1.21–1.36"``."""
    return fmt_ci(lo, hi, "ratio")


def fmt_value_ci(lo: Any, hi: Any) -> str:
    """``fmt_ci(lo, hi, "value")``: ``"57–62"``."""
    return fmt_ci(lo, hi, "value")


def rate_phrase(rate: Any, lo: Any, hi: Any) -> str:
    """``"87% (84–89%)"``, or just the rate when there is no interval."""
    text, ci = fmt_pct(rate), fmt_pct_ci(lo, hi)
    return f"{text} ({ci})" if ci else text


def interval(record: Mapping[str, Any] | None, key: str) -> tuple[float | None, float | None]:
    """The interval of ``record[key]``: ``key_low``/``key_high``, else the pair ``key_ci``.

    Each end is a finite float or None.
    """
    if not record:
        return None, None
    if f"{key}_low" in record or f"{key}_high" in record:
        return num(record.get(f"{key}_low")), num(record.get(f"{key}_high"))
    pair = record.get(f"{key}_ci")
    if isinstance(pair, (list, tuple)) and len(pair) == 2:
        return num(pair[0]), num(pair[1])
    return None, None


def label(x: Any) -> str:
    """Readable name of an identifier from the data: ``support_channels -> "support channels"``."""
    return str(x).replace("_", " ")
