"""From an event log to the per-account tables, inside the query engine (DuckDB).

A dataset may hold ``events`` (``events.csv``, ``events.parquet``, a folder
``events/`` of Parquet files, hive-partitioned allowed, or a
``[tables.events] query``) instead of ``feature_usage``, ``activity`` and
``setup_steps``: one row per event (``account_id``, ``event``, ``timestamp``,
optional ``user_id`` and ``count``, default 1: pre-aggregated rollups work as
they are). The ``[events]`` config says which events are features, which are
counted as monthly metrics and which are setup steps (:class:`~.config.EventsConfig`).

:func:`derive_tables` reads the events once, in SQL: every row is typed and
checked, joined to the accounts and given a status; rows are aggregated per
account, event and status (and per month for metric events) into a table
that is much smaller than the log. Everything else is computed from that
aggregate: per account and feature ``first_used_at`` (first event) and
``uses`` (sum of ``count``); per account and calendar month each metric (months
without any of its events are absent, and read as 0 by the stages); per
account and step ``completed_at`` (first event). The engine works out of core
(see :mod:`.queries`): only these per-account tables reach pandas. The rows
are read, typed and checked by :mod:`milestone_discovery.event_rows`.

Rules (rows are never dropped silently: every ignored row is counted in the notes)
----------------------------------------------------------------------------------
* Errors, as for any table (table, column, rule, example rows): missing
  ``account_id``, ``event`` or ``timestamp``; unparseable timestamps; dates before
  1980 (placeholders) or after today; a ``count`` that is blank, not a whole
  number or negative; ``[events] features`` or ``metrics`` naming events that
  never occur; no event at all for the accounts of ``accounts``.
* Ignored and counted: events of accounts that are not in ``accounts`` (test,
  internal or deleted accounts are common in logs); events dated before the
  calendar month of the account's ``signup_date`` (they cannot be placed in its
  first months); after
  ``as_of`` when it is set in the config; after the account's ``churn_date``
  (they would leak the outcome); rows with ``count`` 0 (no event happened);
  events that ``[events] features`` (a list), ``metrics`` and ``setup_prefix``
  do not name. Columns other than the contract's are not read (listed too).
* Kept and counted: events in the signup month but before the signup day
  (a monthly rollup is dated on the 1st; a trial may start before the
  contract): they count in month 0 of the metrics, and features and setup
  steps first used then are dated at signup.
* Time zones as for other tables: naive timestamps keep their calendar date;
  zoned ones (an offset or ``Z`` in text, a zoned Parquet type) are converted to
  ``[data] timezone`` first (counted). The default ``as_of`` is the latest date
  of an event of a known account on or after its signup (events after churn
  included: they were observed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import Config
from .errors import DataValidationError, Problem
from .event_rows import (
    EventReadError,
    EventSource,
    column_types,
    read_error,
    row_problems,
    row_rules,
    sql_ident,
    sql_literal,
    type_problem,
    typed_rows_sql,
)

__all__ = ["EventReadError", "EventSource", "EventTables", "derive_tables"]

# status of a row: 0 used; 1..5 ignored and counted; >= 10 errors
_OK, _UNKNOWN, _BEFORE_SIGNUP, _AFTER_AS_OF, _AFTER_CHURN, _ZERO = range(6)
_IGNORED = {
    _UNKNOWN: "of account_id(s) not in 'accounts'",
    _BEFORE_SIGNUP: "dated before the calendar month of the account's signup_date",
    _AFTER_AS_OF: "dated after as_of",
    _AFTER_CHURN: "dated after the account's churn_date",
    _ZERO: "with count 0 (no event happened)",
}


def _in_list(names) -> str:
    names = sorted(set(names))
    return f"IN ({', '.join(sql_literal(n) for n in names)})" if names else "IN (NULL)"


# ----------------------------------------------------------------------------- result
@dataclass
class EventTables:
    """The per-account tables derived from the events, with what was ignored.

    Attributes
    ----------
    feature_usage : pandas.DataFrame
        ``account_id``, ``feature``, ``first_used_at``, ``uses``.
    activity : pandas.DataFrame or None
        ``account_id``, ``month`` and one column per ``[events.metrics]`` metric;
        ``None`` without metrics.
    setup_steps : pandas.DataFrame or None
        ``account_id``, ``step``, ``completed_at``; ``None`` without setup events.
    last_seen : pandas.DataFrame
        ``account_id``, ``timestamp``: each known account's latest event date
        (on or after signup, events after churn included), for the default ``as_of``.
    notes : list of str
        The events summary and every row ignored, by rule.
    summary : dict
        ``rows``, ``columns``, ``first_date``, ``last_date`` of the events read,
        plus ``events`` (sum of ``count``), ``accounts``, ``per_account``.
    """

    feature_usage: pd.DataFrame
    activity: pd.DataFrame | None
    setup_steps: pd.DataFrame | None
    last_seen: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- derive
def derive_tables(
    con,
    source: EventSource,
    accounts: pd.DataFrame | None,
    config: Config | None = None,
    *,
    today: dt.date | None = None,
) -> EventTables | None:
    """Check the events and derive ``feature_usage``, ``activity`` and ``setup_steps``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        From :func:`milestone_discovery.queries.connect` (its time zone is
        ``[data] timezone``).
    source : EventSource
    accounts : pandas.DataFrame or None
        The validated accounts (``account_id``, ``signup_date``, ``churn_date``).
        ``None`` (another table has errors) checks the rows of the events
        only: it raises the problems found, else returns ``None``.
    config : Config, optional
        ``[columns.events]`` renames, ``[events]`` mapping and ``[study] as_of``.
    today : datetime.date, optional
        Events after it are an error (default: the machine's date).

    Returns
    -------
    EventTables or None

    Raises
    ------
    DataValidationError
        Every broken rule, naming the table, the column (as the user named
        it), the rule and example rows (CSV line, or Parquet file and row).
    """
    config = config or Config()
    today = today or dt.date.today()
    label = source.label
    ec = config.events
    columns = column_types(con, source)
    user = {std: config.column("events", std) for std in ("account_id", "event", "timestamp")}
    user.update({std: config.column("events", std) for std in ("user_id", "count")})
    missing = [user[c] for c in ("account_id", "event", "timestamp") if user[c] not in columns]
    if missing:
        shown = ", ".join(repr(c) for c in list(columns)[:20])
        raise DataValidationError(
            [
                Problem(
                    label,
                    ", ".join(missing),
                    f"required column(s) missing; columns present: [{shown}]",
                )
            ]
        )
    has_count = user["count"] in columns
    used = {user[c] for c in ("account_id", "event", "timestamp", "user_id", "count")}
    notes: list[str] = []
    extra = [c for c in columns if c not in used]
    if extra:
        notes.append(
            f"{label}: column(s) not used: {', '.join(extra[:10])}"
            + (f", ... ({len(extra) - 10} more)" if len(extra) > 10 else "")
        )
    parsed = typed_rows_sql(source.relation(), columns, user, has_count, trim=source.kind == "csv")
    if parsed is None:  # a column of a type that cannot hold the values
        raise DataValidationError([type_problem(label, user, columns)])
    flags = row_rules(has_count, today)

    metric_events = ec.metric_events
    as_of = config.study.as_of
    status = ["CASE"]
    status += [f"WHEN {cond} THEN {code}" for code, (cond, _c, _r) in enumerate(flags, 10)]
    if accounts is not None:
        status += [
            f"WHEN a.pos IS NULL THEN {_UNKNOWN}",
            f"WHEN p.d < date_trunc('month', a.signup) THEN {_BEFORE_SIGNUP}",
        ]
        if as_of is not None:
            status.append(f"WHEN p.d > DATE '{as_of.isoformat()}' THEN {_AFTER_AS_OF}")
        status.append(f"WHEN a.churn IS NOT NULL AND p.d > a.churn THEN {_AFTER_CHURN}")
    if has_count:
        status.append(f"WHEN p.n = 0 THEN {_ZERO}")
    status.append(f"ELSE {_OK} END")
    if accounts is not None:
        ids = _register_accounts(con, accounts)
        join = "LEFT JOIN __accounts a ON p.account_id = a.account_id"
        pos, unknown_id, signup = (
            "a.pos",
            "CASE WHEN a.pos IS NULL THEN p.account_id END",
            "a.signup",
        )
    else:
        join, pos, unknown_id, signup = "", "CAST(NULL AS INTEGER)", "p.account_id", "NULL"
    metric_test = f"p.event {_in_list(metric_events)}" if metric_events else "false"
    # one pass over the events: per account (position in accounts), event, status and, for
    # metric events, month; a row of the signup month before the signup day (early) is
    # dated at signup
    sql = f"""
        CREATE OR REPLACE TEMP TABLE __agg AS
        SELECT pos, unknown_id, event, status,
               CASE WHEN status = {_OK} AND is_metric
                   THEN CAST(date_trunc('month', d) AS DATE) END AS month,
               min(CASE WHEN d < signup THEN signup ELSE d END) AS first,
               max(CASE WHEN d < signup THEN signup ELSE d END) AS last,
               CAST(sum(n) AS BIGINT) AS n, count(*) AS rows,
               CAST(count_if(aware) AS INTEGER) AS aware,
               CAST(count_if(status = {_OK} AND d < signup) AS INTEGER) AS early
        FROM (
            SELECT {pos} AS pos, {unknown_id} AS unknown_id, p.event, p.d, p.n, p.aware,
                   {metric_test} AS is_metric, {signup} AS signup, {" ".join(status)} AS status
            FROM {parsed} p {join}
        )
        GROUP BY ALL
    """
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute(sql)
    except Exception as exc:
        raise read_error(source, exc) from exc
    finally:
        con.execute("SET preserve_insertion_order = true")

    by_status = dict(
        con.execute("SELECT status, CAST(sum(rows) AS BIGINT) FROM __agg GROUP BY 1").fetchall()
    )
    if any(code >= 10 for code in by_status):
        raise DataValidationError(row_problems(con, source, columns, user, has_count, flags))
    if accounts is None:  # only the rows could be checked: another table has errors
        con.execute("DROP TABLE IF EXISTS __agg")
        return None

    problems: list[Problem] = []
    names = con.execute(
        "SELECT event, CAST(sum(rows) AS BIGINT), "
        f"CAST(sum(rows) FILTER (status = {_OK}) AS BIGINT) FROM __agg GROUP BY 1"
    ).df()
    names.columns = ["event", "rows", "used"]
    present = set(names["event"])
    prefix = ec.setup_prefix
    is_setup = (
        names["event"].str.startswith(prefix).astype(bool)
        if prefix
        else pd.Series(False, index=names.index)
    )
    metric_set = set(metric_events)
    if ec.features == "*":
        feature_set = set(names.loc[~is_setup & ~names["event"].isin(metric_set), "event"])
    else:
        feature_set = set(ec.features)
        never = [f for f in ec.features if f not in present]
        if never:
            problems.append(
                Problem(
                    label,
                    user["event"],
                    f"[events] features lists event(s) that never occur: {never[:10]}",
                )
            )
    for metric, events in ec.metrics.items():
        never = [e for e in events if e not in present]
        if never:
            problems.append(
                Problem(
                    label,
                    user["event"],
                    f"[events.metrics] {metric} counts event(s) that never occur: {never[:10]}",
                )
            )
    if prefix and (names["event"] == prefix).any():
        rows = int(names.loc[names["event"] == prefix, "rows"].sum())
        problems.append(
            Problem(
                label,
                user["event"],
                f"setup event {prefix!r} without a step name (expected {prefix}<step>)",
                n_rows=rows,
            )
        )
    if by_status.get(_UNKNOWN, 0) == sum(by_status.values()):
        sample = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT unknown_id FROM __agg WHERE status = {_UNKNOWN} "
                "ORDER BY 1 LIMIT 3"
            ).fetchall()
        ]
        known = accounts["account_id"].astype(str).head(3).tolist()
        problems.append(
            Problem(
                label,
                user["account_id"],
                f"no event belongs to an account of 'accounts' (events has {sample}, accounts "
                f"has {known}): are the ids the same, or is the column mapping wrong?",
                n_rows=by_status[_UNKNOWN],
            )
        )
    if problems:
        raise DataValidationError(problems)

    ignored_names = names.loc[
        ~names["event"].isin(feature_set | metric_set) & ~is_setup & (names["used"].fillna(0) > 0)
    ]
    notes += _ignored_notes(con, label, by_status)
    if len(ignored_names):
        listed = ", ".join(sorted(ignored_names["event"])[:8])
        more = len(ignored_names) - 8
        notes.append(
            f"{label}: {int(ignored_names['used'].sum()):,} row(s) of {len(ignored_names)} "
            f"event name(s) that [events] does not map (features list, metrics, setup_prefix) "
            f"ignored: {listed}{f', ... ({more} more)' if more > 0 else ''}"
        )
    aware = con.execute("SELECT CAST(sum(aware) AS BIGINT) FROM __agg").fetchall()[0][0] or 0
    if aware:
        notes.append(
            f"{label}.{user['timestamp']}: {aware:,} time-zone-aware timestamp(s) converted to "
            f"{config.data.timezone} before taking the date"
        )

    if feature_set & metric_set:  # a feature counted by a metric too: one row per month
        features_sql = (
            "SELECT pos, event AS feature, min(first) AS first_used_at, "
            f"CAST(sum(n) AS BIGINT) AS uses FROM __agg WHERE status = {_OK} "
            f"AND event {_in_list(feature_set)} GROUP BY 1, 2 ORDER BY 1, 2"
        )
    else:  # one row per account and feature already
        features_sql = (
            "SELECT pos, event AS feature, first AS first_used_at, n AS uses FROM __agg "
            f"WHERE status = {_OK} AND event {_in_list(feature_set)} ORDER BY 1, 2"
        )
    feature_usage = _fetch(con, features_sql, ids, ("first_used_at",))
    activity = None
    if ec.metrics:
        sums = ", ".join(
            f"CAST(coalesce(sum(n) FILTER (WHERE event {_in_list(events)}), 0) AS BIGINT) "
            f"AS {sql_ident(metric)}"
            for metric, events in ec.metrics.items()
        )
        activity = _fetch(
            con,
            f"SELECT pos, month, {sums} FROM __agg WHERE status = {_OK} "
            "AND month IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2",
            ids,
            ("month",),
        )
    setup_steps = None
    if prefix:  # setup events are never metric events: one row per account and step
        setup_steps = _fetch(
            con,
            f"SELECT pos, substr(event, {len(prefix) + 1}) AS step, first AS completed_at "
            f"FROM __agg WHERE status = {_OK} AND starts_with(event, {sql_literal(prefix)}) "
            "ORDER BY 1, 2",
            ids,
            ("completed_at",),
        )
    last_seen = _fetch(
        con,
        "SELECT pos, max(last) AS timestamp FROM __agg "
        f"WHERE status IN ({_OK}, {_AFTER_CHURN}) GROUP BY 1 ORDER BY 1",
        ids,
        ("timestamp",),
    )
    summary = _summary(con, columns, has_count, len(accounts))
    notes.insert(0, _summary_note(label, summary, has_count))
    derived = [
        f"feature_usage {len(feature_usage):,} rows ({feature_usage['feature'].nunique()} features)"
    ]
    if activity is not None:
        derived.append(f"activity {len(activity):,} rows ({', '.join(ec.metrics)})")
    else:
        derived.append("no activity (no [events.metrics])")
    if setup_steps is not None and len(setup_steps):
        derived.append(
            f"setup_steps {len(setup_steps):,} rows ({setup_steps['step'].nunique()} steps)"
        )
    else:
        derived.append(
            f"no setup steps (no event named {prefix}<step>)" if prefix else "no setup steps"
        )
    notes.insert(1, f"{label} -> {'; '.join(derived)}")
    if feature_usage.empty:
        raise DataValidationError(
            [Problem(label, user["event"], "no feature event is left: the study needs features")]
        )
    if activity is not None and activity.empty:
        notes.append(f"{label}: no metric event is left: activation and utilization are skipped")
        activity = None
    if setup_steps is not None and setup_steps.empty:
        setup_steps = None
    con.execute("DROP TABLE IF EXISTS __agg")
    con.execute("DROP TABLE IF EXISTS __accounts")
    return EventTables(feature_usage, activity, setup_steps, last_seen, notes, summary)


def _register_accounts(con, accounts: pd.DataFrame):
    """Load the accounts into the engine as ``__accounts`` (``pos`` = row position); their ids."""
    import pyarrow as pa

    ids = pa.array(accounts["account_id"].astype(str).to_numpy(dtype=object), type=pa.string())
    frame = pa.table(
        {
            "pos": pa.array(np.arange(len(accounts), dtype=np.int32)),
            "account_id": ids,
            "signup": pa.array(accounts["signup_date"].to_numpy(dtype="datetime64[D]")),
            "churn": pa.array(accounts["churn_date"].to_numpy(dtype="datetime64[D]")),
        }
    )
    con.register("__accounts_frame", frame)
    con.execute("CREATE OR REPLACE TEMP TABLE __accounts AS SELECT * FROM __accounts_frame")
    con.unregister("__accounts_frame")
    return ids


def _fetch(con, sql: str, ids, dates: tuple[str, ...]) -> pd.DataFrame:
    """A query result as pandas through Arrow, ``pos`` replaced by ``account_id``.

    Text comes as Arrow-backed strings (fast and compact); dates as ``datetime64[ns]``.
    """
    import pyarrow as pa

    table = con.sql(sql).to_arrow_table()
    i = table.schema.get_field_index("pos")
    table = table.set_column(i, "account_id", ids.take(table.column(i)))
    for col in dates:
        i = table.schema.get_field_index(col)
        table = table.set_column(i, col, table.column(i).cast(pa.timestamp("ns")))
    return table.to_pandas()


def _ignored_notes(con, label, by_status) -> list[str]:
    notes = []
    (n_early, n_acc) = con.execute(
        "SELECT CAST(sum(early) AS BIGINT), count(DISTINCT pos) FILTER (early > 0) FROM __agg"
    ).fetchall()[0]
    if n_early:
        notes.append(
            f"{label}: {n_early:,} row(s) dated in the signup month but before the signup day "
            f"({n_acc:,} account(s)) kept: counted in month 0 of metrics, dated at signup for "
            "features and setup steps (a monthly rollup is dated on the 1st)"
        )
    for code, what in _IGNORED.items():
        n_rows = by_status.get(code, 0)
        if not n_rows:
            continue
        if code == _UNKNOWN:
            n_ids, sample = con.execute(
                "SELECT count(DISTINCT unknown_id), "
                "list(DISTINCT unknown_id ORDER BY unknown_id)[1:3] "
                f"FROM __agg WHERE status = {_UNKNOWN}"
            ).fetchall()[0]
            notes.append(
                f"{label}: {n_rows:,} row(s) {what} ignored ({n_ids:,} id(s), e.g. "
                f"{', '.join(repr(s) for s in sample)})"
            )
        else:
            (n_acc,) = con.execute(
                f"SELECT count(DISTINCT pos) FROM __agg WHERE status = {code}"
            ).fetchall()[0]
            notes.append(f"{label}: {n_rows:,} row(s) {what} ignored ({n_acc:,} account(s))")
    return notes


def _summary(con, columns, has_count, n_accounts) -> dict:
    rows, events = con.execute(
        "SELECT CAST(sum(rows) AS BIGINT), CAST(sum(n) AS BIGINT) FROM __agg"
    ).fetchall()[0]
    used, used_events, accounts, names, first, last = con.execute(
        "SELECT CAST(sum(rows) AS BIGINT), CAST(sum(n) AS BIGINT), count(DISTINCT pos), "
        f"count(DISTINCT event), min(first), max(last) FROM __agg WHERE status = {_OK}"
    ).fetchall()[0]
    q = con.execute(
        "SELECT quantile_disc(r, [0.1, 0.5, 0.9]) FROM (SELECT CAST(sum(rows) AS BIGINT) AS r "
        f"FROM __agg WHERE status = {_OK} GROUP BY pos)"
    ).fetchall()[0][0] or [0, 0, 0]
    return {
        "rows": int(rows or 0),
        "events": int(events or 0) if has_count else int(rows or 0),
        "columns": ", ".join(columns),
        "first_date": None if first is None else first.isoformat(),
        "last_date": None if last is None else last.isoformat(),
        "rows_used": int(used or 0),
        "events_used": int(used_events or 0),
        "accounts": int(accounts or 0),
        "accounts_without_events": int(n_accounts - (accounts or 0)),
        "event_names": int(names or 0),
        "per_account": {"p10": int(q[0]), "median": int(q[1]), "p90": int(q[2])},
    }


def _summary_note(label, s, has_count) -> str:
    events = f" ({s['events']:,} events, with count)" if has_count else ""
    per = s["per_account"]
    return (
        f"{label}: {s['rows']:,} rows{events}; {s['rows_used']:,} used: "
        f"{s['first_date']} to {s['last_date']}, {s['event_names']} event names, "
        f"{s['accounts']:,} accounts (rows per account: median {per['median']:,}, "
        f"10% {per['p10']:,}, 90% {per['p90']:,}); "
        f"{s['accounts_without_events']:,} account(s) without events"
    )
