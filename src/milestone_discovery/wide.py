"""Read a single wide table: one row per account, one yes/no column per feature.

Data that is already flattened (for example the IBM Telco churn table) has
no dates, so the time windows of the study cannot be enforced: the flags and
the outcome are taken as they are, and the report says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .data import FALSE_VALUES, TRUE_VALUES, Dataset, offending_rows, read_table
from .errors import DataValidationError, Problem

__all__ = ["load_wide"]


def load_wide(path: str | Path, config: Config) -> Dataset:
    """Load a wide table described by ``config.wide``.

    Parameters
    ----------
    path : str or Path
        CSV or Parquet file.
    config : Config
        Must have a ``wide`` section naming the id, outcome and flag columns.

    Returns
    -------
    Dataset
        With ``kind="wide"``, ``flags`` and ``churned`` filled in.
    """
    path = Path(path)
    wide = config.wide
    table = path.stem
    frame = read_table(path).reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    problems: list[Problem] = []

    named = [wide.id, wide.outcome, *wide.flags, *wide.expand] + [
        c for c in (wide.plan, wide.size, wide.seats) if c
    ]
    missing = [c for c in dict.fromkeys(named) if c not in frame.columns]
    if missing:
        raise DataValidationError(
            [
                Problem(
                    table,
                    ", ".join(missing),
                    f"column(s) named in the config's [wide] section not found; columns present: {list(frame.columns)}",
                )
            ]
        )
    if frame.empty:
        raise DataValidationError([Problem(table, None, "table is empty")])

    ids = frame[wide.id].astype("string").str.strip()
    dup = ids.duplicated(keep=False) | ids.isna() | (ids == "")
    if dup.any():
        problems.append(
            Problem(
                table,
                wide.id,
                "duplicate or missing account id",
                offending_rows(frame[[wide.id]], dup),
                int(dup.sum()),
            )
        )

    true_values = TRUE_VALUES | {v.strip().lower() for v in wide.true_values}
    false_values = FALSE_VALUES | {v.strip().lower() for v in wide.false_values}
    flags = {}
    for col in wide.flags:
        text = frame[col].astype("string").str.strip().str.lower()
        is_true, is_false = text.isin(true_values), text.isin(false_values)
        bad = ~(is_true | is_false)
        if bad.any():
            seen = sorted(set(frame.loc[bad.to_numpy(), col].astype(str)))[:5]
            problems.append(
                Problem(
                    table,
                    col,
                    f"flag values not recognised as yes/no: {seen}; map them with true_values/false_values in [wide]",
                    offending_rows(frame[[wide.id, col]], bad),
                    int(bad.sum()),
                )
            )
        flags[col] = is_true.to_numpy(dtype=bool)
    for col in wide.expand:
        text = frame[col].astype("string").str.strip()
        missing_level = text.isna() | (text == "")
        if missing_level.any():
            problems.append(
                Problem(
                    table,
                    col,
                    "missing values in a column to expand",
                    offending_rows(frame[[wide.id, col]], missing_level),
                    int(missing_level.sum()),
                )
            )
        skip = {v.strip().lower() for v in wide.skip_levels}
        for level in sorted(text.dropna().unique()):
            if level.lower() in skip:
                continue
            flags[f"{col}={level}"] = (text == level).fillna(False).to_numpy(dtype=bool)

    outcome = frame[wide.outcome].astype("string").str.strip().str.lower()
    churned = outcome.isin({v.strip().lower() for v in wide.churned_values})
    unknown_outcome = outcome.isna() | (outcome == "")
    if unknown_outcome.any():
        problems.append(
            Problem(
                table,
                wide.outcome,
                "missing outcome values",
                offending_rows(frame[[wide.id, wide.outcome]], unknown_outcome),
                int(unknown_outcome.sum()),
            )
        )
    if outcome.dropna()[~churned].nunique() > 1:
        values = sorted(outcome.dropna()[~churned].unique())
        problems.append(
            Problem(
                table,
                wide.outcome,
                f"outcome has several values besides the churned ones {wide.churned_values}: {values[:5]}; "
                "list every value that means churned in churned_values",
            )
        )

    accounts = pd.DataFrame({"account_id": ids.astype(object)})
    accounts["signup_date"] = pd.NaT
    accounts["churn_date"] = pd.NaT
    for std, col in (("company_size", wide.size), ("seats", wide.seats)):
        if col:
            values = pd.to_numeric(frame[col].astype("string").str.strip(), errors="coerce")
            bad = values.isna() | (values <= 0)
            if bad.any():
                problems.append(
                    Problem(
                        table,
                        col,
                        f"{std} must be a positive number",
                        offending_rows(frame[[wide.id, col]], bad),
                        int(bad.sum()),
                    )
                )
            accounts[std] = values.to_numpy(dtype=float)
        else:
            accounts[std] = np.nan
    accounts["plan"] = (
        frame[wide.plan].astype("string").fillna("unknown").astype(object)
        if wide.plan
        else "unknown"
    )

    catalog = None
    if wide.catalog:
        unknown = sorted(set(wide.catalog) - set(flags))
        if unknown:
            problems.append(
                Problem(
                    table,
                    ", ".join(unknown),
                    "[wide.catalog] names features that are not flag columns",
                )
            )
        catalog = pd.DataFrame(
            {"feature": list(wide.catalog), "category": list(wide.catalog.values())}
        )
    if problems:
        raise DataValidationError(problems)

    index = pd.Index(accounts["account_id"], name="account_id")
    flag_frame = pd.DataFrame(flags, index=index)
    notes = [
        "wide table: flags and outcome taken as given; observation window and horizon cannot be enforced (no dates)"
    ]
    return Dataset(
        accounts=accounts,
        feature_usage=None,
        feature_catalog=catalog,
        as_of=config.study.as_of,
        kind="wide",
        flags=flag_frame,
        churned=pd.Series(churned.to_numpy(dtype=bool), index=index, name="churned"),
        source=str(path),
        notes=notes,
    )
