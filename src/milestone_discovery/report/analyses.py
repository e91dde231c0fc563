"""The report's sections on the analyses beside the framework, as plain data for the template.

* time to churn (``framework.json → survival``): accounts followed from the
  end of the observation window, hazard ratios and Kaplan–Meier curves;
* does it hold in every segment (``heterogeneity``): effects that work in
  one plan or size band only;
* account factors (``covariates`` and a wide table's ``choices``): each
  factor's own retention table and odds ratios;
* count columns of a wide table (``counts``): the threshold chosen for each.

Each builder returns display strings and chart ``data:`` URIs, or None when
the run has no such section; a section the run skipped gives its reason.
Charts are drawn by the analyses' own functions
(:func:`milestone_discovery.plotting_effects.plot_hazard_ratios`,
:func:`~milestone_discovery.plotting_effects.plot_survival_curves`,
:func:`~milestone_discovery.plotting_effects.plot_effect_forest`,
:func:`milestone_discovery.plotting.plot_threshold_scan`) from the run's tidy
tables (``tables/survival*.csv``, ``tables/heterogeneity*.csv``,
``tables/count_scan__<column>.csv``); the hazard ratios and the forest plots
fall back to ``framework.json`` when the tables are missing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..plotting import status_word
from ..runfolder import slugify
from . import charts
from .format import (
    MISSING,
    fmt_ci,
    fmt_int,
    fmt_pct,
    fmt_ratio,
    fmt_value,
    interval,
    label,
    num,
    rate_phrase,
)
from .load import RunData
from .prose import factor_lead, milestone_phrase, milestone_title, shape_sentence

__all__ = [
    "counts_section",
    "factors_section",
    "heterogeneity_section",
    "segment_only",
    "survival_section",
]

_MONTH_DAYS = 365.25 / 12
#: The milestones whose Kaplan–Meier curves are drawn, in journey order.
CURVE_MILESTONES = ("setup", "activation", "utilization", "mature")
_SEGMENT_WORDS = {"plan": ("plan", "plans"), "size_band": ("size band", "size bands")}
_CORRECTIONS = {"holm": "Holm's correction", "fdr_bh": "the Benjamini–Hochberg correction"}


def _pair(record: dict, key: str = "ci") -> tuple[float | None, float | None]:
    """The interval stored as ``record[key] = [low, high]``."""
    return interval({"x_ci": record.get(key)}, "x")


def _level(alpha: Any) -> str:
    a = num(alpha)
    return f"{1 - (a if a is not None else 0.05):.0%}"


def _join(parts: list[str]) -> str:
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
    return f"same {_join(parts)}" if parts else ""


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
    return rate_phrase(entry.get("share"), *_pair(entry))


def hazard_sentence(record: dict, similar: str, alpha: Any) -> str | None:
    """A milestone's hazard ratio in words.

    ``"Accounts that reached maturity churn at 0.56× the rate of similar accounts
    (same size and plan)."``, with a caveat when the interval includes 1 and
    when the proportional-hazards test fails (``ph_p_value < alpha``).
    """
    hr = num(record.get("hazard_ratio"))
    if hr is None:
        return None
    lo, hi = _pair(record)
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
        lo, hi = _pair(m)
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
    level = _level(alpha)
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
        lo, hi = _pair(m)
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


# ----------------------------------------------------------------------------- segments
def _segment_names(run: RunData) -> dict[str, str]:
    """Segment dimension -> the data's column name (``"Contract"`` for ``"plan (Contract)"``)."""
    names = {}
    for f in run.covariates.get("factors") or []:
        if not isinstance(f, dict) or f.get("name") not in ("plan", "size"):
            continue
        text = str(f.get("label") or "")
        inner = text[text.find("(") + 1 : -1] if "(" in text and text.endswith(")") else ""
        names["plan" if f["name"] == "plan" else "size_band"] = inner
    return {k: v for k, v in names.items() if v}


def _where(segment: Any, level: Any, names: dict[str, str] | None = None) -> str:
    """``("plan", "pro") -> "plan pro"``, or the data's column name: ``"Contract Two year"``."""
    word = (names or {}).get(str(segment)) or _SEGMENT_WORDS.get(str(segment), (label(segment),))[0]
    return f"{word} {level}"


def segment_only(run: RunData) -> dict[str, str]:
    """Feature or milestone -> where alone its effect holds (``"plan pro"``), for flagged ones.

    From ``heterogeneity.features`` (``segment``/``level``), else from
    ``features[].segment_specific`` (``"plan = pro"``, several ``"; "``-joined).
    """
    out: dict[str, str] = {}
    names = _segment_names(run)
    for e in run.heterogeneity.get("features") or []:
        if isinstance(e, dict) and e.get("segment_specific") is True:
            seg, lv = e.get("segment"), e.get("level")
            out[str(e.get("feature"))] = (
                _where(seg, lv, names) if seg and lv is not None else "one segment"
            )
    for f in run.framework.features or []:
        flag = f.get("segment_specific") if isinstance(f, dict) else None
        name = str(f.get("feature")) if isinstance(f, dict) else ""
        if not flag or name in out:
            continue
        if isinstance(flag, str):
            out[name] = " and ".join(
                _where(*(part.split(" = ", 1)), names) if " = " in part else part
                for part in flag.split("; ")
            )
        else:
            out[name] = "one segment"
    return out


def _forest_frames(entry: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three heterogeneity tables of one feature, from its framework.json entry."""
    name = str(entry.get("feature"))
    levels, table = [], []
    for seg, by in (entry.get("by") or {}).items():
        if not isinstance(by, dict):
            continue
        flagged = entry.get("segment_specific") is True and entry.get("segment") == seg
        table.append(
            {
                "feature": name,
                "segment": seg,
                "p_adjusted": num(by.get("p_adjusted")),
                "segment_specific": flagged,
            }
        )
        for lv in by.get("levels") or []:
            lo, hi = _pair(lv)
            levels.append(
                {
                    "feature": name,
                    "segment": seg,
                    "level": str(lv.get("level")),
                    "accounts": num(lv.get("accounts")) or 0,
                    "odds_ratio": num(lv.get("odds_ratio")),
                    "odds_ratio_low": lo,
                    "odds_ratio_high": hi,
                    "significant": bool(lv.get("significant")),
                }
            )
    lo, hi = _pair(entry)
    overall = pd.DataFrame(
        [
            {
                "feature": name,
                "odds_ratio": num(entry.get("odds_ratio")),
                "odds_ratio_low": lo,
                "odds_ratio_high": hi,
            }
        ]
    )
    level_cols = [
        "feature",
        "segment",
        "level",
        "accounts",
        "odds_ratio",
        "odds_ratio_low",
        "odds_ratio_high",
        "significant",
    ]
    return (
        pd.DataFrame(levels, columns=level_cols),
        pd.DataFrame(table, columns=["feature", "segment", "p_adjusted", "segment_specific"]),
        overall,
    )


def _forest(run: RunData, entry: dict, level: str) -> str | None:
    """The forest plot of one feature, from the run's tables (else from framework.json)."""
    name = str(entry.get("feature"))
    tables = [
        run.table(t) for t in ("heterogeneity_levels", "heterogeneity", "heterogeneity_overall")
    ]
    if (
        any(t is None or "feature" not in t for t in tables)
        or not (tables[0]["feature"].astype(str) == name).any()
    ):
        tables = list(_forest_frames(entry))
    title = milestone_title(name)
    levels, table, overall = (t.assign(feature=t["feature"].map(milestone_title)) for t in tables)
    return charts.forest_chart(levels, table, overall, title, level)


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _dimension_verdict(by: dict) -> str:
    p = num(by.get("p_adjusted"))
    if p is None:
        return f"not tested: {by.get('reason')}" if by.get("reason") else "not tested"
    return f"{'differs' if by.get('heterogeneous') else 'consistent'} ({_p_text(p)})"


def heterogeneity_section(run: RunData) -> tuple[dict | None, str | None]:
    """The effect-by-segment section, or (None, why it was skipped); (None, None) when absent."""
    het = run.heterogeneity
    if not het:
        return None, None
    if not isinstance(het.get("features"), list):
        return None, str(het.get("skipped") or "not run")
    level = _level(het.get("alpha"))
    dims = [str(d) for d in het.get("segments") or []]
    names = _segment_names(run)

    def plural(d: str) -> str:
        return _SEGMENT_WORDS.get(d, (label(d), label(d)))[1] + (
            f" ({names[d]})" if d in names else ""
        )

    dim_words = _join([plural(d) for d in dims]) or "segments"
    correction = _CORRECTIONS.get(str(het.get("multiplicity")), "a multiplicity correction")
    entries = [e for e in het["features"] if isinstance(e, dict)]
    flagged, differs, rows = [], [], []
    for e in entries:
        name = milestone_title(e.get("feature", ""))
        by = {str(k): v for k, v in (e.get("by") or {}).items() if isinstance(v, dict)}
        lo, hi = _pair(e)
        where = None
        if e.get("segment_specific") is True:
            where = _where(e.get("segment"), e.get("level"), names)
            flagged.append(
                {
                    "name": name,
                    "where": where,
                    "sentence": f"{name}: works only in {where}",
                    "chart": _forest(run, e, level),
                }
            )
        elif any(b.get("heterogeneous") for b in by.values()):
            across = [
                _SEGMENT_WORDS.get(k, (label(k), label(k)))[1]
                for k, b in by.items()
                if b.get("heterogeneous")
            ]
            differs.append(f"{name} (across {_join(across)})" if len(dims) > 1 else name)
        rows.append(
            {
                "name": name,
                "flagged": where is not None,
                "odds_ratio": fmt_ratio(e.get("odds_ratio")),
                "ci": fmt_ci(lo, hi),
                "verdict": f"works only in {where}" if where else "",
                "by": [_dimension_verdict(by[d]) if d in by else MISSING for d in dims],
            }
        )
    tested = (
        f"tested with Breslow–Day, multiplicity-controlled: {correction} across the "
        f"{len(entries)} effects"
    )
    if not flagged and not differs:
        summary = f"Every effect was consistent across {dim_words} ({tested})."
    else:
        parts = []
        if flagged:
            parts.append(f"{len(flagged)} of {len(entries)} effects hold in one segment only.")
        if differs:
            parts.append(
                f"{len(differs)} differ in strength but hold in more than one segment: "
                f"{', '.join(differs)}."
            )
        rest = len(entries) - len(flagged) - len(differs)
        if rest:
            parts.append(
                f"The other {rest} {'was' if rest == 1 else 'were'} consistent across {dim_words}."
            )
        summary = " ".join(parts) + f" ({tested[:1].upper() + tested[1:]}.)"
    return {
        "summary": summary,
        "flagged": flagged,
        "differs": differs,
        "dims": [plural(d) for d in dims],
        "dim_words": dim_words,
        "rows": rows,
        "level": level,
        "notes": [str(n) for n in het.get("notes") or []],
        "accounts": fmt_int(het.get("accounts")),
    }, None


# ----------------------------------------------------------------------------- account factors
def _factor(f: dict) -> dict:
    name = str(f.get("label") or f.get("name") or "")
    out = {
        "label": name[:1].upper() + name[1:],
        "present": bool(f.get("present")),
        "absent": str(f.get("absent") or "not in the data"),
        "addons": [str(a) for a in f.get("addons") or []],
    }
    if not out["present"]:
        return out
    adjusted_for = str(f.get("adjusted_for") or "")
    levels = [lv for lv in f.get("levels") or [] if isinstance(lv, dict)]
    adjusted = adjusted_for not in ("", "nothing") and any(
        num(lv.get("adj_or")) is not None for lv in levels
    )
    rows = []
    for lv in levels:
        key = "adj_or" if adjusted and num(lv.get("adj_or")) is not None else "raw_or"
        reference = bool(lv.get("reference"))
        rows.append(
            {
                "level": str(lv.get("level")),
                "accounts": fmt_int(lv.get("accounts")),
                "share": fmt_pct(lv.get("share")),
                "retention": rate_phrase(lv.get("retention"), *interval(lv, "retention")),
                "reference": reference,
                "odds_ratio": "1 (baseline)" if reference else fmt_ratio(lv.get(key)),
                "ci": "" if reference else fmt_ci(*interval(lv, key)),
                "addon": str(lv.get("level")) in out["addons"],
                "best": str(lv.get("level")) == str(f.get("best_level")),
            }
        )
    v, p = num(f.get("cramers_v")), num(f.get("chi2_p"))
    strength = []
    if v is not None:
        strength.append(f"Cramér's V {v:.2f}")
    if p is not None:
        strength.append("p < 0.001" if p < 0.001 else f"p = {p:.2g}")
    lead = factor_lead(f)
    out.update(
        rows=rows,
        lead=lead,
        spread=lead.split(" — ", 1)[1] if lead and " — " in lead else "",
        strength=", ".join(strength),
        adjusted=adjusted,
        adjusted_for=adjusted_for if adjusted else "",
        odds_ratio_name="Adjusted odds ratio" if adjusted else "Odds ratio",
        reference=str(f.get("reference") or ""),
    )
    return out


def _by_strength(factors: list[dict]) -> list[dict]:
    """Present factors first, most associated with retention (Cramér's V) first."""
    return sorted(
        factors,
        key=lambda f: (
            not f.get("present"),
            -(num(f.get("cramers_v")) if num(f.get("cramers_v")) is not None else -1.0),
        ),
    )


def factors_section(run: RunData) -> dict | None:
    """Account factors (covariates) and a wide table's choices, strongest first; None if absent."""
    factors = _by_strength([f for f in run.covariates.get("factors") or [] if isinstance(f, dict)])
    choices = _by_strength(run.choices)
    if not factors and not choices:
        return None
    shown = [_factor(f) for f in factors]
    shown_choices = [_factor(c) for c in choices]
    lead = next((f["lead"] for f in shown if f["present"] and f.get("lead")), None)
    choice_lead = next((c["lead"] for c in shown_choices if c["present"] and c.get("lead")), None)
    return {
        "lead": lead,
        "factors": shown,
        "choices": shown_choices,
        "choice_lead": choice_lead,
        "adjusted_for": str(run.covariates.get("adjusted_for_in_features") or ""),
    }


# ----------------------------------------------------------------------------- counts
def _count_scan(run: RunData, column: str) -> pd.DataFrame | None:
    for name in (f"count_scan__{column}", slugify(f"count_scan__{column}")):
        table = run.table(name)
        if table is not None:
            return table
    return None


def counts_section(run: RunData) -> list[dict]:
    """Per count column of a wide table: threshold, held-out lift, shape and status, or why none."""
    from .badges import status_class

    out = []
    for c in run.counts:
        column = str(c.get("column", ""))
        if c.get("skipped") or num(c.get("threshold")) is None:
            out.append(
                {
                    "column": column,
                    "skipped": str(c.get("skipped") or "no usable threshold"),
                }
            )
            continue
        status = str(c.get("status") or "")
        lo, hi = interval(c, "threshold")
        outcome = str(c.get("outcome") or "retention")
        what = f"{column}"
        out.append(
            {
                "column": column,
                "skipped": "",
                "feature": str(c.get("feature") or f"{column}>={fmt_value(c.get('threshold'))}"),
                "threshold": fmt_value(c.get("threshold")),
                "threshold_ci": fmt_ci(lo, hi, "value"),
                "share": fmt_pct(c.get("share_above")),
                "above": rate_phrase(
                    c.get("outcome_rate_above"), *interval(c, "outcome_rate_above")
                ),
                "below": rate_phrase(
                    c.get("outcome_rate_below"), *interval(c, "outcome_rate_below")
                ),
                "lift": fmt_ratio(c.get("lift")),
                "lift_ci": fmt_ci(*interval(c, "lift")),
                "status_word": status_word(status) if status else MISSING,
                "status_class": status_class(status) if status else "drop",
                "shape": shape_sentence(c.get("shape"), what),
                "chart": charts.scan_chart(
                    _count_scan(run, column), c.get("threshold"), (lo, hi), what, outcome
                ),
            }
        )
    return out
