"""Who is studied, with which flags and which outcome: time windows and labels.

This is where leakage and survivor bias are made impossible by default:

* a feature counts as adopted only if it was first used in the observation
  window ``[signup, signup + observation_days)``; use after the window (which
  only accounts that stayed can have) never counts;
* retention is judged at ``signup + horizon_days`` and only for accounts that
  were still customers at the end of the window (an account that churned
  inside the window had no full chance to adopt) and whose signup is at least
  the horizon before ``as_of`` (younger accounts have no outcome yet);
* every excluded account is counted by reason in :attr:`Population.exclusions`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset, size_band_lower_bounds
from .html_repr import render_result, table_data
from .population_wide import count_feature_name, wide_outcomes, wide_population_fields
from .thresholds import ThresholdScan

__all__ = [
    "Population",
    "account_segments",
    "account_size",
    "band_order",
    "build_population",
    "count_feature_name",
    "monthly_activity",
    "retention_population",
    "size_band_labels",
    "wide_outcomes",
    "EXCLUSION_REASONS",
]

EXCLUSION_REASONS = {
    "churned_in_window": "churned inside the observation window (no full chance to adopt)",
    "too_young": "signed up less than the horizon before as_of (outcome not known yet)",
}


@dataclass
class Population:
    """The retention population with its flags, outcome and covariates.

    Attributes
    ----------
    flags : pandas.DataFrame
        Eligible accounts x features, bool: adopted inside the observation window.
    retained : pandas.Series
        Bool, same index: still a customer at the horizon.
    covariates : pandas.DataFrame
        Numeric size and segment covariates for models (``log_company_size``,
        ``log_seats``, one column per plan).
    segments : pandas.DataFrame
        ``plan``, ``size_band`` (labelled bands) and ``size_stratum`` (quantile
        strata used for size adjustment).
    accounts : pandas.DataFrame
        Every account with ``eligible`` and ``exclusion_reason``.
    exclusions : pandas.DataFrame
        Accounts excluded from the retention population, by reason.
    catalog : pandas.Series
        feature -> category from the product managers' catalog (may be empty).
    near_churn : pandas.DataFrame or None
        Per feature, in-window first-use timing in the population (see
        ``_near_churn``): adopters churning just after the window and how many
        first used it just before churning, vs the other adopters.
    extra_adjustments : tuple of str
        Plain words for every adjustment beyond size and plan (choice and
        covariate columns of a wide table, early activity).
    labels : dict
        Plain words for the size and plan covariates actually present
        (``{"size": "company size", "plan": "plan (Contract)"}``).
    factors : pandas.DataFrame or None
        Wide tables: eligible accounts x categorical columns (``covariates``
        and expanded ``choices``), the account's level as text; each is a
        model covariate (one-hot) and a Mantel-Haenszel stratum, never a
        feature.
    factor_roles : dict
        Factor column -> ``"covariate"`` or ``"choice"``.
    choices, addons
        Expanded column -> its level flags; the levels that are add-ons
        (features, the other levels are not).
    count_scans : dict
        Count column -> the :class:`~milestone_discovery.thresholds.ThresholdScan`
        that chose its "``>= t``" threshold; ``count_features`` maps the column
        to its flag (``"articles_viewed>=5"``), ``count_skipped`` to why no
        threshold was usable.
    """

    flags: pd.DataFrame
    retained: pd.Series
    covariates: pd.DataFrame
    segments: pd.DataFrame
    accounts: pd.DataFrame
    exclusions: pd.DataFrame
    catalog: pd.Series
    as_of: object
    observation_days: int
    horizon_days: int
    kind: str = "tables"
    near_churn: pd.DataFrame | None = None
    extra_adjustments: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    factors: pd.DataFrame | None = None
    factor_roles: dict[str, str] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)
    addons: list[str] = field(default_factory=list)
    count_scans: dict[str, ThresholdScan] = field(default_factory=dict)
    count_features: dict[str, str] = field(default_factory=dict)
    count_skipped: dict[str, str] = field(default_factory=dict)

    def with_covariate(self, name: str, values: pd.Series, label: str, n_strata: int = 3):
        """A copy also adjusted for ``values``: a model covariate and quantile strata.

        The column joins ``covariates`` (the importance model and its
        conditional model see it) and its ``n_strata`` quantile strata join
        the Mantel-Haenszel strata of the adjusted odds ratios.

        Parameters
        ----------
        name : str
            Column name, e.g. ``"early_activity"``.
        values : pandas.Series
            One number per eligible account (indexed by account id; no NaN).
        label : str
            Plain words for reports, e.g. ``"early activity"``.
        n_strata : int
            Quantile strata for the adjusted odds ratios.

        Returns
        -------
        Population
        """
        v = pd.Series(values).reindex(self.flags.index)
        if v.isna().any():
            raise ValueError(f"{name}: missing for {int(v.isna().sum())} eligible accounts")
        ranks = v.rank(method="first")
        strata = pd.qcut(ranks, q=min(n_strata, max(len(v), 1)), labels=False)
        return dataclasses.replace(
            self,
            covariates=self.covariates.assign(**{name: v.to_numpy(dtype=float)}),
            segments=self.segments.assign(**{f"{name}_stratum": strata.to_numpy()}),
            extra_adjustments=(*self.extra_adjustments, label),
        )

    @property
    def adjustment_strata(self) -> pd.Series:
        """The Mantel-Haenszel stratum of each eligible account (size x plan x any extra)."""
        cols = ["size_stratum", "plan"] + [
            c for c in self.segments.columns if c.endswith("_stratum") and c != "size_stratum"
        ]
        text = self.segments[cols].astype(str)
        # vectorised "|".join per row (a row-wise agg takes ~1 s per 10k accounts)
        return text[cols[0]].str.cat([text[c] for c in cols[1:]], sep="|").rename(None)

    @property
    def n_eligible(self) -> int:
        return len(self.flags)

    @property
    def retention_rate(self) -> float:
        return float(self.retained.mean()) if len(self.retained) else float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Every account with ``eligible`` and ``exclusion_reason`` (a copy of :attr:`accounts`)."""
        return self.accounts.copy()

    def summary(self) -> pd.DataFrame:
        """Population counts: total, excluded by reason, eligible, retained.

        Returns
        -------
        pandas.DataFrame
            ``group`` and ``accounts``, one row per group.
        """
        rows = [{"group": "all accounts", "accounts": len(self.accounts)}]
        rows += [
            {"group": f"excluded: {r.reason}", "accounts": int(r.accounts)}
            for r in self.exclusions.itertuples()
        ]
        rows += [
            {"group": "eligible (retention population)", "accounts": self.n_eligible},
            {
                "group": "retained (outcome column)"
                if self.kind == "wide"
                else f"retained at {self.horizon_days} days",
                "accounts": int(self.retained.sum()),
            },
        ]
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        lead = (
            f"{self.n_eligible:,} eligible accounts, retention {self.retention_rate:.1%}, "
            f"{self.flags.shape[1]} features (window {self.observation_days} d, "
            f"horizon {self.horizon_days} d)"
        )
        return render_result(
            "Population",
            lead=lead,
            facts=self.summary(),
            tables=[table_data(self.exclusions, "Excluded accounts")],
        )


def size_band_labels(edges: list[int]) -> list[str]:
    """Labels of company-size bands: ``[10, 50]`` -> ``["1-10", "11-50", "51+"]``."""
    labels, low = [], 1
    for edge in edges:
        labels.append(f"{low}-{edge}")
        low = edge + 1
    return labels + [f"{low}+"]


def account_size(accounts: pd.DataFrame) -> tuple[str | None, pd.Series | None]:
    """The size measure of the accounts: what exists, in this order.

    Parameters
    ----------
    accounts : pandas.DataFrame
        The ``accounts`` table; ``company_size`` and ``seats`` may be absent or empty.

    Returns
    -------
    kind : {"bands", "company_size", "seats"} or None
        ``"bands"`` when ``company_size`` holds text bands (``"10-50"``),
        ``"company_size"`` for employee counts, ``"seats"`` when only seats
        are known, ``None`` when there is no size at all.
    values : pandas.Series or None
        The values (text for bands, float otherwise), aligned with ``accounts``.
    """
    size = accounts["company_size"] if "company_size" in accounts else None
    if size is not None and size.notna().any():
        if not pd.api.types.is_numeric_dtype(size):
            numbers = pd.to_numeric(size, errors="coerce")
            if numbers.notna().sum() < size.notna().sum():
                return "bands", size.astype(object)
            size = numbers
        return "company_size", size.astype(float)
    seats = accounts["seats"] if "seats" in accounts else None
    if seats is not None and pd.to_numeric(seats, errors="coerce").notna().any():
        return "seats", pd.to_numeric(seats, errors="coerce").astype(float)
    return None, None


def band_order(bands) -> list[str]:
    """Distinct size bands ordered by their lower bound (``"unknown"`` last).

    Examples
    --------
    >>> band_order(["1000+", "10-50", "unknown", "100-250", "10-50"])
    ['10-50', '100-250', '1000+', 'unknown']
    """
    labels = sorted({str(b) for b in bands if b is not None and not pd.isna(b)} - {"unknown"})
    lower = size_band_lower_bounds(labels).fillna(np.inf).tolist()
    ordered = [b for _, b in sorted(zip(lower, labels, strict=True))]
    return ordered + (["unknown"] if "unknown" in {str(b) for b in bands} else [])


def account_segments(accounts: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Plan, size band and size stratum of every account.

    Parameters
    ----------
    accounts : pandas.DataFrame
        The ``accounts`` table (``account_id``, ``plan``, ``company_size``,
        ``seats``).
    config : Config
        ``study.size_bands`` (edges of the reported bands) and
        ``study.n_size_strata`` (near-equal quantile strata for adjustment).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id``: ``plan``, ``size_band`` (``"unknown"``
        without a size) and ``size_stratum`` (``-1`` without a size; ``0`` for
        every account when no size is known). The size is the one
        :func:`account_size` finds: text bands are kept as given (each band a
        stratum, ordered by lower bound); employee counts, or seats when there
        are none, are cut into ``study.size_bands`` and quantile strata.
    """
    kind, size = account_size(accounts)
    edges = config.study.size_bands
    if kind == "bands":
        band = size.where(size.notna(), "unknown").astype(str)
        rank = {b: i for i, b in enumerate(band_order(band))}
        stratum = band.map(lambda b: -1 if b == "unknown" else rank[b]).astype(int)
    elif kind is not None:
        band_index = np.searchsorted(np.asarray(edges, dtype=float), size.to_numpy(), side="left")
        band = pd.Series(
            np.asarray(size_band_labels(edges), dtype=object)[band_index], index=accounts.index
        )
        band[size.isna()] = "unknown"
        # rank first so that ties never make qcut fail; strata are then near-equal in size
        n = min(config.study.n_size_strata, max(int(size.notna().sum()), 1))
        stratum = (
            pd.qcut(size.rank(method="first"), n, labels=False)
            if n > 1
            else pd.Series(0, index=accounts.index)
        )
        stratum = stratum.fillna(-1).astype(int)
    else:
        band = pd.Series("unknown", index=accounts.index, dtype=object)
        stratum = pd.Series(0, index=accounts.index)
    return pd.DataFrame(
        {
            "plan": accounts["plan"].astype(str).to_numpy(),
            "size_band": band.to_numpy(),
            "size_stratum": stratum.to_numpy(),
        },
        index=pd.Index(accounts["account_id"], name="account_id"),
    )


def _covariates(accounts: pd.DataFrame, factors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model covariates: log size (or the band's rank), log seats, plan and factor levels."""
    out = pd.DataFrame(index=pd.Index(accounts["account_id"], name="account_id"))
    kind, size = account_size(accounts)
    if kind == "bands":
        order = band_order(size.dropna())
        rank = size.map({b: i for i, b in enumerate(order)}).astype(float)
        out["size_band_rank"] = rank.fillna(rank.median()).to_numpy()
    elif kind == "company_size":
        values = size.to_numpy()
        out["log_company_size"] = np.log1p(np.nan_to_num(values, nan=np.nanmedian(values)))
    if "seats" in accounts:
        values = pd.to_numeric(accounts["seats"], errors="coerce").to_numpy(dtype=float)
        if np.isfinite(values).any():
            out["log_seats"] = np.log1p(np.nan_to_num(values, nan=np.nanmedian(values)))
    plans = accounts["plan"].astype(str).to_numpy()
    if len(set(plans)) > 1:
        for plan in sorted(set(plans)):
            out[f"plan={plan}"] = (plans == plan).astype(float)
    if factors is not None:
        for col in factors.columns:
            levels = factors[col].reindex(out.index).astype(str).to_numpy()
            if len(set(levels)) > 1:
                for level in sorted(set(levels)):
                    out[f"{col}={level}"] = (levels == level).astype(float)
    return out


def _labels(dataset: Dataset, config: Config, segments: pd.DataFrame) -> dict[str, str]:
    """Plain words for the size and plan covariates present, naming the user's columns."""
    out = {}
    if dataset.kind == "wide":
        names = dataset.wide.columns if dataset.wide is not None else {}
    else:
        names = {
            "plan": config.column("accounts", "plan"),
            "size": config.column("accounts", "company_size"),
            "seats": config.column("accounts", "seats"),
        }
    kind, _ = account_size(dataset.accounts)
    if kind is not None and segments["size_stratum"].nunique() > 1:
        if kind == "seats":
            column = names.get("seats", "seats")
            out["size"] = "size (seats" + (f", {column}" if column != "seats" else "") + ")"
        else:
            column = names.get("size", "company_size")
            what = "company size bands" if kind == "bands" else "company size"
            out["size"] = what + (f" ({column})" if column != "company_size" else "")
    if segments["plan"].nunique() > 1:
        column = names.get("plan", "plan")
        out["plan"] = "plan" + (f" ({column})" if column != "plan" else "")
    return out


def retention_population(dataset: Dataset, config: Config | None = None) -> pd.DataFrame:
    """Who is in the retention population, and the outcome of those who are.

    Cheap (no flags): scoring and the temporal check need only this.

    Parameters
    ----------
    dataset : Dataset
        A dated dataset (tables).
    config : Config, optional
        Time windows (``study.observation_days``, ``study.horizon_days``).

    Returns
    -------
    pandas.DataFrame
        ``dataset.accounts`` (in order, fresh index) with ``eligible``,
        ``exclusion_reason`` (a key of :data:`EXCLUSION_REASONS`, None when
        eligible) and ``retained`` (1/0, NaN when not eligible).
    """
    study = (config or Config()).study
    acc = dataset.accounts.reset_index(drop=True)
    as_of = pd.Timestamp(dataset.as_of)
    signup = acc["signup_date"]
    churn = acc["churn_date"]
    churn_day = (churn - signup).dt.days  # NaN while a customer
    churned_in_window = churn_day.notna() & (churn_day < study.observation_days)
    too_young = signup + pd.Timedelta(days=study.horizon_days) > as_of
    reason = pd.Series(None, index=acc.index, dtype=object)
    reason[too_young] = "too_young"
    reason[churned_in_window] = "churned_in_window"  # known regardless of age
    eligible = reason.isna()
    retained = ~(churn_day.notna() & (churn_day < study.horizon_days))
    return acc.assign(
        eligible=eligible.to_numpy(),
        exclusion_reason=reason.to_numpy(),
        retained=np.where(eligible, retained, np.nan),
    )


def build_population(dataset: Dataset, config: Config | None = None) -> Population:
    """Build flags, retention label and eligible population from a dataset.

    Parameters
    ----------
    dataset : Dataset
    config : Config, optional
        Time windows (``study.observation_days``, ``study.horizon_days``).

    Returns
    -------
    Population
    """
    config = config or Config()
    study = config.study
    acc = dataset.accounts.reset_index(drop=True)
    ids = pd.Index(acc["account_id"], name="account_id")
    catalog = (
        dataset.feature_catalog.set_index("feature")["category"]
        if dataset.feature_catalog is not None
        else pd.Series(dtype=object)
    )
    segments = account_segments(acc, config)
    labels = _labels(dataset, config, segments)

    if dataset.kind == "wide":
        fields = wide_population_fields(
            dataset, config, acc, catalog, segments, labels, lambda adjust: _covariates(acc, adjust)
        )
        return Population(**fields)
    covariates = _covariates(acc)

    accounts = retention_population(dataset, config)
    eligible = accounts["eligible"].astype(bool)
    reason = accounts["exclusion_reason"]
    retained = accounts["retained"] == 1
    counts = reason.value_counts()
    exclusions = pd.DataFrame(
        [
            {"reason": r, "accounts": int(counts.get(r, 0)), "description": d}
            for r, d in EXCLUSION_REASONS.items()
        ]
    )

    flags = window_flags(dataset, study.observation_days).reindex(
        ids[eligible.to_numpy()], fill_value=False
    )
    return Population(
        flags=flags,
        retained=pd.Series(
            retained[eligible].to_numpy(dtype=bool), index=flags.index, name="retained"
        ),
        covariates=covariates.loc[flags.index],
        segments=segments.loc[flags.index],
        accounts=accounts,
        exclusions=exclusions,
        catalog=catalog,
        as_of=dataset.as_of,
        observation_days=study.observation_days,
        horizon_days=study.horizon_days,
        near_churn=_near_churn(
            dataset, flags.index, study.observation_days, config.features.leaky_days
        ),
        labels=labels,
    )


def window_flags(dataset: Dataset, observation_days: int) -> pd.DataFrame:
    """Account x feature bool matrix of adoption inside the observation window.

    Every account of ``dataset.accounts`` and every feature is a row/column,
    including features nobody adopted in the window.
    """
    usage = dataset.feature_usage
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    rows = pd.Index(signup.index, name="account_id")
    features = dataset.features
    r = rows.get_indexer(usage["account_id"])
    c = pd.Index(features).get_indexer(usage["feature"])
    day = (usage["first_used_at"].to_numpy() - _with_missing_last(signup)[r]) / np.timedelta64(
        1, "D"
    )
    inside = (r >= 0) & (c >= 0) & (day >= 0) & (day < observation_days)
    matrix = np.zeros((len(rows), len(features)), dtype=bool)
    matrix[r[inside], c[inside]] = True
    return pd.DataFrame(matrix, index=rows, columns=pd.Index(features, name="feature"))


def _with_missing_last(dates: pd.Series) -> np.ndarray:
    """The dates as datetime64 with NaT appended, so that index -1 (not found) reads NaT."""
    return np.append(dates.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))


def _near_churn(
    dataset: Dataset, eligible: pd.Index, observation_days: int, days: int
) -> pd.DataFrame:
    """Per feature, the timing of in-window first use among the retention population.

    A flag measured inside the window can only leak the label through
    accounts that churn shortly after the window ends: their first use may
    fall just before churning. So, among eligible adopters:

    * ``churned_adopters``: those whose churn falls within ``days`` after the
      window, and ``first_use_near_churn`` of them first used the feature
      within ``days`` before churning;
    * ``other_adopters``: everyone else, and ``other_first_use_late`` of them
      first used it in the last ``days`` of the window (the same calendar
      stretch, so a leak shows as an excess over this share).
    """
    usage = dataset.feature_usage
    acc = dataset.accounts.set_index("account_id").reindex(eligible)
    row = acc.index.get_indexer(usage["account_id"])  # -1: not in the population
    in_pop = row >= 0
    signup = _with_missing_last(acc["signup_date"])[row]  # row -1 picks the missing value
    churn = _with_missing_last(acc["churn_date"])[row]
    day = (usage["first_used_at"].to_numpy() - signup) / np.timedelta64(1, "D")
    churn_day = (churn - signup) / np.timedelta64(1, "D")
    adopted = in_pop & (day >= 0) & (day < observation_days)
    soon = adopted & (churn_day >= observation_days) & (churn_day < observation_days + days)
    lead = churn_day - day
    features = pd.Index(dataset.features)
    col = features.get_indexer(usage["feature"])
    known = col >= 0

    def per_feature(mask: np.ndarray) -> np.ndarray:
        return np.bincount(col[mask & known], minlength=len(features)).astype(int)

    return pd.DataFrame(
        {
            "churned_adopters": per_feature(soon),
            "first_use_near_churn": per_feature(soon & (lead <= days)),
            "other_adopters": per_feature(adopted & ~soon),
            "other_first_use_late": per_feature(adopted & ~soon & (day >= observation_days - days)),
        },
        index=pd.Index(features, name="feature"),
    )


def monthly_activity(dataset: Dataset) -> pd.DataFrame:
    """Monthly activity aligned to account age, with per-seat variants.

    Returns
    -------
    pandas.DataFrame
        ``account_id``, ``age_month`` (0 = the calendar month of signup), each
        metric and ``<metric>_per_seat``. Months without a row are absent
        (callers decide whether a missing month means zero).
    """
    if dataset.activity is None:
        raise ValueError("dataset has no activity table")
    act = dataset.activity
    acc = dataset.accounts.set_index("account_id")
    signup = acc["signup_date"].reindex(act["account_id"]).to_numpy()
    signup_month = pd.DatetimeIndex(signup).to_period("M")
    month = pd.DatetimeIndex(act["month"]).to_period("M")
    age = (month.year - signup_month.year) * 12 + (month.month - signup_month.month)
    out = act.copy()
    out.insert(1, "age_month", np.asarray(age, dtype=int))
    seats = acc["seats"].reindex(act["account_id"]).to_numpy(dtype=float)
    for metric in dataset.activity_metrics:
        out[f"{metric}_per_seat"] = act[metric].to_numpy(dtype=float) / seats
    return out


def summarize_population(population: Population) -> str:
    """Plain-text summary used by ``milestones validate``."""
    if population.kind == "wide":
        lines = ["Retention population (wide table: flags and outcome as given, no time windows):"]
    else:
        lines = [
            f"Retention population (window {population.observation_days} d, "
            f"horizon {population.horizon_days} d):"
        ]
    for row in population.summary().itertuples():
        lines.append(f"  {row.group:<40} {row.accounts:>9,}")
    for row in population.exclusions.itertuples():
        lines.append(f"    {row.reason}: {row.description}")
    if population.n_eligible:
        lines.append(f"  retention rate among eligible: {population.retention_rate:.1%}")
    return "\n".join(lines)
