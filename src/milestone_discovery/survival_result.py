"""Time to churn per milestone: the result of the survival analysis.

:class:`SurvivalResult` holds the tables (one row per milestone, the
Kaplan-Meier steps of both groups, the accounts left out), says them in plain
words (:meth:`SurvivalResult.summary`), writes them for ``framework.json`` and
a run folder, and draws them with the charts of
:mod:`milestone_discovery.plotting_effects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .framework import clean_json
from .html_repr import render_result, table_data
from .plotting_effects import plot_hazard_ratios, plot_survival_curves, ratio_text

__all__ = ["FOLLOW_UP_DAYS", "GROUPS", "RESULT_COLUMNS", "SurvivalResult"]

#: Follow-up times reported as "share alive", in days after the landmark.
FOLLOW_UP_DAYS = {"12m": 365, "24m": 730}

#: The two groups compared for each milestone, as named in the result's tables.
GROUPS = ("reached", "not_reached")


#: Columns of :attr:`SurvivalResult.table`, in order (see :meth:`SurvivalResult.to_frame`).
RESULT_COLUMNS = [
    "milestone",
    "accounts",
    "events",
    "reached",
    "reached_share",
    "events_reached",
    "events_not_reached",
    "hazard_ratio",
    "hazard_ratio_low",
    "hazard_ratio_high",
    "p_value",
    "ph_p_value",
    "median_days_reached",
    "median_days_reached_low",
    "median_days_reached_high",
    "median_days_not_reached",
    "median_days_not_reached_low",
    "median_days_not_reached_high",
    *[
        f"alive_{key}_{g}{suffix}"
        for key in FOLLOW_UP_DAYS
        for g in GROUPS
        for suffix in ("", "_low", "_high")
    ],
    "reason",
    "note",
]


@dataclass
class SurvivalResult:
    """Time to churn after the landmark, per milestone.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per milestone (see :meth:`to_frame`).
    curves : dict of str -> pandas.DataFrame
        Per milestone, the Kaplan-Meier steps of both groups: ``group``
        (``reached``/``not_reached``), ``time`` (days after the landmark),
        ``survival``, ``low``, ``high`` (pointwise CI), ``at_risk``.
    overall : pandas.DataFrame
        The Kaplan-Meier steps of every account that entered.
    exclusions : pandas.DataFrame
        ``reason``, ``accounts``, ``description``: accounts left out.
    landmark_days : int
        The landmark, in days after signup (the observation window).
    as_of : pandas.Timestamp
    alpha : float
        Significance level of every CI and test.
    accounts, events : int
        Accounts that entered and churn events observed among them.
    fixed_horizon_accounts : int or None
        How many of them the fixed-horizon retention population holds (when
        ``horizon_days`` was given), for comparison.
    horizon_days : int or None
    adjusted_for : list of str
        Covariates of the Cox models.
    timings : dict
        Seconds spent.
    """

    table: pd.DataFrame
    curves: dict[str, pd.DataFrame]
    overall: pd.DataFrame
    exclusions: pd.DataFrame
    landmark_days: int
    as_of: pd.Timestamp
    alpha: float
    accounts: int
    events: int
    fixed_horizon_accounts: int | None = None
    horizon_days: int | None = None
    adjusted_for: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def milestones(self) -> list[str]:
        """Milestones analysed, in input order."""
        return self.table["milestone"].tolist()

    @property
    def level(self) -> str:
        """The confidence level as text, e.g. ``"95%"``."""
        return f"{1 - self.alpha:.0%}"

    def to_frame(self) -> pd.DataFrame:
        """One row per milestone.

        Columns: ``milestone``, ``accounts``, ``events``, ``reached``,
        ``reached_share``, ``events_reached``, ``events_not_reached``,
        ``hazard_ratio`` with ``hazard_ratio_low``/``hazard_ratio_high`` (CI at
        ``alpha``), ``p_value`` (Wald), ``ph_p_value`` (Grambsch-Therneau,
        small = hazards not proportional), ``median_days_reached`` /
        ``median_days_not_reached`` (NaN when the curve stays above one half:
        median not reached), for ``12m`` and ``24m``:
        ``alive_<t>_reached``, ``alive_<t>_reached_low``,
        ``alive_<t>_reached_high`` and the same for ``not_reached`` (NaN
        beyond the group's follow-up), and ``reason`` (why no hazard ratio,
        else None).
        """
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """A plain-words table: per milestone, hazard ratio, medians and share alive."""
        rows = []
        for r in self.table.to_dict(orient="records"):
            hr = ratio_text(r["hazard_ratio"], r["hazard_ratio_low"], r["hazard_ratio_high"])
            row = {
                "milestone": r["milestone"],
                "accounts": r["accounts"],
                "reached": f"{r['reached_share']:.0%}" if pd.notna(r["reached_share"]) else "",
                f"hazard ratio ({self.level} CI)": hr,
                "median months to churn, reached": _months_text(
                    r["median_days_reached"], r["reached"]
                ),
                "median months to churn, not reached": _months_text(
                    r["median_days_not_reached"], r["accounts"] - r["reached"]
                ),
            }
            for key in FOLLOW_UP_DAYS:
                for g, label in (("reached", "reached"), ("not_reached", "not")):
                    row[f"alive at {key}, {label}"] = _share_text(r[f"alive_{key}_{g}"])
            row["proportional hazards"] = _ph_text(r["ph_p_value"], self.alpha)
            row["note"] = r["reason"] or ""
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``survival`` section of ``framework.json``)."""
        milestones = []
        for r in self.table.to_dict(orient="records"):
            entry = {
                "milestone": r["milestone"],
                "accounts": r["accounts"],
                "events": r["events"],
                "reached_share": r["reached_share"],
                "hazard_ratio": r["hazard_ratio"],
                "ci": [r["hazard_ratio_low"], r["hazard_ratio_high"]],
                "p_value": r["p_value"],
                "ph_p_value": r["ph_p_value"],
                "median_days": {
                    "reached": r["median_days_reached"],
                    "not_reached": r["median_days_not_reached"],
                },
            }
            for key in FOLLOW_UP_DAYS:
                entry[f"alive_{key}"] = {
                    g: {
                        "share": r[f"alive_{key}_{g}"],
                        "ci": [r[f"alive_{key}_{g}_low"], r[f"alive_{key}_{g}_high"]],
                    }
                    for g in GROUPS
                }
            entry["reason"] = r["reason"]
            milestones.append(entry)
        return clean_json(
            {
                "landmark_days": self.landmark_days,
                "as_of": self.as_of.date().isoformat(),
                "alpha": self.alpha,
                "accounts": self.accounts,
                "events": self.events,
                "fixed_horizon_accounts": self.fixed_horizon_accounts,
                "horizon_days": self.horizon_days,
                "excluded": {r.reason: int(r.accounts) for r in self.exclusions.itertuples()},
                "adjusted_for": list(self.adjusted_for),
                "model": "Cox proportional hazards (Breslow ties), Wald CI",
                "ph_test": "Grambsch-Therneau, g(t) = log t",
                "milestones": milestones,
            }
        )

    def curves_frame(self) -> pd.DataFrame:
        """Every milestone's Kaplan-Meier steps in one long table (``milestone`` first)."""
        parts = [c.assign(milestone=m) for m, c in self.curves.items() if len(c)]
        cols = ["milestone", "group", "time", "survival", "low", "high", "at_risk"]
        return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tidy tables for a run folder, by name (``RUN/tables/<name>.csv``).

        :func:`~milestone_discovery.plotting_effects.plot_survival_curves` and
        :func:`~milestone_discovery.plotting_effects.plot_hazard_ratios` redraw the
        charts from them (also when read back from CSV).
        """
        return {
            "survival": self.to_frame(),
            "survival_curves": self.curves_frame(),
            "survival_overall": self.overall,
            "survival_exclusions": self.exclusions,
        }

    def plot_curves(self, milestone: str, ax=None):
        """Kaplan-Meier curves of accounts that reached ``milestone`` vs not.

        Drawn by :func:`~milestone_discovery.plotting_effects.plot_survival_curves`.

        Parameters
        ----------
        milestone : str
            One of :attr:`milestones`.
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure).

        Returns
        -------
        matplotlib Axes
        """
        if milestone not in self.curves:
            raise KeyError(f"no curves for {milestone!r}; milestones: {self.milestones}")
        return plot_survival_curves(
            self.curves_frame(),
            milestone,
            self.table,
            level=self.level,
            ax=ax,
            follow_up_days=FOLLOW_UP_DAYS.values(),
        )

    def plot_hazard_ratios(self, ax=None):
        """Adjusted hazard ratio of churn per milestone with its CI; the Axes.

        Drawn on ``ax`` (default: a new figure) by
        :func:`~milestone_discovery.plotting_effects.plot_hazard_ratios`.
        """
        return plot_hazard_ratios(self.table, level=self.level, ax=ax)

    def _repr_html_(self) -> str:
        lead = (
            f"from the end of the {self.landmark_days}-day observation window: "
            f"{self.accounts:,} accounts, {self.events:,} churned before "
            f"{self.as_of.date().isoformat()}"
        )
        if self.fixed_horizon_accounts is not None:
            lead += (
                f" (the {self.horizon_days}-day retention population holds "
                f"{self.fixed_horizon_accounts:,} of them)"
            )
        has_ratio = self.table["hazard_ratio"].notna().any()
        return render_result(
            "Time to churn",
            lead=lead,
            charts=[self.plot_hazard_ratios] if has_ratio else [],
            tables=[
                table_data(self.summary()),
                table_data(self.exclusions, "Accounts left out"),
            ],
        )


def _months_text(days: float, n: int) -> str:
    if not n:
        return ""
    if pd.isna(days):
        return "not reached"
    return f"{days / (365.25 / 12):.1f}"


def _share_text(share: float) -> str:
    return "" if pd.isna(share) else f"{share:.0%}"


def _ph_text(p: float, alpha: float) -> str:
    if pd.isna(p):
        return ""
    return "holds" if p >= alpha else f"violated (p={p:.2g}): effect changes over time"
