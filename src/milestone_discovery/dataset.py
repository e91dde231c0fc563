"""The :class:`Dataset`: the typed, validated tables of one study.

It is built by :func:`milestone_discovery.data.load_dataset` (a folder of
tables, or ``events`` reduced to them) and by
:func:`milestone_discovery.wide.load_wide` (one wide table).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["DATE_COLUMNS", "Dataset", "WideInfo"]

#: Date columns of each table (``events`` holds each account's latest event).
DATE_COLUMNS = {
    "accounts": ("signup_date", "churn_date"),
    "feature_usage": ("first_used_at",),
    "activity": ("month",),
    "setup_steps": ("completed_at",),
}


@dataclass
class WideInfo:
    """What a wide table holds besides yes/no flags.

    Attributes
    ----------
    choices : dict
        Expanded column -> the level flags made for it (``"Column=level"``,
        skip levels excepted). Levels are alternatives: one per account.
    addons : list of str
        Level flags that are add-ons (features that count toward maturity).
    skip_levels : dict
        Expanded column -> its levels that mean "does not use it" (no flag).
    factors : pandas.DataFrame
        Index ``account_id``; one text column per ``covariates`` column and per
        expanded column: the account's level (``"unknown"`` when blank).
    roles : dict
        Factor column -> ``"covariate"`` or ``"choice"``.
    counts : pandas.DataFrame
        Index ``account_id``; one float column per ``counts`` column.
    excluded : pandas.Series
        Index ``account_id``: the exclusion reason (``"outcome=Joined"``) of
        rows left out of the study, ``None`` for the others.
    outcome : str or None
        The outcome column (``None`` when the table had none: scoring only).
    columns : dict
        Role -> the table's column for ``plan``, ``size`` and ``seats`` (when set).
    """

    choices: dict[str, list[str]] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)
    skip_levels: dict[str, list[str]] = field(default_factory=dict)
    factors: pd.DataFrame = field(default_factory=pd.DataFrame)
    roles: dict[str, str] = field(default_factory=dict)
    counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    excluded: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    outcome: str | None = None
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def choice_levels(self) -> list[str]:
        """Level flags that are choices (not add-ons): never milestones."""
        return [f for levels in self.choices.values() for f in levels if f not in self.addons]

    def column_of(self, feature: str) -> str | None:
        """The expanded column a level flag belongs to, or ``None``."""
        for column, levels in self.choices.items():
            if feature in levels:
                return column
        return None

    def subset(self, keep) -> WideInfo:
        """A copy restricted to the accounts ``keep``."""
        keep = pd.Index(keep)
        return WideInfo(
            choices=dict(self.choices),
            addons=list(self.addons),
            skip_levels=dict(self.skip_levels),
            factors=self.factors.loc[self.factors.index.isin(keep)],
            roles=dict(self.roles),
            counts=self.counts.loc[self.counts.index.isin(keep)],
            excluded=self.excluded.loc[self.excluded.index.isin(keep)],
            outcome=self.outcome,
            columns=dict(self.columns),
        )


@dataclass
class Dataset:
    """Typed, validated tables of one study.

    Attributes
    ----------
    accounts : pandas.DataFrame
        One row per account: ``account_id`` (str), ``signup_date``,
        ``churn_date`` (NaT while a customer), ``seats`` and ``company_size``
        (NaN when absent; ``company_size`` holds text when given as bands
        such as ``"10-50"``, see
        :func:`~milestone_discovery.validation.size_band_lower_bounds`), ``plan``
        ("unknown" when absent).
    feature_usage : pandas.DataFrame
        One row per account and feature ever used: ``account_id``, ``feature``,
        ``first_used_at``, ``uses``.
    feature_catalog, activity, setup_steps : pandas.DataFrame or None
        Optional tables; ``None`` when the dataset has none.
    as_of : datetime.date or None
        Analysis date (from the config, else the latest date of observed
        behaviour); ``None`` for a wide table without dates.
    kind : {"tables", "wide"}
        ``"wide"`` datasets carry ready-made ``flags`` and ``churned`` instead of
        dated usage: time windows cannot be enforced for them.
    flags : pandas.DataFrame or None
        Wide datasets only: index ``account_id``, one bool column per feature.
    churned : pandas.Series or None
        Wide datasets only: index ``account_id``, True when the account churned.
    source : str
        The folder or file read.
    notes : list of str
        What was ignored or converted and why (counts), for the report; the
        first note of a folder dataset says where ``as_of`` came from.
    as_of_source : str
        Where ``as_of`` came from, e.g. ``"set in the config ([study] as_of)"``
        or ``"latest date of observed behaviour (feature_usage.first_used_at)"``.
    wide : WideInfo or None
        Wide datasets only: choices, add-ons, covariate and count columns and
        the rows left out by outcome value (see :class:`WideInfo`).
    events : dict or None
        When ``feature_usage``, ``activity`` and ``setup_steps`` were derived
        from an ``events`` table: its summary (``rows``, ``columns``,
        ``first_date``, ``last_date``, ``accounts``, ``per_account``, ...; see
        :func:`milestone_discovery.events.derive_tables`).
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
    as_of_source: str = ""
    wide: WideInfo | None = None
    events: dict | None = None

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
            as_of_source=self.as_of_source,
            events=self.events,
        )
        for name in ("feature_usage", "activity", "setup_steps"):
            table = getattr(self, name)
            if table is not None:
                setattr(out, name, table[table["account_id"].isin(keep)].reset_index(drop=True))
        if self.flags is not None:
            out.flags = self.flags.loc[self.flags.index.isin(keep)]
            if self.churned is not None:
                out.churned = self.churned.loc[self.churned.index.isin(keep)]
        if self.wide is not None:
            out.wide = self.wide.subset(keep)
        return out

    def summary(self) -> pd.DataFrame:
        """Rows, columns and date range of every table (and of the events they come from)."""
        rows = []
        if self.events is not None:
            rows.append(
                {
                    "table": "events",
                    "rows": self.events["rows"],
                    "columns": self.events["columns"],
                    "first_date": self.events["first_date"],
                    "last_date": self.events["last_date"],
                }
            )
        for name, table in self.tables.items():
            dates = [c for c in DATE_COLUMNS.get(name, ()) if c in table.columns]
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
                    "columns": _wide_columns(self),
                    "first_date": None,
                    "last_date": None,
                }
            )
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        from .html_repr import render_result, table_data

        lead = (
            f"{self.source} ({self.kind}, as of {self.as_of.isoformat() if self.as_of else 'n/a'}"
            f"{': ' + self.as_of_source if self.as_of_source else ''})"
        )
        return render_result(
            "Dataset", lead=lead, tables=[table_data(self.summary())], notes=self.notes
        )


def _wide_columns(ds: Dataset) -> str:
    """What a wide table's flags are: features, choice levels, count columns."""
    if ds.wide is None:
        return f"{ds.flags.shape[1]} features"
    choices = len(ds.wide.choice_levels)
    parts = [f"{ds.flags.shape[1] - choices} features"]
    if choices:
        parts.append(f"{choices} choice levels (not features)")
    if ds.wide.counts.shape[1]:
        parts.append(f"{ds.wide.counts.shape[1]} count columns")
    return ", ".join(parts)
