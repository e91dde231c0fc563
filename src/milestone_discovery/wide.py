"""Read a single wide table: one row per account, one column per feature.

Data that is already flattened (for example the IBM Telco churn table) has
no dates, so the time windows of the study cannot be enforced: the flags and
the outcome are taken as they are, and the report says so.

The ``[wide]`` section of the config (:class:`~milestone_discovery.config.WideConfig`)
says what each column is:

* ``flags``: yes/no feature columns (blank cells are an error naming the
  rows, or "not used" with ``missing = "false"``);
* ``counts``: numeric feature columns; their "``>= t``" threshold is chosen
  from the data when the population is built
  (:func:`~milestone_discovery.population.build_population`);
* ``expand``: multi-level columns whose levels are *choices* (alternatives,
  not milestones) unless listed in ``addons``;
* ``plan``, ``size`` (employees or text bands), ``seats``, ``covariates``:
  account attributes adjusted for and reported;
* ``outcome``: churned or not (0/1, 0.0/1.0, true/false, yes/no, or
  ``churned_values``); rows whose outcome is listed in ``exclude_values``
  are kept in the dataset but left out of the study, counted by value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .config_input import DEFAULT_CHURNED_VALUES
from .dataset import Dataset, WideInfo
from .errors import DataValidationError, Problem
from .readers import FALSE_VALUES, TRUE_VALUES, offending_rows, read_table
from .validation import size_band_lower_bounds

__all__ = ["WideInfo", "load_wide", "outcome_exclusion_reason"]

#: Exclusion reason of a row whose outcome value is listed in ``exclude_values``.
OUTCOME_REASON = "outcome={value}"


def outcome_exclusion_reason(value: str) -> str:
    """The exclusion reason of rows with outcome ``value`` (e.g. ``"outcome=Joined"``)."""
    return OUTCOME_REASON.format(value=value if value else "(blank)")


def _normalise(values: pd.Series) -> pd.Series:
    """Text stripped and lower-cased; whole numbers written without decimals (``1.0`` -> ``1``)."""
    text = values.astype("string").str.strip().str.lower()
    number = pd.to_numeric(text, errors="coerce")
    whole = number.notna() & np.isfinite(number.fillna(0)) & (number == np.floor(number.fillna(0)))
    if whole.any():
        text = text.where(~whole, number[whole].astype("int64").astype("string"))
    return text


def _canonical(values) -> set[str]:
    return set(_normalise(pd.Series(list(values), dtype="string")).dropna())


def _is_text(series: pd.Series) -> bool:
    """True when a column holds text that is not all numbers (e.g. size bands)."""
    if pd.api.types.is_numeric_dtype(series):
        return False
    text = series.astype("string").str.strip()
    given = text.notna() & (text != "")
    return bool(pd.to_numeric(text[given], errors="coerce").isna().any())


def load_wide(path: str | Path, config: Config, *, outcome_required: bool = True) -> Dataset:
    """Load a wide table described by ``config.wide``.

    Parameters
    ----------
    path : str or Path
        CSV or Parquet file.
    config : Config
        Must have a ``wide`` section naming the outcome and feature columns.
    outcome_required : bool, default True
        ``False`` to score new customers: the outcome column may be absent,
        and levels named by ``addons`` or the catalog that no row has are
        noted rather than an error.

    Returns
    -------
    Dataset
        With ``kind="wide"``, ``flags``, ``churned`` (nullable: ``<NA>`` for
        rows left out by ``exclude_values``; ``None`` without an outcome
        column) and ``wide`` (:class:`WideInfo`) filled in.

    Raises
    ------
    DataValidationError
        Naming the table, the column, the rule and the offending rows.
    """
    path = Path(path)
    wide = config.wide
    table = path.stem
    frame = read_table(path).reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    problems: list[Problem] = []
    notes = [
        "wide table: flags and outcome taken as given; observation window and horizon cannot be enforced (no dates)"
    ]

    id_col = wide.id
    if id_col is None and "account_id" in frame.columns:
        id_col = "account_id"
    has_outcome = wide.outcome in frame.columns or outcome_required
    named = [
        *([id_col] if id_col else []),
        *([wide.outcome] if has_outcome else []),
        *wide.flags,
        *wide.counts,
        *wide.expand,
        *wide.covariates,
    ] + [c for c in (wide.plan, wide.size, wide.seats) if c]
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

    def rows(col: str | None, mask) -> pd.DataFrame:
        cols = [c for c in dict.fromkeys((id_col, col)) if c]
        return offending_rows(frame[cols], np.asarray(mask, dtype=bool))

    def problem(col: str, rule: str, mask) -> Problem:
        mask = np.asarray(mask, dtype=bool)
        return Problem(table, col, rule, rows(col, mask), int(mask.sum()))

    if id_col is None:
        ids = pd.Series([str(i) for i in range(1, len(frame) + 1)], dtype="string")
        notes.append(
            "no id column (none set in [wide] id and no 'account_id'): accounts are "
            "numbered by row, 1 = the first data row"
        )
    else:
        ids = frame[id_col].astype("string").str.strip()
        dup = ids.duplicated(keep=False) | ids.isna() | (ids == "")
        if dup.any():
            problems.append(problem(id_col, "duplicate or missing account id", dup))
    index = pd.Index(ids.astype(object), name="account_id")

    blank_false = wide.missing == "false" or "" in wide.false_values
    blank_true = "" in wide.true_values
    blanks_read: dict[str, int] = {}
    true_values = TRUE_VALUES | {v.strip().lower() for v in wide.true_values if v.strip()}
    false_values = FALSE_VALUES | {v.strip().lower() for v in wide.false_values if v.strip()}
    flags: dict[str, np.ndarray] = {}
    for col in wide.flags:
        text = frame[col].astype("string").str.strip().str.lower()
        blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
        is_true = text.isin(true_values).to_numpy(dtype=bool) | (blank & blank_true)
        is_false = text.isin(false_values).to_numpy(dtype=bool) | (blank & blank_false)
        bad = ~(is_true | is_false)
        if (bad & blank).any():
            problems.append(
                problem(
                    col,
                    'blank flag cells; set missing = "false" in [wide] if a blank means "not used"',
                    bad & blank,
                )
            )
        if (bad & ~blank).any():
            seen = sorted(set(frame.loc[bad & ~blank, col].astype(str)))[:5]
            problems.append(
                problem(
                    col,
                    f"flag values not recognised as yes/no: {seen}; map them with "
                    "true_values/false_values in [wide]",
                    bad & ~blank,
                )
            )
        if blank.any() and not bad.any():
            blanks_read[col] = int(blank.sum())
        flags[col] = is_true
    if blanks_read:
        how = '"used"' if blank_true else '"not used"'
        notes.append(
            f"{sum(blanks_read.values())} blank flag cell(s) in {len(blanks_read)} column(s) "
            f"({', '.join(blanks_read)}) read as {how}"
        )

    counts = pd.DataFrame(index=index)
    for col in wide.counts:
        raw = frame[col]
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            number = raw.astype("float64")
            blank = number.isna().to_numpy(dtype=bool)
            bad = np.zeros(len(raw), dtype=bool)
        else:
            text = raw.astype("string").str.strip()
            blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
            number = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
            bad = number.isna().to_numpy(dtype=bool) & ~blank
        bad |= np.isinf(number.to_numpy())
        if bad.any():
            seen = sorted(set(frame.loc[bad, col].astype(str)))[:5]
            problems.append(problem(col, f"count values that are not numbers: {seen}", bad))
        if blank.any():
            if wide.missing == "false":
                notes.append(
                    f'{col}: {int(blank.sum())} blank count(s) read as 0 ([wide] missing = "false")'
                )
                number = number.fillna(0.0)
            else:
                problems.append(
                    problem(
                        col,
                        'blank count cells; set missing = "false" in [wide] if a blank means 0',
                        blank,
                    )
                )
        counts[col] = number.to_numpy(dtype=float)

    factors = pd.DataFrame(index=index)
    roles: dict[str, str] = {}
    choices: dict[str, list[str]] = {}
    skipped: dict[str, list[str]] = {}
    skip = {v.strip().lower() for v in wide.skip_levels}
    for col in wide.expand:
        text = frame[col].astype("string").str.strip()
        blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
        if blank.any():
            if wide.missing == "false":
                notes.append(
                    f'{col}: {int(blank.sum())} blank cell(s): no level ([wide] missing = "false")'
                )
            else:
                problems.append(
                    problem(
                        col,
                        'missing values in a column to expand; set missing = "false" in '
                        "[wide] if a blank means none of its levels",
                        blank,
                    )
                )
        choices[col], skipped[col] = [], []
        for level in sorted(text.dropna().unique()):
            if not level:
                continue
            if level.lower() in skip:
                skipped[col].append(level)
                continue
            name = f"{col}={level}"
            flags[name] = (text == level).fillna(False).to_numpy(dtype=bool)
            choices[col].append(name)
        factors[col] = text.where(~pd.Series(blank, index=text.index), "unknown").to_numpy(
            dtype=object
        )
        roles[col] = "choice"
    for col in wide.covariates:
        text = frame[col].astype("string").str.strip()
        factors[col] = text.where(text.notna() & (text != ""), "unknown").to_numpy(dtype=object)
        roles[col] = "covariate"

    addons = []
    for item in wide.addons:
        column, _, level = item.partition("=")
        if item in flags:
            addons.append(item)
        elif level.lower() in skip:
            problems.append(
                Problem(
                    table,
                    column,
                    f"[wide] addons names {item!r}, a skip level (it means 'does not use it')",
                )
            )
        elif outcome_required:
            problems.append(
                Problem(
                    table,
                    column,
                    f"[wide] addons names {item!r}: no row has that level; levels present: "
                    f"{[f.partition('=')[2] for f in choices.get(column, [])]}",
                )
            )
        else:
            notes.append(f"add-on {item!r} absent from this data: counted as not used")

    churned = None
    excluded = pd.Series(None, index=index, dtype=object)
    if wide.outcome in frame.columns:
        churned, excluded = _outcome(frame, wide, index, table, problem, problems, notes)
    else:
        notes.append(f"no outcome column {wide.outcome!r}: accounts can be scored, not studied")

    accounts = pd.DataFrame({"account_id": index.to_numpy()})
    accounts["signup_date"] = pd.NaT
    accounts["churn_date"] = pd.NaT
    for std, col in (("company_size", wide.size), ("seats", wide.seats)):
        if not col:
            accounts[std] = np.nan
            continue
        if std == "company_size" and _is_text(frame[col]):
            text = frame[col].astype("string").str.strip()
            blank = text.isna() | (text == "")
            bad = size_band_lower_bounds(text).isna() & ~blank
            if bad.any():
                problems.append(
                    problem(
                        col,
                        "company_size must be a positive number or a size band such as "
                        "'10-50', '1000+' or '<10'",
                        bad,
                    )
                )
            accounts[std] = text.astype(object).where(~blank, None).to_numpy()
            continue
        values = pd.to_numeric(frame[col].astype("string").str.strip(), errors="coerce")
        bad = values.isna() | (values <= 0)
        if bad.any():
            problems.append(problem(col, f"{std} must be a positive number", bad))
        accounts[std] = values.to_numpy(dtype=float)
    accounts["plan"] = (
        frame[wide.plan]
        .astype("string")
        .str.strip()
        .replace("", pd.NA)
        .fillna("unknown")
        .astype(object)
        .to_numpy()
        if wide.plan
        else "unknown"
    )

    catalog = None
    if wide.catalog:
        known = set(flags) | set(wide.counts)
        unknown = sorted(set(wide.catalog) - known)
        absent = [f for f in unknown if f.partition("=")[0] in wide.expand and f.partition("=")[2]]
        if absent:
            notes.append(f"[wide.catalog] names level(s) no row has, ignored: {', '.join(absent)}")
        typos = [f for f in unknown if f not in absent]
        if typos:
            problems.append(
                Problem(
                    table,
                    ", ".join(typos),
                    "[wide.catalog] names features that are not flag columns",
                )
            )
        catalog = pd.DataFrame(
            {
                "feature": [f for f in wide.catalog if f in known],
                "category": [c for f, c in wide.catalog.items() if f in known],
            }
        )
    if problems:
        raise DataValidationError(problems)

    flag_frame = pd.DataFrame(flags, index=index)
    info = WideInfo(
        choices=choices,
        addons=addons,
        skip_levels=skipped,
        factors=factors,
        roles=roles,
        counts=counts,
        excluded=excluded,
        outcome=wide.outcome if churned is not None else None,
        columns={
            role: col
            for role, col in (("plan", wide.plan), ("size", wide.size), ("seats", wide.seats))
            if col
        },
    )
    return Dataset(
        accounts=accounts,
        feature_usage=None,
        feature_catalog=catalog,
        as_of=config.study.as_of,
        kind="wide",
        flags=flag_frame,
        churned=churned,
        source=str(path),
        notes=notes,
        wide=info,
    )


def _outcome(frame, wide, index, table, problem, problems, notes):
    """Churned (nullable bool) and the exclusion reason of each row, from the outcome column."""
    column = wide.outcome
    raw = frame[column].astype("string").str.strip()
    value = _normalise(frame[column])
    blank = (value.isna() | (value == "")).to_numpy(dtype=bool)
    # canonical spelling -> as written in exclude_values ("" stands for blank cells)
    excluded_as = {
        (_normalise(pd.Series([v], dtype="string")).iloc[0] if v.strip() else ""): v.strip()
        for v in wide.exclude_values
    }
    is_excluded = value.isin(set(excluded_as) - {""}).to_numpy(dtype=bool) | (
        blank & ("" in excluded_as)
    )
    if list(wide.churned_values) == list(DEFAULT_CHURNED_VALUES):
        yes = value.isin(_canonical(TRUE_VALUES)).to_numpy(dtype=bool)
        no = value.isin(_canonical(FALSE_VALUES)).to_numpy(dtype=bool)
        bad = ~(yes | no | is_excluded | blank)
        if bad.any():
            seen = sorted(set(raw[bad].astype(str)))[:5]
            problems.append(
                problem(
                    column,
                    f"outcome values not recognised as yes/no (churned/stayed): {seen}; list the "
                    "values that mean churned in churned_values, and values that mean neither "
                    "(e.g. 'Joined': too new to judge) in exclude_values",
                    bad,
                )
            )
        churned = yes
    else:
        churned = value.isin(_canonical(wide.churned_values)).to_numpy(dtype=bool)
        others = value[~churned & ~is_excluded & ~blank].dropna()
        if others.nunique() > 1:
            values = sorted(others.unique())
            problems.append(
                Problem(
                    table,
                    column,
                    f"outcome has several values besides the churned ones {wide.churned_values}: "
                    f"{values[:5]}; list every value that means churned in churned_values, and "
                    "values that mean neither (e.g. 'Joined': too new to judge) in exclude_values",
                )
            )
    missing = blank & ~is_excluded
    if missing.any():
        problems.append(
            problem(
                column,
                'missing outcome values; list "" in exclude_values to leave such rows out',
                missing,
            )
        )
    reason = pd.Series(None, index=index, dtype=object)
    if is_excluded.any():
        key = np.where(blank, "", value.fillna("").to_numpy(dtype=object))
        reason[is_excluded] = [outcome_exclusion_reason(excluded_as[k]) for k in key[is_excluded]]
        for r, n in reason.dropna().value_counts().sort_index().items():
            notes.append(
                f"{n} row(s) with {r.replace('=', ' ', 1)} left out of the study "
                "([wide] exclude_values: neither stayed nor churned)"
            )
    churned_series = pd.Series(churned, index=index, name="churned").astype("boolean")
    churned_series[is_excluded] = pd.NA
    return churned_series, reason
