"""Query engines: where the engine-neutral (Ibis) definitions of the event derivation run.

The derivation of the per-account tables from an event log
(:mod:`milestone_discovery.events`, :mod:`milestone_discovery.event_rows`) is
written once, as `Ibis <https://ibis-project.org>`_ expressions on named
tables. An :class:`Engine` makes those tables exist in one engine (the raw
events, the accounts, the aggregate it keeps), compiles each expression to
the engine's SQL dialect with :func:`ibis.to_sql` and returns results as
Arrow tables: only per-account tables and small summaries leave the engine.

* :class:`DuckDBEngine` (default): embedded, out of core. ``[engine]
  memory_limit`` bounds its memory, it spills to ``[engine] temp_directory``
  (a fresh temporary folder by default, removed when it closes), and relative
  file names in ``[tables.NAME] query`` are looked up in the dataset folder.
* :class:`SparkEngine` (``[engine] engine = "spark"``, ``milestones --engine
  spark``): PySpark, an extra (``pip install -e ".[spark]"``). An active
  SparkSession is used as it is; otherwise one is started (``local[2]`` by
  default) and stopped at the end. Queries are Spark SQL; the files of the
  dataset folder are views named after them (``usage.csv`` -> ``usage``; the
  columns of a CSV file are text).

:func:`open_engine` opens the engine a config asks for; :func:`engine_for`
wraps a connection the caller already has (a DuckDB connection, an Ibis
DuckDB connection, a SparkSession), e.g. to a warehouse file.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError

__all__ = [
    "SPARK_INSTALL",
    "DuckDBEngine",
    "Engine",
    "SparkEngine",
    "engine_for",
    "open_engine",
    "spark_memory",
    "spark_session",
]

#: How to install the Spark engine (named in the error when PySpark is missing).
SPARK_INSTALL = 'pip install -e ".[spark]"'


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table(name: str, schema):
    import ibis

    return ibis.table(schema, name=name)


# ----------------------------------------------------------------------------- base
class Engine:
    """An engine the derivation runs on: named tables in, Arrow tables out.

    Subclasses implement :meth:`events`, :meth:`put`, :meth:`materialize`,
    :meth:`run`, :meth:`drop` and :meth:`read_pandas`.

    Attributes
    ----------
    name : str
        ``"duckdb"`` or ``"spark"``.
    dialect : str
        The Ibis/SQLGlot dialect expressions are compiled to.
    """

    name = ""
    dialect = ""

    def compile(self, expr) -> str:
        """The SQL of an Ibis expression in this engine's dialect.

        Parameters
        ----------
        expr : ibis.Table
            An expression on tables this engine holds.

        Returns
        -------
        str
        """
        import ibis

        return ibis.to_sql(expr, dialect=self.dialect)

    def events(self, source, locate: bool = False):  # pragma: no cover - abstract
        """The raw rows of an events source as an Ibis table.

        Parameters
        ----------
        source : milestone_discovery.event_rows.EventSource
        locate : bool, default False
            Add ``__row`` (the CSV line, 1-based and counting the header; the
            row in its Parquet file, 1-based; else the row of the result) and,
            for a folder, ``__file`` (the file name), for example rows.

        Returns
        -------
        ibis.Table
        """
        raise NotImplementedError

    def put(self, name: str, table):  # pragma: no cover - abstract
        """Load an Arrow table into the engine as ``name``.

        Parameters
        ----------
        name : str
        table : pyarrow.Table

        Returns
        -------
        ibis.Table
        """
        raise NotImplementedError

    def materialize(self, name: str, expr):  # pragma: no cover - abstract
        """Compute an expression once and keep its result as ``name``.

        Parameters
        ----------
        name : str
        expr : ibis.Table

        Returns
        -------
        ibis.Table
            The kept result (queries on it do not recompute ``expr``).
        """
        raise NotImplementedError

    def fetch(self, expr):
        """Run an expression and return its result, typed as the expression says.

        Parameters
        ----------
        expr : ibis.Table

        Returns
        -------
        pyarrow.Table
            Cast to the expression's schema where the engine typed a column
            otherwise (a DuckDB sum of BIGINT is a HUGEINT, Spark text is
            large, ...): every engine gives the same types.
        """
        table = self.run(self.compile(expr))
        schema = expr.schema().to_pyarrow()
        if table.schema.equals(schema):
            return table
        return table.cast(schema)

    def run(self, sql: str):  # pragma: no cover - abstract
        """Run a query compiled by :meth:`compile` and return its result.

        Parameters
        ----------
        sql : str

        Returns
        -------
        pyarrow.Table
        """
        raise NotImplementedError

    def fetch_pandas(self, expr):
        """:meth:`fetch` as a pandas DataFrame."""
        return self.fetch(expr).to_pandas()

    def drop(self, *names: str) -> None:  # pragma: no cover - abstract
        """Forget tables made by :meth:`put`, :meth:`materialize` or :meth:`events`."""
        raise NotImplementedError

    def read_pandas(self, statement: str):  # pragma: no cover - abstract
        """Run a user's SELECT statement (a ``[tables.NAME] query``) and return pandas.

        Parameters
        ----------
        statement : str
            One SELECT statement in the engine's SQL.

        Returns
        -------
        pandas.DataFrame
        """
        raise NotImplementedError


# ----------------------------------------------------------------------------- duckdb
class DuckDBEngine(Engine):
    """The derivation on a DuckDB connection.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        An open connection (its settings are used as they are: see
        :func:`open_engine` for the ones a study sets).
    """

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, con):
        self.con = con
        self._kinds: dict[str, str] = {}

    def _view(self, name: str, relation: str):
        import ibis

        self._kinds[name] = "VIEW"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS SELECT * FROM {relation}")
        arrow = self.con.sql(f"SELECT * FROM {_ident(name)} LIMIT 0").to_arrow_table().schema
        return _table(name, ibis.Schema.from_pyarrow(arrow))

    def events(self, source, locate: bool = False):
        """See :meth:`Engine.events`; the rows are read by :meth:`EventSource.relation`."""
        return self._view("__events_located" if locate else "__events", source.relation(locate))

    def put(self, name: str, table):
        """See :meth:`Engine.put`."""
        import ibis

        frame = f"{name}_frame"
        self._kinds[name] = "TABLE"
        self.con.register(frame, table)
        try:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_ident(name)} AS SELECT * FROM {_ident(frame)}"
            )
        finally:
            self.con.unregister(frame)
        return _table(name, ibis.Schema.from_pyarrow(table.schema))

    def materialize(self, name: str, expr):
        """See :meth:`Engine.materialize` (a temporary table; the row order is not kept)."""
        self._kinds[name] = "TABLE"
        self.con.execute("SET preserve_insertion_order = false")  # less memory for big scans
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_ident(name)} AS {self.compile(expr)}")
        finally:
            self.con.execute("SET preserve_insertion_order = true")
        return _table(name, expr.schema())

    def run(self, sql: str):
        """See :meth:`Engine.run`."""
        return self.con.sql(sql).to_arrow_table()

    def drop(self, *names: str) -> None:
        """See :meth:`Engine.drop`."""
        for name in names:
            kind = self._kinds.pop(name, None)
            if kind is not None:
                self.con.execute(f"DROP {kind} IF EXISTS {_ident(name)}")

    def read_pandas(self, statement: str):
        """See :meth:`Engine.read_pandas`."""
        return self.con.execute(f"SELECT * FROM (\n{statement}\n)").df()


# ----------------------------------------------------------------------------- spark
def spark_memory(value: str) -> str:
    """A DuckDB-style size as Spark's.

    Parameters
    ----------
    value : str
        ``[engine] memory_limit``: ``"4GB"``, ``"500MB"``, ``"2GiB"``, ``"1.5GB"``.

    Returns
    -------
    str
        ``"4g"``, ``"500m"``, ``"2g"``, ``"1536m"``.

    Raises
    ------
    ConfigError
        For a value that is not such a size (e.g. a percentage).

    Examples
    --------
    >>> spark_memory("1.5GB")
    '1536m'
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt])i?b?\s*", value, flags=re.IGNORECASE)
    if not match:
        raise ConfigError(
            f'config [engine] memory_limit = {value!r}: with engine = "spark", a size such as '
            '"4GB" or "500MB"'
        )
    number, unit = float(match.group(1)), match.group(2).lower()
    if number != int(number):  # Spark takes whole numbers: in the next smaller unit
        smaller = {"t": "g", "g": "m", "m": "k", "k": "k"}[unit]
        return f"{round(number * (1024 if unit != 'k' else 1))}{smaller}"
    return f"{int(number)}{unit}"


def spark_session(config: Config | None = None):
    """The SparkSession to run on: the active one, else a new one (``local[2]``).

    Parameters
    ----------
    config : Config, optional
        ``[engine] spark_master``, ``threads``, ``memory_limit`` and
        ``temp_directory`` for a new session.

    Returns
    -------
    session : pyspark.sql.SparkSession
    owned : bool
        Whether the session was started here (the caller stops it).

    Raises
    ------
    ConfigError
        When PySpark is not installed (naming the install command).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            f'config [engine] engine = "spark" (or --engine spark) needs PySpark and the Ibis '
            f"PySpark backend, which are not installed: {SPARK_INSTALL}"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    engine = (config or Config()).engine
    master = engine.spark_master or f"local[{engine.threads or 2}]"
    builder = (
        SparkSession.builder.master(master)
        .appName("milestones")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2 * (engine.threads or 2), 4)))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if engine.memory_limit is not None:
        builder = builder.config("spark.driver.memory", spark_memory(engine.memory_limit))
    if engine.temp_directory is not None:
        builder = builder.config("spark.local.dir", str(engine.temp_directory))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session, True


def _spark_schema(schema):
    """An Ibis schema of a Spark schema (``TIMESTAMP`` is an instant: zoned, ``_NTZ`` naive)."""
    import ibis
    import ibis.expr.datatypes as dt
    from ibis.backends.pyspark.datatypes import PySparkType
    from pyspark.sql import types as st

    fields = {}
    for field in schema.fields:
        if isinstance(field.dataType, st.TimestampType):
            fields[field.name] = dt.Timestamp(timezone="UTC")
        else:
            fields[field.name] = PySparkType.to_ibis(field.dataType)
    return ibis.schema(fields)


class SparkEngine(Engine):
    """The derivation on a SparkSession.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
    folder : str or Path, optional
        Dataset folder: its CSV and Parquet files are views named after them
        (``usage.csv`` -> ``usage``) in ``[tables.NAME]`` queries.
    """

    name = "spark"
    dialect = "pyspark"

    def __init__(self, session, folder: str | Path | None = None):
        import ibis.backends.sql.compilers.pyspark  # noqa: F401  (the dialect)

        self.session = session
        self.folder = None if folder is None else Path(folder)
        self._cached: dict[str, Any] = {}
        self._folder_views = False

    def _register(self, name: str, frame):
        frame.createOrReplaceTempView(name)
        return _table(name, _spark_schema(frame.schema))

    def _reader(self, source):
        read = self.session.read
        if source.kind == "csv":
            return read.csv(
                str(source.path),
                header=True,
                sep=source.delimiter,
                quote='"',
                escape='"',
                inferSchema=False,
                mode="FAILFAST",
            )
        if source.kind == "parquet":
            return read.parquet(str(source.path))
        if source.kind == "folder":
            return read.option("mergeSchema", "true").parquet(str(source.path))
        if source.kind == "table":
            return self.session.table(source.table)
        self._folder_tables()
        return self.session.sql(source.statement())

    def _folder_tables(self) -> None:
        """The dataset folder's files as views named after them, for user queries (once)."""
        if self._folder_views or self.folder is None:
            return
        self._folder_views = True
        for path in sorted(self.folder.iterdir()):
            name, kind = path.stem, path.suffix.lower()
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                continue
            if kind == ".csv":  # text columns, as the toolkit reads CSV files
                frame = self.session.read.csv(str(path), header=True, quote='"', escape='"')
            elif kind == ".parquet" or (path.is_dir() and any(path.rglob("*.parquet"))):
                frame = self.session.read.option("mergeSchema", "true").parquet(str(path))
            else:
                continue
            frame.createOrReplaceTempView(name)

    def events(self, source, locate: bool = False):
        """See :meth:`Engine.events`."""
        frame = self._reader(source)
        if locate:
            frame = self._locate(frame, source)
        return self._register("__events_located" if locate else "__events", frame)

    def _locate(self, frame, source):
        from pyspark.sql import functions as F

        if source.kind in ("parquet", "folder"):
            located = frame.select("*", (F.col("_metadata.row_index") + 1).alias("__row"))
            if source.kind == "folder":
                located = located.withColumn("__file", F.col("_metadata.file_name"))
            return located
        # the CSV line (header + 1-based) or the row of the result, in the order read
        first = 2 if source.kind == "csv" else 1
        rows = frame.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + first))
        return rows.toDF([*frame.columns, "__row"])

    def put(self, name: str, table):
        """See :meth:`Engine.put`."""
        return self._register(name, self.session.createDataFrame(table))

    def materialize(self, name: str, expr):
        """See :meth:`Engine.materialize` (cached in the session, computed now)."""
        frame = self.session.sql(self.compile(expr)).cache()
        frame.count()
        self._cached[name] = frame
        frame.createOrReplaceTempView(name)
        return _table(name, expr.schema())

    def run(self, sql: str):
        """See :meth:`Engine.run`."""
        return self.session.sql(sql).toArrow()

    def drop(self, *names: str) -> None:
        """See :meth:`Engine.drop`."""
        for name in names:
            self.session.catalog.dropTempView(name)
            frame = self._cached.pop(name, None)
            if frame is not None:
                frame.unpersist()

    def read_pandas(self, statement: str):
        """See :meth:`Engine.read_pandas` (Spark SQL; the folder's files are views)."""
        self._folder_tables()
        return self.session.sql(statement).toPandas()


# ----------------------------------------------------------------------------- opening
def _duckdb_settings(con, folder, config: Config) -> None:
    engine = config.engine
    con.execute("SET TimeZone = ?", [str(config.data.timezone or "UTC")])
    with contextlib.suppress(Exception):  # DuckDB >= 1.1: memory freed goes back to the system
        con.execute("SET allocator_background_threads = true")
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


@contextlib.contextmanager
def open_engine(
    folder: str | Path | None, config: Config | None = None, engine: str | None = None
) -> Iterator[Engine]:
    """The engine of the config, set up for reading a dataset; closed on exit.

    Parameters
    ----------
    folder : str or Path or None
        Dataset folder: relative file names in queries are looked up there.
    config : Config, optional
        ``[data] timezone`` (the session time zone: zoned timestamps are
        converted to it) and the ``[engine]`` settings.
    engine : {"duckdb", "spark"}, optional
        Overrides ``[engine] engine``.

    Yields
    ------
    Engine
        A :class:`DuckDBEngine` (its spill folder removed on exit) or a
        :class:`SparkEngine` (the session stopped on exit if it was started
        here; an active session gets its time zone back).

    Raises
    ------
    ConfigError
        An ``[engine]`` setting the engine refuses, or Spark without PySpark.
    """
    config = config or Config()
    kind = engine or config.engine.engine
    if kind == "spark":
        session, owned = spark_session(config)
        previous = session.conf.get("spark.sql.session.timeZone")
        session.conf.set("spark.sql.session.timeZone", str(config.data.timezone or "UTC"))
        spark = SparkEngine(session, folder)
        try:
            yield spark
        finally:
            spark.drop(*list(spark._cached))
            if owned:
                session.stop()
            else:
                session.conf.set("spark.sql.session.timeZone", previous)
        return
    import duckdb

    spill = config.engine.temp_directory
    own_spill = None
    if spill is None:
        own_spill = spill = tempfile.mkdtemp(prefix="milestones-duckdb-")
    con = duckdb.connect()
    try:
        con.execute("SET temp_directory = ?", [str(spill)])
        _duckdb_settings(con, folder, config)
        yield DuckDBEngine(con)
    finally:
        con.close()
        if own_spill is not None:
            shutil.rmtree(own_spill, ignore_errors=True)


def engine_for(connection) -> Engine:
    """The engine of a connection the caller already has.

    Parameters
    ----------
    connection : Engine, duckdb.DuckDBPyConnection, ibis DuckDB backend or SparkSession
        E.g. ``ibis.duckdb.connect("warehouse.duckdb")``: the derivation then
        runs in that database, on its tables (its settings, time zone
        included, are used as they are).

    Returns
    -------
    Engine

    Raises
    ------
    TypeError
        For another kind of connection.
    """
    if isinstance(connection, Engine):
        return connection
    kind = type(connection).__module__.split(".")[0]
    if kind == "duckdb" or kind == "_duckdb":
        return DuckDBEngine(connection)
    if kind == "ibis" and getattr(connection, "name", None) == "duckdb":
        return DuckDBEngine(connection.con)
    if kind == "pyspark" and hasattr(connection, "sparkContext"):
        return SparkEngine(connection)
    raise TypeError(
        "expected a DuckDB connection (duckdb or ibis.duckdb), a SparkSession or an Engine, "
        f"not {type(connection).__name__}"
    )
