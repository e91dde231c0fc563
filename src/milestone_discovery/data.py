"""Read and validate a dataset: a folder of tables, or one wide table.

:func:`load_dataset` is the single entry point. It reads each table with
DuckDB (CSV) or pyarrow (Parquet), renames the user's columns to the standard
names of the input contract, converts types, checks every rule of the
contract and raises one :class:`~milestone_discovery.errors.DataValidationError`
listing all problems of all tables (table, column, rule, example rows).

Rows that are valid but cannot be used (usage dated after the account's
churn, events after ``as_of``) are not an error: they are ignored and counted
in :attr:`Dataset.notes`, never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import REQUIRED_TABLES, TABLE_COLUMNS, Config
from .errors import ConfigError, DataValidationError, MilestoneError, Problem

__all__ = ["Dataset", "load_dataset", "read_table"]

_INT_COLUMNS = {"accounts": ("seats", "company_size", "expansion"), "feature_usage": ("uses",)}
_DATE_COLUMNS = {
    "accounts": ("signup_date", "churn_date"),
    "feature_usage": ("first_used_at",),
    "activity": ("month",),
    "setup_steps": ("completed_at",),
}
_NULLABLE = {
    ("accounts", "churn_date"),
    ("accounts", "plan"),
    ("accounts", "expansion"),
    ("feature_usage", "uses"),
    ("feature_catalog", "description"),
    ("feature_catalog", "hypothesis"),
}
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}


@dataclass
class Dataset:
    """Typed, validated tables of one study.

    Attributes
    ----------
    accounts : pandas.DataFrame
        One row per account: ``account_id`` (str), ``signup_date``,
        ``churn_date`` (NaT while a customer), ``seats``, ``company_size``,
        ``plan`` ("unknown" when absent).
    feature_usage : pandas.DataFrame
        One row per account and feature ever used: ``account_id``, ``feature``,
        ``first_used_at``, ``uses``.
    feature_catalog, activity, setup_steps : pandas.DataFrame or None
        Optional tables; ``None`` when the dataset has none.
    as_of : datetime.date or None
        Analysis date (from the config, else the latest date in the data);
        ``None`` for a wide table without dates.
    kind : {"tables", "wide"}
        ``"wide"`` datasets carry ready-made ``flags`` and ``churned`` instead of
        dated usage: time windows cannot be enforced for them.
    flags : pandas.DataFrame or None
        Wide datasets only: index ``account_id``, one bool column per feature.
    churned : pandas.Series or None
        Wide datasets only: index ``account_id``, True when the account churned.
    notes : list of str
        What was ignored and why (counts), for the report.
    """

    accounts: pd.DataFrame
    feature_usage: pd.DataFrame | None
    as_of: dt.date | None
    feature_catalog: pd.DataFrame | None = None
    activity: pd.DataFrame | None = None
    setup_steps: pd.DataFrame | None = None
    kind: str = "tables"
    flags: pd.DataFrame | None = None
    churned: pd.Series | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables present, by name."""
        names = ("accounts", "feature_usage", "feature_catalog", "activity", "setup_steps")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def features(self) -> list[str]:
        """Every feature name, sorted."""
        if self.flags is not None:
            return sorted(self.flags.columns)
        names = set(self.feature_usage["feature"].unique())
        if self.feature_catalog is not None:
            names |= set(self.feature_catalog["feature"])
        return sorted(names)

    @property
    def activity_metrics(self) -> list[str]:
        """Numeric metric columns of the activity table."""
        if self.activity is None:
            return []
        return [c for c in self.activity.columns if c not in ("account_id", "month")]

    def subset(self, account_ids) -> Dataset:
        """A copy restricted to the given accounts (every table filtered)."""
        keep = pd.Index(account_ids)
        out = Dataset(
            accounts=self.accounts[self.accounts["account_id"].isin(keep)].reset_index(drop=True),
            feature_usage=None,
            as_of=self.as_of,
            feature_catalog=self.feature_catalog,
            kind=self.kind,
            source=self.source,
            notes=list(self.notes),
        )
        for name in ("feature_usage", "activity", "setup_steps"):
            table = getattr(self, name)
            if table is not None:
                setattr(out, name, table[table["account_id"].isin(keep)].reset_index(drop=True))
        if self.flags is not None:
            out.flags = self.flags.loc[self.flags.index.isin(keep)]
            out.churned = self.churned.loc[self.churned.index.isin(keep)]
        return out

    def summary(self) -> pd.DataFrame:
        """Rows, columns and date range of every table."""
        rows = []
        for name, table in self.tables.items():
            dates = [c for c in _DATE_COLUMNS.get(name, ()) if c in table.columns]
            lo = min((table[c].min() for c in dates if table[c].notna().any()), default=pd.NaT)
            hi = max((table[c].max() for c in dates if table[c].notna().any()), default=pd.NaT)
            rows.append(
                {
                    "table": name,
                    "rows": len(table),
                    "columns": ", ".join(map(str, table.columns)),
                    "first_date": None if pd.isna(lo) else lo.date().isoformat(),
                    "last_date": None if pd.isna(hi) else hi.date().isoformat(),
                }
            )
        if self.flags is not None:
            rows.append(
                {
                    "table": "flags (wide)",
                    "rows": len(self.flags),
                    "columns": f"{self.flags.shape[1]} features",
                    "first_date": None,
                    "last_date": None,
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (
            f"<div><strong>Dataset</strong> {html.escape(self.source)} "
            f"({self.kind}, as of {self.as_of.isoformat() if self.as_of else 'n/a'})"
            f"{self.summary().to_html(index=False, escape=True)}"
            f"{'<ul>' + notes + '</ul>' if notes else ''}</div>"
        )


# ----------------------------------------------------------------------------- reading
def read_table(path: str | Path) -> pd.DataFrame:
    """Read one CSV or Parquet file into pandas.

    CSV is read with DuckDB with every column as text, so that a bad value is
    reported by the validator (with its row) rather than silently guessed.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pandas()
        import duckdb

        with duckdb.connect() as con:
            return con.execute(
                "SELECT * FROM read_csv($1, all_varchar=true, header=true)", [str(path)]
            ).df()
    except MilestoneError:
        raise
    except Exception as exc:  # the reader's own message names the problem
        raise DataValidationError(
            [Problem(path.stem, None, f"cannot read {path.name}: {str(exc).splitlines()[0]}")]
        ) from None


def _find_table(folder: Path, name: str) -> Path | None:
    found = [
        folder / f"{name}{ext}"
        for ext in (".csv", ".parquet")
        if (folder / f"{name}{ext}").is_file()
    ]
    if len(found) > 1:
        raise DataValidationError(
            [Problem(name, None, f"both {name}.csv and {name}.parquet exist; keep one")]
        )
    return found[0] if found else None


def load_dataset(path: str | Path, config: Config | None = None) -> Dataset:
    """Load and validate a dataset.

    Parameters
    ----------
    path : str or Path
        A folder with ``accounts`` and ``feature_usage`` (and optionally
        ``feature_catalog``, ``activity``, ``setup_steps``) as CSV or Parquet,
        or a single CSV/Parquet wide table when ``config.wide`` is set.
    config : Config, optional
        Column names, ``as_of`` and the wide-table description.

    Returns
    -------
    Dataset

    Raises
    ------
    DataValidationError
        Listing every broken rule with table, column and example rows.
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

        return load_wide(path, config)
    if config.wide is not None:
        raise ConfigError(
            f"config has a [wide] section but {path} is a folder; pass the table file"
        )
    return _load_folder(path, config)


def _load_folder(folder: Path, config: Config) -> Dataset:
    problems: list[Problem] = []
    raw: dict[str, pd.DataFrame] = {}
    for name in TABLE_COLUMNS:
        file = _find_table(folder, name)
        if file is None:
            if name in REQUIRED_TABLES:
                problems.append(
                    Problem(
                        name,
                        None,
                        f"required table missing: no {name}.csv or {name}.parquet in {folder}",
                    )
                )
            continue
        raw[name] = read_table(file)
    if problems:
        raise DataValidationError(problems)

    tables: dict[str, pd.DataFrame] = {}
    for name, frame in raw.items():
        table, found = _typed_table(name, frame, config)
        problems += found
        if table is not None:
            tables[name] = table
    if problems:  # cross-table rules need clean tables
        raise DataValidationError(problems)

    problems += _cross_table_problems(tables)
    if problems:
        raise DataValidationError(problems)

    as_of = config.study.as_of or _latest_date(tables)
    dataset = Dataset(
        accounts=tables["accounts"],
        feature_usage=tables["feature_usage"],
        feature_catalog=tables.get("feature_catalog"),
        activity=tables.get("activity"),
        setup_steps=tables.get("setup_steps"),
        as_of=as_of,
        source=str(folder),
    )
    _apply_as_of_and_churn(dataset)
    return dataset


# ----------------------------------------------------------------------------- per table
def _typed_table(
    name: str, frame: pd.DataFrame, config: Config
) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Rename, check columns and convert types of one table."""
    required, optional = TABLE_COLUMNS[name]
    rename = {config.column(name, c): c for c in (*required, *optional)}
    if name == "activity":
        rename.update({v: k for k, v in config.columns.get("activity", {}).items()})
    frame = frame.rename(columns={str(c): str(c) for c in frame.columns}).rename(columns=rename)
    problems: list[Problem] = []
    missing = [c for c in required if c not in frame.columns]
    if missing:
        user = [config.column(name, c) for c in missing]
        problems.append(
            Problem(
                name,
                ", ".join(user),
                f"required column(s) missing; columns present: {list(frame.columns)}",
            )
        )
    if name != "activity":
        unknown = [c for c in frame.columns if c not in (*required, *optional)]
        if unknown:
            problems.append(
                Problem(
                    name,
                    ", ".join(unknown),
                    f"unknown column(s); expected {list(required) + list(optional)} "
                    f"(rename in [columns.{name}] of the config, or remove them)",
                )
            )
    if problems:
        return None, problems
    if frame.empty:
        return None, [Problem(name, None, "table is empty")]

    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        series = frame[col]
        nullable = (name, col) in _NULLABLE
        if col in _DATE_COLUMNS.get(name, ()):
            out[col], found = _parse_dates(name, col, series, nullable, frame)
        elif col in _INT_COLUMNS.get(name, ()) or (
            name == "activity" and col not in ("account_id", "month")
        ):
            out[col], found = _parse_counts(name, col, series, nullable, frame)
        else:
            out[col], found = _parse_text(name, col, series, nullable, frame)
        problems += found
    if not problems:
        problems += _table_rules(name, out)
    if problems:
        return None, _in_user_names(
            problems, {std: user for user, std in rename.items() if user != std}
        )
    return out, problems


def _in_user_names(problems: list[Problem], names: dict[str, str]) -> list[Problem]:
    """Report columns by the user's names when the config renamed them."""
    if not names:
        return problems
    for p in problems:
        if p.column in names:
            p.column = names[p.column]
        if p.rows is not None:
            p.rows = p.rows.rename(columns=names)
    return problems


def _offending(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    rows = frame.loc[np.asarray(mask)]
    rows.index = rows.index + 2  # 1-based, plus the header line: the CSV line number
    rows.index.name = "line"
    return rows


def _context(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return frame[[c for c in dict.fromkeys(("account_id", "feature", col)) if c in frame.columns]]


def _parse_text(table, col, series, nullable, frame):
    values = series.astype("string").str.strip()
    missing = values.isna() | (values == "")
    if not nullable and missing.any():
        rows = _offending(_context(frame, col), missing)
        return values, [Problem(table, col, "missing values", rows, int(missing.sum()))]
    return values.astype(object).where(~missing, None), []


def _parse_dates(table, col, series, nullable, frame):
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series, utc=True)
        missing = series.isna()
        bad = pd.Series(False, index=series.index)
    else:
        text = series.astype("string").str.strip()
        missing = text.isna() | (text == "")
        parsed = pd.to_datetime(text.where(~missing), format="ISO8601", errors="coerce", utc=True)
        bad = parsed.isna() & ~missing
    parsed = parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    problems = []
    if bad.any():
        problems.append(
            Problem(
                table,
                col,
                "unparseable dates (expected ISO format, e.g. 2025-01-31)",
                _offending(_context(frame, col), bad),
                int(bad.sum()),
            )
        )
    if not nullable and missing.any():
        problems.append(
            Problem(
                table,
                col,
                "missing dates",
                _offending(_context(frame, col), missing),
                int(missing.sum()),
            )
        )
    return parsed, problems


def _parse_counts(table, col, series, nullable, frame):
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numbers = series.astype("float64")
        missing = numbers.isna()
        bad = pd.Series(False, index=series.index)
    else:
        text = series.astype("string").str.strip()
        missing = text.isna() | (text == "")
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype("float64")
        bad = numbers.isna() & ~missing
    bad = bad | np.isinf(numbers)  # "inf" parses as a number but is no count
    problems = []
    context = _context(frame, col)
    if bad.any():
        problems.append(
            Problem(table, col, "not a number", _offending(context, bad), int(bad.sum()))
        )
    if missing.any() and not nullable and table != "activity":
        problems.append(
            Problem(table, col, "missing values", _offending(context, missing), int(missing.sum()))
        )
    negative = numbers < 0
    if negative.any():
        problems.append(
            Problem(
                table, col, "negative counts", _offending(context, negative), int(negative.sum())
            )
        )
    fractional = numbers.notna() & (numbers != np.floor(numbers))
    if fractional.any():
        problems.append(
            Problem(
                table,
                col,
                "counts must be whole numbers",
                _offending(context, fractional),
                int(fractional.sum()),
            )
        )
    if problems:  # the values are not used; casting unparsed or fractional ones would fail
        return numbers, problems
    if table == "activity":
        return numbers.fillna(0).astype("int64"), problems
    if missing.any():
        return numbers.astype("Int64"), problems
    return numbers.astype("int64"), problems


def _table_rules(name: str, t: pd.DataFrame) -> list[Problem]:
    """Rules inside one typed table."""
    p: list[Problem] = []

    def check(mask, column, rule, cols=None):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            p.append(
                Problem(
                    name, column, rule, _offending(t[cols] if cols else t, mask), int(mask.sum())
                )
            )

    if name == "accounts":
        check(t["account_id"].duplicated(keep=False), "account_id", "duplicate account_id")
        check(
            t["seats"] < 1, "seats", "seats must be at least 1 (utilization is per purchased seat)"
        )
        check(t["company_size"] < 1, "company_size", "company_size (employees) must be at least 1")
        check(
            t["churn_date"].notna() & (t["churn_date"] < t["signup_date"]),
            "churn_date",
            "churn_date before signup_date",
        )
        if "expansion" in t:
            check(
                t["expansion"].notna() & ~t["expansion"].isin([0, 1]),
                "expansion",
                "expansion must be 0 or 1",
            )
    elif name == "feature_usage":
        check(
            t.duplicated(["account_id", "feature"], keep=False),
            "feature",
            "more than one row for the same account and feature (one row per account and feature, with its first use)",
        )
        if "uses" in t:
            check(
                t["uses"].notna() & (t["uses"] < 1),
                "uses",
                "uses must be at least 1 on a usage row",
            )
    elif name == "feature_catalog":
        check(t["feature"].duplicated(keep=False), "feature", "feature listed more than once")
        if "hypothesis" in t:
            check(
                t["hypothesis"].notna() & ~t["hypothesis"].isin(["basic", "mature"]),
                "hypothesis",
                "hypothesis must be 'basic' or 'mature'",
            )
    elif name == "activity":
        check(t["month"].dt.day != 1, "month", "month must be the first day of a month")
        check(
            t.duplicated(["account_id", "month"], keep=False),
            "month",
            "more than one row for the same account and month",
        )
    elif name == "setup_steps":
        check(
            t.duplicated(["account_id", "step"], keep=False),
            "step",
            "step completed more than once for the same account (keep the first completion)",
        )
    return p


def _cross_table_problems(tables: dict[str, pd.DataFrame]) -> list[Problem]:
    accounts = tables["accounts"]
    known = pd.Index(accounts["account_id"])
    signup = accounts.set_index("account_id")["signup_date"]
    problems: list[Problem] = []
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = tables.get(name)
        if t is None:
            continue
        unknown = ~t["account_id"].isin(known)
        if unknown.any():
            problems.append(
                Problem(
                    name,
                    "account_id",
                    "rows for accounts that are not in 'accounts'",
                    _offending(t, unknown),
                    int(unknown.sum()),
                )
            )
            continue
        start = signup.reindex(t["account_id"]).to_numpy()
        if name == "activity":  # a month row may start before the signup day, not before its month
            start = pd.DatetimeIndex(start).to_period("M").to_timestamp().to_numpy()
        early = t[date_col].to_numpy() < start
        if early.any():
            problems.append(
                Problem(
                    name,
                    date_col,
                    f"{date_col} before the account's signup_date",
                    _offending(t, early),
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
                    "catalog names features that never appear in feature_usage",
                    _offending(catalog, unknown),
                    int(unknown.sum()),
                )
            )
    return problems


def _latest_date(tables: dict[str, pd.DataFrame]) -> dt.date:
    latest = max(
        t[c].max()
        for name, t in tables.items()
        for c in _DATE_COLUMNS.get(name, ())
        if t[c].notna().any()
    )
    return latest.date()


def _apply_as_of_and_churn(ds: Dataset) -> None:
    """Ignore, with counts in ``ds.notes``, rows that cannot be known at ``as_of``.

    Usage dated after the account's churn is ignored rather than rejected:
    product logs often keep events (exports, admin clean-up) after a
    cancellation, and such rows would leak the outcome.
    """
    as_of = pd.Timestamp(ds.as_of)
    acc = ds.accounts
    late_signup = acc["signup_date"] > as_of
    if late_signup.any():
        ds.notes.append(
            f"{int(late_signup.sum())} account(s) signed up after as_of {ds.as_of} and are ignored"
        )
        ds.accounts = acc = acc.loc[~late_signup].reset_index(drop=True)
    future_churn = acc["churn_date"] > as_of
    if future_churn.any():
        acc.loc[future_churn, "churn_date"] = pd.NaT
        ds.notes.append(
            f"{int(future_churn.sum())} churn date(s) after as_of {ds.as_of} treated as still a customer at as_of"
        )
    churn = acc.set_index("account_id")["churn_date"]
    for name, date_col in (
        ("feature_usage", "first_used_at"),
        ("activity", "month"),
        ("setup_steps", "completed_at"),
    ):
        t = getattr(ds, name)
        if t is None:
            continue
        keep = t["account_id"].isin(acc["account_id"]).to_numpy()
        after_as_of = (t[date_col] > as_of).to_numpy() & keep
        churned_at = churn.reindex(t["account_id"]).to_numpy()
        after_churn = (
            keep & ~after_as_of & ~pd.isna(churned_at) & (t[date_col].to_numpy() > churned_at)
        )
        if name == "activity":  # the churn month itself is still a month of activity
            month_of_churn = pd.DatetimeIndex(churned_at).to_period("M").to_timestamp().to_numpy()
            after_churn = (
                keep
                & ~after_as_of
                & ~pd.isna(churned_at)
                & (t[date_col].to_numpy() > month_of_churn)
            )
        n_dropped_accounts = int((~keep).sum())
        if after_as_of.any():
            ds.notes.append(
                f"{name}: {int(after_as_of.sum())} row(s) dated after as_of {ds.as_of} ignored"
            )
        if after_churn.any():
            ds.notes.append(
                f"{name}: {int(after_churn.sum())} row(s) dated after the account's churn_date ignored"
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
