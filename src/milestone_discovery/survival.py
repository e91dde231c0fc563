"""Time to churn from a landmark: Kaplan-Meier curves and Cox models per milestone.

The fixed-horizon study judges retention at ``horizon_days`` after signup, so
it can only use accounts old enough to have that outcome: the most recent
cohorts are left out. The survival view keeps them:

* **landmark**: the end of the observation window, ``signup + observation_days``.
  Every milestone of the study is measured inside that window, so at the
  landmark it is already known whether an account reached it (no immortal-time
  bias: an account cannot "reach" a milestone by surviving longer);
* **who enters**: accounts still customers at their landmark (churn on or after
  it; the retention population uses the same rule) whose landmark lies before
  ``as_of``. Accounts that churned inside the window, or whose window is not
  over yet, are counted by reason in :attr:`SurvivalResult.exclusions`;
* **time**: days from the landmark to churn, censored at ``as_of`` for accounts
  still customers (young accounts contribute their follow-up so far);
* per milestone, **Kaplan-Meier** curves for accounts that reached it vs not
  (median time to churn, share still customers 12 and 24 months after the
  landmark, log-log pointwise CIs from Greenwood's variance), and a **Cox
  proportional-hazards model** of churn on the milestone adjusted for
  ``log(1 + company_size)``, ``log(1 + seats)`` (median-imputed where missing,
  one-hot bands when company size is given as text) and plan (one-hot, the
  most common plan is the reference level), Breslow ties (Efron gave the same hazard
  ratios to three decimals on 20k accounts, at 1.6 times the cost). The hazard ratio is
  ``exp(beta)`` with a Wald CI at ``alpha``; below 1 means the milestone goes
  with a lower churn hazard;
* a **check of proportional hazards** for the milestone's coefficient: the
  Grambsch-Therneau (1994) test with ``g(t) = log t``, i.e. the correlation of
  the milestone's scaled Schoenfeld residuals with log event time. It
  approximates the score test for adding a ``milestone x log(t)`` interaction
  to the model, so a small ``ph_p_value`` says that the hazard ratio drifts
  over time (for example a milestone that protects in the first months only)
  and the single hazard ratio is an average over follow-up; the KM curves then
  tell the story. (On real churn data, with renewal dates, this is common.)

Library choice: statsmodels (already a dependency) provides
:class:`~statsmodels.duration.survfunc.SurvfuncRight` for the Kaplan-Meier
curves. The Cox models are fitted by :func:`milestone_discovery.cox.fit_cox`,
a vectorised Breslow fit that gives the same estimates, covariance and
Schoenfeld residuals as statsmodels'
:class:`~statsmodels.duration.hazard_regression.PHReg` (checked in the tests)
about ten times faster: ``PHReg`` loops over event times in Python. lifelines
caps pandas below 3 and scikit-survival needs Python >= 3.11 and a narrow
scikit-learn range, so either would constrain the package's own requirements
(pandas >= 2.1 including 3.x, Python >= 3.10).

The result is a :class:`~milestone_discovery.survival_result.SurvivalResult`;
its charts are drawn by :mod:`milestone_discovery.plotting_effects`. Both are
re-exported here.

>>> from milestone_discovery.survival import milestone_columns, survival_analysis
>>> result = survival_analysis(                                    # doctest: +SKIP
...     dataset.accounts, milestone_columns(study.accounts),
...     as_of=dataset.as_of, observation_days=180, horizon_days=365)
>>> result.summary()                                               # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats as _st

from .cox import fit_cox
from .errors import InsufficientDataError
from .plotting_effects import plot_hazard_ratios, plot_survival_curves
from .survival_result import FOLLOW_UP_DAYS, RESULT_COLUMNS, SurvivalResult

__all__ = [
    "SurvivalResult",
    "survival_analysis",
    "landmark_times",
    "milestone_columns",
    "proportional_hazards_test",
    "plot_survival_curves",
    "plot_hazard_ratios",
    "LANDMARK_EXCLUSIONS",
    "FOLLOW_UP_DAYS",
]

LANDMARK_EXCLUSIONS = {
    "churned_in_window": "churned inside the observation window (not a customer at the landmark)",
    "window_not_complete": (
        "signed up less than the observation window before as_of (no follow-up yet)"
    ),
}


def _z(alpha: float) -> float:
    return float(_st.norm.ppf(1 - alpha / 2))


def _with_account_index(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if "account_id" in frame.columns:
        frame = frame.set_index("account_id")
    elif frame.index.name != "account_id":
        raise InsufficientDataError(
            f"{what} needs an 'account_id' column or an index named 'account_id'"
        )
    if frame.index.has_duplicates:
        dup = frame.index[frame.index.duplicated()].unique()[:5].tolist()
        raise InsufficientDataError(f"{what}: duplicate account_id, e.g. {dup}")
    return frame


def landmark_times(
    accounts: pd.DataFrame,
    *,
    as_of,
    observation_days: int,
    horizon_days: int | None = None,
) -> pd.DataFrame:
    """Landmark, follow-up time and churn event of every account.

    Parameters
    ----------
    accounts : pandas.DataFrame
        ``account_id`` (column or index), ``signup_date`` and optionally
        ``churn_date`` (empty while a customer).
    as_of : date-like
        The analysis date: nothing after it is observed.
    observation_days : int
        Length of the observation window; the landmark is its end.
    horizon_days : int, optional
        If given, ``fixed_horizon`` marks the accounts that the fixed-horizon
        retention population holds (entered and signed up at least
        ``horizon_days`` before ``as_of``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id``: ``landmark`` (date), ``entered`` (bool),
        ``exclusion_reason`` (one of :data:`LANDMARK_EXCLUSIONS` or None),
        ``time`` (days from the landmark to churn or to ``as_of``; NaN when not
        entered), ``event`` (churn observed) and, with ``horizon_days``,
        ``fixed_horizon``.
    """
    acc = _with_account_index(accounts, "accounts")
    if "signup_date" not in acc.columns:
        raise InsufficientDataError("the survival analysis needs accounts.signup_date")
    as_of = pd.Timestamp(as_of)
    signup = pd.to_datetime(acc["signup_date"])
    churn = (
        pd.to_datetime(acc["churn_date"])
        if "churn_date" in acc.columns
        else pd.Series(pd.NaT, index=acc.index, dtype="datetime64[ns]")
    )
    landmark = signup + pd.Timedelta(days=int(observation_days))
    churned_before = churn.notna() & (churn < landmark)
    not_complete = landmark >= as_of
    reason = np.full(len(acc), None, dtype=object)
    reason[not_complete.to_numpy()] = "window_not_complete"
    reason[churned_before.to_numpy()] = "churned_in_window"  # known regardless of age
    entered = pd.Series(pd.isna(reason), index=acc.index)
    event = entered & churn.notna() & (churn <= as_of)
    end = churn.where(event, as_of)
    days = (end - landmark) / pd.Timedelta(days=1)
    out = pd.DataFrame(
        {
            "landmark": landmark,
            "entered": entered.to_numpy(dtype=bool),
            "exclusion_reason": pd.Series(reason, index=acc.index, dtype=object),
            "time": days.where(entered).astype(float),
            "event": event.to_numpy(dtype=bool),
        },
        index=pd.Index(acc.index, name="account_id"),
    )
    if horizon_days is not None:
        old_enough = signup + pd.Timedelta(days=int(horizon_days)) <= as_of
        out["fixed_horizon"] = (entered & old_enough).to_numpy(dtype=bool)
    return out


def milestone_columns(scored_accounts: pd.DataFrame) -> pd.DataFrame:
    """The milestone flags of scored accounts, ready for :func:`survival_analysis`.

    Parameters
    ----------
    scored_accounts : pandas.DataFrame
        The output of :func:`~milestone_discovery.scoring.score_accounts`
        (``study.accounts`` or ``accounts.csv``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``account_id``, the boolean columns ``setup``,
        ``activation``, ``utilization``, ``mature`` and every
        ``<category>:mature`` that exist, in that order.
    """
    acc = _with_account_index(scored_accounts, "scored accounts")
    names = [c for c in ("setup", "activation", "utilization", "mature") if c in acc.columns]
    names += sorted(c for c in acc.columns if isinstance(c, str) and c.endswith(":mature"))
    out = pd.DataFrame(index=acc.index)
    for name in names:
        values = acc[name]
        if values.dtype == object or str(values.dtype) in ("str", "string"):
            values = values.map({"True": True, "False": False, True: True, False: False})
        out[name] = values.astype("boolean")
    return out


def _numeric(values: pd.Series) -> pd.Series | None:
    num = pd.to_numeric(values, errors="coerce")
    return num if num.notna().any() and num.notna().mean() >= 0.5 else None


def _design(acc: pd.DataFrame) -> pd.DataFrame:
    """Adjustment covariates: log size, log seats, plan (reference level dropped)."""
    out = pd.DataFrame(index=acc.index)
    for col in ("company_size", "seats"):
        if col not in acc.columns:
            continue
        num = _numeric(acc[col])
        if num is not None:
            out[f"log_{col}"] = np.log1p(num.clip(lower=0).fillna(num.median()).astype(float))
        elif acc[col].notna().any():  # text bands
            out = out.join(_one_hot(acc[col], col))
    if "plan" in acc.columns:
        out = out.join(_one_hot(acc["plan"], "plan"))
    return out


def _one_hot(values: pd.Series, name: str) -> pd.DataFrame:
    labels = values.astype(object).where(values.notna(), "unknown").astype(str)
    counts = labels.value_counts()
    levels = sorted(counts.index)
    reference = sorted(levels, key=lambda v: (-counts[v], v))[0] if levels else None
    return pd.DataFrame(
        {f"{name}={lv}": (labels == lv).astype(float) for lv in levels if lv != reference},
        index=values.index,
    )


def _usable_columns(X: np.ndarray) -> np.ndarray:
    """Indices of columns to keep: non-constant and linearly independent (column 0 first)."""
    keep: list[int] = []
    for j in range(X.shape[1]):
        col = X[:, j]
        if j > 0 and np.ptp(col) == 0:
            continue
        trial = X[:, keep + [j]]
        trial = trial - trial.mean(axis=0)
        if np.linalg.matrix_rank(trial) == len(keep) + 1:
            keep.append(j)
    return np.asarray(keep, dtype=int)


def proportional_hazards_test(result, time: np.ndarray, column: int = 0) -> tuple[float, float]:
    """Grambsch-Therneau test of proportional hazards for one coefficient.

    The milestone's Schoenfeld residuals, scaled by the number of events
    times the coefficients' covariance, are correlated with ``g(t) = log t``
    (event times below half a day count as half a day). The statistic
    ``d * (sum (g - mean g) (V r)_j)**2 / (V_jj * sum (g - mean g)**2)`` is
    chi-square with one degree of freedom under proportional hazards. It
    approximates the score test for adding ``x_j * log(t)`` to the model
    (Grambsch & Therneau 1994; the classic ``cox.zph`` statistic) and, being
    invariant to a constant shift of the residuals, does not depend on how
    ties were handled in the fit.

    Parameters
    ----------
    result : milestone_discovery.cox.CoxFit
        A fitted Cox model (:func:`~milestone_discovery.cox.fit_cox`); anything
        with ``schoenfeld_residuals`` (NaN for censored rows) and
        ``cov_params()``, such as statsmodels' ``PHRegResults``, works too.
    time : numpy.ndarray
        The follow-up times the model was fitted on.
    column : int
        Which coefficient to test.

    Returns
    -------
    statistic, p_value : float
        NaN with fewer than three events or a single distinct event time.
    """
    resid = np.asarray(result.schoenfeld_residuals, dtype=float)
    rows = np.isfinite(resid).all(axis=1)
    n_events = int(rows.sum())
    g = np.log(np.maximum(np.asarray(time, dtype=float)[rows], 0.5))
    gc = g - g.mean() if n_events else g
    ss = float((gc**2).sum())
    if n_events < 3 or ss <= 0:
        return float("nan"), float("nan")
    cov = np.asarray(result.cov_params(), dtype=float)
    scaled = resid[rows] @ cov  # (V r_k) for every event k (V is symmetric)
    statistic = n_events * float(gc @ scaled[:, column]) ** 2 / (cov[column, column] * ss)
    return statistic, float(_st.chi2.sf(statistic, 1))


def _km(time: np.ndarray, event: np.ndarray, alpha: float) -> dict:
    """Kaplan-Meier steps, median with CI and share alive at the follow-up times."""
    from statsmodels.duration.survfunc import SurvfuncRight

    z = _z(alpha)
    sf = SurvfuncRight(time, event.astype(float))
    t = np.asarray(sf.surv_times, dtype=float)
    s = np.asarray(sf.surv_prob, dtype=float)
    se = np.asarray(sf.surv_prob_se, dtype=float)
    low, high = _loglog_ci(s, se, z)
    steps = pd.DataFrame(
        {
            "time": np.concatenate([[0.0], t]),
            "survival": np.concatenate([[1.0], s]),
            "low": np.concatenate([[1.0], low]),
            "high": np.concatenate([[1.0], high]),
            "at_risk": np.concatenate([[len(time)], np.asarray(sf.n_risk, dtype=float)]),
        }
    )
    median = float(sf.quantile(0.5))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m_low, m_high = (float(v) for v in sf.quantile_ci(0.5, alpha=alpha))
    except (ValueError, IndexError, FloatingPointError):  # pragma: no cover - defensive
        m_low = m_high = float("nan")
    out = {
        "steps": steps,
        "median": median,
        "median_low": m_low,
        "median_high": m_high,
        "follow_up": float(np.max(time)) if len(time) else float("nan"),
    }
    for key, days in FOLLOW_UP_DAYS.items():
        out[f"alive_{key}"] = _at(steps, days, out["follow_up"])
    return out


def _loglog_ci(s: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (s > 0) & (s < 1)
        se_ll = np.where(inner, se / (s * np.abs(np.log(np.where(inner, s, 0.5)))), np.nan)
        low = np.where(inner, s ** np.exp(z * se_ll), s)
        high = np.where(inner, s ** np.exp(-z * se_ll), s)
    return low, high


def _at(steps: pd.DataFrame, days: float, follow_up: float) -> tuple[float, float, float]:
    """KM share alive at ``days`` with CI; NaN beyond the group's longest follow-up.

    Beyond it, a curve that has reached 0 (the last account churned) stays 0.
    """
    if not np.isfinite(follow_up):
        return float("nan"), float("nan"), float("nan")
    if days > follow_up:  # beyond the group's follow-up: known only if nobody is left
        last = float(steps["survival"].iloc[-1])
        return (0.0, 0.0, 0.0) if last == 0 else (float("nan"), float("nan"), float("nan"))
    i = int(np.searchsorted(steps["time"].to_numpy(), days, side="right")) - 1
    row = steps.iloc[max(i, 0)]
    return float(row["survival"]), float(row["low"]), float(row["high"])


def _cox(time, event, X: np.ndarray, names: list[str], alpha: float) -> dict:
    """Hazard ratio of column 0 (the milestone) adjusted for the other columns.

    Breslow ties, fitted by :func:`~milestone_discovery.cox.fit_cox` (the same
    estimator as statsmodels' ``PHReg(..., ties="breslow")``, vectorised).
    """
    keep = _usable_columns(X)
    X = X[:, keep]
    used = [names[j] for j in keep]
    # centre and scale covariates (not the milestone) for a well-conditioned fit
    Xs = X.copy()
    if Xs.shape[1] > 1:
        rest = Xs[:, 1:]
        Xs[:, 1:] = (rest - rest.mean(axis=0)) / rest.std(axis=0)
    notes = []
    res = fit_cox(time, event, Xs)
    if not res.converged:
        notes.append("the Cox model did not fully converge")
    beta = float(res.params[0])
    se = float(res.bse[0])
    z = _z(alpha)
    _, ph_p = proportional_hazards_test(res, time, 0)
    return {
        "hazard_ratio": float(np.exp(beta)),
        "hazard_ratio_low": float(np.exp(beta - z * se)),
        "hazard_ratio_high": float(np.exp(beta + z * se)),
        "p_value": float(2 * _st.norm.sf(abs(beta / se))) if se > 0 else float("nan"),
        "ph_p_value": ph_p,
        "adjusted_for": used[1:],
        "notes": notes,
    }


def survival_analysis(
    accounts: pd.DataFrame,
    milestones: pd.DataFrame,
    *,
    as_of,
    observation_days: int,
    horizon_days: int | None = None,
    alpha: float = 0.05,
    min_group_events: int = 3,
) -> SurvivalResult:
    """Kaplan-Meier curves and adjusted hazard ratios of churn per milestone.

    Parameters
    ----------
    accounts : pandas.DataFrame
        One row per account as in the input contract: ``account_id`` (column
        or index), ``signup_date``, and optionally ``churn_date``, ``plan``,
        ``company_size`` (employees, or text bands), ``seats``.
    milestones : pandas.DataFrame
        Boolean milestone flags indexed by ``account_id`` (or with an
        ``account_id`` column), one column per milestone, measured inside the
        observation window (e.g. :func:`milestone_columns` of
        ``study.accounts``). Missing values leave the account out of that
        milestone's analysis.
    as_of : date-like
        The analysis date (``dataset.as_of``); churn after it is not observed.
    observation_days : int
        The landmark: end of the observation window, in days after signup
        (``config.study.observation_days``).
    horizon_days : int, optional
        The fixed-horizon study's horizon, only to count how many of the
        accounts its retention population would hold.
    alpha : float
        Significance level of the CIs and tests (``config.features.alpha``).
    min_group_events : int
        A milestone needs at least this many churn events among accounts that
        reached it and among those that did not for a hazard ratio; otherwise
        its row says why (``reason``) and carries only the curves.

    Returns
    -------
    SurvivalResult

    Raises
    ------
    InsufficientDataError
        If ``accounts`` has no ``signup_date``, no account entered the
        landmark population, or no churn was observed among those that did.
    """
    started = time.perf_counter()
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    acc = _with_account_index(accounts, "accounts")
    marks = _with_account_index(milestones, "milestones")
    lt = landmark_times(
        acc, as_of=as_of, observation_days=observation_days, horizon_days=horizon_days
    )
    counts = lt["exclusion_reason"].value_counts()
    exclusions = pd.DataFrame(
        [
            {"reason": r, "accounts": int(counts.get(r, 0)), "description": d}
            for r, d in LANDMARK_EXCLUSIONS.items()
        ]
    )
    entered = lt[lt["entered"]]
    if entered.empty:
        raise InsufficientDataError(
            f"not enough data for the survival analysis: no account was still a customer at the "
            f"end of its {observation_days}-day observation window before as_of "
            f"({', '.join(f'{r.reason}: {r.accounts}' for r in exclusions.itertuples())})"
        )
    n_events = int(entered["event"].sum())
    if n_events == 0:
        raise InsufficientDataError(
            f"not enough data for the survival analysis: none of the {len(entered):,} accounts "
            "alive at the end of the observation window churned before as_of"
        )
    time_all = entered["time"].to_numpy(dtype=float)
    event_all = entered["event"].to_numpy(dtype=bool)
    design = _design(acc.loc[entered.index])
    covariate_names = list(design.columns)
    Z = design.to_numpy(dtype=float)

    rows, curves = [], {}
    adjusted: set[str] = set()
    for name in marks.columns:
        flag = marks[name].reindex(entered.index)
        known = flag.notna().to_numpy()
        x = np.zeros(len(flag), dtype=bool)
        x[known] = flag[known].astype(bool).to_numpy()
        t, e, xk = time_all[known], event_all[known], x[known]
        row = _empty_row(name, t, e, xk)
        reason = _not_enough(xk, e, min_group_events)
        parts = []
        for g, mask in (("reached", xk), ("not_reached", ~xk)):
            if mask.any():
                km = _km(t[mask], e[mask], alpha)
                parts.append(km["steps"].assign(group=g))
                row[f"median_days_{g}"] = km["median"]
                row[f"median_days_{g}_low"] = km["median_low"]
                row[f"median_days_{g}_high"] = km["median_high"]
                for key in FOLLOW_UP_DAYS:
                    s, lo, hi = km[f"alive_{key}"]
                    row[f"alive_{key}_{g}"] = s
                    row[f"alive_{key}_{g}_low"] = lo
                    row[f"alive_{key}_{g}_high"] = hi
        curves[name] = (
            pd.concat(parts, ignore_index=True)[
                ["group", "time", "survival", "low", "high", "at_risk"]
            ]
            if parts
            else pd.DataFrame(columns=["group", "time", "survival", "low", "high", "at_risk"])
        )
        if reason is None:
            X = np.column_stack([xk.astype(float), Z[known]])
            try:
                cox = _cox(t, e, X, [name, *covariate_names], alpha)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
                reason = f"not enough data: the Cox model could not be fitted ({exc})"
            else:
                adjusted.update(cox.pop("adjusted_for"))
                notes = cox.pop("notes")
                row.update(cox)
                if notes:
                    row["note"] = "; ".join(notes)
                if not np.isfinite(row["hazard_ratio_low"]) or not np.isfinite(
                    row["hazard_ratio_high"]
                ):
                    reason = "not enough data: the hazard ratio's CI is not finite"
                    for k in ("hazard_ratio", "hazard_ratio_low", "hazard_ratio_high", "p_value"):
                        row[k] = float("nan")
        row["reason"] = reason
        rows.append(row)

    table = (
        pd.DataFrame(rows, columns=RESULT_COLUMNS) if rows else pd.DataFrame(columns=RESULT_COLUMNS)
    )
    for col in ("milestone", "reason", "note"):  # text or None (not NaN), whatever pandas infers
        table[col] = _text_or_none(table[col])
    overall = _km(time_all, event_all, alpha)["steps"]
    return SurvivalResult(
        table=table,
        curves=curves,
        overall=overall,
        exclusions=exclusions,
        landmark_days=int(observation_days),
        as_of=pd.Timestamp(as_of),
        alpha=float(alpha),
        accounts=len(entered),
        events=n_events,
        fixed_horizon_accounts=(
            int(entered["fixed_horizon"].sum()) if "fixed_horizon" in entered else None
        ),
        horizon_days=horizon_days,
        adjusted_for=[c for c in covariate_names if c in adjusted],
        timings={"survival": time.perf_counter() - started},
    )


def _text_or_none(values: pd.Series) -> pd.Series:
    return pd.Series(
        [v if isinstance(v, str) else None for v in values], index=values.index, dtype=object
    )


def _empty_row(name: str, t: np.ndarray, e: np.ndarray, x: np.ndarray) -> dict:
    row = dict.fromkeys(RESULT_COLUMNS, float("nan"))
    row.update(
        {
            "milestone": name,
            "accounts": len(t),
            "events": int(e.sum()),
            "reached": int(x.sum()),
            "reached_share": float(x.mean()) if len(x) else float("nan"),
            "events_reached": int((e & x).sum()),
            "events_not_reached": int((e & ~x).sum()),
            "reason": None,
            "note": None,
        }
    )
    return row


def _not_enough(x: np.ndarray, e: np.ndarray, min_events: int) -> str | None:
    if not len(x):
        return "not enough data: no account has this milestone measured"
    if not x.any():
        return "not enough data: no account reached this milestone"
    if x.all():
        return "not enough data: every account reached this milestone"
    for label, mask in (("reached it", x), ("did not reach it", ~x)):
        if int(e[mask].sum()) < min_events:
            return (
                f"not enough data: {int(e[mask].sum())} churn event(s) among accounts that "
                f"{label} (need {min_events})"
            )
    return None
