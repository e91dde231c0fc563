"""Setup, activation and utilization milestones; each account's stage and next best step.

Windows (account age in calendar months, month 0 = the month of signup):

* **Activation**: the activation metric (default ``conversations``) summed
  over months ``0 .. activation_months-1``. The threshold is chosen against
  *no early churn* (still a customer ``early_churn_days`` after signup)
  among accounts that were still customers when the activation window
  ended: an account that churned inside the window has truncated counts, so
  including it would let the outcome leak into the metric (it is excluded
  with the reason ``churned_in_activation_window``).
* **Utilization**: the utilization metric (default ``resolved_conversations``)
  per purchased seat per month, averaged over ``utilization_months``
  (after activation, inside the observation window); threshold chosen
  against retention in the retention population. Per-seat normalisation
  keeps company size from deciding who is "utilized": the stage reports
  attainment by size band for raw volume and per seat.
* **Setup**: each step completed within ``setup_days`` of signup; activation
  rate of completers vs non-completers with a risk ratio and 95% CI.
  Routine (> ``setup_routine``) and niche (< ``setup_niche``) steps are
  dropped with their reason; the checklist is the steps whose risk ratio is
  clearly above 1 (Bonferroni-corrected over the steps), ordered by it. The
  setup milestone is "completed at least ``s`` checklist steps", ``s``
  chosen against activation.

Every threshold comes from :func:`~milestone_discovery.thresholds.scan_thresholds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import stats
from .config import Config
from .data import Dataset
from .errors import InsufficientDataError
from .html_repr import render_result, table_data
from .population import Population, band_order, monthly_activity
from .thresholds import ThresholdScan, scan_thresholds

__all__ = [
    "JourneyResult",
    "STAGES",
    "compare_rates",
    "discover_journey",
    "journey_metrics",
    "with_early_activity",
]

STAGES = ["setup", "activation", "utilization", "maturity"]


@dataclass
class JourneyResult:
    """Setup, activation and utilization milestones.

    Attributes
    ----------
    activation, utilization : ThresholdScan or None
        The chosen thresholds with their statistics (None when skipped).
    activation_validation : pandas.DataFrame
        Early churn and horizon retention of activated vs not activated
        accounts, with relative risks and CIs.
    utilization_by_size : pandas.DataFrame
        Attainment rate by size band: raw volume threshold vs per-seat threshold.
    setup_steps : pandas.DataFrame
        One row per step: prevalence, activation rate of completers and
        non-completers, risk ratio with CI, status and reason.
    checklist : list of str
        Setup steps with a clear positive effect on activation, strongest first.
    exclusions : pandas.DataFrame
        Accounts left out of each milestone's analysis, by reason.
    skipped : dict
        Stage -> why it was skipped.
    """

    activation: ThresholdScan | None = None
    activation_validation: pd.DataFrame | None = None
    utilization: ThresholdScan | None = None
    utilization_raw: ThresholdScan | None = None
    utilization_by_size: pd.DataFrame | None = None
    setup: ThresholdScan | None = None
    setup_steps: pd.DataFrame | None = None
    checklist: list[str] = field(default_factory=list)
    exclusions: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    config: object = None

    def to_frame(self) -> pd.DataFrame:
        """One row per milestone with its threshold and statistics.

        Returns
        -------
        pandas.DataFrame
            ``milestone``, ``unit``, the columns of
            :meth:`ThresholdScan.summary <milestone_discovery.thresholds.ThresholdScan.summary>`
            (intervals as ``_low``/``_high``) and ``skipped`` (why there is no
            threshold, else empty).
        """
        rows = []
        for name, scan, unit in (
            ("setup", self.setup, "checklist steps"),
            ("activation", self.activation, self.config.activation_metric if self.config else ""),
            ("utilization", self.utilization, "per seat per month"),
        ):
            if scan is None:
                rows.append(
                    {"milestone": name, "threshold": None, "skipped": self.skipped.get(name, "")}
                )
                continue
            stats_row = scan.summary().iloc[0].to_dict()
            rows.append({"milestone": name, "unit": unit, **stats_row, "skipped": ""})
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Per milestone: threshold with CI, share reaching it, held-out lift with CI, shape.

        Returns
        -------
        pandas.DataFrame
            One row per milestone (setup, activation, utilization).
        """
        cols = ["milestone", "unit", "threshold", "threshold_low", "threshold_high"]
        cols += ["share_above", "lift", "lift_low", "lift_high", "shape", "skipped"]
        frame = self.to_frame()
        return frame[[c for c in cols if c in frame.columns]]

    def _repr_html_(self) -> str:
        charts = []
        if self.activation is not None:
            charts.append(self.plot_activation)
        if self.utilization_by_size is not None:
            charts.append(self.plot_utilization_by_size)
        steps = None if self.setup_steps is None else self.setup_steps.drop(columns=["reason"])
        return render_result(
            "Journey milestones",
            tables=[
                table_data(self.summary()),
                table_data(steps, "Setup steps"),
                table_data(self.activation_validation, "Activated vs not"),
            ],
            charts=charts,
            notes=[f"{stage} skipped: {why}" for stage, why in self.skipped.items()],
        )

    def plot_activation(self, ax=None):
        """Phi by activation threshold (against no early churn); the Axes."""
        return self.activation.plot_phi(ax=ax)

    def plot_utilization(self, ax=None):
        """Phi by per-seat utilization threshold (against retention); the Axes."""
        return self.utilization.plot_phi(ax=ax)

    def plot_utilization_by_size(self, ax=None):
        """Attainment by size band: raw-volume threshold vs per-seat threshold; the Axes.

        Drawn on ``ax`` (default: a new figure) by
        :func:`milestone_discovery.plotting.plot_utilization_by_size`, as in the report.
        """
        from .plotting import plot_utilization_by_size  # charts load only when drawn

        return plot_utilization_by_size(self.utilization_by_size, ax=ax)

    def plot_setup(self, ax=None):
        """Risk ratio of activation for each setup step, with 95% CI and status; the Axes.

        Drawn on ``ax`` (default: a new figure) by
        :func:`milestone_discovery.plotting.plot_setup_steps`, as in the report.
        """
        from .plotting import plot_setup_steps  # charts load only when drawn

        return plot_setup_steps(self.setup_steps, ax=ax)


# ----------------------------------------------------------------------------- metrics
def _month_start(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return pd.DatetimeIndex(ts).to_period("M").to_timestamp().to_numpy()


def journey_metrics(dataset: Dataset, config: Config) -> pd.DataFrame:
    """Per account: activation and utilization metrics and whether their windows are observed.

    Returns
    -------
    pandas.DataFrame
        Index ``account_id``; ``activation_value`` (sum over the activation
        months), ``activation_observed`` (every activation month is before
        ``as_of``), ``alive_after_activation`` (still a customer when the
        activation window ended), ``utilization_value`` (mean per seat per
        month over the utilization months), ``utilization_raw`` (mean raw
        volume per month), ``utilization_observed``.
    """
    jc = config.journey
    acc = dataset.accounts.set_index("account_id")
    out = pd.DataFrame(index=acc.index)
    as_of_month = pd.Timestamp(dataset.as_of).to_period("M")
    signup_month = pd.DatetimeIndex(acc["signup_date"]).to_period("M")
    # a month counts as observed when it ended on or before as_of
    months_observed = (as_of_month.year - signup_month.year) * 12 + (
        as_of_month.month - signup_month.month
    )
    months_observed = np.asarray(months_observed, dtype=int)
    churn_month_start = pd.DatetimeIndex(acc["churn_date"]).to_period("M")
    churn_age = np.asarray(
        (churn_month_start.year - signup_month.year) * 12
        + (churn_month_start.month - signup_month.month),
        dtype=float,
    )
    churn_age[acc["churn_date"].isna().to_numpy()] = np.inf
    n_act = jc.activation_months
    lo, hi = jc.utilization_months
    out["activation_observed"] = months_observed >= n_act
    out["alive_after_activation"] = churn_age >= n_act  # churned in month >= n_act, or never
    out["utilization_observed"] = months_observed > hi
    out["activation_value"] = np.nan
    out["utilization_value"] = np.nan
    out["utilization_raw"] = np.nan
    if dataset.activity is None:
        return out
    act = monthly_activity(dataset)
    for metric, role in (
        (jc.activation_metric, "activation"),
        (jc.utilization_metric, "utilization"),
    ):
        if metric not in act.columns:
            raise InsufficientDataError(
                f"activity table has no column '{metric}' (journey.{role}_metric); "
                f"metrics present: {dataset.activity_metrics}"
            )
    first = act[act["age_month"].between(0, n_act - 1)]
    summed = first.groupby("account_id")[jc.activation_metric].sum()
    out["activation_value"] = summed.reindex(out.index, fill_value=0).astype(float)
    window = act[act["age_month"].between(lo, hi)]
    n_months = hi - lo + 1
    per_seat = window.groupby("account_id")[f"{jc.utilization_metric}_per_seat"].sum() / n_months
    raw = window.groupby("account_id")[jc.utilization_metric].sum() / n_months
    out["utilization_value"] = per_seat.reindex(out.index, fill_value=0.0)
    out["utilization_raw"] = raw.reindex(out.index, fill_value=0.0)
    return out


def setup_flags(dataset: Dataset, days: int) -> pd.DataFrame:
    """Account x step bool matrix: step completed within ``days`` of signup."""
    steps = dataset.setup_steps
    signup = dataset.accounts.set_index("account_id")["signup_date"]
    day = (
        steps["completed_at"].to_numpy() - signup.reindex(steps["account_id"]).to_numpy()
    ) / np.timedelta64(1, "D")
    inside = steps.loc[(day >= 0) & (day < days)]
    names = sorted(steps["step"].unique())
    matrix = np.zeros((len(signup), len(names)), dtype=bool)
    matrix[
        signup.index.get_indexer(inside["account_id"]), pd.Index(names).get_indexer(inside["step"])
    ] = True
    return pd.DataFrame(matrix, index=signup.index, columns=pd.Index(names, name="step"))


# ----------------------------------------------------------------------------- stage
def discover_journey(
    dataset: Dataset, population: Population, config: Config | None = None
) -> JourneyResult:
    """Find the setup, activation and utilization milestones.

    Parameters
    ----------
    dataset : Dataset
    population : Population
        The retention population (utilization is judged there).
    config : Config, optional
        ``config.journey`` windows and thresholds; ``config.study.seed``.

    Returns
    -------
    JourneyResult
        Stages whose table is missing are listed in ``skipped``.
    """
    config = config or Config()
    jc = config.journey
    seed = config.study.seed
    result = JourneyResult(config=jc)
    if dataset.kind == "wide":
        reason = "wide table: no dated activity or setup steps"
        result.skipped = {"setup": reason, "activation": reason, "utilization": reason}
        return result
    acc = dataset.accounts.set_index("account_id")
    as_of = pd.Timestamp(dataset.as_of)
    exclusions = []

    metrics = journey_metrics(dataset, config)
    churn_day = (acc["churn_date"] - acc["signup_date"]).dt.days
    early_known = acc["signup_date"] + pd.Timedelta(days=jc.early_churn_days) <= as_of
    no_early_churn = ~(churn_day < jc.early_churn_days)
    reason = pd.Series(None, index=acc.index, dtype=object)
    reason[~early_known] = "too_young_for_early_churn"
    reason[~metrics["activation_observed"]] = "activation_window_not_over"
    reason[~metrics["alive_after_activation"]] = "churned_in_activation_window"
    activation_pop = reason.isna()
    for r, n in reason.value_counts().sort_index().items():
        exclusions.append({"analysis": "activation and setup", "reason": r, "accounts": int(n)})

    alpha = config.features.alpha

    def scan(stage, x, y, **kwargs):
        """A threshold scan, or the stage skipped with the reason.

        A study that finds nothing is a result.
        """
        try:
            return scan_thresholds(
                x, y, min_share=jc.min_side_share, random_state=seed, alpha=alpha, **kwargs
            )
        except InsufficientDataError as exc:
            result.skipped[stage] = str(exc)
            return None

    activated = None
    if dataset.activity is None:
        result.skipped["activation"] = "no activity table"
        result.skipped["utilization"] = "no activity table"
    else:
        x = metrics.loc[activation_pop, "activation_value"].to_numpy()
        y = no_early_churn[activation_pop].to_numpy()
        result.activation = scan(
            "activation",
            x,
            y,
            n_bootstrap=jc.n_bootstrap,
            metric_name=f"{jc.activation_metric} in months 0-{jc.activation_months - 1}",
            outcome_name=f"no churn by day {jc.early_churn_days}",
        )
        if result.activation is not None:
            activated = metrics["activation_value"] >= result.activation.threshold
            result.activation_validation = _activation_validation(
                activated, activation_pop, no_early_churn, population, jc
            )

        util_ids = population.flags.index
        observed = metrics.loc[util_ids, "utilization_observed"].to_numpy()
        if (~observed).any():
            exclusions.append(
                {
                    "analysis": "utilization",
                    "reason": "utilization_window_not_over",
                    "accounts": int((~observed).sum()),
                }
            )
        util_ids = util_ids[observed]
        y_ret = population.retained.reindex(util_ids).to_numpy(dtype=bool)
        months = f"months {jc.utilization_months[0]}-{jc.utilization_months[1]}"
        no_seats = acc["seats"].isna().all() if "seats" in acc else True
        if no_seats:
            result.skipped["utilization"] = (
                "no seats in the accounts table: utilization is measured per purchased seat"
            )
        result.utilization = (
            None
            if no_seats
            else scan(
                "utilization",
                metrics.loc[util_ids, "utilization_value"].to_numpy(),
                y_ret,
                n_bootstrap=jc.n_bootstrap,
                metric_name=f"{jc.utilization_metric} per seat per month ({months})",
                outcome_name="retention",
            )
        )
        if result.utilization is not None:
            result.utilization_raw = scan(
                "utilization_raw",
                metrics.loc[util_ids, "utilization_raw"].to_numpy(),
                y_ret,
                n_bootstrap=0,
                metric_name=f"{jc.utilization_metric} per month (raw volume)",
                outcome_name="retention",
            )
            result.skipped.pop("utilization_raw", None)
        if result.utilization is not None and result.utilization_raw is not None:
            result.utilization_by_size = _attainment_by_size(
                metrics.loc[util_ids],
                population.segments.loc[util_ids, "size_band"],
                result,
                config,
            )

    if dataset.setup_steps is None:
        result.skipped["setup"] = "no setup_steps table"
    elif activated is None:
        result.skipped["setup"] = (
            "setup steps are judged against activation, which needs the activity table "
            "and an activation threshold"
        )
    else:
        flags = setup_flags(dataset, jc.setup_days).loc[activation_pop[activation_pop].index]
        act = activated[activation_pop].to_numpy(dtype=bool)
        result.setup_steps, result.checklist = _setup_table(flags, act, jc)
        if result.checklist:
            done = flags[result.checklist].to_numpy(dtype=bool).sum(axis=1)
            result.setup = scan(
                "setup",
                done,
                act,
                candidates=np.arange(1, len(result.checklist) + 1),
                n_bootstrap=jc.n_bootstrap,
                metric_name=f"checklist steps done in the first {jc.setup_days} days",
                outcome_name="activation",
            )
        else:
            result.skipped["setup"] = "no setup step has a clear positive effect on activation"
    result.exclusions = pd.DataFrame(exclusions, columns=["analysis", "reason", "accounts"])
    return result


def compare_rates(label: str, reached, outcome, alpha: float = 0.05) -> dict:
    """Outcome rate of accounts that reached a milestone vs those that did not.

    Parameters
    ----------
    label : str
        What the outcome is (e.g. ``"retained"``), stored as ``outcome``.
    reached, outcome : array-like of bool
        Per account: milestone reached; outcome observed.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    dict
        ``outcome``, ``accounts_reached``, ``accounts_not_reached``, the two
        rates ``rate_reached`` and ``rate_not_reached`` with Wilson intervals
        (``_low``/``_high``) and their risk ratio ``relative_risk`` with its
        Katz interval. A rate with no account is NaN.
    """
    reached = np.asarray(reached, dtype=bool)
    outcome = np.asarray(outcome, dtype=bool)
    a, b, c, d = (float(v[0]) for v in stats.cell_counts(reached, outcome))
    lo1, hi1 = stats.wilson_interval(a, a + b, alpha)
    lo0, hi0 = stats.wilson_interval(c, c + d, alpha)
    rr, rr_lo, rr_hi = stats.risk_ratio(reached, outcome, alpha)
    return {
        "outcome": label,
        "accounts_reached": int(a + b),
        "accounts_not_reached": int(c + d),
        "rate_reached": a / (a + b) if a + b else np.nan,
        "rate_reached_low": float(lo1),
        "rate_reached_high": float(hi1),
        "rate_not_reached": c / (c + d) if c + d else np.nan,
        "rate_not_reached_low": float(lo0),
        "rate_not_reached_high": float(hi0),
        "relative_risk": float(rr[0]),
        "relative_risk_low": float(rr_lo[0]),
        "relative_risk_high": float(rr_hi[0]),
    }


def _activation_validation(
    activated, activation_pop, no_early_churn, population, jc
) -> pd.DataFrame:
    ids = activation_pop[activation_pop].index
    rows = [
        compare_rates(f"churned by day {jc.early_churn_days}", activated[ids], ~no_early_churn[ids])
    ]
    ret_ids = population.flags.index.intersection(ids)
    if len(ret_ids):
        rows.append(
            compare_rates(
                f"retained at day {population.horizon_days}",
                activated[ret_ids],
                population.retained.reindex(ret_ids),
            )
        )
    return pd.DataFrame(rows)


def _attainment_by_size(metrics, bands, result, config) -> pd.DataFrame:
    raw_ok = metrics["utilization_raw"] >= result.utilization_raw.threshold
    seat_ok = metrics["utilization_value"] >= result.utilization.threshold
    frame = pd.DataFrame(
        {"size_band": bands.to_numpy(), "raw": raw_ok.to_numpy(), "seat": seat_ok.to_numpy()}
    )
    t = frame.groupby("size_band").agg(
        accounts=("raw", "size"), attained_raw=("raw", "mean"), attained_per_seat=("seat", "mean")
    )
    # configured bands ("1-10", "11-50", ...) and text bands ("10-50") by their lower bound
    return t.reindex(band_order(t.index)).reset_index()


def _setup_table(flags: pd.DataFrame, activated: np.ndarray, jc) -> tuple[pd.DataFrame, list[str]]:
    X = flags.to_numpy(dtype=bool)
    n_steps = X.shape[1]
    rr, lo, hi = stats.risk_ratio(X, activated)
    # decision interval: Bonferroni over the steps, so a neutral step rarely slips in
    _, lo_b, _ = stats.risk_ratio(X, activated, alpha=0.05 / max(n_steps, 1))
    a, b, c, d = stats.cell_counts(X, activated)
    prevalence = X.mean(axis=0)
    t = pd.DataFrame(
        {
            "step": flags.columns.astype(str),
            "prevalence": prevalence,
            "completers": (a + b).astype(int),
            "activation_completers": a / (a + b),
            "activation_non_completers": c / (c + d),
            "risk_ratio": rr,
            "risk_ratio_low": lo,
            "risk_ratio_high": hi,
            "risk_ratio_low_bonferroni": lo_b,
        }
    )
    status, why = [], []
    for r in t.itertuples():
        if r.prevalence > jc.setup_routine:
            status.append("dropped_routine")
            why.append(
                f"done by {r.prevalence:.0%} of accounts (> {jc.setup_routine:.0%}): "
                "too common to be a milestone"
            )
        elif r.prevalence < jc.setup_niche:
            status.append("dropped_niche")
            why.append(f"done by {r.prevalence:.1%} of accounts (< {jc.setup_niche:.0%})")
        elif r.risk_ratio_low_bonferroni > 1:
            status.append("checklist")
            why.append(
                f"activation {r.activation_completers:.0%} vs {r.activation_non_completers:.0%} "
                f"(risk ratio {r.risk_ratio:.2f}, "
                f"95% CI {r.risk_ratio_low:.2f}-{r.risk_ratio_high:.2f})"
            )
        else:
            status.append("dropped_no_effect")
            why.append(
                f"no clear effect on activation (risk ratio {r.risk_ratio:.2f}, "
                f"95% CI {r.risk_ratio_low:.2f}-{r.risk_ratio_high:.2f})"
            )
    t["status"], t["reason"] = status, why
    t = t.sort_values(
        ["status", "risk_ratio"],
        ascending=[True, False],
        key=lambda s: (
            s.map(
                {"checklist": 0, "dropped_no_effect": 1, "dropped_routine": 2, "dropped_niche": 3}
            )
            if s.name == "status"
            else s
        ),
    )
    checklist = t.loc[t["status"] == "checklist", "step"].tolist()
    return t.reset_index(drop=True), checklist


# ----------------------------------------------------------------------------- scoring


def with_early_activity(population: Population, dataset: Dataset, config: Config) -> Population:
    """The population also adjusted for early engagement (``features.adjust_for_early_activity``).

    Parameters
    ----------
    population : Population
    dataset : Dataset
    config : Config

    Returns
    -------
    Population

    Notes
    -----
    The covariate is ``log1p`` of the activation metric summed over the
    activation months (see :func:`~milestone_discovery.journey.journey_metrics`).

    Raises
    ------
    InsufficientDataError
        When the dataset has no ``activity`` table.
    """
    if dataset.kind != "tables" or dataset.activity is None:
        raise InsufficientDataError(
            "features.adjust_for_early_activity needs an 'activity' table; this dataset has none"
        )
    metrics = journey_metrics(dataset, config).reindex(population.flags.index)
    value = np.log1p(metrics["activation_value"].fillna(0.0).clip(lower=0))
    months = config.journey.activation_months
    return population.with_covariate(
        "early_activity",
        value,
        f"early activity ({config.journey.activation_metric}, months 0-{months - 1})",
    )
