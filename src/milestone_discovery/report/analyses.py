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

The first two live in :mod:`.survival_section` and :mod:`.segments_section`
and are re-exported here; the account factors and count columns are built here.
"""

from __future__ import annotations

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
    num,
    rate_phrase,
)
from .load import RunData
from .prose import factor_lead, shape_sentence
from .segments_section import heterogeneity_section, segment_only
from .survival_section import survival_section

__all__ = [
    "counts_section",
    "factors_section",
    "heterogeneity_section",
    "segment_only",
    "survival_section",
]


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
