"""Input tables given as SQL queries, run by the query engine.

Any input table may be given in the study config as a SQL query instead of a
file of the dataset folder::

    [tables.events]
    query = \"\"\"select s.account_id, u.feature_name as event, u.usage_date as timestamp
               from 'usage.csv' u join 'subscriptions.csv' s using (subscription_id)\"\"\"

The query runs in the engine of ``[engine]`` (see :mod:`milestone_discovery.engines`):
in DuckDB (the default) file names are resolved against the dataset folder
(DuckDB's ``file_search_path``); in Spark it is Spark SQL and the folder's
files are views named after them. Its result is then checked exactly like a
file of that table (see :mod:`milestone_discovery.data`). The ``events``
table never leaves the engine: it is reduced to the per-account tables there
(see :mod:`milestone_discovery.events`).

The engine works out of core: DuckDB's memory is bounded by ``[engine]
memory_limit`` and it spills to ``[engine] temp_directory`` (a fresh
temporary folder by default, removed when the engine closes; see
:func:`milestone_discovery.engines.open_engine`).
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import DataValidationError, Problem

__all__ = ["query_label", "query_sql", "query_statement", "read_query"]


def query_label(name: str) -> str:
    """How a table given as a query is named in messages: ``"events ([tables.events] query)"``."""
    return f"{name} ([tables.{name}] query)"


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


def query_statement(name: str, query: str) -> str:
    """The query of ``[tables.NAME]`` as one statement, without a closing semicolon.

    Parameters
    ----------
    name : str
        The input table the query stands for.
    query : str
        The query as the config gives it.

    Returns
    -------
    str

    Raises
    ------
    DataValidationError
        When the text holds more than one statement.
    """
    return query_sql(name, query)[2:-2]


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
    con : milestone_discovery.engines.Engine
        From :func:`~milestone_discovery.engines.open_engine` (or anything :func:`~milestone_discovery.engines.engine_for`
        takes, such as a DuckDB connection).
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
    from .engines import engine_for

    statement = query_statement(name, query)
    try:
        return engine_for(con).read_pandas(statement)
    except Exception as exc:  # the engine's message names the problem
        raise query_error(name, exc) from exc
