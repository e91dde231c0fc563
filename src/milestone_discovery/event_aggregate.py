"""The aggregate of the events: how it keys them, and what it tells about them.

:func:`milestone_discovery.events.derive_tables` gives every event row a
status (used, ignored for a reason, or an error) and aggregates the rows per
account, event, status and month, in the engine, in one read of the events.

* :class:`EventKeys` (:func:`event_keys`): the aggregate keys events of a
  typed source (Parquet, a database table) by a code, a small whole number,
  much faster to group and sort than text; a CSV file or a query is keyed
  by name (reading its names first would parse it twice).

The counts behind the notes and the summary are read from that aggregate in
two small queries, never from the events again:

* :func:`key_counts`: per status and event (a few hundred rows at most for a
  product's events): rows, events (sum of ``count``), dates, time-zone-aware
  and early rows, per status and per event name;
* :func:`account_counts`: per status, the accounts (and unknown ids) the rows
  belong to, from a per-account table kept in the engine (``__per``), which
  also gives each account's rows (the spread in the summary) and latest event
  (``last_seen``, for the default ``as_of``).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from .engines import engine_for
from .event_rows import EventSource, read_error

__all__ = [
    "AFTER_AS_OF",
    "AFTER_CHURN",
    "BEFORE_SIGNUP",
    "EARLY",
    "IGNORED",
    "OK",
    "UNKNOWN",
    "ZERO",
    "EventKeys",
    "account_counts",
    "as_int64",
    "event_keys",
    "ignored_notes",
    "key_counts",
    "summary",
    "summary_note",
]

#: Status of a row: 0 used; 1..5 ignored and counted; 6 used, dated in the signup month
#: before the signup day (early: dated at signup, counted); >= 10 errors (a broken rule).
OK, UNKNOWN, BEFORE_SIGNUP, AFTER_AS_OF, AFTER_CHURN, ZERO, EARLY = range(7)
IGNORED = {
    UNKNOWN: "of account_id(s) not in 'accounts'",
    BEFORE_SIGNUP: "dated before the calendar month of the account's signup_date",
    AFTER_AS_OF: "dated after as_of",
    AFTER_CHURN: "dated after the account's churn_date",
    ZERO: "with count 0 (no event happened)",
}


class EventKeys:
    """How the aggregate keys the events: by code (position in the sorted names) or by name.

    Grouping and sorting by a small whole number is much faster than by text
    (the aggregate has one group per account, event and month). The codes
    follow the order of the names, so ordering by code orders by name.

    Parameters
    ----------
    names : list of str or None
        Every event name of the source (``None``: the events are keyed by name).

    Attributes
    ----------
    coded : bool
    names : list of str or None
        Sorted: a code is a position in it.
    """

    def __init__(self, names: list[str] | None = None):
        self.coded = names is not None
        self.names = None if names is None else sorted(names)
        self._code = {} if names is None else {n: i for i, n in enumerate(self.names)}

    def keys(self, names) -> list:
        """The keys of these event names (names that never occur have none when coded)."""
        if not self.coded:
            return sorted(set(names))
        return sorted({self._code[n] for n in names if n in self._code})

    def name(self, key):
        """The event name of a key (a code or a name)."""
        return self.names[key] if self.coded and key is not None else key

    def table(self):
        """``event`` (name) and ``key`` (int32 code) as an Arrow table, for the engine."""
        import pyarrow as pa

        return pa.table(
            {
                "event": pa.array(self.names, type=pa.string()),
                "key": pa.array(range(len(self.names)), type=pa.int32()),
            }
        )


def event_keys(con, source: EventSource, p) -> EventKeys:
    """The event keys of a source: coded when its distinct names are cheap to read.

    Parameters
    ----------
    con : milestone_discovery.engines.Engine
        Or a connection :func:`~milestone_discovery.engines.engine_for` takes.
    source : EventSource
        A typed file or table (Parquet, a folder of it, a database table) is
        coded: one read of its ``event`` column. A CSV file or a query is
        keyed by name (reading its names would parse it twice).
    p : ibis.Table
        The typed rows (:func:`~milestone_discovery.event_rows.typed_rows`).

    Returns
    -------
    EventKeys

    Raises
    ------
    milestone_discovery.event_rows.EventReadError
        See :func:`~milestone_discovery.event_rows.read_rows`.
    """
    if source.kind not in ("parquet", "folder", "table"):  # typed: names read cheaply
        return EventKeys()
    names = p.select("event").filter(p.event.notnull()).distinct()
    try:
        column = engine_for(con).fetch(names).column("event")
    except Exception as exc:
        raise read_error(source, exc) from exc
    return EventKeys(column.to_pylist())


def _used(status):
    """``status`` with early rows counted as used (:data:`EARLY` as :data:`OK`)."""
    return ibis.cases((status == EARLY, OK), else_=status)


def as_int64(value):
    """``value`` cast to int64 in the engine even where Ibis types it so (DuckDB sums: int128)."""
    import ibis.expr.operations as ops

    return ops.Cast(value, ibis.dtype("int64")).to_expr()


def key_counts(engine, agg, keys) -> tuple[dict[int, dict], pd.DataFrame]:
    """Per status and per event name: rows, events, dates (one query on the aggregate).

    Parameters
    ----------
    engine : milestone_discovery.engines.Engine
    agg : ibis.Table
        The aggregate (``status``, ``key``, ``rows``, ``n``, ``first``,
        ``last`` and, where timestamps may be zoned, ``aware``).
    keys : milestone_discovery.event_rows.EventKeys
        How ``key`` names the events.

    Returns
    -------
    by_status : dict of int to dict
        Per status (early rows are used: :data:`OK`, counted as ``early``):
        ``rows``, ``n`` (sum of ``count``), ``early``, ``aware``,
        ``event_names``, ``first``, ``last``.
    names : pandas.DataFrame
        ``event``, ``rows`` (all rows), ``used`` (rows used).
    """
    counts = agg.group_by(status=_used(agg.status), key=agg.key).aggregate(
        rows=as_int64(agg.rows.sum()),
        early=as_int64(agg.rows.sum(where=agg.status == EARLY)),
        n=as_int64(agg.n.sum()),
        aware=as_int64(agg.aware.sum()) if "aware" in agg.columns else ibis.literal(0, "int64"),
        first=agg.first.min(),
        last=agg["last"].max(),
    )
    by_status: dict[int, dict] = {}
    names: dict = {}
    for row in engine.fetch(counts).to_pylist():
        s = by_status.setdefault(
            int(row["status"]),
            {
                "rows": 0,
                "n": 0,
                "early": 0,
                "aware": 0,
                "event_names": 0,
                "first": None,
                "last": None,
            },
        )
        for k in ("rows", "n", "early", "aware"):
            s[k] += int(row[k] or 0)
        s["event_names"] += row["key"] is not None
        if row["first"] is not None and (s["first"] is None or row["first"] < s["first"]):
            s["first"] = row["first"]
        if row["last"] is not None and (s["last"] is None or row["last"] > s["last"]):
            s["last"] = row["last"]
        if row["key"] is not None:
            name = names.setdefault(keys.name(row["key"]), [0, 0])
            name[0] += int(row["rows"] or 0)
            name[1] += int(row["rows"] or 0) if row["status"] == OK else 0
    frame = pd.DataFrame(
        [(event, rows, used) for event, (rows, used) in names.items()],
        columns=["event", "rows", "used"],
    ).astype({"event": "str", "rows": np.int64, "used": np.int64})
    return by_status, frame


def account_counts(engine, agg, by_status: dict[int, dict], made: list[str]):
    """Per status, the accounts the rows belong to; kept in the engine per account as ``__per``.

    Parameters
    ----------
    engine : milestone_discovery.engines.Engine
    agg : ibis.Table
        The aggregate.
    by_status : dict of int to dict
        From :func:`key_counts`: ``accounts``, ``early_accounts`` and ``ids``
        (unknown ids) are added to it.
    made : list of str
        Tables made in the engine (``__per`` is added: the caller drops them).

    Returns
    -------
    per : ibis.Table
        ``status``, ``pos``, ``rows``, ``early``, ``last``: one row per status
        (early rows as used) and account (unknown accounts: one row, ``pos`` null).
    unknown_sample : list of str
        The first three unknown ids.
    """
    per = agg.group_by(status=_used(agg.status), pos=agg.pos).aggregate(
        rows=as_int64(agg.rows.sum()),
        early=as_int64(agg.rows.sum(where=agg.status == EARLY)),
        last=agg["last"].max(),
    )
    per = engine.materialize("__per", per)
    made.append("__per")
    counts = per.group_by("status").aggregate(
        accounts=per.pos.count(), early_accounts=per.pos.count(where=per.early > 0)
    )
    for row in engine.fetch(counts).to_pylist():
        s = by_status[int(row.pop("status"))]
        s.update({k: int(v or 0) for k, v in row.items()}, ids=0)
    unknown_sample = []
    if by_status.get(UNKNOWN, {}).get("rows"):  # few rows: read from the aggregate
        unknown = agg.filter(agg.status == UNKNOWN).select("unknown_id").distinct()
        counted = unknown.aggregate(ids=unknown.count())
        by_status[UNKNOWN]["ids"] = int(engine.fetch(counted).column("ids")[0].as_py())
        sample = engine.fetch(unknown.order_by("unknown_id").limit(3))
        unknown_sample = sample.column("unknown_id").to_pylist()
    return per, unknown_sample


def ignored_notes(label, by_status, unknown_sample) -> list[str]:
    """The notes of the rows kept early and of every row ignored, by rule."""
    notes = []
    ok = by_status.get(OK, {})
    if ok.get("early"):
        notes.append(
            f"{label}: {ok['early']:,} row(s) dated in the signup month but before the signup "
            f"day ({ok['early_accounts']:,} account(s)) kept: counted in month 0 of metrics, "
            "dated at signup for features and setup steps (a monthly rollup is dated on the 1st)"
        )
    for code, what in IGNORED.items():
        s = by_status.get(code)
        if not s or not s["rows"]:
            continue
        if code == UNKNOWN:
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


def summary(engine, per, by_status, columns, has_count, n_accounts) -> dict:
    """The events summary (:attr:`milestone_discovery.events.EventTables.summary`).

    Parameters
    ----------
    engine : milestone_discovery.engines.Engine
    per : ibis.Table
        From :func:`account_counts`.
    by_status : dict of int to dict
        From :func:`key_counts` and :func:`account_counts`.
    columns : list of str
        The columns of the events.
    has_count : bool
    n_accounts : int
        Rows of ``accounts``.

    Returns
    -------
    dict
    """
    rows = sum(s["rows"] for s in by_status.values())
    events = sum(s["n"] for s in by_status.values())
    ok = by_status.get(OK, {"rows": 0, "n": 0, "accounts": 0, "event_names": 0})
    used = per.filter(per.status == OK)
    spread = engine.fetch(used.group_by("rows").aggregate(k=used.count()))
    q = _quantiles_disc(
        spread.column("rows").to_numpy(zero_copy_only=False).astype(np.int64),
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


def summary_note(label, s, has_count) -> str:
    """The first note: rows, dates, event names, accounts and rows per account."""
    events = f" ({s['events']:,} events, with count)" if has_count else ""
    per = s["per_account"]
    return (
        f"{label}: {s['rows']:,} rows{events}; {s['rows_used']:,} used: "
        f"{s['first_date']} to {s['last_date']}, {s['event_names']} event names, "
        f"{s['accounts']:,} accounts (rows per account: median {per['median']:,}, "
        f"10% {per['p10']:,}, 90% {per['p90']:,}); "
        f"{s['accounts_without_events']:,} account(s) without events"
    )
