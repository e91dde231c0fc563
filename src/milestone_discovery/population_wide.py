"""The population of a wide table: outcome, count-threshold flags and strata.

A wide table gives flags and outcome as they are (no time windows): rows are
left out by outcome value, each count column becomes a flag ``"column>=t"``
with ``t`` chosen against retention, and choice columns become adjustment
factors. Re-exported by :mod:`milestone_discovery.population`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .data import Dataset
from .errors import DataValidationError, InsufficientDataError, Problem
from .thresholds import scan_thresholds

__all__ = [
    "NO_CHOICE",
    "OUTCOME_EXCLUSION",
    "adjustment_factors",
    "count_feature_name",
    "table_name",
    "wide_outcomes",
    "wide_population_fields",
]


def count_feature_name(column: str, threshold: float) -> str:
    """The flag a count column becomes: ``"articles_viewed>=5"``."""
    t = round(float(threshold), 6)
    return f"{column}>={int(t)}" if t.is_integer() else f"{column}>={t:g}"


def wide_outcomes(dataset: Dataset) -> pd.DataFrame:
    """Eligibility and outcome of every account of a wide table.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id``: ``eligible``, ``exclusion_reason`` (e.g.
        ``"outcome=Joined"``, from ``[wide] exclude_values``; ``"no_outcome"``
        when the table has no outcome column, as for new customers being
        scored; ``None`` for eligible accounts) and ``retained`` (NaN when
        not eligible).
    """
    ids = pd.Index(dataset.accounts["account_id"], name="account_id")
    info = dataset.wide
    reason = (
        info.excluded.reindex(ids)
        if info is not None and len(info.excluded)
        else pd.Series(None, index=ids, dtype=object)
    )
    if dataset.churned is None:
        retained = pd.Series(np.nan, index=ids)
        reason = reason.where(reason.notna(), "no_outcome")
    else:
        churned = dataset.churned.reindex(ids).astype("boolean")
        retained = (~churned).astype("float64")  # <NA> (excluded) becomes NaN
    return pd.DataFrame(
        {
            "eligible": reason.isna().to_numpy() & retained.notna().to_numpy(),
            "exclusion_reason": reason.to_numpy(dtype=object),
            "retained": retained.to_numpy(dtype=float),
        },
        index=ids,
    )


#: Description of the exclusion of rows by outcome value (``[wide] exclude_values``).
OUTCOME_EXCLUSION = "outcome value listed in [wide] exclude_values: neither stayed nor churned"


def wide_population_fields(dataset, config, acc, catalog, segments, labels, covariates_for) -> dict:
    """The fields of the :class:`~milestone_discovery.population.Population` of a wide table.

    Rows left out by outcome value are counted by value; choice levels
    (expanded columns, add-ons excepted) and ``covariates`` columns become
    covariates, never features; each count column becomes the flag
    ``"column>=t"`` with ``t`` chosen by :func:`~milestone_discovery.thresholds.scan_thresholds`
    against retention (chosen on one half, its lift measured on the other).
    ``covariates_for(adjustment_factors)`` gives the model covariates of all accounts.
    """
    study = config.study
    info = dataset.wide
    if dataset.churned is None:
        column = info.outcome if info is not None and info.outcome else config.wide.outcome
        raise DataValidationError(
            [
                Problem(
                    table_name(dataset.source),
                    column,
                    "outcome column not found: it is needed to study retention (scoring "
                    "new customers with a saved framework does not need it)",
                )
            ]
        )
    outcome = wide_outcomes(dataset).reindex(acc["account_id"])
    eligible = outcome["eligible"].to_numpy(dtype=bool)
    ids = pd.Index(acc["account_id"][eligible], name="account_id")
    reasons = outcome["exclusion_reason"].dropna().value_counts().sort_index()
    exclusions = pd.DataFrame(
        [
            {"reason": r, "accounts": int(n), "description": OUTCOME_EXCLUSION}
            for r, n in reasons.items()
        ],
        columns=["reason", "accounts", "description"],
    )
    retained = pd.Series(
        outcome["retained"].to_numpy()[eligible].astype(bool), index=ids, name="retained"
    )
    choices = dict(info.choices) if info is not None else {}
    addons = list(info.addons) if info is not None else []
    not_features = [f for levels in choices.values() for f in levels if f not in addons]
    flags = dataset.flags.reindex(ids).drop(columns=not_features)
    factors = (
        info.factors.reindex(ids)
        if info is not None and info.factors.shape[1]
        else pd.DataFrame(index=ids)
    )

    scans, features, skipped = {}, {}, {}
    fc = config.features
    # a threshold leaving too few accounts on either side would be screened out as niche
    # or ubiquitous: the scan keeps at least that share on each side
    min_share = max(config.journey.min_side_share, fc.min_prevalence, 1 - fc.max_prevalence)
    counts = info.counts.reindex(ids) if info is not None else pd.DataFrame(index=ids)
    for col in counts.columns:
        try:
            scan = scan_thresholds(
                counts[col].to_numpy(dtype=float),
                retained.to_numpy(dtype=bool),
                min_share=min_share,
                n_bootstrap=config.journey.n_bootstrap,
                random_state=study.seed,
                alpha=fc.alpha,
                metric_name=col,
                outcome_name="retention",
            )
        except InsufficientDataError as exc:
            skipped[col] = str(exc)
            continue
        name = count_feature_name(col, scan.threshold)
        scans[col], features[col] = scan, name
        flags[name] = counts[col].to_numpy(dtype=float) >= scan.threshold
    if len(catalog):  # a count column's category is its flag's
        catalog = catalog.rename(index=features)

    adjust = adjustment_factors(info)
    covariates = covariates_for(adjust).loc[ids]
    segments = segments.loc[ids]
    extra = []
    for col in adjust.columns:
        values = adjust[col].reindex(ids)
        if values.nunique() > 1:
            segments = segments.assign(**{f"factor:{col}_stratum": values.to_numpy()})
            extra.append(col)
    accounts = acc.assign(
        eligible=eligible,
        exclusion_reason=outcome["exclusion_reason"].to_numpy(dtype=object),
        retained=outcome["retained"].to_numpy(dtype=float),
    )
    return dict(
        flags=flags,
        retained=retained,
        covariates=covariates,
        segments=segments,
        accounts=accounts,
        exclusions=exclusions,
        catalog=catalog,
        as_of=dataset.as_of,
        observation_days=study.observation_days,
        horizon_days=study.horizon_days,
        kind="wide",
        extra_adjustments=tuple(extra),
        labels=labels,
        factors=factors,
        factor_roles=dict(info.roles) if info is not None else {},
        choices=choices,
        addons=addons,
        count_scans=scans,
        count_features=features,
        count_skipped=skipped,
    )


#: Adjustment level of accounts on an add-on or a skip level of a choice column.
NO_CHOICE = "(add-on or none)"


def adjustment_factors(info) -> pd.DataFrame:
    """The factors as adjusted for: an add-on level is a feature, so not a stratum.

    In a choice column with add-ons, accounts on an add-on level are grouped
    with those on its skip levels (neither chose one of the alternatives);
    otherwise the add-on could not vary inside any stratum.
    """
    if info is None or not info.factors.shape[1]:
        return pd.DataFrame(index=info.factors.index if info is not None else None)
    out = info.factors.copy()
    for col, levels in info.choices.items():
        addons = [f.partition("=")[2] for f in levels if f in info.addons]
        if addons and col in out:
            merged = out[col].isin(addons + list(info.skip_levels.get(col, [])))
            out[col] = out[col].where(~merged, NO_CHOICE)
    return out


def table_name(source: str) -> str:
    """The name of a table for messages: its file's stem."""
    return Path(source).stem if source else "table"
