"""The generated tables plus their planted truth, and how they are written.

:meth:`SyntheticDataset.write` writes the five tables; :meth:`SyntheticDataset.write_events`
writes the same truth as an event log (``accounts``, ``feature_catalog`` and
``events``, one row per event) from which the toolkit derives the same tables.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The ``[events]`` config that maps the events of :meth:`SyntheticDataset.write_events`
#: back to the tables (features, the two activity metrics, setup steps).
EVENTS_CONFIG = {
    "features": "*",
    "setup_prefix": "setup:",
    "metrics": {
        "conversations": ["conversation_started"],
        "resolved_conversations": ["conversation_resolved"],
    },
}
#: Activity metric -> the event counted by it.
_METRIC_EVENTS = {
    "conversations": "conversation_started",
    "resolved_conversations": "conversation_resolved",
}


@dataclass
class SyntheticDataset:
    """The five input tables plus the planted truth.

    Attributes
    ----------
    accounts, feature_usage, feature_catalog, activity, setup_steps : pandas.DataFrame
        Tables in the project's input format (dates as ``datetime64`` values).
    truth : dict
        JSON-serialisable description of everything that was planted.
    """

    accounts: pd.DataFrame
    feature_usage: pd.DataFrame
    feature_catalog: pd.DataFrame
    activity: pd.DataFrame
    setup_steps: pd.DataFrame
    truth: dict

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the five tables keyed by their file stem.

        Returns
        -------
        dict of str to pandas.DataFrame
        """
        return {
            "accounts": self.accounts,
            "feature_usage": self.feature_usage,
            "feature_catalog": self.feature_catalog,
            "activity": self.activity,
            "setup_steps": self.setup_steps,
        }

    def to_dataset(self):
        """The tables as an in-memory :class:`~milestone_discovery.data.Dataset` (as of the truth's date).

        Skips writing and reading files, for benchmarks and tests; the
        tables are the same as :meth:`write` would produce.

        Returns
        -------
        milestone_discovery.data.Dataset
        """
        import datetime

        from ..data import Dataset

        return Dataset(
            accounts=self.accounts.assign(plan=self.accounts["plan"].astype(object)),
            feature_usage=self.feature_usage,
            feature_catalog=self.feature_catalog,
            activity=self.activity,
            setup_steps=self.setup_steps,
            as_of=datetime.date.fromisoformat(self.truth["as_of"]),
            source="synthetic (in memory)",
        )

    def write(self, out, fmt: str = "csv") -> pathlib.Path:
        """Write the tables and ``truth.json`` to a folder.

        Parameters
        ----------
        out : str or os.PathLike
            Destination folder; created if missing.
        fmt : {"csv", "parquet"}
            File format of the tables.  CSV dates are written as
            ``YYYY-MM-DD`` and missing dates as empty fields.

        Returns
        -------
        pathlib.Path
            The destination folder.
        """
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
        import pyarrow as pa

        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, frame in self.tables().items():
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if fmt == "csv":
                import pyarrow.csv as pacsv

                table = _dates_to_date32(table)
                pacsv.write_csv(table, out / f"{name}.csv")
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, out / f"{name}.parquet")
        (out / "truth.json").write_text(
            json.dumps(self.truth, sort_keys=True, indent=2) + "\n", encoding="utf-8"
        )
        return out

    # -- events ------------------------------------------------------------------------
    def events(
        self, *, max_rows: int | None = None, seed: int = 0, accounts: slice | None = None
    ) -> pd.DataFrame:
        """The planted truth as an event log: one row per event.

        Each feature-usage row becomes ``uses`` events named after the feature:
        the first at ``first_used_at``, the others on random days between it
        and the end of the account (its churn date, else ``as_of``); each
        activity row becomes ``conversations`` ``conversation_started`` and
        ``resolved_conversations`` ``conversation_resolved`` events on random
        days of its month (inside the account's life); each setup step one
        ``setup:<step>`` event. Times of day are random. Reading them with
        :data:`EVENTS_CONFIG` gives back ``feature_usage``, ``activity`` (months
        with no conversation at all are absent: they count as 0) and
        ``setup_steps`` exactly.

        Parameters
        ----------
        max_rows : int, optional
            At most this many rows per source row (feature usage, or metric of
            an activity month): the first ``max_rows - 1`` are single events and
            the last carries the rest in ``count`` (a rollup row). ``None``
            (default): every event is its own row and there is no ``count``
            column (about 10,000 rows per account: the planted usage is heavy).
        seed : int, default 0
            Seed of the days and times drawn.
        accounts : slice, optional
            The accounts (positions in ``self.accounts``) to write events for.

        Returns
        -------
        pandas.DataFrame
            ``account_id``, ``event``, ``timestamp`` (``datetime64[s]``) and,
            with ``max_rows``, ``count``; sorted by time.
        """
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        return _events_of(self, accounts or slice(None), max_rows, seed).to_pandas()

    def write_events(
        self,
        out,
        fmt: str = "parquet",
        *,
        max_rows: int | None = None,
        seed: int = 0,
        chunk_accounts: int = 20_000,
    ) -> pathlib.Path:
        """Write the truth as an event log: ``accounts``, ``feature_catalog``, ``events``.

        Also writes ``truth.json`` and ``study.toml`` (the ``[events]`` mapping,
        :data:`EVENTS_CONFIG`). Events are generated and written
        ``chunk_accounts`` accounts at a time, so any size fits in memory.

        Parameters
        ----------
        out : str or os.PathLike
            Destination folder; created if missing.
        fmt : {"parquet", "csv"}
            ``"parquet"``: ``events/part-00000.parquet``, ... (a folder of
            Parquet files); ``"csv"``: one ``events.csv`` (timestamps as
            ``YYYY-MM-DD HH:MM:SS``). ``accounts`` and ``feature_catalog`` are
            written in the same format.
        max_rows, seed
            See :meth:`events`.
        chunk_accounts : int, default 20000
            Accounts per chunk (and per Parquet file).

        Returns
        -------
        pathlib.Path
            The destination folder.
        """
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {max_rows}")
        import pyarrow as pa

        out = pathlib.Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("accounts", "feature_catalog"):
            table = pa.Table.from_pandas(getattr(self, name), preserve_index=False)
            if fmt == "csv":
                import pyarrow.csv as pacsv

                pacsv.write_csv(_dates_to_date32(table), out / f"{name}.csv")
            else:
                import pyarrow.parquet as pq

                pq.write_table(table, out / f"{name}.parquet")
        n = len(self.accounts)
        chunks = [slice(i, min(i + chunk_accounts, n)) for i in range(0, n, chunk_accounts)]
        if fmt == "parquet":
            import pyarrow.parquet as pq

            folder = out / "events"
            folder.mkdir(exist_ok=True)
            for old in folder.glob("part-*.parquet"):
                old.unlink()
            for i, chunk in enumerate(chunks):
                pq.write_table(
                    _events_of(self, chunk, max_rows, seed), folder / f"part-{i:05d}.parquet"
                )
        else:
            import pyarrow.csv as pacsv

            writer = None
            try:
                for chunk in chunks:
                    table = _events_of(self, chunk, max_rows, seed)
                    table = pa.table(
                        [
                            c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                            for c in table.columns
                        ],
                        names=table.column_names,
                    )
                    if writer is None:
                        writer = pacsv.CSVWriter(out / "events.csv", table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        (out / "truth.json").write_text(
            json.dumps(self.truth, sort_keys=True, indent=2) + "\n", encoding="utf-8"
        )
        (out / "study.toml").write_text(_events_toml(), encoding="utf-8")
        return out


def _events_toml() -> str:
    metrics = "\n".join(f'{m} = ["{e}"]' for m, e in _METRIC_EVENTS.items())
    return (
        "# How the events of this folder map to features, metrics and setup steps\n"
        "[events]\n"
        f'features = "{EVENTS_CONFIG["features"]}"\n'
        f'setup_prefix = "{EVENTS_CONFIG["setup_prefix"]}"\n\n'
        f"[events.metrics]\n{metrics}\n"
    )


def _days(values) -> np.ndarray:
    """Dates as int64 days since 1970-01-01 (NaT as the smallest int64)."""
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def _spread(rng, counts, max_rows):
    """Rows per source row and the ``count`` of each row (the last row takes the rest)."""
    counts = np.asarray(counts, dtype=np.int64)
    k = counts if max_rows is None else np.minimum(counts, max_rows)
    owner = np.repeat(np.arange(len(counts)), k)
    start = np.cumsum(k) - k
    rank = np.arange(len(owner)) - start[owner]
    weight = np.ones(len(owner), dtype=np.int64)
    last = rank == k[owner] - 1
    weight[last] = counts[owner[last]] - k[owner[last]] + 1
    return owner, rank, weight


def _events_of(data: SyntheticDataset, chunk: slice, max_rows: int | None, seed: int):
    """The events of the accounts ``chunk`` as a pyarrow Table (see :meth:`SyntheticDataset.events`)."""
    import pyarrow as pa

    acc = data.accounts.iloc[chunk]
    ids = acc["account_id"].to_numpy(dtype=object)
    pos = pd.Index(ids)
    as_of = _days([data.truth["as_of"]])[0]
    signup = _days(acc["signup_date"])
    churn = acc["churn_date"].to_numpy(dtype="datetime64[D]")
    end = np.where(np.isnat(churn), as_of, churn.astype(np.int64))
    rng = np.random.default_rng([seed, chunk.start or 0])
    names, accs, days, weights = [], [], [], []

    fu = data.feature_usage
    fu = fu[fu["account_id"].isin(pos)]
    a = pos.get_indexer(fu["account_id"])
    first = _days(fu["first_used_at"])
    owner, rank, weight = _spread(rng, fu["uses"], max_rows)
    lo, hi = first[owner], np.maximum(end[a][owner], first[owner])
    day = np.where(rank == 0, lo, lo + np.floor(rng.random(len(owner)) * (hi - lo + 1)))
    names.append(fu["feature"].to_numpy(dtype=object)[owner])
    accs.append(a[owner])
    days.append(day.astype(np.int64))
    weights.append(weight)

    act = data.activity
    act = act[act["account_id"].isin(pos)]
    a = pos.get_indexer(act["account_id"])
    month = act["month"].to_numpy(dtype="datetime64[D]")
    month_end = (month.astype("datetime64[M]") + 1).astype("datetime64[D]").astype(np.int64) - 1
    lo_all = np.maximum(month.astype(np.int64), signup[a])
    hi_all = np.maximum(np.minimum(month_end, end[a]), lo_all)
    for metric, event in _METRIC_EVENTS.items():
        owner, _rank, weight = _spread(rng, act[metric], max_rows)
        lo, hi = lo_all[owner], hi_all[owner]
        day = lo + np.floor(rng.random(len(owner)) * (hi - lo + 1)).astype(np.int64)
        names.append(np.full(len(owner), event, dtype=object))
        accs.append(a[owner])
        days.append(day)
        weights.append(weight)

    st = data.setup_steps
    st = st[st["account_id"].isin(pos)]
    names.append(("setup:" + st["step"].astype(str)).to_numpy(dtype=object))
    accs.append(pos.get_indexer(st["account_id"]))
    days.append(_days(st["completed_at"]))
    weights.append(np.ones(len(st), dtype=np.int64))

    name = np.concatenate(names)
    account = np.concatenate(accs)
    seconds = np.concatenate(days) * 86400 + rng.integers(0, 86400, len(name))
    order = np.lexsort((account, seconds))
    labels, codes = np.unique(name.astype(str), return_inverse=True)
    columns = {
        "account_id": pa.DictionaryArray.from_arrays(
            pa.array(account[order].astype(np.int32)), pa.array(ids.astype(str))
        ),
        "event": pa.DictionaryArray.from_arrays(
            pa.array(codes[order].astype(np.int32)), pa.array(labels)
        ),
        "timestamp": pa.array(seconds[order].astype("datetime64[s]")),
    }
    if max_rows is not None:
        columns["count"] = pa.array(np.concatenate(weights)[order])
    return pa.table(columns)


def _dates_to_date32(table):
    import pyarrow as pa

    cols = []
    for col, fld in zip(table.columns, table.schema, strict=True):
        if pa.types.is_timestamp(fld.type):
            col = col.cast(pa.date32())
        cols.append(col)
    return pa.table(cols, names=table.column_names)
