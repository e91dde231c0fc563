"""The query engine (DuckDB): connections, and input tables given as SQL queries.

Any input table may be given in the study config as a SQL query instead of a
file of the dataset folder::

    [tables.events]
    query = \"\"\"select s.account_id, u.feature_name as event, u.usage_date as timestamp
               from 'usage.csv' u join 'subscriptions.csv' s using (subscription_id)\"\"\"

The query runs in DuckDB with file names resolved against the dataset folder
(DuckDB's ``file_search_path``); its result is then checked exactly like a
file of that table (see :mod:`milestone_discovery.data`). The ``events`` table
never leaves the engine: it is reduced to the per-account tables there (see
:mod:`milestone_discovery.events`).

The engine works out of core: ``[engine] memory_limit`` bounds its memory and
it spills to ``[engine] temp_directory`` (a fresh temporary folder by default,
removed when the connection closes).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .config import Config
from .errors import ConfigError, DataValidationError, Problem

__all__ = ["connect", "query_label", "query_sql", "read_query"]


def query_label(name: str) -> str:
    """How a table given as a query is named in messages: ``"events ([tables.events] query)"``."""
    return f"{name} ([tables.{name}] query)"


@contextlib.contextmanager
def connect(folder: str | Path | None, config: Config | None = None) -> Iterator:
    """A DuckDB connection set up for reading a dataset, closed (and its spill folder removed) on exit.

    Parameters
    ----------
    folder : str or Path or None
        Dataset folder: relative file names in queries are looked up there.
    config : Config, optional
        ``[data] timezone`` (the session time zone: zoned timestamps are
        converted to it) and the ``[engine]`` settings.

    Yields
    ------
    duckdb.DuckDBPyConnection
    """
    import duckdb

    config = config or Config()
    engine = config.engine
    spill = engine.temp_directory
    own_spill = None
    if spill is None:
        own_spill = spill = tempfile.mkdtemp(prefix="milestones-duckdb-")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = ?", [str(config.data.timezone or "UTC")])
        con.execute("SET temp_directory = ?", [str(spill)])
        if folder is not None:
            con.execute("SET file_search_path = ?", [str(Path(folder).resolve())])
        for key, value in (("memory_limit", engine.memory_limit), ("threads", engine.threads)):
            if value is None:
                continue
            try:
                con.execute(f"SET {key} = ?", [value])
            except Exception as exc:  # the engine says what it accepts
                raise ConfigError(
                    f"config [engine] {key} = {value!r}: {' '.join(str(exc).split())[:200]}"
                ) from None
        yield con
    finally:
        con.close()
        if own_spill is not None:
            shutil.rmtree(own_spill, ignore_errors=True)


def query_sql(name: str, query: str) -> str:
    """The query of ``[tables.NAME]`` as a sub-select, checked to be one statement.

    Raises
    ------
    DataValidationError
        When the text holds more than one statement.
    """
    text = query.strip().rstrip(";").strip()
    if ";" in _without_literals(text):
        raise DataValidationError(
            [Problem(query_label(name), None, "the query must be a single SELECT statement")]
        )
    return f"(\n{text}\n)"


def _without_literals(sql: str) -> str:
    """``sql`` without quoted literals and identifiers (to look for statement separators)."""
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", sql)


def query_error(name: str, exc: Exception) -> DataValidationError:
    """The engine's error for the query of table ``name``, as a data problem."""
    message = " ".join(str(exc).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return DataValidationError([Problem(query_label(name), None, f"the query failed: {message}")])


def read_query(con, name: str, query: str) -> pd.DataFrame:
    """Run the query of table ``name`` and return its result as pandas (typed by the engine).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`connect`.
    name : str
        The input table the query stands for.
    query : str
        A SELECT statement.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataValidationError
        Naming the table when the query fails (syntax, a missing file or column).
    """
    sql = query_sql(name, query)
    try:
        return con.execute(f"SELECT * FROM {sql}").df()
    except Exception as exc:  # the engine's message names the problem
        raise query_error(name, exc) from exc
