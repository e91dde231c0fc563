"""The generated tables plus their planted truth, and how they are written."""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import pandas as pd


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


def _dates_to_date32(table):
    import pyarrow as pa

    cols = []
    for col, fld in zip(table.columns, table.schema, strict=True):
        if pa.types.is_timestamp(fld.type):
            col = col.cast(pa.date32())
        cols.append(col)
    return pa.table(cols, names=table.column_names)
