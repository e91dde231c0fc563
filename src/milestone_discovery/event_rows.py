"""The rows of an ``events`` table, read and checked in the query engine (DuckDB).

:class:`EventSource` says where the rows are (a CSV or Parquet file, a folder
of Parquet files, or a ``[tables.events]`` query) and gives the SQL that reads
them; :func:`typed_rows_sql` types every row (account, event, local date,
count) and :func:`row_rules` states the rules a row must meet, whose broken
rows :func:`row_problems` reports with examples. The per-account tables are
derived from the typed rows by :func:`milestone_discovery.events.derive_tables`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .errors import Problem
from .queries import query_error, query_label, query_sql

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
    "typed_rows_sql",
]

#: A timestamp with a time of day followed by a UTC offset or "Z" is time-zone aware (RE2).
_TZ_AWARE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_EARLIEST = "1980-01-01"

_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT")
_INTEGER_TYPES += ("UINTEGER", "UBIGINT", "UHUGEINT")


# ----------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class EventSource:
    """Where the events are read from.

    Attributes
    ----------
    kind : {"csv", "parquet", "folder", "query"}
    path : Path or None
        The file or folder (``None`` for a query).
    query : str or None
        The ``[tables.events]`` query.
    delimiter : str
        CSV only.
    header : tuple of str
        CSV only: the column names of the first line (the engine must read the same).
    """

    kind: str
    path: Path | None = None
    query: str | None = None
    delimiter: str = ","
    header: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Table name used in messages."""
        return query_label("events") if self.kind == "query" else "events"

    def relation(self, locate: bool = False) -> str:
        """SQL for the raw rows; with ``locate``, plus ``__file`` and ``__row`` columns."""
        if self.kind == "query":
            sql = query_sql("events", self.query or "")
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


def column_types(con, source: EventSource) -> dict[str, str]:
    """The columns of the source and their engine types.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    source : EventSource

    Returns
    -------
    dict of str to str
        Column name -> engine type (``"VARCHAR"``, ``"TIMESTAMP"``, ...), in order.

    Raises
    ------
    EventReadError
        When the engine cannot read the file or folder (or a CSV file's header
        is not the first line).
    milestone_discovery.errors.ConfigError
        When the ``[tables.events]`` query fails.
    """
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source.relation()}").fetchall()
    except Exception as exc:
        raise read_error(source, exc) from exc
    if source.kind == "csv" and source.header and tuple(r[0] for r in rows) != source.header:
        # the engine's sniffer chose another line as the header: the file is ragged
        raise EventReadError(
            source, ValueError(f"the header line {', '.join(source.header)} could not be read")
        )
    return {r[0]: r[1] for r in rows}


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
        A :class:`~milestone_discovery.errors.ConfigError` naming the query for
        a ``[tables.events]`` query, else an :class:`EventReadError`.
    """
    if source.kind == "query":
        return query_error("events", exc)
    return EventReadError(source, exc)


# ----------------------------------------------------------------------------- rows
def typed_rows_sql(relation, columns, user, has_count, keep=(), trim=False) -> str | None:
    """SQL typing every row of ``relation``.

    Parameters
    ----------
    relation : str
        SQL for the raw rows (:meth:`EventSource.relation`).
    columns : dict of str to str
        The source's column types (:func:`column_types`).
    user : dict of str to str
        The user's name of each standard column (``account_id``, ``event``,
        ``timestamp``, ``count``).
    has_count : bool
        Whether the source has a ``count`` column (else every row counts 1).
    keep : sequence of str, default ()
        Raw columns added to the result (``'"__row" AS "__row"'``, ...), for
        example rows.
    trim : bool, default False
        Strip surrounding spaces from ``account_id`` and ``event`` (for CSV:
        the other sources are typed and taken as they are, which is faster).

    Returns
    -------
    str or None
        A subquery with the columns ``account_id``, ``event`` (text), ``d``
        (the local date), ``aware``, ``ts_missing``, ``n`` (the count) and the
        count checks ``count_missing``, ``count_bad``, ``count_negative``,
        ``count_fraction``; ``None`` when the timestamp or count column has a
        type that cannot hold such values (see :func:`type_problem`).
    """
    acc, ev, ts = (sql_ident(user[c]) for c in ("account_id", "event", "timestamp"))
    ts_type = columns[user["timestamp"]].upper()
    if ts_type == "VARCHAR":
        txt = f"nullif(trim({ts}), '')"
        tail = f"substr({txt}, 11)"
        aware = (
            f"CASE WHEN length({txt}) > 10 AND (contains({tail}, '+') OR contains({tail}, '-') "
            f"OR contains(lower({tail}), 'z')) "
            f"THEN regexp_matches({txt}, {sql_literal(_TZ_AWARE)}) "
            "ELSE false END"
        )
        local = (
            f"CASE WHEN {aware} THEN CAST(try_cast({txt} AS TIMESTAMPTZ) AS TIMESTAMP) "
            f"ELSE try_cast({txt} AS TIMESTAMP) END"
        )
        ts_missing = f"{txt} IS NULL"
    elif ts_type.startswith("TIMESTAMP WITH TIME ZONE") or ts_type == "TIMESTAMPTZ":
        aware, local, ts_missing = f"{ts} IS NOT NULL", f"CAST({ts} AS TIMESTAMP)", f"{ts} IS NULL"
    elif ts_type.startswith("TIMESTAMP") or ts_type == "DATE":
        aware, local, ts_missing = "false", ts, f"{ts} IS NULL"
    else:
        return None
    count_missing = count_bad = count_negative = count_fraction = "false"
    n = "CAST(1 AS BIGINT)"
    if has_count:
        c = sql_ident(user["count"])
        c_type = columns[user["count"]].upper()
        if c_type in _INTEGER_TYPES:
            count_missing, count_negative = f"{c} IS NULL", f"{c} < 0"
            n = f"CAST({c} AS BIGINT)"
        elif c_type in ("VARCHAR", "DOUBLE", "FLOAT", "REAL") or c_type.startswith("DECIMAL"):
            if c_type == "VARCHAR":
                txt = f"nullif(trim({c}), '')"
                num = f"try_cast({txt} AS DOUBLE)"
                count_missing = f"{txt} IS NULL"
            else:
                num, count_missing = f"CAST({c} AS DOUBLE)", f"{c} IS NULL"
            count_bad = f"(NOT {count_missing} AND ({num} IS NULL OR isnan({num}) OR isinf({num})))"
            count_negative = f"{num} < 0"
            count_fraction = f"{num} <> floor({num})"
            n = f"try_cast({num} AS BIGINT)"
        else:
            return None
    extra = "".join(f"{k}, " for k in keep)
    return f"""(
        SELECT {extra}{_text(acc, columns[user["account_id"]], trim)} AS account_id,
               {_text(ev, columns[user["event"]], trim)} AS event,
               CAST(local AS DATE) AS d, aware, ts_missing, n,
               count_missing, count_bad, count_negative, count_fraction
        FROM (
            SELECT *, {local} AS local, {aware} AS aware, {ts_missing} AS ts_missing,
                   {n} AS n, {count_missing} AS count_missing, {count_bad} AS count_bad,
                   {count_negative} AS count_negative, {count_fraction} AS count_fraction
            FROM {relation}
        )
    )"""


def _text(column: str, kind: str, trim: bool) -> str:
    """``column`` as text, with ``trim`` without surrounding spaces (trimmed only where needed)."""
    text = column if kind.upper() == "VARCHAR" else f"CAST({column} AS VARCHAR)"
    if not trim:
        return text
    return f"(CASE WHEN {text} LIKE ' %' OR {text} LIKE '% ' THEN trim({text}) ELSE {text} END)"


def row_rules(has_count: bool, today: dt.date) -> list[tuple[str, str, str]]:
    """The rules every event row must meet.

    Parameters
    ----------
    has_count : bool
        Whether the source has a ``count`` column (its rules are added).
    today : datetime.date
        Events after it are an error.

    Returns
    -------
    list of tuple of str
        ``(condition, column, rule)`` each: an SQL condition on the typed row
        ``p`` (:func:`typed_rows_sql`) that is true when the row breaks the
        rule, the standard column and the rule in words.
    """
    flags = [
        ("(p.account_id IS NULL OR p.account_id = '')", "account_id", "missing values"),
        ("(p.event IS NULL OR p.event = '')", "event", "missing values"),
        ("p.ts_missing", "timestamp", "missing dates"),
        (
            "p.d IS NULL AND NOT p.ts_missing",
            "timestamp",
            "unparseable dates (expected ISO format, e.g. 2025-01-31)",
        ),
        (
            f"p.d < DATE '{_EARLIEST}'",
            "timestamp",
            f"date before {_EARLIEST}: a placeholder such as 0001-01-01, 1900-01-01 or "
            "1970-01-01 rather than a real date",
        ),
        (
            f"p.d > DATE '{today.isoformat()}'",
            "timestamp",
            f"date in the future (after today, {today.isoformat()}): a typo or a placeholder? "
            "Signup and behaviour cannot be dated after today",
        ),
    ]
    if has_count:
        flags += [
            (
                "p.count_missing",
                "count",
                "missing values (a blank count is not 0 or 1: fill it in, or leave out the "
                "count column for one event per row)",
            ),
            ("p.count_bad", "count", "not a number"),
            ("p.count_negative", "count", "negative counts"),
            ("p.count_fraction", "count", "counts must be whole numbers"),
        ]
    return flags


def type_problem(label, user, columns) -> Problem:
    """The problem of a timestamp or count column whose type cannot hold its values.

    Parameters
    ----------
    label : str
        Table name used in messages (:attr:`EventSource.label`).
    user : dict of str to str
        The user's name of each standard column.
    columns : dict of str to str
        The source's column types.

    Returns
    -------
    Problem
    """
    for std, kinds in (("timestamp", "dates, timestamps or ISO text"), ("count", "numbers")):
        name = user[std]
        if name in columns:
            kind = columns[name].upper()
            ok = (
                kind in ("VARCHAR", "DATE", "TIMESTAMPTZ") or kind.startswith("TIMESTAMP")
                if std == "timestamp"
                else kind in (*_INTEGER_TYPES, "VARCHAR", "DOUBLE", "FLOAT", "REAL")
                or kind.startswith("DECIMAL")
            )
            if not ok:
                return Problem(label, name, f"column of type {kind}: expected {kinds}")
    return Problem(label, None, "a column has a type that cannot be read")  # pragma: no cover


def row_problems(con, source, columns, user, has_count, flags) -> list[Problem]:
    """Count every broken row rule and fetch example rows (run only when some are broken).

    Each rule is counted on its own (a row may break several), as for other tables.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
    source : EventSource
    columns : dict of str to str
        The source's column types.
    user : dict of str to str
        The user's name of each standard column.
    has_count : bool
    flags : list of tuple of str
        The rules (:func:`row_rules`).

    Returns
    -------
    list of Problem
        One per broken rule, with the count of rows and example rows (CSV
        line, or Parquet file and row).
    """
    folder = source.kind == "folder"
    shown = [user[c] for c in ("account_id", "event", "timestamp") if user[c] in columns]
    if has_count:
        shown.append(user["count"])
    keep = ['"__row"'] + (['"__file"'] if folder else [])
    keep += [f"{sql_ident(c)} AS {sql_ident('__raw_' + c)}" for c in shown]
    parsed = typed_rows_sql(
        source.relation(locate=True), columns, user, has_count, keep, trim=source.kind == "csv"
    )
    counts = con.execute(
        "SELECT " + ", ".join(f"count_if({cond})" for cond, _c, _r in flags) + f" FROM {parsed} p"
    ).fetchall()[0]
    problems = []
    order = "__file, __row" if folder else "__row"
    cols = (["__file"] if folder else []) + ["__row"] + [sql_ident("__raw_" + c) for c in shown]
    for (cond, column, rule), n_rows in zip(flags, counts, strict=True):
        if not n_rows:
            continue
        rows = con.execute(
            f"SELECT {', '.join(cols)} FROM {parsed} p WHERE {cond} "
            f"ORDER BY {order} LIMIT {Problem.max_rows}"
        ).df()
        rows.columns = [c.removeprefix("__raw_") for c in rows.columns]
        rows = rows.rename(columns={"__file": "file"}).set_index("__row")
        rows.index.name = "line" if source.kind == "csv" else "row"
        problems.append(Problem(source.label, user[column], rule, rows, int(n_rows)))
    return problems
