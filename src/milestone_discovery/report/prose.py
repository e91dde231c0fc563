"""The report's sentences: each milestone's rule, the headline findings and the notes on method.

Plain data in, plain strings out (escaped later by the template).
"""

from __future__ import annotations

from typing import Any

from .format import fmt_int, fmt_pct, fmt_ratio, fmt_value, label, num, rate_phrase
from .load import RunData, scan_comparison

__all__ = [
    "STAGE_TITLES",
    "activation_rule",
    "adjusted_for",
    "baseline",
    "factor_lead",
    "milestone_phrase",
    "milestone_title",
    "headline",
    "maturity_rule",
    "method_notes",
    "months",
    "outcome_word",
    "setup_rule",
    "shape_sentence",
    "strongest_factor",
    "utilization_rule",
]

STAGE_TITLES = {
    "setup": "Setup",
    "activation": "Activation",
    "utilization": "Utilization",
    "maturity": "Maturity",
}
#: The default month windows of the activation and utilization milestones.
ACTIVATION_MONTHS = [0, 2]
UTILIZATION_MONTHS = [3, 5]


def months(value: Any, default: list[int]) -> tuple[int, int]:
    """First and last month of a milestone's window (``[first, last]`` in framework.json)."""
    pair = value if isinstance(value, (list, tuple)) and len(value) == 2 else default
    return int(pair[0]), int(pair[1])


def setup_rule(setup: dict) -> str | None:
    steps, s = setup.get("steps") or [], num(setup.get("min_steps"))
    if not steps or s is None:
        return None
    days = setup.get("window_days", 30)
    if int(s) >= len(steps):
        return f"Complete all {len(steps)} checklist steps in the first {days} days"
    return (
        f"Complete at least {int(s)} of the {len(steps)} checklist steps in the first {days} days"
    )


def activation_rule(act: dict) -> str | None:
    if num(act.get("threshold")) is None:
        return None
    first, last = months(act.get("months"), ACTIVATION_MONTHS)
    days = act.get("window_days")
    return (
        f"At least {fmt_value(act['threshold'])} {label(act.get('metric', 'core actions'))} in "
        f"the first {last - first + 1} months "
        f"(months {first}–{last}{f', about {days} days' if days else ''})"
    )


def utilization_rule(util: dict) -> str | None:
    if num(util.get("per_seat_threshold")) is None:
        return None
    first, last = months(util.get("months"), UTILIZATION_MONTHS)
    return (
        f"At least {fmt_value(util['per_seat_threshold'])} "
        f"{label(util.get('metric', 'core actions'))} "
        f"per purchased seat per month, in months {first}–{last}"
    )


def maturity_rule(mat: dict) -> str | None:
    m, cats = num(mat.get("min_categories")), mat.get("categories") or []
    if m is None or not cats:
        return None
    return f"Mature in at least {int(m)} of the {len(cats)} categories"


def outcome_word(outcome: str) -> str:
    return "kept" if outcome.startswith("retained") else outcome


# ----------------------------------------------------------------------------- adjustment
def adjusted_for(run: RunData) -> str | None:
    """What the odds ratios were adjusted for, in the run's words; None when for nothing.

    ``model.adjusted`` false (nothing varied to adjust for) or an
    ``adjusted_for`` of ``"nothing ..."`` mean raw odds ratios; a run that
    recorded neither (an older framework) was adjusted for company size and plan.
    """
    model = run.model
    text = str(model.get("adjusted_for") or "").strip()
    if model.get("adjusted") is False or text.startswith("nothing"):
        return None
    return text or "company size and plan"


def baseline(run: RunData) -> str:
    """What the baseline ("covariates") model knows, e.g. ``"company size and plan only"``."""
    text = str(run.model.get("baseline") or "").strip()
    if text:
        return text
    adjusted = adjusted_for(run)
    return f"{adjusted} only" if adjusted else "nothing: the average retention rate"


# ----------------------------------------------------------------------------- milestone names
#: Display names of the milestone columns of ``accounts.csv`` (time to churn, segments).
MILESTONE_TITLES = {
    "setup": "Setup",
    "activation": "Activation",
    "utilization": "Utilization",
    "mature": "Mature overall",
}
_MILESTONE_PHRASES = {
    "setup": "the setup milestone",
    "activation": "activation",
    "utilization": "utilization",
    "mature": "maturity",
}


def milestone_title(key: Any) -> str:
    """``"mature" -> "Mature overall"``, ``"a:mature" -> "Mature in a"``; a feature readably."""
    key = str(key)
    if key in MILESTONE_TITLES:
        return MILESTONE_TITLES[key]
    if key.endswith(":mature"):
        return f"Mature in {label(key[: -len(':mature')])}"
    return label(key)


def milestone_phrase(key: Any) -> str:
    """What an account reached, in a sentence: ``"maturity in automation"``, ``"activation"``."""
    key = str(key)
    if key in _MILESTONE_PHRASES:
        return _MILESTONE_PHRASES[key]
    if key.endswith(":mature"):
        return f"maturity in {label(key[: -len(':mature')])}"
    return label(key)


# ----------------------------------------------------------------------------- account factors
def strongest_factor(factors: list[dict]) -> dict | None:
    """The factor most associated with retention (largest Cramér's V), among those present."""
    ranked = [
        f
        for f in factors
        if isinstance(f, dict) and f.get("present") and num(f.get("cramers_v")) is not None
    ]
    return max(ranked, key=lambda f: num(f["cramers_v"])) if ranked else None


def factor_lead(factor: dict) -> str | None:
    """``"Contract — Two-year 90% vs Monthly 48%"``: the best and worst level's retention."""
    levels = {str(lv.get("level")): lv for lv in factor.get("levels") or []}
    best, worst = str(factor.get("best_level")), str(factor.get("worst_level"))
    if best not in levels or worst not in levels or best == worst:
        return None
    name = str(factor.get("label") or factor.get("name") or "")
    return (
        f"{name[:1].upper() + name[1:]} — {best} {fmt_pct(levels[best].get('retention'))} vs "
        f"{worst} {fmt_pct(levels[worst].get('retention'))}"
    )


def headline(run: RunData, milestones: dict[str, dict]) -> list[str]:
    """The key findings, one sentence per milestone, then features and overall retention."""
    lines = []
    mat, act, util, setup = run.maturity, run.activation, run.utilization, run.setup
    m = milestones.get("maturity")
    if m:
        lines.append(
            f"Of the accounts mature in at least {int(mat['min_categories'])} of the "
            f"{len(mat.get('categories') or [])} product categories, {m['reached_text']} were "
            f"{m['outcome']}, vs {m['not_reached_text']} of the others. "
            f"{fmt_pct(m['share'])} of accounts get there."
        )
    m = milestones.get("activation")
    if m:
        first, last = months(act.get("months"), ACTIVATION_MONTHS)
        text = (
            f"Of the accounts with at least {fmt_value(act['threshold'])} "
            f"{label(act.get('metric', ''))} in their first {last - first + 1} months, "
        )
        early = [v for v in act.get("validation") or [] if "churn" in str(v.get("outcome", ""))]
        if early:
            text += (
                f"{fmt_pct(early[0].get('rate_reached'))} {early[0].get('outcome')}, vs "
                f"{fmt_pct(early[0].get('rate_not_reached'))} of the others; "
            )
        lines.append(text + f"{m['reached_text']} were {m['outcome']}, vs {m['not_reached_text']}.")
    m = milestones.get("utilization")
    if m:
        lines.append(
            f"Of the accounts with {fmt_value(util['per_seat_threshold'])} or more "
            f"{label(util.get('metric', ''))} per seat per month, {m['reached_text']} were "
            f"{m['outcome']}, vs {m['not_reached_text']} of the others."
        )
    if setup_rule(setup):
        s = scan_comparison(setup, "min_steps_")
        if num(s["rate_reached"]) is not None:
            reached = rate_phrase(s["rate_reached"], s["rate_reached_low"], s["rate_reached_high"])
            lines.append(
                f"Accounts that completed at least {int(setup['min_steps'])} of the "
                f"{len(setup['steps'])} setup checklist steps in their first "
                f"{setup.get('window_days', 30)} days activated {reached} of the "
                f"time, vs {fmt_pct(s['rate_not_reached'])} for the others."
            )
    if run.features is not None:
        n_sel = int((run.features["status"] == "selected").sum())
        adjusted = adjusted_for(run)
        lines.append(
            f"{n_sel} of {len(run.features)} product features made the cut as maturity "
            "milestones; the others were too common, too rare, limited to one segment, "
            f"{f'explained by {adjusted}, ' if adjusted else ''}leaking the outcome, or not "
            "reliably predictive."
        )
    factor = strongest_factor(run.covariates.get("factors") or [])
    lead = factor_lead(factor) if factor else None
    if lead:
        lines.append(f"Strongest account factor: {lead} retained (see Account factors).")
    survival = {
        str(m.get("milestone")): m
        for m in run.survival.get("milestones") or []
        if isinstance(m, dict) and num(m.get("hazard_ratio")) is not None
    }
    key = next((k for k in ("mature", "activation") if k in survival), None)
    if key:
        lines.append(
            f"Followed past the usage window, accounts that reached {milestone_phrase(key)} "
            f"churn at {fmt_ratio(survival[key]['hazard_ratio'])}× the rate of similar accounts "
            "(see Time to churn)."
        )
    if run.retention is not None:
        lines.append(
            f"Overall, {fmt_pct(run.retention)} of the {fmt_int(run.data.get('eligible'))} "
            f"accounts analysed were retained {run.at_horizon}"
            f"{'' if run.wide else ' after signup'}."
        )
    return lines


def method_notes(run: RunData, splits: float | None) -> list[str]:
    """How the numbers were obtained, in plain words."""
    fw, act, util, setup = run.framework, run.activation, run.utilization, run.setup
    obs, horizon = fw.observation_days, fw.horizon_days
    notes = []
    if run.wide:
        notes.append(
            "This dataset is a single wide table (one row per account, usage flags and the "
            "outcome taken as given). Without dates, the observation window and the retention "
            "horizon cannot be enforced: a flag may describe use after the outcome was decided, "
            "and long-lived customers have had more time to adopt. Read the results as "
            "associations in a snapshot, and confirm them on dated usage data."
        )
    else:
        notes.append(
            f"A feature counts as used only if it was first used within {obs} days of signup; "
            f"retention means still being a customer {horizon} days after signup. Accounts that "
            f"churned inside the first {obs} days, or signed up less than {horizon} days before "
            f"{fw.as_of or 'the data date'}, are left out and counted below. Measuring usage in a "
            "fixed early window keeps long-lived accounts from looking good just because they had "
            "more time (survivor bias), and keeps features used just before cancelling from "
            "leaking the outcome."
        )
    journey = []
    if activation_rule(act):
        first, last = months(act.get("months"), ACTIVATION_MONTHS)
        journey.append(
            f"activation counts {label(act.get('metric', ''))} in months {first}–{last} of the "
            f"account's life (month 0 = signup month) and is chosen against "
            f"{act.get('outcome') or 'early churn'}, among accounts still customers when the "
            "window ended"
        )
    if utilization_rule(util):
        first, last = months(util.get("months"), UTILIZATION_MONTHS)
        journey.append(
            f"utilization averages {label(util.get('metric', ''))} per purchased seat per month "
            f"over months {first}–{last}"
        )
    if setup_rule(setup):
        journey.append(
            f"setup steps count when done in the first {setup.get('window_days', 30)} days and "
            "are chosen against activation"
        )
    if journey:
        text = "; ".join(journey)
        notes.append(text[0].upper() + text[1:] + ".")
    alpha = float(run.config("features", "alpha", 0.05))
    level = f"{100 * (1 - alpha):g}%"
    correction = (
        "Holm's correction"
        if run.config("features", "multiplicity", "fdr_bh") == "holm"
        else "the Benjamini–Hochberg correction"
    )
    adjusted = adjusted_for(run)
    notes.append(
        "Every threshold is chosen on one random half of the accounts (the value that best "
        "separates the two outcomes among values leaving a few percent of accounts on each side) "
        "and judged on the other half, which played no part in the choice: the rates and lifts "
        "shown come from that half. Redoing the choice on bootstrap resamples gives the range of "
        "thresholds the data support. Each threshold is also tested for being a real step: "
        "'step' means retention jumps there beyond a smooth trend; 'gradual' means more is "
        "better but no value stands out, so the cut-off is a business choice; 'none' means no "
        "association, or none the held-out half confirms (its lift's interval reaches 1)."
    )
    refits = f"{fmt_int(splits)} " if splits else ""
    knows = f"a random forest that also knows {adjusted}" if adjusted else "a random forest"
    notes.append(
        f"Feature importance is measured on accounts held out from the model fit ({refits}"
        f"train/test refits of {knows}), never on "
        "the accounts it learned from, and conditionally: each feature is redrawn from what the "
        "other features predict about it, so a feature that only echoes another loses its "
        f"importance. A feature is selected when its importance is significant after {correction} "
        "across the candidate features and its odds ratio"
        f"{f', adjusted for {adjusted},' if adjusted else ''} is above 1."
    )
    notes.append(
        f"Rates carry {level} confidence intervals (Wilson), ratios {level} intervals (Katz, "
        "Woolf). "
        + (
            f"Odds ratios are adjusted for {adjusted} (Mantel–Haenszel across strata)."
            if adjusted
            else "Odds ratios are not adjusted: the data have no company size, plan or other "
            "account attribute that varies, so there was nothing to adjust for."
        )
    )
    notes.append(
        "These are associations, not proof that a milestone causes retention: they show where to "
        "look and what to test, for example with an onboarding experiment."
    )
    return notes


def shape_sentence(shape: str | None, what: str) -> str | None:
    """What the ``shape`` test says about a threshold, for a product manager.

    Parameters
    ----------
    shape : str or None
        ``"step"``, ``"gradual"`` or ``"none"`` from ``framework.json``.
    what : str
        The metric in words, e.g. ``"conversations in months 0-2"``.

    Returns
    -------
    str or None
        None when the run recorded no shape (an older framework).
    """
    if shape == "step":
        return (
            f"Retention steps up at this threshold beyond its smooth trend in {what}: a real "
            "threshold."
        )
    if shape == "gradual":
        return (
            f"Retention rises gradually with {what}; no value stands out, so this cut-off is a "
            "business choice (the curve shows what each level gives)."
        )
    if shape == "none":
        return (
            f"Retention shows no clear association with {what} in these data: treat this "
            "threshold as unsupported."
        )
    return None
