"""The report's time-to-churn section (``framework.json → survival``), as plain data.

Accounts followed from the end of the observation window: hazard ratios and
Kaplan–Meier curves, drawn by
:func:`milestone_discovery.plotting_effects.plot_hazard_ratios` and
:func:`~milestone_discovery.plotting_effects.plot_survival_curves` from the
run's ``tables/survival*.csv`` (hazard ratios fall back to ``framework.json``).
Also holds the small helpers the other analysis sections share
(:func:`ci_pair`, :func:`confidence_level`, :func:`join_words`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import charts
from .format import (
    MISSING,
    fmt_ci,
    fmt_int,
    fmt_pct,
    fmt_ratio,
    interval,
    label,
    num,
    rate_phrase,
)
from .load import RunData
from .prose import milestone_phrase, milestone_title

__all__ = [
    "CURVE_MILESTONES",
    "ci_pair",
    "confidence_level",
    "hazard_sentence",
    "join_words",
    "survival_section",
]

_MONTH_DAYS = 365.25 / 12
#: The milestones whose Kaplan–Meier curves are drawn, in journey order.
CURVE_MILESTONES = ("setup", "activation", "utilization", "mature")


def ci_pair(record: dict, key: str = "ci") -> tuple[float | None, float | None]:
    """The interval stored as ``record[key] = [low, high]``."""
    return interval({"x_ci": record.get(key)}, "x")


def confidence_level(alpha: Any) -> str:
    """The confidence level of a test at ``alpha`` (``"95%"`` when missing)."""
    a = num(alpha)
    return f"{1 - (a if a is not None else 0.05):.0%}"


def join_words(parts: list[str]) -> str:
    """``"a, b and c"`` from ``["a", "b", "c"]``."""
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


# ----------------------------------------------------------------------------- time to churn
def _survival_adjustment(names: list[Any]) -> str:
    """``["log_company_size", "log_seats", "plan=pro"] -> "same size and plan"`` ("" when none)."""
    names = [str(n) for n in names or []]
    parts = []
    if any(
        n.split("=")[0] in ("log_company_size", "company_size", "log_seats", "seats") for n in names
    ):
        parts.append("size")
    if any(n.split("=")[0] == "plan" for n in names):
        parts.append("plan")
    return f"same {join_words(parts)}" if parts else ""


def _months(days: Any, n: float | None) -> str:
    """Median days to churn as months; "not reached" when fewer than half churned."""
    if n is not None and n <= 0:
        return MISSING
    value = num(days)
    return "not reached" if value is None else f"{value / _MONTH_DAYS:.1f}"


def _alive(record: dict, key: str, group: str) -> str:
    entry = (record.get(key) or {}).get(group) or {}
    if not isinstance(entry, dict):
        return MISSING
    return rate_phrase(entry.get("share"), *ci_pair(entry))


def hazard_sentence(record: dict, similar: str, alpha: Any) -> str | None:
    """A milestone's hazard ratio in words.

    ``"Accounts that reached maturity churn at 0.56× the rate of similar accounts
    (same size and plan)."``, with a caveat when the interval includes 1 and
    when the proportional-hazards test fails (``ph_p_value < alpha``).
    """
    hr = num(record.get("hazard_ratio"))
    if hr is None:
        return None
    lo, hi = ci_pair(record)
    who = f"similar accounts ({similar})" if similar else "the other accounts"
    text = (
        f"Accounts that reached {milestone_phrase(record.get('milestone', ''))} churn at "
        f"{fmt_ratio(hr)}× the rate of {who}"
    )
    if lo is not None and hi is not None and lo <= 1 <= hi:
        text += f"; the interval ({fmt_ci(lo, hi)}) includes 1, so the difference is not clear"
    ph = num(record.get("ph_p_value"))
    a = num(alpha)
    if ph is not None and ph < (a if a is not None else 0.05):
        text += (
            ". The gap changes over time; see the curve — the hazard ratio is an average over "
            "follow-up"
        )
    return text + "."


def _survival_frame(milestones: list[dict]) -> pd.DataFrame:
    """``tables/survival.csv``'s hazard-ratio columns, from framework.json."""
    rows = []
    for m in milestones:
        lo, hi = ci_pair(m)
        rows.append(
            {
                "milestone": str(m.get("milestone", "")),
                "hazard_ratio": num(m.get("hazard_ratio")),
                "hazard_ratio_low": lo,
                "hazard_ratio_high": hi,
            }
        )
    return pd.DataFrame(
        rows, columns=["milestone", "hazard_ratio", "hazard_ratio_low", "hazard_ratio_high"]
    )


def _titled(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A survival table with its milestones' display names."""
    if frame is None or "milestone" not in frame:
        return frame
    return frame.assign(milestone=frame["milestone"].map(milestone_title))


def _exclusion_lines(run: RunData, surv: dict) -> list[str]:
    from ..survival import LANDMARK_EXCLUSIONS

    table = run.table("survival_exclusions")
    if table is not None and {"reason", "accounts"} <= set(table.columns):
        records = table.to_dict("records")
    else:
        records = [{"reason": k, "accounts": v} for k, v in (surv.get("excluded") or {}).items()]
    lines = []
    for r in records:
        n = num(r.get("accounts"))
        if not n:
            continue
        reason = str(r.get("reason", ""))
        why = str(r.get("description") or "") or LANDMARK_EXCLUSIONS.get(reason, label(reason))
        lines.append(f"{fmt_int(n)} {why}")
    return lines


def survival_section(run: RunData) -> tuple[dict | None, str | None]:
    """The time-to-churn section, or (None, why the run skipped it); (None, None) when absent."""
    surv = run.survival
    if not surv:
        return None, None
    if not isinstance(surv.get("milestones"), list):
        return None, str(surv.get("skipped") or "not run")
    alpha = surv.get("alpha")
    level = confidence_level(alpha)
    similar = _survival_adjustment(surv.get("adjusted_for") or [])
    n, fixed = num(surv.get("accounts")), num(surv.get("fixed_horizon_accounts"))
    landmark, horizon = surv.get("landmark_days"), surv.get("horizon_days")
    intro = f"{fmt_int(n)} accounts followed from the end of the {landmark}-day window"
    if n is not None and fixed is not None and horizon:
        more = n - fixed
        if more > 0:
            intro += f" ({fmt_int(more)} more than the {horizon}-day retention study)"
        elif more < 0:
            intro += f" ({fmt_int(-more)} fewer than the {horizon}-day retention study)"
        else:
            intro += f" (as many as the {horizon}-day retention study)"
    events = num(surv.get("events"))
    if events is not None:
        intro += (
            f"; {fmt_int(events)} of them churned before {surv.get('as_of') or 'the data date'}"
        )
    rows = []
    milestones = [m for m in surv["milestones"] if isinstance(m, dict)]
    for m in milestones:
        lo, hi = ci_pair(m)
        share, accounts = num(m.get("reached_share")), num(m.get("accounts"))
        n1 = share * accounts if share is not None and accounts is not None else None
        n0 = accounts - n1 if n1 is not None else None
        ph, a = num(m.get("ph_p_value")), num(alpha)
        medians = m.get("median_days") or {}
        rows.append(
            {
                "name": milestone_title(m.get("milestone", "")),
                "share": fmt_pct(share),
                "hr": fmt_ratio(m.get("hazard_ratio")),
                "hr_ci": fmt_ci(lo, hi),
                "clear": lo is not None and hi is not None and not lo <= 1 <= hi,
                "sentence": hazard_sentence(m, similar, alpha),
                "ph_varies": ph is not None and ph < (a if a is not None else 0.05),
                "median_reached": _months(medians.get("reached"), n1),
                "median_not": _months(medians.get("not_reached"), n0),
                "alive12_reached": _alive(m, "alive_12m", "reached"),
                "alive12_not": _alive(m, "alive_12m", "not_reached"),
                "alive24_reached": _alive(m, "alive_24m", "reached"),
                "alive24_not": _alive(m, "alive_24m", "not_reached"),
                "reason": str(m.get("reason") or ""),
            }
        )
    table = run.table("survival")
    hazards = _titled(table if table is not None else _survival_frame(milestones))
    curves = _titled(run.table("survival_curves"))
    keys = [str(m.get("milestone")) for m in milestones]
    varies = [
        str(m.get("milestone")) for m, r in zip(milestones, rows, strict=True) if r["ph_varies"]
    ]
    drawn = []
    for key in [k for k in CURVE_MILESTONES if k in keys] + [
        k for k in varies if k not in CURVE_MILESTONES
    ]:
        chart = charts.survival_chart(curves, milestone_title(key), hazards, level)
        if chart:
            drawn.append({"name": milestone_title(key), "chart": chart})
    return {
        "intro": intro,
        "level": level,
        "similar": similar,
        "adjusted": similar.removeprefix("same "),
        "rows": rows,
        "sentences": [r["sentence"] for r in rows if r["sentence"]],
        "chart": charts.hazard_chart(hazards, level),
        "curves": drawn,
        "excluded": _exclusion_lines(run, surv),
        "model": str(surv.get("model") or "Cox proportional hazards"),
        "ph_test": str(surv.get("ph_test") or "Grambsch–Therneau"),
        "as_of": str(surv.get("as_of") or "the data date"),
    }, None
