"""Read and validate a dataset: a folder of tables, or one wide table.

:func:`load_dataset` is the single entry point. It reads each table with
DuckDB (CSV) or pyarrow (Parquet), renames the user's columns to the standard
names of the input contract, converts types, checks every rule of the
contract and raises one :class:`~milestone_discovery.errors.DataValidationError`
listing all problems of all tables (table, column, rule, example rows).

Rows that are valid but cannot be used (usage dated after the account's
churn, events after ``as_of``) are not an error: they are ignored and counted
in :attr:`Dataset.notes`, never dropped silently. So is every conversion that
could change the meaning of a value: time-zone-aware timestamps converted to
one zone, far-future churn dates read as "never churned", blank counts read as
0 (only when the config asks for it), files in the folder that are not read.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .config import EVENT_TABLES, REQUIRED_TABLES, SHARED_ROLES, TABLE_COLUMNS, Config
from .errors import ConfigError, DataValidationError, MilestoneError, Problem

if TYPE_CHECKING:
    from .wide import WideInfo

__all__ = [
    "FALSE_VALUES",
    "TRUE_VALUES",
    "Dataset",
    "load_dataset",
    "offending_rows",
    "read_table",
    "size_band_lower_bounds",
]

_INT_COLUMNS = {"accounts": ("seats", "company_size", "expansion"), "feature_usage": ("uses",)}
_DATE_COLUMNS = {
    "accounts": ("signup_date", "churn_date"),
    "feature_usage": ("first_used_at",),
    "activity": ("month",),
    "setup_steps": ("completed_at",),
}
#: Dates of observed behaviour: the default ``as_of`` is the latest of them.
_BEHAVIOUR_DATES = (
    ("feature_usage", "first_used_at"),
    ("activity", "month"),
    ("setup_steps", "completed_at"),
    ("events", "timestamp"),  # each account's latest event (see events.EventTables.last_seen)
)
_NULLABLE = {
    ("accounts", "churn_date"),
    ("accounts", "plan"),
    ("accounts", "expansion"),
    ("feature_usage", "uses"),
    ("feature_catalog", "description"),
    ("feature_catalog", "hypothesis"),
}
#: Spellings of yes and no (lower case) in flag columns.
TRUE_VALUES = frozenset({"1", "1.0", "true", "t", "yes", "y"})
FALSE_VALUES = frozenset({"0", "0.0", "false", "f", "no", "n"})

#: Dates before this are placeholders (0001-01-01, 1900-01-01, 1970-01-01), not events.
_EARLIEST = pd.Timestamp("1980-01-01")
#: Dates after this cannot be stored in nanoseconds: far-future placeholders such as 9999-12-31.
_LATEST_STORABLE = pd.Timestamp("2262-04-11")
#: A timestamp with a time of day followed by a UTC offset or "Z" is time-zone aware.
_TZ_AWARE = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
#: The default as_of is checked for resting on fewer accounts than this (see _default_as_of).
_AS_OF_SUPPORT = 3


@dataclass
class Dataset:
    """Typed, validated tables of one study.

    Attributes
    ----------
    accounts : pandas.DataFrame
        One row per account: ``account_id`` (str), ``signup_date``,
        ``churn_date`` (NaT while a customer), ``seats`` and ``company_size``
        (NaN when absent; ``company_size`` holds text when given as bands
        such as ``"10-50"``, see :func:`size_band_lower_bounds`), ``plan``
        ("unknown" when absent).
    feature_usage : pandas.DataFrame
        One row per account and feature ever used: ``account_id``, ``feature``,
        ``first_used_at``, ``uses``.
    feature_catalog, activity, setup_steps : pandas.DataFrame or None
        Optional tables; ``None`` when the dataset has none.
    as_of : datetime.date or None
        Analysis date (from the config, else the latest date of observed
        behaviour); ``None`` for a wide table without dates.
    kind : {"tables", "wide"}
        ``"wide"`` datasets carry ready-made ``flags`` and ``churned`` instead of
        dated usage: time windows cannot be enforced for them.
    flags : pandas.DataFrame or None
        Wide datasets only: index ``account_id``, one bool column per feature.
    churned : pandas.Series or None
        Wide datasets only: index ``account_id``, True when the account churned.
    source : str
        The folder or file read.
    notes : list of str
        What was ignored or converted and why (counts), for the report; the
        first note of a folder dataset says where ``as_of`` came from.
    as_of_source : str
        Where ``as_of`` came from, e.g. ``"set in the config ([study] as_of)"``
        or ``"latest date of observed behaviour (feature_usage.first_used_at)"``.
    wide : WideInfo or None
        Wide datasets only: choices, add-ons, covariate and count columns and
        the rows left out by outcome value (see :class:`~milestone_discovery.wide.WideInfo`).
    events : dict or None
        When ``feature_usage``, ``activity`` and ``setup_steps`` were derived
        from an ``events`` table: its summary (``rows``, ``columns``,
        ``first_date``, ``last_date``, ``accounts``, ``per_account``, ...; see
        :func:`milestone_discovery.events.derive_tables`).
    """

    accounts: pd.DataFrame
    feature_usage: pd.DataFrame | None
    as_of: dt.date | None
    feature_catalog: pd.DataFrame | None = None
    activity: pd.DataFrame | None = None
    setup_steps: pd.DataFrame | None = None
    kind: str = "tables"
    flags: pd.DataFrame | None = None
    churned: pd.Series | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    as_of_source: str = ""
    wide: WideInfo | None = None
    events: dict | None = None

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        names = ("accounts", "feature_usage", "feature_catalog", "activity", "setup_steps")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def features(self) -> list[str]:
        """Every feature name, sorted."""
        if self.flags is not None:
            return sorted(self.flags.columns)
        names = set(self.feature_usage["feature"].unique())
        if self.feature_catalog is not None:
            names |= set(self.feature_catalog["feature"])
        return sorted(names)

    @property
    def activity_metrics(self) -> list[str]:
        """Numeric metric columns of the activity table."""
        if self.activity is None:
            return []
        return [c for c in self.activity.columns if c not in ("account_id", "month")]

    def subset(self, account_ids) -> Dataset:
        """A copy restricted to the given accounts (every table filtered)."""
        keep = pd.Index(account_ids)
        out = Dataset(
            accounts=self.accounts[self.accounts["account_id"].isin(keep)].reset_index(drop=True),
            feature_usage=None,
            as_of=self.as_of,
            feature_catalog=self.feature_catalog,
            kind=self.kind,
            source=self.source,
            notes=list(self.notes),
            as_of_source=self.as_of_source,
            events=self.events,
        )
        for name in ("feature_usage", "activity", "setup_steps"):
            table = getattr(self, name)
            if table is not None:
                setattr(out, name, table[table["account_id"].isin(keep)].reset_index(drop=True))
        if self.flags is not None:
            out.flags = self.flags.loc[self.flags.index.isin(keep)]
            if self.churned is not None:
                out.churned = self.churned.loc[self.churned.index.isin(keep)]
        if self.wide is not None:
            out.wide = self.wide.subset(keep)
        return out

    def summary(self) -> pd.DataFrame:
        """Rows, columns and date range of every table (and of the events they come from)."""
        rows = []
        if self.events is not None:
            rows.append(
                {
                    "table": "events",
                    "rows": self.events["rows"],
                    "columns": self.events["columns"],
                    "first_date": self.events["first_date"],
                    "last_date": self.events["last_date"],
                }
            )
        for name, table in self.tables.items():
            dates = [c for c in _DATE_COLUMNS.get(name, ()) if c in table.columns]
            lo = min((table[c].min() for c in dates if table[c].notna().any()), default=pd.NaT)
            hi = max((table[c].max() for c in dates if table[c].notna().any()), default=pd.NaT)
            rows.append(
                {
                    "table": name,
                    "rows": len(table),
                    "columns": ", ".join(map(str, table.columns)),
                    "first_date": None if pd.isna(lo) else lo.date().isoformat(),
                    "last_date": None if pd.isna(hi) else hi.date().isoformat(),
                }
            )
        if self.flags is not None:
            rows.append(
                {
                    "table": "flags (wide)",
                    "rows": len(self.flags),
                    "columns": _wide_columns(self),
                    "first_date": None,
                    "last_date": None,
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            f"<div><strong>Dataset</strong> {html.escape(self.source)} "
            f"({self.kind}, as of {self.as_of.isoformat() if self.as_of else 'n/a'}"
            f"{': ' + html.escape(self.as_of_source) if self.as_of_source else ''})"
            f"{self.summary().to_html(index=False, escape=True)}"
            f"{'<ul>' + notes + '</ul>' if notes else ''}</div>"
        )


def _wide_columns(ds: Dataset) -> str:
    """What a wide table's flags are: features, choice levels, count columns."""
    if ds.wide is None:
        return f"{ds.flags.shape[1]} features"
    choices = len(ds.wide.choice_levels)
    parts = [f"{ds.flags.shape[1] - choices} features"]
    if choices:
        parts.append(f"{choices} choice levels (not features)")
    if ds.wide.counts.shape[1]:
        parts.append(f"{ds.wide.counts.shape[1]} count columns")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- reading
#: Leading bytes of file formats that are sometimes saved under a ``.csv`` name.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first (gunzip)"),
    (b"PAR1", "a Parquet file; name it with a .parquet extension"),
    (b"ARROW1", "an Arrow/Feather file; save it as Parquet or CSV"),
    (b"PK\x03\x04", "a ZIP archive or an Excel .xlsx workbook; export the sheet as CSV (UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook (or another Office file); export it as CSV"),
    (b"BZh", "a bzip2-compressed file; decompress it first"),
    (b"\xfd7zXZ\x00", "an xz-compressed file; decompress it first"),
    (b"(\xb5/\xfd", "a zstd-compressed file; decompress it first"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3\x00", "an SQLite database; export the table as CSV or Parquet"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
)
_SNIFF_BYTES = 65536
_DELIMITERS = (",", ";", "\t", "|")


def _shorten(text: object, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters (messages stay short)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _looks_like(head: bytes, expected: str) -> str | None:
    """What the first bytes of a file look like, when that is not ``expected``.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.
    expected : {"csv", "parquet"}
        The format the file name promises.

    Returns
    -------
    str or None
        A description such as ``"a gzip-compressed file; ..."``, or ``None``
        when nothing is wrong with the start of the file.
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if expected == "parquet" and magic == b"PAR1":
                return None
            if magic == b"BZh" and not head[3:4].isdigit():
                continue
            return what
    if b"\x00" in head:
        return "a binary file, not CSV text"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"{") or (
        text.startswith(b"[") and text[1:].lstrip()[:1] in b'{["-0123456789'
    ):
        return "a JSON file; convert it to CSV or Parquet"
    if text.startswith(b"<"):
        return "an HTML or XML document (a web page saved as .csv?), not CSV text"
    if expected == "parquet":
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
                return "neither Parquet (no PAR1 header) nor text: a damaged or other file"
        return "CSV or other text, not Parquet; name it with a .csv extension"
    return None


def _delimiter(sample: str) -> str:
    """The delimiter of CSV text: the candidate found the same number of times on most lines.

    Only the first 20 lines are looked at, outside double quotes; ``","`` when
    no candidate occurs (a one-column table).
    """
    from collections import Counter

    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_key = ",", (0, 0)
    for d in _DELIMITERS:
        counts = Counter("".join(line.split('"')[::2]).count(d) for line in lines)
        counts.pop(0, None)
        if counts:
            n, lines_agreeing = counts.most_common(1)[0]
            if (lines_agreeing, n) > best_key:
                best, best_key = d, (lines_agreeing, n)
    return best


def _first_non_utf8(path: Path) -> str | None:
    """``"byte 0xE9 at line 3: ..."`` for the first byte that is not UTF-8, else ``None``."""
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                excerpt = _shorten(raw.decode("utf-8", errors="replace"))
                return f"byte 0x{raw[exc.start]:02X} at line {line_no}: {excerpt!r}"
    return None


def _first_ragged_line(path: Path, delimiter: str) -> str | None:
    """Describe the first record that breaks the CSV format: wrong field count or quoting."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        start = 1
        try:
            header = next(reader, None)
            if header is None:
                return None
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) != len(header):
                    if reader.line_num == 2 and len(row) > len(header):
                        return (
                            f"the header (line 1) has {len(header)} field(s) but line 2 has "
                            f"{len(row)}: is there a title line above the header? "
                            f"{_shorten(delimiter.join(header))!r}"
                        )
                    return (
                        f"line {start} has {len(row)} field(s) but the header has {len(header)} "
                        f"(a footer, total or comment line?): {_shorten(delimiter.join(row))!r}"
                    )
                start = reader.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc) or "unexpected end" in str(exc):
                return f"a quoted field starting on line {start} is never closed (a stray '\"'?)"
            return f"line {start}: badly quoted field ({exc})"
    return None


def _unreadable(table: str, path: Path, reason: str) -> DataValidationError:
    return DataValidationError([Problem(table, None, f"cannot read {path.name}: {reason}")])


def read_table(path: str | Path, table: str | None = None) -> pd.DataFrame:
    """Read one CSV or Parquet file into pandas.

    CSV is read with DuckDB with every column as text, so that a bad value is
    reported by the validator (with its row) rather than silently guessed. The
    delimiter (``,``, ``;``, tab or ``|``) is taken from the header line and
    every line must have as many fields as the header.

    Parameters
    ----------
    path : str or Path
        A ``.parquet`` file, or a CSV file (any other extension), UTF-8 encoded.
    table : str, optional
        Table name used in error messages (default: the file name without extension).

    Returns
    -------
    pandas.DataFrame
        CSV: every column as text; Parquet: the stored types.

    Raises
    ------
    DataValidationError
        When the file cannot be read, with the cause in plain words: empty file,
        not UTF-8 (byte and line), a line with the wrong number of fields, or a
        file that looks like something else (gzip, Parquet, Excel, JSON, HTML, ...).
    """
    path = Path(path)
    table = table or path.stem
    parquet = path.suffix.lower() == ".parquet"
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError as exc:
        raise _unreadable(table, path, exc.strerror or type(exc).__name__) from exc
    if not head:
        raise _unreadable(table, path, "the file is empty (0 bytes)")
    what = _looks_like(head, "parquet" if parquet else "csv")
    if what:
        raise _unreadable(table, path, f"this looks like {what}")
    if parquet:
        return _read_parquet(table, path)
    return _read_csv(table, path, head)


def _read_parquet(table: str, path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:  # the reader's own message names the problem
        raise _unreadable(table, path, _shorten(str(exc).splitlines()[0], 200)) from exc


def _read_csv(table: str, path: Path, head: bytes) -> pd.DataFrame:
    import duckdb

    text = head.removeprefix(b"\xef\xbb\xbf")
    if not text.strip():
        raise _unreadable(table, path, "the file has no header line (it is blank)")
    # the full scan below names a byte that is not UTF-8
    delimiter = _delimiter(text.decode("utf-8", errors="replace"))
    try:
        with duckdb.connect() as con:
            return con.execute(
                "SELECT * FROM read_csv($1, all_varchar=true, header=true, "
                "delim=$2, quote='\"', escape='\"')",
                [str(path), delimiter],
            ).df()
    except Exception as exc:
        non_utf8 = _first_non_utf8(path)
        if non_utf8:
            reason = f"not UTF-8: {non_utf8} (Latin-1 or Windows-1252? save the file as UTF-8)"
        else:
            reason = _first_ragged_line(path, delimiter) or _shorten(str(exc).splitlines()[0], 200)
        raise _unreadable(table, path, reason) from exc


def _table_files(folder: Path, names) -> tuple[dict, list[Problem], dict, list[str]]:
    """Find the file of each table, matching names case-insensitively.

    Returns the file of each table found, the problems (two files for one
    table), hints for missing tables (a file with a similar name, or with the
    right name and an unsupported extension) and notes on files not read.
    """
    import difflib

    names = list(names)
    by_table: dict[str, list[Path]] = {}
    others: list[Path] = []
    for file in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        stem, suffix = file.stem.lower(), file.suffix.lower()
        if suffix in (".csv", ".parquet") and stem in names:
            by_table.setdefault(stem, []).append(file)
        else:
            others.append(file)
    if "events" in names:  # events may also be a folder of Parquet files (hive-partitioned)
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name.lower() == "events":
                by_table.setdefault("events", []).append(sub)
    problems: list[Problem] = []
    found: dict[str, Path] = {}
    for name, files in by_table.items():
        if len(files) > 1:
            listed = " and ".join(f.name for f in files)
            problems.append(Problem(name, None, f"both {listed} exist; keep one"))
        found[name] = files[0]

    hints: dict[str, list[str]] = {}
    notes = []
    for file in others:
        base = file.name.lower().split(".", 1)[0]
        readable = file.suffix.lower() in (".csv", ".parquet")
        if not readable and base in names:
            if base not in found:
                hints.setdefault(base, []).append(
                    f"{file.name} is there: only .csv and .parquet files are read"
                )
            continue
        if not readable:
            continue
        close = difflib.get_close_matches(file.stem.lower(), names, n=1, cutoff=0.75)
        if close and close[0] not in found:
            hints.setdefault(close[0], []).append(
                f"{file.name} looks like it: rename it to {close[0]}{file.suffix.lower()}"
            )
        elif close:
            notes.append(
                f"file {file.name} ignored: table '{close[0]}' is read from {found[close[0]].name}"
            )
        else:
            notes.append(
                f"file {file.name} ignored: not a table of the input contract ({', '.join(names)})"
            )
    return found, problems, hints, notes


# ----------------------------------------------------------------------------- loading
def load_dataset(
    path: str | Path, config: Config | None = None, *, outcome_required: bool = True
) -> Dataset:
    """Load and validate a dataset.

    Parameters
    ----------
    path : str or Path
        A folder with ``accounts`` and ``feature_usage`` (and optionally
        ``feature_catalog``, ``activity``, ``setup_steps``) as CSV or Parquet,
        or a single CSV/Parquet wide table when ``config.wide`` is set. Table
        file names are matched case-insensitively (``Activity.csv`` is
        ``activity``); a missing table with a similarly named file
        (``feature_catalogue.csv``) is an error. Instead of ``feature_usage``,
        ``activity`` and ``setup_steps`` the folder may hold ``events``
        (``events.csv``, ``events.parquet`` or a folder ``events/`` of Parquet
        files), reduced to those tables by :mod:`milestone_discovery.events`
        as the ``[events]`` config says; any table may instead be a
        ``[tables.NAME] query`` (:mod:`milestone_discovery.queries`).
    config : Config, optional
        Column names, ``as_of``, the wide-table description and the optional
        ``[data]`` settings ``timezone`` (default ``"UTC"``: time-zone-aware
        timestamps are converted to it before taking the date) and
        ``missing_counts`` (``"error"``, the default, or ``"zero"``: blank
        activity counts read as 0 and counted in the notes).
    outcome_required : bool, default True
        ``False`` to score new customers with a saved framework: a wide table
        may then lack its outcome column (a folder dataset never needs one).

    Returns
    -------
    Dataset

    Raises
    ------
    DataValidationError
        Listing every broken rule with table, column and example rows.
    ConfigError
        When a setting does not fit the data (e.g. ``as_of`` before every signup).
    """
    config = config or Config()
    path = Path(path)
    if not path.exists():
        raise MilestoneError(f"dataset not found: {path}")
    if path.is_file():
        if config.wide is None:
            raise ConfigError(
                f"{path} is a single file: describe it as a wide table in a config "
                "file ([wide] section, see examples/telco.toml) or pass a dataset folder"
            )
        from .wide import load_wide

        return load_wide(path, config, outcome_required=outcome_required)
    if config.wide is not None:
        raise ConfigError(
            f"config has a [wide] section but {path} is a folder; pass the table file"
        )
    return _load_folder(path, config)


def _option(config: Config, name: str, default):
    """A setting of the config's ``[data]`` section, ``default`` when it is not set."""
    section = getattr(config, "data", None)
    value = getattr(section, name, None) if section is not None else None
    return default if value is None else value


@dataclass(frozen=True)
class _ReadOptions:
    timezone: str
    missing_counts: str
    today: dt.date


def _read_options(config: Config) -> _ReadOptions:
    from zoneinfo import ZoneInfo

    zone = str(_option(config, "timezone", "UTC"))
    missing = _option(config, "missing_counts", "error")
    if missing not in ("error", "zero"):
        raise ConfigError(f"[data] missing_counts must be 'error' or 'zero', got {missing!r}")
    try:
        tz = ZoneInfo(zone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ConfigError(
            f"[data] timezone: unknown time zone {_shorten(zone)!r} "
            "(use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None
    # "today" wherever the data were recorded: the machine's date or the zone's, if later
    today = max(dt.date.today(), dt.datetime.now(tz).date())
    return _ReadOptions(zone, missing, today)


def _load_folder(folder: Path, config: Config) -> Dataset:
    options = _read_options(config)
    notes: list[str] = []
    queries = {name: spec["query"] for name, spec in config.tables.items()}
    files, problems, hints, file_notes = _table_files(folder, TABLE_COLUMNS)
    notes += _query_file_notes(file_notes, files, queries)
    problems = [p for p in problems if p.table not in queries]
    for name in queries:
        files.pop(name, None)
    given = set(files) | set(queries)
    if "events" in given:
        both = [n for n in EVENT_TABLES if n in given]
        if both:
            problems.append(
                Problem(
                    "events",
                    None,
                    f"both events and {', '.join(both)} are given: events replaces "
                    "feature_usage, activity and setup_steps; keep one or the other",
                )
            )
    for name in TABLE_COLUMNS:
        if name in given:
            continue
        required = "required table missing: " if name in REQUIRED_TABLES else ""
        if name == "feature_usage" and "events" in given:
            required = ""
        alternative = " (or events)" if name == "feature_usage" else ""
        if name in hints:
            problems.append(
                Problem(
                    name,
                    None,
                    f"{required}no {name}.csv or {name}.parquet{alternative} in {folder}, but "
                    + "; ".join(hints[name]),
                )
            )
        elif required:
            problems.append(
                Problem(
                    name,
                    None,
                    f"{required}no {name}.csv or {name}.parquet{alternative} in {folder}",
                )
            )
    if problems:
        raise DataValidationError(problems)

    import contextlib

    engine = contextlib.nullcontext()
    if queries or "events" in given:
        from .queries import connect

        engine = connect(folder, config)
    with engine as con:
        raw: dict[str, pd.DataFrame] = {}
        for name in TABLE_COLUMNS:
            if name == "events":
                continue
            try:
                if name in queries:
                    from .queries import read_query

                    raw[name] = read_query(con, name, queries[name])
                elif name in files:
                    raw[name] = read_table(files[name], name)
            except DataValidationError as exc:  # report every unreadable file at once
                problems += exc.problems
        source = None
        if "events" in given:
            try:
                source = _event_source(files.get("events"), queries.get("events"))
            except DataValidationError as exc:
                problems += exc.problems
        if problems:
            raise DataValidationError(problems)

        tables: dict[str, pd.DataFrame] = {}
        for name, frame in raw.items():
            table, found = _typed_table(name, frame, config, options, notes)
            problems += _as_query_problems(name, found) if name in queries else found
            if table is not None:
                tables[name] = table
        derived = None
        if source is not None:
            from .events import EventReadError, derive_tables

            try:
                derived = derive_tables(
                    con, source, tables.get("accounts"), config, today=options.today
                )
            except DataValidationError as exc:
                problems += exc.problems
            except EventReadError as exc:
                problems += _events_unreadable(exc).problems
        if problems:  # cross-table rules need clean tables
            raise DataValidationError(problems)
    if derived is not None:
        tables["feature_usage"] = derived.feature_usage
        tables["events"] = derived.last_seen
        for name in ("activity", "setup_steps"):
            if getattr(derived, name) is not None:
                tables[name] = getattr(derived, name)
        notes += derived.notes

    problems += _cross_table_problems(tables, EVENT_TABLES if derived is not None else ())
    if problems:
        raise DataValidationError(problems)

    if config.study.as_of is not None:
        as_of, source = config.study.as_of, "set in the config ([study] as_of)"
    else:
        as_of, source, warning = _default_as_of(tables)
        if warning:
            notes.append(warning)
    notes.insert(0, f"as_of {as_of.isoformat()}: {source}")
    dataset = Dataset(
        accounts=tables["accounts"],
        feature_usage=tables["feature_usage"],
        feature_catalog=tables.get("feature_catalog"),
        activity=tables.get("activity"),
        setup_steps=tables.get("setup_steps"),
        as_of=as_of,
        source=str(folder),
        notes=notes,
        as_of_source=source,
        events=None if derived is None else derived.summary,
    )
    _apply_as_of_and_churn(dataset)
    return dataset


def _event_source(path: Path | None, query: str | None):
    """The :class:`~milestone_discovery.events.EventSource` of a file, a Parquet folder or a query.

    Raises
    ------
    DataValidationError
        When the file cannot be read (empty, not CSV text, ...) or the folder
        holds no Parquet file.
    """
    from .events import EventSource

    if query is not None:
        return EventSource("query", query=query)
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise DataValidationError(
                [Problem("events", None, f"the folder {path.name}/ holds no .parquet file")]
            )
        return EventSource("folder", path=path)
    parquet = path.suffix.lower() == ".parquet"
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        raise _unreadable("events", path, "the file is empty (0 bytes)")
    what = _looks_like(head, "parquet" if parquet else "csv")
    if what:
        raise _unreadable("events", path, f"this looks like {what}")
    if parquet:
        return EventSource("parquet", path=path)
    import csv

    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    delimiter = _delimiter(text)
    header = next(csv.reader(text.splitlines()[:1], delimiter=delimiter), [])
    return EventSource("csv", path=path, delimiter=delimiter, header=tuple(header))


def _events_unreadable(error) -> DataValidationError:
    """The cause of an :class:`~milestone_discovery.events.EventReadError`, in plain words."""
    source = error.source
    reason = None
    if source.kind == "csv":
        non_utf8 = _first_non_utf8(source.path)
        if non_utf8:
            reason = f"not UTF-8: {non_utf8} (Latin-1 or Windows-1252? save the file as UTF-8)"
        else:
            reason = _first_ragged_line(source.path, source.delimiter)
    reason = reason or _shorten(str(error.cause).splitlines()[0], 200)
    return _unreadable("events", source.path, reason)


def _query_file_notes(notes: list[str], files: dict, queries: dict[str, str]) -> list[str]:
    """The notes on files not read, saying which files the ``[tables]`` queries read instead."""
    if not queries:
        return notes

    def reader(file_name: str) -> str | None:
        return next((n for n, q in queries.items() if file_name.lower() in q.lower()), None)

    out = []
    for note in notes:
        match = re.match(r"file (.+?) ignored: ", note)
        table = reader(match.group(1)) if match else None
        out.append(
            note if table is None else f"file {match.group(1)} read by the [tables.{table}] query"
        )
    for name, path in files.items():
        if name in queries:
            table = reader(path.name)
            out.append(
                f"file {path.name} read by the [tables.{table}] query"
                if table
                else f"file {path.name} ignored: table '{name}' is given by the [tables.{name}] query"
            )
    return out


def _as_query_problems(name: str, problems: list[Problem]) -> list[Problem]:
    """Problems of a table given as a query: named after the query, rows by result row (1-based)."""
    from .queries import query_label

    for p in problems:
        p.table = query_label(name)
        if p.rows is not None and p.rows.index.name == "line":
            p.rows = p.rows.copy()
            p.rows.index = p.rows.index - 1  # the line number counted a header line
            p.rows.index.name = "row"
    return problems


# ----------------------------------------------------------------------------- per table
def _names_list(names, limit: int = 20) -> str:
    """Column names for a message: each shortened, at most ``limit`` of them."""
    names = [_shorten(n, 40) for n in names]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "[" + ", ".join(repr(n) for n in names[:limit]) + more + "]"


def _typed_table(
    name: str, frame: pd.DataFrame, config: Config, options: _ReadOptions, notes: list[str]
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Rename, check columns and convert types of one table."""
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
            shown = ", ".join(_shorten(c, 40) for c in unknown[:20])
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
        if col in _DATE_COLUMNS.get(name, ()):
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


def offending_rows(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` selected by ``mask``, indexed by their CSV line number.

    Parameters
    ----------
    frame : pandas.DataFrame
        A table as read, with its default 0-based index.
    mask : array-like of bool
        The offending rows.

    Returns
    -------
    pandas.DataFrame
        The selected rows; the index (named ``line``) is the line of the row in
        the CSV file: 1-based, plus the header line.
    """
    rows = frame.loc[np.asarray(mask)]
    rows.index = rows.index + 2  # 1-based, plus the header line: the CSV line number
    rows.index.name = "line"
    return rows


def _context(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return frame[[c for c in dict.fromkeys(("account_id", "feature", col)) if c in frame.columns]]


def _parse_text(table, col, series, nullable, frame):
    values = series.astype("string").str.strip()
    missing = values.isna() | (values == "")
    if not nullable and missing.any():
        rows = offending_rows(_context(frame, col), missing)
        return values, [Problem(table, col, "missing values", rows, int(missing.sum()))]
    return values.astype(object).where(~missing, None), []


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


def _parse_dates(where: _Where, series: pd.Series, options: _ReadOptions, notes: list[str]):
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
            example = _shorten(where.frame.loc[never, where.column].iloc[0], 30)
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


def _parse_counts(where: _Where, series: pd.Series, options: _ReadOptions, notes: list[str]):
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
    r"(?:(?:-|–|—|to)\s*(?P<hi>\d[\d,]*(?:\.\d+)?)\s*(?P<hi_k>[km])?|\+|or more|and (?:more|above|over))?"
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
            "more than one row for the same account and feature (one row per account and feature, with its first use)",
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


def _cross_table_problems(
    tables: dict[str, pd.DataFrame], derived: tuple[str, ...] = ()
) -> list[Problem]:
    """Rules between tables; tables in ``derived`` (from events) hold known accounts by construction."""
    accounts = tables["accounts"]
    known = pd.Index(accounts["account_id"])
    signup = accounts.set_index("account_id")["signup_date"]
    problems: list[Problem] = []
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = tables.get(name)
        if t is None or name in derived:
            continue
        unknown = ~t["account_id"].isin(known)
        if unknown.any():
            problems.append(
                Problem(
                    name,
                    "account_id",
                    "rows for accounts that are not in 'accounts'",
                    offending_rows(t, unknown),
                    int(unknown.sum()),
                )
            )
            continue
        start = signup.reindex(t["account_id"]).to_numpy()
        if name == "activity":  # a month row may start before the signup day, not before its month
            start = pd.DatetimeIndex(start).to_period("M").to_timestamp().to_numpy()
        early = t[date_col].to_numpy() < start
        if early.any():
            problems.append(
                Problem(
                    name,
                    date_col,
                    f"{date_col} before the account's signup_date",
                    offending_rows(t, early),
                    int(early.sum()),
                )
            )
    catalog = tables.get("feature_catalog")
    if catalog is not None:
        used = set(tables["feature_usage"]["feature"])
        unknown = ~catalog["feature"].isin(used)
        if unknown.any():
            problems.append(
                Problem(
                    "feature_catalog",
                    "feature",
                    "catalog names features that never appear in "
                    + ("the feature events" if "events" in tables else "feature_usage"),
                    offending_rows(catalog, unknown),
                    int(unknown.sum()),
                )
            )
    return problems


def _default_as_of(tables: dict[str, pd.DataFrame]) -> tuple[dt.date, str, str | None]:
    """The default analysis date: the latest date of observed behaviour.

    ``as_of`` is the day the data were taken, and the evidence for that day is
    the latest behaviour recorded: first uses of features, completed setup
    steps and activity months. Signup and churn dates are not used: a signup
    can be registered ahead and a cancellation scheduled for next year, and one
    such date would move the whole study (accounts too young to judge would
    count as retained). Behaviour dates after today were already rejected as
    errors and far-future churn dates read as "never", so no single date in the
    future can move ``as_of``.

    A typo in the past can still lie after all other behaviour. When the
    latest date rests on fewer than ``_AS_OF_SUPPORT`` accounts in a dataset of
    at least 100 accounts with behaviour, and every other account's behaviour
    ended more than 31 days earlier, a note says so (the date is kept: fix the
    rows or set ``[study] as_of``).

    Returns
    -------
    as_of : datetime.date
    source : str
        Where it came from, in words, for the notes and the summary.
    warning : str or None
        The note above, when it applies.
    """
    parts = []
    for name, col in _BEHAVIOUR_DATES:
        t = tables.get(name)
        if t is not None and t[col].notna().any():
            parts.append(pd.DataFrame({"account_id": t["account_id"], "date": t[col], "src": name}))
    if not parts:  # pragma: no cover - feature_usage is required and never empty
        latest = tables["accounts"]["signup_date"].max()
        return latest.date(), "latest signup_date (no behaviour dates in the data)", None
    dates = pd.concat(parts, ignore_index=True)
    latest = dates["date"].max()
    sources = [
        f"{name}.{col}"
        for name, col in _BEHAVIOUR_DATES
        if name in set(dates.loc[dates["date"] == latest, "src"])
    ]
    source = f"latest date of observed behaviour ({', '.join(sources)})"
    per_account = dates.groupby("account_id")["date"].max().sort_values(ascending=False)
    warning = None
    if len(per_account) >= 100:
        runner_up = per_account.iloc[_AS_OF_SUPPORT - 1]
        if latest - runner_up > pd.Timedelta(days=31):
            alone = per_account[per_account > runner_up]
            warning = (
                f"as_of {latest.date()} rests on {len(alone)} account(s) "
                f"({', '.join(_shorten(a, 20) for a in alone.index)}): every other account's "
                f"latest behaviour is on or before {runner_up.date()}; if those dates are "
                "typos, fix them, or set [study] as_of in the config"
            )
    return latest.date(), source, warning


def _apply_as_of_and_churn(ds: Dataset) -> None:
    """Ignore, with counts in ``ds.notes``, rows that cannot be known at ``as_of``.

    Usage dated after the account's churn is ignored rather than rejected:
    product logs often keep events (exports, admin clean-up) after a
    cancellation, and such rows would leak the outcome. A churn date after
    ``as_of`` (a scheduled cancellation) means "still a customer at ``as_of``".
    """
    as_of = pd.Timestamp(ds.as_of)
    acc = ds.accounts
    late_signup = acc["signup_date"] > as_of
    if late_signup.all():
        raise ConfigError(
            f"as_of {ds.as_of} is before every signup_date (the first is "
            f"{acc['signup_date'].min().date()}): no account can be studied; "
            "set a later [study] as_of"
        )
    if late_signup.any():
        ds.notes.append(
            f"{int(late_signup.sum())} account(s) signed up after as_of {ds.as_of} and are ignored"
        )
        ds.accounts = acc = acc.loc[~late_signup].reset_index(drop=True)
    future_churn = acc["churn_date"] > as_of
    if future_churn.any():
        acc.loc[future_churn, "churn_date"] = pd.NaT
        ds.notes.append(
            f"{int(future_churn.sum())} churn date(s) after as_of {ds.as_of} treated as still a customer at as_of"
        )
    churn = acc.set_index("account_id")["churn_date"]
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = getattr(ds, name)
        if t is None:
            continue
        keep = t["account_id"].isin(acc["account_id"]).to_numpy()
        after_as_of = (t[date_col] > as_of).to_numpy() & keep
        churned_at = churn.reindex(t["account_id"]).to_numpy()
        after_churn = (
            keep & ~after_as_of & ~pd.isna(churned_at) & (t[date_col].to_numpy() > churned_at)
        )
        if name == "activity":  # the churn month itself is still a month of activity
            month_of_churn = pd.DatetimeIndex(churned_at).to_period("M").to_timestamp().to_numpy()
            after_churn = (
                keep
                & ~after_as_of
                & ~pd.isna(churned_at)
                & (t[date_col].to_numpy() > month_of_churn)
            )
        n_dropped_accounts = int((~keep).sum())
        if after_as_of.any():
            ds.notes.append(
                f"{name}: {int(after_as_of.sum())} row(s) dated after as_of {ds.as_of} ignored"
            )
        if after_churn.any():
            ds.notes.append(
                f"{name}: {int(after_churn.sum())} row(s) dated after the account's churn_date ignored"
            )
        if n_dropped_accounts:
            ds.notes.append(
                f"{name}: {n_dropped_accounts} row(s) of accounts signed up after as_of ignored"
            )
        drop = ~keep | after_as_of | after_churn
        if drop.any():
            setattr(ds, name, t.loc[~drop].reset_index(drop=True))
    if "plan" not in ds.accounts:
        ds.accounts["plan"] = "unknown"
    else:
        ds.accounts["plan"] = ds.accounts["plan"].fillna("unknown")
