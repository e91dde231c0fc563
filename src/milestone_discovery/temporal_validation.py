"""Does the framework hold on later signup cohorts? (out-of-time validation).

:func:`~milestone_discovery.study.temporal_validation` fits the framework on
the earlier signup cohorts only (:func:`split_signup_cohorts`) and measures
each milestone's retention lift on the later cohorts, which the fit never saw
(:func:`validate_on_later_cohorts`, giving a :class:`TemporalValidation`).
It lives in :mod:`~milestone_discovery.study` because it runs the study, and
the study runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .config import Config
from .data import Dataset
from .errors import InsufficientDataError
from .framework import Framework
from .html_repr import render_result, table_data
from .population import retention_population

__all__ = [
    "TemporalValidation",
    "milestone_lifts",
    "split_signup_cohorts",
    "validate_on_later_cohorts",
]


@dataclass
class TemporalValidation:
    """Milestone lifts on later signup cohorts, for a framework fitted on earlier ones.

    Attributes
    ----------
    split_date : str
        First signup date of the later (held-out) cohorts, ISO.
    train_accounts, test_accounts : int
        Eligible accounts of the earlier and later cohorts.
    table : pandas.DataFrame
        One row per milestone (see :meth:`to_frame`).
    """

    split_date: str
    train_accounts: int
    test_accounts: int
    table: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """One row per milestone: its lift on the fit cohorts and on the later ones.

        Columns: ``milestone``, ``threshold`` (as fitted on the earlier
        cohorts), ``fit_lift`` and ``test_lift`` (retention of accounts
        reaching it divided by that of the others) each with ``_low``/``_high``
        (95% Katz interval), ``test_share`` and ``test_accounts``.
        """
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Per milestone: lift on the later cohorts with its interval, and whether it holds.

        Returns
        -------
        pandas.DataFrame
            ``milestone``, ``fit_lift``, ``test_lift``, ``test_lift_low``,
            ``test_lift_high`` and ``holds`` (the later cohorts' interval lies
            above 1, as the report says "holds").
        """
        cols = ["milestone", "fit_lift", "test_lift", "test_lift_low", "test_lift_high"]
        return self.table[cols].assign(holds=self.table["test_lift_low"] > 1)

    def to_dict(self) -> dict:
        rows = []
        for r in self.table.to_dict(orient="records"):
            rows.append(
                {
                    "milestone": r["milestone"],
                    "threshold": r["threshold"],
                    "fit_lift": r["fit_lift"],
                    "fit_lift_ci": [r["fit_lift_low"], r["fit_lift_high"]],
                    "test_lift": r["test_lift"],
                    "test_lift_ci": [r["test_lift_low"], r["test_lift_high"]],
                    "test_share": r["test_share"],
                    "test_accounts": r["test_accounts"],
                }
            )
        return {
            "split_date": self.split_date,
            "train_accounts": self.train_accounts,
            "test_accounts": self.test_accounts,
            "outcome": "retention at the horizon",
            "milestones": rows,
        }

    def _repr_html_(self) -> str:
        lead = (
            f"fitted on {self.train_accounts:,} accounts signed up before {self.split_date}, "
            f"evaluated on {self.test_accounts:,} later ones"
        )
        return render_result(
            "Temporal validation",
            lead=lead,
            charts=[self.plot_lifts],
            tables=[table_data(self.summary())],
        )

    def plot_lifts(self, ax=None):
        """Lift on the fit cohorts vs the later cohorts, per milestone, with 95% CIs; the Axes.

        Drawn on ``ax`` (default: a new figure) by
        :func:`milestone_discovery.plotting.plot_temporal`, as in the report.
        """
        from .plotting import plot_temporal  # charts load only when drawn

        return plot_temporal(self.table, ax=ax)

    #: The former name of :meth:`plot_lifts`.
    plot = plot_lifts


def milestone_lifts(accounts: pd.DataFrame, framework: Framework) -> pd.DataFrame:
    """Retention lift of every milestone among eligible scored accounts (risk ratio, Katz CI)."""
    elig = accounts[accounts["eligible"].astype(bool)]
    y = elig["retained"].astype(float).to_numpy() == 1
    cols = [
        ("setup", "setup", (framework.setup or {}).get("min_steps")),
        ("activation", "activation", (framework.activation or {}).get("threshold")),
        ("utilization", "utilization", (framework.utilization or {}).get("per_seat_threshold")),
    ]
    cols += [
        (f"maturity: {n}", f"{n}:mature", c.get("min_features"))
        for n, c in framework.categories.items()
    ]
    cols += [("mature overall", "mature", framework.min_categories)]
    rows = []
    for name, col, threshold in cols:
        if col not in elig.columns or threshold is None:
            continue
        reached = elig[col].astype(bool).to_numpy()
        rr, lo, hi = stats.risk_ratio(reached, y)
        rows.append(
            {
                "milestone": name,
                "threshold": threshold,
                "lift": float(rr[0]),
                "lift_low": float(lo[0]),
                "lift_high": float(hi[0]),
                "share": float(reached.mean()) if len(reached) else np.nan,
                "accounts": int(len(reached)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["milestone", "threshold", "lift", "lift_low", "lift_high", "share", "accounts"],
    )


def split_signup_cohorts(
    dataset: Dataset, config: Config, split_quantile: float = 0.7
) -> tuple[Dataset, pd.Timestamp]:
    """The earlier signup cohorts of a dataset, on which a temporal validation fits.

    Parameters
    ----------
    dataset : Dataset
        A dated dataset (wide tables have no signup dates).
    config : Config
    split_quantile : float
        Share of the retention population (by signup date) used for fitting.

    Returns
    -------
    early : Dataset
        The accounts that signed up before ``split`` (all their tables).
    split : pandas.Timestamp
        The first signup date of the later, held-out cohorts.

    Raises
    ------
    InsufficientDataError
        For wide tables, or when the retention population is smaller than
        twice ``config.study.min_accounts``.

    See Also
    --------
    milestone_discovery.study.temporal_validation : fits on ``early``, measures on the rest.
    """
    if dataset.kind == "wide":
        raise InsufficientDataError("temporal validation needs signup dates; a wide table has none")
    accounts = retention_population(dataset, config)
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    eligible_signups = accounts.loc[accounts["eligible"], "signup_date"].sort_values()
    if len(eligible_signups) < 2 * config.study.min_accounts:
        raise InsufficientDataError(
            f"temporal validation needs at least {2 * config.study.min_accounts} "
            "eligible accounts, "
            f"found {len(eligible_signups)}"
        )
    split = eligible_signups.iloc[int(split_quantile * len(eligible_signups))]
    return dataset.subset(signup.index[signup < split]), split


def validate_on_later_cohorts(
    framework: Framework,
    fit_accounts: pd.DataFrame,
    dataset: Dataset,
    config: Config,
    split: pd.Timestamp,
) -> TemporalValidation:
    """Milestone lifts of a framework on the cohorts that signed up from ``split`` on.

    Parameters
    ----------
    framework : Framework
        Fitted on the earlier cohorts (see :func:`split_signup_cohorts`).
    fit_accounts : pandas.DataFrame
        The earlier cohorts' accounts scored by ``framework`` (the fit's lifts).
    dataset : Dataset
        The whole dataset; its later cohorts are scored without refitting.
    config : Config
    split : pandas.Timestamp
        The first signup date of the later cohorts.

    Returns
    -------
    TemporalValidation
    """
    scored = framework.score(dataset, config)
    later = scored[pd.to_datetime(scored["signup_date"]) >= split]
    fit_lifts = milestone_lifts(fit_accounts, framework).set_index("milestone")
    test_lifts = milestone_lifts(later, framework).set_index("milestone")
    table = pd.DataFrame(
        {
            "threshold": fit_lifts["threshold"],
            "fit_lift": fit_lifts["lift"],
            "fit_lift_low": fit_lifts["lift_low"],
            "fit_lift_high": fit_lifts["lift_high"],
            "test_lift": test_lifts["lift"].reindex(fit_lifts.index),
            "test_lift_low": test_lifts["lift_low"].reindex(fit_lifts.index),
            "test_lift_high": test_lifts["lift_high"].reindex(fit_lifts.index),
            "test_share": test_lifts["share"].reindex(fit_lifts.index),
            "test_accounts": test_lifts["accounts"].reindex(fit_lifts.index),
        }
    ).reset_index()
    return TemporalValidation(
        split_date=pd.Timestamp(split).date().isoformat(),
        train_accounts=int(fit_accounts["eligible"].astype(bool).sum()),
        test_accounts=int(later["eligible"].astype(bool).sum()),
        table=table,
    )
