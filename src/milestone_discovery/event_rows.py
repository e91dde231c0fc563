"""The rows of an ``events`` table, read and checked in the query engine.

:class:`EventSource` says where the rows are (a CSV or Parquet file, a folder
of Parquet files, a ``[tables.events]`` query, or a table of a database the
engine is connected to); the engine (:mod:`milestone_discovery.engines`)
reads them. :func:`typed_rows` types every row (account, event, local date,
count) and :func:`row_rules` states the rules a row must meet, whose broken
rows :func:`row_problems` reports with examples. Both are Ibis expressions:
the same definitions run on DuckDB and on Spark. The per-account tables are
derived from the typed rows by :func:`milestone_discovery.events.derive_tables`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .engines import engine_for
from .errors import Problem
from .queries import query_error, query_label, query_sql, query_statement

__all__ = [
    "EventReadError",
    "EventSource",
    "column_types",
    "read_error",
    "row_problems",
    "row_rules",
    "sql_ident",
    "sql_literal",
    "type_problem",
    "typed_rows",
]

#: A timestamp with a time of day followed by a UTC offset or "Z" is time-zone aware
#: (RE2 and Java syntax alike).
_TZ_AWARE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_EARLIEST = dt.date(1980, 1, 1)


# ----------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class EventSource:
    """Where the events are read from.

    Attributes
    ----------
    kind : {"csv", "parquet", "folder", "query", "table"}
    path : Path or None
        The file or folder (``None`` for a query or a table).
    query : str or None
        The ``[tables.events]`` query.
    delimiter : str
        CSV only.
    header : tuple of str
        CSV only: the column names of the first line (the engine must read the same).
    table : str or None
        A table (or view) of the database the engine is connected to, e.g.
        ``"events"`` or ``"analytics.tracks"`` (see
        :func:`milestone_discovery.engines.engine_for`).
    """

    kind: str
    path: Path | None = None
    query: str | None = None
    delimiter: str = ","
    header: tuple[str, ...] = ()
    table: str | None = None

    @property
    def label(self) -> str:
        """Table name used in messages."""
        if self.kind == "table":
            return f"events (table {self.table})"
        return query_label("events") if self.kind == "query" else "events"

    def statement(self) -> str:
        """The ``[tables.events]`` query as one statement (checked: a single statement)."""
        return query_statement("events", self.query or "")

    def relation(self, locate: bool = False) -> str:
        """DuckDB SQL for the raw rows; with ``locate``, plus ``__file`` and ``__row`` columns."""
        if self.kind in ("query", "table"):
            if self.kind == "query":
                sql = query_sql("events", self.query or "")
            else:
                sql = ".".join(sql_ident(part) for part in (self.table or "").split("."))
            if locate:
                return f"(SELECT row_number() OVER () AS __row, * FROM {sql})"
            return sql
        path = sql_literal(str(self.path))
        if self.kind == "csv":
            delim = sql_literal(self.delimiter)
            src = (
                f"read_csv({path}, all_varchar=true, header=true, delim={delim}, "
                "quote='\"', escape='\"')"
            )
            if locate:  # the CSV line: 1-based, plus the header line
                return f"(SELECT row_number() OVER () + 1 AS __row, * FROM {src})"
            return src
        glob = path if self.kind == "parquet" else sql_literal(str(self.path / "**" / "*.parquet"))
        options = "" if self.kind == "parquet" else ", hive_partitioning=true, union_by_name=true"
        if locate:
            return (
                f"(SELECT * EXCLUDE (filename, file_row_number), file_row_number + 1 AS __row"
                f"{', parse_filename(filename) AS __file' if self.kind == 'folder' else ''} "
                f"FROM read_parquet({glob}{options}, filename=true, file_row_number=true))"
            )
        return f"read_parquet({glob}{options})"


class EventReadError(Exception):
    """The engine could not read the events file or folder.

    :func:`milestone_discovery.data.load_dataset` turns it into a
    :class:`~milestone_discovery.errors.DataValidationError` naming the cause
    (a line with the wrong number of fields, a byte that is not UTF-8, ...).

    Attributes
    ----------
    source : EventSource
    cause : Exception
        The engine's error.
    """

    def __init__(self, source: EventSource, cause: Exception):
        super().__init__(str(cause))
        self.source, self.cause = source, cause


def sql_literal(text: str) -> str:
    """``text`` as an SQL string literal: in single quotes, quotes doubled.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> sql_literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier (a column name with any characters).

    Parameters
    ----------
    name : str

    Returns
    -------
    str

    Examples
    --------
    >>> sql_ident("first use")
    '"first use"'
    """
    return '"' + name.replace('"', '""') + '"'


def read_rows(con, source: EventSource, locate: bool = False):
    """The raw rows of the source in the engine, as an Ibis table.

    Parameters
    ----------
    con : milestone_discovery.engines.Engine
        Or a connection :func:`~milestone_discovery.engines.engine_for` takes.
    source : EventSource
    locate : bool, default False
        Add the row locations ``__row`` and ``__file`` (see
        :meth:`milestone_discovery.engines.Engine.events`).

    Returns
    -------
    ibis.Table

    Raises
    ------
    EventReadError
        When the engine cannot read the file or folder (or a CSV file's header
        is not the first line).
    milestone_discovery.errors.DataValidationError
        When the ``[tables.events]`` query fails.
    """
    try:
        rows = engine_for(con).events(source, locate)
    except Exception as exc:
        raise read_error(source, exc) from exc
    names = tuple(c for c in rows.columns if c not in ("__row", "__file"))
    if source.kind == "csv" and source.header and names != source.header:
        # the engine's sniffer chose another line as the header: the file is ragged
        raise EventReadError(
            source, ValueError(f"the header line {', '.join(source.header)} could not be read")
        )
    return rows


def column_types(con, source: EventSource) -> dict:
    """The columns of the source and their types.

    Parameters
    ----------
    con : milestone_discovery.engines.Engine
        Or a connection :func:`~milestone_discovery.engines.engine_for` takes.
    source : EventSource

    Returns
    -------
    dict of str to ibis.expr.datatypes.DataType
        Column name -> type, in order.

    Raises
    ------
    EventReadError
        See :func:`read_rows`.
    """
    return dict(read_rows(con, source).schema().items())


def read_error(source: EventSource, exc: Exception) -> Exception:
    """The error to raise when the engine fails reading the events.

    Parameters
    ----------
    source : EventSource
    exc : Exception
        The engine's error.

    Returns
    -------
    Exception
        A :class:`~milestone_discovery.errors.DataValidationError` naming the
        query for a ``[tables.events]`` query, else an :class:`EventReadError`.
    """
    if source.kind == "query":
        return query_error("events", exc)
    return EventReadError(source, exc)


# ----------------------------------------------------------------------------- rows
def _stripped(text):
    """``text`` without surrounding white space, trimmed only where it starts or ends with a space.

    Much faster than trimming every value (DuckDB trims a character set slowly).
    """
    import ibis

    return ibis.cases((text.startswith(" ") | text.endswith(" "), text.strip()), else_=text)


def _text(column, dtype, trim: bool):
    """``column`` as text, with ``trim`` without surrounding spaces."""
    text = column if dtype.is_string() else column.cast("string")
    return _stripped(text) if trim else text


def _count_columns(column, dtype):
    """``n`` and the checks of a ``count`` column: ``None`` for a type that cannot hold counts."""
    import ibis

    false = ibis.literal(False)
    if dtype.is_integer():
        return {
            "n": column.cast("int64"),
            "count_missing": column.isnull(),
            "count_bad": false,
            "count_negative": column < 0,
            "count_fraction": false,
        }
    if not (dtype.is_string() or dtype.is_floating() or dtype.is_decimal()):
        return None
    if dtype.is_string():
        text = _stripped(column).nullif("")
        num, missing = text.try_cast("float64"), text.isnull()
    else:
        num, missing = column.cast("float64"), column.isnull()
    finite = (num - num) == 0  # false for NaN and +-inf, null for null
    return {
        "n": num.try_cast("int64"),
        "count_missing": missing,
        "count_bad": ~missing & (num.isnull() | ~finite.fill_null(True)),
        "count_negative": num < 0,
        "count_fraction": finite & ((num % 1) != 0),
    }


def typed_rows(rows, user, has_count, keep=None, trim=False):
    """Every row of ``rows`` typed: an Ibis expression (the same on every engine).

    Parameters
    ----------
    rows : ibis.Table
        The raw rows (:func:`read_rows`).
    user : dict of str to str
        The user's name of each standard column (``account_id``, ``event``,
        ``timestamp``, ``count``).
    has_count : bool
        Whether the source has a ``count`` column (else every row counts 1).
    keep : dict of str to ibis.Value, optional
        Raw columns added to the result under these names, for example rows.
    trim : bool, default False
        Strip surrounding spaces from ``account_id`` and ``event`` (for CSV:
        the other sources are typed and taken as they are, which is faster).

    Returns
    -------
    ibis.Table or None
        The columns ``account_id``, ``event`` (text), ``d`` (the local date),
        ``aware``, ``ts_missing``, ``n`` (the count) and the count checks
        ``count_missing``, ``count_bad``, ``count_negative``,
        ``count_fraction``; ``None`` when the timestamp or count column has a
        type that cannot hold such values (see :func:`type_problem`).

    Notes
    -----
    Text timestamps with a UTC offset or ``Z`` are instants: their date is
    taken in the engine session's time zone (``[data] timezone``); others keep
    the calendar date as written. So are zoned timestamp columns (DuckDB
    ``TIMESTAMPTZ``, Spark ``TIMESTAMP``) and naive ones (``TIMESTAMP``,
    Spark ``TIMESTAMP_NTZ``).
    """
    import ibis
    import ibis.expr.datatypes as dt

    types = rows.schema()
    ts, ts_type = rows[user["timestamp"]], types[user["timestamp"]]
    if ts_type.is_string():
        text = _stripped(ts).nullif("")
        tail = text.substr(10)
        maybe = (text.length() > 10) & (
            tail.contains("+") | tail.contains("-") | tail.lower().contains("z")
        )
        aware = ibis.cases((maybe, text.re_search(_TZ_AWARE)), else_=False)
        d = ibis.cases(
            (aware, text.try_cast(dt.Timestamp(timezone="UTC")).date()),
            else_=text.try_cast(dt.Timestamp()).date(),
        )
        missing = text.isnull()
    elif ts_type.is_timestamp():
        aware = ts.notnull() if ts_type.timezone is not None else ibis.literal(False)
        d, missing = ts.date(), ts.isnull()
    elif ts_type.is_date():
        aware, d, missing = ibis.literal(False), ts, ts.isnull()
    else:
        return None
    false = ibis.literal(False)
    counts = {
        "n": ibis.literal(1, type="int64"),
        "count_missing": false,
        "count_bad": false,
        "count_negative": false,
        "count_fraction": false,
    }
    if has_count:
        counts = _count_columns(rows[user["count"]], types[user["count"]])
        if counts is None:
            return None
    return rows.select(
        **(keep or {}),
        account_id=_text(rows[user["account_id"]], types[user["account_id"]], trim),
        event=_text(rows[user["event"]], types[user["event"]], trim),
        d=d,
        aware=aware,
        ts_missing=missing,
        **counts,
    )


def row_rules(p, has_count: bool, today: dt.date) -> list[tuple]:
    """The rules every event row must meet.

    Parameters
    ----------
    p : ibis.Table
        The typed rows (:func:`typed_rows`).
    has_count : bool
        Whether the source has a ``count`` column (its rules are added).
    today : datetime.date
        Events after it are an error.

    Returns
    -------
    list of tuple
        ``(condition, column, rule)`` each: an Ibis boolean on ``p`` that is
        true when the row breaks the rule, the standard column and the rule
        in words.
    """
    import ibis

    flags = [
        (p.account_id.isnull() | (p.account_id == ""), "account_id", "missing values"),
        (p.event.isnull() | (p.event == ""), "event", "missing values"),
        (p.ts_missing, "timestamp", "missing dates"),
        (
            p.d.isnull() & ~p.ts_missing,
            "timestamp",
            "unparseable dates (expected ISO format, e.g. 2025-01-31)",
        ),
        (
            p.d < ibis.literal(_EARLIEST),
            "timestamp",
            f"date before {_EARLIEST}: a placeholder such as 0001-01-01, 1900-01-01 or "
            "1970-01-01 rather than a real date",
        ),
        (
            p.d > ibis.literal(today),
            "timestamp",
            f"date in the future (after today, {today.isoformat()}): a typo or a placeholder? "
            "Signup and behaviour cannot be dated after today",
        ),
    ]
    if has_count:
        flags += [
            (
                p.count_missing,
                "count",
                "missing values (a blank count is not 0 or 1: fill it in, or leave out the "
                "count column for one event per row)",
            ),
            (p.count_bad, "count", "not a number"),
            (p.count_negative, "count", "negative counts"),
            (p.count_fraction, "count", "counts must be whole numbers"),
        ]
    return flags


def _type_name(dtype) -> str:
    return str(dtype).lstrip("!")


def type_problem(label, user, columns) -> Problem:
    """The problem of a timestamp or count column whose type cannot hold its values.

    Parameters
    ----------
    label : str
        Table name used in messages (:attr:`EventSource.label`).
    user : dict of str to str
        The user's name of each standard column.
    columns : dict of str to ibis.expr.datatypes.DataType
        The source's column types (:func:`column_types`).

    Returns
    -------
    Problem
    """
    for std, kinds in (("timestamp", "dates, timestamps or ISO text"), ("count", "numbers")):
        name = user[std]
        if name in columns:
            kind = columns[name]
            ok = (
                kind.is_string() or kind.is_timestamp() or kind.is_date()
                if std == "timestamp"
                else kind.is_string() or kind.is_numeric()
            )
            if not ok or kind.is_boolean():
                return Problem(label, name, f"column of type {_type_name(kind)}: expected {kinds}")
    return Problem(label, None, "a column has a type that cannot be read")  # pragma: no cover


def row_problems(con, source, user, has_count, today) -> list[Problem]:
    """Count every broken row rule and fetch example rows (run only when some are broken).

    Each rule is counted on its own (a row may break several), as for other tables.

    Parameters
    ----------
    con : milestone_discovery.engines.Engine
        Or a connection :func:`~milestone_discovery.engines.engine_for` takes.
    source : EventSource
    user : dict of str to str
        The user's name of each standard column.
    has_count : bool
    today : datetime.date
        Events after it are an error.

    Returns
    -------
    list of Problem
        One per broken rule, with the count of rows and example rows (CSV
        line, or Parquet file and row; for a query or a table, the row of
        its result).
    """
    engine = engine_for(con)
    rows = read_rows(engine, source, locate=True)
    folder = "__file" in rows.columns
    shown = [user[c] for c in ("account_id", "event", "timestamp") if user[c] in rows.columns]
    if has_count:
        shown.append(user["count"])
    keep = {"__row": rows["__row"], **({"__file": rows["__file"]} if folder else {})}
    keep.update({f"__raw_{c}": rows[c] for c in shown})
    p = typed_rows(rows, user, has_count, keep, trim=source.kind == "csv")
    flags = row_rules(p, has_count, today)
    counts = engine.fetch(
        p.aggregate(**{f"r{i}": p.count(where=c) for i, (c, *_r) in enumerate(flags)})
    )
    problems = []
    order = ["__file", "__row"] if folder else ["__row"]
    for i, (cond, column, rule) in enumerate(flags):
        n_rows = counts.column(f"r{i}")[0].as_py() or 0
        if not n_rows:
            continue
        examples = engine.fetch_pandas(
            p.filter(cond)
            .select(*order, *keep.keys() - set(order))
            .order_by(order)
            .limit(Problem.max_rows)
        )
        examples = examples[[*order, *(f"__raw_{c}" for c in shown)]]
        examples.columns = [c.removeprefix("__raw_") for c in examples.columns]
        examples = examples.rename(columns={"__file": "file"}).set_index("__row")
        examples.index.name = "line" if source.kind == "csv" else "row"
        problems.append(Problem(source.label, user[column], rule, examples, int(n_rows)))
    engine.drop("__events_located")
    return problems
