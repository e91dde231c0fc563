"""Type one table of a dataset folder and check the rules of the input contract inside it.

:func:`typed_table` renames the user's columns to the standard names, converts
dates, counts, text and company-size bands (every conversion that could change
the meaning of a value is counted in the notes), and checks the rules inside
the table. Nothing is raised here: problems are returned, so that
:func:`milestone_discovery.data.load_dataset` reports those of every table at
once, with the rules between tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Config
from .config_input import SHARED_ROLES, TABLE_COLUMNS
from .dataset import DATE_COLUMNS
from .errors import ConfigError, Problem
from .readers import offending_rows, shorten

__all__ = [
    "ReadOptions",
    "read_options",
    "size_band_lower_bounds",
    "typed_table",
]

_INT_COLUMNS = {"accounts": ("seats", "company_size", "expansion"), "feature_usage": ("uses",)}

_NULLABLE = {
    ("accounts", "churn_date"),
    ("accounts", "plan"),
    ("accounts", "expansion"),
    ("feature_usage", "uses"),
    ("feature_catalog", "description"),
    ("feature_catalog", "hypothesis"),
}

#: Dates before this are placeholders (0001-01-01, 1900-01-01, 1970-01-01), not events.
_EARLIEST = pd.Timestamp("1980-01-01")
#: Dates after this cannot be stored in nanoseconds: far-future placeholders such as 9999-12-31.
_LATEST_STORABLE = pd.Timestamp("2262-04-11")
#: A timestamp with a time of day followed by a UTC offset or "Z" is time-zone aware.
_TZ_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


def _option(config: Config, name: str, default):
    """A setting of the config's ``[data]`` section, ``default`` when it is not set."""
    section = getattr(config, "data", None)
    value = getattr(section, name, None) if section is not None else None
    return default if value is None else value


@dataclass(frozen=True)
class ReadOptions:
    """How values are read, from the config's ``[data]`` section (see :func:`read_options`).

    Attributes
    ----------
    timezone : str
        IANA zone that time-zone-aware timestamps are converted to.
    missing_counts : {"error", "zero"}
        Whether a blank activity count is an error or 0.
    today : datetime.date
        Today where the data were recorded: dates of behaviour after it are errors.
    """

    timezone: str
    missing_counts: str
    today: dt.date


def read_options(config: Config) -> ReadOptions:
    """The reading options of ``config`` (its ``[data]`` section), checked.

    Parameters
    ----------
    config : Config

    Returns
    -------
    ReadOptions

    Raises
    ------
    ConfigError
        For an unknown time zone or ``missing_counts`` value.
    """
    from zoneinfo import ZoneInfo

    zone = str(_option(config, "timezone", "UTC"))
    missing = _option(config, "missing_counts", "error")
    if missing not in ("error", "zero"):
        raise ConfigError(f"[data] missing_counts must be 'error' or 'zero', got {missing!r}")
    try:
        tz = ZoneInfo(zone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(
            f"[data] timezone: unknown time zone {shorten(zone)!r} "
            "(use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None
    # "today" wherever the data were recorded: the machine's date or the zone's, if later
    today = max(dt.date.today(), dt.datetime.now(tz).date())
    return ReadOptions(zone, missing, today)


# ----------------------------------------------------------------------------- per table
def _names_list(names, limit: int = 20) -> str:
    """Column names for a message: each shortened, at most ``limit`` of them."""
    names = [shorten(n, 40) for n in names]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "[" + ", ".join(repr(n) for n in names[:limit]) + more + "]"


def typed_table(
    name: str, frame: pd.DataFrame, config: Config, options: ReadOptions, notes: list[str]
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Rename, check columns and convert types of one table, then check its rules.

    Parameters
    ----------
    name : str
        A table of the input contract (``accounts``, ``feature_usage``, ...).
    frame : pandas.DataFrame
        The table as read (CSV: every column as text).
    config : Config
        Column renames (``[columns.NAME]``).
    options : ReadOptions
        Time zone, blank counts and today's date.
    notes : list of str
        Conversions that could change the meaning of a value are appended here.

    Returns
    -------
    table : pandas.DataFrame or None
        The typed table with the standard column names; ``None`` when there
        are problems.
    problems : list of Problem
        Every broken rule, columns named as the user named them.
    """
    required, optional = TABLE_COLUMNS[name]
    rename: dict[str, str] = {}
    shared: dict[str, str] = {}  # standard column -> the standard column whose data it shares
    for c in (*required, *optional):
        user = config.column(name, c)
        if user in rename and c in SHARED_ROLES.get(name, ()):
            shared[c] = rename[user]  # one column, two roles (company_size = "seats")
        else:
            rename[user] = c
    if name == "activity":
        rename.update({v: k for k, v in config.columns.get("activity", {}).items()})
    frame = frame.rename(columns={c: str(c) for c in frame.columns}).rename(columns=rename)
    for std, other in shared.items():
        if other in frame.columns:
            frame[std] = frame[other]
    user_names = {std: user for user, std in rename.items() if user != std}
    user_names.update({std: user_names.get(other, other) for std, other in shared.items()})
    problems: list[Problem] = []
    missing = [c for c in required if c not in frame.columns]
    if missing:
        user = [config.column(name, c) for c in missing]
        problems.append(
            Problem(
                name,
                ", ".join(user),
                f"required column(s) missing; columns present: {_names_list(frame.columns)}",
            )
        )
    if name != "activity":
        unknown = [c for c in frame.columns if c not in (*required, *optional)]
        if unknown:
            shown = ", ".join(shorten(c, 40) for c in unknown[:20])
            problems.append(
                Problem(
                    name,
                    shown + (f", ... ({len(unknown) - 20} more)" if len(unknown) > 20 else ""),
                    f"unknown column(s); expected {list(required) + list(optional)} "
                    f"(rename in [columns.{name}] of the config, or remove them)",
                )
            )
    if problems:
        return None, problems
    if frame.empty:
        return None, [Problem(name, None, "table is empty")]

    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        series = frame[col]
        nullable = (name, col) in _NULLABLE
        where = _Where(name, col, f"{name}.{user_names.get(col, col)}", nullable, frame)
        if col in DATE_COLUMNS.get(name, ()):
            out[col], found = _parse_dates(where, series, options, notes)
        elif (name, col) == ("accounts", "company_size") and _is_text(series):
            out[col], found = _parse_size_bands(where, series)
        elif col in _INT_COLUMNS.get(name, ()) or (
            name == "activity" and col not in ("account_id", "month")
        ):
            out[col], found = _parse_counts(where, series, options, notes)
        else:
            out[col], found = _parse_text(name, col, series, nullable, frame)
        problems += found
    if name == "accounts" and "churn_date" not in out:  # optional: no column = nobody churned
        out["churn_date"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns]")
    if name == "accounts":  # optional size columns: size covariates use what exists
        for col in ("seats", "company_size"):
            if col not in out:
                out[col] = np.nan
    if not problems:
        problems += _table_rules(name, out)
    if problems:
        return None, _in_user_names(problems, user_names)
    return out, problems


@dataclass(frozen=True)
class _Where:
    """The column being parsed: for messages, notes and offending rows."""

    table: str
    column: str
    label: str  # "table.column" as the user named the column, for notes
    nullable: bool
    frame: pd.DataFrame

    def problem(self, rule: str, mask) -> Problem:
        rows = offending_rows(_context(self.frame, self.column), mask)
        return Problem(self.table, self.column, rule, rows, int(np.asarray(mask).sum()))


def _in_user_names(problems: list[Problem], names: dict[str, str]) -> list[Problem]:
    """Report columns by the user's names when the config renamed them."""
    if not names:
        return problems
    for p in problems:
        if p.column in names:
            p.column = names[p.column]
        if p.rows is not None:
            p.rows = p.rows.rename(columns=names)
    return problems


def _context(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return frame[[c for c in dict.fromkeys(("account_id", "feature", col)) if c in frame.columns]]


def _parse_text(table, col, series, nullable, frame):
    values = series.astype("string").str.strip()
    missing = values.isna() | (values == "")
    if not nullable and missing.any():
        rows = offending_rows(_context(frame, col), missing)
        return values, [Problem(table, col, "missing values", rows, int(missing.sum()))]
    return _shared_text(values), []


def _shared_text(values: pd.Series) -> pd.Series:
    """Stripped text as Python strings, one string object per distinct value; blanks None.

    The same values as ``values.astype(object)`` with blanks as None, but each
    distinct value is one shared ``str`` rather than one object per row: an
    account id repeated on 20 usage rows costs 20 pointers, not 20 strings
    (the difference is gigabytes on tables of tens of millions of rows).
    """
    codes, uniques = pd.factorize(values)  # missing -> -1
    texts = np.append(np.asarray(uniques, dtype=object), None)
    texts[texts == ""] = None
    codes[codes < 0] = len(texts) - 1
    return pd.Series(texts.take(codes), index=values.index, dtype=object)


def _tz_aware(text: pd.Series) -> pd.Series:
    """True where a timestamp string carries a UTC offset or ``Z``."""
    aware = pd.Series(False, index=text.index)
    tail = text.str.slice(10)  # after the date: the time of day and the offset, if any
    candidate = (
        (
            tail.str.contains("+", regex=False)
            | tail.str.contains("-", regex=False)
            | tail.str.contains("z", case=False, regex=False)
        )
        .fillna(False)
        .astype(bool)
    )
    if candidate.any():  # the full pattern only where an offset is possible: it is slow
        aware[candidate] = text[candidate].str.contains(_TZ_AWARE).fillna(False).astype(bool)
    return aware


def _parse_dates(where: _Where, series: pd.Series, options: ReadOptions, notes: list[str]):
    """Parse one date column to datetime64[ns] days.

    Naive timestamps keep their calendar date; time-zone-aware ones (an offset
    or ``Z`` in text, or a zoned Parquet type) are converted to
    ``options.timezone`` first (counted in ``notes``). Dates before 1980 are
    placeholders (an error); dates after today are an error, except churn
    dates: scheduled cancellations are valid, and churn dates beyond what
    pandas can store (9999-12-31 and the like) mean "never churned" (counted
    in ``notes``).
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        missing = series.isna()
        zoned = getattr(series.dt, "tz", None) is not None
        aware = ~missing if zoned else pd.Series(False, index=series.index)
        local = series.dt.tz_convert(options.timezone).dt.tz_localize(None) if zoned else series
        bad = pd.Series(False, index=series.index)
    else:
        if series.dtype == object:  # Parquet dates (datetime.date) or other Python objects
            series = series.map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
        text = series.astype("string").str.strip()
        missing = (text.isna() | (text == "")).astype(bool)
        aware = _tz_aware(text) & ~missing
        utc = pd.to_datetime(text.where(~missing), format="ISO8601", errors="coerce", utc=True)
        local = utc.dt.tz_localize(None)  # naive text: the date as written
        if aware.any():
            local = local.where(~aware, utc.dt.tz_convert(options.timezone).dt.tz_localize(None))
        bad = local.isna() & ~missing
    local = local.dt.normalize()
    problems = []
    if bad.any():
        problems.append(
            where.problem("unparseable dates (expected ISO format, e.g. 2025-01-31)", bad)
        )
    if not where.nullable and missing.any():
        problems.append(where.problem("missing dates", missing))
    early = (local < _EARLIEST).fillna(False).to_numpy(dtype=bool)
    if early.any():
        problems.append(
            where.problem(
                f"date before {_EARLIEST.date()}: a placeholder such as 0001-01-01, "
                "1900-01-01 or 1970-01-01 rather than a real date"
                + (" (leave it empty when unknown)" if where.nullable else ""),
                early,
            )
        )
    if where.column == "churn_date":
        never = (local > _LATEST_STORABLE).fillna(False).to_numpy(dtype=bool)
        if never.any():
            example = shorten(where.frame.loc[never, where.column].iloc[0], 30)
            notes.append(
                f"{where.label}: {int(never.sum())} far-future date(s) such as {example} "
                "read as 'never churned'"
            )
    else:
        future = (local > pd.Timestamp(options.today)).fillna(False).to_numpy(dtype=bool)
        if future.any():
            problems.append(
                where.problem(
                    f"date in the future (after today, {options.today}): a typo or a "
                    "placeholder? Signup and behaviour cannot be dated after today",
                    future,
                )
            )
    if aware.any():
        notes.append(
            f"{where.label}: {int(aware.sum())} time-zone-aware timestamp(s) converted to "
            f"{options.timezone} before taking the date"
        )
    storable = (local >= _EARLIEST) & (local <= _LATEST_STORABLE)
    return local.where(storable).astype("datetime64[ns]"), problems


def _parse_counts(where: _Where, series: pd.Series, options: ReadOptions, notes: list[str]):
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype("float64")
        missing = numbers.isna()
        bad = pd.Series(False, index=series.index)
    else:
        text = series.astype("string").str.strip()
        missing = (text.isna() | (text == "")).astype(bool)
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
        bad = numbers.isna() & ~missing
    bad = bad | np.isinf(numbers)  # "inf" parses as a number but is no count
    problems = []
    if bad.any():
        problems.append(where.problem("not a number", bad))
    blank_as_zero = where.table == "activity" and options.missing_counts == "zero"
    if missing.any() and not where.nullable:
        if blank_as_zero:
            notes.append(
                f"{where.label}: {int(missing.sum())} blank value(s) counted as 0 "
                '([data] missing_counts = "zero")'
            )
        elif where.table == "activity":
            problems.append(
                where.problem(
                    "missing values (a blank count is not 0: fill it in, or set "
                    '[data] missing_counts = "zero" in the config to count blanks as 0)',
                    missing,
                )
            )
        else:
            problems.append(where.problem("missing values", missing))
    negative = numbers < 0
    if negative.any():
        problems.append(where.problem("negative counts", negative))
    fractional = numbers.notna() & (numbers != np.floor(numbers))
    if fractional.any():
        problems.append(where.problem("counts must be whole numbers", fractional))
    if problems:  # the values are not used; casting unparsed or fractional ones would fail
        return numbers, problems
    if blank_as_zero:
        return numbers.fillna(0).astype("int64"), problems
    if missing.any():
        return numbers.astype("Int64"), problems
    return numbers.astype("int64"), problems


#: A company-size band: "10-50", "10 to 50", "1,000+", "1k-5k", "<10", "under 10", "500 or more".
_BAND = re.compile(
    r"^(?P<below>[<≤]|under|below|less than|up to|fewer than)?\s*(?P<above>[>≥]|over|above)?\s*"
    r"(?P<lo>\d[\d,]*(?:\.\d+)?)\s*(?P<lo_k>[km])?\s*"
    r"(?:(?:-|–|—|to)\s*(?P<hi>\d[\d,]*(?:\.\d+)?)\s*(?P<hi_k>[km])?"
    r"|\+|or more|and (?:more|above|over))?"
    r"\s*(?:employees|people|staff|seats|users)?$",
    re.IGNORECASE,
)


def size_band_lower_bounds(values) -> pd.Series:
    """The lower bound of each company-size band, by which bands are ordered.

    Parameters
    ----------
    values : array-like
        Bands as text: ``"10-50"``, ``"10 to 50"``, ``"1,000+"``, ``"1k-5k"``,
        ``"<10"`` / ``"under 10"`` (lower bound 0), ``"500 or more"``, or a
        plain number (its own lower bound).

    Returns
    -------
    pandas.Series
        Float lower bounds; NaN for blanks and for text that is not a band.

    Examples
    --------
    >>> size_band_lower_bounds(["100-250", "1000+", "<10", "1k-5k"]).tolist()
    [100.0, 1000.0, 0.0, 1000.0]
    """
    text = pd.Series(values, dtype="string").str.strip()

    def lower(value) -> float:
        if value is pd.NA or not value:
            return np.nan
        match = _BAND.match(value)
        if not match:
            return np.nan
        if match["below"]:
            return 0.0
        scale = {"k": 1e3, "m": 1e6}.get((match["lo_k"] or "").lower(), 1.0)
        return float(match["lo"].replace(",", "")) * scale

    return pd.Series([lower(v) for v in text], index=text.index, dtype=float)


def _is_text(series: pd.Series) -> bool:
    """True when a column holds text that is not all numbers (e.g. size bands)."""
    if pd.api.types.is_numeric_dtype(series):
        return False
    text = series.astype("string").str.strip()
    given = text.notna() & (text != "")
    return bool(pd.to_numeric(text[given], errors="coerce").isna().any())


def _parse_size_bands(where: _Where, series: pd.Series):
    """Company size given as text bands: kept as text, each checked to be a band."""
    text = series.astype("string").str.strip()
    missing = (text.isna() | (text == "")).astype(bool)
    bad = size_band_lower_bounds(text).isna() & ~missing
    problems = []
    if bad.any():
        problems.append(
            where.problem("neither a number nor a size band such as '10-50', '1000+' or '<10'", bad)
        )
    if missing.any():
        problems.append(where.problem("missing values", missing))
    return text.astype(object).where(~missing, None), problems


# ----------------------------------------------------------------------------- rules
def _table_rules(name: str, t: pd.DataFrame) -> list[Problem]:
    """Rules inside one typed table."""
    p: list[Problem] = []

    def check(mask, column, rule, cols=None):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            p.append(
                Problem(
                    name,
                    column,
                    rule,
                    offending_rows(t[cols] if cols else t, mask),
                    int(mask.sum()),
                )
            )

    if name == "accounts":
        check(t["account_id"].duplicated(keep=False), "account_id", "duplicate account_id")
        check(
            t["seats"] < 1, "seats", "seats must be at least 1 (utilization is per purchased seat)"
        )
        if pd.api.types.is_numeric_dtype(t["company_size"]):  # text bands were checked as read
            check(
                t["company_size"] < 1, "company_size", "company_size (employees) must be at least 1"
            )
        check(
            t["churn_date"].notna() & (t["churn_date"] < t["signup_date"]),
            "churn_date",
            "churn_date before signup_date",
        )
        if "expansion" in t:
            check(
                t["expansion"].notna() & ~t["expansion"].isin([0, 1]),
                "expansion",
                "expansion must be 0 or 1",
            )
    elif name == "feature_usage":
        check(
            t.duplicated(["account_id", "feature"], keep=False),
            "feature",
            "more than one row for the same account and feature "
            "(one row per account and feature, with its first use)",
        )
        if "uses" in t:
            check(
                t["uses"].notna() & (t["uses"] < 1),
                "uses",
                "uses must be at least 1 on a usage row",
            )
    elif name == "feature_catalog":
        check(t["feature"].duplicated(keep=False), "feature", "feature listed more than once")
        if "hypothesis" in t:
            check(
                t["hypothesis"].notna() & ~t["hypothesis"].isin(["basic", "mature"]),
                "hypothesis",
                "hypothesis must be 'basic' or 'mature'",
            )
    elif name == "activity":
        check(t["month"].dt.day != 1, "month", "month must be the first day of a month")
        check(
            t.duplicated(["account_id", "month"], keep=False),
            "month",
            "more than one row for the same account and month",
        )
    elif name == "setup_steps":
        check(
            t.duplicated(["account_id", "step"], keep=False),
            "step",
            "step completed more than once for the same account (keep the first completion)",
        )
    return p
