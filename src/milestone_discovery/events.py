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
that is much smaller than the log. Everything else is computed from that
aggregate: per account and feature ``first_used_at`` (first event) and
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
import ibis.expr.operations as ops
import numpy as np
import pandas as pd

from .config import Config
from .engines import engine_for
from .errors import DataValidationError, Problem
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

# status of a row: 0 used; 1..5 ignored and counted; >= 10 errors
_OK, _UNKNOWN, _BEFORE_SIGNUP, _AFTER_AS_OF, _AFTER_CHURN, _ZERO = range(6)
_IGNORED = {
    _UNKNOWN: "of account_id(s) not in 'accounts'",
    _BEFORE_SIGNUP: "dated before the calendar month of the account's signup_date",
    _AFTER_AS_OF: "dated after as_of",
    _AFTER_CHURN: "dated after the account's churn_date",
    _ZERO: "with count 0 (no event happened)",
}


def _in(column, names):
    """``column`` is one of ``names`` (false for none)."""
    names = sorted(set(names))
    return column.isin(names) if names else ibis.literal(False)


def _int64(value):
    """``value`` cast to int64 in the engine even where Ibis types it so (DuckDB sums: int128)."""
    return ops.Cast(value, ibis.dtype("int64")).to_expr()


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
        agg = _aggregate(engine, source, p, accounts, ids, config, has_count, today, made)
        return _tables(
            engine, source, agg, accounts, ids, config, user, has_count, notes, today, list(columns)
        )
    finally:
        engine.drop(*made)


def _aggregate(engine, source, p, accounts, ids, config, has_count, today, made):
    """Type, check and aggregate the rows in one pass (kept in the engine as ``__agg``).

    Per account (position in ``accounts``), event, status and, for metric
    events, month; a row of the signup month before the signup day (early)
    is dated at signup.
    """
    status = [
        (cond, code) for code, (cond, _c, _r) in enumerate(row_rules(p, has_count, today), 10)
    ]
    metric_events = config.events.metric_events
    as_of = config.study.as_of
    if accounts is not None:
        a = engine.put("__accounts", _accounts_arrow(accounts, ids))
        made.append("__accounts")
        j = p.left_join(a, p.account_id == a.account_id)
        known = a.pos.notnull()
        status += [
            (~known, _UNKNOWN),
            (p.d < a.signup_month, _BEFORE_SIGNUP),
        ]
        if as_of is not None:
            status.append((p.d > ibis.literal(as_of), _AFTER_AS_OF))
        status.append((a.churn.notnull() & (p.d > a.churn), _AFTER_CHURN))
        pos, signup = a.pos, a.signup
        unknown_id = ibis.cases((~known, p.account_id), else_=ibis.null("string"))
    else:
        j, pos, signup, unknown_id = p, ibis.null("int32"), ibis.null("date"), p.account_id
    if has_count:
        status.append((p.n == 0, _ZERO))
    rows = j.select(
        pos=pos,
        unknown_id=unknown_id,
        event=p.event,
        d=p.d,
        n=p.n,
        aware=p.aware,
        is_metric=_in(p.event, metric_events),
        signup=signup,
        status=ibis.cases(*status, else_=_OK),
    )
    ok = rows.status == _OK
    dated = ibis.cases((rows.d < rows.signup, rows.signup), else_=rows.d)
    agg = rows.group_by(
        pos=rows.pos,
        unknown_id=rows.unknown_id,
        event=rows.event,
        status=rows.status,
        month=ibis.cases((ok & rows.is_metric, _month(rows.d)), else_=ibis.null("date")),
    ).aggregate(
        first=dated.min(),
        last=dated.max(),
        n=_int64(rows.n.sum()),
        rows=rows.count(),
        aware=rows.count(where=rows.aware),
        early=rows.count(where=ok & (rows.d < rows.signup)),
    )
    try:
        kept = engine.materialize("__agg", agg)
    except Exception as exc:
        raise read_error(source, exc) from exc
    made.append("__agg")
    return kept


def _tables(engine, source, agg, accounts, ids, config, user, has_count, notes, today, columns):
    """The checks on the aggregate, the notes and the per-account tables."""
    label, ec = source.label, config.events
    by_status = _by_status(engine, agg)
    counts = {code: s["rows"] for code, s in by_status.items()}
    if any(code >= 10 for code in counts):
        raise DataValidationError(row_problems(engine, source, user, has_count, today))
    if accounts is None:  # only the rows could be checked: another table has errors
        return None

    problems: list[Problem] = []
    names = engine.fetch_pandas(
        agg.group_by("event").aggregate(
            rows=agg.rows.sum(), used=agg.rows.sum(where=agg.status == _OK)
        )
    )
    present = set(names["event"])
    prefix = ec.setup_prefix
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
    unknown_sample = []
    if counts.get(_UNKNOWN, 0):
        unknown = agg.filter(agg.status == _UNKNOWN).select("unknown_id").distinct()
        sample = engine.fetch(unknown.order_by("unknown_id").limit(3))
        unknown_sample = sample.column("unknown_id").to_pylist()
    if counts.get(_UNKNOWN, 0) == sum(counts.values()):
        known = accounts["account_id"].astype(str).head(3).tolist()
        problems.append(
            Problem(
                label,
                user["account_id"],
                f"no event belongs to an account of 'accounts' (events has {unknown_sample}, "
                f"accounts has {known}): are the ids the same, or is the column mapping wrong?",
                n_rows=counts[_UNKNOWN],
            )
        )
    if problems:
        raise DataValidationError(problems)

    ignored_names = names.loc[
        ~names["event"].isin(feature_set | metric_set) & ~is_setup & (names["used"].fillna(0) > 0)
    ]
    notes += _ignored_notes(label, by_status, unknown_sample)
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

    used = agg.filter(agg.status == _OK)
    features = used.filter(_in(used.event, feature_set))
    if feature_set & metric_set:  # a feature counted by a metric too: one row per month
        features = features.group_by(pos=features.pos, feature=features.event).aggregate(
            first_used_at=features.first.min(), uses=_int64(features.n.sum())
        )
    else:  # one row per account and feature already
        features = features.select(
            pos=features.pos, feature=features.event, first_used_at=features.first, uses=features.n
        )
    feature_usage = _fetch(engine, features.order_by(["pos", "feature"]), ids, ("first_used_at",))
    activity = None
    if ec.metrics:
        monthly = used.filter(used.month.notnull())
        sums = {
            metric: _int64(monthly.n.sum(where=_in(monthly.event, events)).fill_null(0))
            for metric, events in ec.metrics.items()
        }
        activity = _fetch(
            engine,
            monthly.group_by(["pos", "month"]).aggregate(**sums).order_by(["pos", "month"]),
            ids,
            ("month",),
        )
    setup_steps = None
    if prefix:  # setup events are never metric events: one row per account and step
        steps = used.filter(used.event.startswith(prefix))
        steps = steps.select(
            pos=steps.pos, step=steps.event.substr(len(prefix)), completed_at=steps.first
        )
        setup_steps = _fetch(engine, steps.order_by(["pos", "step"]), ids, ("completed_at",))
    seen = agg.filter(agg.status.isin([_OK, _AFTER_CHURN]))
    last_seen = _fetch(
        engine,
        seen.group_by("pos").aggregate(timestamp=seen["last"].max()).order_by("pos"),
        ids,
        ("timestamp",),
    )
    summary = _summary(engine, agg, by_status, columns, has_count, len(ids))
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
    return EventTables(feature_usage, activity, setup_steps, last_seen, notes, summary)


def _account_ids(accounts: pd.DataFrame):
    import pyarrow as pa

    return pa.array(accounts["account_id"].astype(str).to_numpy(dtype=object), type=pa.string())


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
            "account_id": ids,
            "signup": pa.array(signup),
            "signup_month": pa.array(signup.astype("datetime64[M]").astype("datetime64[D]")),
            "churn": pa.array(churn.to_numpy(dtype="datetime64[D]")),
        }
    )


def _fetch(engine, expr, ids, dates: tuple[str, ...]) -> pd.DataFrame:
    """A result as pandas through Arrow, ``pos`` replaced by ``account_id``.

    Text comes as Arrow-backed strings (fast and compact); dates as
    ``datetime64[ns]``; whole numbers as int64 (whichever engine ran it).
    """
    import pyarrow as pa

    table = engine.fetch(expr)
    i = table.schema.get_field_index("pos")
    table = table.set_column(i, "account_id", ids.take(table.column(i)))
    for j, col in enumerate(table.column_names):
        kind = table.schema.field(j).type
        if col in dates:
            table = table.set_column(j, col, table.column(j).cast(pa.timestamp("ns")))
        elif pa.types.is_integer(kind):
            table = table.set_column(j, col, table.column(j).cast(pa.int64()))
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            table = table.set_column(j, col, table.column(j).cast(pa.string()))
    return table.to_pandas()


def _by_status(engine, agg) -> dict[int, dict]:
    """Per status: rows, events (sum of count), accounts, unknown ids, early rows, ..."""
    summary = agg.group_by("status").aggregate(
        rows=agg.rows.sum(),
        n=agg.n.sum(),
        accounts=agg.pos.nunique(),
        ids=agg.unknown_id.nunique(),
        early=agg.early.sum(),
        early_accounts=agg.pos.nunique(where=agg.early > 0),
        aware=agg.aware.sum(),
        event_names=agg.event.nunique(),
        first=agg.first.min(),
        last=agg["last"].max(),
    )
    out = {}
    for row in engine.fetch(summary).to_pylist():
        out[int(row.pop("status"))] = {
            k: (int(v or 0) if k not in ("first", "last") else v) for k, v in row.items()
        }
    return out


def _ignored_notes(label, by_status, unknown_sample) -> list[str]:
    notes = []
    ok = by_status.get(_OK, {})
    if ok.get("early"):
        notes.append(
            f"{label}: {ok['early']:,} row(s) dated in the signup month but before the signup "
            f"day ({ok['early_accounts']:,} account(s)) kept: counted in month 0 of metrics, "
            "dated at signup for features and setup steps (a monthly rollup is dated on the 1st)"
        )
    for code, what in _IGNORED.items():
        s = by_status.get(code)
        if not s or not s["rows"]:
            continue
        if code == _UNKNOWN:
            notes.append(
                f"{label}: {s['rows']:,} row(s) {what} ignored ({s['ids']:,} id(s), e.g. "
                f"{', '.join(repr(x) for x in unknown_sample)})"
            )
        else:
            notes.append(
                f"{label}: {s['rows']:,} row(s) {what} ignored ({s['accounts']:,} account(s))"
            )
    return notes


def _quantiles_disc(values: np.ndarray, weights: np.ndarray, qs) -> list[int]:
    """Discrete quantiles (the smallest value with at least ``q`` of the weight at or below it)."""
    if not len(values):
        return [0 for _q in qs]
    order = np.argsort(values, kind="stable")
    values, cum = values[order], np.cumsum(weights[order])
    total = cum[-1]
    return [int(values[np.searchsorted(cum, max(int(np.ceil(q * total)), 1))]) for q in qs]


def _summary(engine, agg, by_status, columns, has_count, n_accounts) -> dict:
    rows = sum(s["rows"] for s in by_status.values())
    events = sum(s["n"] for s in by_status.values())
    ok = by_status.get(_OK, {"rows": 0, "n": 0, "accounts": 0, "event_names": 0})
    used = agg.filter(agg.status == _OK)
    per = used.group_by("pos").aggregate(r=used.rows.sum())
    spread = engine.fetch(per.group_by("r").aggregate(k=per.count()))
    q = _quantiles_disc(
        spread.column("r").to_numpy(zero_copy_only=False).astype(np.int64),
        spread.column("k").to_numpy(zero_copy_only=False).astype(np.int64),
        (0.1, 0.5, 0.9),
    )
    first, last = ok.get("first"), ok.get("last")
    return {
        "rows": int(rows),
        "events": int(events) if has_count else int(rows),
        "columns": ", ".join(columns),
        "first_date": None if first is None else first.isoformat(),
        "last_date": None if last is None else last.isoformat(),
        "rows_used": int(ok["rows"]),
        "events_used": int(ok["n"]),
        "accounts": int(ok["accounts"]),
        "accounts_without_events": int(n_accounts - ok["accounts"]),
        "event_names": int(ok["event_names"]),
        "per_account": {"p10": q[0], "median": q[1], "p90": q[2]},
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
