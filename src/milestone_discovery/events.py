"""From an event log to the per-account tables, inside the query engine (DuckDB or Spark).

A dataset may hold ``events`` (``events.csv``, ``events.parquet``, a folder
``events/`` of Parquet files, hive-partitioned allowed, or a
``[tables.events] query``) instead of ``feature_usage``, ``activity`` and
``setup_steps``: one row per event (``account_id``, ``event``, ``timestamp``,
optional ``user_id`` and ``count``, default 1: pre-aggregated rollups work as
they are). The ``[events]`` config says which events are features, which are
counted as monthly metrics and which are setup steps (:class:`~.config.EventsConfig`).

:func:`derive_tables` reads the events once, in the engine: every row is typed and
checked, joined to the accounts and given a status; rows are aggregated per
account, event and status (and per month for metric events) into a table
that is much smaller than the log (a typed source, e.g. Parquet, has its
event names read first, one column, and the aggregate keys events by a
code: see :mod:`milestone_discovery.event_aggregate`). Every check, count and
note and every table is computed from that aggregate, never from the
events again: per account and feature ``first_used_at`` (first event) and
``uses`` (sum of ``count``); per account and calendar month each metric (months
without any of its events are absent, and read as 0 by the stages); per
account and step ``completed_at`` (first event). The derivation is written
once, as Ibis expressions, and runs on DuckDB (default, out of core) or Spark
(see :mod:`milestone_discovery.engines`): only these per-account tables and
small summaries reach pandas. The rows are read, typed and checked by
:mod:`milestone_discovery.event_rows`.

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

import ibis
import numpy as np
import pandas as pd

from .config import Config
from .engines import engine_for
from .errors import DataValidationError, Problem
from .event_aggregate import (
    AFTER_AS_OF,
    AFTER_CHURN,
    BEFORE_SIGNUP,
    EARLY,
    OK,
    UNKNOWN,
    ZERO,
    account_counts,
    as_int64,
    event_keys,
    ignored_notes,
    key_counts,
    summary,
    summary_note,
)
from .event_rows import (
    EventReadError,
    EventSource,
    read_error,
    read_rows,
    row_problems,
    row_rules,
    type_problem,
    typed_rows,
)

__all__ = ["EventReadError", "EventSource", "EventTables", "derive_tables"]


def _in(column, values):
    """``column`` is one of ``values`` (false for none)."""
    values = sorted(set(values))
    return column.isin(values) if values else ibis.literal(False)


def _month(d):
    """The first day of the month of a date (the same date type on every engine)."""
    return ibis.date(d.year(), d.month(), 1)


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
    con : milestone_discovery.engines.Engine or connection
        From :func:`milestone_discovery.engines.open_engine` (its time zone is
        ``[data] timezone``), or a connection
        :func:`~milestone_discovery.engines.engine_for` takes (a DuckDB or
        Ibis DuckDB connection, a SparkSession), used with its own settings.
    source : EventSource
    accounts : pandas.DataFrame or None
        The validated accounts (``account_id``, ``signup_date``, optional
        ``churn_date``). ``None`` (another table has errors) checks the rows of
        the events only: it raises the problems found, else returns ``None``.
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

    Examples
    --------
    On a table of a database (see the README, "Engines"):

    >>> derive_tables(ibis.duckdb.connect("wh.duckdb"), EventSource("table", table="events"),
    ...               accounts)  # doctest: +SKIP
    """
    engine = engine_for(con)
    config = config or Config()
    today = today or dt.date.today()
    label = source.label
    raw = read_rows(engine, source)
    columns = dict(raw.schema().items())
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
    p = typed_rows(raw, user, has_count, trim=source.kind == "csv")
    if p is None:  # a column of a type that cannot hold the values
        raise DataValidationError([type_problem(label, user, columns)])
    ids = None if accounts is None else _account_ids(accounts)
    made = ["__events"]
    try:
        keys = event_keys(engine, source, p)
        ts = columns[user["timestamp"]]  # text or a zoned timestamp: maybe time-zone aware
        zoned = ts.is_string() or (ts.is_timestamp() and ts.timezone is not None)
        agg = _aggregate(
            engine, source, p, keys, accounts, ids, config, has_count, zoned, today, made
        )
        by_status, names = key_counts(engine, agg, keys)
        if any(code >= 10 for code in by_status):
            raise DataValidationError(row_problems(engine, source, user, has_count, today))
        if accounts is None:  # only the rows could be checked: another table has errors
            return None
        _check_names(label, names, by_status, accounts, config, user, engine, agg)
        per, unknown_sample = account_counts(engine, agg, by_status, made)
        notes += ignored_notes(label, by_status, unknown_sample)
        return _tables(
            engine,
            label,
            agg,
            per,
            keys,
            names,
            by_status,
            ids,
            config,
            user,
            has_count,
            notes,
            list(columns),
        )
    finally:
        engine.drop(*made)


def _aggregate(engine, source, p, keys, accounts, ids, config, has_count, zoned, today, made):
    """Type, check and aggregate the rows in one pass (kept in the engine as ``__agg``).

    Per account (position in ``accounts``), event (its key), status and, for
    metric events, month; a row of the signup month before the signup day is
    used and dated at signup, with its own status (:data:`EARLY`: counted
    without one more aggregate). The time-zone-aware rows are counted
    (``aware``) only when the timestamps may be (``zoned``: text or a zoned type).
    """
    status = [
        (cond, code) for code, (cond, _c, _r) in enumerate(row_rules(p, has_count, today), 10)
    ]
    as_of = config.study.as_of
    j = p
    if accounts is not None:
        a = engine.put("__accounts", _accounts_arrow(accounts, ids))
        made.append("__accounts")
        j = p.left_join(a, p.account_id == a.account_id)
        known = a.pos.notnull()
        status += [
            (~known, UNKNOWN),
            (p.d < a.signup_month, BEFORE_SIGNUP),
        ]
        if as_of is not None:
            status.append((p.d > ibis.literal(as_of), AFTER_AS_OF))
        status.append((a.churn.notnull() & (p.d > a.churn), AFTER_CHURN))
        pos, signup = a.pos, a.signup
        unknown_id = ibis.cases((~known, p.account_id), else_=ibis.null("string"))
    else:
        pos, signup, unknown_id = ibis.null("int32"), ibis.null("date"), p.account_id
    if has_count:
        status.append((p.n == 0, ZERO))
    if accounts is not None:  # after every rule: the row is used
        status.append((p.d < signup, EARLY))
    key = p.event
    if keys.coded:  # the event's code, from the (small) table of names
        c = engine.put("__keys", keys.table())
        made.append("__keys")
        j = j.left_join(c, p.event == c.event)
        key = c.key
    rows = j.select(
        pos=pos,
        unknown_id=unknown_id,
        key=key,
        d=p.d,
        n=p.n,
        aware=p.aware,
        is_metric=_in(key, keys.keys(config.events.metric_events)),
        signup=signup,
        status=ibis.cases(*status, else_=OK),
    )
    ok = rows.status.isin([OK, EARLY])
    dated = ibis.cases((rows.d < rows.signup, rows.signup), else_=rows.d)
    agg = rows.group_by(
        pos=rows.pos,
        unknown_id=rows.unknown_id,
        key=rows.key,
        status=rows.status,
        month=ibis.cases((ok & rows.is_metric, _month(rows.d)), else_=ibis.null("date")),
    ).aggregate(
        first=dated.min(),
        last=dated.max(),
        n=as_int64(rows.n.sum()),
        rows=rows.count(),
        **({"aware": rows.count(where=rows.aware)} if zoned else {}),
    )
    try:
        kept = engine.materialize("__agg", agg)
    except Exception as exc:
        raise read_error(source, exc) from exc
    made.append("__agg")
    return kept


def _check_names(label, names, by_status, accounts, config, user, engine, agg) -> None:
    """The errors of the ``[events]`` mapping and of events of no known account."""
    ec, problems = config.events, []
    present = set(names["event"])
    if ec.features != "*":
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
    prefix = ec.setup_prefix
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
    unknown = by_status.get(UNKNOWN, {}).get("rows", 0)
    if unknown == sum(s["rows"] for s in by_status.values()):  # no row, or none known
        ids = []
        if unknown:
            sample = agg.filter(agg.status == UNKNOWN).select("unknown_id").distinct()
            ids = engine.fetch(sample.order_by("unknown_id").limit(3)).column("unknown_id")
            ids = ids.to_pylist()
        known = accounts["account_id"].astype(str).head(3).tolist()
        problems.append(
            Problem(
                label,
                user["account_id"],
                f"no event belongs to an account of 'accounts' (events has {ids}, "
                f"accounts has {known}): are the ids the same, or is the column mapping wrong?",
                n_rows=unknown,
            )
        )
    if problems:
        raise DataValidationError(problems)


def _tables(
    engine, label, agg, per, keys, names, by_status, ids, config, user, has_count, notes, columns
):
    """The per-account tables, the summary and the remaining notes."""
    ec, prefix = config.events, config.events.setup_prefix
    is_setup = (
        names["event"].str.startswith(prefix).astype(bool)
        if prefix
        else pd.Series(False, index=names.index)
    )
    metric_set = set(ec.metric_events)
    if ec.features == "*":
        feature_set = set(names.loc[~is_setup & ~names["event"].isin(metric_set), "event"])
    else:
        feature_set = set(ec.features)
    ignored_names = names.loc[
        ~names["event"].isin(feature_set | metric_set) & ~is_setup & (names["used"] > 0)
    ]
    if len(ignored_names):
        listed = ", ".join(sorted(ignored_names["event"])[:8])
        more = len(ignored_names) - 8
        notes.append(
            f"{label}: {int(ignored_names['used'].sum()):,} row(s) of {len(ignored_names)} "
            f"event name(s) that [events] does not map (features list, metrics, setup_prefix) "
            f"ignored: {listed}{f', ... ({more} more)' if more > 0 else ''}"
        )
    aware = sum(s["aware"] for s in by_status.values())
    if aware:
        notes.append(
            f"{label}.{user['timestamp']}: {aware:,} time-zone-aware timestamp(s) converted to "
            f"{config.data.timezone} before taking the date"
        )

    info = summary(engine, per, by_status, columns, has_count, len(ids))
    early = bool(by_status.get(OK, {}).get("early"))
    feature_usage, activity, setup_steps, last_seen = _derived(
        engine, agg, per, keys, names, feature_set, ec, ids, early
    )
    notes.insert(0, summary_note(label, info, has_count))
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
    return EventTables(feature_usage, activity, setup_steps, last_seen, notes, info)


def _derived(engine, agg, per, keys, names, feature_set, ec, ids, early):
    """``feature_usage``, ``activity``, ``setup_steps`` and ``last_seen`` from the aggregate.

    With ``early`` rows (their own status), an account's feature or step may
    have two rows of the aggregate: they are merged. The biggest table,
    ``feature_usage``, is read last: the engine's tables are dropped before
    it becomes pandas (less memory at once).
    """
    import pyarrow as pa

    prefix = ec.setup_prefix
    seen = per.filter(per.status.isin([OK, AFTER_CHURN]))
    last_seen = _fetch(
        engine,
        seen.group_by("pos").aggregate(timestamp=seen["last"].max()).order_by("pos"),
        ids,
        ("timestamp",),
    )
    engine.drop("__per")
    used = agg.filter(agg.status.isin([OK, EARLY]))
    setup_steps = None
    if prefix:  # setup events are never metric events: one row per account and step
        setup = [e for e in names["event"] if e.startswith(prefix)]
        steps = used.filter(_in(used.key, keys.keys(setup)))
        step, names_of = steps.key, {}
        if keys.coded:  # a code orders the steps as their names (one prefix)
            names_of = {"step": pa.array([e.removeprefix(prefix) for e in keys.names])}
        else:
            step = step.substr(len(prefix))
        if early:
            steps = steps.group_by(pos=steps.pos, step=step).aggregate(
                completed_at=steps.first.min()
            )
        else:
            steps = steps.select(pos=steps.pos, step=step, completed_at=steps.first)
        setup_steps = _fetch(
            engine, steps.order_by(["pos", "step"]), ids, ("completed_at",), names_of
        )
    activity = None
    if ec.metrics:
        monthly = used.filter(used.month.notnull())
        sums = {
            metric: as_int64(monthly.n.sum(where=_in(monthly.key, keys.keys(events))).fill_null(0))
            for metric, events in ec.metrics.items()
        }
        activity = _fetch(
            engine,
            monthly.group_by(["pos", "month"]).aggregate(**sums).order_by(["pos", "month"]),
            ids,
            ("month",),
        )
    features = used.filter(_in(used.key, keys.keys(feature_set)))
    if early or feature_set & set(ec.metric_events):  # (a metric's: a row per month)
        features = features.group_by(pos=features.pos, feature=features.key).aggregate(
            first_used_at=features.first.min(), uses=as_int64(features.n.sum())
        )
    else:  # one row per account and feature
        features = features.select(
            pos=features.pos, feature=features.key, first_used_at=features.first, uses=features.n
        )
    names_of = {"feature": pa.array(keys.names, type=pa.string())} if keys.coded else {}
    feature_usage = _fetch(
        engine,
        features.order_by(["pos", "feature"]),
        ids,
        ("first_used_at",),
        names_of,
        drop=("__agg",),
    )
    return feature_usage, activity, setup_steps, last_seen


def _account_ids(accounts: pd.DataFrame):
    """The ids of ``accounts`` as Arrow large strings (a ``pos`` is a position in it)."""
    import pyarrow as pa

    ids = accounts["account_id"].astype(str).to_numpy(dtype=object)
    return pa.array(ids, type=pa.large_string())


def _accounts_arrow(accounts: pd.DataFrame, ids):
    """``pos`` (row position), ``account_id``, ``signup``, ``signup_month``, ``churn`` (or null)."""
    import pyarrow as pa

    churn = (
        accounts["churn_date"]
        if "churn_date" in accounts
        else pd.Series(pd.NaT, index=accounts.index, dtype="datetime64[ns]")
    )
    signup = accounts["signup_date"].to_numpy(dtype="datetime64[D]")
    return pa.table(
        {
            "pos": pa.array(np.arange(len(accounts), dtype=np.int32)),
            "account_id": ids.cast(pa.string()),
            "signup": pa.array(signup),
            "signup_month": pa.array(signup.astype("datetime64[M]").astype("datetime64[D]")),
            "churn": pa.array(churn.to_numpy(dtype="datetime64[D]")),
        }
    )


def _fetch(engine, expr, ids, dates: tuple[str, ...], names=None, drop=()) -> pd.DataFrame:
    """A result as pandas through Arrow, ``pos`` replaced by ``account_id``.

    Text comes as Arrow-backed strings (fast and compact: built as large
    strings, which pandas keeps without a copy); dates as ``datetime64[ns]``;
    whole numbers as int64 (whichever engine ran it); the event codes of a
    column in ``names`` (a dict of column to an Arrow array of names) as their
    names. The tables ``drop`` are dropped from the engine once the result
    is read; the Arrow result is released column by column while pandas takes it.
    """
    import pyarrow as pa

    names = names or {}
    table = engine.fetch(expr)
    engine.drop(*drop)
    columns = {}
    for col in table.column_names:
        column = table.column(col)
        kind = column.type
        if col == "pos":
            col, column = "account_id", ids.take(column)
        elif col in names:
            column = _large(names[col]).take(column)
        elif col in dates:
            column = column.cast(pa.timestamp("ns"))
        elif pa.types.is_integer(kind):
            column = column.cast(pa.int64())
        elif pa.types.is_string(kind) or pa.types.is_string_view(kind):
            column = column.cast(pa.large_string())
        columns[col] = column
    del table
    return pa.table(columns).to_pandas(split_blocks=True, self_destruct=True)


def _large(strings):
    """An Arrow array of strings as large strings (their offsets are what pandas keeps)."""
    import pyarrow as pa

    return strings if pa.types.is_large_string(strings.type) else strings.cast(pa.large_string())
