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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import Config
from .data import Dataset

__all__ = [
    "Population",
    "build_population",
    "monthly_activity",
    "size_band_labels",
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

    @property
    def n_eligible(self) -> int:
        return len(self.flags)

    @property
    def retention_rate(self) -> float:
        return float(self.retained.mean()) if len(self.retained) else float("nan")

    def summary(self) -> pd.DataFrame:
        """Population counts: total, excluded by reason, eligible, retained."""
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
        return (
            f"<div><strong>Population</strong>: {self.n_eligible} eligible accounts, "
            f"retention {self.retention_rate:.1%}, {self.flags.shape[1]} features "
            f"(window {self.observation_days} d, horizon {self.horizon_days} d)"
            f"{self.summary().to_html(index=False, escape=True)}"
            f"{self.exclusions.to_html(index=False, escape=True)}</div>"
        )


def size_band_labels(edges: list[int]) -> list[str]:
    """Labels of company-size bands: ``[10, 50]`` -> ``["1-10", "11-50", "51+"]``."""
    labels, low = [], 1
    for edge in edges:
        labels.append(f"{low}-{edge}")
        low = edge + 1
    return labels + [f"{low}+"]


def _segments(accounts: pd.DataFrame, config: Config) -> pd.DataFrame:
    size = accounts["company_size"].astype(float)
    edges = config.study.size_bands
    if size.notna().any():
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


def _covariates(accounts: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=pd.Index(accounts["account_id"], name="account_id"))
    for col in ("company_size", "seats"):
        values = accounts[col].astype(float).to_numpy()
        if np.isfinite(values).any():
            out[f"log_{'company_size' if col == 'company_size' else 'seats'}"] = np.log1p(
                np.nan_to_num(values, nan=np.nanmedian(values))
            )
    plans = accounts["plan"].astype(str).to_numpy()
    if len(set(plans)) > 1:
        for plan in sorted(set(plans)):
            out[f"plan={plan}"] = (plans == plan).astype(float)
    return out


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
    segments = _segments(acc, config)
    covariates = _covariates(acc)

    if dataset.kind == "wide":
        accounts = acc.assign(eligible=True, exclusion_reason=None)
        flags = dataset.flags.reindex(ids)
        return Population(
            flags=flags,
            retained=~dataset.churned.reindex(ids),
            covariates=covariates,
            segments=segments,
            accounts=accounts,
            exclusions=pd.DataFrame(columns=["reason", "accounts", "description"]),
            catalog=catalog,
            as_of=dataset.as_of,
            observation_days=study.observation_days,
            horizon_days=study.horizon_days,
            kind="wide",
        )

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

    accounts = acc.assign(
        eligible=eligible.to_numpy(),
        exclusion_reason=reason.to_numpy(),
        retained=np.where(eligible, retained, np.nan),
    )
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
    )


def window_flags(dataset: Dataset, observation_days: int) -> pd.DataFrame:
    """Account x feature bool matrix of adoption inside the observation window.

    Every account of ``dataset.accounts`` and every feature is a row/column,
    including features nobody adopted in the window.
    """
    usage = dataset.feature_usage
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    day = (
        usage["first_used_at"].to_numpy() - signup.reindex(usage["account_id"]).to_numpy()
    ) / np.timedelta64(1, "D")
    inside = usage.loc[(day >= 0) & (day < observation_days), ["account_id", "feature"]]
    features = dataset.features
    rows = pd.Index(signup.index, name="account_id")
    r = rows.get_indexer(inside["account_id"])
    c = pd.Index(features).get_indexer(inside["feature"])
    matrix = np.zeros((len(rows), len(features)), dtype=bool)
    matrix[r, c] = True
    return pd.DataFrame(matrix, index=rows, columns=pd.Index(features, name="feature"))


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
    signup = acc["signup_date"].reindex(usage["account_id"]).to_numpy()
    churn = acc["churn_date"].reindex(usage["account_id"]).to_numpy()
    first = usage["first_used_at"].to_numpy()
    in_pop = usage["account_id"].isin(eligible).to_numpy()
    day = (first - signup) / np.timedelta64(1, "D")
    churn_day = (churn - signup) / np.timedelta64(1, "D")
    adopted = in_pop & (day >= 0) & (day < observation_days)
    soon = adopted & (churn_day >= observation_days) & (churn_day < observation_days + days)
    lead = churn_day - day
    frame = pd.DataFrame(
        {
            "feature": usage["feature"].to_numpy(),
            "churned_adopter": soon,
            "near": soon & (lead <= days),
            "other_adopter": adopted & ~soon,
            "late": adopted & ~soon & (day >= observation_days - days),
        }
    )
    out = frame.groupby("feature").agg(
        churned_adopters=("churned_adopter", "sum"),
        first_use_near_churn=("near", "sum"),
        other_adopters=("other_adopter", "sum"),
        other_first_use_late=("late", "sum"),
    )
    return out.reindex(dataset.features, fill_value=0).astype(int)


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
            f"Retention population (window {population.observation_days} d, horizon {population.horizon_days} d):"
        ]
    for row in population.summary().itertuples():
        lines.append(f"  {row.group:<40} {row.accounts:>9,}")
    for row in population.exclusions.itertuples():
        lines.append(f"    {row.reason}: {row.description}")
    if population.n_eligible:
        lines.append(f"  retention rate among eligible: {population.retention_rate:.1%}")
    return "\n".join(lines)
