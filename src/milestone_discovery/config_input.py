"""Settings of how the input is read.

The sections ``[columns]``, ``[tables]``, ``[data]``, ``[events]``, ``[engine]``
and ``[wide]`` of the study config. A dataset folder holds the tables of
:data:`TABLE_COLUMNS`; ``[columns.NAME]`` renames their columns
(:func:`check_columns`), ``[tables.NAME] query`` gives a table as a SQL query on
the folder's files (:func:`check_tables`) run by the engine of ``[engine]``
(:class:`EngineConfig`), ``[data]`` says how values are read
(:class:`DataConfig`) and ``[events]`` how an ``events`` table becomes the
per-account tables (:class:`EventsConfig`). A single wide table is described by
``[wide]`` (:class:`WideConfig`). Every class and function here is re-exported
by :mod:`milestone_discovery.config`, which assembles the whole config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .constraints import (
    Interval,
    ListOf,
    Options,
    Section,
    TableOf,
    Text,
    check_value,
    show,
)
from .errors import ConfigError

__all__ = [
    "DEFAULT_CHURNED_VALUES",
    "EVENT_TABLES",
    "REQUIRED_TABLES",
    "SHARED_ROLES",
    "TABLE_COLUMNS",
    "DataConfig",
    "EngineConfig",
    "EventsConfig",
    "WideConfig",
    "check_columns",
    "check_tables",
]

#: Standard column names of each table of the input contract: required, optional.
TABLE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accounts": (
        ("account_id", "signup_date"),
        ("seats", "company_size", "plan", "churn_date", "expansion"),
    ),
    "feature_usage": (("account_id", "feature", "first_used_at"), ("uses",)),
    "feature_catalog": (("feature", "category"), ("description", "hypothesis")),
    "activity": (("account_id", "month"), ()),
    "setup_steps": (("account_id", "step", "completed_at"), ()),
    "events": (("account_id", "event", "timestamp"), ("user_id", "count")),
}
#: ``feature_usage`` may be replaced by ``events`` (see :class:`EventsConfig`).
REQUIRED_TABLES = ("accounts", "feature_usage")
#: Standard columns that one user column may fill together (``company_size = "seats"``).
SHARED_ROLES: dict[str, frozenset[str]] = {"accounts": frozenset({"seats", "company_size"})}
#: Tables derived from ``events``: a dataset gives either these or ``events``.
EVENT_TABLES = ("feature_usage", "activity", "setup_steps")


# ----------------------------------------------------------------------------- columns and tables
def check_columns(columns: Any, source: str = "config") -> dict[str, dict[str, str]]:
    """Check the ``[columns.<table>]`` renames: known tables and names, no collisions.

    Parameters
    ----------
    columns : dict
        ``{table: {standard_name: user_name}}``.
    source : str, default "config"
        Name of the config (file) used at the start of messages.

    Returns
    -------
    dict
        A copy of ``columns``.

    Raises
    ------
    milestone_discovery.errors.ConfigError
        For an unknown table or standard name, a name that is not a non-empty
        string, two standard columns renamed to one name, or a rename to the
        name of another standard column that keeps its name. Only the roles of
        :data:`SHARED_ROLES` may share a column (``company_size = "seats"``:
        the seat count is also the size covariate).
    """
    if not isinstance(columns, dict):
        raise ConfigError(f"{source} [columns]: expected sub-tables such as [columns.accounts]")
    out: dict[str, dict[str, str]] = {}
    for table, mapping in columns.items():
        if table not in TABLE_COLUMNS:
            raise ConfigError(
                f"{source} [columns.{table}]: unknown table; known tables: {sorted(TABLE_COLUMNS)}"
            )
        where = f"{source} [columns.{table}]"
        if not isinstance(mapping, dict):
            raise ConfigError(f'{where}: expected standard_name = "your_name"')
        required, optional = TABLE_COLUMNS[table]
        known = set(required) | set(optional)
        # activity carries any numeric metric: renaming a metric is allowed too.
        unknown = sorted(set(mapping) - known) if table != "activity" else []
        if unknown:
            raise ConfigError(f"{where}: unknown column(s) {unknown}; known: {sorted(known)}")
        for std, name in mapping.items():
            check_value([Text()], name, f"{where} {std}")
            check_value([Text()], std, f"{where} standard name")
        effective = {std: mapping.get(std, std) for std in (*required, *optional, *mapping)}
        by_name: dict[str, list[str]] = {}
        for std, name in effective.items():
            by_name.setdefault(name, []).append(std)
        for name, stds in by_name.items():
            if len(stds) < 2 or set(stds) <= SHARED_ROLES.get(table, frozenset()):
                continue
            renamed = [s for s in stds if s in mapping and mapping[s] != s]
            kept = [s for s in stds if s not in renamed]
            first = renamed[0]
            if kept:
                raise ConfigError(
                    f"{where} {first} = {show(name)}: collides with the standard column "
                    f"{show(kept[0])} of table {table}; rename that one too "
                    f'({kept[0]} = "...") or choose another name'
                )
            raise ConfigError(
                f"{where} {first} = {show(name)}: {' and '.join(renamed)} are renamed to "
                "one column; each standard column needs its own"
            )
        out[table] = dict(mapping)
    return out


def check_tables(tables: Any, source: str = "config") -> dict[str, dict[str, str]]:
    """Check the ``[tables.<table>]`` sections: input tables given as SQL queries.

    Parameters
    ----------
    tables : dict
        ``{table: {"query": "select ..."}}``.
    source : str, default "config"
        Name of the config (file) used at the start of messages.

    Returns
    -------
    dict
        A copy of ``tables``.

    Raises
    ------
    milestone_discovery.errors.ConfigError
        For an unknown table, a key other than ``query``, or an empty query.
    """
    if not isinstance(tables, dict):
        raise ConfigError(f"{source} [tables]: expected sub-tables such as [tables.events]")
    out: dict[str, dict[str, str]] = {}
    for table, spec in tables.items():
        where = f"{source} [tables.{table}]"
        if table not in TABLE_COLUMNS:
            raise ConfigError(f"{where}: unknown table; known tables: {sorted(TABLE_COLUMNS)}")
        if not isinstance(spec, dict):
            raise ConfigError(f'{where}: expected query = "select ..."')
        unknown = sorted(set(spec) - {"query"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; known keys: ['query']")
        if "query" not in spec:
            raise ConfigError(f'{where}: missing key query = "select ..."')
        query = check_value([Text()], spec["query"], f"{where} query")
        out[table] = {"query": query}
    return out


# ----------------------------------------------------------------------------- reading
@dataclass
class DataConfig(Section):
    """How input tables are read.

    Attributes
    ----------
    timezone : str
        IANA zone that time-zone-aware timestamps are converted to before
        they are cut to a date (naive timestamps keep the date as written).
    missing_counts : str
        ``"error"``: a blank count in ``activity`` is an error naming the
        rows; ``"zero"``: blanks count as 0 and the notes say how many.
    """

    _section: ClassVar[str] = "data"
    _constraints: ClassVar[dict[str, list]] = {
        "timezone": [Text()],
        "missing_counts": [Options({"error", "zero"})],
    }

    timezone: str = "UTC"
    missing_counts: str = "error"


@dataclass
class EventsConfig(Section):
    """How an ``events`` table (one row per event) becomes the per-account tables.

    Attributes
    ----------
    features : "*" or list of str
        Event names that are features (``feature_usage``: first use and
        number of uses per account). ``"*"``: every event that is neither a
        metric event nor a setup step. Events of a list that never occur are
        an error; events named by no key are ignored and counted in the notes.
    setup_prefix : str or None
        Events named ``<setup_prefix><step>`` are setup steps (``setup_steps``:
        first completion per account); ``None``: no setup steps.
    metrics : dict of str to list of str
        Monthly activity metrics (``activity``): each metric is the number of
        its events (the sum of ``count``) per account and calendar month, e.g.
        ``conversations = ["conversation_started"]``.
    """

    _section: ClassVar[str] = "events"
    _constraints: ClassVar[dict[str, list]] = {
        "features": [
            Options({"*"}),
            ListOf(
                Text(),
                min_len=1,
                unique=True,
                what='a list of event names in quotes, each listed once (e.g. ["inbox"])',
            ),
        ],
        "setup_prefix": [Text(), None],
        "metrics": [
            TableOf(
                Text(),
                ListOf(Text(), min_len=1, unique=True),
                what='a table of metric = ["event", ...] pairs (at least one event name each)',
            )
        ],
    }

    features: str | list[str] = "*"
    setup_prefix: str | None = "setup:"
    metrics: dict[str, list[str]] = field(default_factory=dict)

    def _check_relations(self, source: str) -> None:
        for name in self.metrics:
            if name in ("account_id", "month"):
                raise self._fail(
                    source,
                    "metrics",
                    f"{show(name)} is a column of the activity table, not a metric",
                )
        prefix = self.setup_prefix
        if prefix is None:
            return
        for name, events in self.metrics.items():
            setup = [e for e in events if e.startswith(prefix)]
            if setup:
                raise self._fail(
                    source,
                    "metrics",
                    f"metric {show(name)} counts {show(setup[0])}, a setup step "
                    f"(setup_prefix = {show(prefix)}); rename the prefix or the event",
                )
        if isinstance(self.features, list):
            setup = [e for e in self.features if e.startswith(prefix)]
            if setup:
                raise self._fail(
                    source,
                    "features",
                    f"lists {show(setup[0])}, a setup step (setup_prefix = {show(prefix)})",
                )

    @property
    def metric_events(self) -> list[str]:
        """Every event name counted by a metric, sorted."""
        return sorted({e for events in self.metrics.values() for e in events})


@dataclass
class EngineConfig(Section):
    """The query engine that reads events and query tables: DuckDB (default) or Spark.

    The derivation of the per-account tables from the events is written once,
    as Ibis expressions (:mod:`milestone_discovery.engines`), and runs on
    either engine.

    Attributes
    ----------
    engine : {"duckdb", "spark"}
        ``"duckdb"`` (default): embedded, out of core. ``"spark"``: PySpark
        (the extra ``pip install -e ".[spark]"``), for data that outgrows one
        machine; an active SparkSession is used as it is, else one is started
        on ``spark_master``. ``milestones --engine`` overrides it.
    memory_limit : str or None
        Most memory the engine may use, e.g. ``"4GB"``; beyond it, DuckDB
        spills to ``temp_directory``. ``None``: DuckDB's default (80% of the
        RAM). Spark: the driver memory of a session it starts.
    temp_directory : str or None
        Where the engine spills; ``None``: a fresh temporary folder, removed
        afterwards (Spark: ``spark.local.dir`` of a session it starts).
    threads : int or None
        Threads the engine uses; ``None``: one per core (Spark: the cores of
        a ``local[N]`` session it starts when ``spark_master`` is not set).
    spark_master : str or None
        The master of a Spark session it starts; ``None``: ``local[2]`` (or
        ``local[threads]``).
    """

    _section: ClassVar[str] = "engine"
    _constraints: ClassVar[dict[str, list]] = {
        "engine": [Options({"duckdb", "spark"})],
        "memory_limit": [Text(), None],
        "temp_directory": [Text(), None],
        "threads": [Interval(int, 1, None), None],
        "spark_master": [Text(), None],
    }

    engine: str = "duckdb"
    memory_limit: str | None = None
    temp_directory: str | None = None
    threads: int | None = None
    spark_master: str | None = None


# ----------------------------------------------------------------------------- wide table
#: The default ``[wide] churned_values``: any yes/no spelling of the outcome is read.
DEFAULT_CHURNED_VALUES = ("1", "yes", "true")

_NAMES = 'a list of column names in quotes, each listed once (e.g. ["Chat", "Backup"])'
_VALUES = 'a list of values in quotes (e.g. ["Yes"])'


@dataclass
class WideConfig(Section):
    """How to read a single wide table (one row per account).

    Attributes
    ----------
    id : str or None
        Account id column; ``None`` (the default): ``account_id`` when the
        table has it, else the row number (1 = first data row).
    outcome : str
        Outcome column. With the default ``churned_values`` it must read as
        yes/no (``1``/``0``, ``1.0``/``0.0``, ``true``/``false``, ``yes``/``no``,
        any case): yes means churned.
    churned_values : list of str
        Values of the outcome that mean churned (case-insensitive; ``"1"``
        also matches ``1.0``); when set, every other value but one (retained)
        is an error, unless listed in ``exclude_values``.
    exclude_values : list of str
        Outcome values that mean neither stayed nor churned (e.g. ``"Joined"``:
        too new to judge): their rows are left out of the study and counted
        by value among the exclusions.
    flags : list of str
        Feature columns holding yes/no values.
    counts : list of str
        Numeric feature columns (counts, scores): each becomes the flag
        ``"column>=t"``, ``t`` chosen from the data by the threshold scan of
        every milestone (chosen on one half, judged on the other, ``shape``).
    expand : list of str
        Multi-level columns: each level is one *choice* (``"Column=level"``).
        Choices are alternatives, not milestones: they are analysed like
        covariates ("which choice retains better"), adjusted for, and never
        proposed as a next step or counted toward maturity, unless listed in
        ``addons``.
    addons : list of str
        Levels of expanded columns, as ``"Column=level"``, that are add-ons
        the account can adopt (e.g. a paid option): they are features like
        ``flags``, proposed as a next step only to accounts on a
        ``skip_levels`` level of that column, never to accounts on another level.
    skip_levels : list of str
        Levels of expanded columns that mean "does not use it" (e.g. ``"No"``):
        not using something is not a milestone, so no flag is made for them.
    true_values, false_values : list of str
        Extra spellings of yes and no (``"No internet service"`` etc.); ``""``
        matches blank cells.
    missing : str
        Blank flag cells: ``"error"`` (the default: an error naming the rows)
        or ``"false"`` ("not used"; blank counts read as 0, blank levels as no
        level), counted in the dataset's notes.
    plan, size, seats : str or None
        Optional segment and size columns used as covariates. ``size`` holds
        employees or text bands (``"10-50"``, ``"1000+"``, ordered by their
        lower bound); ``size`` and ``seats`` may name the same column.
    covariates : list of str
        Other account attributes (e.g. a contract type) adjusted for and
        reported with their own retention table, like ``plan``.
    catalog : dict
        Optional feature -> category mapping (the product managers' grouping);
        a ``counts`` column's name stands for its flag.
    """

    _section: ClassVar[str] = "wide"
    _constraints: ClassVar[dict[str, list]] = {
        "id": [Text(), None],
        "outcome": [Text()],
        "churned_values": [ListOf(Text(blank=True), min_len=1, what=_VALUES + ", at least one")],
        "exclude_values": [ListOf(Text(blank=True), unique=True, what=_VALUES)],
        "flags": [ListOf(Text(), unique=True, what=_NAMES)],
        "counts": [ListOf(Text(), unique=True, what=_NAMES)],
        "expand": [ListOf(Text(), unique=True, what=_NAMES)],
        "addons": [
            ListOf(
                Text(),
                unique=True,
                what='a list of "Column=level" texts, each listed once (e.g. ["Support=Premium"])',
            )
        ],
        "skip_levels": [ListOf(Text(blank=True), what=_VALUES)],
        "true_values": [ListOf(Text(blank=True), what=_VALUES)],
        "false_values": [ListOf(Text(blank=True), what=_VALUES)],
        "missing": [Options({"error", "false"})],
        "plan": [Text(), None],
        "size": [Text(), None],
        "seats": [Text(), None],
        "covariates": [ListOf(Text(), unique=True, what=_NAMES)],
        "catalog": [
            TableOf(Text(), Text(), what='a table of feature = "category" pairs (texts in quotes)')
        ],
    }

    id: str | None = None
    outcome: str = "churned"
    churned_values: list[str] = field(default_factory=lambda: list(DEFAULT_CHURNED_VALUES))
    exclude_values: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    addons: list[str] = field(default_factory=list)
    skip_levels: list[str] = field(default_factory=list)
    true_values: list[str] = field(default_factory=list)
    false_values: list[str] = field(default_factory=list)
    missing: str = "error"
    plan: str | None = None
    size: str | None = None
    seats: str | None = None
    covariates: list[str] = field(default_factory=list)
    catalog: dict[str, str] = field(default_factory=dict)

    def _check_relations(self, source: str) -> None:
        if not self.flags and not self.expand and not self.counts:
            raise ConfigError(
                f"{source} [wide]: list the feature columns in 'flags' (and/or 'counts', 'expand')"
            )
        # each column has one role, except size and seats (one column may be both)
        roles = {
            "flags": self.flags,
            "counts": self.counts,
            "expand": self.expand,
            "covariates": self.covariates,
        }
        seen: dict[str, str] = {}
        for key, names in roles.items():
            both = sorted(c for c in names if c in seen)
            if both:
                raise self._fail(
                    source, key, f"must not repeat columns listed in {seen[both[0]]}: {show(both)}"
                )
            seen.update({c: key for c in names})
        if self.plan is not None and self.plan in seen:
            raise self._fail(source, "plan", f"must not be listed in {seen[self.plan]} too")
        if self.id is not None and self.id == self.outcome:
            raise self._fail(source, "outcome", "must be another column than id")
        covariates = {"plan": self.plan, "size": self.size, "seats": self.seats}
        for key in ("id", "outcome"):
            # without an id, "account_id" is the id when the table has it
            column = getattr(self, key) or "account_id"
            for other, names in roles.items():
                if column in names:
                    raise self._fail(
                        source, other, f"must not list the {key} column {show(column)}"
                    )
            for other, name in covariates.items():
                if name == column:
                    raise self._fail(source, other, f"must be another column than {key}")
        churned = {v.strip().lower() for v in self.churned_values}
        both = sorted(v for v in self.exclude_values if v.strip().lower() in churned)
        if both:
            raise self._fail(
                source, "exclude_values", f"must not repeat values of churned_values: {show(both)}"
            )
        for item in self.addons:
            column, sep, level = item.partition("=")
            if not sep or column not in self.expand or not level:
                raise self._fail(
                    source,
                    "addons",
                    f'item {show(item)} must be "Column=level" with Column one of the '
                    f"expand columns {show(self.expand)}",
                )
