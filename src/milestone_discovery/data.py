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

Files are read by :mod:`milestone_discovery.readers`, each table is typed and
checked by :mod:`milestone_discovery.validation`, and the result is a
:class:`~milestone_discovery.dataset.Dataset`; their public names used
elsewhere are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .config_input import EVENT_TABLES, REQUIRED_TABLES, TABLE_COLUMNS
from .dataset import Dataset
from .errors import ConfigError, DataValidationError, MilestoneError, Problem
from .readers import (
    FALSE_VALUES,
    TRUE_VALUES,
    event_source,
    events_unreadable_error,
    find_table_files,
    offending_rows,
    read_table,
)
from .validation import read_options, size_band_lower_bounds, typed_table

__all__ = [
    "FALSE_VALUES",
    "TRUE_VALUES",
    "Dataset",
    "load_dataset",
    "offending_rows",
    "read_table",
    "size_band_lower_bounds",
]

#: Dates of observed behaviour: the default ``as_of`` is the latest of them.
_BEHAVIOUR_DATES = (
    ("feature_usage", "first_used_at"),
    ("activity", "month"),
    ("setup_steps", "completed_at"),
    ("events", "timestamp"),  # each account's latest event (see events.EventTables.last_seen)
)

#: The default as_of is checked for resting on fewer accounts than this (see _default_as_of).
_AS_OF_SUPPORT = 3


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


def _load_folder(folder: Path, config: Config) -> Dataset:
    options = read_options(config)
    notes: list[str] = []
    queries = {name: spec["query"] for name, spec in config.tables.items()}
    files, problems, hints, file_notes = find_table_files(folder, TABLE_COLUMNS)
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
        from .engines import open_engine

        engine = open_engine(folder, config)
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
                source = event_source(files.get("events"), queries.get("events"))
            except DataValidationError as exc:
                problems += exc.problems
        if problems:
            raise DataValidationError(problems)

        tables: dict[str, pd.DataFrame] = {}
        for name in list(raw):  # each raw frame is let go once typed: never both copies at once
            table, found = typed_table(name, raw.pop(name), config, options, notes)
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
                problems += events_unreadable_error(exc).problems
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
        as_of, source, outliers = _default_as_of(tables)
        if outliers is not None:
            raise DataValidationError(outliers)
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


def _query_file_notes(notes: list[str], files: dict, queries: dict[str, str]) -> list[str]:
    """The notes on files not read, saying which files the ``[tables]`` queries read instead."""
    if not queries:
        return notes

    def reader(file_name: str) -> str | None:
        # by its name ('usage.csv' on DuckDB) or its stem as a whole word (the view on Spark)
        stem = re.compile(rf"(?<![\w.]){re.escape(Path(file_name).stem)}(?!\w)", re.IGNORECASE)
        return next(
            (n for n, q in queries.items() if file_name.lower() in q.lower() or stem.search(q)),
            None,
        )

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
                else f"file {path.name} ignored: table '{name}' is given by the "
                f"[tables.{name}] query"
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


# ----------------------------------------------------------------------------- rules
def _cross_table_problems(
    tables: dict[str, pd.DataFrame], derived: tuple[str, ...] = ()
) -> list[Problem]:
    """Rules between tables.

    Tables in ``derived`` (from events) hold known accounts by construction.
    """
    accounts = tables["accounts"]
    known = pd.Index(accounts["account_id"])  # unique: the accounts table passed its rules
    signup = accounts["signup_date"].to_numpy(dtype="datetime64[ns]")
    problems: list[Problem] = []
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = tables.get(name)
        if t is None or name in derived:
            continue
        row = known.get_indexer(t["account_id"])
        unknown = row < 0
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
        start = signup
        if name == "activity":  # a month row may start before the signup day, not before its month
            start = pd.DatetimeIndex(start).to_period("M").to_timestamp().to_numpy()
        early = t[date_col].to_numpy() < start[row]
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


# ----------------------------------------------------------------------------- as_of
def _default_as_of(
    tables: dict[str, pd.DataFrame],
) -> tuple[dt.date, str, list[Problem] | None]:
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
    ended more than 31 days earlier, that date is not taken: the rows are
    returned as problems (fix them, or set ``[study] as_of``), because one
    such date would silently make every young account "retained".

    Returns
    -------
    as_of : datetime.date
    source : str
        Where it came from, in words, for the notes and the summary.
    outliers : list of Problem or None
        The rows that alone would set ``as_of``, when the rule above applies.
    """
    used = [
        (name, col)
        for name, col in _BEHAVIOUR_DATES
        if tables.get(name) is not None and tables[name][col].notna().any()
    ]
    if not used:  # pragma: no cover - feature_usage is required and never empty
        latest = tables["accounts"]["signup_date"].max()
        return latest.date(), "latest signup_date (no behaviour dates in the data)", None
    latest = max(tables[name][col].max() for name, col in used)
    sources = [f"{name}.{col}" for name, col in used if (tables[name][col] == latest).any()]
    source = f"latest date of observed behaviour ({', '.join(sources)})"
    per_account = _latest_per_account(tables, used).sort_values(ascending=False)
    outliers = None
    if len(per_account) >= 100:
        runner_up = per_account.iloc[_AS_OF_SUPPORT - 1]
        if latest - runner_up > pd.Timedelta(days=31):
            alone = per_account[per_account > runner_up]
            outliers = []
            for name, col in _BEHAVIOUR_DATES:
                t = tables.get(name)
                if t is None:
                    continue
                late = t[col] > runner_up
                if late.any():
                    outliers.append(
                        Problem(
                            name,
                            col,
                            f"the default as_of would be {latest.date()}, resting on "
                            f"{len(alone)} account(s) while every other account's latest "
                            f"behaviour is on or before {runner_up.date()}: if these dates "
                            "are typos fix them, else set [study] as_of in the config",
                            offending_rows(t[["account_id", col]], late),
                        )
                    )
    return latest.date(), source, outliers


def _latest_per_account(tables: dict[str, pd.DataFrame], used: list[tuple[str, str]]) -> pd.Series:
    """The latest date of each account in the tables and date columns ``used`` (NaT: none).

    Accounts are keyed by their position among every account id met, so no
    row-sized frame of ids is built (tables hold tens of millions of rows).
    """
    keys = pd.Index(tables["accounts"]["account_id"]).unique()
    per_table = []
    for name, col in used:
        ids = tables[name]["account_id"]
        pos = keys.get_indexer(ids)
        if (pos < 0).any():  # ids not in accounts (not an error for every table): keyed too
            keys = keys.append(pd.Index(ids[pos < 0]).unique())
            pos = keys.get_indexer(ids)
        per_table.append(tables[name][col].groupby(pos).max())
    return pd.concat(per_table).groupby(level=0).max()


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
            f"{int(future_churn.sum())} churn date(s) after as_of {ds.as_of} treated as "
            "still a customer at as_of"
        )
    known = pd.Index(acc["account_id"])  # unique: the accounts table passed its rules
    # churn dates by position, NaT appended for rows of accounts not kept (position -1)
    churn = np.append(acc["churn_date"].to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"))
    churn_month = pd.DatetimeIndex(churn).to_period("M").to_timestamp().to_numpy()
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = getattr(ds, name)
        if t is None:
            continue
        row = known.get_indexer(t["account_id"])
        keep = row >= 0
        dates = t[date_col].to_numpy()
        after_as_of = (dates > as_of.to_datetime64()) & keep
        # the churn month itself is still a month of activity
        churned_at = (churn_month if name == "activity" else churn)[row]
        after_churn = keep & ~after_as_of & ~np.isnat(churned_at) & (dates > churned_at)
        del row, churned_at
        n_dropped_accounts = int((~keep).sum())
        if after_as_of.any():
            ds.notes.append(
                f"{name}: {int(after_as_of.sum())} row(s) dated after as_of {ds.as_of} ignored"
            )
        if after_churn.any():
            ds.notes.append(
                f"{name}: {int(after_churn.sum())} row(s) dated after the account's "
                "churn_date ignored"
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
